"""Flood control per person: a resident sending report after report is slowed, politely, once.

A sliding window in memory (a restart forgets it, which only ever lets someone through).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta


class FloodGate:
    """At most `limit` actions per person within `window`; says when the first refusal is."""

    def __init__(self, limit: int, window: timedelta) -> None:
        self.limit = limit
        self.window = window
        self._times: dict[int, deque[datetime]] = {}
        self._warned: dict[int, datetime] = {}

    def allow(self, person: int, now: datetime) -> bool:
        """Count an attempt; False when it is over the limit (and is not counted)."""
        if self.limit <= 0:
            return True
        times = self._times.setdefault(person, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.limit:
            return False
        times.append(now)
        if len(self._times) > 10_000:  # forget people whose window has passed
            self._times = {k: v for k, v in self._times.items() if v and v[-1] > now - self.window}
        return True

    def first_refusal(self, person: int, now: datetime) -> bool:
        """True once per window: answer the first refused attempt, stay quiet after it."""
        warned = self._warned.get(person)
        if warned is not None and warned > now - self.window:
            return False
        self._warned[person] = now
        return True

    def retry_in(self, person: int, now: datetime) -> timedelta:
        times = self._times.get(person)
        return (times[0] + self.window - now) if times else timedelta()
