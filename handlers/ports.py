"""The core's view of the outside world: the Messenger protocol and its failures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Button:
    """An inline button: a label and callback data made by `handlers.callbacks`."""

    text: str
    data: str


Keyboard = tuple[tuple[Button, ...], ...]


@dataclass(frozen=True, slots=True)
class BotCommand:
    """One entry of a command menu."""

    command: str
    description: str


class Messenger(Protocol):
    """Outbound Bot API calls, implemented once per framework. Texts are HTML."""

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        keyboard: Keyboard | None = None,
        photo: str | None = None,
    ) -> int:
        """Send a message (or a photo with `text` as caption) and return its message id."""
        ...

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, keyboard: Keyboard | None = None
    ) -> None:
        """Replace the text (or caption) and keyboard of one of the bot's messages."""
        ...

    async def pin(self, chat_id: int, message_id: int) -> None:
        """Pin a message silently."""
        ...

    async def answer(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None:
        """Answer a button press."""
        ...

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        """Send a file and return the message id."""
        ...

    async def send_picture(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        """Upload an image (PNG or JPEG) as a photo and return the message id."""
        ...

    async def member_status(self, chat_id: int, user_id: int) -> str | None:
        """Return Telegram's status of a user in a chat (creator, administrator, member, ...)."""
        ...

    async def set_commands(
        self,
        commands: list[BotCommand],
        *,
        language: str | None,
        scope: str,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        """Register a command menu (an empty one deletes it): scope is `default`,
        `all_private_chats`, `all_group_chats`, `chat_administrators` (of every group),
        `chat` (`chat_id`) or `chat_member` (`chat_id`, `user_id`)."""
        ...

    async def member_count(self, chat_id: int) -> int:
        """How many members a chat has."""
        ...

    async def leave(self, chat_id: int) -> None:
        """Leave a group."""
        ...


class DeliveryError(Exception):
    """A Bot API call failed."""


class RetryLater(DeliveryError):
    """Flood control: Telegram asks to wait `seconds` before the next call (429)."""

    def __init__(self, seconds: float) -> None:
        message = f"retry after {seconds}s"  # for logs only, never shown to people
        super().__init__(message)
        self.seconds = seconds


class ChatGone(DeliveryError):
    """The bot was removed from the chat or blocked by the user (403)."""


class ChatMigrated(DeliveryError):
    """The group became a supergroup with a new chat id."""

    def __init__(self, new_chat_id: int) -> None:
        message = f"migrated to {new_chat_id}"
        super().__init__(message)
        self.new_chat_id = new_chat_id


class Rejected(DeliveryError):
    """Telegram refused the request (400) for a reason that a retry will not change."""


class NotModified(Rejected):
    """An edit that would change nothing."""


class Transient(DeliveryError):
    """A server error, a timeout or a broken connection: the call may succeed later."""


class Uncertain(Transient):
    """The call may have been carried out: the answer was lost (a timeout, a dropped connection).

    A retry may send the same message twice; the caller decides whether that is acceptable.
    """
