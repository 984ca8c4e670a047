"""Flood limits and fault injection: the two ways a correct call can still fail.

:class:`FloodControl` applies Telegram's flood limits to send-like calls (a global per-second
window and a per-group per-minute window, see :class:`RateLimits`), answers 429 with a
``retry_after`` and counts every call the bot makes into an announced retry window as a
violation.  :class:`FaultInjector` makes chosen or random calls fail as 429, 5xx, 403, a
migration, a late answer or a dropped connection.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from localapi.errors import TelegramError, forbidden, migrated, too_many_requests
from localapi.model import Chat

FaultKind = Literal["429", "500", "502", "timeout", "reset", "403", "migrate"]
# A retry window's scope: one chat, or every chat.
Scope = int | Literal["global"]


@dataclass(frozen=True)
class RateLimits:
    """Flood limits: global sends per second and sends per group chat per (scaled) minute."""

    per_second_global: int = 30
    per_minute_per_group: int = 20
    # Shrinks the per-group 60 s window so tests can exercise it quickly.
    window_scale: float = 1.0


class SlidingWindow:
    """The times of recent calls, for a limit of ``capacity`` calls per ``span`` seconds."""

    def __init__(self) -> None:
        self._hits: deque[float] = deque()

    def retry_after(self, now: float, span: float, capacity: int) -> int | None:
        """Whole seconds until one more call fits, or None when it fits now."""
        hits = self._hits
        while hits and hits[0] <= now - span:
            hits.popleft()
        if len(hits) < capacity:
            return None
        return max(1, math.ceil(hits[0] + span - now))

    def hit(self, now: float) -> None:
        self._hits.append(now)


class FloodControl:
    """Telegram's flood limits for send-like calls; ``limits=None`` only keeps retry windows."""

    def __init__(self, limits: RateLimits | None) -> None:
        self.limits = limits
        # Calls into an announced retry window: what tests guard against.
        self.violations = 0
        self._global = SlidingWindow()
        self._groups: dict[int, SlidingWindow] = {}
        self._blocked_until: dict[Scope, float] = {}

    def block(self, scope: Scope, retry_after: int) -> None:
        """Announce a retry window (a 429 was answered); calls into it are violations."""
        self._blocked_until[scope] = time.monotonic() + retry_after

    def check(self, chat: Chat) -> None:
        """Count one send-like call into ``chat``; raises 429 when it is over a limit."""
        now = time.monotonic()
        scopes: tuple[Scope, ...] = ("global", chat.id)
        for scope in scopes:
            until = self._blocked_until.get(scope)
            if until is not None:
                if now < until:
                    # The bot ignored an announced retry_after: that is what tests guard against.
                    self.violations += 1
                    raise too_many_requests(max(1, math.ceil(until - now)))
                del self._blocked_until[scope]
        limits = self.limits
        if limits is None:
            return
        windows: list[tuple[Scope, SlidingWindow, float, int]] = [
            ("global", self._global, 1.0, limits.per_second_global)
        ]
        if chat.is_group:
            group = self._groups.setdefault(chat.id, SlidingWindow())
            windows.append(
                (chat.id, group, 60.0 * limits.window_scale, limits.per_minute_per_group)
            )
        for scope, window, span, capacity in windows:
            retry = window.retry_after(now, span, capacity)
            if retry is not None:
                self._blocked_until[scope] = now + retry
                raise too_many_requests(retry)
        for _, window, _, _ in windows:
            window.hit(now)


@dataclass
class Fault:
    """A failure to inject into the next ``times`` calls of ``method``."""

    method: str | None  # lower-cased method name, None = any method
    kind: FaultKind
    times: int
    retry_after: int
    delay: float

    def error(self, chat_id: int | None, migrated_to: int | None) -> TelegramError:
        """The answer of a fault that answers at all (not "timeout" or "reset").

        A "migrate" fault points at the chat's real supergroup when there is one.
        """
        if self.kind == "429":
            return too_many_requests(self.retry_after)
        if self.kind == "500":
            return TelegramError(500, "Internal Server Error")
        if self.kind == "502":
            return TelegramError(502, "Bad Gateway")
        if self.kind == "403":
            return forbidden("bot was blocked by the user")
        return migrated(migrated_to or int(f"-100{abs(chat_id or 1)}"))


class FaultInjector:
    """Faults for the next calls of chosen methods, and random failures of a share of calls."""

    def __init__(self) -> None:
        # (method, kind) of every injected fault that fired, including connection resets.
        self.injected: list[tuple[str, str]] = []
        self._faults: list[Fault] = []
        self._random_share = 0.0
        self._random_kinds: tuple[FaultKind, ...] = ()
        self._random_methods: frozenset[str] | None = None
        self._random_delay = 1.0
        self._rng = random.Random(0)

    def inject(
        self,
        method: str | None,
        *,
        kind: FaultKind,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (None = any) fail as ``kind``.

        "timeout" delivers the call, sleeps ``delay`` then answers; "reset" drops
        the connection without performing the call.
        """
        self._faults.append(
            Fault(method.lower() if method else None, kind, times, max(1, retry_after), delay)
        )

    def fail_rate(
        self,
        share: float,
        kinds: Iterable[FaultKind] = ("429", "500", "502"),
        seed: int = 0,
        *,
        methods: Iterable[str] | None = None,
        delay: float = 1.0,
    ) -> None:
        """Fail a random ``share`` of calls with one of ``kinds`` (0 disables).

        ``methods`` defaults to every method except getUpdates, so polling keeps
        working while sends are unreliable.
        """
        self._random_share = share
        self._random_kinds = tuple(kinds)
        self._random_methods = None if methods is None else frozenset(m.lower() for m in methods)
        self._random_delay = delay
        self._rng = random.Random(seed)

    def clear_faults(self) -> None:
        """Drop injected faults and random failures."""
        self._faults.clear()
        self._random_share = 0.0

    def take_fault(self, name: str) -> Fault | None:
        """The fault this call of ``name`` suffers, if any (recorded in :attr:`injected`)."""
        fault = self._next_fault(name.lower())
        if fault is not None:
            self.injected.append((name, fault.kind))
        return fault

    def _next_fault(self, lowered: str) -> Fault | None:
        for fault in self._faults:
            if fault.times > 0 and fault.method in (None, lowered):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        methods = self._random_methods
        eligible = lowered != "getupdates" if methods is None else lowered in methods
        if (
            self._random_share > 0
            and self._random_kinds
            and eligible
            and self._rng.random() < self._random_share
        ):
            kind = self._rng.choice(self._random_kinds)
            return Fault(lowered, kind, 1, 1, self._random_delay)
        return None
