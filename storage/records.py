"""Records the core works with: plain dataclasses, never database documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum


class State(StrEnum):
    NEW = "new"
    ACCEPTED = "accepted"
    FIXED = "fixed"
    CLOSED = "closed"
    DECLINED = "declined"
    REOPENED = "reopened"


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
    staff_message_id: int | None = None
    overdue_since: datetime | None = None
    timeline: list[Step] = field(default_factory=list)

    def deadline(self) -> datetime | None:
        """The time the next answer or fix is owed by, for a case still waiting on one."""
        if self.state in (State.NEW, State.REOPENED):
            # An escalation gives the higher level a new due time to answer by.
            if self.due is not None and self.due > self.answer_due:
                return self.due
            return self.answer_due
        if self.state is State.ACCEPTED:
            return self.due
        return None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


@dataclass(slots=True)
class Group:
    """A building group the bot sits in."""

    chat_id: int
    title: str
    name: str | None = None
    language: str | None = None
    heads: dict[int, str] = field(default_factory=dict)
    active: bool = True
    wall_message_id: int | None = None
    wall_digest: str | None = None
    pin_warned: bool = False

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
