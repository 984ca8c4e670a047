"""Telegram's limits and validations, as constants and pure functions.

Everything here checks values a method has already read from its request (no world, no HTTP):
text and caption formatting and lengths, reply markup and its buttons, bot commands and their
scopes, chat actions, descriptions, callback answers and allowed update types.  Each check
raises the :class:`~localapi.errors.TelegramError` real Telegram answers with.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass

from localapi.errors import bad_request
from localapi.html import EntityParseError, parse_html, utf16_len
from localapi.model import JSON

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
MAX_CALLBACK_DATA_BYTES = 64
MAX_COMMANDS = 100
MAX_COMMAND_DESCRIPTION_LENGTH = 256
# setMyDescription / setMyShortDescription: the parameter's name and its limit.
DESCRIPTION_LIMITS = {"description": 512, "short_description": 120}

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

# BotCommandScope types: those naming no chat, and those naming one (chat_id, maybe user_id).
GLOBAL_SCOPES = frozenset(
    {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}
)
CHAT_SCOPES = frozenset({"chat", "chat_administrators", "chat_member"})

COMMAND_RE = re.compile(r"[a-z0-9_]{1,32}")
USER_COMMAND_RE = re.compile(r"/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")

REPLY_MARKUP_ERROR = "can't parse reply keyboard markup JSON object"
REPLY_PARAMETERS_ERROR = "can't parse reply parameters JSON object"
SCOPE_ERROR = "can't parse BotCommandScope JSON object"
COMMANDS_ERROR = "can't parse commands JSON object"
ALLOWED_UPDATES_ERROR = "can't parse allowed updates JSON object"


def canonical(value: object) -> str:
    """A stable text for comparing JSON values ("message is not modified", command scopes)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def as_int(value: object) -> int | None:
    """An integer id from a JSON or form value; None for a bool, a non-number or nothing."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        return int(value)
    except (ValueError, OverflowError):  # "abc", NaN, Infinity
        return None


def as_bool(value: object) -> bool:
    """A boolean inside a JSON object, where form posts may spell it as text."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


# --------------------------------------------------------------------------------------
# Texts and captions
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextField:
    """A message's text or caption: its names, its limit and the errors about it."""

    name: str  # the parameter and the Message field: "text" or "caption"
    entities: str  # the entities' parameter and Message field
    label: str  # the entities' name in error descriptions
    limit: int  # in UTF-16 code units, after entity parsing
    too_long: str
    # A text must not be empty; an empty caption is no caption.
    required: bool
    # Message fields of which one must be present for this text to be edited.
    carriers: tuple[str, ...]
    not_in_message: str

    def put(self, msg: JSON, text: str | None, entities: list[JSON]) -> None:
        """Set (or, for None, remove) the text and its entities on a message."""
        if text is None:
            msg.pop(self.name, None)
            msg.pop(self.entities, None)
            return
        msg[self.name] = text
        if entities:
            msg[self.entities] = entities
        else:
            msg.pop(self.entities, None)


TEXT = TextField(
    name="text",
    entities="entities",
    label="entities",
    limit=MAX_TEXT_LENGTH,
    too_long="message is too long",
    required=True,
    carriers=("text",),
    not_in_message="there is no text in the message to edit",
)
CAPTION = TextField(
    name="caption",
    entities="caption_entities",
    label="caption entities",
    limit=MAX_CAPTION_LENGTH,
    too_long="message caption is too long",
    required=False,
    carriers=("photo", "document"),
    not_in_message="there is no caption in the message to edit",
)


def format_text(
    text: str,
    parse_mode: str | None,
    entities: object,
    *,
    label: str,
    strict_ampersand: bool,
) -> tuple[str, list[JSON]]:
    """The visible text and its entities, from parse_mode or from explicit entities."""
    mode = (parse_mode or "").strip().lower()
    if mode == "html":
        try:
            return parse_html(text, strict_ampersand=strict_ampersand)
        except EntityParseError as exc:
            raise bad_request(f"can't parse entities: {exc}") from None
    if mode in ("markdown", "markdownv2"):
        # Markdown is not validated here; the text is taken verbatim.
        return text, []
    if mode:
        raise bad_request("unsupported parse_mode")
    if entities is None:
        return text, []
    if not isinstance(entities, list) or not all(isinstance(e, dict) for e in entities):
        raise bad_request(f"can't parse {label} JSON object")
    return text, copy.deepcopy(entities)


def check_text(text: str, field: TextField) -> str | None:
    """The visible text if Telegram accepts it (None: an empty caption); raises otherwise."""
    blank = not text.strip()
    if blank and field.required:
        raise bad_request("message text is empty")
    if utf16_len(text) > field.limit:
        raise bad_request(field.too_long)
    return None if blank else text


def command_entities(text: str) -> list[JSON]:
    """The bot_command entity Telegram marks at the start of a user's text, if any."""
    match = USER_COMMAND_RE.match(text)
    if match is None:
        return []
    return [{"type": "bot_command", "offset": 0, "length": utf16_len(match.group(0))}]


# --------------------------------------------------------------------------------------
# Reply markup
# --------------------------------------------------------------------------------------


def reply_markup(markup: object) -> JSON | None:
    """A validated copy of a reply_markup value; an inline keyboard loses its empty rows."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request(REPLY_MARKUP_ERROR)
    if "inline_keyboard" not in markup:
        if not any(k in markup for k in ("keyboard", "remove_keyboard", "force_reply")):
            raise bad_request(REPLY_MARKUP_ERROR)
        return copy.deepcopy(markup)
    rows = markup["inline_keyboard"]
    bad_rows = 'field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays'
    if not isinstance(rows, list):
        raise bad_request(bad_rows)
    clean_rows: list[list[JSON]] = []
    for row in rows:
        if not isinstance(row, list):
            raise bad_request(bad_rows)
        clean_rows.append([inline_button(b) for b in row])
    return {"inline_keyboard": [r for r in clean_rows if r]}


def inline_button(button: object) -> JSON:
    """A validated copy of one InlineKeyboardButton, without its null fields."""
    prefix = "can't parse inline keyboard button: "
    if not isinstance(button, dict):
        raise bad_request(prefix + "InlineKeyboardButton must be an Object")
    text = button.get("text")
    if not isinstance(text, str) or not text.strip():
        raise bad_request(prefix + 'Field "text" must be of type String')
    actions = [k for k in BUTTON_ACTION_FIELDS if button.get(k) is not None]
    if not actions:
        raise bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise bad_request(prefix + "exactly one of the optional fields must be used")
    if "callback_data" in actions:
        data = button["callback_data"]
        size = len(data.encode("utf-8")) if isinstance(data, str) else 0
        if not 1 <= size <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in actions and (not isinstance(button["url"], str) or not button["url"].strip()):
        raise bad_request("BUTTON_URL_INVALID")
    return {k: copy.deepcopy(v) for k, v in button.items() if v is not None}


def message_markup(markup: JSON | None) -> JSON | None:
    """What a Message carries: only a non-empty inline keyboard is stored on it."""
    if markup is not None and markup.get("inline_keyboard"):
        return markup
    return None


# --------------------------------------------------------------------------------------
# Bot settings, callback answers, chat actions, updates
# --------------------------------------------------------------------------------------


def bot_commands(commands: object) -> list[JSON]:
    """The validated BotCommand list of setMyCommands (a leading '/' is dropped)."""
    if not isinstance(commands, list):
        raise bad_request(COMMANDS_ERROR)
    if len(commands) > MAX_COMMANDS:
        raise bad_request("too many commands specified")
    clean: list[JSON] = []
    for item in commands:
        if not isinstance(item, dict):
            raise bad_request("can't parse BotCommand JSON object")
        command = str(item.get("command", "")).removeprefix("/")
        description = str(item.get("description", ""))
        if not COMMAND_RE.fullmatch(command):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(description) <= MAX_COMMAND_DESCRIPTION_LENGTH:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        clean.append({"command": command, "description": description})
    return clean


def command_scope(scope: object) -> JSON:
    """A copy of a BotCommandScope of a known type (the default scope when absent).

    A scope naming a chat (:data:`CHAT_SCOPES`) still has its chat and user to be checked.
    """
    if scope is None:
        return {"type": "default"}
    if not isinstance(scope, dict) or not isinstance(scope.get("type"), str):
        raise bad_request(SCOPE_ERROR)
    if scope["type"] not in GLOBAL_SCOPES | CHAT_SCOPES:
        raise bad_request("wrong BotCommandScope type specified")
    return dict(scope)


def check_description(kind: str, text: str) -> None:
    """setMyDescription (``kind="description"``) and setMyShortDescription's length limit."""
    if len(text) > DESCRIPTION_LIMITS[kind]:
        raise bad_request(f"{kind.replace('_', ' ')} is too long")


def check_callback_answer(text: str | None) -> None:
    if text is not None and len(text) > MAX_CALLBACK_ANSWER_LENGTH:
        raise bad_request("MESSAGE_TOO_LONG")


def check_chat_action(action: str | None) -> None:
    if action is None:
        raise bad_request("action is empty")
    if action not in CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")


def allowed_updates(value: object, current: frozenset[str]) -> frozenset[str]:
    """The update types to deliver after a getUpdates call with ``allowed_updates=value``.

    Telegram remembers the list; an empty list means "the default set", none keeps the last.
    """
    if not isinstance(value, list):
        return current
    if not all(isinstance(kind, str) for kind in value):
        raise bad_request(ALLOWED_UPDATES_ERROR)
    return frozenset(value) if value else DEFAULT_ALLOWED_UPDATES
