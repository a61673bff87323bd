"""Loading YAML the harness is given (profiles) or ships (catalogs, credential lists, policies):
one path, so every file reports a problem the same way, naming the file, the place and the fix.

Hostile or careless input is refused before it can hurt: only regular files (a FIFO would block,
/dev/zero would never end), a size cap, UTF-8 only, no duplicate keys (YAML would silently keep
the last), and a nesting depth the parser can survive.
"""

from __future__ import annotations

import stat
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.declaration.profile_errors import describe_validation_error

M = TypeVar("M", bound=BaseModel)


class DataFileError(Exception):
    pass


MAX_DATA_FILE_BYTES = 16 << 20


class YamlInputError(Exception):
    """A YAML file that cannot be used: `where` is a line/column or "(file)", `problem` the fix."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where, self.problem = where, problem


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser where built
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                first = seen.get(key)
            except TypeError:
                continue  # unhashable key: the base class reports it
            if first is not None:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} is given twice (first on line {first}); keep one", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def read_yaml(path: Path, max_bytes: int = MAX_DATA_FILE_BYTES) -> Any:
    """Parse one YAML file, bounded and strict; YamlInputError says what is wrong and where."""
    try:
        st = path.stat()
    except OSError as e:
        raise YamlInputError("(file)", f"cannot read: {e.strerror}; check the path") from None
    if not stat.S_ISREG(st.st_mode):
        raise YamlInputError("(file)", "is not a regular file (a folder, pipe or device); give the YAML file itself")
    if st.st_size > max_bytes:
        raise YamlInputError("(file)", f"is {st.st_size} bytes, more than the {max_bytes} allowed; is it the right "
                             "file?")
    try:
        with open(path, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise YamlInputError("(file)", f"cannot read: {e.strerror}; check the path") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise YamlInputError("(file)", f"is not UTF-8 text (byte {e.start} is 0x{raw[e.start]:02x}); save it as "
                             "UTF-8") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        if "nesting depth" in str(getattr(e, "problem", "")):  # libyaml's own bound on nesting
            raise YamlInputError("(file)", "is nested too deeply to be a declaration; check the indentation") from None
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        raise YamlInputError(where, f"not valid YAML: {getattr(e, 'problem', e)}") from None
    except RecursionError:
        raise YamlInputError("(file)", "is nested too deeply to be a declaration; check the indentation") from None


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
        data = read_yaml(path)
    except YamlInputError as e:
        raise err(f"{path}: {what}, {e.where}: {e.problem}") from None
    text = path.read_text()
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
    return sorted(i for i, n in Counter(ids).items() if n > 1)
