"""The courier: takes a chat's next waiting message out of the postbox and delivers it.

The runtime's delivery (`bot.delivery`) decides *when* a chat may send (its budget, the global
pace, priorities); the courier decides *what* goes and makes the calls through the sender it
is handed (paced and retried by the runtime):

- `next(chat_id)` is the message to go first, or several waiting ones merged into one where
  that reads as well and saves the group's budget: acknowledgements of reports waiting
  together become one message naming each case, staff cards one card of several cases, plain
  answers one text.
- `deliver(batch, sender)` renders views from the store (the newest state, whatever happened
  since they were asked for), skips an edit that would change nothing, makes the call, then
  records the outcome in one transaction: the messages are deleted from the postbox and what
  the sent message's id means is bound (a case's card, the staff card).

A message whose call fails for good (Telegram refused it, the chat is gone, the retries ran
out) is dropped and logged: it is the one case where a decided message is not delivered.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from handlers.core import Services
from handlers.ports import (
    ChatGone,
    DeliveryError,
    Keyboard,
    NotModified,
    Rejected,
)
from handlers.postbox import keyboard_of
from handlers.render import MESSAGE_LIMIT, utf16_len
from storage.records import Outgoing, OutKind, Priority

log = logging.getLogger("echowall.courier")

# Calls per message before the courier gives up on flood control or server errors (each
# waits out retry_after or backs off, so this covers minutes of trouble). A refresh is only
# a view brought up to date: the next change asks for another.
ATTEMPTS = {Priority.REPLY: 12, Priority.ECHO: 12, Priority.POST: 12, Priority.REFRESH: 4}
# At most this many cases in one merged acknowledgement or staff card (a row of buttons
# each, and a message a person can still read).
MERGE_CASES = 10
# Digests of the latest text of messages the bot edited, so an edit that would change
# nothing is skipped; bounded, as it only saves calls.
_DIGESTS_KEPT = 4096


class Sender(Protocol):
    """The calls a delivery makes; the runtime's paces and retries them."""

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
    ) -> int: ...

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        attempts: int | None = None,
    ) -> None: ...

    async def pin(self, chat_id: int, message_id: int) -> None: ...

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int: ...

    async def send_picture(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int: ...

    # Calls that are not messages, for jobs: an admission card counts a group's members, a
    # group refused or retired is left.
    async def member_count(self, chat_id: int) -> int: ...

    async def leave(self, chat_id: int) -> None: ...


@dataclass(frozen=True)
class Rendered:
    """A view as it stands now: what to send, or which message to edit and how."""

    text: str = ""
    keyboard: Keyboard | None = None
    message_id: int | None = None  # for an edit: the message the view lives in
    photo: str | None = None
    file: tuple[str, bytes] | None = None  # (file name, content) of a document or picture


# `render(svc, argument, chat_id)`: the view's message in that chat now; None when there is
# nothing to show (the case is gone, the card was never posted).
View = Callable[[Services, str, int], Awaitable[Rendered | None]]
# A view that makes its own calls (the pinned wall: edit, or post and pin).
Job = Callable[[Services, str, Sender], Awaitable[None]]
# `bind(svc, argument, message_id)`: record what the sent message is (in the open transaction).
Binder = Callable[[Services, str, int], None]


@dataclass(frozen=True)
class Tables:
    """The views, jobs and binders by name, built by the composition root."""

    views: Mapping[str, View]
    jobs: Mapping[str, Job]
    binders: Mapping[str, Binder]


@dataclass(frozen=True)
class Batch:
    """What goes out in one call: one message, or several merged into one."""

    chat_id: int
    messages: tuple[Outgoing, ...]
    priority: Priority
    view: str | None = None  # the merged view, e.g. "ack:17,18"
    bind: str | None = None
    text: str | None = None  # the merged text

    @property
    def first(self) -> Outgoing:
        return self.messages[0]


def _split(key: str) -> tuple[str, str]:
    kind, _, argument = key.partition(":")
    return kind, argument


class Courier:
    """Delivers the postbox's messages for one running bot."""

    def __init__(
        self,
        svc: Services,
        tables: Tables,
        *,
        intervals: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.svc = svc
        self.tables = tables
        # A view of these kinds is refreshed at most once per so many seconds in a chat (the
        # pinned wall): the first change shows at once, a busy stretch folds into one edit.
        self._intervals = dict(intervals or {})
        self._clock = clock
        self._last: dict[tuple[int, str], float] = {}
        self._digests: OrderedDict[tuple[int, int], str] = OrderedDict()

    def hurry(self) -> None:
        """Hold nothing back any more (the bot is stopping: refresh the views once more)."""
        self._intervals.clear()

    def _due_at(self, message: Outgoing) -> float:
        """When the message may go (now for most; a refresh of a paced view later)."""
        if message.view is None or message.kind is not OutKind.EDIT:
            return 0.0
        kind = _split(message.view)[0]
        every = self._intervals.get(kind)
        last = self._last.get((message.chat_id, message.view))
        return 0.0 if every is None or last is None else last + every

    def ready_at(self, chat_id: int) -> float | None:
        """When the chat's earliest held-back refresh may go (None: nothing held back)."""
        post = self.svc.post
        times = [self._due_at(m) for m in post.waiting(chat_id) if m.id not in post.flying]
        later = [t for t in times if t > self._clock()]
        return min(later) if later and len(later) == len(times) else None

    # ---------------------------------------------------------------------- what goes next

    def next(self, chat_id: int, *, merge: bool = False) -> Batch | None:
        """The chat's next message; with `merge` (the runtime asks when a group's budget is
        short), together with the waiting ones that go well with it."""
        now = self._clock()
        flying = self.svc.post.flying
        # Lazily: in a burst hundreds wait, and mostly only the first is wanted.
        waiting = (
            m
            for m in self.svc.post.waiting(chat_id)
            if m.id not in flying and self._due_at(m) <= now
        )
        first = next(waiting, None)
        if first is None:
            return None
        if not merge or first.merge is None or chat_id > 0:
            return Batch(chat_id, (first,), first.priority)
        alike = [first]
        alike += (m for m in waiting if m.merge == first.merge and m.priority == first.priority)
        if first.merge == "text":
            return self._merged_text(chat_id, alike)
        taken = tuple(alike[:MERGE_CASES])
        if len(taken) == 1:
            return Batch(chat_id, taken, first.priority)
        cases = ",".join(_split(m.view or "")[1] for m in taken)
        view = _split(first.view or "")[0]
        bind = _split(first.bind or "")[0]
        return Batch(chat_id, taken, first.priority, view=f"{view}:{cases}", bind=f"{bind}:{cases}")

    def _merged_text(self, chat_id: int, alike: list[Outgoing]) -> Batch:
        taken = [alike[0]]
        text = alike[0].text
        for message in alike[1:]:
            joined = f"{text}\n\n{message.text}"
            if utf16_len(joined) > MESSAGE_LIMIT:
                break
            taken.append(message)
            text = joined
        if len(taken) == 1:
            return Batch(chat_id, (alike[0],), alike[0].priority)
        return Batch(chat_id, tuple(taken), alike[0].priority, text=text)

    def mergeable(self, chat_id: int) -> int:
        """How many waiting messages would go out with the chat's next one."""
        batch = self.next(chat_id)
        return len(batch.messages) if batch is not None else 0

    # ---------------------------------------------------------------------- delivering

    async def deliver(self, batch: Batch, sender: Sender) -> None:
        """Make the batch's call(s) and record the outcome; failures are logged, not raised."""
        post = self.svc.post
        ids = {m.id for m in batch.messages}
        post.flying |= ids
        try:
            sent = await self._perform(batch, sender)
        except ChatGone:
            log.warning(
                "action=deliver chat=%s gone: its waiting messages are dropped", batch.chat_id
            )
            self._drop_chat(batch.chat_id)
            return
        except Rejected as exc:
            log.warning(
                "action=deliver chat=%s message=%s refused: %s", batch.chat_id, batch.first.id, exc
            )
            self._finish(batch, None)
            return
        except DeliveryError as exc:
            log.warning(
                "action=deliver chat=%s message=%s failed for good: %s",
                batch.chat_id,
                batch.first.id,
                exc,
            )
            self._finish(batch, None)
            return
        except Exception:
            # A bug in rendering must not block the chat's lane: this message is dropped (and
            # logged with its traceback), the next goes.
            log.exception(
                "action=deliver chat=%s message=%s crashed", batch.chat_id, batch.first.id
            )
            self._finish(batch, None)
            return
        finally:
            post.flying -= ids
            if batch.first.view is not None and batch.first.kind is OutKind.EDIT:
                self._last[(batch.chat_id, batch.first.view)] = self._clock()
        self._finish(batch, sent)

    def _finish(self, batch: Batch, sent: int | None) -> None:
        """Take the messages out of the postbox; bind what the sent message is."""
        with self.svc.repo.transaction(durable=False):
            for message in batch.messages:
                self.svc.repo.delete_outgoing(message.id)
            bind = batch.bind or batch.first.bind
            if sent is not None and bind is not None:
                kind, argument = _split(bind)
                binder = self.tables.binders.get(kind)
                if binder is None:
                    log.error("action=deliver no binder %r", kind)
                else:
                    binder(self.svc, argument, sent)

    def _drop_chat(self, chat_id: int) -> None:
        with self.svc.repo.transaction(durable=False):
            for message_id in self.svc.repo.outgoing_ids(chat_id):
                self.svc.repo.delete_outgoing(message_id)

    async def _perform(self, batch: Batch, sender: Sender) -> int | None:
        """The call(s); the id of a message sent, if one was."""
        first, chat = batch.first, batch.chat_id
        attempts = ATTEMPTS[batch.priority]
        view_key = batch.view or first.view
        if view_key is not None:
            kind, argument = _split(view_key)
            job = self.tables.jobs.get(kind)
            if job is not None:
                await job(self.svc, argument, sender)
                return None
            view = self.tables.views.get(kind)
            if view is None:
                log.error("action=deliver no view %r", kind)
                return None
            shown = await view(self.svc, argument, chat)
            if shown is None:
                return None  # nothing to show any more
        else:
            shown = Rendered(
                batch.text if batch.text is not None else first.text,
                keyboard_of(first.keyboard),
                first.message_id,
                first.photo,
            )
        if first.kind is OutKind.PIN:
            assert first.message_id is not None
            await sender.pin(chat, first.message_id)
            return None
        # A file's view may find nothing to put in one (a month without cases): then it says
        # so in a message instead.
        if first.kind in (OutKind.FILE, OutKind.PICTURE) and shown.file is not None:
            name, data = shown.file
            caption = first.text or shown.text or None
            if first.kind is OutKind.FILE:
                return await sender.send_document(chat, name, data, caption=caption)
            return await sender.send_picture(chat, name, data, caption=caption)
        if first.kind is OutKind.EDIT:
            target = first.message_id if first.message_id is not None else shown.message_id
            if target is None:
                return None  # the message to bring up to date was never posted
            digest = self._digest(shown)
            if self._digests.get((chat, target)) == digest:
                return None  # it shows exactly this already
            with contextlib.suppress(NotModified):
                await sender.edit(
                    chat, target, shown.text, keyboard=shown.keyboard, attempts=attempts
                )
            self._remember(chat, target, digest)
            return None
        message_id = await sender.send(
            chat,
            shown.text,
            reply_to=first.reply_to,
            keyboard=shown.keyboard,
            photo=shown.photo,
            attempts=attempts,
        )
        self._remember(chat, message_id, self._digest(shown))
        return message_id

    @staticmethod
    def _digest(shown: Rendered) -> str:
        keyboard = repr(shown.keyboard).encode()
        return hashlib.sha1(shown.text.encode() + b"\0" + keyboard).hexdigest()

    def _remember(self, chat_id: int, message_id: int, digest: str) -> None:
        self._digests[(chat_id, message_id)] = digest
        self._digests.move_to_end((chat_id, message_id))
        while len(self._digests) > _DIGESTS_KEPT:
            self._digests.popitem(last=False)

    # ---------------------------------------------------------------------- without a runtime

    async def deliver_all(self, sender: Sender) -> int:
        """Deliver everything waiting, chat by chat, unpaced (core tests, tools); return how
        many batches went."""
        done = 0
        while True:
            chats = sorted(self.svc.repo.outgoing_chats())
            batches = [b for c in chats if (b := self.next(c)) is not None]
            if not batches:
                return done
            for batch in batches:
                await self.deliver(batch, sender)
                done += 1
