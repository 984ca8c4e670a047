"""Turn record dataclasses into JSON-safe documents and back.

Both directions run for every document the store writes or reads (a monthly export converts
every case), so the per-class work (field names, type hints, which converter a field needs) is
done once per class and cached; per document only the conversions themselves remain.

A field still at an empty default (None where the default is None, an empty list where the
default is a new list) is left out of the document: a case has some fifty fields and most are
empty most of its life, so its document is a quarter smaller and reads faster. Reading a document
back gives such a field its default again, so documents written with every field (by earlier
versions) read the same. Code that reads documents directly (the indexes) uses `.get`.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Mapping
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

T = TypeVar("T")

# Values of these exact types go into a document as they are.
_PLAIN = frozenset({str, int, float, bool, type(None)})

Converter = Callable[[Any], Any]


def to_doc(record: Any) -> dict[str, Any]:
    """Return a JSON-safe dict of a record dataclass, without fields at an empty default."""
    out: dict[str, Any] = {}
    for name, none_is_default, empty_is_default in _plan(type(record)):
        value = getattr(record, name)
        if value is None:
            if not none_is_default:
                out[name] = None
        elif type(value) in _PLAIN:
            out[name] = value
        elif not (empty_is_default and type(value) is list and not value):
            out[name] = _dump(value)
    return out


_PLANS: dict[type, tuple[tuple[str, bool, bool], ...]] = {}


def _plan(cls: type) -> tuple[tuple[str, bool, bool], ...]:
    """Per field: its name, whether None is its default, whether an empty list is."""
    plan = _PLANS.get(cls)
    if plan is None:
        plan = _PLANS[cls] = tuple(
            (f.name, f.default is None, f.default_factory is list) for f in dataclasses.fields(cls)
        )
    return plan


_LOADERS: dict[type, tuple[frozenset[str], tuple[tuple[str, Converter], ...]]] = {}


def _dump(value: Any) -> Any:
    if type(value) in _PLAIN:
        return value
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


def from_doc(cls: type[T], doc: Mapping[str, Any]) -> T:
    """Rebuild a record dataclass from its document; unknown keys are ignored."""
    names, converters = _loaders(cls)
    kwargs = {key: value for key, value in doc.items() if key in names}
    for name, convert in converters:
        value = kwargs.get(name)
        if value is not None:
            kwargs[name] = convert(value)
    return cls(**kwargs)


def _loaders(cls: type) -> tuple[frozenset[str], tuple[tuple[str, Converter], ...]]:
    """A class's field names, and the fields whose JSON value needs converting back."""
    loaders = _LOADERS.get(cls)
    if loaders is None:
        hints = typing.get_type_hints(cls)
        fields = dataclasses.fields(cls)
        converters = ((f.name, _converter(hints[f.name])) for f in fields)
        loaders = _LOADERS[cls] = (
            frozenset(f.name for f in fields),
            tuple((name, c) for name, c in converters if c is not None),
        )
    return loaders


def _converter(hint: Any) -> Converter | None:
    """What `from_doc` does to a non-null value of a field typed `hint`."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(hint) if a is not type(None)]
        return _converter(inner[0])
    if origin is list:
        (item,) = typing.get_args(hint)
        each = _converter(item)
        if each is None:
            return list
        return lambda values: [None if v is None else each(v) for v in values]
    if origin is dict:
        key, item = typing.get_args(hint)
        value_of = _converter(item)
        return lambda values: {
            key(k): v if value_of is None or v is None else value_of(v) for k, v in values.items()
        }
    if hint is datetime:
        return datetime.fromisoformat
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint
    if dataclasses.is_dataclass(hint):
        nested: type = hint  # type: ignore[assignment]
        return lambda value: from_doc(nested, value)
    return None
