"""Settings, services and the per-update context every handler receives."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers.categories import DEFAULTS, Categories
from handlers.deadlines import add_days
from handlers.evidence import AlbumBuffer
from handlers.flood import FloodGate
from handlers.incoming import ChatRef, Message, Press, User
from handlers.ports import Keyboard
from handlers.postbox import Postbox
from handlers.render import esc
from handlers.texts import Translator
from storage.records import Admission, CaseClass, Group, Priority, Role
from storage.repository import Repository

if TYPE_CHECKING:
    # The table of commands imports the handlers, which import this module.
    from handlers.commands import Command

log = logging.getLogger("echowall")


@dataclass(frozen=True)
class QuietHours:
    """Local hours when routine posts wait; `start` > `end` spans midnight (22:00-07:00)."""

    start: dt.time
    end: dt.time

    def contains(self, local: dt.time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end

    def release(self, now: datetime, tz: tzinfo) -> datetime | None:
        """When a routine post made at `now` may go out: None if right away."""
        local = now.astimezone(tz)
        if not self.contains(local.time()):
            return None
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=tz)


@dataclass(frozen=True)
class Settings:
    """The deployment's policy, validated by the runtime's config."""

    staff_chat: int | None = None
    escalation_chat: int | None = None
    admins: frozenset[int] = frozenset()
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    language: str = "zh"
    answer_hours: float = 24
    class_days: dict[CaseClass, float] = field(
        default_factory=lambda: {CaseClass.EASY: 1, CaseClass.KEY: 2, CaseClass.HARD: 7}
    )
    default_class: CaseClass = CaseClass.KEY
    max_text: int = 2000
    status_ttl: float = 60.0
    overdue_grace_hours: float = 24
    working_days: bool = False
    # Routine posts into groups (event posts from the staff chat, reminders a day or more
    # ahead) wait until the end of these hours; None: no quiet hours.
    quiet_hours: QuietHours | None = field(
        default_factory=lambda: QuietHours(dt.time(22, 0), dt.time(7, 0))
    )
    # Flood control: at most this many /report per person within the window (0: no limit).
    report_limit: int = 5
    report_window: timedelta = timedelta(minutes=10)
    # The payload of the set-up link (`echowall setup`): whoever opens it becomes an admin.
    # Derived from the token by the runtime, so it is as secret as the token.
    setup_code: str | None = None
    # Minutes before an event that reminders go out, unless the event says otherwise.
    event_reminders: tuple[int, ...] = (24 * 60, 60)
    # A reminder missed while the bot was down is sent late within this time, else skipped.
    reminder_grace: timedelta = timedelta(hours=2)
    # The categories of demands (accepted and not) and the referrals a decline names.
    categories: Categories = field(default_factory=lambda: DEFAULTS)
    # A fixed case is to be checked on site (and closed) within this many hours.
    check_hours: float = 48
    # The person responsible (or the staff chat) is reminded this long before a case's
    # deadline; None: no reminder before, only the overdue flag.
    remind_before: timedelta | None = timedelta(hours=2)
    # A reporter who has not rated a fix is asked once more this long after it; None: never.
    rating_reminder: timedelta | None = timedelta(hours=24)
    # Closed and declined cases lose their residents' names and contact details this many
    # months after closing (0: never); broadcasts and their delivery records are pruned this
    # long after they ended (`handlers.erasure`).
    retention_months: int = 24
    outbox_retention: timedelta = timedelta(days=90)

    def class_due(self, klass: CaseClass, start: datetime) -> datetime:
        """The due time of a case class, in calendar or working days as configured."""
        return add_days(start, self.class_days[klass], self.timezone, working=self.working_days)


@dataclass(frozen=True)
class BotIdentity:
    id: int
    username: str
    # Privacy mode, as getMe said at start: True when it is off (the bot reads every message
    # in groups where it is no administrator); None when not known.
    reads_all: bool | None = None

    def link(self, payload: str | None = None, *, group: bool = False) -> str:
        """A deep link to the bot: `?start=` opens a private chat with it, `?startgroup=`
        adds it to a group."""
        url = f"https://t.me/{self.username}"
        if payload is None:
            return url
        return f"{url}?{'startgroup' if group else 'start'}={payload}"


class NeedStatus(Exception):
    """A handler needs a member status the cache does not hold: look it up, then run again.

    Raised before the handler has changed anything (its transaction is undone anyway), so the
    update is simply handled again once the status is known; the lookup itself happens
    outside any transaction, and other chats' updates go on meanwhile.
    """

    def __init__(self, chat_id: int, user_id: int) -> None:
        super().__init__(f"status of {user_id} in {chat_id}")
        self.chat_id = chat_id
        self.user_id = user_id


class StatusCache:
    """Telegram member statuses, remembered briefly: admin checks are on every action.

    Lookups are synchronous (handlers never wait for the network): a status not held raises
    `NeedStatus`, and the core looks it up and runs the handler again.
    """

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._items: dict[tuple[int, int], tuple[float, str | None]] = {}

    def get(self, chat_id: int, user_id: int) -> str | None:
        hit = self._items.get((chat_id, user_id))
        if hit is None or hit[0] <= self._clock():
            raise NeedStatus(chat_id, user_id)
        return hit[1]

    def put(self, chat_id: int, user_id: int, status: str | None) -> None:
        self._items[(chat_id, user_id)] = (self._clock() + self._ttl, status)
        if len(self._items) > 50_000:  # forget what has expired
            now = self._clock()
            self._items = {k: v for k, v in self._items.items() if v[0] > now}

    def forget(self, chat_id: int | None = None) -> None:
        if chat_id is None:
            self._items.clear()
        else:
            self._items = {k: v for k, v in self._items.items() if k[0] != chat_id}


@dataclass
class Services:
    """Everything a handler may use; built once by the composition root."""

    repo: Repository
    settings: Settings
    texts: Callable[[str | None], Translator]
    clock: Callable[[], datetime]
    bot: BotIdentity
    post: Postbox
    # The runtime replans the reminder jobs when the calendar changed, and wakes the outbox
    # when a broadcast was queued (no-ops in core tests, which pump the outbox themselves).
    calendar_changed: Callable[[], None] = lambda: None
    broadcast_queued: Callable[[], None] = lambda: None
    # Someone's personal data was erased: the runtime folds the store's journal, so that the
    # erased versions no longer lie in its files.
    data_erased: Callable[[], None] = lambda: None
    statuses: StatusCache = field(init=False)
    report_gate: FloodGate = field(init=False)
    albums: AlbumBuffer = field(init=False)

    _roles: dict[Role, Group] | None = field(init=False, default=None)
    # Command menus to publish once the update's transaction is committed: (scope, chat id,
    # user id). Not messages, so not in the postbox: menus are published anew at every start.
    menu_changes: list[tuple[str, int | None, int | None]] = field(init=False, default_factory=list)

    def menus_changed(self, scope: tuple[str, int | None, int | None]) -> None:
        if scope not in self.menu_changes:
            self.menu_changes.append(scope)

    def __post_init__(self) -> None:
        self.albums = AlbumBuffer()
        self.statuses = StatusCache(self.settings.status_ttl)
        self.report_gate = FloodGate(self.settings.report_limit, self.settings.report_window)

    # --- the staff chat and the escalation chat -------------------------------------------
    #
    # Named in the configuration (ECHOWALL_STAFF_CHAT, ECHOWALL_ESCALATION_CHAT) or with
    # /setstaff and /setescalation (stored as the group's role). The configuration wins: it is
    # the operator's explicit word, which the bot cannot change, and existing deployments and
    # the tests rely on it; /setstaff then says so instead of being overruled in silence. A
    # chat upgraded to a supergroup stays what it was: its stored role moves with the group
    # (`handlers.admin.on_migration`), and a configured chat's new id is stored as replacing
    # the configured one, so the configuration does not go stale.

    def _stored_roles(self) -> dict[Role, Group]:
        if self._roles is None:
            found = {g.role: g for g in self.repo.groups(active_only=False)}
            self._roles = {r: g for r, g in found.items() if r is not Role.BUILDING}
        return self._roles

    def forget_roles(self) -> None:
        """A group's role changed (or a transaction that may have changed one was undone)."""
        self._roles = None

    def _chat_of(self, role: Role, configured: int | None) -> int | None:
        stored = self._stored_roles().get(role)
        if configured is None:
            return stored.chat_id if stored is not None else None
        if stored is not None and stored.replaces == configured:
            return stored.chat_id  # the configured chat, upgraded to a supergroup
        return configured

    @property
    def staff_chat(self) -> int | None:
        return self._chat_of(Role.STAFF, self.settings.staff_chat)

    @property
    def escalation_chat(self) -> int | None:
        return self._chat_of(Role.ESCALATION, self.settings.escalation_chat)

    def chat_language(self, chat_id: int) -> str:
        group = self.repo.get_group(chat_id)
        if group is not None and group.language:
            return group.language
        if chat_id > 0:
            person = self.repo.get_person(chat_id)
            if person is not None and person.language:
                return person.language
        return self.settings.language

    def texts_for(self, chat_id: int) -> Translator:
        return self.texts(self.chat_language(chat_id))

    def is_official(self, chat_id: int) -> bool:
        """The staff chat or the escalation chat."""
        return chat_id in (self.staff_chat, self.escalation_chat)

    def is_building(self, chat_id: int) -> bool:
        """A group staff admitted as a building (groups known before admission existed count
        as admitted), not the staff or escalation chat."""
        if self.is_official(chat_id):
            return False
        group = self.repo.get_group(chat_id)
        return group is None or group.admission is Admission.ADMITTED

    def buildings(self) -> list[Group]:
        """The active building groups (admitted; not the staff or escalation chat)."""
        official = (self.staff_chat, self.escalation_chat)
        return [
            g
            for g in self.repo.groups()
            if g.admission is Admission.ADMITTED and g.chat_id not in official
        ]


@dataclass(frozen=True)
class Answer:
    """The answer to a button press, made once the update's transaction is committed."""

    callback_id: str
    text: str | None
    alert: bool = False


@dataclass
class Context:
    """One update being handled: who, where, in which language, and how to answer."""

    svc: Services
    chat: ChatRef
    sender: User | None
    t: Translator
    message: Message | None = None
    press: Press | None = None
    args: str = ""
    group: Group | None = None
    answer: Answer | None = None
    # The command being handled (for a button, the command it stands for), as described in
    # `handlers.commands`: its usage and, for a case action, the states it applies to.
    command: Command | None = None

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    def usage(self, problem: str | None = None) -> None:
        """Answer a mistake in the command's arguments: what is wrong, then how it is written.

        `problem` is already translated and formatted (user text in it escaped).
        """
        lines = [problem] if problem else []
        if self.command is not None:
            usage = esc(self._(self.command.usage))
            lines.append(self._("Usage: {usage}").format(usage=usage))
        self.reply("\n".join(lines))

    @property
    def user_id(self) -> int | None:
        return self.sender.id if self.sender else None

    @property
    def in_staff_chat(self) -> bool:
        return self.chat.id == self.svc.staff_chat

    def reply(
        self,
        text: str,
        keyboard: Keyboard | None = None,
        *,
        priority: Priority = Priority.REPLY,
    ) -> None:
        """Answer in the chat of the update, as a reply to the message when there is one.

        Plain answers may go out merged with others when a group's budget is short.
        """
        reply_to = self.message.message_id if self.message else None
        self.svc.post.send(
            self.chat.id,
            text,
            priority=priority,
            reply_to=reply_to,
            keyboard=keyboard,
            merge=keyboard is None,
        )

    def toast(self, text: str, *, alert: bool = False) -> None:
        """Answer a button press with a short notice (the first answer counts)."""
        if self.press is not None and self.answer is None:
            self.answer = Answer(self.press.callback_id, text, alert)
