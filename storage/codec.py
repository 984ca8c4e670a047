"""Turn record dataclasses into JSON-safe documents and back."""

from __future__ import annotations

import dataclasses
import types
import typing
from datetime import datetime
from enum import Enum
from functools import cache
from typing import Any, TypeVar

T = TypeVar("T")


def to_doc(record: Any) -> dict[str, Any]:
    """Return a JSON-safe dict of a record dataclass."""
    return {f.name: _dump(getattr(record, f.name)) for f in dataclasses.fields(record)}


def _dump(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_doc(value)
    if isinstance(value, list):
        return [_dump(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _dump(v) for k, v in value.items()}
    return value


@cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_doc(cls: type[T], doc: dict[str, Any]) -> T:
    """Rebuild a record dataclass from its document; unknown keys are ignored."""
    hints = _hints(cls)  # type: ignore[arg-type]
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: _load(hints[k], v) for k, v in doc.items() if k in names})


def _load(hint: Any, value: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _load(inner[0], value)
    if origin is list:
        (item,) = typing.get_args(hint)
        return [_load(item, v) for v in value]
    if origin is dict:
        key, item = typing.get_args(hint)
        return {key(k): _load(item, v) for k, v in value.items()}
    if hint is datetime:
        return datetime.fromisoformat(value)
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    if dataclasses.is_dataclass(hint):
        return from_doc(hint, value)  # type: ignore[arg-type]
    return value
