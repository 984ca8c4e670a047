"""The calendar's tables of the repository: events and reminders.

The calendar keeps every past event and reminder; the scheduler's questions are about what
lies ahead, so they go through indexes by day (and by the message that made each) instead of
a full scan. `storage.documents.DocumentRepository` mixes this in and calls `_open_calendar`
once its store is open.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from datetime import datetime, timedelta
from typing import Any

from storage.codec import from_doc, to_doc
from storage.engine import DocumentStore
from storage.records import CalendarEvent, Reminder


def _event_day(doc: Mapping[str, Any]) -> list[Hashable]:
    """Where an event is found by time: its day (one-off) or "weekly"; cancelled: nowhere."""
    if doc.get("cancelled"):
        return []
    return ["weekly"] if doc.get("weekday") is not None else [str(doc.get("start"))[:10]]


def _reminder_day(doc: Mapping[str, Any]) -> list[Hashable]:
    return [] if doc.get("cancelled") else [str(doc["due"])[:10]]


def _made_by(doc: Mapping[str, Any]) -> list[Hashable]:
    return [doc["origin"]] if doc.get("origin") else []


def _days_since(since: datetime) -> str:
    # Days are as stored (each time in its own offset), so a day of slack on the early side.
    return (since - timedelta(days=1)).date().isoformat()


class CalendarTables:
    """Events (with their RSVPs) and reminders."""

    _store: DocumentStore

    def _open_calendar(self) -> None:
        self._events = self._store.table("events")
        self._reminders = self._store.table("reminders")
        self._event_days, self._event_origins = self._events.index(_event_day, _made_by)
        self._reminder_days, self._reminder_origins = self._reminders.index(_reminder_day, _made_by)
        self._last_event_id = self._events.last_id()
        self._last_reminder_id = self._reminders.last_id()

    def next_event_id(self) -> int:
        self._last_event_id += 1
        return self._last_event_id

    def save_event(self, event: CalendarEvent) -> None:
        self._events.put(event.id, to_doc(event))

    def get_event(self, event_id: int) -> CalendarEvent | None:
        doc = self._events.get(event_id)
        return from_doc(CalendarEvent, doc) if doc is not None else None

    def events(self, *, include_cancelled: bool = False) -> list[CalendarEvent]:
        found = (from_doc(CalendarEvent, doc) for _, doc in self._events.items())
        return [e for e in found if include_cancelled or e.cancelled is None]

    def events_from(self, since: datetime) -> list[CalendarEvent]:
        """Events not cancelled that are weekly or start from about `since` on (a day early
        at most), by id."""
        first = _days_since(since)
        ids: set[int] = set()
        for day in self._event_days:
            if day == "weekly" or str(day) >= first:
                ids |= self._event_days.ids(day)
        return [from_doc(CalendarEvent, doc) for _, doc in self._events.many(sorted(ids))]

    def event_by_origin(self, origin: str) -> CalendarEvent | None:
        found = self._event_origins.ids(origin)
        return self.get_event(min(found)) if found else None

    def next_reminder_id(self) -> int:
        self._last_reminder_id += 1
        return self._last_reminder_id

    def save_reminder(self, reminder: Reminder) -> None:
        self._reminders.put(reminder.id, to_doc(reminder))

    def get_reminder(self, reminder_id: int) -> Reminder | None:
        doc = self._reminders.get(reminder_id)
        return from_doc(Reminder, doc) if doc is not None else None

    def reminders(self, *, include_cancelled: bool = False) -> list[Reminder]:
        found = (from_doc(Reminder, doc) for _, doc in self._reminders.items())
        return [r for r in found if include_cancelled or r.cancelled is None]

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
        return [from_doc(Reminder, doc) for _, doc in self._reminders.many(sorted(ids))]

    def reminder_by_origin(self, origin: str) -> Reminder | None:
        found = self._reminder_origins.ids(origin)
        return self.get_reminder(min(found)) if found else None

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
