"""The world behind the server, and its synchronous control API.

:class:`World` holds users, chats and their messages, the update queue, the files, the bot's
commands and descriptions, the callback queries, and what the bot sent and was refused.  Tests
and the demo drive it directly (``add_user``, ``user_message``, ``press``,
``migrate_to_supergroup`` …) and observe it (``messages``, ``pinned``, ``wait_for`` …); the
Bot API methods act on it through the helpers at the end.

All of it lives on the event loop that runs the server; call it from that loop's thread.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from localapi.errors import bad_request, forbidden, migrated
from localapi.files import FileStore
from localapi.html import utf16_len
from localapi.model import (
    CHANNEL_BOT,
    CHAT_TYPES,
    GROUP_ANONYMOUS_BOT,
    JSON,
    BotStatus,
    Chat,
    ChatType,
    MemberStatus,
    chat_object,
    member_object,
    status_of,
    strip_reply,
)
from localapi.records import ErrorRecord, Pulse, SentRecord
from localapi.rules import CAPTION, TEXT, as_int, command_entities
from localapi.updates import UpdateQueue


class World:
    """Users, chats, messages and updates, with the control API tests use."""

    def __init__(self, *, bot_id: int, bot_username: str, bot_name: str) -> None:
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.bot_name = bot_name

        self.users: dict[int, JSON] = {}
        self.chats: dict[int, Chat] = {}
        self.sent: list[SentRecord] = []
        self.errors: list[ErrorRecord] = []
        self.commands: dict[tuple[str, str], list[JSON]] = {}
        self.callback_answers: dict[str, JSON] = {}
        self.descriptions: dict[tuple[str, str], str] = {}
        # BotFather's /setprivacy: on (the default), the bot gets only commands, replies to it
        # and service messages in groups where it is no administrator. getMe tells it.
        self.privacy_mode = True

        self.pulse = Pulse()
        self.updates = UpdateQueue(self.pulse)
        self.files = FileStore()
        self._queries: dict[str, bool] = {}  # callback query id -> answered
        self._query_ids = itertools.count(4_000_000_000_000_000_001)

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

    # ------------------------------------------------------------------ users & chats

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
        if type not in CHAT_TYPES:
            raise ValueError(f"unknown chat type {type!r}")
        chat = Chat(
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
        self.pulse.notify()
        return self.chat_object(chat)

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

    # ------------------------------------------------------------------ user activity

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
        mentions: Sequence[int] = (),
        media_group_id: str | None = None,
        location: tuple[float, float] | None = None,
        venue: tuple[float, float, str, str] | None = None,
        voice: bool = False,
        video: bool = False,
    ) -> JSON:
        """A user posts a message: stores it, queues a ``message`` update, returns it.

        Writing to the bot in a private chat that does not exist yet creates it
        (the user started the bot). ``mentions`` are users named in the text by a
        ``text_mention`` (picked from the list, as for users without a username): the first
        occurrence of each one's name in the text is marked.

        A photo of an album carries the album's ``media_group_id`` (send each photo of it
        with the same one; the caption goes on one). ``location`` (latitude, longitude) and
        ``venue`` (latitude, longitude, title, address) share a place; ``voice`` and
        ``video`` send one (a new file_id each), with ``caption`` if given.
        """
        chat = self.chats.get(chat_id)
        if chat is None and chat_id == user_id:
            self.add_chat(chat_id, "private")
            chat = self.chats[chat_id]
        if chat is None:
            raise KeyError(f"unknown chat {chat_id}; call add_chat first")
        if chat.type == "private" and chat.bot_status != "member":
            chat.bot_status = "member"  # the user (re)started the bot
        media = photo or voice or video
        if text is None and not media and location is None and venue is None:
            raise ValueError("a user message needs text, a photo, a voice, a video or a place")

        msg = self.new_message(chat)
        if chat.type == "channel":
            msg["sender_chat"] = self.chat_object(chat)
        elif sender_chat_id is not None:
            sender = self._require_chat(sender_chat_id)
            msg["from"] = dict(GROUP_ANONYMOUS_BOT if sender_chat_id == chat_id else CHANNEL_BOT)
            msg["sender_chat"] = self.chat_object(sender)
        else:
            msg["from"] = dict(self.user_object(user_id))
        if message_thread_id is not None:
            msg["message_thread_id"] = message_thread_id
        if reply_to is not None:
            target = chat.messages.get(reply_to)
            if target is None:
                raise KeyError(f"message {reply_to} not found in chat {chat_id}")
            msg["reply_to_message"] = strip_reply(target)
        if media_group_id is not None:
            msg["media_group_id"] = media_group_id
        if venue is not None:
            where = {"latitude": venue[0], "longitude": venue[1]}
            msg["venue"] = {"location": where, "title": venue[2], "address": venue[3]}
            msg["location"] = dict(where)
        elif location is not None:
            msg["location"] = {"latitude": location[0], "longitude": location[1]}
        if voice:
            msg["voice"] = self.files.media("voice", "audio/ogg")
        if video:
            msg["video"] = self.files.media("video", "video/mp4")
        if photo:
            msg["photo"] = self.files.photo_sizes(b"")
        if media:
            if caption:
                CAPTION.put(msg, caption, self._entities(caption, mentions))
        elif text is not None:
            TEXT.put(msg, text, self._entities(text, mentions))
        self._post(chat, msg, "channel_post" if chat.type == "channel" else "message")
        return copy.deepcopy(msg)

    def _entities(self, text: str, mentions: Sequence[int]) -> list[JSON]:
        """The entities Telegram gives a user's text: its command, the people mentioned."""
        entities = command_entities(text)
        for user_id in mentions:
            user = self.user_object(user_id)
            name = " ".join(filter(None, (user.get("first_name"), user.get("last_name"))))
            at = text.find(name)
            if not name or at < 0:
                raise ValueError(f"the name of user {user_id} is not in the text")
            entities.append(
                {
                    "type": "text_mention",
                    "offset": utf16_len(text[:at]),
                    "length": utf16_len(name),
                    "user": dict(user),
                }
            )
        return sorted(entities, key=lambda e: e["offset"])

    def open_link(self, user_id: int, payload: str) -> JSON:
        """The user opens ``t.me/<bot>?start=<payload>``: Telegram sends ``/start <payload>``
        in the private chat (starting it if need be)."""
        return self.user_message(user_id, user_id, f"/start {payload}")

    def deliver_again(self, message: JSON) -> None:
        """Queue a message update once more under a new update_id (a duplicate delivery)."""
        self.updates.put("message", message)

    def edit_user_message(self, chat_id: int, message_id: int, text: str) -> JSON:
        """A user edits a text message: queues ``edited_message``, returns the new state."""
        chat = self._require_chat(chat_id)
        msg = chat.messages.get(message_id)
        if msg is None or message_id in chat.bot_message_ids:
            raise KeyError(f"no user message {message_id} in chat {chat_id}")
        TEXT.put(msg, text, command_entities(text))
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
        msg = self.new_message(chat)
        msg["from"] = dict(self.user_object(user_id))
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
        self._post(chat, msg, "message")
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
            "from": dict(self.user_object(user_id)),
            "message": copy.deepcopy(msg),
            "chat_instance": str(-(abs(chat_id) * 7919 + 104729)),
            "data": data,
        }
        self.updates.put("callback_query", query)
        return query_id

    def add_bot_to_chat(self, chat_id: int, by_user_id: int, *, as_admin: bool = False) -> None:
        """Someone adds the bot: queues ``my_chat_member`` and, in groups, a join message."""
        chat = self._require_chat(chat_id)
        if chat.type == "private":
            raise ValueError("use user_message to start a private chat")
        actor = self.user_object(by_user_id)
        self.set_bot_status(chat, actor, "administrator" if as_admin else "member")
        if chat.type != "channel":
            msg = self.new_message(chat)
            msg["from"] = dict(actor)
            msg["new_chat_members"] = [self.bot_user]
            self._post(chat, msg, "message")

    def remove_bot_from_chat(self, chat_id: int, by_user_id: int) -> None:
        """Someone kicks the bot: queues ``my_chat_member`` (→ kicked); sends get 403 afterwards."""
        chat = self._require_chat(chat_id)
        self.set_bot_status(chat, self.user_object(by_user_id), "kicked")

    def migrate_to_supergroup(self, chat_id: int, new_chat_id: int) -> JSON:
        """Upgrade a group: queues both migration service messages, returns the new chat."""
        old = self._require_chat(chat_id)
        if old.type != "group":
            raise ValueError(f"chat {chat_id} is a {old.type}, only groups migrate")
        if new_chat_id in self.chats:
            raise ValueError(f"chat {new_chat_id} already exists")
        new = Chat(
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
        goodbye = self.new_message(old)
        goodbye["from"] = (
            dict(self.users[actor_id]) if actor_id is not None else dict(GROUP_ANONYMOUS_BOT)
        )
        goodbye["migrate_to_chat_id"] = new_chat_id
        self._post(old, goodbye, "message")
        old.migrated_to = new_chat_id
        hello = self.new_message(new)
        hello["from"] = dict(GROUP_ANONYMOUS_BOT)
        hello["sender_chat"] = self.chat_object(new)
        hello["migrate_from_chat_id"] = chat_id
        self._post(new, hello, "message")
        return self.chat_object(new)

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
        return copy.deepcopy(self.updates.pending)

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
            changed = self.pulse.changed
            for record in self.sent[checked:]:
                if record.seq > after_seq and predicate(record):
                    return record
            checked = len(self.sent)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(self._describe_timeout(timeout, after_seq))
            await self.pulse.wait(changed, remaining)

    def _describe_timeout(self, timeout: float, after_seq: int) -> str:
        lines = [f"no matching bot call within {timeout}s (after seq {after_seq}); sent:"]
        shown = [r for r in self.sent if r.seq > after_seq][-20:]
        lines += [r.describe() for r in shown] or ["  (nothing)"]
        lines += [f"  error: {e.method} {e.code} {e.description}" for e in self.errors[-5:]]
        return "\n".join(lines)

    # ------------------------------------------------------------------ for the Bot API methods

    def target_chat(self, raw: object, *, writing: bool = True) -> Chat:
        """The chat a bot call names, checked for existence, access and (writes) migration."""
        if raw is None or raw == "":
            raise bad_request("chat_id is empty")
        chat: Chat | None = None
        if isinstance(raw, str) and raw.strip().startswith("@"):
            wanted = raw.strip()[1:].lower()
            chat = next(
                (c for c in self.chats.values() if (c.username or "").lower() == wanted), None
            )
            if chat is None:
                raise bad_request("chat not found")
        else:
            chat_id = as_int(raw)
            if chat_id is None:
                raise bad_request("chat not found")
            chat = self.chats.get(chat_id)
            if chat is None:
                if chat_id in self.users:
                    raise forbidden("bot can't initiate conversation with a user")
                raise bad_request("chat not found")
        if writing and chat.migrated_to is not None:
            raise migrated(chat.migrated_to)
        if chat.type == "private":
            if chat.bot_status == "kicked":
                raise forbidden("bot was blocked by the user")
            if chat.bot_status == "left":
                raise forbidden("bot can't initiate conversation with a user")
        elif chat.bot_status == "kicked":
            raise forbidden(f"bot was kicked from the {chat.type} chat")
        elif chat.bot_status == "left":
            raise forbidden(f"bot is not a member of the {chat.type} chat")
        return chat

    def user_object(self, user_id: int) -> JSON:
        """The User object of a known user or of the bot; KeyError for an unknown user."""
        if user_id == self.bot_id:
            return self.bot_user
        self._require_user(user_id)
        return self.users[user_id]

    def chat_object(self, chat: Chat) -> JSON:
        return chat_object(chat, self.users)

    def status_of(self, chat: Chat, user_id: int) -> MemberStatus:
        return status_of(chat, user_id, self.bot_id)

    def member_object(self, chat: Chat, user_id: int) -> JSON:
        """The ChatMember of a user (or the bot) in a chat."""
        user = self.user_object(user_id)
        return member_object(chat, user, self.status_of(chat, user_id), bot_id=self.bot_id)

    def new_message(self, chat: Chat) -> JSON:
        """A Message skeleton with the chat's next id; nothing is stored yet."""
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return {"message_id": message_id, "date": int(time.time()), "chat": self.chat_object(chat)}

    def store_bot_message(self, chat: Chat, msg: JSON) -> None:
        chat.messages[msg["message_id"]] = msg
        chat.bot_message_ids.add(msg["message_id"])

    def log_sent(self, record: SentRecord) -> None:
        """Number a record of a successful call (the next ``seq``) and keep it."""
        record.seq = self.last_seq + 1
        self.sent.append(record)
        self.pulse.notify()

    def set_bot_status(self, chat: Chat, actor: JSON, status: BotStatus) -> None:
        """Change the bot's status in a chat, queueing the ``my_chat_member`` update."""
        old, chat.bot_status = chat.bot_status, status
        update = {
            "chat": self.chat_object(chat),
            "from": dict(actor),
            "date": int(time.time()),
            "old_chat_member": member_object(chat, self.bot_user, old, bot_id=self.bot_id),
            "new_chat_member": member_object(chat, self.bot_user, status, bot_id=self.bot_id),
        }
        self.updates.put("my_chat_member", update)

    def open_query(self, query_id: str | None) -> bool:
        """Whether a callback query exists and is not answered yet."""
        return query_id is not None and not self._queries.get(query_id, True)

    def answer_query(self, query_id: str, answer: JSON) -> None:
        self._queries[query_id] = True
        self.callback_answers[query_id] = answer
        self.pulse.notify()

    # ------------------------------------------------------------------ internals

    def _require_user(self, user_id: int) -> int:
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}; call add_user first")
        return user_id

    def _require_chat(self, chat_id: int) -> Chat:
        chat = self.chats.get(chat_id)
        if chat is None:
            raise KeyError(f"unknown chat {chat_id}; call add_chat first")
        return chat

    def _user_ref(self, value: int | JSON) -> JSON:
        if isinstance(value, dict):
            return copy.deepcopy(value)
        return dict(self.user_object(value))

    def _post(self, chat: Chat, msg: JSON, kind: str) -> None:
        """Store a message from someone other than the bot and queue its update."""
        chat.messages[msg["message_id"]] = msg
        self._queue_for_chat(chat, kind, msg)

    def _queue_for_chat(self, chat: Chat, kind: str, payload: JSON) -> None:
        # A bot that is not in a chat (or is blocked) gets no updates from it.
        if chat.bot_present:
            self.updates.put(kind, payload)
