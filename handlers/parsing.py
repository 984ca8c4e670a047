"""Parsing of commands, case ids and due times as people type them."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from handlers.render import clip, esc
from handlers.texts import N_, Translator

_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(?:@([A-Za-z0-9_]{1,64}))?(?=\s|$)")
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_RELATIVE = re.compile(r"^(\d{1,4})([mhd])$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}
# Written like a date, whether or not it is one (`2026-02-30` is a date that does not exist).
_DATE_LIKE = re.compile(r"\d{1,4}-\d{1,2}-\d{1,2}")
_CLOCK_LIKE = re.compile(r"\d{1,2}:\d{2}")


def parse_command(text: str, bot_username: str) -> tuple[str, str] | None:
    """Split `/name@bot args` into (name, args); None if it is no command for this bot."""
    match = _COMMAND.match(text)
    if not match:
        return None
    target = match.group(2)
    if target and target.lower() != bot_username.lower():
        return None
    return match.group(1).lower(), text[match.end() :].strip()


def case_digits(token: str) -> str | None:
    """The digits of a case number as typed (`17`, `#17`, however long), or None when it is
    not written as one: a long number is a case that does not exist, not a typing mistake."""
    token = token.strip().removeprefix("#").removeprefix("＃")
    return token if token.isascii() and token.isdigit() else None


def parse_int(token: str) -> int | None:
    """Read a user or chat id such as `201` or `-1001`; None for `--5`, `²`, `１` or words."""
    token = token.strip()
    return int(token) if _INTEGER.fullmatch(token) else None


class BadTime(ValueError):
    """A time the person typed that cannot be read: each word that is wrong, and why.

    The reasons: "unknown" (no time at all), "zero" (`0h`), "date" (`2026-02-30`) and
    "time" (`25:99`); a wrong date and a wrong time of day are both named.
    """

    def __init__(self, *problems: tuple[str, str]) -> None:
        super().__init__(", ".join(word for word, _ in problems))
        self.problems = problems


def parse_when(tokens: list[str], now: datetime, tz: ZoneInfo) -> tuple[datetime, int]:
    """Read `12h`, `2d`, `30m` or `YYYY-MM-DD [HH:MM]`; return the time and tokens used."""
    if not tokens:
        raise BadTime(("", "unknown"))
    match = _RELATIVE.match(tokens[0])
    if match:
        amount = int(match.group(1))
        if amount == 0:
            raise BadTime((tokens[0], "zero"))
        return now + timedelta(**{_UNITS[match.group(2).lower()]: amount}), 1
    if not _DATE_LIKE.fullmatch(tokens[0]):
        raise BadTime((tokens[0], "unknown"))
    problems: list[tuple[str, str]] = []
    try:
        day = datetime.strptime(tokens[0], "%Y-%m-%d").date()
    except ValueError:
        problems.append((tokens[0], "date"))
    used, at = 1, time(18, 0)
    if len(tokens) > 1 and _CLOCK_LIKE.fullmatch(tokens[1]):
        try:
            at = datetime.strptime(tokens[1], "%H:%M").time()
        except ValueError:
            problems.append((tokens[1], "time"))
        used = 2
    if problems:
        raise BadTime(*problems)
    return datetime.combine(day, at, tzinfo=tz), used


# What was typed, quoted in an answer: escaped for HTML and never longer than this.
QUOTE_LIMIT = 40

TIME_PROBLEMS = {
    "zero": N_("“{word}” is no time at all: give at least 1, e.g. 1h or 1d."),
    "date": N_("“{word}” is not a date: write YYYY-MM-DD, e.g. 2026-12-01."),
    "time": N_("“{word}” is not a time of day: write HH:MM, e.g. 19:00."),
}


def quoted(word: str) -> str:
    """A word the person typed, as an answer quotes it: clipped and escaped."""
    return esc(clip(word, QUOTE_LIMIT))


def time_problems(t: Translator, bad: BadTime, unknown: str) -> str:
    """What is wrong with a time as typed, in one or two sentences; `unknown` (a msgid with
    `{word}`) says which forms a time may take where it was typed."""
    lines = []
    for word, reason in bad.problems:
        if reason == "unknown" and not word:
            lines.append(t.gettext("The time is missing."))
        else:
            lines.append(t.gettext(TIME_PROBLEMS.get(reason, unknown)).format(word=quoted(word)))
    return "\n".join(lines)
