"""A small versioned codec for callback data (`c1:rate:17:s`), at most 64 bytes."""

from __future__ import annotations

from dataclasses import dataclass

VERSION = "c1"
MAX_BYTES = 64

# action -> number of arguments; anything else is refused as forged or stale.
_ARITY = {
    "too": 1,  # me too on a case card: case id
    "acc": 1,  # staff card: accept case
    "dec": 1,  # staff card: decline case (asks for a reason)
    "esc": 1,  # staff card: escalate case
    "rate": 2,  # fix notice: case id, s|b|u
    "bld": 2,  # private report: draft id, building chat id
    "go": 2,  # event post: event id, y (I'll come) | n (can't come)
}


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
    if _ARITY.get(action) != len(args):
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
    if _ARITY.get(action) != len(raw):
        return None
    args: list[int | str] = []
    for item in raw:
        if item.lstrip("-").isdigit() and item.isascii():
            args.append(int(item))
        elif item.isascii() and item.isalpha() and len(item) <= 8:
            args.append(item)
        else:
            return None
    return Callback(action, tuple(args))
