"""Pacing and retries around a framework's Messenger, shared by both adapters.

Telegram allows about 30 messages a second overall and 20 a minute into one group. The
delivery layer paces itself below those limits, waits out a 429's `retry_after` before any
further call (loop, never recurse: flood control can repeat), retries transient failures a
bounded number of times, follows a group's migration to a supergroup and reports a chat the
bot was removed from.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from handlers.ports import (
    BotCommand,
    ChatGone,
    ChatMigrated,
    Keyboard,
    Messenger,
    NotModified,
    RetryLater,
    Transient,
    Uncertain,
)

log = logging.getLogger("echowall.delivery")
T = TypeVar("T")


@dataclass(frozen=True)
class Limits:
    per_second: float = 30.0
    group_per_minute: float = 20.0
    group_window: float = 60.0
    attempts: int = 4
    backoff: float = 0.5
    # Calls leave at most this share of the allowed pace: the server counts arrivals, and a
    # few milliseconds of network jitter must not push 31 calls into one second (a 429 costs
    # a whole second of retry_after).
    margin: float = 0.97


class Pacer:
    """Spacing of calls: a global interval plus a sliding window per group chat."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._global = asyncio.Lock()
        self._next_global = 0.0
        self._blocked_until = 0.0
        self._windows: dict[int, deque[float]] = {}
        self._chat_locks: dict[int, asyncio.Lock] = {}

    def block(self, seconds: float) -> None:
        """Hold every call until a flood-control window has passed."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)

    async def wait(self, chat_id: int | None) -> None:
        if chat_id is None or chat_id > 0:
            await self._wait_global()
            return
        # A full group waits on its own lock only: other chats keep moving meanwhile.
        lock = self._chat_locks.setdefault(chat_id, asyncio.Lock())
        async with lock:
            window = self._windows.setdefault(chat_id, deque())
            while True:
                now = self._clock()
                while window and window[0] <= now - self._limits.group_window:
                    window.popleft()
                if len(window) < self._limits.group_per_minute * self._limits.margin:
                    break
                await asyncio.sleep(window[0] + self._limits.group_window - now)
            window.append(await self._wait_global())

    async def _wait_global(self) -> float:
        async with self._global:
            while True:
                now = self._clock()
                ready = max(self._next_global, self._blocked_until)
                if ready <= now:
                    break
                await asyncio.sleep(ready - now)
            self._next_global = now + 1.0 / (self._limits.per_second * self._limits.margin)
            return now


class ReliableMessenger:
    """A Messenger that paces, retries and follows migrations, around a framework's one."""

    def __init__(
        self,
        inner: Messenger,
        limits: Limits,
        *,
        on_migrated: Callable[[int, int], None],
        on_gone: Callable[[int], None],
    ) -> None:
        self._inner = inner
        self._limits = limits
        self._pacer = Pacer(limits)
        self._on_migrated = on_migrated
        self._on_gone = on_gone

    async def _call(
        self,
        chat_id: int | None,
        make: Callable[[int | None], Awaitable[T]],
        *,
        paced: bool = True,
        attempts: int | None = None,
        retry_uncertain: bool = True,
    ) -> T:
        limit = attempts or self._limits.attempts
        attempt = 0
        migrated = False
        while True:
            attempt += 1
            if paced:
                await self._pacer.wait(chat_id)
            try:
                return await make(chat_id)
            except RetryLater as exc:
                log.warning("chat=%s flood control: waiting %ss", chat_id, exc.seconds)
                self._pacer.block(exc.seconds)
                if attempt >= limit:
                    raise
            except Transient as exc:
                if attempt >= limit or (isinstance(exc, Uncertain) and not retry_uncertain):
                    raise
                delay = self._limits.backoff * 2 ** (attempt - 1)
                log.warning("chat=%s transient failure (%s); retry in %.1fs", chat_id, exc, delay)
                await asyncio.sleep(delay)
            except ChatMigrated as exc:
                if migrated or chat_id is None:
                    raise
                migrated = True
                self._on_migrated(chat_id, exc.new_chat_id)
                chat_id = exc.new_chat_id
            except ChatGone:
                if chat_id is not None:
                    self._on_gone(chat_id)
                raise

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        keyboard: Keyboard | None = None,
        photo: str | None = None,
        attempts: int | None = None,
        retry_uncertain: bool = True,
        on_call: Callable[[], None] | None = None,
    ) -> int:
        """Send with pacing and retries.

        `retry_uncertain=False` is for broadcasts: a call whose fate is unknown is not repeated,
        since a second copy in every such group is worse than a gap the delivery report shows.
        `on_call` runs right before each call leaves, after the pacing wait: the outbox
        records there that the message may be on its way.
        """
        first = chat_id

        async def make(target: int | None) -> int:
            assert target is not None
            if on_call is not None:
                on_call()
            # After a migration the old message ids mean nothing in the new chat.
            return await self._inner.send(
                target,
                text,
                reply_to=reply_to if target == first else None,
                keyboard=keyboard,
                photo=photo,
            )

        return await self._call(chat_id, make, attempts=attempts, retry_uncertain=retry_uncertain)

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, keyboard: Keyboard | None = None
    ) -> None:
        async def make(target: int | None) -> None:
            assert target is not None
            await self._inner.edit(target, message_id, text, keyboard=keyboard)

        try:
            await self._call(chat_id, make)
        except NotModified:
            log.debug("chat=%s message=%s unchanged", chat_id, message_id)

    async def pin(self, chat_id: int, message_id: int) -> None:
        async def make(target: int | None) -> None:
            assert target is not None
            await self._inner.pin(target, message_id)

        await self._call(chat_id, make)

    async def answer(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None:
        async def make(_: int | None) -> None:
            await self._inner.answer(callback_id, text, alert=alert)

        # Answers are not messages: they are not counted against the chat limits.
        await self._call(None, make, paced=False)

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        async def make(target: int | None) -> int:
            assert target is not None
            return await self._inner.send_document(target, filename, data, caption=caption)

        return await self._call(chat_id, make)

    async def send_picture(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        async def make(target: int | None) -> int:
            assert target is not None
            return await self._inner.send_picture(target, filename, data, caption=caption)

        return await self._call(chat_id, make)

    async def member_status(self, chat_id: int, user_id: int) -> str | None:
        async def make(target: int | None) -> str | None:
            assert target is not None
            return await self._inner.member_status(target, user_id)

        return await self._call(chat_id, make, paced=False)

    async def set_commands(
        self, commands: list[BotCommand], *, language: str | None, scope: str
    ) -> None:
        async def make(_: int | None) -> None:
            await self._inner.set_commands(commands, language=language, scope=scope)

        await self._call(None, make, paced=False)
