"""The python-telegram-bot adapter: updates in as neutral events, Messenger calls out."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from telegram import (
    Bot,
    BotCommandScope,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatMember,
    BotCommandScopeDefault,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    ReplyParameters,
)
from telegram import BotCommand as PtbCommand
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import Application, ApplicationBuilder

from bot.runtime import Runtime
from bot.updates import Captions, keep_trying, poll
from handlers import ports

# Opt in to PTB's coming behaviour (durations as timedelta; read when used), which _mapped
# handles; without it every 429 logs a deprecation warning.
os.environ.setdefault("PTB_TIMEDELTA", "true")
log = logging.getLogger("echowall.ptb")
T = TypeVar("T")
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]


def _markup(keyboard: ports.Keyboard | None) -> InlineKeyboardMarkup | None:
    if keyboard is None:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.text, callback_data=b.data) for b in row] for row in keyboard]
    )


async def _mapped(call: Awaitable[T]) -> T:
    """Turn PTB's exceptions into the core's delivery errors."""
    try:
        return await call
    except RetryAfter as exc:
        value = exc.retry_after
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
        raise ports.RetryLater(seconds) from exc
    except ChatMigrated as exc:
        raise ports.ChatMigrated(exc.new_chat_id) from exc
    except Forbidden as exc:
        raise ports.ChatGone(exc.message) from exc
    except BadRequest as exc:
        if "not modified" in exc.message:
            raise ports.NotModified(exc.message) from exc
        raise ports.Rejected(exc.message) from exc
    except TimedOut as exc:
        raise ports.Uncertain(str(exc)) from exc
    except NetworkError as exc:
        # A refused connection never carried the request; any other transport failure may have
        # happened after Telegram got it. A server error (5xx) has no transport cause.
        cause = exc.__cause__
        if isinstance(cause, httpx.ConnectError) or not isinstance(cause, httpx.TransportError):
            raise ports.Transient(str(exc)) from exc
        raise ports.Uncertain(str(exc)) from exc
    except TelegramError as exc:
        raise ports.Transient(str(exc)) from exc


class PtbMessenger:
    """Messenger over a PTB `Bot`."""

    def __init__(self, bot: Bot) -> None:
        self._bot = bot
        self._captions = Captions()

    async def send(
        self,
        chat_id: int,
        text: str,
        *,
        reply_to: int | None = None,
        keyboard: ports.Keyboard | None = None,
        photo: str | None = None,
    ) -> int:
        reply = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        if photo:
            sent = await _mapped(
                self._bot.send_photo(
                    chat_id,
                    photo,
                    caption=text,
                    parse_mode=ParseMode.HTML,
                    reply_parameters=reply,
                    reply_markup=_markup(keyboard),
                )
            )
            self._captions.add(chat_id, sent.message_id)
        else:
            sent = await _mapped(
                self._bot.send_message(
                    chat_id,
                    text,
                    parse_mode=ParseMode.HTML,
                    reply_parameters=reply,
                    reply_markup=_markup(keyboard),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            )
        return sent.message_id

    async def edit(
        self, chat_id: int, message_id: int, text: str, *, keyboard: ports.Keyboard | None = None
    ) -> None:
        if (chat_id, message_id) in self._captions:
            await self._edit_caption(chat_id, message_id, text, keyboard)
            return
        try:
            await _mapped(
                self._bot.edit_message_text(
                    text,
                    chat_id,
                    message_id,
                    parse_mode=ParseMode.HTML,
                    reply_markup=_markup(keyboard),
                    link_preview_options=LinkPreviewOptions(is_disabled=True),
                )
            )
        except ports.Rejected as exc:
            if "no text in the message" not in str(exc):
                raise
            self._captions.add(chat_id, message_id)
            await self._edit_caption(chat_id, message_id, text, keyboard)

    async def _edit_caption(
        self, chat_id: int, message_id: int, text: str, keyboard: ports.Keyboard | None
    ) -> None:
        await _mapped(
            self._bot.edit_message_caption(
                chat_id,
                message_id,
                caption=text,
                parse_mode=ParseMode.HTML,
                reply_markup=_markup(keyboard),
            )
        )

    async def pin(self, chat_id: int, message_id: int) -> None:
        await _mapped(self._bot.pin_chat_message(chat_id, message_id, disable_notification=True))

    async def answer(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None:
        await _mapped(self._bot.answer_callback_query(callback_id, text, show_alert=alert))

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        sent = await _mapped(
            self._bot.send_document(
                chat_id, data, filename=filename, caption=caption, parse_mode=ParseMode.HTML
            )
        )
        return sent.message_id

    async def send_picture(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        sent = await _mapped(
            self._bot.send_photo(
                chat_id,
                InputFile(data, filename=filename),
                caption=caption,
                parse_mode=ParseMode.HTML,
            )
        )
        return sent.message_id

    async def member_status(self, chat_id: int, user_id: int) -> str | None:
        member = await _mapped(self._bot.get_chat_member(chat_id, user_id))
        return str(member.status)

    async def set_commands(
        self,
        commands: list[ports.BotCommand],
        *,
        language: str | None,
        scope: str,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        ptb_scope = _scope(scope, chat_id, user_id)
        if not commands:
            await _mapped(self._bot.delete_my_commands(scope=ptb_scope, language_code=language))
            return
        await _mapped(
            self._bot.set_my_commands(
                [PtbCommand(c.command, c.description) for c in commands],
                scope=ptb_scope,
                language_code=language,
            )
        )

    async def member_count(self, chat_id: int) -> int:
        return await _mapped(self._bot.get_chat_member_count(chat_id))

    async def leave(self, chat_id: int) -> None:
        await _mapped(self._bot.leave_chat(chat_id))


def _scope(scope: str, chat_id: int | None, user_id: int | None) -> BotCommandScope:
    if scope == "chat_member" and chat_id is not None and user_id is not None:
        return BotCommandScopeChatMember(chat_id, user_id)
    if scope == "chat" and chat_id is not None:
        return BotCommandScopeChat(chat_id)
    if scope == "chat_administrators":
        return BotCommandScopeAllChatAdministrators()
    if scope == "all_private_chats":
        return BotCommandScopeAllPrivateChats()
    if scope == "all_group_chats":
        return BotCommandScopeAllGroupChats()
    return BotCommandScopeDefault()


def build_application(token: str, api_url: str, timeout: float = 10.0) -> Application:  # type: ignore[type-arg]
    """A PTB Application pointed at the configured Bot API server."""
    builder: ApplicationBuilder = (  # type: ignore[type-arg]
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .read_timeout(timeout)
        .write_timeout(timeout)
        .get_updates_read_timeout(40)
    )
    return builder.build()


async def serve(
    runtime: Runtime, token: str, api_url: str, stop: asyncio.Event, *, timeout: float = 10.0
) -> None:
    """Poll for updates and feed them to the core until `stop` is set."""
    app = build_application(token, api_url, timeout)
    try:

        async def initialize() -> bool:
            await app.initialize()  # getMe
            return True

        if await keep_trying(lambda: _mapped(initialize()), stop, "getMe") is None:
            return  # stopped before Telegram answered
        bot = app.bot

        async def fetch(offset: int | None, timeout: int) -> tuple[Any, ...]:
            # PTB's Updater would confirm a batch as soon as it is queued, so a kill -9 with a
            # backlog would lose updates nobody answered: `poll` confirms them when handled.
            return await _mapped(
                bot.get_updates(offset=offset, timeout=timeout, allowed_updates=ALLOWED_UPDATES)
            )

        await runtime.start(
            PtbMessenger(bot),
            bot_id=bot.id,
            username=bot.username,
            reads_all=bot.bot.can_read_all_group_messages,
        )
        try:
            await poll(fetch, runtime.handle, stop)
        finally:
            await runtime.stop()
    finally:
        await app.shutdown()
