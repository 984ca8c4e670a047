"""Records the core works with: plain dataclasses, never database documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum


class State(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    FIXED = "fixed"
    CLOSED = "closed"
    DECLINED = "declined"
    REOPENED = "reopened"
    # One problem, one case: a duplicate merged into another case (`Case.merged_into`). It is
    # no longer open and is not counted in the figures; its reporter supports the other case.
    MERGED = "merged"


OPEN_STATES = frozenset({State.NEW, State.ACCEPTED, State.REOPENED, State.FIXED})


class CaseClass(StrEnum):
    EASY = "easy"
    KEY = "key"
    HARD = "hard"


class Level(StrEnum):
    BUILDING = "building"
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"

    def next(self) -> Level | None:
        order = list(Level)
        index = order.index(self)
        return order[index + 1] if index + 1 < len(order) else None


class Channel(StrEnum):
    GROUP = "group"
    PRIVATE = "private"
    FORUM = "forum"
    MAILBOX = "mailbox"
    VISIT = "visit"
    HOTLINE = "hotline"


class Rating(StrEnum):
    SATISFIED = "satisfied"
    BASIC = "basic"
    UNSATISFIED = "unsatisfied"


@dataclass(slots=True)
class Step:
    """One line of a case's timeline: who did what, when, with what note."""

    at: datetime
    action: str
    actor_id: int | None = None
    actor_name: str = ""
    note: str = ""
    # What the bot itself noted, as a code shown in each reader's language (a case class, a
    # rating, a reason such as `overdue`); `note` then holds its parameter, if any (a name).
    # Steps written before codes existed hold the bot's note already worded in `note`.
    code: str = ""


@dataclass(slots=True)
class Pin:
    """Where an outdoor problem is: a location or venue shared in Telegram."""

    latitude: float
    longitude: float
    title: str = ""  # a venue's name
    address: str = ""  # a venue's address


@dataclass(slots=True)
class Attachment:
    """A voice message or video that came with a report: its Telegram file_id (never
    downloaded) and kind (`voice`, `video`, `video_note`, `audio`)."""

    kind: str
    file_id: str


@dataclass(slots=True)
class Contact:
    """How staff reach a resident who made a demand offline (`/log`): for staff only, never
    shown in a group. Kept until the case is anonymised (`handlers.erasure`)."""

    name: str = ""
    flat: str = ""
    phone: str = ""


@dataclass(slots=True)
class Case:
    """A resident's demand, from report to rating."""

    id: int
    building_id: int
    channel: Channel
    text: str
    created: datetime
    answer_due: datetime
    reporter_id: int | None = None
    reporter_name: str = ""
    state: State = State.NEW
    photo: str | None = None
    entrance: str | None = None
    floor: str | None = None
    flat: str | None = None
    category: str | None = None
    klass: CaseClass | None = None
    level: Level = Level.BUILDING
    due: datetime | None = None
    answered_at: datetime | None = None
    fixed_at: datetime | None = None
    closed_at: datetime | None = None
    measure: str | None = None
    rating: Rating | None = None
    supporters: list[int] = field(default_factory=list)
    origin_chat_id: int | None = None
    origin_message_id: int | None = None
    card_message_id: int | None = None
    # Other cases acknowledged in the same message (reports that waited together).
    card_with: list[int] = field(default_factory=list)
    staff_message_id: int | None = None
    staff_with: list[int] = field(default_factory=list)
    overdue_since: datetime | None = None
    timeline: list[Step] = field(default_factory=list)
    # A declined case: where the resident was referred to (a referral's code).
    referral: str | None = None
    # The person responsible for the case: named with /assign, else whoever accepted it.
    assignee_id: int | None = None
    assignee_name: str = ""
    # A fixed case is to be checked (and closed) by this time; None for fixes made before
    # the check had a deadline.
    check_due: datetime | None = None
    # The deadline the reminder before it was sent for (a new deadline gets a new reminder).
    reminded_for: datetime | None = None
    # When the reporter was asked to rate the latest fix, and when asked once more.
    rating_asked: datetime | None = None
    rating_reminded: datetime | None = None
    # The reporter asked not to be named in groups (`/report anon`, the ack's button); a
    # private report or a neighbour's message logged by someone else is unnamed there anyway
    # (`handlers.privacy`).
    anonymous: bool = False
    # Shown in its building group: an offline demand (`/log`) only once staff post it there.
    published: bool = True
    # One problem, one case: the case this one was merged into (its state is then `merged`),
    # and the cases merged into this one (their reporters are its supporters and get its
    # echoes).
    merged_into: int | None = None
    merged: list[int] = field(default_factory=list)
    # The open case of the same building this one looked like when it was reported, while
    # the offer to support that one instead stands (None once merged or refused).
    similar_to: int | None = None
    # Evidence before and after: every photo of the report (an album's too, in order; `photo`
    # is the first), the album's media_group_id (its later photos join the case), a map pin, a
    # voice message or video, and the photo the fix was reported with.
    photos: list[str] = field(default_factory=list)
    album: str | None = None
    pin: Pin | None = None
    attachment: Attachment | None = None
    fix_photo: str | None = None
    # How many photos the report came with once their file_ids were erased with the reporter
    # (retention, /forgetme): the ledger still counts them.
    erased_photos: int = 0
    # A residents' forum opinion: the forum (event) and the occurrence it was given at, and
    # whether it was answered on the spot (当场答复).
    forum_id: int | None = None
    forum_at: datetime | None = None
    on_spot: bool = False

    @property
    def photo_count(self) -> int:
        """How many photos the report came with (cases stored before albums had one)."""
        return len(self.photos) or (1 if self.photo else 0) or self.erased_photos

    # An offline demand's resident (name, flat, phone), given with /log; staff only.
    contact: Contact | None = None
    # When the residents' names and contact details were removed (retention, `/forgetme`):
    # the anonymous record and its figures stay.
    anonymised: datetime | None = None

    def deadline(self) -> datetime | None:
        """The time the next answer, fix or check is owed by, for a case still waiting on one."""
        if self.state in (State.NEW, State.REOPENED):
            # An escalation gives the higher level a new due time to answer by.
            if self.due is not None and self.due > self.answer_due:
                return self.due
            return self.answer_due
        if self.state is State.ACCEPTED:
            return self.due
        if self.state is State.FIXED:
            return self.check_due
        return None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


class Admission(StrEnum):
    """Whether a group is one of the community's buildings: staff admit each new group.

    Groups stored before admission existed load as admitted: they were buildings already.
    """

    PENDING = "pending"  # waits for staff: the bot says one polite message, then nothing
    ADMITTED = "admitted"
    REFUSED = "refused"  # the bot left it
    RETIRED = "retired"  # was a building; staff retired it and the bot left


class Role(StrEnum):
    """What a group is to the community: a building, or a chat named with /setstaff or
    /setescalation (stored here, so a migration to a supergroup takes it along)."""

    BUILDING = "building"
    STAFF = "staff"
    ESCALATION = "escalation"


@dataclass(slots=True)
class Group:
    """A group the bot sits in: a building group, or the staff or escalation chat."""

    chat_id: int
    title: str
    name: str | None = None
    language: str | None = None
    heads: dict[int, str] = field(default_factory=dict)
    active: bool = True
    wall_message_id: int | None = None
    wall_digest: str | None = None
    pin_warned: bool = False
    admission: Admission = Admission.ADMITTED
    role: Role = Role.BUILDING
    # Who added the bot, the members counted for the staff's admission card, the card.
    added_by: str = ""
    members: int | None = None
    admission_message_id: int | None = None
    decided_by: str = ""
    # The configured staff or escalation chat whose supergroup this is (see `role`).
    replaces: int | None = None

    @property
    def label(self) -> str:
        return self.name or self.title


@dataclass(slots=True)
class Person:
    """What the bot remembers of a user: name, language, the buildings seen in."""

    id: int
    name: str
    language: str | None = None
    buildings: list[int] = field(default_factory=list)
    username: str | None = None
    # Whether the bot may write to them privately: True once they wrote to it there, False
    # once Telegram refused a message to them; None: not known (try).
    private: bool | None = None
    # An admin of the deployment, by the set-up link (ECHOWALL_ADMINS are admins anyway).
    admin: bool = False


@dataclass(slots=True)
class Draft:
    """A report made in a private chat that waits for the resident to pick a building."""

    id: int
    user_id: int
    text: str
    chat_id: int
    message_id: int
    created: datetime
    photo: str | None = None
    photos: list[str] = field(default_factory=list)
    album: str | None = None
    pin: Pin | None = None
    attachment: Attachment | None = None


class EventKind(StrEnum):
    """What an event is, from the tag in its title (#forum, #vaccination, ...)."""

    GENERAL = "general"
    FORUM = "forum"
    SEMINAR = "seminar"
    VACCINATION = "vaccination"
    CLINIC = "clinic"


@dataclass(slots=True)
class Attendee:
    """One sign-up for an event, and the chat it came from (where to tell them news)."""

    user_id: int
    name: str
    chat_id: int


@dataclass(slots=True)
class CalendarEvent:
    """A residents' forum, seminar, clinic or vaccination drive: one-off or weekly.

    A one-off event has `start`; a weekly one has `weekday` (0 = Monday) and `at` ("HH:MM",
    local time of the deployment). Reminders are minutes before each occurrence.
    """

    id: int
    title: str
    kind: EventKind
    groups: list[int]
    created: datetime
    created_by: int | None
    created_in: int
    start: datetime | None = None
    weekday: int | None = None
    at: str | None = None
    place: str | None = None
    notes: str = ""
    capacity: int | None = None
    reminders: list[int] = field(default_factory=list)
    going: list[Attendee] = field(default_factory=list)
    waitlist: list[Attendee] = field(default_factory=list)
    declined: list[int] = field(default_factory=list)
    cancelled: datetime | None = None
    # "chat:message" of the command that made it: a redelivered command makes no second one.
    origin: str | None = None
    # A forum's occurrences (UTC `YYYYMMDDHHMM`) whose tally went to the staff chat, the
    # message it is in, and those whose organiser was reminded of the minutes.
    tallied: list[str] = field(default_factory=list)
    tallies: dict[str, int] = field(default_factory=dict)
    minuted: list[str] = field(default_factory=list)

    @property
    def weekly(self) -> bool:
        return self.weekday is not None


@dataclass(slots=True)
class Reminder:
    """A plain reminder someone set with /remind for one chat."""

    id: int
    chat_id: int
    text: str
    due: datetime
    created: datetime
    created_by: int | None = None
    cancelled: datetime | None = None
    origin: str | None = None


class BroadcastKind(StrEnum):
    ANNOUNCE = "announce"
    EVENT = "event"
    REMINDER = "reminder"
    NOTE = "note"
    CANCEL = "cancel"


class BroadcastState(StrEnum):
    ACTIVE = "active"
    DONE = "done"
    SKIPPED = "skipped"


class DeliveryState(StrEnum):
    PENDING = "pending"  # tried and refused (429, 5xx) when the bot stopped: send again
    SENDING = "sending"  # written before the call: after a crash its fate is unknown
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"


@dataclass(slots=True)
class Broadcast:
    """One message for many chats, delivered by the outbox and recorded per recipient.

    `key` makes creation idempotent: a reminder slot or an event post is one broadcast, however
    often the scheduler or a restart asks for it.
    """

    id: int
    kind: BroadcastKind
    targets: list[int]
    created: datetime
    key: str | None = None
    payload: dict[str, str] = field(default_factory=dict)
    report_to: int | None = None
    not_before: datetime | None = None
    pin: bool = False
    state: BroadcastState = BroadcastState.ACTIVE
    done_at: datetime | None = None
    reported: bool = False


@dataclass(slots=True)
class Delivery:
    """What happened to one recipient of a broadcast."""

    id: int
    broadcast_id: int
    chat_id: int
    state: DeliveryState
    at: datetime
    message_id: int | None = None
    error: str | None = None


class Priority(IntEnum):
    """Which message goes first when a chat's budget is short (lower goes first)."""

    REPLY = 0  # the answer to what a person just typed or pressed
    ECHO = 1  # a case change told in its thread, notices to the staff chat
    POST = 2  # announcements, event posts and reminders (the outbox's broadcasts)
    REFRESH = 3  # an edit that only brings a view up to date: coalesced to the newest state


class OutKind(StrEnum):
    SEND = "send"  # a new message: text, or a photo with the text as caption
    EDIT = "edit"  # new text and keyboard for one of the bot's messages
    PIN = "pin"
    FILE = "file"  # a document made by its view when sent (the ledger)
    PICTURE = "picture"  # an image made by its view when sent (the weekly chart)


@dataclass(slots=True)
class Outgoing:
    """One message the core decided to send, committed with the change that decided it.

    The runtime delivers it later, in its chat's turn and by `priority`; then it is deleted.
    A `view` ("wall:-1001", "card:17") is rendered from the store when the message goes out,
    so it always shows the newest state and refreshes of one view fold into one. `bind`
    says what the id of the sent message is recorded as ("card:17": the case's card).
    `merge` names what pending messages of the same chat it may go out together with when
    the chat's budget is short ("ack", "staff", "text").
    """

    id: int
    chat_id: int
    kind: OutKind
    priority: Priority
    created: datetime
    text: str = ""
    # Rows of buttons, each [label, callback data].
    keyboard: list[list[list[str]]] | None = None
    reply_to: int | None = None
    photo: str | None = None
    message_id: int | None = None  # the message an edit or a pin is about
    view: str | None = None
    bind: str | None = None
    merge: str | None = None
    attempts: int = 0
