"""A bare bot of one framework as a process of its own: the baseline of `bench.startup`.

``python -m bench.bare_process ptb|aiogram API_URL TOKEN STAFF_CHAT``

It polls the Bot API at ``API_URL`` and answers every text message with the bare bots' two
sends (an HTML reply with a button in the chat, an HTML card with three buttons to the staff
chat; `ptb_on_message` / `aiogram_on_message`, which `bench.bots` uses too) until SIGTERM or
SIGINT, then stops cleanly and exits 0. The polling settings are echowall's (long polling with
a 30 s timeout, the same allowed updates and HTTP timeouts).

Why not run `bench.bots.BarePtbBot` / `BareAiogramBot` in the child: `bench.bots` imports both
frameworks and the test harness at module level, so a process running its PTB bot would also
carry aiogram (about 3.5 s and 130 MB here), and its numbers would say nothing about PTB. This
module imports only the framework asked for (inside the functions), and nothing of echowall's.
"""

from __future__ import annotations

import asyncio
import html
import signal
import sys
from collections.abc import Awaitable, Callable

# echowall's adapters ask for exactly these (bot/ptb_adapter.py, bot/aiogram_adapter.py); not
# imported from there, because that would load echowall's core into the baseline.
ALLOWED_UPDATES = ["message", "edited_message", "callback_query", "my_chat_member"]
POLL_TIMEOUT = 30
HTTP_TIMEOUT = 10.0


def texts(n: int, title: str | None, sender: str, text: str) -> tuple[str, str]:
    """The acknowledgement and the staff card of report number `n`: HTML shaped like echowall's,
    so the server does similar work."""
    problem = html.escape(text.partition(" ")[2] or text)
    ack = (
        f"Thank you, your report is logged as case #{n}.\n\n"
        f"🆕 <b>Case #{n}</b> · new\nProblem: {problem}"
    )
    card = (
        f"🆕 <b>Case #{n}</b> · new\nBuilding: {html.escape(title or '')}\n"
        f"Reported by: {html.escape(sender)}\nProblem: {problem}"
    )
    return ack, card


STAFF_BUTTONS = ("Accept", "Decline", "Escalate")


def ptb_on_message(staff: int) -> Callable[..., Awaitable[None]]:
    """The bare PTB bot's one handler: for every text message, a reply with a "me too" button
    in the chat, then a card with three buttons to the staff chat. No parsing, no storage."""
    from telegram import (
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        LinkPreviewOptions,
        ReplyParameters,
        Update,
    )
    from telegram.constants import ParseMode
    from telegram.ext import ContextTypes

    count = 0

    async def on_message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        nonlocal count
        message = update.effective_message
        if message is None or message.text is None:
            return
        count += 1
        sender = message.from_user.full_name if message.from_user else ""
        ack, card = texts(count, message.chat.title, sender, message.text)
        await context.bot.send_message(
            message.chat_id,
            ack,
            parse_mode=ParseMode.HTML,
            reply_parameters=ReplyParameters(message.message_id, allow_sending_without_reply=True),
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("👍 Me too (0)", callback_data=f"too:{count}")]]
            ),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        await context.bot.send_message(
            staff,
            card,
            parse_mode=ParseMode.HTML,
            reply_markup=InlineKeyboardMarkup(
                [
                    [
                        InlineKeyboardButton(label, callback_data=f"{label[:3].lower()}:{count}")
                        for label in STAFF_BUTTONS
                    ]
                ]
            ),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    return on_message


def aiogram_on_message(staff: int) -> Callable[..., Awaitable[None]]:
    """The bare aiogram bot's one handler: the same two sends as `ptb_on_message`."""
    from aiogram import Bot
    from aiogram.types import (
        InlineKeyboardButton,
        InlineKeyboardMarkup,
        LinkPreviewOptions,
        Message,
        ReplyParameters,
    )

    count = 0

    async def on_message(message: Message, bot: Bot) -> None:
        nonlocal count
        if message.text is None:
            return
        count += 1
        sender = message.from_user.full_name if message.from_user else ""
        ack, card = texts(count, message.chat.title, sender, message.text)
        await bot.send_message(
            message.chat.id,
            ack,
            parse_mode="HTML",
            reply_parameters=ReplyParameters(
                message_id=message.message_id, allow_sending_without_reply=True
            ),
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [InlineKeyboardButton(text="👍 Me too (0)", callback_data=f"too:{count}")]
                ]
            ),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )
        await bot.send_message(
            staff,
            card,
            parse_mode="HTML",
            reply_markup=InlineKeyboardMarkup(
                inline_keyboard=[
                    [
                        InlineKeyboardButton(
                            text=label, callback_data=f"{label[:3].lower()}:{count}"
                        )
                        for label in STAFF_BUTTONS
                    ]
                ]
            ),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
        )

    return on_message


async def serve_ptb(url: str, token: str, staff: int, stop: asyncio.Event) -> None:
    """PTB: an `Application` built as echowall builds it, with one `MessageHandler`."""
    from telegram.ext import Application, MessageHandler, filters

    app = (
        Application.builder()
        .token(token)
        .base_url(f"{url}/bot")
        .base_file_url(f"{url}/file/bot")
        .read_timeout(HTTP_TIMEOUT)
        .write_timeout(HTTP_TIMEOUT)
        .get_updates_read_timeout(40)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, ptb_on_message(staff)))
    async with app:
        assert app.updater is not None
        await app.start()
        await app.updater.start_polling(allowed_updates=ALLOWED_UPDATES, timeout=POLL_TIMEOUT)
        await stop.wait()
        await app.updater.stop()
        await app.stop()


async def serve_aiogram(url: str, token: str, staff: int, stop: asyncio.Event) -> None:
    """aiogram: a `Dispatcher` with one message handler, one update at a time."""
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    session = AiohttpSession(api=TelegramAPIServer.from_base(url), timeout=HTTP_TIMEOUT)
    bot = Bot(token, session=session)
    dispatcher = Dispatcher()
    dispatcher.message.register(aiogram_on_message(staff))
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot,
            polling_timeout=POLL_TIMEOUT,
            handle_as_tasks=False,  # one update at a time, as echowall's adapter
            allowed_updates=ALLOWED_UPDATES,
            handle_signals=False,
            close_bot_session=True,
        )
    )
    waiting = asyncio.create_task(stop.wait())
    await asyncio.wait({polling, waiting}, return_when=asyncio.FIRST_COMPLETED)
    if not polling.done():
        await dispatcher.stop_polling()
    waiting.cancel()
    await polling


SERVERS: dict[str, Callable[[str, str, int, asyncio.Event], Awaitable[None]]] = {
    "ptb": serve_ptb,
    "aiogram": serve_aiogram,
}


async def main(framework: str, url: str, token: str, staff: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await SERVERS[framework](url, token, staff, stop)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] not in SERVERS:
        sys.exit(f"usage: python -m bench.bare_process {'|'.join(SERVERS)} API_URL TOKEN STAFF")
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
