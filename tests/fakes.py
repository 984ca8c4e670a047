"""A recording Messenger and a settable clock for tests of the core without a framework."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.i18n import Catalogs
from handlers.core import BotIdentity, Services, Settings
from handlers.courier import Courier
from handlers.outbox import DirectLanes, Outbox
from handlers.ports import BotCommand, Keyboard
from handlers.postbox import Postbox
from handlers.router import Router, broadcast_renderers, delivery_tables
from handlers.texts import Translator
from storage.repository import Repository


@dataclass
class Sent:
    chat_id: int
    message_id: int
    text: str
    reply_to: int | None = None
    keyboard: Keyboard | None = None
    photo: str | None = None


@dataclass
class FakeMessenger:
    """Records every call; member statuses come from a dict."""

    sent: list[Sent] = field(default_factory=list)
    edits: list[tuple[int, int, str, Keyboard | None]] = field(default_factory=list)
    answers: list[tuple[str, str | None, bool]] = field(default_factory=list)
    documents: list[tuple[int, str, bytes]] = field(default_factory=list)
    # (chat id, file name, image bytes, caption) of every uploaded picture.
    pictures: list[tuple[int, str, bytes, str | None]] = field(default_factory=list)
    statuses: dict[tuple[int, int], str] = field(default_factory=dict)
    commands: list[tuple[str | None, str, list[BotCommand]]] = field(default_factory=list)
    pins: list[tuple[int, int]] = field(default_factory=list)
    # (scope, chat id, user id, language) -> the menu set there, as the last call left it.
    menus: dict[tuple[str, int | None, int | None, str | None], list[BotCommand]] = field(
        default_factory=dict
    )
    left: list[int] = field(default_factory=list)
    member_counts: dict[int, int] = field(default_factory=dict)
    _next_id: int = 1000

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
        if on_call is not None:
            on_call()
        self._next_id += 1
        self.sent.append(Sent(chat_id, self._next_id, text, reply_to, keyboard, photo))
        return self._next_id

    async def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        keyboard: Keyboard | None = None,
        attempts: int | None = None,
    ) -> None:
        self.edits.append((chat_id, message_id, text, keyboard))

    async def pin(self, chat_id: int, message_id: int) -> None:
        self.pins.append((chat_id, message_id))

    async def answer(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None:
        self.answers.append((callback_id, text, alert))

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        self.documents.append((chat_id, filename, data))
        self._next_id += 1
        return self._next_id

    async def send_picture(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        self.pictures.append((chat_id, filename, data, caption))
        self._next_id += 1
        return self._next_id

    async def member_status(self, chat_id: int, user_id: int) -> str | None:
        return self.statuses.get((chat_id, user_id), "left")

    async def set_commands(
        self,
        commands: list[BotCommand],
        *,
        language: str | None,
        scope: str,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        self.commands.append((language, scope, commands))
        key = (scope, chat_id, user_id, language)
        if commands:
            self.menus[key] = list(commands)
        else:
            self.menus.pop(key, None)

    async def member_count(self, chat_id: int) -> int:
        return self.member_counts.get(chat_id, 3)

    async def leave(self, chat_id: int) -> None:
        self.left.append(chat_id)

    def texts_in(self, chat_id: int) -> list[str]:
        return [s.text for s in self.sent if s.chat_id == chat_id]


@dataclass
class FakeClock:
    now: datetime = field(default_factory=lambda: datetime(2026, 11, 21, 2, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw: float) -> None:
        self.now += timedelta(**kw)


@dataclass
class ShiftedClock:
    """The wall clock moved by a settable amount: time passes, and tests may jump ahead."""

    shift: timedelta = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def advance(self, **kw: float) -> None:
        self.shift += timedelta(**kw)


@dataclass
class CoreParts:
    """The core as the runtime wires it, delivering through a recording messenger, unpaced."""

    svc: Services
    router: Router
    courier: Courier
    outbox: Outbox
    messenger: FakeMessenger

    async def deliver(self) -> None:
        """Send everything decided so far: the postbox, the broadcasts, their reports."""
        for _ in range(20):
            batches = await self.courier.deliver_all(self.messenger)
            posted = await self.outbox.pump()
            if not batches and not posted and not self.svc.repo.outgoing_chats():
                return
        raise AssertionError("delivery does not settle")


def assemble(
    repo: Repository,
    settings: Settings,
    clock: Callable[[], datetime],
    messenger: FakeMessenger,
    *,
    texts: Callable[[str | None], Translator] | None = None,
    bot: BotIdentity | None = None,
) -> CoreParts:
    """Build the core's parts as `bot.runtime.Runtime.start` does, minus pacing."""
    svc = Services(
        repo,
        settings,
        texts or Catalogs(settings.timezone).get,
        clock,
        bot or BotIdentity(99, "echowall_bot"),
        Postbox(repo, clock),
    )
    return CoreParts(
        svc,
        Router(svc, messenger),
        Courier(svc, delivery_tables()),
        Outbox(svc, DirectLanes(messenger), broadcast_renderers()),
        messenger,
    )
