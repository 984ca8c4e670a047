"""The repository on TinyDB, over the durable `JournalStorage`.

TinyDB is a single-owner store: one instance per data directory, used from the event loop's
thread only, so access is serialised by construction.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from tinydb import TinyDB
from tinydb.table import Document

from storage.calendar_tables import CalendarTables
from storage.codec import from_doc, to_doc
from storage.journal import JournalStorage
from storage.records import Case, Draft, Group, Person, State


class TinyRepository(CalendarTables):
    """Repository of cases, groups, people, drafts and the calendar in one TinyDB database."""

    def __init__(self, data_dir: str | Path, *, compact_every: int = 2000) -> None:
        self._db = TinyDB(
            Path(data_dir) / "echowall", storage=JournalStorage, compact_every=compact_every
        )
        self._cases = self._db.table("cases", cache_size=0)
        self._groups = self._db.table("groups", cache_size=0)
        self._people = self._db.table("people", cache_size=0)
        self._drafts = self._db.table("drafts", cache_size=0)
        self._open_calendar()
        # An index of where reports came from, so a redelivered update finds its case.
        self._origins: dict[tuple[int, int], int] = {}
        self._last_case_id = 0
        self._last_draft_id = max((d.doc_id for d in self._drafts.all()), default=0)
        for doc in self._cases.all():
            self._last_case_id = max(self._last_case_id, doc.doc_id)
            if doc.get("origin_chat_id") is not None:
                self._origins[(doc["origin_chat_id"], doc["origin_message_id"])] = doc.doc_id

    def next_case_id(self) -> int:
        # Cases are never deleted, so the highest stored id is the counter: no extra write
        # (and fsync) before the acknowledgement. An id handed out but never saved is reused,
        # which is harmless, as nobody was told about it.
        self._last_case_id += 1
        return self._last_case_id

    def save_case(self, case: Case) -> None:
        self._cases.upsert(Document(to_doc(case), doc_id=case.id))
        if case.origin_chat_id is not None and case.origin_message_id is not None:
            self._origins[(case.origin_chat_id, case.origin_message_id)] = case.id

    def get_case(self, case_id: int) -> Case | None:
        doc = self._cases.get(doc_id=case_id)
        return from_doc(Case, dict(doc)) if doc else None

    def case_by_origin(self, chat_id: int, message_id: int) -> Case | None:
        case_id = self._origins.get((chat_id, message_id))
        return self.get_case(case_id) if case_id is not None else None

    def cases(
        self,
        *,
        building_id: int | None = None,
        reporter_id: int | None = None,
        states: Iterable[State] | None = None,
    ) -> list[Case]:
        wanted = {State(s).value for s in states} if states is not None else None
        found = []
        for doc in self._cases.all():
            if building_id is not None and doc["building_id"] != building_id:
                continue
            if reporter_id is not None and doc["reporter_id"] != reporter_id:
                continue
            if wanted is not None and doc["state"] not in wanted:
                continue
            found.append(from_doc(Case, dict(doc)))
        found.sort(key=lambda c: c.id)
        return found

    def all_cases(self) -> Iterator[Case]:
        for doc in sorted(self._cases.all(), key=lambda d: d.doc_id):
            yield from_doc(Case, dict(doc))

    def get_group(self, chat_id: int) -> Group | None:
        doc = self._groups.get(doc_id=self._gid(chat_id))
        return from_doc(Group, dict(doc)) if doc and doc["chat_id"] == chat_id else None

    @staticmethod
    def _gid(chat_id: int) -> int:
        # TinyDB wants positive integer ids; group chat ids are negative.
        return abs(chat_id)

    def save_group(self, group: Group) -> None:
        self._groups.upsert(Document(to_doc(group), doc_id=self._gid(group.chat_id)))

    def groups(self, *, active_only: bool = True) -> list[Group]:
        found = [from_doc(Group, dict(d)) for d in self._groups.all()]
        return sorted((g for g in found if g.active or not active_only), key=lambda g: g.label)

    def migrate_group(self, old_chat_id: int, new_chat_id: int) -> None:
        group = self.get_group(old_chat_id)
        if group is None or self.get_group(new_chat_id) is not None:
            return
        moved = self.cases(building_id=old_chat_id)
        for case in moved:
            case.building_id = new_chat_id
            if case.origin_chat_id == old_chat_id:
                # Old messages stay reachable by Telegram only through the old id; the new
                # supergroup starts a new message history, so echoes go out without a reply.
                case.origin_chat_id = new_chat_id
                case.origin_message_id = None
                case.card_message_id = None
            self.save_case(case)
        self._origins = {k: v for k, v in self._origins.items() if k[0] != old_chat_id}
        self._groups.remove(doc_ids=[self._gid(old_chat_id)])
        self._migrate_calendar(old_chat_id, new_chat_id)
        group.chat_id = new_chat_id
        group.wall_message_id = None
        group.wall_digest = None
        self.save_group(group)
        for doc in self._people.all():
            if old_chat_id in doc.get("buildings", []):
                person = from_doc(Person, dict(doc))
                person.buildings = [
                    new_chat_id if b == old_chat_id else b for b in person.buildings
                ]
                self.save_person(person)

    def get_person(self, user_id: int) -> Person | None:
        doc = self._people.get(doc_id=user_id)
        return from_doc(Person, dict(doc)) if doc else None

    def save_person(self, person: Person) -> None:
        self._people.upsert(Document(to_doc(person), doc_id=person.id))

    def next_draft_id(self) -> int:
        # Drafts are removed when used, so the stored ones cannot tell which ids were given
        # out before a restart; the clock in milliseconds keeps ids from coming back, so an
        # old building button never picks up someone's new draft.
        self._last_draft_id = max(self._last_draft_id + 1, time.time_ns() // 1_000_000)
        return self._last_draft_id

    def pop_draft(self, draft_id: int, user_id: int) -> Draft | None:
        doc = self._drafts.get(doc_id=draft_id)
        if not doc or doc["user_id"] != user_id:
            return None
        self._drafts.remove(doc_ids=[draft_id])
        return from_doc(Draft, dict(doc))

    def save_draft(self, draft: Draft) -> None:
        self._drafts.upsert(Document(to_doc(draft), doc_id=draft.id))

    def close(self) -> None:
        self._db.close()
