"""Delivery per chat under Telegram's limits, shared by both adapters.

Telegram allows about 30 messages a second overall and 20 a minute into one group. Every
message the bot sends goes through here:

- `Dispatcher` keeps one *lane* per chat. A lane sends its chat's messages one at a time, the
  most urgent first: what the postbox holds for the chat (`handlers.courier` picks and merges
  it) and the broadcast deliveries the outbox hands in (`Dispatcher.run`). A group that has
  used its minute waits in its own lane; no other chat and no update waits with it. Across
  lanes, answers go first: while an answer to what someone just typed or pressed is on its
  way in one chat (and its group has room for it), the other chats' echoes, cards and
  refreshes wait for it, a quarter of a second at most (`Limits.answers_first`).
- `Pacer` grants the calls: a sliding window per group, where a broadcast leaves a few slots
  free for answers and echoes and a view refresh leaves more, and one global pace shared by
  all lanes, granted by priority (an answer anywhere before a refresh anywhere).
- `ReliableMessenger` waits out a 429's `retry_after` before any further call (loop, never
  recurse: flood control can repeat), retries transient failures a bounded number of times,
  follows a group's migration to a supergroup and reports a chat the bot was removed from.

In a burst (a group sending several messages within seconds, or close to the end of its
minute), answers, acknowledgements and staff cards that could go out together wait a moment
(`Limits.gather`, counted from the oldest of them) for company and then go as one message:
thirty reports in a power cut are acknowledged in a few messages instead of thirty, and their
staff cards likewise, so the staff chat keeps room to answer. A chat at its usual pace never
waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from handlers.courier import Batch, Courier
from handlers.outbox import Stopping
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
from handlers.postbox import Doorbell
from storage.records import Priority

log = logging.getLogger("echowall.delivery")
T = TypeVar("T")


def _reserves() -> dict[Priority, int]:
    return {Priority.REPLY: 0, Priority.ECHO: 0, Priority.POST: 2, Priority.REFRESH: 4}


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
    # Slots of a group's window a message of this priority leaves free for more urgent ones.
    reserve: dict[Priority, int] = field(default_factory=_reserves)
    # In a burst of one kind (the acknowledgements, staff cards or answers a group got in the
    # last `burst_seconds`, kept up for its whole window, would overrun its budget), or with no
    # more than `low_room` calls of its window left, messages of that kind go out together
    # once the oldest of them has waited this long (seconds) for others. A chat at a pace its
    # budget can bear never waits, and neither does a message of another kind than the burst's.
    gather: float = 1.0
    burst_seconds: float = 5.0
    low_room: int = 4
    # While an answer to what someone just typed or pressed is on its way (rendered, sent
    # and recorded) in one chat, other chats' echoes, cards and refreshes wait for it, at
    # most this long (seconds): the person waiting is answered before the rest goes out.
    answers_first: float = 0.25

    @property
    def group_capacity(self) -> int:
        return max(1, int(self.group_per_minute * self.margin))


class Pacer:
    """Grants calls: a sliding window per group chat, and the global pace by priority."""

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self._limits = limits
        self._clock = clock
        self._interval = 1.0 / (limits.per_second * limits.margin)
        self._capacity = limits.group_capacity
        self._windows: dict[int, deque[float]] = {}
        # Calls of a chat past its window check, waiting for the global pace: they count.
        self._reserved: dict[int, int] = {}
        self._next = 0.0
        self._blocked_until = 0.0
        self._waiters: list[tuple[int, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None

    def block(self, seconds: float) -> None:
        """Hold every call until a flood-control window has passed."""
        self._blocked_until = max(self._blocked_until, self._clock() + seconds)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._schedule()

    def _window(self, chat_id: int) -> deque[float] | None:
        if chat_id > 0:
            return None  # private chats have no per-minute budget
        window = self._windows.setdefault(chat_id, deque())
        horizon = self._clock() - self._limits.group_window
        while window and window[0] <= horizon:
            window.popleft()
        return window

    def room(self, chat_id: int, priority: Priority) -> int:
        """Calls a message of this priority may make into the chat right now."""
        window = self._window(chat_id)
        if window is None:
            return self._capacity
        taken = len(window) + self._reserved.get(chat_id, 0)
        return self._capacity - self._limits.reserve.get(priority, 0) - taken

    def used(self, chat_id: int) -> int:
        window = self._window(chat_id)
        return 0 if window is None else len(window)

    def recent(self, chat_id: int, seconds: float) -> int:
        """Calls into the chat within the last `seconds`."""
        window = self._window(chat_id)
        if window is None:
            return 0
        since = self._clock() - seconds
        return sum(1 for at in reversed(window) if at > since)

    @property
    def capacity(self) -> int:
        return self._capacity

    def ready_in(self, chat_id: int, priority: Priority) -> float:
        """Seconds until a message of this priority may go into the chat (0: now)."""
        window = self._window(chat_id)
        if window is None:
            return 0.0
        allowed = max(1, self._capacity - self._limits.reserve.get(priority, 0))
        taken = len(window) + self._reserved.get(chat_id, 0)
        if taken < allowed:
            return 0.0
        # The oldest calls must leave the window until fewer than `allowed` remain.
        leaving = taken - allowed + 1
        if leaving > len(window):
            return self._interval  # calls granted but not made yet: look again shortly
        oldest = window[leaving - 1]
        return max(0.0, oldest + self._limits.group_window - self._clock())

    async def acquire(self, chat_id: int | None, priority: Priority) -> None:
        """Wait for the chat's window and the global pace, then count the call."""
        window = None if chat_id is None else self._window(chat_id)
        if chat_id is None or window is None:
            await self._global(priority)
            return
        while (wait := self.ready_in(chat_id, priority)) > 0:
            await asyncio.sleep(wait)
        self._reserved[chat_id] = self._reserved.get(chat_id, 0) + 1
        try:
            await self._global(priority)
        finally:
            self._reserved[chat_id] -= 1
        window.append(self._clock())

    async def _global(self, priority: Priority) -> None:
        now = self._clock()
        if not self._waiters and max(self._next, self._blocked_until) <= now:
            self._next = now + self._interval  # nobody waits and the pace allows it: go now
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (int(priority), next(self._order), future))
        self._schedule()
        await future

    def _schedule(self) -> None:
        if self._timer is not None or not self._waiters:
            return
        delay = max(0.0, max(self._next, self._blocked_until) - self._clock())
        self._timer = asyncio.get_running_loop().call_later(delay, self._grant)

    def _grant(self) -> None:
        self._timer = None
        now = self._clock()
        if max(self._next, self._blocked_until) > now:
            self._schedule()
            return
        while self._waiters:
            _, _, future = heapq.heappop(self._waiters)
            if not future.done():
                future.set_result(None)
                self._next = now + self._interval
                break
        self._schedule()


class ReliableMessenger:
    """A Messenger that paces, retries and follows migrations, around a framework's one."""

    def __init__(
        self,
        inner: Messenger,
        limits: Limits,
        *,
        on_migrated: Callable[[int, int], None],
        on_gone: Callable[[int], None],
        pacer: Pacer | None = None,
    ) -> None:
        self._inner = inner
        self._limits = limits
        self.pacer = pacer or Pacer(limits)
        self._on_migrated = on_migrated
        self._on_gone = on_gone

    async def _call(
        self,
        chat_id: int | None,
        make: Callable[[int | None], Awaitable[T]],
        *,
        priority: Priority = Priority.REPLY,
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
                await self.pacer.acquire(chat_id, priority)
            try:
                return await make(chat_id)
            except RetryLater as exc:
                log.warning("chat=%s flood control: waiting %ss", chat_id, exc.seconds)
                self.pacer.block(exc.seconds)
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
        priority: Priority = Priority.REPLY,
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

        return await self._call(
            chat_id, make, priority=priority, attempts=attempts, retry_uncertain=retry_uncertain
        )

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        attempts: int | None = None,
        priority: Priority = Priority.REPLY,
    ) -> None:
        async def make(target: int | None) -> None:
            assert target is not None
            await self._inner.edit(target, message_id, text, keyboard=keyboard)

        try:
            await self._call(chat_id, make, priority=priority, attempts=attempts)
        except NotModified:
            log.debug("chat=%s message=%s unchanged", chat_id, message_id)

    async def pin(
        self, chat_id: int, message_id: int, *, priority: Priority = Priority.REPLY
    ) -> None:
        async def make(target: int | None) -> None:
            assert target is not None
            await self._inner.pin(target, message_id)

        await self._call(chat_id, make, priority=priority)

    async def answer(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None:
        async def make(_: int | None) -> None:
            await self._inner.answer(callback_id, text, alert=alert)

        # Answers are not messages: they are not counted against the chat limits.
        await self._call(None, make, paced=False)

    async def send_document(
        self,
        chat_id: int,
        filename: str,
        data: bytes,
        *,
        caption: str | None = None,
        priority: Priority = Priority.REPLY,
    ) -> int:
        async def make(target: int | None) -> int:
            assert target is not None
            return await self._inner.send_document(target, filename, data, caption=caption)

        return await self._call(chat_id, make, priority=priority)

    async def send_picture(
        self,
        chat_id: int,
        filename: str,
        data: bytes,
        *,
        caption: str | None = None,
        priority: Priority = Priority.REPLY,
    ) -> int:
        async def make(target: int | None) -> int:
            assert target is not None
            return await self._inner.send_picture(target, filename, data, caption=caption)

        return await self._call(chat_id, make, priority=priority)

    async def member_status(self, chat_id: int, user_id: int) -> str | None:
        async def make(target: int | None) -> str | None:
            assert target is not None
            return await self._inner.member_status(target, user_id)

        return await self._call(chat_id, make, paced=False)

    async def set_commands(
        self,
        commands: list[BotCommand],
        *,
        language: str | None,
        scope: str,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        async def make(_: int | None) -> None:
            await self._inner.set_commands(
                commands, language=language, scope=scope, chat_id=chat_id, user_id=user_id
            )

        await self._call(None, make, paced=False)

    async def member_count(self, chat_id: int) -> int:
        """Not a message: not counted against the chat's limits."""

        async def make(target: int | None) -> int:
            assert target is not None
            return await self._inner.member_count(target)

        return await self._call(chat_id, make, paced=False)

    async def leave(self, chat_id: int) -> None:
        """Not a message: not counted against the chat's limits."""

        async def make(target: int | None) -> None:
            assert target is not None
            await self._inner.leave(target)

        await self._call(chat_id, make, paced=False)


class LaneSender:
    """The calls of one lane's message, at that message's priority."""

    def __init__(self, reliable: ReliableMessenger, priority: Priority) -> None:
        self._reliable = reliable
        self._priority = priority

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
        return await self._reliable.send(
            chat_id,
            text,
            reply_to=reply_to,
            keyboard=keyboard,
            photo=photo,
            attempts=attempts,
            retry_uncertain=retry_uncertain,
            on_call=on_call,
            priority=self._priority,
        )

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        attempts: int | None = None,
    ) -> None:
        await self._reliable.edit(
            chat_id, message_id, text, keyboard=keyboard, attempts=attempts, priority=self._priority
        )

    async def pin(self, chat_id: int, message_id: int) -> None:
        await self._reliable.pin(chat_id, message_id, priority=self._priority)

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        return await self._reliable.send_document(
            chat_id, filename, data, caption=caption, priority=self._priority
        )

    async def send_picture(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        return await self._reliable.send_picture(
            chat_id, filename, data, caption=caption, priority=self._priority
        )

    async def member_count(self, chat_id: int) -> int:
        return await self._reliable.member_count(chat_id)

    async def leave(self, chat_id: int) -> None:
        await self._reliable.leave(chat_id)


@dataclass(order=True)
class _Job:
    priority: int
    order: int
    run: Callable[[LaneSender], Awaitable[Any]] = field(compare=False)
    future: asyncio.Future[Any] = field(compare=False)


class _Lane:
    """One chat's queue of broadcast jobs, and its worker."""

    def __init__(self, chat_id: int) -> None:
        self.chat_id = chat_id
        self.jobs: list[_Job] = []
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        # Since when the lane's next message has been letting other chats' answers go first.
        self.deferring: float | None = None


class Dispatcher:
    """One lane per chat: the chat's messages one at a time, the most urgent first."""

    def __init__(
        self,
        courier: Courier,
        reliable: ReliableMessenger,
        limits: Limits,
        doorbell: Doorbell,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        doorbell.listen(self.wake)
        self._courier = courier
        self._reliable = reliable
        self._pacer = reliable.pacer
        self._limits = limits
        self._clock = clock
        self._lanes: dict[int, _Lane] = {}
        # Per chat, outliving its lane (which goes whenever it is idle, between two messages of
        # a burst too): when messages that could be merged went out, by kind; and when each
        # waiting message was first seen (for `Limits.gather`).
        self._merged: dict[int, deque[tuple[float, str]]] = {}
        self._seen: dict[int, float] = {}
        self._order = itertools.count()
        self._stopping = False
        # Chats with an answer (a REPLY) that may go now, until it has gone; while there are
        # any, other chats' less urgent messages wait (`Limits.answers_first`).
        self._answering: set[int] = set()
        self._answered = asyncio.Event()
        self._answered.set()

    # ------------------------------------------------------------------ feeding the lanes

    def wake(self, chat_id: int, priority: Priority | None = None) -> None:
        """Something new waits for the chat (the postbox calls this, with the priority of
        the message it put there)."""
        if self._stopping:
            return
        if priority is Priority.REPLY:
            self._answering.add(chat_id)
            self._answered.clear()
        lane = self._lanes.get(chat_id)
        if lane is None:
            lane = self._lanes[chat_id] = _Lane(chat_id)
        lane.wake.set()
        if lane.task is None or lane.task.done():
            lane.task = asyncio.get_running_loop().create_task(
                self._work(lane), name=f"lane {chat_id}"
            )

    def start(self) -> None:
        """Deliver what waited in the postbox when the bot last stopped."""
        for chat_id in sorted(self._courier.svc.repo.outgoing_chats()):
            self.wake(chat_id)

    async def run(
        self,
        chat_id: int,
        priority: Priority,
        job: Callable[[LaneSender], Awaitable[T]],
    ) -> T:
        """Run `job` in the chat's lane at `priority` (the outbox's broadcasts)."""
        if self._stopping:
            raise Stopping
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self.wake(chat_id)
        heapq.heappush(
            self._lanes[chat_id].jobs, _Job(int(priority), next(self._order), job, future)
        )
        return await future

    # ------------------------------------------------------------------ a lane's worker

    def _answer_gone(self, chat: int) -> None:
        self._answering.discard(chat)
        if not self._answering:
            self._answered.set()

    async def _answers_first(self, lane: _Lane) -> bool:
        """Let answers under way in other chats go before this lane's less urgent message
        (at most `Limits.answers_first` seconds for one message); True if it waited."""
        if not self._answering - {lane.chat_id}:
            lane.deferring = None
            return False
        now = self._clock()
        if lane.deferring is None:
            lane.deferring = now
        left = lane.deferring + self._limits.answers_first - now
        if left <= 0:
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._answered.wait(), left)
        return True

    async def _work(self, lane: _Lane) -> None:
        try:
            await self._deliver(lane)
        finally:
            self._answer_gone(lane.chat_id)

    async def _deliver(self, lane: _Lane) -> None:
        chat = lane.chat_id
        while not self._stopping:
            lane.wake.clear()
            batch = self._courier.next(chat)
            if (
                batch is None
                or batch.priority is not Priority.REPLY
                or self._pacer.ready_in(chat, batch.priority) > 0
            ):
                # No answer of this chat can go now: none holds the others up.
                self._answer_gone(chat)
            job = lane.jobs[0] if lane.jobs else None
            if batch is None and job is None:
                later = self._courier.ready_at(chat)
                if later is not None:
                    await self._nap(lane, later - self._clock())
                    continue
                # Nothing to do: the lane goes (no await from here on, so nothing can slip
                # in between); the next wake() makes a new one.
                if self._lanes.get(chat) is lane:
                    del self._lanes[chat]
                return
            if batch is not None and (job is None or batch.priority <= job.priority):
                wait = self._pacer.ready_in(chat, batch.priority)
                if wait == 0 and self._tight(lane, batch):
                    # Short of budget: what waits together goes together, once its oldest
                    # has waited a moment for company (in a burst, one message a `gather`
                    # instead of one for every few that queued while the last call was made).
                    batch = self._courier.next(chat, merge=True) or batch
                    if len(self._seen) > 10_000:  # messages dropped after failing for good
                        self._seen.clear()
                    seen = self._seen.setdefault(batch.first.id, self._clock())
                    wait = max(0.0, seen + self._limits.gather - self._clock())
                if wait > 0:
                    self._answer_gone(chat)
                    await self._nap(lane, wait)
                    continue
                if batch.priority is not Priority.REPLY and await self._answers_first(lane):
                    continue
                lane.deferring = None
                for message in batch.messages:
                    self._seen.pop(message.id, None)
                if batch.first.merge is not None:
                    sent = self._merged.setdefault(chat, deque())
                    sent.append((self._clock(), batch.first.merge))
                await self._courier.deliver(batch, LaneSender(self._reliable, batch.priority))
            else:
                assert job is not None
                wait = self._pacer.ready_in(chat, Priority(job.priority))
                if wait > 0:
                    await self._nap(lane, wait)
                    continue
                if await self._answers_first(lane):
                    continue
                lane.deferring = None
                heapq.heappop(lane.jobs)
                await self._run_job(job)

    def _tight(self, lane: _Lane, batch: Batch) -> bool:
        """Whether the group is short of budget for this kind of message: in a burst of its
        kind, or near the end of its minute."""
        first = batch.first
        if first.merge is None or lane.chat_id > 0:
            return False
        limits, chat = self._limits, lane.chat_id
        since = self._clock() - limits.burst_seconds
        sent = self._merged.get(chat)
        while sent and sent[0][0] <= since:
            sent.popleft()
        if sent is not None and not sent:
            del self._merged[chat]
        alike = sum(1 for _, kind in sent or () if kind == first.merge)
        bursting = alike * limits.group_window > self._pacer.capacity * limits.burst_seconds
        return bursting or self._pacer.room(chat, batch.priority) <= limits.low_room

    async def _nap(self, lane: _Lane, seconds: float) -> None:
        """Sleep until then, or until something new arrives for the lane."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(lane.wake.wait(), max(0.001, seconds))

    async def _run_job(self, job: _Job) -> None:
        if job.future.done():
            return
        try:
            result = await job.run(LaneSender(self._reliable, Priority(job.priority)))
        except asyncio.CancelledError:
            job.future.cancel()
            raise
        except BaseException as exc:  # the outbox's job: it decides what a failure means
            job.future.set_exception(exc)
        else:
            job.future.set_result(result)

    # ------------------------------------------------------------------ stopping

    async def stop(self, grace: float) -> None:
        """Deliver what can go within `grace` seconds (held-back refreshes included); what
        cannot (a group out of budget) waits in the store for the next start."""
        self._courier.hurry()
        for chat_id in sorted(self._courier.svc.repo.outgoing_chats()):
            self.wake(chat_id)
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            await asyncio.wait(tasks, timeout=grace)
        self._stopping = True
        self._answering.clear()
        self._answered.set()
        for lane in self._lanes.values():
            lane.wake.set()
            for job in lane.jobs:
                if not job.future.done():
                    job.future.set_exception(Stopping())
            lane.jobs.clear()
        tasks = [lane.task for lane in self._lanes.values() if lane.task is not None]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=0.5)
            for task in pending:
                task.cancel()
            for task in pending:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if pending:
                log.warning("action=stop %s lanes did not finish in %ss", len(pending), grace)
        self._lanes.clear()

    def busy(self) -> bool:
        """Whether any lane has work (tests and the demo wait for quiet with it)."""
        return any(lane.task is not None and not lane.task.done() for lane in self._lanes.values())

    async def idle(self, timeout: float) -> bool:
        """Wait until every lane has delivered what it could; False if `timeout` ran out."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        await asyncio.sleep(0)  # lanes woken just now start first
        while self.busy():
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True
