"""What both adapters share: updates as the core's neutral events, polling, start-up retries.

python-telegram-bot and aiogram model updates with the same field names as the Bot API, so one
function reads either, and one polling loop (`poll`) serves both: each adapter hands it its
framework's getUpdates call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from handlers import incoming
from handlers.ports import DeliveryError, RetryLater, Transient

log = logging.getLogger("echowall.updates")
T = TypeVar("T")
# On stop, updates being handled get this long to finish; the others come again later.
STOP_DRAIN = 5.0


class Captions:
    """The bot's messages that are photos, so that an edit of one edits its caption at once
    (a message not remembered, after a restart, is tried as text first). Bounded."""

    LIMIT = 20_000

    def __init__(self) -> None:
        self._known: dict[tuple[int, int], None] = {}

    def add(self, chat_id: int, message_id: int) -> None:
        self._known[(chat_id, message_id)] = None
        if len(self._known) > self.LIMIT:
            del self._known[next(iter(self._known))]

    def __contains__(self, key: tuple[int, int]) -> bool:
        return key in self._known


def _person(user: Any) -> incoming.User | None:
    if user is None:
        return None
    return incoming.User(
        id=user.id,
        name=user.full_name,
        username=user.username,
        language=user.language_code,
        is_bot=user.is_bot,
    )


def _chat(chat: Any) -> incoming.ChatRef:
    return incoming.ChatRef(
        chat.id, incoming.chat_kind(chat.type), chat.title or chat.full_name or None
    )


def _text(message: Any) -> str:
    return message.text or message.caption or ""


def _photo(message: Any) -> str | None:
    return message.photo[-1].file_id if message.photo else None


def _location(message: Any) -> incoming.Location | None:
    """A shared venue (with its name and address) or location."""
    venue = getattr(message, "venue", None)
    if venue is not None and venue.location is not None:
        where = venue.location
        return incoming.Location(
            where.latitude, where.longitude, venue.title or "", venue.address or ""
        )
    where = getattr(message, "location", None)
    if where is None:
        return None
    return incoming.Location(where.latitude, where.longitude)


def _media(message: Any) -> incoming.Media | None:
    """A voice message, video, round video or audio file, by its file_id."""
    for kind in ("voice", "video", "video_note", "audio"):
        item = getattr(message, kind, None)
        if item is not None:
            return incoming.Media(kind, item.file_id)
    return None


def _mentions(message: Any) -> tuple[incoming.User, ...]:
    """The people a message names by `text_mention` entities (those without a @username)."""
    entities = message.entities or message.caption_entities or ()
    found = (_person(e.user) for e in entities if e.type == "text_mention" and e.user)
    return tuple(p for p in found if p is not None)


def translate(update: Any) -> incoming.Event | None:
    """Make a neutral event of an update, or None for what the core does not handle."""
    try:
        return _translate(update)
    except ValueError as exc:  # a chat type Telegram may add one day
        log.warning("action=translate update=%s skipped (%s)", update.update_id, exc)
        return None


def _translate(update: Any) -> incoming.Event | None:
    if update.my_chat_member is not None:
        member = update.my_chat_member
        joined = member.new_chat_member.status in ("member", "administrator", "creator") or (
            member.new_chat_member.status == "restricted"
            and getattr(member.new_chat_member, "is_member", False)
        )
        return incoming.Membership(
            update.update_id, _chat(member.chat), joined, _person(member.from_user)
        )
    if update.callback_query is not None:
        query = update.callback_query
        msg = query.message
        return incoming.Press(
            update_id=update.update_id,
            callback_id=query.id,
            sender=_person(query.from_user),  # type: ignore[arg-type]
            data=query.data or "",
            chat=_chat(msg.chat) if msg is not None else None,
            message_id=msg.message_id if msg is not None else None,
        )
    message = update.message or update.edited_message
    if message is None:
        return None
    if message.migrate_to_chat_id:
        return incoming.Migration(
            update.update_id, message.chat.id, message.migrate_to_chat_id, message.chat.title
        )
    if message.migrate_from_chat_id or message.new_chat_members or message.left_chat_member:
        return None  # service messages; membership comes as my_chat_member
    quoted = None
    if message.reply_to_message is not None:
        reply = message.reply_to_message
        quoted = incoming.Quoted(
            reply.message_id,
            _person(reply.from_user),
            _text(reply),
            _photo(reply),
            _location(reply),
            _media(reply),
        )
    return incoming.Message(
        update_id=update.update_id,
        chat=_chat(message.chat),
        message_id=message.message_id,
        sender=_person(message.from_user),
        text=_text(message),
        date=message.date,
        photo=_photo(message),
        reply_to=quoted,
        sender_chat_id=message.sender_chat.id if message.sender_chat else None,
        edited=update.edited_message is not None,
        mentions=_mentions(message),
        media_group_id=message.media_group_id,
        location=_location(message),
        media=_media(message),
    )


async def keep_trying(make: Callable[[], Awaitable[T]], stop: asyncio.Event, what: str) -> T | None:
    """Start-up calls (getMe): wait out flood control and outages instead of dying.

    Returns None if `stop` was set before the call succeeded.
    """
    delay = 0.5
    while not stop.is_set():
        try:
            return await make()
        except RetryLater as exc:
            wait = exc.seconds
        except Transient as exc:
            wait, delay = delay, min(delay * 2, 30.0)
            log.warning("action=startup call=%s failed (%s); retry in %.1fs", what, exc, wait)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
    return None


def _lane_of(event: incoming.Event) -> int:
    """Updates of one chat are handled in order; different chats in parallel."""
    if isinstance(event, incoming.Press):
        return event.chat.id if event.chat is not None else event.sender.id
    if isinstance(event, incoming.Migration):
        return event.old_chat_id
    return event.chat.id


class Intake:
    """Hands updates to the core: one queue per chat, so a chat's updates are handled in
    their order while other chats go on at the same time (a status lookup or a slow store
    write in one chat holds up no other); and the offset confirmed to Telegram never passes
    an update whose handling has not finished, so a `kill -9` loses none.
    """

    def __init__(self, handle: Callable[[incoming.Event], Awaitable[None]]) -> None:
        self._handle = handle
        self._queues: dict[int, deque[tuple[int, incoming.Event]]] = {}
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._open: set[int] = set()  # taken, not yet handled
        self._highest: int | None = None
        self._progress = asyncio.Event()

    def offset(self) -> int | None:
        """What to confirm with the next getUpdates: every update before it is handled."""
        if self._open:
            return min(self._open)
        return None if self._highest is None else self._highest + 1

    @property
    def busy(self) -> bool:
        return bool(self._open)

    def take(self, update_id: int, event: incoming.Event | None) -> bool:
        """Queue an update; False if it was taken before (Telegram sends unconfirmed ones
        again)."""
        if update_id in self._open or (self._highest is not None and update_id <= self._highest):
            return False
        self._highest = update_id if self._highest is None else max(self._highest, update_id)
        if event is None:
            return True  # nothing for the core: done at once
        self._open.add(update_id)
        lane = _lane_of(event)
        self._queues.setdefault(lane, deque()).append((update_id, event))
        if lane not in self._workers:
            self._workers[lane] = asyncio.create_task(self._work(lane), name=f"updates {lane}")
        return True

    async def _work(self, lane: int) -> None:
        queue = self._queues[lane]
        try:
            while queue:
                update_id, event = queue[0]
                try:
                    await self._handle(event)
                except Exception:
                    log.exception("update=%s failed", update_id)
                queue.popleft()
                self._open.discard(update_id)
                self._progress.set()
        finally:
            del self._workers[lane]
            if not queue:
                del self._queues[lane]

    async def progress(self, timeout: float) -> None:
        """Wait until some update has been handled, or `timeout` seconds."""
        self._progress.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._progress.wait(), timeout)

    async def drain(self, timeout: float) -> None:
        """Let the updates taken finish (on stop); those that do not are sent again later."""
        workers = list(self._workers.values())
        if workers:
            _done, pending = await asyncio.wait(workers, timeout=timeout)
            for task in pending:
                task.cancel()


# How long a poll that brought new updates waits for one of them to be handled before polling
# again (seconds).
SETTLE = 0.05

Fetch = Callable[[int | None, int], Awaitable[Sequence[Any]]]


async def poll(
    fetch: Fetch, handle: Callable[[incoming.Event], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Long polling that confirms an update only after the core has handled it.

    `fetch(offset, timeout)` is the framework's getUpdates. Updates go to an `Intake`; while
    some are still being handled, the next poll does not wait (they come back unconfirmed and
    are skipped) and new ones are picked up as they arrive.
    """
    intake = Intake(handle)
    delay = 0.5
    stopping = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            fetching = asyncio.ensure_future(fetch(intake.offset(), 0 if intake.busy else 30))
            await asyncio.wait({fetching, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not fetching.done():
                fetching.cancel()
                with contextlib.suppress(asyncio.CancelledError, DeliveryError):
                    await fetching
                break
            try:
                updates = fetching.result()
            except RetryLater as exc:
                await asyncio.sleep(exc.seconds)
                continue
            except DeliveryError as exc:
                log.warning("action=poll failed (%s); retry in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            delay = 0.5
            fresh = sum(intake.take(u.update_id, translate(u)) for u in updates)
            if intake.busy:
                # The next poll brings the unconfirmed updates back: give them a moment to
                # be handled first (a report takes a few milliseconds), so a quiet bot makes
                # one poll per update, not two; updates arriving meanwhile wait at most that.
                await intake.progress(SETTLE if fresh else 0.2)
        await intake.drain(STOP_DRAIN)
        offset = intake.offset()
        if offset is not None:
            # Confirm what was handled, so a clean restart does not see it again.
            with contextlib.suppress(DeliveryError):
                await fetch(offset, 0)
    finally:
        stopping.cancel()
