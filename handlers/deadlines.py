"""Day-based deadlines, optionally in working days with China's public holidays and make-up days."""

from __future__ import annotations

import logging
import math
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import chinese_calendar

log = logging.getLogger("echowall.deadlines")
_warned_years: set[int] = set()


def is_workday(day: date) -> bool:
    """China's official working days; Monday to Friday for years the calendar has no data for."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        # The State Council publishes each year's holidays late in the year before; until the
        # package has them, weekends are the only days off.
        if day.year not in _warned_years:
            _warned_years.add(day.year)
            log.warning("no holiday data for %s: counting Monday to Friday", day.year)
        return day.weekday() < 5


def add_days(start: datetime, days: float, tz: ZoneInfo, *, working: bool) -> datetime:
    """`days` after `start`; in working days, the same local time on the n-th working day."""
    if not working:
        return start + timedelta(days=days)
    local = start.astimezone(tz)
    remaining = max(1, math.ceil(days))
    day = local.date()
    while remaining:
        day += timedelta(days=1)
        if is_workday(day):
            remaining -= 1
    return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)
