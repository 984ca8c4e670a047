"""A small versioned codec for callback data (`c1:rate:17:s`), at most 64 bytes.

What a button does is one of the `Act` members; the member's value is what its callback data
carries. The values are the wire format of buttons already posted in chats, so a value never
changes: a new button gets a new member (and a new value), an old one keeps working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from storage.records import Rating

VERSION = "c1"
MAX_BYTES = 64


class Act(StrEnum):
    """Every button the bot posts, as its callback data names it."""

    ME_TOO = "too"  # "me too" on a case's acknowledgement
    ACCEPT = "acc"  # the staff card: accept the case
    DECLINE = "dec"  # the staff card: decline the case (asks for a reason)
    ESCALATE = "esc"  # the staff card: escalate the case
    RATE = "rate"  # the fix notice: the reporter's rating
    BUILDING = "bld"  # a private report: which building it is about
    RSVP = "go"  # an event post: I'll come, can't come
    CATEGORY = "cat"  # the staff card: the case's (accepted) category
    NOT_ACCEPTED = "nac"  # the staff card, after Decline: decline under this category
    CARD = "card"  # the staff card, after Decline: back to its buttons
    HIDE = "anon"  # a case's acknowledgement: the reporter hides their name from the group
    PUBLISH = "pub"  # the staff card: post an offline demand into its building group
    ADMIT = "adm"  # a new group's admission card: admit it as a building
    REFUSE = "ref"  # a new group's admission card: refuse it (the bot leaves)
    SAME = "same"  # a new case's acknowledgement: "me too" on the open case it looks like
    NOT_SAME = "diff"  # a new case's acknowledgement: no, it is a new problem
    MERGE = "mrg"  # the staff card: merge the case into the open case it looks like
    ON_SPOT = "spot"  # the staff card of a forum opinion: answered on the spot
    FORGET = "fgt"  # the /forgetme question: erase, or keep


# Each action's arguments: `i` a number, `w` a short word. Anything else is refused as forged
# or stale.
ARGS: dict[Act, str] = {
    Act.ME_TOO: "i",  # case id
    Act.ACCEPT: "i",  # case id
    Act.DECLINE: "i",  # case id
    Act.ESCALATE: "i",  # case id
    Act.RATE: "iw",  # case id, a RATING_CODES value
    Act.BUILDING: "ii",  # draft id, building chat id
    Act.RSVP: "iw",  # event id, RSVP_YES | RSVP_NO
    Act.CATEGORY: "iw",  # case id, an accepted category's code
    Act.NOT_ACCEPTED: "iw",  # case id, a not-accepted category's code
    Act.CARD: "i",  # case id
    Act.HIDE: "i",  # case id
    Act.PUBLISH: "i",  # case id
    Act.ADMIT: "i",  # group chat id
    Act.REFUSE: "i",  # group chat id
    Act.SAME: "ii",  # the new case's id, the id of the case it looks like
    Act.NOT_SAME: "i",  # the new case's id
    Act.MERGE: "ii",  # the duplicate's id, the id of the case to merge it into
    Act.ON_SPOT: "i",  # case id
    Act.FORGET: "iw",  # the minute it was asked (it expires), "y" or "n"
}
# The words the `w` arguments carry.
RATING_CODES = {Rating.SATISFIED: "s", Rating.BASIC: "b", Rating.UNSATISFIED: "u"}
RATINGS_BY_CODE = {code: rating for rating, code in RATING_CODES.items()}
RSVP_YES, RSVP_NO = "y", "n"

# Only what `encode` writes: ASCII digits without a leading zero, ASCII letters.
_KINDS = {"i": re.compile(r"0|-?[1-9][0-9]{0,19}"), "w": re.compile(r"[A-Za-z]{1,8}")}
_ACTS = {act.value: act for act in Act}


@dataclass(frozen=True, slots=True)
class Callback:
    """A decoded button press payload."""

    action: Act
    args: tuple[int | str, ...]

    def int_arg(self, index: int) -> int:
        value = self.args[index]
        if not isinstance(value, int):
            raise ValueError("not a number")
        return value


def encode(action: Act, *args: int | str) -> str:
    """Build callback data; refuses what Telegram would reject."""
    kinds = ARGS.get(action)
    if kinds is None or len(kinds) != len(args):
        raise ValueError(f"bad callback {action}/{len(args)}")
    data = ":".join([VERSION, str(action), *map(str, args)])
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
    action, raw = _ACTS.get(parts[1]), parts[2:]
    if action is None or len(ARGS[action]) != len(raw):
        return None
    args: list[int | str] = []
    for kind, item in zip(ARGS[action], raw, strict=True):
        if not _KINDS[kind].fullmatch(item):
            return None  # e.g. a word where a number belongs, `--1`, `²` or `１`
        args.append(int(item) if kind == "i" else item)
    return Callback(action, tuple(args))
