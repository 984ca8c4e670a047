"""Calendar and outbox tables of the TinyDB repository: events, reminders, broadcasts.

Kept apart from the case tables so the two can evolve separately; `TinyRepository` mixes this
in and calls `_open_calendar` once its database is open.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timedelta
from typing import Any

from tinydb.table import Document

from storage.codec import from_doc, to_doc
from storage.records import (
    Broadcast,
    BroadcastState,
    CalendarEvent,
    Delivery,
    Reminder,
)
from storage.table import JournalDB, JournalTable


def _event_day(doc: Mapping[str, Any]) -> list[Hashable]:
    """Where an event is found by time: its day (one-off) or "weekly"; cancelled: nowhere."""
    if doc.get("cancelled"):
        return []
    return ["weekly"] if doc.get("weekday") is not None else [str(doc["start"])[:10]]


def _reminder_day(doc: Mapping[str, Any]) -> list[Hashable]:
    return [] if doc.get("cancelled") else [str(doc["due"])[:10]]


def _made_by(doc: Mapping[str, Any]) -> list[Hashable]:
    return [doc["origin"]] if doc.get("origin") else []


def _broadcast_key(doc: Mapping[str, Any]) -> list[Hashable]:
    return [doc["key"]] if doc.get("key") else []


def _unfinished(doc: Mapping[str, Any]) -> list[Hashable]:
    """Broadcasts still delivering, or finished without their report sent, are under True."""
    active = doc.get("state") == BroadcastState.ACTIVE.value
    return [True] if active or not doc.get("reported", True) else []


def _of_broadcast(doc: Mapping[str, Any]) -> list[Hashable]:
    return [doc["broadcast_id"]]


def _update_id(doc: Mapping[str, Any]) -> list[Hashable]:
    return [doc["u"]]


def _days_since(since: datetime) -> str:
    # Days are as stored (each time in its own offset), so a day of slack on the early side.
    return (since - timedelta(days=1)).date().isoformat()


# How many handled update ids are remembered across restarts.
HANDLED_KEPT = 5000


class CalendarTables:
    """Events, reminders and the outbox (broadcasts with one delivery record per recipient)."""

    _db: JournalDB

    def _open_calendar(self) -> None:
        self._events: JournalTable = self._db.table("events", cache_size=0)
        self._reminders: JournalTable = self._db.table("reminders", cache_size=0)
        # The calendar keeps every past event and reminder; the scheduler's questions are
        # about what lies ahead, so they go through indexes by day instead of a full scan.
        self._event_days, self._event_origins = self._events.add_indexes(_event_day, _made_by)
        self._reminder_days, self._reminder_origins = self._reminders.add_indexes(
            _reminder_day, _made_by
        )
        self._broadcasts: JournalTable = self._db.table("broadcasts", cache_size=0)
        self._deliveries: JournalTable = self._db.table("deliveries", cache_size=0)
        self._handled: JournalTable = self._db.table("handled", cache_size=0)
        # An index, not a set of its own: a transaction that is undone takes its marks along.
        (self._handled_ids,) = self._handled.add_indexes(_update_id)
        self._last_handled_doc = self._handled.max_id()
        if len(self._handled) > 2 * HANDLED_KEPT:
            # Telegram redelivers only the latest unconfirmed updates; older marks can go.
            ids = sorted(int(key) for key in self._handled.documents())
            self._handled.remove(doc_ids=ids[:-HANDLED_KEPT])
        self._last_event_id = self._events.max_id()
        self._last_reminder_id = self._reminders.max_id()
        # The outbox keeps every broadcast and delivery ever made (tens of thousands a year):
        # indexes, kept with the snapshot, so that opening reads none of them.
        self._broadcast_keys, self._unfinished = self._broadcasts.add_indexes(
            _broadcast_key, _unfinished
        )
        (self._deliveries_of,) = self._deliveries.add_indexes(_of_broadcast)
        self._last_broadcast_id = self._broadcasts.max_id()
        self._last_delivery_id = self._deliveries.max_id()
        # Recipient -> delivery id of the broadcasts the outbox works on, read on first use.
        self._by_recipient: dict[int, dict[int, int]] = {}

    # ---------------------------------------------------------------- events and reminders

    def next_event_id(self) -> int:
        self._last_event_id += 1
        return self._last_event_id

    def save_event(self, event: CalendarEvent) -> None:
        self._events.upsert(Document(to_doc(event), doc_id=event.id))

    def get_event(self, event_id: int) -> CalendarEvent | None:
        doc = self._events.get(doc_id=event_id)
        return from_doc(CalendarEvent, dict(doc)) if doc else None

    def events(self, *, include_cancelled: bool = False) -> list[CalendarEvent]:
        found = [from_doc(CalendarEvent, dict(d)) for d in self._events.all()]
        return sorted(
            (e for e in found if include_cancelled or e.cancelled is None), key=lambda e: e.id
        )

    def events_from(self, since: datetime) -> list[CalendarEvent]:
        """Events not cancelled that are weekly or start from about `since` on (a day early
        at most), by id."""
        first = _days_since(since)
        ids: set[int] = set()
        for day in self._event_days:
            if day == "weekly" or str(day) >= first:
                ids |= self._event_days.ids(day)
        return [e for e in map(self.get_event, sorted(ids)) if e is not None]

    def event_by_origin(self, origin: str) -> CalendarEvent | None:
        found = self._event_origins.ids(origin)
        return self.get_event(min(found)) if found else None

    def next_reminder_id(self) -> int:
        self._last_reminder_id += 1
        return self._last_reminder_id

    def save_reminder(self, reminder: Reminder) -> None:
        self._reminders.upsert(Document(to_doc(reminder), doc_id=reminder.id))

    def get_reminder(self, reminder_id: int) -> Reminder | None:
        doc = self._reminders.get(doc_id=reminder_id)
        return from_doc(Reminder, dict(doc)) if doc else None

    def reminders(self, *, include_cancelled: bool = False) -> list[Reminder]:
        found = [from_doc(Reminder, dict(d)) for d in self._reminders.all()]
        return sorted(
            (r for r in found if include_cancelled or r.cancelled is None), key=lambda r: r.id
        )

    def reminders_from(
        self, since: datetime, *, skip: Callable[[int], bool] | None = None
    ) -> list[Reminder]:
        """Reminders not cancelled that fall due from about `since` on (a day early at most);
        ids for which `skip` says so are left out without being read."""
        first = _days_since(since)
        ids: set[int] = set()
        for day in self._reminder_days:
            if str(day) >= first:
                ids |= self._reminder_days.ids(day)
        if skip is not None:
            ids = {i for i in ids if not skip(i)}
        return [r for r in map(self.get_reminder, sorted(ids)) if r is not None]

    def reminder_by_origin(self, origin: str) -> Reminder | None:
        found = self._reminder_origins.ids(origin)
        return self.get_reminder(min(found)) if found else None

    # ---------------------------------------------------------------- the outbox

    def next_broadcast_id(self) -> int:
        self._last_broadcast_id += 1
        return self._last_broadcast_id

    def save_broadcast(self, broadcast: Broadcast) -> None:
        self._broadcasts.upsert(Document(to_doc(broadcast), doc_id=broadcast.id))
        if broadcast.state is not BroadcastState.ACTIVE and broadcast.reported:
            self._by_recipient.pop(broadcast.id, None)  # done: nobody asks again

    def get_broadcast(self, broadcast_id: int) -> Broadcast | None:
        doc = self._broadcasts.get(doc_id=broadcast_id)
        return from_doc(Broadcast, dict(doc)) if doc else None

    def broadcast_by_key(self, key: str) -> Broadcast | None:
        found = self._broadcast_keys.ids(key)
        return self.get_broadcast(max(found)) if found else None

    def has_broadcast(self, key: str) -> bool:
        """Whether a broadcast with this key was ever made (no document is read)."""
        return bool(self._broadcast_keys.ids(key))

    def unfinished_broadcasts(self) -> list[Broadcast]:
        """Broadcasts still delivering, or finished without their report sent."""
        found = (self.get_broadcast(b) for b in sorted(self._unfinished.ids(True)))
        return [b for b in found if b is not None]

    def save_delivery(self, delivery: Delivery) -> None:
        if delivery.id == 0:
            self._last_delivery_id += 1
            delivery.id = self._last_delivery_id
        self._deliveries.upsert(Document(to_doc(delivery), doc_id=delivery.id))
        by_chat = self._by_recipient.get(delivery.broadcast_id)
        if by_chat is not None:
            by_chat[delivery.chat_id] = delivery.id

    def _recipients(self, broadcast_id: int) -> dict[int, int]:
        by_chat = self._by_recipient.get(broadcast_id)
        if by_chat is None:
            docs = self._deliveries.documents().many(
                str(i) for i in sorted(self._deliveries_of.ids(broadcast_id))
            )
            by_chat = self._by_recipient[broadcast_id] = {
                doc["chat_id"]: int(doc_id) for doc_id, doc in docs
            }
        return by_chat

    def delivery(self, broadcast_id: int, chat_id: int) -> Delivery | None:
        """What happened to one recipient of a broadcast (None: nothing yet)."""
        doc_id = self._recipients(broadcast_id).get(chat_id)
        doc = self._deliveries.get(doc_id=doc_id) if doc_id is not None else None
        return from_doc(Delivery, dict(doc)) if doc is not None else None

    def deliveries(self, broadcast_id: int) -> dict[int, Delivery]:
        """The recorded deliveries of a broadcast by recipient chat id."""
        docs = self._deliveries.documents().many(
            str(i) for i in sorted(self._deliveries_of.ids(broadcast_id))
        )
        return {doc["chat_id"]: from_doc(Delivery, doc) for _, doc in docs}

    def _migrate_calendar(self, old_chat_id: int, new_chat_id: int) -> None:
        """Point events and reminders of a group that became a supergroup at its new id."""
        for event in self.events(include_cancelled=True):
            touched = old_chat_id in event.groups or event.created_in == old_chat_id
            event.groups = [new_chat_id if g == old_chat_id else g for g in event.groups]
            if event.created_in == old_chat_id:
                event.created_in = new_chat_id
            for person in (*event.going, *event.waitlist):
                if person.chat_id == old_chat_id:
                    person.chat_id = new_chat_id
                    touched = True
            if touched:
                self.save_event(event)
        for reminder in self.reminders():
            if reminder.chat_id == old_chat_id:
                reminder.chat_id = new_chat_id
                self.save_reminder(reminder)

    # ---------------------------------------------------------------- handled updates

    def was_handled(self, update_id: int) -> bool:
        return bool(self._handled_ids.ids(update_id))

    def mark_handled(self, update_id: int) -> None:
        """Remember durably that an update was handled, so a redelivery is skipped."""
        if self.was_handled(update_id):
            return
        self._last_handled_doc += 1
        self._handled.insert(Document({"u": update_id}, doc_id=self._last_handled_doc))
