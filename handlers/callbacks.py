"""A small versioned codec for callback data (`c1:rate:17:s`), at most 64 bytes."""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "c1"
MAX_BYTES = 64

# action -> its arguments, `i` a number, `w` a short word; anything else is refused as forged
# or stale.
_ARGS = {
    "too": "i",  # me too on a case card: case id
    "acc": "i",  # staff card: accept case
    "dec": "i",  # staff card: decline case (asks for a reason)
    "esc": "i",  # staff card: escalate case
    "rate": "iw",  # fix notice: case id, s|b|u
    "bld": "ii",  # private report: draft id, building chat id
    "go": "iw",  # event post: event id, y (I'll come) | n (can't come)
}
# Only what `encode` writes: ASCII digits without a leading zero, ASCII letters.
_KINDS = {"i": re.compile(r"0|-?[1-9][0-9]{0,19}"), "w": re.compile(r"[A-Za-z]{1,8}")}


@dataclass(frozen=True, slots=True)
class Callback:
    """A decoded button press payload."""

    action: str
    args: tuple[int | str, ...]

    def int_arg(self, index: int) -> int:
        value = self.args[index]
        if not isinstance(value, int):
            raise ValueError("not a number")
        return value


def encode(action: str, *args: int | str) -> str:
    """Build callback data; refuses what Telegram would reject."""
    if action not in _ARGS or len(_ARGS[action]) != len(args):
        raise ValueError(f"bad callback {action}/{len(args)}")
    data = ":".join([VERSION, action, *map(str, args)])
    if len(data.encode()) > MAX_BYTES:
        raise ValueError("callback data over 64 bytes")
    return data


def decode(data: str) -> Callback | None:
    """Parse callback data, or return None for anything we did not make."""
    if not data or len(data.encode("utf-8", "replace")) > MAX_BYTES:
        return None
    parts = data.split(":")
    if len(parts) < 2 or parts[0] != VERSION:
        return None
    action, raw = parts[1], parts[2:]
    kinds = _ARGS.get(action)
    if kinds is None or len(kinds) != len(raw):
        return None
    args: list[int | str] = []
    for kind, item in zip(kinds, raw, strict=True):
        if not _KINDS[kind].fullmatch(item):
            return None  # e.g. a word where a number belongs, `--1`, `²` or `１`
        args.append(int(item) if kind == "i" else item)
    return Callback(action, tuple(args))
