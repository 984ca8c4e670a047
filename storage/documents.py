"""The repository over any store engine: `DocumentRepository`.

It implements `storage.repository.Repository` against `storage.engine.DocumentStore` only, so
the same code runs on the durable journal (`storage.tinydb_store.TinyRepository`) and in memory
(`storage.memory.MemoryRepository`). This module holds cases, groups, people and drafts; the
calendar, the outbox, the handled updates and the postbox are mixed in from their modules.

Case lookups other than by id go through indexes that the cases table keeps current on every
write: by (building, state), by reporter, by origin message, by the months a case was
received and closed in, and by the person responsible; people are indexed by @username.
`all_cases` reads every case, one at a time as the caller goes, which is what a full export
needs anyway.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Hashable, Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from storage.calendar_tables import CalendarTables
from storage.codec import from_doc, to_doc
from storage.engine import DocumentStore
from storage.handled_tables import HandledTables
from storage.outbox_tables import OutboxTables
from storage.postbox_tables import PostboxTables
from storage.records import Case, Draft, Group, Person, State

if TYPE_CHECKING:
    from storage.repository import Repository


def _place(doc: Mapping[str, Any]) -> list[Hashable]:
    return [(doc.get("building_id"), doc.get("state"))]


def _reporter(doc: Mapping[str, Any]) -> list[Hashable]:
    reporter = doc.get("reporter_id")
    return [] if reporter is None else [reporter]


def _month(doc: Mapping[str, Any]) -> list[Hashable]:
    """The months a case was received and closed in, as stored ("YYYY-MM" in each time's own
    offset): what the registers, the reports and the export ask about."""
    times = (doc.get("created"), doc.get("closed_at"))
    return [when[:7] for when in times if isinstance(when, str)]


def _months(start: datetime, end: datetime) -> Iterator[str]:
    """Every "YYYY-MM" a time in `[start, end)` can be stored under, in any UTC offset."""
    first = (start - timedelta(days=1)).astimezone(UTC)
    last = (end + timedelta(days=1)).astimezone(UTC)
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        yield f"{year:04d}-{month:02d}"
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _within(when: datetime, start: datetime | None, end: datetime | None) -> bool:
    return (start is None or when >= start) and (end is None or when < end)


def _assignee(doc: Mapping[str, Any]) -> list[Hashable]:
    assignee = doc.get("assignee_id")
    return [] if assignee is None else [assignee]


def _username(doc: Mapping[str, Any]) -> list[Hashable]:
    username = doc.get("username")
    return [username.lower()] if isinstance(username, str) and username else []


def _origin(doc: Mapping[str, Any]) -> list[Hashable]:
    chat, message = doc.get("origin_chat_id"), doc.get("origin_message_id")
    return [] if chat is None or message is None else [(chat, message)]


def _named(doc: Mapping[str, Any]) -> list[Hashable]:
    """Everyone a case names by Telegram id: its reporter, the neighbours who pressed "me
    too", whoever took a step (what `/forgetme` asks about)."""
    ids: list[Hashable] = []
    if doc.get("reporter_id") is not None:
        ids.append(doc["reporter_id"])
    ids += [supporter for supporter in doc.get("supporters", ()) if supporter]
    ids += [step["actor_id"] for step in doc.get("timeline", ()) if step.get("actor_id")]
    return ids


_FINISHED = (State.CLOSED.value, State.DECLINED.value)


def _personal(doc: Mapping[str, Any]) -> list[Hashable]:
    """A closed or declined case not anonymised since it was closed, by its day of closing
    ("YYYY-MM-DD" in its own offset): what the retention sweep asks about."""
    closed = doc.get("closed_at")
    if doc.get("state") not in _FINISHED or not isinstance(closed, str):
        return []
    done = doc.get("anonymised")
    if isinstance(done, str) and datetime.fromisoformat(done) >= datetime.fromisoformat(closed):
        return []
    return [closed[:10]]


class DocumentRepository(CalendarTables, OutboxTables, HandledTables, PostboxTables):
    """Cases, groups, people, drafts, the calendar, the outbox, handled updates and the
    postbox, in the tables of one store engine."""

    def __init__(self, store: DocumentStore) -> None:
        self._store = store
        self._cases = store.table("cases")
        self._groups = store.table("groups")
        self._people = store.table("people")
        self._drafts = store.table("drafts")
        indexes = self._cases.index(
            _place, _reporter, _origin, _month, _assignee, _named, _personal
        )
        self._by_place, self._by_reporter, self._by_origin, self._by_month = indexes[:4]
        self._by_assignee, self._by_person, self._holding = indexes[4:]
        (self._by_username,) = self._people.index(_username)
        self._last_case_id = self._cases.last_id()
        self._last_draft_id = self._drafts.last_id()
        self._open_calendar()
        self._open_outbox()
        self._open_handled()
        self._open_postbox()
        self._trim_handled()
        # Every indexed table is open: the journal rewrites an outdated table of contents in
        # the background now, so the next start is fast again.
        store.opened()

    def next_case_id(self) -> int:
        # Cases are never deleted, so the highest stored id is the counter: no extra write
        # (and fsync) before the acknowledgement. An id handed out but never saved is reused,
        # which is harmless, as nobody was told about it.
        self._last_case_id += 1
        return self._last_case_id

    def save_case(self, case: Case, *, sync: bool = True) -> None:
        with contextlib.nullcontext() if sync else self._store.deferred():
            self._cases.put(case.id, to_doc(case))

    def flush(self) -> None:
        self._store.flush()

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        try:
            with self._store.transaction(durable=durable):
                yield
        except BaseException:
            self._forget_outgoing()  # undone: what was decoded may be what was undone
            raise

    def get_case(self, case_id: int) -> Case | None:
        doc = self._cases.get(case_id)
        return from_doc(Case, doc) if doc is not None else None

    def case_texts(self, case_ids: Iterable[int]) -> list[tuple[int, str, bool, int]]:
        return [
            (case_id, doc["text"], doc.get("published", True), len(doc.get("supporters") or ()))
            for case_id, doc in self._cases.many(case_ids)
        ]

    def case_by_origin(self, chat_id: int, message_id: int) -> Case | None:
        # One report makes one case; should two ever share an origin, the newest wins.
        found = self._by_origin.ids((chat_id, message_id))
        return self.get_case(max(found)) if found else None

    def cases(
        self,
        *,
        building_id: int | None = None,
        reporter_id: int | None = None,
        states: Iterable[State] | None = None,
        assignee_id: int | None = None,
    ) -> list[Case]:
        if building_id is None and reporter_id is None and states is None and assignee_id is None:
            return list(self.all_cases())
        found: set[int] | None = None
        if reporter_id is not None:
            found = self._by_reporter.ids(reporter_id)
        if assignee_id is not None:
            assigned = self._by_assignee.ids(assignee_id)
            found = assigned if found is None else found & assigned
        if building_id is not None or states is not None:
            placed = set(self.case_ids(building_id=building_id, states=states))
            found = placed if found is None else found & placed
        assert found is not None
        return [from_doc(Case, doc) for _, doc in self._cases.many(sorted(found))]

    def case_ids(
        self, *, building_id: int | None = None, states: Iterable[State] | None = None
    ) -> list[int]:
        wanted = {State(s).value for s in states} if states is not None else None
        placed: set[int] = set()
        for key in self._by_place:
            building, state = cast(tuple[int, str], key)
            if (building_id is None or building == building_id) and (
                wanted is None or state in wanted
            ):
                placed |= self._by_place.ids(key)
        return sorted(placed)

    def cases_received(self, start: datetime | None, end: datetime | None) -> list[Case]:
        # The reports, the registers and the export ask for one period: through the index by
        # month they read that month (about 2,700 cases at 100,000), not the whole ledger.
        return [c for c in self._in_months(start, end) if _within(c.created, start, end)]

    def cases_active(self, start: datetime | None, end: datetime | None) -> list[Case]:
        return [
            c
            for c in self._in_months(start, end)
            if _within(c.created, start, end)
            or (c.closed_at is not None and _within(c.closed_at, start, end))
        ]

    def _in_months(self, start: datetime | None, end: datetime | None) -> Iterable[Case]:
        """The cases received or closed in the months around `[start, end)` (all: unbounded)."""
        if start is None or end is None:
            return self.all_cases()
        ids: set[int] = set()
        for month in _months(start, end):
            ids |= self._by_month.ids(month)
        return (from_doc(Case, doc) for _, doc in self._cases.many(sorted(ids)))

    def cases_naming(self, user_id: int) -> list[Case]:
        ids = sorted(self._by_person.ids(user_id))
        return [from_doc(Case, doc) for _, doc in self._cases.many(ids)]

    def cases_to_anonymise(self, closed_before: datetime, limit: int) -> list[Case]:
        # Days as stored, each in its own offset: a day of slack, then the exact test.
        last = (closed_before + timedelta(days=1)).astimezone(UTC).date().isoformat()
        ids: set[int] = set()
        for day in self._holding:
            if str(day) <= last:
                ids |= self._holding.ids(day)
        found: list[Case] = []
        for _, doc in self._cases.many(sorted(ids)):
            case = from_doc(Case, doc)
            if case.closed_at is not None and case.closed_at < closed_before:
                found.append(case)
                if len(found) >= limit:
                    break
        return found

    def all_cases(self) -> Iterator[Case]:
        # Decoded one by one as the caller goes: a full export never holds every case at once.
        return (from_doc(Case, doc) for _, doc in self._cases.items())

    def get_group(self, chat_id: int) -> Group | None:
        doc = self._groups.get(self._gid(chat_id))
        return from_doc(Group, doc) if doc is not None and doc["chat_id"] == chat_id else None

    @staticmethod
    def _gid(chat_id: int) -> int:
        # Ids are positive integers (TinyDB's); group chat ids are negative.
        return abs(chat_id)

    def save_group(self, group: Group, *, sync: bool = True) -> None:
        with contextlib.nullcontext() if sync else self._store.deferred():
            self._groups.put(self._gid(group.chat_id), to_doc(group))

    def groups(self, *, active_only: bool = True) -> list[Group]:
        found = [from_doc(Group, doc) for _, doc in self._groups.items()]
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
        self._groups.delete(self._gid(old_chat_id))
        self._migrate_calendar(old_chat_id, new_chat_id)
        self._migrate_postbox(old_chat_id, new_chat_id)
        group.chat_id = new_chat_id
        group.wall_message_id = None
        group.wall_digest = None
        self.save_group(group)
        for _, doc in self._people.items():
            if old_chat_id in doc.get("buildings", []):
                person = from_doc(Person, doc)
                person.buildings = [
                    new_chat_id if b == old_chat_id else b for b in person.buildings
                ]
                self.save_person(person)

    def get_person(self, user_id: int) -> Person | None:
        doc = self._people.get(user_id)
        return from_doc(Person, doc) if doc is not None else None

    def save_person(self, person: Person) -> None:
        self._people.put(person.id, to_doc(person))

    def person_by_username(self, username: str) -> Person | None:
        # Telegram lets a username pass to someone else: should two records still hold it
        # (its first holder not seen since), the lower id is taken.
        for person_id in sorted(self._by_username.ids(username.lower())):
            person = self.get_person(person_id)
            if person is not None and (person.username or "").lower() == username.lower():
                return person
        return None

    def forget_person(self, user_id: int) -> None:
        # Drafts are few (each waits for one press), so a scan finds a person's.
        drafts = [doc_id for doc_id, doc in self._drafts.items() if doc.get("user_id") == user_id]
        if drafts:
            self._drafts.delete(*drafts)
        self._people.delete(user_id)

    def next_draft_id(self) -> int:
        # Drafts are removed when used, so the stored ones cannot tell which ids were given
        # out before a restart; the clock in milliseconds keeps ids from coming back, so an
        # old building button never picks up someone's new draft.
        self._last_draft_id = max(self._last_draft_id + 1, time.time_ns() // 1_000_000)
        return self._last_draft_id

    def pop_draft(self, draft_id: int, user_id: int) -> Draft | None:
        doc = self._drafts.get(draft_id)
        if doc is None or doc["user_id"] != user_id:
            return None
        self._drafts.delete(draft_id)
        return from_doc(Draft, doc)

    def save_draft(self, draft: Draft) -> None:
        self._drafts.put(draft.id, to_doc(draft))

    def compact(self, *, wait: bool = True) -> None:
        self._store.compact(wait=wait)

    def close(self) -> None:
        self._store.close()


if TYPE_CHECKING:

    def _implements(repo: DocumentRepository) -> Repository:
        return repo  # the type checker checks here that the whole protocol is implemented
