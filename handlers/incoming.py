"""Framework-neutral incoming events: what an adapter makes of a Telegram update."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, get_args

# Telegram's service account that speaks for anonymous group administrators.
ANONYMOUS_ADMIN_ID = 1087968824


@dataclass(frozen=True, slots=True)
class User:
    """A Telegram user as the core sees one."""

    id: int
    name: str
    username: str | None = None
    language: str | None = None
    is_bot: bool = False


ChatKind = Literal["private", "group", "supergroup", "channel"]
CHAT_KINDS: frozenset[str] = frozenset(get_args(ChatKind))


def chat_kind(value: str) -> ChatKind:
    """Telegram's `Chat.type` as a `ChatKind`; an unknown type (a future one) is refused."""
    if value not in CHAT_KINDS:
        raise ValueError(f"unknown chat type {value!r}")
    return value  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class ChatRef:
    """The chat an event happened in."""

    id: int
    kind: ChatKind
    title: str | None = None

    @property
    def is_group(self) -> bool:
        return self.kind in ("group", "supergroup")

    @property
    def is_private(self) -> bool:
        return self.kind == "private"


@dataclass(frozen=True, slots=True)
class Location:
    """A location or venue someone shared."""

    latitude: float
    longitude: float
    title: str = ""
    address: str = ""


@dataclass(frozen=True, slots=True)
class Media:
    """A voice message, video, round video or audio file: its kind and file_id."""

    kind: str
    file_id: str


@dataclass(frozen=True, slots=True)
class Quoted:
    """The message a message replies to."""

    message_id: int
    sender: User | None
    text: str
    photo: str | None = None
    location: Location | None = None
    media: Media | None = None


@dataclass(frozen=True, slots=True)
class Message:
    """A message (or a photo with caption) someone sent into a chat."""

    update_id: int
    chat: ChatRef
    message_id: int
    sender: User | None
    text: str
    date: datetime
    photo: str | None = None
    reply_to: Quoted | None = None
    sender_chat_id: int | None = None
    edited: bool = False
    # People named in the text by a mention Telegram resolved to them (a `text_mention`:
    # someone picked from the list who has no @username).
    mentions: tuple[User, ...] = ()
    # The album (media group) a photo belongs to: each photo is an update of its own.
    media_group_id: str | None = None
    location: Location | None = None
    media: Media | None = None

    @property
    def is_anonymous_admin(self) -> bool:
        """Say whether an anonymous administrator of this group sent it."""
        return self.sender_chat_id is not None and self.sender_chat_id == self.chat.id


@dataclass(frozen=True, slots=True)
class Press:
    """A press of one of the bot's inline buttons."""

    update_id: int
    callback_id: str
    sender: User
    data: str
    chat: ChatRef | None = None
    message_id: int | None = None


@dataclass(frozen=True, slots=True)
class Membership:
    """The bot itself was added to a chat or removed from it."""

    update_id: int
    chat: ChatRef
    joined: bool
    by: User | None = None


@dataclass(frozen=True, slots=True)
class Migration:
    """A group was upgraded to a supergroup and changed its chat id."""

    update_id: int
    old_chat_id: int
    new_chat_id: int
    title: str | None = None


Event = Message | Press | Membership | Migration
