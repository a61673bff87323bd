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


def _walk(model: type[BaseModel], loc: tuple[Any, ...]) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """Follow a pydantic error location through the model tree: (enclosing model, field)."""
    current: type[BaseModel] | None = model
    field: FieldInfo | None = None
    for part in loc:
        if current is None:
            return None, None
        if isinstance(part, int):
            continue
        if part in current.model_fields:
            field = current.model_fields[part]
            models = [t for t in _unwrap(field.annotation) if isinstance(t, type) and issubclass(t, BaseModel)]
            parent = current
            current = models[0] if models else None
            if part is loc[-1]:
                return parent, field
        else:
            # a dict key (e.g. a secret's name): stay on the value model
            continue
    return current, field


def describe_validation_error(err: ValidationError, model: type[BaseModel]) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for e in err.errors(include_url=False):
        loc = tuple(e["loc"])
        where = format_loc(loc)
        kind = e["type"]
        msg = e["msg"].removeprefix("Value error, ")
        if kind == "extra_forbidden":
            parent, _ = _walk(model, loc[:-1])
            valid = sorted(parent.model_fields) if parent else []
            guess = difflib.get_close_matches(str(loc[-1]), valid, n=1)
            hint = f"did you mean '{guess[0]}'? " if guess else ""
            problems.append((where, f"unknown field; {hint}valid fields here: {', '.join(valid)}"))
            continue
        if kind == "missing":
            _, field = _walk(model, loc)
            desc = f" ({field.description})" if field and field.description else ""
            problems.append((where, f"required field is missing{desc}"))
            continue
        _, field = _walk(model, loc)
        hint = f"; expected: {field.description}" if field and field.description else ""
        if kind.startswith("literal_error") or kind == "enum":
            hint = ""  # pydantic already lists the allowed values
        problems.append((where, f"{msg}{hint}"))
    return problems
