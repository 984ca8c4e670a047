"""The Bot API methods about the bot itself and about chats, rather than messages.

getMe, logOut, close, the bot's commands and descriptions; getChat, getChatMember,
getChatAdministrators, getChatMemberCount, sendChatAction and leaveChat.
"""

from __future__ import annotations

import copy

from aiohttp import web

from localapi.errors import bad_request
from localapi.model import JSON, strip_reply
from localapi.params import Handler, Params
from localapi.rules import (
    CHAT_SCOPES,
    COMMANDS_ERROR,
    SCOPE_ERROR,
    as_int,
    bot_commands,
    canonical,
    check_chat_action,
    check_description,
    command_scope,
)
from localapi.world import World


class ChatMethods:
    """The bot's profile and the chat information methods, acting on a :class:`World`."""

    def __init__(self, world: World) -> None:
        self.world = world

    def methods(self) -> dict[str, Handler]:
        return {
            "getMe": self.get_me,
            "logOut": self.ok_true,
            "close": self.ok_true,
            "setMyCommands": self.set_my_commands,
            "getMyCommands": self.get_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "setMyDescription": self.set_my_description,
            "setMyShortDescription": self.set_my_short_description,
            "getChat": self.get_chat,
            "getChatMember": self.get_chat_member,
            "getChatAdministrators": self.get_chat_administrators,
            "getChatMemberCount": self.get_chat_member_count,
            "sendChatAction": self.send_chat_action,
            "leaveChat": self.leave_chat,
        }

    # ------------------------------------------------------------------ the bot

    async def ok_true(self, params: Params, request: web.Request) -> bool:
        return True

    async def get_me(self, params: Params, request: web.Request) -> JSON:
        return {
            **self.world.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.world.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def set_my_commands(self, params: Params, request: web.Request) -> bool:
        commands = bot_commands(params.get_json("commands", COMMANDS_ERROR))
        key = self._commands_key(params)
        if commands:
            self.world.commands[key] = commands
        else:
            self.world.commands.pop(key, None)
        self.world.pulse.notify()
        return True

    async def get_my_commands(self, params: Params, request: web.Request) -> list[JSON]:
        return copy.deepcopy(self.world.commands.get(self._commands_key(params), []))

    async def delete_my_commands(self, params: Params, request: web.Request) -> bool:
        self.world.commands.pop(self._commands_key(params), None)
        self.world.pulse.notify()
        return True

    def _commands_key(self, params: Params) -> tuple[str, str]:
        """(canonical scope, language code): where a command list is kept."""
        scope = command_scope(params.get_json("scope", SCOPE_ERROR))
        if scope["type"] in CHAT_SCOPES:
            chat = self.world.target_chat(scope.get("chat_id"), writing=False)
            scope["chat_id"] = chat.id
            if scope["type"] == "chat_member":
                user_id = as_int(scope.get("user_id"))
                if user_id is None or user_id not in self.world.users:
                    raise bad_request("user not found")
                scope["user_id"] = user_id
        return canonical(scope), params.get_str("language_code") or ""

    async def set_my_description(self, params: Params, request: web.Request) -> bool:
        return self._set_description("description", params)

    async def set_my_short_description(self, params: Params, request: web.Request) -> bool:
        return self._set_description("short_description", params)

    def _set_description(self, kind: str, params: Params) -> bool:
        text = params.get_str(kind) or ""
        check_description(kind, text)
        self.world.descriptions[(kind, params.get_str("language_code") or "")] = text
        return True

    # ------------------------------------------------------------------ chats

    async def get_chat(self, params: Params, request: web.Request) -> JSON:
        chat = self.world.target_chat(params.get("chat_id"), writing=False)
        info = self.world.chat_object(chat)
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
            info["pinned_message"] = strip_reply(chat.messages[chat.pinned[-1]])
        if chat.migrated_to is not None:
            info["migrate_to_chat_id"] = chat.migrated_to  # not a Bot API field; ignored by clients
        return info

    async def get_chat_member(self, params: Params, request: web.Request) -> JSON:
        chat = self.world.target_chat(params.get("chat_id"), writing=False)
        user_id = params.get_int("user_id")
        if user_id is None:
            raise bad_request("user_id is empty")
        if user_id != self.world.bot_id and user_id not in self.world.users:
            raise bad_request("user not found")
        return self.world.member_object(chat, user_id)

    async def get_chat_administrators(self, params: Params, request: web.Request) -> list[JSON]:
        world = self.world
        chat = world.target_chat(params.get("chat_id"), writing=False)
        if chat.type == "private":
            raise bad_request("there are no administrators in the private chat")
        ids: list[int] = []
        if chat.creator is not None and world.status_of(chat, chat.creator) == "creator":
            ids.append(chat.creator)
        ids += sorted(u for u in chat.admins if world.status_of(chat, u) == "administrator")
        if chat.bot_status == "administrator":
            ids.append(world.bot_id)
        return [world.member_object(chat, u) for u in ids]

    async def get_chat_member_count(self, params: Params, request: web.Request) -> int:
        chat = self.world.target_chat(params.get("chat_id"), writing=False)
        if chat.type == "private":
            return 2
        present = {
            u for u in chat.members if self.world.status_of(chat, u) not in ("left", "kicked")
        }
        return len(present) + (1 if chat.bot_present else 0)

    async def send_chat_action(self, params: Params, request: web.Request) -> bool:
        self.world.target_chat(params.get("chat_id"))
        check_chat_action(params.get_str("action"))
        return True

    async def leave_chat(self, params: Params, request: web.Request) -> bool:
        chat = self.world.target_chat(params.get("chat_id"), writing=False)
        if chat.type == "private":
            raise bad_request("chat member status can't be changed in private chats")
        self.world.set_bot_status(chat, self.world.bot_user, "left")
        return True
