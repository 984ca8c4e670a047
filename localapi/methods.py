"""The Bot API methods that write messages: send, edit, delete, pin, answer callback queries.

Each method reads its parameters in the order Telegram checks them, so the first broken one is
the one reported; send-like calls then pass the flood limits before anything changes, and every
success is logged as a :class:`~localapi.records.SentRecord`.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

from aiohttp import web

from localapi.errors import NOT_MODIFIED, QUERY_TOO_OLD, bad_request
from localapi.files import StoredFile
from localapi.limits import FloodControl
from localapi.model import JSON, Chat, strip_reply
from localapi.params import Handler, Params, Upload
from localapi.records import SentRecord
from localapi.rules import (
    CAPTION,
    REPLY_MARKUP_ERROR,
    REPLY_PARAMETERS_ERROR,
    TEXT,
    TextField,
    as_bool,
    canonical,
    check_callback_answer,
    check_text,
    format_text,
    message_markup,
    reply_markup,
)
from localapi.world import World

# Puts a photo or document on a new message; returns the file's (name, bytes) for the record.
Attach = Callable[[JSON], tuple[str, bytes] | None]
# Reads a media parameter (raising for a bad one) and returns how to attach it.
Media = Callable[[Params], Attach]


class MessageMethods:
    """sendMessage, sendPhoto, sendDocument, editMessage*, deleteMessage, (un)pinChatMessage
    and answerCallbackQuery, acting on a :class:`World` under :class:`FloodControl`."""

    def __init__(self, world: World, flood: FloodControl) -> None:
        self.world = world
        self.flood = flood
        # Real Telegram keeps an unescaped '&' literally; strict mode flags it (see parse_html).
        self.strict_ampersand = True

    def methods(self) -> dict[str, Handler]:
        return {
            "sendMessage": self.send_message,
            "sendPhoto": self.send_photo,
            "sendDocument": self.send_document,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "pinChatMessage": self.pin_chat_message,
            "unpinChatMessage": self.unpin_chat_message,
            "answerCallbackQuery": self.answer_callback_query,
        }

    # ------------------------------------------------------------------ sending

    async def send_message(self, params: Params, request: web.Request) -> JSON:
        return self._send("sendMessage", params, TEXT)

    async def send_photo(self, params: Params, request: web.Request) -> JSON:
        return self._send("sendPhoto", params, CAPTION, self._photo)

    async def send_document(self, params: Params, request: web.Request) -> JSON:
        return self._send("sendDocument", params, CAPTION, self._document)

    def _send(
        self, method: str, params: Params, field: TextField, media: Media | None = None
    ) -> JSON:
        """Send a text, or a photo or document (``media``) with a caption.

        Everything is checked first, in Telegram's order; then the flood limit counts the call
        and the message is built, stored and logged.
        """
        chat = self._chat(params)
        attach = media(params) if media is not None else None
        text, entities, raw = self._text(params, field)
        markup = self._markup(params)
        reply = self._reply_target(chat, params)
        thread_id = params.get_int("message_thread_id")
        self.flood.check(chat)
        msg = self.world.new_message(chat)
        if chat.type == "channel":
            msg["sender_chat"] = self.world.chat_object(chat)
        else:
            msg["from"] = self.world.bot_user
        if thread_id is not None:
            msg["message_thread_id"] = thread_id
        if reply is not None:
            msg["reply_to_message"] = strip_reply(reply)
        stored_markup = message_markup(markup)
        if stored_markup is not None:
            msg["reply_markup"] = stored_markup
        document = attach(msg) if attach is not None else None
        field.put(msg, text, entities)
        self.world.store_bot_message(chat, msg)
        record = SentRecord.of(
            method,
            chat.id,
            msg,
            parse_mode=params.get_str("parse_mode"),
            raw_text=raw,
            reply_markup=markup,
            document=document,
            photo="photo" in msg,
        )
        self.world.log_sent(record)
        return copy.deepcopy(msg)

    def _photo(self, params: Params) -> Attach:
        upload, known = self._file(params, "photo")

        def attach(msg: JSON) -> tuple[str, bytes] | None:
            if known is not None and known.kind == "photo":
                msg["photo"] = [copy.deepcopy(known.json)]
            else:
                msg["photo"] = self.world.files.photo_sizes(upload.data if upload else b"")
            # Only uploaded bytes are recorded: a photo sent by file_id or URL has none.
            return (upload.filename, upload.data) if upload is not None and upload.data else None

        return attach

    def _document(self, params: Params) -> Attach:
        upload, known = self._file(params, "document")

        def attach(msg: JSON) -> tuple[str, bytes]:
            if known is not None:
                document, data = copy.deepcopy(known.json), known.data
            else:
                assert upload is not None
                document, data = self.world.files.document(upload), upload.data
            msg["document"] = document
            return str(document.get("file_name") or ""), data

        return attach

    def _file(self, params: Params, kind: str) -> tuple[Upload | None, StoredFile | None]:
        """The uploaded file, or the stored file a file_id refers to."""
        value = params.get_file(kind)
        if value is None:
            raise bad_request(f"there is no {kind} in the request")
        if isinstance(value, Upload):
            if not value.data:
                raise bad_request("file must be non-empty")
            return value, None
        known = self.world.files.get(value)
        if known is not None:
            return None, known
        if value.startswith(("http://", "https://")):
            filename = value.rstrip("/").rsplit("/", 1)[-1] or kind
            return Upload(filename, None, b""), None
        raise bad_request("wrong file identifier/HTTP URL specified")

    # ------------------------------------------------------------------ editing

    async def edit_message_text(self, params: Params, request: web.Request) -> JSON:
        return self._edit("editMessageText", params, TEXT)

    async def edit_message_caption(self, params: Params, request: web.Request) -> JSON:
        return self._edit("editMessageCaption", params, CAPTION)

    async def edit_message_reply_markup(self, params: Params, request: web.Request) -> JSON:
        return self._edit("editMessageReplyMarkup", params, None)

    def _edit(self, method: str, params: Params, field: TextField | None) -> JSON:
        """Edit a bot message's text or caption (``field``) and its keyboard, or the keyboard.

        Omitting reply_markup removes the keyboard, exactly like Telegram does.
        """
        chat, msg = self._editable(params)
        text: str | None = None
        entities: list[JSON] = []
        raw: str | None = None
        if field is not None:
            if not any(k in msg for k in field.carriers):
                raise bad_request(field.not_in_message)
            text, entities, raw = self._text(params, field)
        markup = message_markup(self._markup(params))
        same = canonical(msg.get("reply_markup")) == canonical(markup)
        if field is not None:
            same = (
                same
                and msg.get(field.name) == text
                and canonical(msg.get(field.entities, [])) == canonical(entities)
            )
        if same:
            raise bad_request(NOT_MODIFIED)
        self.flood.check(chat)
        if field is not None:
            field.put(msg, text, entities)
        if markup is None:
            msg.pop("reply_markup", None)
        else:
            msg["reply_markup"] = markup
        msg["edit_date"] = int(time.time())
        record = SentRecord.of(
            method,
            chat.id,
            msg,
            parse_mode=params.get_str("parse_mode") if field is not None else None,
            raw_text=raw,
            reply_markup=markup,
        )
        self.world.log_sent(record)
        return copy.deepcopy(msg)

    def _editable(self, params: Params) -> tuple[Chat, JSON]:
        if params.get("inline_message_id") is not None:
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self._chat(params)
        message_id = self._message_id(params)
        msg = chat.messages.get(message_id)
        if msg is None:
            raise bad_request("message to edit not found")
        if message_id not in chat.bot_message_ids:
            raise bad_request("message can't be edited")
        return chat, msg

    # ------------------------------------------------------------------ deleting and pinning

    async def delete_message(self, params: Params, request: web.Request) -> bool:
        chat = self._chat(params)
        message_id = self._message_id(params)
        if message_id not in chat.messages:
            raise bad_request("message to delete not found")
        own = message_id in chat.bot_message_ids
        # Bots delete their own messages anywhere, incoming ones in private chats, others as admin.
        if not own and chat.type != "private" and chat.bot_status != "administrator":
            raise bad_request("message can't be deleted")
        del chat.messages[message_id]
        if message_id in chat.pinned:
            chat.pinned.remove(message_id)
        self.world.log_sent(SentRecord.of("deleteMessage", chat.id, None, message_id=message_id))
        return True

    async def pin_chat_message(self, params: Params, request: web.Request) -> bool:
        chat = self._chat(params)
        message_id = self._message_id(params)
        _check_pin_rights(chat)
        if message_id not in chat.messages:
            raise bad_request("message to pin not found")
        self.flood.check(chat)
        if message_id in chat.pinned:
            chat.pinned.remove(message_id)
        chat.pinned.append(message_id)
        self.world.log_sent(SentRecord.of("pinChatMessage", chat.id, None, message_id=message_id))
        return True

    async def unpin_chat_message(self, params: Params, request: web.Request) -> bool:
        chat = self._chat(params)
        _check_pin_rights(chat)
        message_id = params.get_int("message_id")
        if message_id is None:
            message_id = chat.pinned[-1] if chat.pinned else None
        elif message_id not in chat.pinned:
            raise bad_request("message to unpin not found")
        if message_id is not None:
            chat.pinned.remove(message_id)
            self.world.log_sent(
                SentRecord.of("unpinChatMessage", chat.id, None, message_id=message_id)
            )
        return True

    # ------------------------------------------------------------------ callback queries

    async def answer_callback_query(self, params: Params, request: web.Request) -> bool:
        query_id = params.get_str("callback_query_id")
        if query_id is None or not self.world.open_query(query_id):
            raise bad_request(QUERY_TOO_OLD)
        text = params.get_str("text")
        check_callback_answer(text)
        answer = {
            "text": text,
            "show_alert": params.get_bool("show_alert"),
            "url": params.get_str("url"),
            "cache_time": params.get_int("cache_time"),
        }
        self.world.answer_query(query_id, answer)
        return True

    # ------------------------------------------------------------------ reading parameters

    def _chat(self, params: Params) -> Chat:
        return self.world.target_chat(params.get("chat_id"))

    @staticmethod
    def _message_id(params: Params) -> int:
        message_id = params.get_int("message_id")
        if message_id is None:
            raise bad_request("message identifier is not specified")
        return message_id

    def _text(self, params: Params, field: TextField) -> tuple[str | None, list[JSON], str | None]:
        """The visible text or caption, its entities and the text as sent.

        An absent caption is (None, [], None); an absent text is an empty one (refused).
        """
        raw = params.get_str(field.name)
        if raw is None:
            if not field.required:
                return None, [], None
            raw = ""
        label = field.label
        entities = params.get_json(field.entities, f"can't parse {label} JSON object")
        text, parsed = format_text(
            raw,
            params.get_str("parse_mode"),
            entities,
            label=label,
            strict_ampersand=self.strict_ampersand,
        )
        return check_text(text, field), parsed, raw

    def _markup(self, params: Params) -> JSON | None:
        return reply_markup(params.get_json("reply_markup", REPLY_MARKUP_ERROR))

    def _reply_target(self, chat: Chat, params: Params) -> JSON | None:
        """The message replied to (reply_parameters or the older reply_to_message_id)."""
        reply_parameters = params.get_json("reply_parameters", REPLY_PARAMETERS_ERROR)
        target_chat = chat
        if reply_parameters is not None:
            if not isinstance(reply_parameters, dict):
                raise bad_request(REPLY_PARAMETERS_ERROR)
            message_id = reply_parameters.get("message_id")
            allow = as_bool(reply_parameters.get("allow_sending_without_reply", False))
            other = reply_parameters.get("chat_id")
            if other is not None and str(other) != str(chat.id):
                target_chat = self.world.target_chat(other, writing=False)
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
            raise bad_request("message to be replied not found")
        return target


def _check_pin_rights(chat: Chat) -> None:
    if chat.type == "private":
        return
    allowed = chat.bot_can_pin
    if chat.type == "channel":
        allowed = allowed and chat.bot_status == "administrator"
    if not allowed:
        raise bad_request("not enough rights to manage pinned messages in the chat")
