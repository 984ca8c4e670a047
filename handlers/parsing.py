"""Parsing of commands, case ids and due times as people type them."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_RELATIVE = re.compile(r"^(\d{1,4})([mhd])$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_command(text: str, bot_username: str) -> tuple[str, str] | None:
    """Split `/name@bot args` into (name, args); None if it is no command for this bot."""
    match = _COMMAND.match(text)
    if not match:
        return None
    target = match.group(2)
    if target and target.lower() != bot_username.lower():
        return None
    return match.group(1).lower(), text[match.end() :].strip()


def parse_case_id(token: str) -> int | None:
    """Read `17` or `#17`; None for anything else."""
    token = token.strip().removeprefix("#").removeprefix("＃")
    if token.isascii() and token.isdigit() and 0 < len(token) <= 9 and int(token) > 0:
        return int(token)
    return None


def parse_int(token: str) -> int | None:
    """Read a user or chat id such as `201` or `-1001`; None for `--5`, `²`, `１` or words."""
    token = token.strip()
    return int(token) if _INTEGER.fullmatch(token) else None


class BadTime(ValueError):
    """A time the person typed that cannot be read."""


def parse_when(tokens: list[str], now: datetime, tz: ZoneInfo) -> tuple[datetime, int]:
    """Read `12h`, `2d`, `30m` or `YYYY-MM-DD [HH:MM]`; return the time and tokens used."""
    if not tokens:
        raise BadTime("empty")
    match = _RELATIVE.match(tokens[0])
    if match:
        amount = int(match.group(1))
        if amount == 0:
            raise BadTime("zero")
        return now + timedelta(**{_UNITS[match.group(2).lower()]: amount}), 1
    try:
        day = datetime.strptime(tokens[0], "%Y-%m-%d").date()
    except ValueError as exc:
        raise BadTime(tokens[0]) from exc
    used, at = 1, time(18, 0)
    if len(tokens) > 1 and re.fullmatch(r"\d{1,2}:\d{2}", tokens[1]):
        try:
            at = datetime.strptime(tokens[1], "%H:%M").time()
        except ValueError as exc:
            raise BadTime(tokens[1]) from exc
        used = 2
    return datetime.combine(day, at, tzinfo=tz), used
