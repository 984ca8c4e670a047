"""The world's data model and how it looks on the wire.

The type aliases for Telegram objects and statuses, the :class:`Chat` record the world keeps per
chat, Telegram's service accounts, and pure functions that turn a chat or a membership into the
Chat and ChatMember objects the frameworks parse.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Literal

# A Telegram object as it travels in JSON (Message, User, Chat, MessageEntity, …).
JSON = dict[str, Any]
ChatType = Literal["private", "group", "supergroup", "channel"]
BotStatus = Literal["member", "administrator", "left", "kicked"]
MemberStatus = Literal["creator", "administrator", "member", "restricted", "left", "kicked"]

CHAT_TYPES: tuple[ChatType, ...] = ("private", "group", "supergroup", "channel")

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


@dataclass
class Chat:
    """One chat of the world: its members, the bot's standing in it and its messages."""

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

    @property
    def is_group(self) -> bool:
        """A group or supergroup: where the per-group flood limit applies."""
        return self.type in ("group", "supergroup")

    @property
    def bot_present(self) -> bool:
        """The bot is in the chat (a blocked or removed bot gets no updates from it)."""
        return self.bot_status in ("member", "administrator")


def chat_object(chat: Chat, users: dict[int, JSON]) -> JSON:
    """The Chat object: a private chat is named after its user."""
    data: JSON = {"id": chat.id, "type": chat.type}
    if chat.type == "private":
        user = users[chat.id]
        data["first_name"] = user["first_name"]
        for key in ("last_name", "username"):
            if key in user:
                data[key] = user[key]
    else:
        data["title"] = chat.title
        if chat.username:
            data["username"] = chat.username
    return data


def status_of(chat: Chat, user_id: int, bot_id: int) -> MemberStatus:
    """A user's (or the bot's) membership status in a chat."""
    if user_id == bot_id:
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


_ADMIN_RIGHTS: JSON = {
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
    "can_pin_messages": True,
    "can_manage_topics": False,
}
_RESTRICTIONS: JSON = {
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


def member_object(chat: Chat, user: JSON, status: MemberStatus, *, bot_id: int) -> JSON:
    """A ChatMember with every field PTB and aiogram require for that status."""
    member: JSON = {"status": status, "user": dict(user)}
    if status == "creator":
        member["is_anonymous"] = False
    elif status == "administrator":
        member.update(_ADMIN_RIGHTS)
        if user["id"] == bot_id:
            member["can_pin_messages"] = chat.bot_can_pin
        if chat.type == "channel":
            member["can_post_messages"] = True
            member["can_edit_messages"] = True
    elif status == "restricted":
        member.update(_RESTRICTIONS)
    elif status == "kicked":
        member["until_date"] = 0
    return member


def strip_reply(message: JSON) -> JSON:
    """A copy for nesting as reply_to_message: Telegram never nests replies twice."""
    nested = copy.deepcopy(message)
    nested.pop("reply_to_message", None)
    return nested
