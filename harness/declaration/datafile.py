"""Loading the project's validated data files (catalogs, credential lists): one path, so every
data file reports a malformed entry the same way, naming the file, the entry and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.declaration.profile_errors import describe_validation_error

M = TypeVar("M", bound=BaseModel)


class DataFileError(Exception):
    pass


def load_yaml_model(
    path: Path,
    model: type[M],
    what: str,
    ids: Callable[[M], list[str]] | None = None,
    error: type[DataFileError] | None = None,
) -> M:
    """Parse and validate; `ids` returns the entry IDs that must be unique within the file."""
    err = error or DataFileError
    try:
        text = path.read_text()
        data = yaml.safe_load(text)
    except OSError as e:
        raise err(f"{path}: cannot read {what}: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise err(f"{path}: {what} is not valid YAML{where}: {getattr(e, 'problem', e)}") from None
    try:
        obj = model.model_validate(data)
    except ValidationError as e:
        node = yaml.compose(text)
        lines = []
        for (loc, msg), raw in zip(describe_validation_error(e, model), e.errors(include_url=False), strict=True):
            line = _line_of(node, tuple(raw["loc"]))
            lines.append(f"  - line {line}, {loc}: {msg}" if line else f"  - {loc}: {msg}")
        raise err(f"{path}: invalid {what}\n" + "\n".join(lines)) from None
    dupes = duplicates(ids(obj)) if ids else []
    if dupes:
        raise err(f"{path}: duplicate IDs in {what}: {dupes}")
    return obj


def _line_of(node: yaml.Node | None, loc: tuple) -> int | None:
    """1-based line of the deepest YAML node an error location reaches."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        elif isinstance(node, yaml.MappingNode):
            match = [v for k, v in node.value if k.value == part]
            if not match:
                break
            node = match[0]
        else:
            break
        line = node.start_mark.line + 1
    return line


def duplicates(ids: list[str]) -> list[str]:
    return sorted({i for i in ids if ids.count(i) > 1})
