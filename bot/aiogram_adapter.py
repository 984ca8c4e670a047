"""The aiogram 3 adapter: updates in as neutral events, Messenger calls out."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

import aiohttp
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeChatMember,
    BotCommandScopeDefault,
    BotCommandScopeUnion,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    ReplyParameters,
    Update,
)

from bot.runtime import Runtime
from bot.updates import Captions, keep_trying, poll
from handlers import ports

T = TypeVar("T")
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
HTML = "HTML"


def _markup(keyboard: ports.Keyboard | None) -> InlineKeyboardMarkup | None:
    if keyboard is None:
        return None
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=b.text, callback_data=b.data) for b in row]
            for row in keyboard
        ]
    )


async def _mapped(call: Awaitable[T]) -> T:
    """Turn aiogram's exceptions into the core's delivery errors."""
    try:
        return await call
    except TelegramRetryAfter as exc:
        raise ports.RetryLater(float(exc.retry_after)) from exc
    except TelegramMigrateToChat as exc:
        raise ports.ChatMigrated(exc.migrate_to_chat_id) from exc
    except TelegramForbiddenError as exc:
        raise ports.ChatGone(exc.message) from exc
    except TelegramBadRequest as exc:
        if "not modified" in exc.message:
            raise ports.NotModified(exc.message) from exc
        raise ports.Rejected(exc.message) from exc
    except TelegramServerError as exc:
        raise ports.Transient(str(exc)) from exc
    except TelegramNetworkError as exc:
        # A refused connection never carried the request; a timeout or a dropped connection
        # may have come after Telegram got it.
        if isinstance(exc.__cause__, aiohttp.ClientConnectorError):
            raise ports.Transient(str(exc)) from exc
        raise ports.Uncertain(str(exc)) from exc
    except TimeoutError as exc:
        raise ports.Uncertain(str(exc)) from exc
    except TelegramAPIError as exc:
        raise ports.Rejected(exc.message) from exc


class AiogramMessenger:
    """Messenger over an aiogram `Bot`."""

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
        reply = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to
            else None
        )
        if photo:
            sent = await _mapped(
                self._bot.send_photo(
                    chat_id,
                    photo,
                    caption=text,
                    parse_mode=HTML,
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
                    parse_mode=HTML,
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
                    text=text,
                    chat_id=chat_id,
                    message_id=message_id,
                    parse_mode=HTML,
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
                chat_id=chat_id,
                message_id=message_id,
                caption=text,
                parse_mode=HTML,
                reply_markup=_markup(keyboard),
            )
        )

    async def pin(self, chat_id: int, message_id: int) -> None:
        await _mapped(self._bot.pin_chat_message(chat_id, message_id, disable_notification=True))

    async def answer(
        self, callback_id: str, text: str | None = None, *, alert: bool = False
    ) -> None:
        await _mapped(self._bot.answer_callback_query(callback_id, text=text, show_alert=alert))

    async def send_document(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        sent = await _mapped(
            self._bot.send_document(
                chat_id, BufferedInputFile(data, filename), caption=caption, parse_mode=HTML
            )
        )
        return sent.message_id

    async def send_picture(
        self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
    ) -> int:
        sent = await _mapped(
            self._bot.send_photo(
                chat_id, BufferedInputFile(data, filename), caption=caption, parse_mode=HTML
            )
        )
        return sent.message_id

    async def member_status(self, chat_id: int, user_id: int) -> str | None:
        member = await _mapped(self._bot.get_chat_member(chat_id, user_id))
        return str(member.status.value if hasattr(member.status, "value") else member.status)

    async def set_commands(
        self,
        commands: list[ports.BotCommand],
        *,
        language: str | None,
        scope: str,
        chat_id: int | None = None,
        user_id: int | None = None,
    ) -> None:
        ag_scope = _scope(scope, chat_id, user_id)
        if not commands:
            await _mapped(self._bot.delete_my_commands(scope=ag_scope, language_code=language))
            return
        await _mapped(
            self._bot.set_my_commands(
                [BotCommand(command=c.command, description=c.description) for c in commands],
                scope=ag_scope,
                language_code=language,
            )
        )

    async def member_count(self, chat_id: int) -> int:
        return await _mapped(self._bot.get_chat_member_count(chat_id))

    async def leave(self, chat_id: int) -> None:
        await _mapped(self._bot.leave_chat(chat_id))


def _scope(scope: str, chat_id: int | None, user_id: int | None) -> BotCommandScopeUnion:
    if scope == "chat_member" and chat_id is not None and user_id is not None:
        return BotCommandScopeChatMember(chat_id=chat_id, user_id=user_id)
    if scope == "chat" and chat_id is not None:
        return BotCommandScopeChat(chat_id=chat_id)
    if scope == "chat_administrators":
        return BotCommandScopeAllChatAdministrators()
    if scope == "all_private_chats":
        return BotCommandScopeAllPrivateChats()
    if scope == "all_group_chats":
        return BotCommandScopeAllGroupChats()
    return BotCommandScopeDefault()


class _Session(AiohttpSession):
    """aiogram's aiohttp session, keeping the response models it builds alive.

    aiogram validates every answer with `Response[<the method's result type>]`, a generic
    pydantic model that pydantic caches only weakly: after a garbage collection the next call
    builds it again (about 4 ms, one call in a few). Holding each one once built removes that.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._responses: dict[Any, type] = {}

    def check_response(
        self, bot: Bot, method: TelegramMethod[T], status_code: int, content: str
    ) -> Response[T]:
        returning = method.__returning__
        if returning not in self._responses:
            self._responses[returning] = Response[returning]  # type: ignore[valid-type]
        return super().check_response(bot, method, status_code, content)


async def serve(
    runtime: Runtime, token: str, api_url: str, stop: asyncio.Event, *, timeout: float = 10.0
) -> None:
    """Poll for updates and feed them to the core until `stop` is set."""
    session = _Session(api=TelegramAPIServer.from_base(api_url), timeout=timeout)
    bot = Bot(token, session=session)

    async def fetch(offset: int | None, wait: int) -> list[Update]:
        # A long poll waits up to `wait` seconds for updates: the request may take that long
        # on top of the session's timeout. aiogram's own polling would confirm updates before
        # they are handled (or handle one at a time); `poll` does neither.
        return await _mapped(
            bot.get_updates(
                offset=offset,
                timeout=wait,
                allowed_updates=ALLOWED_UPDATES,
                request_timeout=int(timeout + wait),
            )
        )

    try:
        # bot.me() caches the answer.
        me = await keep_trying(lambda: _mapped(bot.me()), stop, "getMe")
        if me is None:
            return  # stopped before Telegram answered
        await runtime.start(
            AiogramMessenger(bot),
            bot_id=me.id,
            username=me.username or "",
            reads_all=me.can_read_all_group_messages,
        )
        try:
            await poll(fetch, runtime.handle, stop)
        finally:
            await runtime.stop()
    finally:
        await session.close()
