"""Turn pydantic's validation errors into lines a manufacturer can act on.

pydantic says *what* is wrong; a person filling in a declaration also needs *where* (a path
they can find in their YAML) and *how to fix it* (the field's description, or the nearest
valid field name for a typo).
"""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo


def format_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out or "(top level)"


def _unwrap(annotation: Any) -> list[Any]:
    """The model classes (or other leaf types) an annotation can hold."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    if origin in (list, tuple, set, frozenset):
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    if origin is dict:
        args = typing.get_args(annotation)
        return _unwrap(args[1]) if len(args) == 2 else []
    return [annotation]


def _models(annotation: Any) -> list[type[BaseModel]]:
    return [t for t in _unwrap(annotation) if isinstance(t, type) and issubclass(t, BaseModel)]


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class an error location points into (list indices and dict keys skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return None
        if isinstance(part, str) and part in current.model_fields:
            found = _models(current.model_fields[part].annotation)
            current = found[0] if found else None
    return current


def _field_at(model: type[BaseModel], loc: tuple[Any, ...]) -> FieldInfo | None:
    names = [i for i, p in enumerate(loc) if isinstance(p, str)]
    if not names:
        return None
    last = names[-1]
    parent = _model_at(model, loc[:last])
    return parent.model_fields.get(loc[last]) if parent else None


def describe_validation_error(err: ValidationError, model: type[BaseModel]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        where = format_loc(loc)
        kind = e["type"]
        msg = e["msg"].removeprefix("Value error, ")
        if kind == "extra_forbidden":
            parent = _model_at(model, loc[:-1])
            valid = sorted(parent.model_fields) if parent else []
            guess = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"did you mean '{guess[0]}'? " if guess else ""
            problems.append((where, f"unknown field; {hint}valid fields here: {', '.join(valid)}"))
            continue
        if kind == "missing":
            field = _field_at(model, loc)
            desc = f" ({field.description})" if field and field.description else ""
            problems.append((where, f"required field is missing{desc}"))
            continue
        field = _field_at(model, loc)
        hint = f"; expected: {field.description}" if field and field.description else ""
        if kind.startswith("literal_error") or kind in ("enum", "value_error"):
            hint = ""  # pydantic lists the allowed values; our own validators say the fix
        problems.append((where, f"{msg}{hint}"))
    return problems
