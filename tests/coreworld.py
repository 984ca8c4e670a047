"""The test neighbourhood of `tests/conftest.py`, driven through the core without a framework.

`CoreWorld` has the same chats and people as the end-to-end world (two building groups, the
staff chat, the escalation chat) and a `CheckedMessenger`: a recording messenger that checks
every outgoing call against Telegram's rules with the local Bot API's own checker
(`localapi.parse_html`), so a text Telegram would refuse is found without any server.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.i18n import Catalogs
from handlers.core import BotIdentity, Settings
from handlers.incoming import (
    ANONYMOUS_ADMIN_ID,
    ChatRef,
    Event,
    Location,
    Media,
    Message,
    Press,
    Quoted,
    User,
)
from handlers.ports import Keyboard
from localapi import (
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
    EntityParseError,
    parse_html,
    utf16_len,
)
from storage.documents import DocumentRepository
from storage.memory import MemoryRepository
from storage.records import Case, Group
from storage.tinydb_store import TinyRepository
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    ESCALATION,
    HEAD_WANG,
    HEAD_ZHAO,
    MS_CHEN,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
)
from tests.fakes import FakeClock, FakeMessenger, assemble

BOT = BotIdentity(123456, "echowall_bot")
STRANGER = 401  # someone who only ever writes to the bot privately
CHANNEL = -1007  # a channel linked to building 1's group
CHANNEL_BOT_ID = 136817688  # Telegram's account that speaks for channel posts in groups

PEOPLE = {
    AUNT_ZHANG: User(AUNT_ZHANG, "张阿姨", language="zh"),
    UNCLE_LI: User(UNCLE_LI, "李大爷", language="zh"),
    MS_CHEN: User(MS_CHEN, "陈女士", language="zh"),
    HEAD_WANG: User(HEAD_WANG, "王楼长", language="zh"),
    HEAD_ZHAO: User(HEAD_ZHAO, "赵楼长", language="zh"),
    WORKER_LIU: User(WORKER_LIU, "刘社工", language="zh"),
    STRANGER: User(STRANGER, "Stranger", username="stranger", language="en"),
}
ANONYMOUS = User(ANONYMOUS_ADMIN_ID, "Group", username="GroupAnonymousBot", is_bot=True)
CHANNEL_BOT = User(CHANNEL_BOT_ID, "Channel", username="Channel_Bot", is_bot=True)

CHATS = {
    B1: ChatRef(B1, "group", "林溪苑1号楼"),
    B2: ChatRef(B2, "group", "林溪苑2号楼"),
    STAFF: ChatRef(STAFF, "group", "社区工作群"),
    ESCALATION: ChatRef(ESCALATION, "group", "街道督办"),
    CHANNEL: ChatRef(CHANNEL, "channel", "林溪苑频道"),
}
# Telegram member statuses; anyone not listed has "left".
STATUSES = {
    (B1, AUNT_ZHANG): "member",
    (B1, UNCLE_LI): "member",
    (B1, HEAD_WANG): "administrator",
    (B1, HEAD_ZHAO): "member",  # lives in building 2, is in building 1's group too
    (B1, WORKER_LIU): "member",
    (B2, MS_CHEN): "member",
    (B2, HEAD_ZHAO): "administrator",
    (STAFF, WORKER_LIU): "administrator",
    (ESCALATION, WORKER_LIU): "member",
}


def private(user_id: int) -> ChatRef:
    return ChatRef(user_id, "private")


@dataclass
class CheckedMessenger(FakeMessenger):
    """Records every call like `FakeMessenger` and notes whatever Telegram would refuse."""

    violations: list[str] = field(default_factory=list)
    photo_messages: set[tuple[int, int]] = field(default_factory=set)

    def _check_text(self, where: str, text: str | None, limit: int, *, required: bool) -> None:
        if text is None:
            if required:
                self.violations.append(f"{where}: no text")
            return
        try:
            visible, _entities = parse_html(text)
        except EntityParseError as exc:
            self.violations.append(f"{where}: can't parse entities: {exc}: {text[:300]!r}")
            return
        if required and not visible.strip():
            self.violations.append(f"{where}: message text is empty")
        if utf16_len(visible) > limit:
            self.violations.append(f"{where}: {utf16_len(visible)} > {limit} characters")

    def _check_keyboard(self, where: str, keyboard: Keyboard | None) -> None:
        for row in keyboard or ():
            for button in row:
                size = len(button.data.encode("utf-8"))
                if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                    self.violations.append(f"{where}: callback data of {size} bytes")
                if not button.text.strip():
                    self.violations.append(f"{where}: empty button label")

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
        limit = MAX_CAPTION_LENGTH if photo else MAX_TEXT_LENGTH
        self._check_text(f"send to {chat_id}", text, limit, required=not photo)
        self._check_keyboard(f"send to {chat_id}", keyboard)
        message_id = await super().send(
            chat_id, text, reply_to=reply_to, keyboard=keyboard, photo=photo, on_call=on_call
        )
        if photo:
            self.photo_messages.add((chat_id, message_id))
        return message_id

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        attempts: int | None = None,
    ) -> None:
        photo = (chat_id, message_id) in self.photo_messages
        limit = MAX_CAPTION_LENGTH if photo else MAX_TEXT_LENGTH
        self._check_text(f"edit in {chat_id}", text, limit, required=not photo)
        self._check_keyboard(f"edit in {chat_id}", keyboard)
        await super().edit(chat_id, message_id, text, keyboard=keyboard)

    async def answer(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None:
        if any(a[0] == callback_id for a in self.answers):
            self.violations.append(f"press {callback_id} answered twice")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            self.violations.append(f"answer to {callback_id}: {len(text)} characters")
        await super().answer(callback_id, text, alert=alert)

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        self._check_text(f"document to {chat_id}", caption, MAX_CAPTION_LENGTH, required=False)
        return await super().send_document(chat_id, filename, data, caption=caption)

    async def send_picture(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        self._check_text(f"picture to {chat_id}", caption, MAX_CAPTION_LENGTH, required=False)
        return await super().send_picture(chat_id, filename, data, caption=caption)

    def outgoing(self) -> int:
        """How many things the bot has sent, edited or answered so far."""
        return len(self.sent) + len(self.edits) + len(self.answers) + len(self.documents)


class FailureLog(logging.Handler):
    """Collects the errors the core logs: a contained crash is logged with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def describe(self) -> list[str]:
        return [
            record.getMessage() + (f"\n{self.format(record)}" if record.exc_info else "")
            for record in self.records
        ]


class CoreWorld:
    """The neighbourhood in a fresh store, with the core ready to take events."""

    def __init__(self, store: Path | DocumentRepository, **settings: object) -> None:
        """`store`: a data directory (the durable store is opened there) or a repository.

        `Seeded` worlds hand in a `MemoryRepository`: the same repository code as on disk
        (tests/test_storage.py runs on both), without an fsync per write, which would make
        each of the fuzzers' inputs some fifty times slower. Durability is tested by
        test_storage and test_crash.
        """
        self.clock = FakeClock(datetime(2026, 11, 18, 2, 0, tzinfo=UTC))  # a Wednesday, 10:00
        self.messenger = CheckedMessenger()
        self.messenger.statuses.update(STATUSES)
        if isinstance(store, DocumentRepository):
            self.repo = store
        else:
            store.mkdir(parents=True, exist_ok=True)
            self.repo = TinyRepository(store)
        # The two building groups, admitted (a group first seen later waits for staff).
        for chat_id in (B1, B2):
            if self.repo.get_group(chat_id) is None:
                self.repo.save_group(Group(chat_id=chat_id, title=CHATS[chat_id].title or ""))
        values: dict[str, object] = dict(
            staff_chat=STAFF, escalation_chat=ESCALATION, timezone=ZoneInfo("Asia/Shanghai")
        )
        values.update(settings)
        self.settings = Settings(**values)  # type: ignore[arg-type]
        self.parts = assemble(
            self.repo, self.settings, self.clock, self.messenger, texts=CATALOGS.get, bot=BOT
        )
        self.svc = self.parts.svc
        self.router = self.parts.router
        # Announcements, event posts and reminders go out through the outbox, as in the bot.
        self.outbox = self.parts.outbox
        self.update_id = 0
        self.message_ids: dict[int, int] = {}
        self.failures = FailureLog()
        logging.getLogger("echowall").addHandler(self.failures)

    def close(self) -> None:
        logging.getLogger("echowall").removeHandler(self.failures)
        self.repo.close()

    def _next_update(self) -> int:
        self.update_id += 1
        return self.update_id

    def _next_message(self, chat_id: int) -> int:
        self.message_ids[chat_id] = self.message_ids.get(chat_id, 0) + 1
        return self.message_ids[chat_id]

    def message(
        self,
        chat: ChatRef,
        sender: User | None,
        text: str,
        *,
        reply_to: Quoted | None = None,
        sender_chat_id: int | None = None,
        photo: str | None = None,
        edited: bool = False,
        media_group_id: str | None = None,
        location: Location | None = None,
        media: Media | None = None,
    ) -> Message:
        return Message(
            self._next_update(),
            chat,
            self._next_message(chat.id),
            sender,
            text,
            self.clock(),
            photo=photo,
            reply_to=reply_to,
            sender_chat_id=sender_chat_id,
            edited=edited,
            media_group_id=media_group_id,
            location=location,
            media=media,
        )

    async def handle(self, event: Event) -> None:
        """The core takes the event; what it decided goes out (unpaced)."""
        await self.router.handle(event)
        await self.parts.deliver()

    async def say(self, chat_id: int, user_id: int, text: str, **kw: object) -> Message:
        """A person writes into a chat (a private chat when `chat_id` is their id)."""
        chat = CHATS.get(chat_id) or private(chat_id)
        message = self.message(chat, PEOPLE[user_id], text, **kw)  # type: ignore[arg-type]
        await self.router.handle(message)
        await self.parts.deliver()
        return message

    async def anonymous(self, chat_id: int, text: str) -> Message:
        """An anonymous administrator of the group writes into it."""
        message = self.message(CHATS[chat_id], ANONYMOUS, text, sender_chat_id=chat_id)
        await self.router.handle(message)
        await self.parts.deliver()
        return message

    def press_event(
        self, chat_id: int | None, user_id: int, data: str, message_id: int | None = 1
    ) -> Press:
        update = self._next_update()
        chat = None if chat_id is None else (CHATS.get(chat_id) or private(chat_id))
        return Press(update, f"q{update}", PEOPLE[user_id], data, chat, message_id)

    async def press(self, chat_id: int | None, user_id: int, data: str) -> Press:
        press = self.press_event(chat_id, user_id, data)
        await self.router.handle(press)
        await self.parts.deliver()
        return press

    def answer_to(self, press: Press) -> tuple[str | None, bool] | None:
        found = [
            (text, alert) for cid, text, alert in self.messenger.answers if cid == press.callback_id
        ]
        return found[-1] if found else None

    def replies_to(self, message: Message) -> list[str]:
        return [
            s.text
            for s in self.messenger.sent
            if s.chat_id == message.chat.id and s.reply_to == message.message_id
        ]


CATALOGS = Catalogs(ZoneInfo("Asia/Shanghai"))


class Seeded:
    """Fresh worlds that all start from the same seeded store, seeded only once.

    `async with seeded.world() as w:` copies the seeded store (`MemoryRepository.copy`) and
    opens a new core on it, with the message counters and the record of sent messages of the
    seeded world, so every input starts from the same state at the cost of a copy.
    """

    def __init__(self, seed: Callable[[CoreWorld], Awaitable[None]], **settings: object) -> None:
        self._seed = seed
        self._settings = settings
        self._template: MemoryRepository | None = None
        self._state: dict[str, Any] = {}

    async def _build(self) -> MemoryRepository:
        template = MemoryRepository()
        world = CoreWorld(template, **self._settings)
        try:
            await self._seed(world)
            self._state = {
                "update_id": world.update_id,
                "message_ids": dict(world.message_ids),
                "sent": list(world.messenger.sent),
                "next_id": world.messenger._next_id,
                "photos": set(world.messenger.photo_messages),
                "now": world.clock.now,
            }
        finally:
            world.close()
        return template

    @contextlib.asynccontextmanager
    async def world(self) -> AsyncIterator[CoreWorld]:
        if self._template is None:
            self._template = await self._build()
        world = CoreWorld(self._template.copy(), **self._settings)
        state = self._state
        world.update_id = state["update_id"]
        world.message_ids = dict(state["message_ids"])
        world.messenger.sent = list(state["sent"])
        world.messenger._next_id = state["next_id"]
        world.messenger.photo_messages = set(state["photos"])
        world.clock.now = state["now"]
        try:
            yield world
        finally:
            world.close()


# --- helpers the core tests share -------------------------------------------------------------


def shown(text: str) -> str:
    """A bot message's text as Telegram shows it (its HTML markup applied)."""
    return parse_html(text)[0]


def into(world: CoreWorld, chat_id: int) -> list[str]:
    """What the bot sent into a chat so far, as shown."""
    return [shown(s.text) for s in world.messenger.sent if s.chat_id == chat_id]


def case_of(world: CoreWorld, case_id: int) -> Case:
    """The stored case, which must exist."""
    found = world.repo.get_case(case_id)
    assert found is not None, f"no case #{case_id}"
    return found
