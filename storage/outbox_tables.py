"""The outbox's tables of the repository: broadcasts and one delivery record per recipient.

The outbox keeps every broadcast and delivery ever made (tens of thousands a year), so what
it asks goes through indexes, which the journal keeps with its snapshot so that opening reads
none of them: broadcasts by key and by whether they are unfinished, deliveries by broadcast.
`storage.documents.DocumentRepository` mixes this in and calls `_open_outbox`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from storage.codec import from_doc, to_doc
from storage.engine import DocumentStore
from storage.records import Broadcast, BroadcastState, Delivery


def _broadcast_key(doc: Mapping[str, Any]) -> list[Hashable]:
    return [doc["key"]] if doc.get("key") else []


def _unfinished(doc: Mapping[str, Any]) -> list[Hashable]:
    """Broadcasts still delivering, or finished without their report sent, are under True."""
    active = doc.get("state") == BroadcastState.ACTIVE.value
    return [True] if active or not doc.get("reported", True) else []


def _of_broadcast(doc: Mapping[str, Any]) -> list[Hashable]:
    return [doc["broadcast_id"]]


def _finished_on(doc: Mapping[str, Any]) -> list[Hashable]:
    """Broadcasts done with (delivered or skipped, and reported) by the day they ended
    ("YYYY-MM-DD" in its own offset): what the outbox's retention asks about."""
    if doc.get("state") == BroadcastState.ACTIVE.value or not doc.get("reported", True):
        return []
    ended = doc.get("done_at") or doc.get("created")
    return [str(ended)[:10]] if ended else []


class OutboxTables:
    """Broadcasts, and what happened to each of their recipients."""

    _store: DocumentStore

    def _open_outbox(self) -> None:
        self._broadcasts = self._store.table("broadcasts")
        self._deliveries = self._store.table("deliveries")
        self._broadcast_keys, self._unfinished, self._finished = self._broadcasts.index(
            _broadcast_key, _unfinished, _finished_on
        )
        (self._deliveries_of,) = self._deliveries.index(_of_broadcast)
        self._last_broadcast_id = self._broadcasts.last_id()
        self._last_delivery_id = self._deliveries.last_id()
        # Recipient -> delivery id of the broadcasts the outbox works on, read on first use.
        self._by_recipient: dict[int, dict[int, int]] = {}

    def next_broadcast_id(self) -> int:
        self._last_broadcast_id += 1
        return self._last_broadcast_id

    def save_broadcast(self, broadcast: Broadcast) -> None:
        self._broadcasts.put(broadcast.id, to_doc(broadcast))
        if broadcast.state is not BroadcastState.ACTIVE and broadcast.reported:
            self._by_recipient.pop(broadcast.id, None)  # done: nobody asks again

    def get_broadcast(self, broadcast_id: int) -> Broadcast | None:
        doc = self._broadcasts.get(broadcast_id)
        return from_doc(Broadcast, doc) if doc is not None else None

    def broadcast_by_key(self, key: str) -> Broadcast | None:
        found = self._broadcast_keys.ids(key)
        return self.get_broadcast(max(found)) if found else None

    def has_broadcast(self, key: str) -> bool:
        """Whether a broadcast with this key was ever made (no document is read)."""
        return bool(self._broadcast_keys.ids(key))

    def unfinished_broadcasts(self) -> list[Broadcast]:
        """Broadcasts still delivering, or finished without their report sent."""
        docs = self._broadcasts.many(sorted(self._unfinished.ids(True)))
        return [from_doc(Broadcast, doc) for _, doc in docs]

    def finished_broadcasts(self, before: datetime) -> Iterator[Broadcast]:
        """Broadcasts that ended before `before`, oldest first, read one at a time as the
        caller goes; the newest broadcast is never among them, so that no id is given out
        twice after a restart."""
        last = (before + timedelta(days=1)).astimezone(UTC).date().isoformat()
        ids: set[int] = set()
        for day in self._finished:
            if str(day) <= last:
                ids |= self._finished.ids(day)
        ids.discard(self._broadcasts.last_id())
        for _, doc in self._broadcasts.many(sorted(ids)):
            broadcast = from_doc(Broadcast, doc)
            if (broadcast.done_at or broadcast.created) < before:
                yield broadcast

    def delete_broadcast(self, broadcast_id: int) -> int:
        """Delete a broadcast and its delivery records; returns how many deliveries went."""
        deliveries = sorted(self._deliveries_of.ids(broadcast_id))
        if deliveries:
            self._deliveries.delete(*deliveries)
        self._broadcasts.delete(broadcast_id)
        self._by_recipient.pop(broadcast_id, None)
        return len(deliveries)

    def save_delivery(self, delivery: Delivery) -> None:
        if delivery.id == 0:
            self._last_delivery_id += 1
            delivery.id = self._last_delivery_id
        self._deliveries.put(delivery.id, to_doc(delivery))
        by_chat = self._by_recipient.get(delivery.broadcast_id)
        if by_chat is not None:
            by_chat[delivery.chat_id] = delivery.id

    def _recipients(self, broadcast_id: int) -> dict[int, int]:
        by_chat = self._by_recipient.get(broadcast_id)
        if by_chat is None:
            docs = self._deliveries.many(sorted(self._deliveries_of.ids(broadcast_id)))
            by_chat = self._by_recipient[broadcast_id] = {
                doc["chat_id"]: doc_id for doc_id, doc in docs
            }
        return by_chat

    def delivery(self, broadcast_id: int, chat_id: int) -> Delivery | None:
        """What happened to one recipient of a broadcast (None: nothing yet)."""
        doc_id = self._recipients(broadcast_id).get(chat_id)
        doc = self._deliveries.get(doc_id) if doc_id is not None else None
        return from_doc(Delivery, doc) if doc is not None else None

    def deliveries(self, broadcast_id: int) -> dict[int, Delivery]:
        """The recorded deliveries of a broadcast by recipient chat id."""
        docs = self._deliveries.many(sorted(self._deliveries_of.ids(broadcast_id)))
        return {doc["chat_id"]: from_doc(Delivery, doc) for _, doc in docs}
