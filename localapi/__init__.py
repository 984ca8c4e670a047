"""A local, in-process stand-in for the Telegram Bot API server.

``LocalBotAPI`` is test infrastructure: an aiohttp server on 127.0.0.1 that the
real python-telegram-bot and aiogram stacks talk to over HTTP exactly as they
would talk to ``api.telegram.org`` (``<root>/bot<token>/<method>``).  Behind the
HTTP surface it keeps a small "world" of users, chats and messages that tests
and the terminal demo drive through a synchronous Python control API (or the
thin JSON control API under ``/_control/`` when the bot runs in another
process).

The server deliberately enforces the rules that make real Telegram reject a
request (HTML entity parsing, length limits in UTF-16 code units, button data
size, "message is not modified", missing reply targets, membership, pin rights,
flood limits, ...), answering with Telegram's own envelope and English error
descriptions, so a bot that passes here does not fail in production for those
reasons.  It also offers fault injection for reliability tests.

All world state lives on the event loop that runs the server; the control API
must be called from that loop's thread (tests do this naturally).

The modules, from the bottom up: ``errors`` (Telegram's error answers), ``model``
(chats, members and their JSON), ``html`` (the HTML dialect, UTF-16 lengths),
``rules`` (limits and validations), ``params`` (request parameters), ``records``
(what tests observe), ``files``, ``updates`` (the update queue and getUpdates),
``world`` (the world and its control API), ``limits`` (flood limits, fault
injection), ``methods`` and ``chats`` (the Bot API methods) and ``server`` (HTTP
and :class:`LocalBotAPI`).
"""

from localapi.errors import NOT_MODIFIED, TelegramError
from localapi.html import EntityParseError, parse_html, utf16_len
from localapi.limits import FaultKind, RateLimits
from localapi.records import ErrorRecord, SentRecord
from localapi.rules import (
    MAX_CALLBACK_ANSWER_LENGTH,
    MAX_CALLBACK_DATA_BYTES,
    MAX_CAPTION_LENGTH,
    MAX_TEXT_LENGTH,
)
from localapi.server import LocalBotAPI

__all__ = [
    "MAX_CALLBACK_ANSWER_LENGTH",
    "MAX_CALLBACK_DATA_BYTES",
    "MAX_CAPTION_LENGTH",
    "MAX_TEXT_LENGTH",
    "NOT_MODIFIED",
    "EntityParseError",
    "ErrorRecord",
    "FaultKind",
    "LocalBotAPI",
    "RateLimits",
    "SentRecord",
    "TelegramError",
    "parse_html",
    "utf16_len",
]
