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
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import logging
import math
import mimetypes
import random
import re
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, NoReturn, cast

from aiohttp import web

__all__ = [
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

log = logging.getLogger(__name__)

JSON = dict[str, Any]
FaultKind = Literal["429", "500", "502", "timeout", "reset", "403", "migrate"]
ChatType = Literal["private", "group", "supergroup", "channel"]
BotStatus = Literal["member", "administrator", "left", "kicked"]
MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_CALLBACK_DATA_BYTES = 64

# Telegram's service accounts that appear as ``from`` of anonymous posts.
GROUP_ANONYMOUS_BOT: JSON = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
CHANNEL_BOT: JSON = {
    "id": 136817688,
    "is_bot": True,
    "first_name": "Channel",
    "username": "Channel_Bot",
}

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)

# Methods counted by the flood limiter: everything that makes Telegram write into a chat.
SEND_LIKE_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "editMessageText",
        "editMessageCaption",
        "editMessageReplyMarkup",
        "pinChatMessage",
    }
)

# Update types delivered when allowed_updates was never specified (Telegram's default).
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "callback_query",
        "my_chat_member",
        "inline_query",
        "chosen_inline_result",
        "shipping_query",
        "pre_checkout_query",
        "poll",
        "poll_answer",
        "chat_join_request",
    }
)

CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)

# Fields of InlineKeyboardButton that give the button its action; exactly one is required.
BUTTON_ACTION_FIELDS = (
    "callback_data",
    "url",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)

COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
USER_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")


# --------------------------------------------------------------------------------------
# Errors and records
# --------------------------------------------------------------------------------------


class TelegramError(Exception):
    """A non-ok Bot API answer: HTTP status == error_code, plus optional parameters."""

    def __init__(self, code: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def _bad_request(description: str, parameters: JSON | None = None) -> TelegramError:
    return TelegramError(400, f"Bad Request: {description}", parameters)


def _forbidden(description: str) -> TelegramError:
    return TelegramError(403, f"Forbidden: {description}")


def _too_many_requests(retry_after: int) -> TelegramError:
    return TelegramError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


@dataclass(frozen=True)
class RateLimits:
    """Flood limits: global sends per second and sends per group chat per (scaled) minute."""

    per_second_global: int = 30
    per_minute_per_group: int = 20
    # Shrinks the per-group 60 s window so tests can exercise it quickly.
    window_scale: float = 1.0


@dataclass
class SentRecord:
    """One successful message-affecting bot call, as observed by the server."""

    seq: int
    method: str
    chat_id: int
    message_id: int | None
    # Visible text after entity parsing (the caption for media); see raw_text for the input.
    text: str | None
    parse_mode: str | None
    reply_to_message_id: int | None
    reply_markup: JSON | None
    # The uploaded file: a document's, or a photo's when its bytes were uploaded (a photo sent
    # by file_id or URL has none), so tests can check what image arrived.
    document_name: str | None
    document_bytes: bytes | None
    photo: bool
    time: float
    raw_text: str | None = None
    entities: list[JSON] = field(default_factory=list)

    def to_json(self) -> JSON:
        """JSON-safe form for the control API: document bytes replaced by their size."""
        data = asdict(self)
        body = data.pop("document_bytes")
        data["document_size"] = None if body is None else len(body)
        return data


@dataclass
class ErrorRecord:
    """A non-ok answer the server gave."""

    method: str
    code: int
    description: str
    params: JSON


@dataclass
class _Fault:
    method: str | None  # lower-cased method name, None = any method
    kind: FaultKind
    times: int
    retry_after: int
    delay: float


@dataclass
class _Upload:
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class _Chat:
    id: int
    type: ChatType
    title: str | None
    username: str | None = None
    members: set[int] = field(default_factory=set)
    admins: set[int] = field(default_factory=set)
    creator: int | None = None
    # Explicit statuses (restricted / kicked / left) overriding the sets above.
    statuses: dict[int, MemberStatus] = field(default_factory=dict)
    bot_status: BotStatus = "member"
    bot_can_pin: bool = True
    messages: dict[int, JSON] = field(default_factory=dict)
    bot_message_ids: set[int] = field(default_factory=set)
    next_message_id: int = 1
    pinned: list[int] = field(default_factory=list)
    migrated_to: int | None = None


# --------------------------------------------------------------------------------------
# Text helpers: UTF-16 length and Telegram's HTML dialect
# --------------------------------------------------------------------------------------


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for limits and entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


class EntityParseError(ValueError):
    """Raised by :func:`parse_html`; carries Telegram's text after "can't parse entities: "."""


_HTML_SPACE = " \t\r\n\f\v"
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_SUPPORTED_TAGS = frozenset({*_SIMPLE_TAGS, "a", "code", "pre", "blockquote", "tg-emoji"})


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    utf16_offset: int
    text_index: int
    byte_offset: int


class _HtmlScanner:
    """Character-level scanner for Telegram's HTML subset.

    It follows the algorithm of Telegram's own parser (tags are matched against a
    stack, only a handful of tags/attributes exist, errors carry byte offsets)
    rather than a browser-style tokenizer: html.parser silently turns a stray
    ``<`` or a malformed tag into text, which is exactly what Telegram rejects.
    """

    def __init__(self, source: str, *, strict_ampersand: bool) -> None:
        self.src = source
        self.n = len(source)
        self.strict_ampersand = strict_ampersand
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSON] = []

    def fail(self, message: str) -> NoReturn:
        raise EntityParseError(message)

    def byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8", "surrogatepass"))

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.utf16 += utf16_len(text)

    def skip_spaces(self, i: int) -> int:
        while i < self.n and self.src[i] in _HTML_SPACE:
            i += 1
        return i

    def decode_ref(self, i: int) -> tuple[str, int] | None:
        """Decode the character reference starting at ``src[i] == '&'``; None if invalid."""
        src, n = self.src, self.n
        j = i + 1
        if j < n and src[j] == "#":
            j += 1
            is_hex = j < n and src[j] in "xX"
            if is_hex:
                j += 1
            start = j
            digits = "0123456789abcdefABCDEF" if is_hex else "0123456789"
            while j < n and src[j] in digits:
                j += 1
            # Telegram caps numeric references at 10 bytes, which also keeps int() cheap.
            if j == start or j - i >= 10:
                return None
            code = int(src[start:j], 16 if is_hex else 10)
            if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                return None
            char = chr(code)
        else:
            start = j
            while j < n and src[j].isascii() and src[j].isalpha():
                j += 1
            named = _NAMED_REFS.get(src[start:j])
            if named is None:
                return None
            char = named
        if j < n and src[j] == ";":
            j += 1
        return char, j

    def parse(self) -> tuple[str, list[JSON]]:
        i = 0
        while i < self.n:
            ch = self.src[i]
            if ch == "&":
                decoded = self.decode_ref(i)
                if decoded is not None:
                    self.emit(decoded[0])
                    i = decoded[1]
                    continue
                if self.strict_ampersand:
                    self.fail(
                        f'Character "&" at byte offset {self.byte_offset(i)} '
                        'must be escaped as "&amp;"'
                    )
                self.emit("&")
                i += 1
            elif ch == "<":
                if i + 1 < self.n and self.src[i + 1] == "/":
                    i = self.end_tag(i)
                else:
                    i = self.start_tag(i)
            else:
                # Emit the whole run of plain text at once.
                j = i + 1
                while j < self.n and self.src[j] not in "&<":
                    j += 1
                self.emit(self.src[i:j])
                i = j
        if self.stack:
            self.fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        for entity in self.entities:
            entity.pop("_language", None)
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def start_tag(self, begin: int) -> int:
        src, n = self.src, self.n
        at = self.byte_offset(begin)
        j = begin + 1
        while j < n and src[j] not in _HTML_SPACE and src[j] != ">":
            j += 1
        if j >= n:
            self.fail(f"Unclosed start tag at byte offset {at}")
        name = src[begin + 1 : j].lower()
        if name not in _SUPPORTED_TAGS:
            self.fail(f'Unsupported start tag "{name}" at byte offset {at}')
        attrs: dict[str, str] = {}
        while True:
            j = self.skip_spaces(j)
            if j >= n:
                self.fail(f"Unclosed start tag at byte offset {at}")
            if src[j] == ">":
                break
            attr_begin = j
            while j < n and src[j] not in _HTML_SPACE and src[j] not in "=>":
                j += 1
            attr_name = src[attr_begin:j].lower()
            if not attr_name:
                self.fail(f'Empty attribute name in the tag "{name}" at byte offset {at}')
            j = self.skip_spaces(j)
            value = ""
            if j < n and src[j] == "=":
                j = self.skip_spaces(j + 1)
                if j >= n:
                    self.fail(f'Unclosed start tag "{name}" at byte offset {at}')
                if src[j] in "'\"":
                    value, j = self.quoted_value(j)
                else:
                    token_begin = j
                    while j < n and (src[j].isalnum() or src[j] in ".-"):
                        j += 1
                    if j < n and src[j] not in _HTML_SPACE and src[j] != ">":
                        self.fail(
                            f"Unexpected end of name token at byte offset "
                            f"{self.byte_offset(token_begin)}"
                        )
                    value = src[token_begin:j].lower()
            # A bare attribute (``<blockquote expandable>``) keeps the empty value.
            attrs[attr_name] = value
        if name == "span" and attrs.get("class") != "tg-spoiler":
            self.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
        self.stack.append(_OpenTag(name, attrs, self.utf16, len(self.out), at))
        return j + 1

    def quoted_value(self, j: int) -> tuple[str, int]:
        quote = self.src[j]
        j += 1
        parts: list[str] = []
        while j < self.n and self.src[j] != quote:
            if self.src[j] == "&":
                decoded = self.decode_ref(j)
                if decoded is not None:
                    parts.append(decoded[0])
                    j = decoded[1]
                    continue
            # Unlike text, Telegram keeps an unknown '&' in attribute values (URLs) literally.
            parts.append(self.src[j])
            j += 1
        if j >= self.n:
            self.fail("Unclosed start tag at byte offset " + str(self.byte_offset(j)))
        return "".join(parts), j + 1

    def end_tag(self, begin: int) -> int:
        src, n = self.src, self.n
        at = self.byte_offset(begin)
        if not self.stack:
            self.fail(f"Unexpected end tag at byte offset {at}")
        j = begin + 2
        while j < n and src[j] not in _HTML_SPACE and src[j] != ">":
            j += 1
        end_name = src[begin + 2 : j].lower()
        j = self.skip_spaces(j)
        if j >= n or src[j] != ">":
            self.fail(f"Unclosed end tag at byte offset {at}")
        top = self.stack[-1]
        if end_name and end_name != top.name:
            self.fail(
                f'Unmatched end tag at byte offset {at}, expected "</{top.name}>", '
                f'found "</{end_name}>"'
            )
        self.stack.pop()
        self.close_entity(top)
        return j + 1

    def close_entity(self, tag: _OpenTag) -> None:
        length = self.utf16 - tag.utf16_offset
        if length <= 0:
            return  # Telegram drops empty entities
        base: JSON = {"offset": tag.utf16_offset, "length": length}
        name = tag.name
        if name in _SIMPLE_TAGS:
            self.entities.append({"type": _SIMPLE_TAGS[name], **base})
        elif name == "a":
            url = tag.attrs.get("href") or "".join(self.out[tag.text_index :])
            self.entities.append({"type": "text_link", **base, "url": url})
        elif name == "code":
            language = tag.attrs.get("class", "")
            entity: JSON = {"type": "code", **base}
            if language.startswith("language-") and len(language) > len("language-"):
                entity["_language"] = language[len("language-") :]
            self.entities.append(entity)
        elif name == "pre":
            pre: JSON = {"type": "pre", **base}
            last = self.entities[-1] if self.entities else None
            # <pre><code class="language-x">…</code></pre> is one pre entity with a language.
            if (
                last is not None
                and last["type"] == "code"
                and last["offset"] == base["offset"]
                and last["length"] == length
            ):
                self.entities.pop()
                if "_language" in last:
                    pre["language"] = last["_language"]
            self.entities.append(pre)
        elif name == "blockquote":
            kind = "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"
            self.entities.append({"type": kind, **base})
        elif name == "tg-emoji":
            emoji_id = tag.attrs.get("emoji-id", "")
            if not emoji_id.isdigit() or int(emoji_id) == 0:
                self.fail("Invalid custom emoji identifier specified")
            self.entities.append({"type": "custom_emoji", **base, "custom_emoji_id": emoji_id})


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[JSON]]:
    """Parse Telegram-flavoured HTML into (visible text, MessageEntity dicts).

    Offsets/lengths are in UTF-16 code units.  Raises :class:`EntityParseError`
    with Telegram's description.  ``strict_ampersand`` rejects an ``&`` that does
    not start ``&lt; &gt; &amp; &quot;`` or a numeric reference; real Telegram
    keeps such an ``&`` literally, the strict default catches missing escaping.
    """
    return _HtmlScanner(text, strict_ampersand=strict_ampersand).parse()


# --------------------------------------------------------------------------------------
# Request parameters
# --------------------------------------------------------------------------------------


class _Params:
    """Parameters of one Bot API call, whatever transport encoding they arrived in."""

    def __init__(self, values: dict[str, Any], files: dict[str, _Upload]) -> None:
        self.values = values
        self.files = files

    def for_record(self) -> JSON:
        data = dict(self.values)
        for name, upload in self.files.items():
            data[name] = f"<file {upload.filename!r}, {len(upload.data)} bytes>"
        return data

    def get(self, name: str) -> Any:
        value = self.values.get(name)
        return None if value is None or value == "" else value

    def get_str(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else str(value)

    def get_int(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            raise _bad_request(f"invalid {name} specified")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise _bad_request(f"invalid {name} specified") from None

    def get_float(self, name: str) -> float | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            return float(value)
        except (TypeError, ValueError):
            raise _bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str) -> bool:
        value = self.get(name)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        return str(value).strip().lower() in ("true", "1")

    def get_json(self, name: str, error: str) -> Any:
        """A complex field: JSON-encoded string in form posts, a real object in JSON posts."""
        value = self.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad_request(error) from None
        return value

    def get_file(self, name: str) -> _Upload | str | None:
        """An uploaded file (part named ``name`` or ``attach://x``) or a file_id/URL string."""
        if name in self.files:
            return self.files[name]
        value = self.get_str(name)
        if value is not None and value.startswith("attach://"):
            return self.files.get(value[len("attach://") :])
        return value


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _as_int(value: object) -> int | None:
    """An integer from a JSON or form value; None for a bool, a non-number or nothing."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return int(value)
    except (ValueError, OverflowError):  # "abc", NaN, Infinity
        return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _strip_reply(message: JSON) -> JSON:
    """A copy for nesting as reply_to_message: Telegram never nests replies twice."""
    nested = copy.deepcopy(message)
    nested.pop("reply_to_message", None)
    return nested


def _command_entities(text: str) -> list[JSON]:
    match = USER_COMMAND_RE.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


# --------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------

_Handler = Callable[[_Params, web.Request], Awaitable[Any]]


class LocalBotAPI:
    """Local Telegram Bot API server with a controllable world; see the module docstring."""

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_id: int = 123456,
        bot_username: str = "echowall_bot",
        bot_name: str = "echowall",
        host: str = "127.0.0.1",
        port: int = 0,
        limits: RateLimits | None = None,
    ) -> None:
        self.token = token
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_name = bot_name
        self.host = host
        self.port = port
        self.limits = limits
        # Real Telegram keeps an unescaped '&' literally; strict mode flags it (see parse_html).
        self.strict_ampersand = True

        self.users: dict[int, JSON] = {}
        self.chats: dict[int, _Chat] = {}

        self.sent: list[SentRecord] = []
        self.errors: list[ErrorRecord] = []
        self.calls: list[tuple[str, float]] = []
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.callback_answers: dict[str, JSON] = {}
        self.descriptions: dict[tuple[str, str], str] = {}
        self.violations = 0
        # (method, kind) of every injected fault that fired, including connection resets.
        self.injected: list[tuple[str, str]] = []
        # Unexpected exceptions inside handlers (a bug here, not in the bot).
        self.internal_errors: list[BaseException] = []

        self._updates: list[JSON] = []
        self._next_update_id = 1
        self._delivered_upto = 0
        self._allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._poll_generation = 0
        self._queries: dict[str, bool] = {}  # callback query id -> answered
        self._query_ids = itertools.count(4_000_000_000_000_000_001)
        self._file_ids = itertools.count(1)
        self._files: dict[str, JSON] = {}

        self._faults: list[_Fault] = []
        self._random_share = 0.0
        self._random_kinds: tuple[FaultKind, ...] = ()
        self._random_methods: frozenset[str] | None = None
        self._random_delay = 1.0
        self._rng = random.Random(0)

        self._global_hits: deque[float] = deque()
        self._group_hits: dict[int, deque[float]] = {}
        self._blocked_until: dict[str | int, float] = {}

        self._inflight = 0
        self._last_activity = time.monotonic()
        # Replaced on every change; waiters hold the old one, which gets set (no lost wake-ups).
        self._changed = asyncio.Event()
        self._closing = False

        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None
        self._methods: dict[str, tuple[str, _Handler]] = {
            name.lower(): (name, handler) for name, handler in self._method_table().items()
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start listening; ``url`` is valid afterwards."""
        if self._runner is not None:
            return
        self._closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot_request)
        app.router.add_route("*", "/_control/{name}", self._handle_control)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        # A short shutdown timeout: pending long polls are woken on stop() anyway.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self._bound_port = int(address[1])

    async def stop(self) -> None:
        """Stop the server, answering pending long polls with an empty result first."""
        self._closing = True
        self._notify()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._bound_port = None

    async def __aenter__(self) -> LocalBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Root URL such as ``http://127.0.0.1:41234`` (PTB: ``base_url=url + '/bot'``)."""
        if self._bound_port is None:
            raise RuntimeError("LocalBotAPI is not started")
        return f"http://{self.host}:{self._bound_port}"

    @property
    def bot_user(self) -> JSON:
        """The bot as a Telegram User object."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

    @property
    def last_seq(self) -> int:
        """Sequence number of the newest SentRecord (0 when nothing was sent)."""
        return self.sent[-1].seq if self.sent else 0

    # ------------------------------------------------------------------ world: users & chats

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = None,
        is_bot: bool = False,
    ) -> JSON:
        """Create (or replace) a user; returns the User object."""
        user: JSON = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self.users[user_id] = user
        return dict(user)

    def add_chat(
        self,
        chat_id: int,
        type: ChatType,
        *,
        title: str | None = None,
        members: Iterable[int] = (),
        admins: Iterable[int] = (),
        creator: int | None = None,
        bot_status: BotStatus = "member",
        bot_can_pin: bool = True,
        username: str | None = None,
    ) -> JSON:
        """Create a chat; returns the Chat object.

        For a private chat ``chat_id`` is the user's id and the bot counts as
        started there (``bot_status="left"`` = never started, ``"kicked"`` = blocked).
        """
        if type not in ("private", "group", "supergroup", "channel"):
            raise ValueError(f"unknown chat type {type!r}")
        chat = _Chat(
            id=chat_id,
            type=type,
            title=title,
            username=username,
            bot_status=bot_status,
            bot_can_pin=bot_can_pin,
        )
        if type == "private":
            self._require_user(chat_id)
            chat.members = {chat_id}
        else:
            if title is None:
                chat.title = f"Chat {chat_id}"
            chat.members = {self._require_user(u) for u in members}
            chat.admins = {self._require_user(u) for u in admins}
            if creator is not None:
                chat.creator = self._require_user(creator)
            chat.members |= chat.admins | ({creator} if creator is not None else set())
        self.chats[chat_id] = chat
        self._notify()
        return self._chat_json(chat)

    def set_admin(self, chat_id: int, user_id: int, is_admin: bool = True) -> None:
        """Promote or demote a user (the bot's own id switches the bot's status)."""
        chat = self._require_chat(chat_id)
        if user_id == self.bot_id:
            chat.bot_status = "administrator" if is_admin else "member"
            return
        self._require_user(user_id)
        chat.members.add(user_id)
        chat.statuses.pop(user_id, None)
        if is_admin:
            chat.admins.add(user_id)
        else:
            chat.admins.discard(user_id)

    def set_member_status(self, chat_id: int, user_id: int, status: MemberStatus) -> None:
        """Force a user's status in a chat (e.g. ``restricted`` or ``kicked``)."""
        chat = self._require_chat(chat_id)
        self._require_user(user_id)
        chat.statuses.pop(user_id, None)
        chat.admins.discard(user_id)
        if status == "creator":
            chat.creator = user_id
            chat.members.add(user_id)
        elif status == "administrator":
            chat.admins.add(user_id)
            chat.members.add(user_id)
        elif status == "member":
            chat.members.add(user_id)
        else:
            chat.members.discard(user_id)
            chat.statuses[user_id] = status

    def set_bot_can_pin(self, chat_id: int, can_pin: bool) -> None:
        """Grant or revoke the bot's right to pin messages in a chat."""
        self._require_chat(chat_id).bot_can_pin = can_pin

    # ------------------------------------------------------------------ world: user activity

    def user_message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        reply_to: int | None = None,
        photo: bool = False,
        caption: str | None = None,
        sender_chat_id: int | None = None,
        message_thread_id: int | None = None,
    ) -> JSON:
        """A user posts a message: stores it, queues a ``message`` update, returns it.

        Writing to the bot in a private chat that does not exist yet creates it
        (the user started the bot).
        """
        chat = self.chats.get(chat_id)
        if chat is None and chat_id == user_id:
            self.add_chat(chat_id, "private")
            chat = self.chats[chat_id]
        if chat is None:
            raise KeyError(f"unknown chat {chat_id}; call add_chat first")
        if chat.type == "private" and chat.bot_status != "member":
            chat.bot_status = "member"  # the user (re)started the bot
        if text is None and not photo:
            raise ValueError("a user message needs text or photo=True")

        msg = self._message_base(chat)
        if chat.type == "channel":
            msg["sender_chat"] = self._chat_json(chat)
        elif sender_chat_id is not None:
            sender = self._require_chat(sender_chat_id)
            msg["from"] = dict(GROUP_ANONYMOUS_BOT if sender_chat_id == chat_id else CHANNEL_BOT)
            msg["sender_chat"] = self._chat_json(sender)
        else:
            msg["from"] = dict(self._require_user_json(user_id))
        if message_thread_id is not None:
            msg["message_thread_id"] = message_thread_id
        if reply_to is not None:
            target = chat.messages.get(reply_to)
            if target is None:
                raise KeyError(f"message {reply_to} not found in chat {chat_id}")
            msg["reply_to_message"] = _strip_reply(target)
        if photo:
            msg["photo"] = self._photo_sizes(b"")
            if caption:
                msg["caption"] = caption
                entities = _command_entities(caption)
                if entities:
                    msg["caption_entities"] = entities
        else:
            assert text is not None
            msg["text"] = text
            entities = _command_entities(text)
            if entities:
                msg["entities"] = entities
        self._store(chat, msg)
        self._queue_for_chat(chat, "channel_post" if chat.type == "channel" else "message", msg)
        return copy.deepcopy(msg)

    def deliver_again(self, message: JSON) -> None:
        """Queue a message update once more under a new update_id (a duplicate delivery)."""
        self._queue_update("message", message)

    def edit_user_message(self, chat_id: int, message_id: int, text: str) -> JSON:
        """A user edits a text message: queues ``edited_message``, returns the new state."""
        chat = self._require_chat(chat_id)
        msg = chat.messages.get(message_id)
        if msg is None or message_id in chat.bot_message_ids:
            raise KeyError(f"no user message {message_id} in chat {chat_id}")
        msg["text"] = text
        msg.pop("entities", None)
        entities = _command_entities(text)
        if entities:
            msg["entities"] = entities
        msg["edit_date"] = int(time.time())
        kind = "edited_channel_post" if chat.type == "channel" else "edited_message"
        self._queue_for_chat(chat, kind, msg)
        return copy.deepcopy(msg)

    def service_message(self, chat_id: int, user_id: int, **fields: Any) -> JSON:
        """Queue an arbitrary service message (``new_chat_members=[ids]``, ``new_chat_title``…).

        User ids in ``new_chat_members`` / ``left_chat_member`` become User objects
        and update the chat's member list.
        """
        chat = self._require_chat(chat_id)
        msg = self._message_base(chat)
        msg["from"] = dict(self._require_user_json(user_id))
        for key, value in fields.items():
            if key == "new_chat_members":
                users = [self._user_ref(v) for v in value]
                for user in users:
                    if user["id"] != self.bot_id:
                        chat.members.add(user["id"])
                        chat.statuses.pop(user["id"], None)
                msg[key] = users
            elif key == "left_chat_member":
                user = self._user_ref(value)
                chat.members.discard(user["id"])
                chat.admins.discard(user["id"])
                msg[key] = user
            else:
                msg[key] = copy.deepcopy(value)
        self._store(chat, msg)
        self._queue_for_chat(chat, "message", msg)
        return copy.deepcopy(msg)

    def press(self, chat_id: int, message_id: int, user_id: int, data: str) -> str:
        """A user presses an inline button; queues ``callback_query`` and returns its id."""
        chat = self._require_chat(chat_id)
        msg = chat.messages.get(message_id)
        if msg is None:
            raise KeyError(f"message {message_id} not found in chat {chat_id}")
        query_id = str(next(self._query_ids))
        self._queries[query_id] = False
        query = {
            "id": query_id,
            "from": dict(self._require_user_json(user_id)),
            "message": copy.deepcopy(msg),
            "chat_instance": str(-(abs(chat_id) * 7919 + 104729)),
            "data": data,
        }
        self._queue_update("callback_query", query)
        return query_id

    def add_bot_to_chat(self, chat_id: int, by_user_id: int, *, as_admin: bool = False) -> None:
        """Someone adds the bot: queues ``my_chat_member`` and, in groups, a join message."""
        chat = self._require_chat(chat_id)
        if chat.type == "private":
            raise ValueError("use user_message to start a private chat")
        actor = self._require_user_json(by_user_id)
        old = chat.bot_status
        new: BotStatus = "administrator" if as_admin else "member"
        chat.bot_status = new
        self._queue_my_chat_member(chat, actor, old, new)
        if chat.type != "channel":
            msg = self._message_base(chat)
            msg["from"] = dict(actor)
            msg["new_chat_members"] = [self.bot_user]
            self._store(chat, msg)
            self._queue_update("message", msg)

    def remove_bot_from_chat(self, chat_id: int, by_user_id: int) -> None:
        """Someone kicks the bot: queues ``my_chat_member`` (→ kicked); sends get 403 afterwards."""
        chat = self._require_chat(chat_id)
        actor = self._require_user_json(by_user_id)
        old = chat.bot_status
        chat.bot_status = "kicked"
        self._queue_my_chat_member(chat, actor, old, "kicked")

    def migrate_to_supergroup(self, chat_id: int, new_chat_id: int) -> JSON:
        """Upgrade a group: queues both migration service messages, returns the new chat."""
        old = self._require_chat(chat_id)
        if old.type != "group":
            raise ValueError(f"chat {chat_id} is a {old.type}, only groups migrate")
        if new_chat_id in self.chats:
            raise ValueError(f"chat {new_chat_id} already exists")
        new = _Chat(
            id=new_chat_id,
            type="supergroup",
            title=old.title,
            username=old.username,
            members=set(old.members),
            admins=set(old.admins),
            creator=old.creator,
            statuses=dict(old.statuses),
            bot_status=old.bot_status,
            bot_can_pin=old.bot_can_pin,
        )
        self.chats[new_chat_id] = new
        actor_id = old.creator or next(iter(sorted(old.admins | old.members)), None)
        goodbye = self._message_base(old)
        goodbye["from"] = (
            dict(self.users[actor_id]) if actor_id is not None else dict(GROUP_ANONYMOUS_BOT)
        )
        goodbye["migrate_to_chat_id"] = new_chat_id
        self._store(old, goodbye)
        self._queue_for_chat(old, "message", goodbye)
        old.migrated_to = new_chat_id
        hello = self._message_base(new)
        hello["from"] = dict(GROUP_ANONYMOUS_BOT)
        hello["sender_chat"] = self._chat_json(new)
        hello["migrate_from_chat_id"] = chat_id
        self._store(new, hello)
        self._queue_for_chat(new, "message", hello)
        return self._chat_json(new)

    # ------------------------------------------------------------------ observation

    def messages(self, chat_id: int) -> list[JSON]:
        """Current messages of a chat (after edits/deletes), oldest first."""
        chat = self._require_chat(chat_id)
        return [copy.deepcopy(chat.messages[k]) for k in sorted(chat.messages)]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """Current state of one message, or None if absent/deleted."""
        chat = self.chats.get(chat_id)
        if chat is None or message_id not in chat.messages:
            return None
        return copy.deepcopy(chat.messages[message_id])

    def pinned(self, chat_id: int) -> int | None:
        """Id of the most recently pinned message still pinned, or None."""
        chat = self._require_chat(chat_id)
        return chat.pinned[-1] if chat.pinned else None

    def pending_updates(self) -> list[JSON]:
        """Queued updates not yet confirmed by the bot (delivered or not)."""
        return copy.deepcopy(self._updates)

    async def wait_for(
        self,
        predicate: Callable[[SentRecord], bool],
        *,
        timeout: float = 5.0,
        after_seq: int = 0,
    ) -> SentRecord:
        """First SentRecord with seq > after_seq matching predicate (present or future)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        checked = 0
        while True:
            changed = self._changed
            for record in self.sent[checked:]:
                if record.seq > after_seq and predicate(record):
                    return record
            checked = len(self.sent)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._describe_timeout(timeout, after_seq))
            await self._wait_changed(changed, remaining)

    async def wait_idle(self, quiet: float = 0.2, timeout: float = 5.0) -> None:
        """Wait until no bot call arrived for ``quiet`` s and every update was delivered."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            now = time.monotonic()
            busy = self._inflight > 0 or self._undelivered() > 0
            silent_for = now - self._last_activity
            if not busy and silent_for >= quiet:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"bot not idle after {timeout}s: {self._undelivered()} update(s) undelivered, "
                    f"{self._inflight} call(s) in flight, last call {silent_for:.2f}s ago"
                )
            wake_in = remaining if busy else min(remaining, quiet - silent_for)
            await self._wait_changed(changed, wake_in)

    # ------------------------------------------------------------------ fault injection

    def inject(
        self,
        method: str | None,
        *,
        kind: FaultKind,
        times: int = 1,
        retry_after: int = 1,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (None = any) fail as ``kind``.

        "timeout" delivers the call, sleeps ``delay`` then answers; "reset" drops
        the connection without performing the call.
        """
        self._faults.append(
            _Fault(method.lower() if method else None, kind, times, max(1, retry_after), delay)
        )

    def fail_rate(
        self,
        share: float,
        kinds: Iterable[FaultKind] = ("429", "500", "502"),
        seed: int = 0,
        *,
        methods: Iterable[str] | None = None,
        delay: float = 1.0,
    ) -> None:
        """Fail a random ``share`` of calls with one of ``kinds`` (0 disables).

        ``methods`` defaults to every method except getUpdates, so polling keeps
        working while sends are unreliable.
        """
        self._random_share = share
        self._random_kinds = tuple(kinds)
        self._random_methods = None if methods is None else frozenset(m.lower() for m in methods)
        self._random_delay = delay
        self._rng = random.Random(seed)

    def clear_faults(self) -> None:
        """Drop injected faults and random failures."""
        self._faults.clear()
        self._random_share = 0.0

    # ------------------------------------------------------------------ internals: world

    def _require_user(self, user_id: int) -> int:
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}; call add_user first")
        return user_id

    def _require_user_json(self, user_id: int) -> JSON:
        if user_id == self.bot_id:
            return self.bot_user
        self._require_user(user_id)
        return self.users[user_id]

    def _user_ref(self, value: int | JSON) -> JSON:
        if isinstance(value, dict):
            return copy.deepcopy(value)
        return dict(self._require_user_json(value))

    def _require_chat(self, chat_id: int) -> _Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise KeyError(f"unknown chat {chat_id}; call add_chat first")
        return chat

    def _chat_json(self, chat: _Chat) -> JSON:
        data: JSON = {"id": chat.id, "type": chat.type}
        if chat.type == "private":
            user = self.users[chat.id]
            data["first_name"] = user["first_name"]
            for key in ("last_name", "username"):
                if key in user:
                    data[key] = user[key]
        else:
            data["title"] = chat.title
            if chat.username:
                data["username"] = chat.username
        return data

    def _message_base(self, chat: _Chat) -> JSON:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return {"message_id": message_id, "date": int(time.time()), "chat": self._chat_json(chat)}

    def _store(self, chat: _Chat, msg: JSON) -> None:
        chat.messages[msg["message_id"]] = msg

    def _bot_in_chat(self, chat: _Chat) -> bool:
        return chat.bot_status in ("member", "administrator")

    def _queue_for_chat(self, chat: _Chat, kind: str, payload: JSON) -> None:
        # A bot that is not in a chat (or is blocked) gets no updates from it.
        if self._bot_in_chat(chat):
            self._queue_update(kind, payload)

    def _queue_update(self, kind: str, payload: JSON) -> None:
        update_id = self._next_update_id
        self._next_update_id += 1
        self._updates.append({"update_id": update_id, kind: copy.deepcopy(payload)})
        self._notify()

    def _queue_my_chat_member(
        self, chat: _Chat, actor: JSON, old: MemberStatus, new: MemberStatus
    ) -> None:
        update = {
            "chat": self._chat_json(chat),
            "from": dict(actor),
            "date": int(time.time()),
            "old_chat_member": self._member_json(chat, self.bot_user, old),
            "new_chat_member": self._member_json(chat, self.bot_user, new),
        }
        self._queue_update("my_chat_member", update)

    def _status_of(self, chat: _Chat, user_id: int) -> MemberStatus:
        if user_id == self.bot_id:
            return chat.bot_status
        if chat.type == "private":
            return "member" if user_id == chat.id else "left"
        if user_id in chat.statuses:
            return chat.statuses[user_id]
        if user_id == chat.creator:
            return "creator"
        if user_id in chat.admins:
            return "administrator"
        if user_id in chat.members:
            return "member"
        return "left"

    def _member_json(self, chat: _Chat, user: JSON, status: MemberStatus) -> JSON:
        """A ChatMember with every field PTB and aiogram require for that status."""
        member: JSON = {"status": status, "user": dict(user)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            is_bot_itself = user["id"] == self.bot_id
            member.update(
                {
                    "can_be_edited": False,
                    "is_anonymous": False,
                    "can_manage_chat": True,
                    "can_delete_messages": True,
                    "can_manage_video_chats": True,
                    "can_restrict_members": True,
                    "can_promote_members": False,
                    "can_change_info": True,
                    "can_invite_users": True,
                    "can_post_stories": False,
                    "can_edit_stories": False,
                    "can_delete_stories": False,
                    "can_send_welcome_messages": False,
                    "can_pin_messages": chat.bot_can_pin if is_bot_itself else True,
                    "can_manage_topics": False,
                }
            )
            if chat.type == "channel":
                member["can_post_messages"] = True
                member["can_edit_messages"] = True
        elif status == "restricted":
            member.update(
                {
                    "is_member": True,
                    "can_send_messages": False,
                    "can_send_audios": False,
                    "can_send_documents": False,
                    "can_send_photos": False,
                    "can_send_videos": False,
                    "can_send_video_notes": False,
                    "can_send_voice_notes": False,
                    "can_send_polls": False,
                    "can_send_other_messages": False,
                    "can_add_web_page_previews": False,
                    "can_react_to_messages": False,
                    "can_edit_tag": False,
                    "can_change_info": False,
                    "can_invite_users": False,
                    "can_pin_messages": False,
                    "can_manage_topics": False,
                    "until_date": 0,
                }
            )
        elif status == "kicked":
            member["until_date"] = 0
        return member

    def _new_file_id(self, prefix: str) -> tuple[str, str]:
        n = next(self._file_ids)
        return f"{prefix}{n:08d}LocalBotAPIfile", f"AgAD{n:08d}"

    def _photo_sizes(self, data: bytes) -> list[JSON]:
        sizes = []
        for width in (90, 320, 800):
            file_id, unique_id = self._new_file_id("AgACAgIAAxk")
            size: JSON = {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "width": width,
                "height": width,
            }
            if data:
                size["file_size"] = max(1, len(data) * width // 800)
            sizes.append(size)
            self._files[file_id] = {"kind": "photo", "json": size}
        return sizes

    def _undelivered(self) -> int:
        return sum(1 for u in self._updates if u["update_id"] > self._delivered_upto)

    def _notify(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    def _touch(self) -> None:
        self._last_activity = time.monotonic()
        self._notify()

    @staticmethod
    async def _wait_changed(changed: asyncio.Event, timeout: float) -> bool:
        try:
            await asyncio.wait_for(changed.wait(), timeout=max(0.0, timeout))
        except TimeoutError:
            return False
        return True

    def _describe_timeout(self, timeout: float, after_seq: int) -> str:
        lines = [f"no matching bot call within {timeout}s (after seq {after_seq}); sent:"]
        shown = [r for r in self.sent if r.seq > after_seq][-20:]
        for r in shown:
            text = (r.text or "")[:80].replace("\n", "\\n")
            lines.append(
                f"  #{r.seq} {r.method} chat={r.chat_id} msg={r.message_id} text={text!r}"
                + (f" doc={r.document_name!r}" if r.document_name else "")
            )
        if not shown:
            lines.append("  (nothing)")
        for e in self.errors[-5:]:
            lines.append(f"  error: {e.method} {e.code} {e.description}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ internals: HTTP

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return self._json_response(
            {"ok": False, "error_code": 404, "description": "Not Found"}, 404
        )

    @staticmethod
    def _json_response(body: JSON, status: int = 200) -> web.Response:
        return web.json_response(body, status=status, dumps=_dumps)

    def _error_response(self, method: str, error: TelegramError, params: JSON) -> web.Response:
        self.errors.append(ErrorRecord(method, error.code, error.description, params))
        body: JSON = {"ok": False, "error_code": error.code, "description": error.description}
        if error.parameters:
            body["parameters"] = error.parameters
        self._notify()
        return self._json_response(body, error.code)

    async def _read_params(self, request: web.Request) -> _Params:
        values: dict[str, Any] = dict(request.query)
        files: dict[str, _Upload] = {}
        if request.can_read_body:
            ctype = request.content_type
            if ctype == "application/json":
                raw = await request.text()
                if raw.strip():
                    try:
                        body = json.loads(raw)
                    except ValueError:
                        raise _bad_request("can't parse JSON encoded request body") from None
                    if not isinstance(body, dict):
                        raise _bad_request("can't parse JSON encoded request body")
                    values.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = _Upload(value.filename, value.content_type, value.file.read())
                    elif isinstance(value, (bytes, bytearray)):
                        values[key] = bytes(value).decode("utf-8", "replace")
                    else:
                        values[key] = value
        return _Params(values, files)

    async def _handle_bot_request(self, request: web.Request) -> web.StreamResponse:
        raw_method = request.match_info["method"]
        entry = self._methods.get(raw_method.lower())
        name = entry[0] if entry else raw_method
        # Lower-cased, since Telegram method names are case-insensitive: one spelling to match.
        self.calls.append((name.lower(), time.monotonic()))
        if request.match_info["token"] != self.token:
            return self._error_response(name, TelegramError(401, "Unauthorized"), {})
        try:
            params = await self._read_params(request)
        except TelegramError as exc:
            return self._error_response(name, exc, {})
        if entry is None:
            return self._error_response(
                name, TelegramError(404, "Not Found: method not found"), params.for_record()
            )
        handler = entry[1]
        # Long polls are not bot activity; everything else keeps wait_idle waiting.
        is_activity = name != "getUpdates"
        if is_activity:
            self._inflight += 1
            self._touch()
        try:
            fault = self._take_fault(name)
            if fault is not None:
                self.injected.append((name, fault.kind))
                if fault.kind == "reset":
                    if request.transport is not None:
                        request.transport.abort()
                    # Nothing reaches the client any more; this only ends the handler.
                    raise web.HTTPInternalServerError()
                if fault.kind != "timeout":
                    raise self._fault_error(name, fault, params)
            result = await handler(params, request)
            if fault is not None and fault.kind == "timeout":
                # The call already took effect; only the answer is late.
                await asyncio.sleep(fault.delay)
            return self._json_response({"ok": True, "result": result})
        except TelegramError as exc:
            return self._error_response(name, exc, params.for_record())
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug in this server: keep it visible, not just a 500
            log.exception("LocalBotAPI: %s failed", name)
            self.internal_errors.append(exc)
            return self._error_response(
                name, TelegramError(500, "Internal Server Error"), params.for_record()
            )
        finally:
            if is_activity:
                self._inflight -= 1
                self._touch()

    def _take_fault(self, name: str) -> _Fault | None:
        lowered = name.lower()
        for fault in self._faults:
            if fault.times > 0 and fault.method in (None, lowered):
                fault.times -= 1
                if fault.times == 0:
                    self._faults.remove(fault)
                return fault
        methods = self._random_methods
        eligible = lowered != "getupdates" if methods is None else lowered in methods
        if (
            self._random_share > 0
            and self._random_kinds
            and eligible
            and self._rng.random() < self._random_share
        ):
            kind = self._rng.choice(self._random_kinds)
            return _Fault(lowered, kind, 1, 1, self._random_delay)
        return None

    def _fault_error(self, name: str, fault: _Fault, params: _Params) -> TelegramError:
        chat_id: int | None
        try:
            chat_id = params.get_int("chat_id")
        except TelegramError:
            chat_id = None
        if fault.kind == "429":
            if name in SEND_LIKE_METHODS:
                # An announced retry window: sends into it count as violations.
                scope: str | int = chat_id if chat_id is not None else "global"
                self._blocked_until[scope] = time.monotonic() + fault.retry_after
            return _too_many_requests(fault.retry_after)
        if fault.kind == "500":
            return TelegramError(500, "Internal Server Error")
        if fault.kind == "502":
            return TelegramError(502, "Bad Gateway")
        if fault.kind == "403":
            return _forbidden("bot was blocked by the user")
        # "migrate": point at the real supergroup when there is one.
        chat = self.chats.get(chat_id) if chat_id is not None else None
        target = chat.migrated_to if chat is not None and chat.migrated_to else None
        if target is None:
            target = int(f"-100{abs(chat_id or 1)}")
        return _bad_request(
            "group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": target}
        )

    async def _handle_control(self, request: web.Request) -> web.Response:
        """Thin JSON wrapper over the in-process control API for out-of-process bots."""
        name = request.match_info["name"]
        try:
            result: Any
            if request.method == "GET":
                if name == "sent":
                    after = int(request.query.get("after", "0"))
                    result = [r.to_json() for r in self.sent if r.seq > after]
                elif name == "messages":
                    result = self.messages(int(request.query["chat_id"]))
                elif name == "errors":
                    result = [asdict(e) for e in self.errors]
                else:
                    raise LookupError(f"unknown control endpoint {name!r}")
            else:
                actions: dict[str, Callable[..., Any]] = {
                    "user_message": self.user_message,
                    "edit_user_message": self.edit_user_message,
                    "press": self.press,
                    "add_user": self.add_user,
                    "add_chat": self.add_chat,
                    "add_bot_to_chat": self.add_bot_to_chat,
                    "remove_bot_from_chat": self.remove_bot_from_chat,
                    "migrate": self.migrate_to_supergroup,
                    "set_admin": self.set_admin,
                }
                action = actions.get(name)
                if action is None:
                    raise LookupError(f"unknown control endpoint {name!r}")
                body = await request.json() if request.can_read_body else {}
                if not isinstance(body, dict):
                    raise ValueError("control body must be a JSON object")
                result = action(**body)
        except (LookupError, TypeError, ValueError) as exc:
            status = 404 if type(exc) is LookupError else 400
            # KeyError's str() adds quotes; the first argument is the readable message.
            text = str(exc.args[0]) if exc.args else type(exc).__name__
            return self._json_response({"ok": False, "description": text}, status)
        return self._json_response({"ok": True, "result": result})

    # ------------------------------------------------------------------ internals: rules

    def _resolve_chat(self, params: _Params, *, writing: bool = True) -> _Chat:
        """The target chat, enforcing existence, membership and (for writes) migration."""
        raw = params.get("chat_id")
        if raw is None:
            raise _bad_request("chat_id is empty")
        chat: _Chat | None = None
        if isinstance(raw, str) and raw.strip().startswith("@"):
            wanted = raw.strip()[1:].lower()
            chat = next(
                (c for c in self.chats.values() if (c.username or "").lower() == wanted), None
            )
            if chat is None:
                raise _bad_request("chat not found")
        else:
            try:
                chat_id = int(raw) if not isinstance(raw, bool) else None
            except (TypeError, ValueError):
                chat_id = None
            if chat_id is None:
                raise _bad_request("chat not found")
            chat = self.chats.get(chat_id)
            if chat is None:
                if chat_id in self.users:
                    raise _forbidden("bot can't initiate conversation with a user")
                raise _bad_request("chat not found")
        if writing and chat.migrated_to is not None:
            raise _bad_request(
                "group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": chat.migrated_to},
            )
        if chat.type == "private":
            if chat.bot_status == "kicked":
                raise _forbidden("bot was blocked by the user")
            if chat.bot_status == "left":
                raise _forbidden("bot can't initiate conversation with a user")
        elif chat.bot_status == "kicked":
            raise _forbidden(f"bot was kicked from the {chat.type} chat")
        elif chat.bot_status == "left":
            raise _forbidden(f"bot is not a member of the {chat.type} chat")
        return chat

    def _format(
        self, text: str, parse_mode: str | None, entities: Any, *, field_name: str
    ) -> tuple[str, list[JSON]]:
        mode = (parse_mode or "").strip().lower()
        if mode == "html":
            try:
                return parse_html(text, strict_ampersand=self.strict_ampersand)
            except EntityParseError as exc:
                raise _bad_request(f"can't parse entities: {exc}") from None
        if mode in ("markdown", "markdownv2"):
            # Markdown is not validated here; the text is taken verbatim.
            return text, []
        if mode:
            raise _bad_request("unsupported parse_mode")
        if entities is None:
            return text, []
        if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
            raise _bad_request(f"can't parse {field_name} JSON object")
        return text, copy.deepcopy(entities)

    def _message_text(self, params: _Params) -> tuple[str, list[JSON], str]:
        raw = params.get_str("text") or ""
        entities_param = params.get_json("entities", "can't parse entities JSON object")
        text, entities = self._format(
            raw, params.get_str("parse_mode"), entities_param, field_name="entities"
        )
        if not text.strip():
            raise _bad_request("message text is empty")
        if utf16_len(text) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        return text, entities, raw

    def _caption(self, params: _Params) -> tuple[str | None, list[JSON], str | None]:
        raw = params.get_str("caption")
        if raw is None:
            return None, [], None
        entities_param = params.get_json(
            "caption_entities", "can't parse caption entities JSON object"
        )
        text, entities = self._format(
            raw, params.get_str("parse_mode"), entities_param, field_name="caption entities"
        )
        if utf16_len(text) > MAX_CAPTION_LENGTH:
            raise _bad_request("message caption is too long")
        return (text if text.strip() else None), entities, raw

    def _reply_markup(self, params: _Params) -> JSON | None:
        error = "can't parse reply keyboard markup JSON object"
        markup = params.get_json("reply_markup", error)
        if markup is None:
            return None
        if not isinstance(markup, dict):
            raise _bad_request(error)
        if "inline_keyboard" not in markup:
            if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
                raise _bad_request(error)
            return copy.deepcopy(markup)
        rows = markup["inline_keyboard"]
        bad_rows = (
            'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
        )
        if not isinstance(rows, list):
            raise _bad_request(bad_rows)
        clean_rows: list[list[JSON]] = []
        for row in rows:
            if not isinstance(row, list):
                raise _bad_request(bad_rows)
            clean_rows.append([self._button(b) for b in row])
        return {"inline_keyboard": [r for r in clean_rows if r]}

    @staticmethod
    def _button(button: Any) -> JSON:
        prefix = "can't parse inline keyboard button: "
        if not isinstance(button, dict):
            raise _bad_request(prefix + "InlineKeyboardButton must be an Object")
        text = button.get("text")
        if not isinstance(text, str) or not text.strip():
            raise _bad_request(prefix + 'Field "text" must be of type String')
        actions = [k for k in BUTTON_ACTION_FIELDS if button.get(k) is not None]
        if not actions:
            raise _bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
        if len(actions) > 1:
            raise _bad_request(prefix + "exactly one of the optional fields must be used")
        if "callback_data" in actions:
            data = button["callback_data"]
            size = len(data.encode("utf-8")) if isinstance(data, str) else 0
            if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
                raise _bad_request("BUTTON_DATA_INVALID")
        if "url" in actions and (not isinstance(button["url"], str) or not button["url"].strip()):
            raise _bad_request("BUTTON_URL_INVALID")
        return {k: copy.deepcopy(v) for k, v in button.items() if v is not None}

    @staticmethod
    def _message_markup(markup: JSON | None) -> JSON | None:
        """What a Message carries: only a non-empty inline keyboard is stored on it."""
        if markup is not None and markup.get("inline_keyboard"):
            return markup
        return None

    def _reply_target(self, chat: _Chat, params: _Params) -> JSON | None:
        reply_parameters = params.get_json(
            "reply_parameters", "can't parse reply parameters JSON object"
        )
        target_chat = chat
        if reply_parameters is not None:
            if not isinstance(reply_parameters, dict):
                raise _bad_request("can't parse reply parameters JSON object")
            message_id = reply_parameters.get("message_id")
            allow = _as_bool(reply_parameters.get("allow_sending_without_reply", False))
            other = reply_parameters.get("chat_id")
            if other is not None and str(other) != str(chat.id):
                target_chat = self._resolve_chat(_Params({"chat_id": other}, {}), writing=False)
        else:
            message_id = params.get_int("reply_to_message_id")
            allow = params.get_bool("allow_sending_without_reply")
        if message_id is None:
            return None
        try:
            target = target_chat.messages.get(int(message_id))
        except (TypeError, ValueError):
            target = None
        if target is None:
            if allow:
                return None
            raise _bad_request("message to be replied not found")
        return target

    def _rate_check(self, chat: _Chat) -> None:
        """Apply flood limits to one send-like call; raises 429 when over."""
        now = time.monotonic()
        for scope in ("global", chat.id):
            until = self._blocked_until.get(scope)
            if until is not None:
                if now < until:
                    # The bot ignored an announced retry_after: that is what tests guard against.
                    self.violations += 1
                    raise _too_many_requests(max(1, math.ceil(until - now)))
                del self._blocked_until[scope]
        limits = self.limits
        if limits is None:
            return
        hits = self._global_hits
        while hits and hits[0] <= now - 1.0:
            hits.popleft()
        if len(hits) >= limits.per_second_global:
            retry = max(1, math.ceil(hits[0] + 1.0 - now))
            self._blocked_until["global"] = now + retry
            raise _too_many_requests(retry)
        group_hits: deque[float] | None = None
        if chat.type in ("group", "supergroup"):
            window = 60.0 * limits.window_scale
            group_hits = self._group_hits.setdefault(chat.id, deque())
            while group_hits and group_hits[0] <= now - window:
                group_hits.popleft()
            if len(group_hits) >= limits.per_minute_per_group:
                retry = max(1, math.ceil(group_hits[0] + window - now))
                self._blocked_until[chat.id] = now + retry
                raise _too_many_requests(retry)
        hits.append(now)
        if group_hits is not None:
            group_hits.append(now)

    def _record(
        self,
        method: str,
        chat: _Chat,
        msg: JSON | None,
        *,
        message_id: int | None = None,
        parse_mode: str | None = None,
        raw_text: str | None = None,
        reply_markup: JSON | None = None,
        document: tuple[str, bytes] | None = None,
        photo: bool = False,
    ) -> SentRecord:
        text: str | None = None
        entities: list[JSON] = []
        reply_to: int | None = None
        if msg is not None:
            text = msg.get("text", msg.get("caption"))
            entities = copy.deepcopy(msg.get("entities") or msg.get("caption_entities") or [])
            reply = msg.get("reply_to_message")
            reply_to = reply["message_id"] if reply else None
            message_id = msg["message_id"]
        record = SentRecord(
            seq=self.last_seq + 1,
            method=method,
            chat_id=chat.id,
            message_id=message_id,
            text=text,
            parse_mode=parse_mode,
            reply_to_message_id=reply_to,
            reply_markup=copy.deepcopy(reply_markup),
            document_name=document[0] if document else None,
            document_bytes=document[1] if document else None,
            photo=photo,
            time=time.monotonic(),
            raw_text=raw_text,
            entities=entities,
        )
        self.sent.append(record)
        self._notify()
        return record

    def _new_bot_message(
        self, chat: _Chat, thread_id: int | None, reply: JSON | None, markup: JSON | None
    ) -> JSON:
        msg = self._message_base(chat)
        if chat.type == "channel":
            msg["sender_chat"] = self._chat_json(chat)
        else:
            msg["from"] = self.bot_user
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
        if reply is not None:
            msg["reply_to_message"] = _strip_reply(reply)
        stored_markup = self._message_markup(markup)
        if stored_markup is not None:
            msg["reply_markup"] = stored_markup
        return msg

    def _commit_bot_message(self, chat: _Chat, msg: JSON) -> None:
        self._store(chat, msg)
        chat.bot_message_ids.add(msg["message_id"])

    def _upload(self, params: _Params, name: str, kind: str) -> tuple[_Upload | None, JSON | None]:
        """The uploaded file, or the stored file a file_id refers to."""
        value = params.get_file(name)
        if value is None:
            raise _bad_request(f"there is no {kind} in the request")
        if isinstance(value, _Upload):
            if not value.data:
                raise _bad_request("file must be non-empty")
            return value, None
        known = self._files.get(value)
        if known is not None:
            return None, known
        if value.startswith(("http://", "https://")):
            filename = value.rstrip("/").rsplit("/", 1)[-1] or kind
            return _Upload(filename, None, b""), None
        raise _bad_request("wrong file identifier/HTTP URL specified")

    # ------------------------------------------------------------------ Bot API methods

    def _method_table(self) -> dict[str, _Handler]:
        return {
            "getMe": self._get_me,
            "getUpdates": self._get_updates,
            "deleteWebhook": self._delete_webhook,
            "getWebhookInfo": self._get_webhook_info,
            "logOut": self._ok_true,
            "close": self._ok_true,
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendDocument": self._send_document,
            "editMessageText": self._edit_message_text,
            "editMessageCaption": self._edit_message_caption,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "deleteMessage": self._delete_message,
            "pinChatMessage": self._pin_chat_message,
            "unpinChatMessage": self._unpin_chat_message,
            "answerCallbackQuery": self._answer_callback_query,
            "setMyCommands": self._set_my_commands,
            "getMyCommands": self._get_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getChat": self._get_chat,
            "getChatMember": self._get_chat_member,
            "getChatAdministrators": self._get_chat_administrators,
            "getChatMemberCount": self._get_chat_member_count,
            "sendChatAction": self._send_chat_action,
            "leaveChat": self._leave_chat,
            "setMyDescription": self._set_my_description,
            "setMyShortDescription": self._set_my_short_description,
        }

    async def _ok_true(self, params: _Params, request: web.Request) -> bool:
        return True

    async def _get_me(self, params: _Params, request: web.Request) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: _Params, request: web.Request) -> list[JSON]:
        offset = params.get_int("offset")
        limit = min(100, max(1, params.get_int("limit") or 100))
        timeout = max(0.0, params.get_float("timeout") or 0.0)
        error = "can't parse allowed updates JSON object"
        allowed = params.get_json("allowed_updates", error)
        if isinstance(allowed, list):
            if not all(isinstance(kind, str) for kind in allowed):
                raise _bad_request(error)
            # Telegram remembers the list; an empty list means "the default set".
            self._allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        if offset is not None:
            if offset < 0:
                self._updates = self._updates[offset:]
            else:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()  # wakes an older poll so it can answer 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            transport = request.transport
            if self._closing or transport is None or transport.is_closing():
                return []  # shutting down, or the client gave up: nobody to deliver to
            if generation != self._poll_generation:
                # Clients that stop polling drop the connection and immediately poll once more
                # to confirm offsets; give that disconnect a moment to land before calling it a
                # conflict, so only genuinely concurrent pollers see 409.
                await asyncio.sleep(0.05)
                transport = request.transport
                if transport is None or transport.is_closing():
                    return []
                raise TelegramError(409, CONFLICT_OTHER_POLL)
            self._updates = [u for u in self._updates if self._is_allowed(u)]
            ready = self._updates[:limit]
            remaining = deadline - loop.time()
            if ready or remaining <= 0:
                break
            await self._wait_changed(changed, remaining)
        if ready:
            self._delivered_upto = max(self._delivered_upto, ready[-1]["update_id"])
            self._touch()
        return copy.deepcopy(ready)

    def _is_allowed(self, update: JSON) -> bool:
        kind = next(k for k in update if k != "update_id")
        return kind in self._allowed_updates

    async def _delete_webhook(self, params: _Params, request: web.Request) -> bool:
        if params.get_bool("drop_pending_updates"):
            self._updates.clear()
            self._notify()
        return True

    async def _get_webhook_info(self, params: _Params, request: web.Request) -> JSON:
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }

    async def _send_message(self, params: _Params, request: web.Request) -> JSON:
        chat = self._resolve_chat(params)
        text, entities, raw = self._message_text(params)
        markup = self._reply_markup(params)
        reply = self._reply_target(chat, params)
        thread_id = params.get_int("message_thread_id")
        self._rate_check(chat)
        msg = self._new_bot_message(chat, thread_id, reply, markup)
        msg["text"] = text
        if entities:
            msg["entities"] = entities
        self._commit_bot_message(chat, msg)
        self._record(
            "sendMessage",
            chat,
            msg,
            parse_mode=params.get_str("parse_mode"),
            raw_text=raw,
            reply_markup=markup,
        )
        return copy.deepcopy(msg)

    async def _send_photo(self, params: _Params, request: web.Request) -> JSON:
        chat = self._resolve_chat(params)
        upload, known = self._upload(params, "photo", "photo")
        caption, entities, raw = self._caption(params)
        markup = self._reply_markup(params)
        reply = self._reply_target(chat, params)
        thread_id = params.get_int("message_thread_id")
        self._rate_check(chat)
        msg = self._new_bot_message(chat, thread_id, reply, markup)
        if known is not None and known["kind"] == "photo":
            msg["photo"] = [copy.deepcopy(known["json"])]
        else:
            msg["photo"] = self._photo_sizes(upload.data if upload else b"")
        if caption is not None:
            msg["caption"] = caption
            if entities:
                msg["caption_entities"] = entities
        self._commit_bot_message(chat, msg)
        self._record(
            "sendPhoto",
            chat,
            msg,
            parse_mode=params.get_str("parse_mode"),
            raw_text=raw,
            reply_markup=markup,
            document=(upload.filename, upload.data) if upload is not None and upload.data else None,
            photo=True,
        )
        return copy.deepcopy(msg)

    async def _send_document(self, params: _Params, request: web.Request) -> JSON:
        chat = self._resolve_chat(params)
        upload, known = self._upload(params, "document", "document")
        caption, entities, raw = self._caption(params)
        markup = self._reply_markup(params)
        reply = self._reply_target(chat, params)
        thread_id = params.get_int("message_thread_id")
        self._rate_check(chat)
        msg = self._new_bot_message(chat, thread_id, reply, markup)
        if known is not None:
            document = copy.deepcopy(known["json"])
            data = cast(bytes, known.get("bytes", b""))
        else:
            assert upload is not None
            file_id, unique_id = self._new_file_id("BQACAgIAAxk")
            mime = upload.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
            document = {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "file_name": upload.filename,
                "mime_type": mime,
                "file_size": len(upload.data),
            }
            data = upload.data
            self._files[file_id] = {"kind": "document", "json": document, "bytes": data}
        msg["document"] = document
        if caption is not None:
            msg["caption"] = caption
            if entities:
                msg["caption_entities"] = entities
        self._commit_bot_message(chat, msg)
        self._record(
            "sendDocument",
            chat,
            msg,
            parse_mode=params.get_str("parse_mode"),
            raw_text=raw,
            reply_markup=markup,
            document=(str(document.get("file_name") or ""), data),
        )
        return copy.deepcopy(msg)

    def _editable(self, params: _Params) -> tuple[_Chat, JSON]:
        if params.get("inline_message_id") is not None:
            raise _bad_request("MESSAGE_ID_INVALID")
        chat = self._resolve_chat(params)
        message_id = params.get_int("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        msg = chat.messages.get(message_id)
        if msg is None:
            raise _bad_request("message to edit not found")
        if message_id not in chat.bot_message_ids:
            raise _bad_request("message can't be edited")
        return chat, msg

    @staticmethod
    def _apply_markup(msg: JSON, markup: JSON | None) -> None:
        if markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = markup

    async def _edit_message_text(self, params: _Params, request: web.Request) -> JSON:
        chat, msg = self._editable(params)
        if "text" not in msg:
            raise _bad_request("there is no text in the message to edit")
        text, entities, raw = self._message_text(params)
        # Omitting reply_markup removes the keyboard, exactly like Telegram does.
        markup = self._message_markup(self._reply_markup(params))
        same = (
            msg["text"] == text
            and _canonical(msg.get("entities", [])) == _canonical(entities)
            and _canonical(msg.get("reply_markup")) == _canonical(markup)
        )
        if same:
            raise _bad_request(NOT_MODIFIED)
        self._rate_check(chat)
        msg["text"] = text
        if entities:
            msg["entities"] = entities
        else:
            msg.pop("entities", None)
        self._apply_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        self._record(
            "editMessageText",
            chat,
            msg,
            parse_mode=params.get_str("parse_mode"),
            raw_text=raw,
            reply_markup=markup,
        )
        return copy.deepcopy(msg)

    async def _edit_message_caption(self, params: _Params, request: web.Request) -> JSON:
        chat, msg = self._editable(params)
        if not any(k in msg for k in ("photo", "document")):
            raise _bad_request("there is no caption in the message to edit")
        caption, entities, raw = self._caption(params)
        markup = self._message_markup(self._reply_markup(params))
        same = (
            msg.get("caption") == caption
            and _canonical(msg.get("caption_entities", [])) == _canonical(entities)
            and _canonical(msg.get("reply_markup")) == _canonical(markup)
        )
        if same:
            raise _bad_request(NOT_MODIFIED)
        self._rate_check(chat)
        if caption is None:
            msg.pop("caption", None)
            msg.pop("caption_entities", None)
        else:
            msg["caption"] = caption
            if entities:
                msg["caption_entities"] = entities
            else:
                msg.pop("caption_entities", None)
        self._apply_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        self._record(
            "editMessageCaption",
            chat,
            msg,
            parse_mode=params.get_str("parse_mode"),
            raw_text=raw,
            reply_markup=markup,
        )
        return copy.deepcopy(msg)

    async def _edit_message_reply_markup(self, params: _Params, request: web.Request) -> JSON:
        chat, msg = self._editable(params)
        markup = self._message_markup(self._reply_markup(params))
        if _canonical(msg.get("reply_markup")) == _canonical(markup):
            raise _bad_request(NOT_MODIFIED)
        self._rate_check(chat)
        self._apply_markup(msg, markup)
        msg["edit_date"] = int(time.time())
        self._record("editMessageReplyMarkup", chat, msg, reply_markup=markup)
        return copy.deepcopy(msg)

    async def _delete_message(self, params: _Params, request: web.Request) -> bool:
        chat = self._resolve_chat(params)
        message_id = params.get_int("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        msg = chat.messages.get(message_id)
        if msg is None:
            raise _bad_request("message to delete not found")
        own = message_id in chat.bot_message_ids
        # Bots delete their own messages anywhere, incoming ones in private chats, others as admin.
        if not own and chat.type != "private" and chat.bot_status != "administrator":
            raise _bad_request("message can't be deleted")
        del chat.messages[message_id]
        if message_id in chat.pinned:
            chat.pinned.remove(message_id)
        self._record("deleteMessage", chat, None, message_id=message_id)
        return True

    def _check_pin_rights(self, chat: _Chat) -> None:
        if chat.type == "private":
            return
        allowed = chat.bot_can_pin
        if chat.type == "channel":
            allowed = allowed and chat.bot_status == "administrator"
        if not allowed:
            raise _bad_request("not enough rights to manage pinned messages in the chat")

    async def _pin_chat_message(self, params: _Params, request: web.Request) -> bool:
        chat = self._resolve_chat(params)
        message_id = params.get_int("message_id")
        if message_id is None:
            raise _bad_request("message identifier is not specified")
        self._check_pin_rights(chat)
        if message_id not in chat.messages:
            raise _bad_request("message to pin not found")
        self._rate_check(chat)
        if message_id in chat.pinned:
            chat.pinned.remove(message_id)
        chat.pinned.append(message_id)
        self._record("pinChatMessage", chat, None, message_id=message_id)
        return True

    async def _unpin_chat_message(self, params: _Params, request: web.Request) -> bool:
        chat = self._resolve_chat(params)
        self._check_pin_rights(chat)
        message_id = params.get_int("message_id")
        if message_id is None:
            message_id = chat.pinned[-1] if chat.pinned else None
        elif message_id not in chat.pinned:
            raise _bad_request("message to unpin not found")
        if message_id is not None:
            chat.pinned.remove(message_id)
            self._record("unpinChatMessage", chat, None, message_id=message_id)
        return True

    async def _answer_callback_query(self, params: _Params, request: web.Request) -> bool:
        query_id = params.get_str("callback_query_id")
        if query_id is None or self._queries.get(query_id, True):
            raise _bad_request(QUERY_TOO_OLD)
        text = params.get_str("text")
        if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise _bad_request("MESSAGE_TOO_LONG")
        answer = {
            "text": text,
            "show_alert": params.get_bool("show_alert"),
            "url": params.get_str("url"),
            "cache_time": params.get_int("cache_time"),
        }
        self._queries[query_id] = True
        self.callback_answers[query_id] = answer
        self._notify()
        return True

    def _commands_key(self, params: _Params) -> tuple[str, str]:
        scope = params.get_json("scope", "can't parse BotCommandScope JSON object")
        if scope is None:
            scope = {"type": "default"}
        if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
            raise _bad_request("can't parse BotCommandScope JSON object")
        scope = dict(scope)
        kind = scope["type"]
        simple = ("default", "all_private_chats", "all_group_chats", "all_chat_administrators")
        if kind in ("chat", "chat_administrators", "chat_member"):
            chat = self._resolve_chat(_Params({"chat_id": scope.get("chat_id")}, {}), writing=False)
            scope["chat_id"] = chat.id
            if kind == "chat_member":
                user_id = _as_int(scope.get("user_id"))
                if user_id is None or user_id not in self.users:
                    raise _bad_request("user not found")
                scope["user_id"] = user_id
        elif kind not in simple:
            raise _bad_request("wrong BotCommandScope type specified")
        return _canonical(scope), params.get_str("language_code") or ""

    async def _set_my_commands(self, params: _Params, request: web.Request) -> bool:
        commands = params.get_json("commands", "can't parse commands JSON object")
        if not isinstance(commands, list):
            raise _bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise _bad_request("too many commands specified")
        clean: list[JSON] = []
        for item in commands:
            if not isinstance(item, dict):
                raise _bad_request("can't parse BotCommand JSON object")
            command = str(item.get("command", "")).removeprefix("/")
            description = str(item.get("description", ""))
            if not COMMAND_RE.fullmatch(command):
                raise _bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": command, "description": description})
        key = self._commands_key(params)
        if clean:
            self.commands[key] = clean
        else:
            self.commands.pop(key, None)
        self._notify()
        return True

    async def _get_my_commands(self, params: _Params, request: web.Request) -> list[JSON]:
        return copy.deepcopy(self.commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: _Params, request: web.Request) -> bool:
        self.commands.pop(self._commands_key(params), None)
        self._notify()
        return True

    async def _get_chat(self, params: _Params, request: web.Request) -> JSON:
        chat = self._resolve_chat(params, writing=False)
        info = self._chat_json(chat)
        info.update(
            {
                "accent_color_id": 0,
                "max_reaction_count": 11,
                "accepted_gift_types": {
                    "unlimited_gifts": False,
                    "limited_gifts": False,
                    "unique_gifts": False,
                    "premium_subscription": False,
                    "gifts_from_channels": False,
                },
            }
        )
        if chat.pinned and chat.pinned[-1] in chat.messages:
            info["pinned_message"] = _strip_reply(chat.messages[chat.pinned[-1]])
        if chat.migrated_to is not None:
            info["migrate_to_chat_id"] = chat.migrated_to  # not a Bot API field; ignored by clients
        return info

    async def _get_chat_member(self, params: _Params, request: web.Request) -> JSON:
        chat = self._resolve_chat(params, writing=False)
        user_id = params.get_int("user_id")
        if user_id is None:
            raise _bad_request("user_id is empty")
        if user_id != self.bot_id and user_id not in self.users:
            raise _bad_request("user not found")
        user = self._require_user_json(user_id)
        return self._member_json(chat, user, self._status_of(chat, user_id))

    async def _get_chat_administrators(self, params: _Params, request: web.Request) -> list[JSON]:
        chat = self._resolve_chat(params, writing=False)
        if chat.type == "private":
            raise _bad_request("there are no administrators in the private chat")
        ids: list[int] = []
        if chat.creator is not None and self._status_of(chat, chat.creator) == "creator":
            ids.append(chat.creator)
        ids += sorted(u for u in chat.admins if self._status_of(chat, u) == "administrator")
        if chat.bot_status == "administrator":
            ids.append(self.bot_id)
        return [
            self._member_json(chat, self._require_user_json(u), self._status_of(chat, u))
            for u in ids
        ]

    async def _get_chat_member_count(self, params: _Params, request: web.Request) -> int:
        chat = self._resolve_chat(params, writing=False)
        if chat.type == "private":
            return 2
        present = {u for u in chat.members if self._status_of(chat, u) not in ("left", "kicked")}
        return len(present) + (1 if self._bot_in_chat(chat) else 0)

    async def _send_chat_action(self, params: _Params, request: web.Request) -> bool:
        self._resolve_chat(params)
        action = params.get_str("action")
        if action is None:
            raise _bad_request("action is empty")
        if action not in CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    async def _leave_chat(self, params: _Params, request: web.Request) -> bool:
        chat = self._resolve_chat(params, writing=False)
        if chat.type == "private":
            raise _bad_request("chat member status can't be changed in private chats")
        old = chat.bot_status
        chat.bot_status = "left"
        self._queue_my_chat_member(chat, self.bot_user, old, "left")
        return True

    async def _set_my_description(self, params: _Params, request: web.Request) -> bool:
        return self._store_description("description", params, 512)

    async def _set_my_short_description(self, params: _Params, request: web.Request) -> bool:
        return self._store_description("short_description", params, 120)

    def _store_description(self, kind: str, params: _Params, limit: int) -> bool:
        text = params.get_str(kind) or ""
        if len(text) > limit:
            raise _bad_request(f"{kind.replace('_', ' ')} is too long")
        self.descriptions[(kind, params.get_str("language_code") or "")] = text
        return True
