"""What both adapters share: updates translated into the core's neutral events, start-up retries.

python-telegram-bot and aiogram model updates with the same field names as the Bot API, so one
function reads either; each adapter only decides how its framework delivers them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from handlers import events
from handlers.ports import RetryLater, Transient

log = logging.getLogger("echowall.updates")
T = TypeVar("T")


def _person(user: Any) -> events.Person | None:
    if user is None:
        return None
    return events.Person(
        id=user.id,
        name=user.full_name,
        username=user.username,
        language=user.language_code,
        is_bot=user.is_bot,
    )


def _chat(chat: Any) -> events.ChatRef:
    return events.ChatRef(chat.id, chat.type, chat.title or chat.full_name or None)


def _text(message: Any) -> str:
    return message.text or message.caption or ""


def _photo(message: Any) -> str | None:
    return message.photo[-1].file_id if message.photo else None


def translate(update: Any) -> events.Event | None:
    """Make a neutral event of an update, or None for what the core does not handle."""
    if update.my_chat_member is not None:
        member = update.my_chat_member
        joined = member.new_chat_member.status in ("member", "administrator", "creator") or (
            member.new_chat_member.status == "restricted"
            and getattr(member.new_chat_member, "is_member", False)
        )
        return events.Membership(
            update.update_id, _chat(member.chat), joined, _person(member.from_user)
        )
    if update.callback_query is not None:
        query = update.callback_query
        msg = query.message
        return events.Press(
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
        return events.Migration(
            update.update_id, message.chat.id, message.migrate_to_chat_id, message.chat.title
        )
    if message.migrate_from_chat_id or message.new_chat_members or message.left_chat_member:
        return None  # service messages; membership comes as my_chat_member
    quoted = None
    if message.reply_to_message is not None:
        reply = message.reply_to_message
        quoted = events.Quoted(
            reply.message_id, _person(reply.from_user), _text(reply), _photo(reply)
        )
    return events.Message(
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
