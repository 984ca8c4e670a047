"""The translator protocol the core asks for texts, dates and numbers in a chat's language."""

from __future__ import annotations

import datetime as dt
from datetime import datetime, timedelta
from typing import Protocol


def N_(message: str) -> str:
    """Mark a string for extraction; it is translated later, where it is shown."""
    return message


class Translator(Protocol):
    """Texts, dates and numbers in one language."""

    language: str

    def gettext(self, message: str) -> str: ...
    def ngettext(self, singular: str, plural: str, n: int) -> str: ...
    def datetime(self, value: datetime) -> str: ...
    def date(self, value: dt.date) -> str: ...
    def weekday(self, value: dt.date) -> str: ...
    def duration(self, value: timedelta) -> str: ...
    def number(self, value: int) -> str: ...
    def percent(self, value: float) -> str: ...
