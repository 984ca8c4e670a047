"""The postbox table of the repository: messages decided but not yet delivered.

A message is written in the same transaction as the change that decided it and deleted once
it went out, so the table holds only what is waiting: after a restart, whatever is in it is
delivered. An index by (chat, priority) gives each chat's next message without a scan, and
the decoded messages are kept (a lane looks at its chat's waiting messages before every send,
and in a burst hundreds wait): what this table writes updates them, and a transaction that is
undone forgets them all (`_forget_outgoing`), so they never differ from the documents.
`storage.documents.DocumentRepository` mixes this in and calls `_open_postbox`.
"""

from __future__ import annotations

import copy
from collections.abc import Hashable, Mapping
from typing import Any

from storage.codec import from_doc, to_doc
from storage.engine import DocumentStore
from storage.records import Outgoing, Priority


def _lane(doc: Mapping[str, Any]) -> list[Hashable]:
    return [(doc["chat_id"], doc["priority"])]


class PostboxTables:
    """Outgoing messages, by chat and priority."""

    _store: DocumentStore

    def _open_postbox(self) -> None:
        self._outgoing = self._store.table("outgoing")
        (self._lanes,) = self._outgoing.index(_lane)
        self._last_outgoing_id = self._outgoing.last_id()
        self._decoded_outgoing: dict[int, Outgoing] = {}

    def _forget_outgoing(self) -> None:
        """Drop the decoded messages (a transaction was undone under them)."""
        self._decoded_outgoing.clear()

    def next_outgoing_id(self) -> int:
        self._last_outgoing_id += 1
        return self._last_outgoing_id

    def save_outgoing(self, message: Outgoing) -> None:
        self._decoded_outgoing.pop(message.id, None)
        self._outgoing.put(message.id, to_doc(message))
        self._decoded_outgoing[message.id] = copy.copy(message)

    def delete_outgoing(self, message_id: int) -> None:
        self._decoded_outgoing.pop(message_id, None)
        self._outgoing.delete(message_id)

    def get_outgoing(self, message_id: int) -> Outgoing | None:
        known = self._decoded_outgoing.get(message_id)
        if known is None:
            doc = self._outgoing.get(message_id)
            if doc is None:
                return None
            known = self._decoded_outgoing[message_id] = from_doc(Outgoing, doc)
        return copy.copy(known)  # the caller may change it; what is kept is what is stored

    def waiting_outgoing(self, chat_id: int) -> list[Outgoing]:
        found: list[Outgoing] = []
        for message_id in self.outgoing_ids(chat_id):
            known = self._decoded_outgoing.get(message_id)
            if known is None:
                doc = self._outgoing.get(message_id)
                if doc is None:
                    continue
                known = self._decoded_outgoing[message_id] = from_doc(Outgoing, doc)
            found.append(known)
        return found

    def outgoing_ids(self, chat_id: int, priority: Priority | None = None) -> list[int]:
        found: list[int] = []
        for level in Priority if priority is None else (priority,):
            found += sorted(self._lanes.ids((chat_id, level.value)))
        return found

    def outgoing_chats(self) -> set[int]:
        return {int(key[0]) for key in self._lanes if self._lanes.ids(key)}  # type: ignore[index]

    def _migrate_postbox(self, old_chat_id: int, new_chat_id: int) -> None:
        """Waiting messages of a group that became a supergroup go to its new id.

        The new supergroup starts a new message history: replies go out without their target,
        and edits or pins of the old messages can no longer be made.
        """
        for message_id in self.outgoing_ids(old_chat_id):
            message = self.get_outgoing(message_id)
            if message is None:
                continue
            if message.message_id is not None:
                self.delete_outgoing(message_id)
                continue
            message.chat_id, message.reply_to = new_chat_id, None
            self.save_outgoing(message)
