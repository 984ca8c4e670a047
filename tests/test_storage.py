"""The repository on both backends (the durable journal and memory), the journal's files
(torn tails, compaction at any point, the table of contents), and TinyDB on an echowall data
directory (plain TinyDB over `JournalStorage`, against TinyDB's own JSON semantics)."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import tempfile
import threading
import zlib
from collections.abc import Iterator, MutableMapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tinydb import Query, TinyDB
from tinydb.storages import Storage
from tinydb.table import Document, Table

from storage import engine, journal, table
from storage.codec import from_doc, to_doc
from storage.documents import DocumentRepository
from storage.journal import JournalStorage
from storage.memory import MemoryRepository
from storage.records import (
    OPEN_STATES,
    Attachment,
    Broadcast,
    BroadcastKind,
    BroadcastState,
    CalendarEvent,
    Case,
    Channel,
    Delivery,
    DeliveryState,
    EventKind,
    Group,
    Outgoing,
    OutKind,
    Person,
    Pin,
    Priority,
    Reminder,
    State,
    Step,
)
from storage.tinydb_store import TinyRepository

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def make_case(repo: DocumentRepository, text: str, building: int = -1, message: int = 1) -> Case:
    case = Case(
        id=repo.next_case_id(),
        building_id=building,
        channel=Channel.GROUP,
        text=text,
        created=NOW,
        answer_due=NOW + timedelta(hours=24),
        reporter_id=7,
        reporter_name="张",
        origin_chat_id=building,
        origin_message_id=message,
        timeline=[Step(NOW, "report", 7, "张")],
    )
    repo.save_case(case)
    return case


class Backend:
    """Opens the repository under test, and opens it again as a restart would: from the
    same data directory, or for memory from a copy of the closed store's documents."""

    def __init__(self, kind: str, path: Path) -> None:
        self.kind = kind
        self.path = path
        self._opened: list[DocumentRepository] = []

    def open(self) -> DocumentRepository:
        repo: DocumentRepository
        if self.kind == "memory":
            repo = MemoryRepository()
        else:
            repo = TinyRepository(self.path, compact_every=2 if self.kind == "compacting" else None)
        self._opened.append(repo)
        return repo

    def reopen(self, repo: DocumentRepository) -> DocumentRepository:
        repo.close()
        if isinstance(repo, MemoryRepository):
            again: DocumentRepository = MemoryRepository(repo.store.copy())
        else:
            again = TinyRepository(self.path)
        self._opened.append(again)
        return again

    def close_all(self) -> None:
        for repo in self._opened:
            repo.close()


@pytest.fixture(params=["journal", "compacting", "memory"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The durable repository (as it runs, and compacting at every other write) and the one
    in memory, as TinyDB's conftest runs its tests on each of its storages."""
    opened = Backend(str(request.param), tmp_path)
    yield opened
    opened.close_all()


# -- the repository, on every backend -------------------------------------------------------
def test_round_trip_survives_reopen(backend: Backend) -> None:
    repo = backend.open()
    first = make_case(repo, "灯坏了")
    make_case(repo, "漏水", message=2)
    first.state, first.supporters = State.ACCEPTED, [3, 4]
    repo.save_case(first)
    repo.save_group(Group(-1, "1号楼", heads={5: "王"}))
    repo.save_person(Person(7, "张", "en", [-1]))
    again = backend.reopen(repo)
    assert again.get_case(1) == first
    assert [c.text for c in again.cases(building_id=-1)] == ["灯坏了", "漏水"]
    assert [c.id for c in again.cases(states=[State.ACCEPTED])] == [1]
    assert again.case_by_origin(-1, 2) is not None
    assert again.get_group(-1) == Group(-1, "1号楼", heads={5: "王"})
    assert again.get_person(7) == Person(7, "张", "en", [-1])
    assert again.next_case_id() == 3


def test_a_merged_case_round_trips_and_is_not_open(backend: Backend) -> None:
    """One problem, one case: the merged state, the links both ways and the offer's case."""
    repo = backend.open()
    kept, dup = make_case(repo, "水管爆了"), make_case(repo, "水管爆裂", message=2)
    dup.state, dup.merged_into, dup.similar_to = State.MERGED, kept.id, None
    kept.merged, kept.supporters, kept.similar_to = [dup.id], [8], None
    repo.save_case(dup)
    repo.save_case(kept)
    third = make_case(repo, "地下室水管爆了", message=3)
    third.similar_to = kept.id
    repo.save_case(third)
    again = backend.reopen(repo)
    assert again.get_case(dup.id) == dup and again.get_case(kept.id) == kept
    assert again.get_case(third.id) == third
    assert [c.id for c in again.cases(states=[State.MERGED])] == [dup.id]
    assert again.case_ids(building_id=-1, states=OPEN_STATES) == [kept.id, third.id]


def test_evidence_and_a_forums_tallies_round_trip(backend: Backend) -> None:
    """A case's photos, pin, attachment, fix photo and forum; an event's tallies."""
    repo = backend.open()
    case = make_case(repo, "路灯不亮")
    case.photos, case.album, case.fix_photo = ["p1", "p2"], "g1", "after"
    case.pin = Pin(31.2304, 121.4737, "东门", "林溪路1号")
    case.attachment = Attachment("voice", "v1")
    case.forum_id, case.forum_at, case.on_spot = 3, NOW, True
    repo.save_case(case)
    event = CalendarEvent(repo.next_event_id(), "座谈会", EventKind.FORUM, [-1], NOW, 7, -1)
    event.start = NOW
    event.tallied, event.tallies, event.minuted = ["202611181100"], {"202611181100": 42}, []
    repo.save_event(event)
    again = backend.reopen(repo)
    assert again.get_case(case.id) == case and again.get_event(event.id) == event
    old_event = to_doc(event)
    del old_event["tallied"], old_event["tallies"]
    assert "minuted" not in old_event, "an empty list at its default is left out"
    assert from_doc(CalendarEvent, old_event).tallies == {}


def test_fields_at_an_empty_default_are_left_out_and_read_back(backend: Backend) -> None:
    """A new case's document holds what is set; what is None or an empty list by default
    is left out, and reads back as its default; a store with the fields written out in full
    (as earlier versions wrote them) reads the same."""
    repo = backend.open()
    case = make_case(repo, "楼道灯坏了")
    doc = to_doc(case)
    assert "fix_photo" not in doc and "photos" not in doc and "rating" not in doc
    assert doc["state"] == State.NEW.value and doc["published"] is True, "set defaults stay"
    assert from_doc(Case, doc) == case
    full = {f.name: f.default for f in dataclasses.fields(Case) if f.default is None}
    full |= {f.name: [] for f in dataclasses.fields(Case) if f.default_factory is list}
    assert from_doc(Case, full | doc) == case
    repo.save_case(case)
    assert backend.reopen(repo).get_case(case.id) == case


def test_migrating_a_group_moves_its_cases(backend: Backend) -> None:
    repo = backend.open()
    repo.save_group(Group(-1, "1号楼", name="林溪苑1号楼"))
    make_case(repo, "问题")
    repo.save_person(Person(7, "张", buildings=[-1]))
    repo.migrate_group(-1, -1001)
    assert repo.get_group(-1) is None
    group = repo.get_group(-1001)
    assert group is not None and group.name == "林溪苑1号楼"
    assert [c.id for c in repo.cases(building_id=-1001)] == [1]
    assert repo.get_person(7).buildings == [-1001]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "reopen",
    ["closed", "abandoned", "without-contents", "older-contents", "changed-key-code", "memory"],
)
def test_indexed_queries_match_a_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reopen: str
) -> None:
    """Indexes are right however the store opens: from the snapshot's table of contents (after
    a close, or with journal records to replay after a crash), or by a scan when the contents
    are missing, belong to an older snapshot, or were made by key functions since changed."""
    rng = random.Random(3)
    repo: DocumentRepository = (
        MemoryRepository() if reopen == "memory" else TinyRepository(tmp_path, compact_every=50)
    )
    saved: dict[int, Case] = {}
    for i in range(300):
        if saved and rng.random() < 0.5:
            case = saved[rng.choice(list(saved))]
            case.state = rng.choice(list(State))
            case.building_id = rng.choice((-1, -2, -3))
            case.reporter_id = rng.choice((7, 8, None))
            case.assignee_id = rng.choice((201, 202, None))
            repo.save_case(case)
        else:
            case = make_case(repo, f"问题{i}", building=rng.choice((-1, -2, -3)), message=i)
        saved[case.id] = case
    if rng.random() < 2:
        repo.migrate_group(-2, -20)  # no group -2 stored: nothing moves
        repo.save_group(Group(-3, "3号楼"))
        repo.migrate_group(-3, -30)
        for case in saved.values():
            if case.building_id == -3:
                case.building_id = -30
                if case.origin_chat_id == -3:
                    case.origin_chat_id, case.origin_message_id = -30, None
                    case.card_message_id = None
    contents = tmp_path / "echowall.contents.jsonl"
    if isinstance(repo, MemoryRepository):
        repo.close()
    elif reopen == "abandoned":
        storage = repo.storage
        assert storage.stats()["records"] > 0  # some records are left to replay
        if storage._job is not None:
            storage._job.wait()
        for helper in storage._freeing:
            helper.join()
    else:
        older = contents.read_bytes()
        repo.close()
        if reopen == "without-contents":
            contents.unlink()
        elif reopen == "older-contents":
            contents.write_bytes(older)
        elif reopen == "changed-key-code":
            monkeypatch.setattr(table, "_fingerprint", lambda functions: "something else")
    scanned = []
    add = engine.TableIndex.add
    monkeypatch.setattr(
        engine.TableIndex, "add", lambda index, n, doc: (scanned.append(n), add(index, n, doc))
    )
    again: DocumentRepository
    if isinstance(repo, MemoryRepository):
        again = MemoryRepository(repo.store.copy())  # in memory, indexes are always built
    else:
        again = TinyRepository(tmp_path)
    try:
        assert bool(scanned) == (reopen not in ("closed", "abandoned"))
        if isinstance(again, TinyRepository) and scanned:
            # The contents are written anew, so the next start is fast again.
            assert again.storage.compacting
        everything = sorted(saved.values(), key=lambda c: c.id)
        assert list(again.all_cases()) == everything
        for building in (-1, -2, -3, -30, None):
            for reporter in (7, 8, None):
                for states in (None, OPEN_STATES, [State.CLOSED]):
                    expected = [
                        c
                        for c in everything
                        if (building is None or c.building_id == building)
                        and (reporter is None or c.reporter_id == reporter)
                        and (states is None or c.state in states)
                    ]
                    found = again.cases(building_id=building, reporter_id=reporter, states=states)
                    assert found == expected, (building, reporter, states)
        for assignee in (201, 202):
            for states in (None, OPEN_STATES):
                expected = [
                    c
                    for c in everything
                    if c.assignee_id == assignee and (states is None or c.state in states)
                ]
                assert again.cases(assignee_id=assignee, states=states) == expected
        for case in everything:
            if case.origin_message_id is not None:
                assert again.case_by_origin(-1, case.origin_message_id) == (
                    case if case.origin_chat_id == -1 else None
                )
        assert again.case_by_origin(-3, 1) is None
    finally:
        again.close()


def test_people_are_found_by_their_username_whatever_its_case(backend: Backend) -> None:
    repo = backend.open()
    repo.save_person(Person(201, "王楼长", username="Wang_LZ"))
    repo.save_person(Person(202, "赵楼长"))
    again = backend.reopen(repo)
    found = again.person_by_username("wang_lz")
    assert found is not None and found.id == 201
    assert again.person_by_username("zhao") is None
    # The username passes to someone else: the old holder, seen again without it, is no
    # longer found under it.
    again.save_person(Person(201, "王楼长", username="wang_new"))
    again.save_person(Person(203, "周师傅", username="wang_lz"))
    found = again.person_by_username("WANG_LZ")
    assert found is not None and found.id == 203
    assert again.person_by_username("wang_new") == Person(201, "王楼长", username="wang_new")


def test_cases_and_people_stored_before_their_new_fields_load_with_defaults(
    backend: Backend,
) -> None:
    """Documents written before a case had a referral, a person responsible, a check deadline
    and rating reminders (and a person a username) still load."""
    repo = backend.open()
    case = make_case(repo, "灯坏了")
    old_case = to_doc(case)
    for key in (
        "referral", "assignee_id", "assignee_name", "check_due", "reminded_for", "rating_asked",
        "rating_reminded", "merged_into", "merged", "similar_to", "photos", "album", "pin",
        "attachment", "fix_photo", "forum_id", "forum_at", "on_spot",
    ):  # fmt: skip
        old_case.pop(key, None)  # those at an empty default are not written anyway
    repo._cases.put(case.id, old_case)
    old_person = to_doc(Person(7, "张", "zh", [-1]))
    old_person.pop("username", None)
    old_person.pop("private", None)
    repo._people.put(7, old_person)
    again = backend.reopen(repo)
    loaded = again.get_case(case.id)
    assert loaded == case and loaded is not None and loaded.assignee_id is None
    assert loaded.deadline() == case.answer_due
    assert again.get_person(7) == Person(7, "张", "zh", [-1])
    assert again.cases(assignee_id=7) == []


def test_cases_received_or_closed_in_a_period_match_a_scan(backend: Backend) -> None:
    """The index by month finds exactly what a scan finds, across month ends and offsets."""
    rng = random.Random(11)
    shanghai = ZoneInfo("Asia/Shanghai")
    repo = backend.open()
    made = []
    for i in range(400):
        case = make_case(repo, f"问题{i}", message=i)
        # Up to 14 months back; some stored in local time, most in UTC.
        created = NOW - timedelta(minutes=rng.randrange(14 * 31 * 24 * 60))
        case.created = created.astimezone(shanghai) if i % 3 == 0 else created
        if i % 2:  # closed some days or months later
            case.state = State.CLOSED
            case.closed_at = min(NOW, created + timedelta(hours=rng.randrange(24 * 90)))
        repo.save_case(case)
        made.append(case)
    again = backend.reopen(repo)
    periods = [(None, None), (NOW - timedelta(days=3), None)]
    for months_back in range(15):
        year, month = divmod(2026 * 12 + 10 - months_back, 12)  # from November 2026 back
        start = datetime(year, month + 1, 1, tzinfo=shanghai)
        periods.append((start, start + timedelta(days=rng.choice((1, 7, 31)))))
    for start, end in periods:
        expected = [
            c
            for c in made
            if (start is None or c.created >= start) and (end is None or c.created < end)
        ]
        assert again.cases_received(start, end) == expected, (start, end)
        active = [
            c
            for c in made
            if c in expected
            or (
                c.closed_at is not None
                and (start is None or c.closed_at >= start)
                and (end is None or c.closed_at < end)
            )
        ]
        assert again.cases_active(start, end) == active, (start, end)
    assert sum(len(again.cases_received(s, e)) for s, e in periods[2:]) > 50


def test_a_transaction_is_seen_at_once_inside_and_kept_whole(backend: Backend) -> None:
    repo = backend.open()
    first = make_case(repo, "灯坏了", message=1)
    with repo.transaction():
        second = make_case(repo, "电梯", message=2)
        first.state = State.ACCEPTED
        repo.save_case(first)
        repo.save_group(Group(-1, "一号楼"))
        repo.mark_handled(77)
        # Inside, every read and index sees the writes already.
        assert repo.get_case(1) == first and repo.case_by_origin(-1, 2) == second
        assert repo.was_handled(77)
    again = backend.reopen(repo)
    assert again.get_case(1) == first and again.get_case(2) == second
    assert again.get_group(-1) is not None and again.was_handled(77)


def test_a_transaction_that_raises_leaves_nothing_behind(backend: Backend) -> None:
    repo = backend.open()
    journal_file = backend.path / "echowall.journal"
    first = make_case(repo, "灯坏了", message=1)
    journal_bytes = journal_file.read_bytes() if journal_file.exists() else None
    changed = repo.get_case(1)
    assert changed is not None
    with pytest.raises(RuntimeError), repo.transaction():
        changed.state, changed.building_id = State.CLOSED, -5
        repo.save_case(changed)
        make_case(repo, "新的", building=-5, message=9)
        repo.save_group(Group(-5, "五号楼"))
        repo.mark_handled(12)
        raise RuntimeError("the handler failed midway")
    # Memory, indexes and the journal are as they were before the transaction.
    assert repo.get_case(1) == first and repo.get_case(2) is None
    assert repo.case_by_origin(-5, 9) is None and repo.get_group(-5) is None
    assert [c.id for c in repo.cases(building_id=-1, states=OPEN_STATES)] == [1]
    assert repo.cases(building_id=-5) == [] and not repo.was_handled(12)
    if journal_bytes is not None and backend.kind == "journal":
        assert journal_file.read_bytes() == journal_bytes
    # The store goes on: the next transaction works and is durable.
    with repo.transaction():
        make_case(repo, "再来", message=3)
    again = backend.reopen(repo)
    assert [c.text for c in again.all_cases()] == ["灯坏了", "再来"]


def test_calendar_outbox_postbox_and_handled_updates_round_trip(backend: Backend) -> None:
    """The other tables, through the repository: what their indexes find after a reopen."""
    repo = backend.open()
    day = NOW + timedelta(days=2)
    event = CalendarEvent(
        repo.next_event_id(), "议事会", EventKind.FORUM, [-1], NOW, 7, -1, start=day, origin="m:1"
    )
    repo.save_event(event)
    reminder = Reminder(repo.next_reminder_id(), -1, "缴费", day, NOW, origin="m:2")
    repo.save_reminder(reminder)
    broadcast = Broadcast(repo.next_broadcast_id(), BroadcastKind.ANNOUNCE, [-1, -2], NOW, "k1")
    repo.save_broadcast(broadcast)
    repo.save_delivery(Delivery(0, broadcast.id, -1, DeliveryState.SENDING, NOW))
    message = Outgoing(repo.next_outgoing_id(), -1, OutKind.SEND, Priority.REPLY, NOW, "收到")
    repo.save_outgoing(message)
    repo.mark_handled(41)
    again = backend.reopen(repo)
    assert again.events_from(NOW) == [event] and again.event_by_origin("m:1") == event
    assert again.reminders_from(NOW) == [reminder] and again.reminder_by_origin("m:2") == reminder
    assert again.broadcast_by_key("k1") == broadcast and again.has_broadcast("k1")
    assert again.unfinished_broadcasts() == [broadcast]
    assert list(again.deliveries(broadcast.id)) == [-1]
    assert again.delivery(broadcast.id, -1) is not None
    assert again.outgoing_chats() == {-1} and again.outgoing_ids(-1) == [message.id]
    assert again.was_handled(41) and not again.was_handled(42)
    broadcast.state, broadcast.reported = BroadcastState.DONE, True
    again.save_broadcast(broadcast)
    again.delete_outgoing(message.id)
    assert again.unfinished_broadcasts() == [] and again.outgoing_chats() == set()


def test_case_texts_give_text_shown_and_supporters_without_the_rest(backend: Backend) -> None:
    repo = backend.open()
    lamp = make_case(repo, "楼道灯坏了")
    make_case(repo, "邻居噪音", message=2)
    lamp.supporters = [3, 4]
    repo.save_case(lamp)
    hidden = make_case(repo, "热线来电", message=3)
    hidden.published = False
    repo.save_case(hidden)
    assert repo.case_texts([3, 1, 99]) == [(3, "热线来电", False, 0), (1, "楼道灯坏了", True, 2)]
    assert backend.reopen(repo).case_texts([2]) == [(2, "邻居噪音", True, 0)]


def test_a_waiting_message_read_is_what_is_stored_even_after_an_undone_transaction(
    backend: Backend,
) -> None:
    repo = backend.open()
    message = Outgoing(repo.next_outgoing_id(), -1, OutKind.SEND, Priority.REFRESH, NOW, "旧")
    repo.save_outgoing(message)
    read = repo.get_outgoing(message.id)
    assert read == message
    assert read is not None
    read.priority = Priority.REPLY  # a reader changing what it read changes nothing stored
    assert repo.get_outgoing(message.id) == message
    with pytest.raises(RuntimeError), repo.transaction():
        changed = repo.get_outgoing(message.id)
        assert changed is not None
        changed.text, changed.priority = "新", Priority.REPLY
        repo.save_outgoing(changed)
        assert repo.get_outgoing(message.id) == changed
        raise RuntimeError("the handler failed")
    assert repo.get_outgoing(message.id) == message
    with pytest.raises(RuntimeError), repo.transaction():
        repo.delete_outgoing(message.id)
        assert repo.get_outgoing(message.id) is None
        raise RuntimeError("the handler failed")
    assert repo.get_outgoing(message.id) == message
    assert repo.waiting_outgoing(-1) == [message] and repo.waiting_outgoing(-2) == []
    assert backend.reopen(repo).get_outgoing(message.id) == message


# -- the journal's files: durability, torn tails, compaction, the table of contents ---------


def test_unclosed_store_keeps_every_returned_write(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path)
    for i in range(20):
        make_case(repo, f"问题{i}", message=i)
    # No close(): as after kill -9, only the fsync'd journal is there.
    again = TinyRepository(tmp_path)
    try:
        assert len(list(again.all_cases())) == 20
    finally:
        again.close()


def test_torn_journal_tail_is_dropped_and_store_stays_usable(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path)
    make_case(repo, "完整的")
    journal = tmp_path / "echowall.journal"
    with open(journal, "ab") as handle:
        handle.write(b'deadbeef {"seq": 99, "tables": {"cases": {"put": {"2": ')
    again = TinyRepository(tmp_path)
    try:
        assert [c.text for c in again.all_cases()] == ["完整的"]
        make_case(again, "之后的", message=2)
    finally:
        again.close()
    third = TinyRepository(tmp_path)
    try:
        assert [c.text for c in third.all_cases()] == ["完整的", "之后的"]
    finally:
        third.close()


def test_corrupted_record_is_not_applied(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path)
    make_case(repo, "原文")
    journal = tmp_path / "echowall.journal"
    data = journal.read_bytes()
    journal.write_bytes(data.replace("原文".encode(), "篡改".encode()))
    again = TinyRepository(tmp_path)
    try:
        assert list(again.all_cases()) == []
    finally:
        again.close()


def _journal_records(path: Path) -> int:
    return len((path / "echowall.journal").read_bytes().splitlines())


def test_a_transaction_is_one_journal_record(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path, compact_min_bytes=1 << 30)
    try:
        first = make_case(repo, "灯坏了", message=1)
        records = _journal_records(tmp_path)
        with repo.transaction():
            second = make_case(repo, "电梯", message=2)
            first.state = State.ACCEPTED
            repo.save_case(first)
            repo.save_group(Group(-1, "一号楼"))
            repo.mark_handled(77)
            # Inside, every read and index sees the writes already.
            assert repo.get_case(1) == first and repo.case_by_origin(-1, 2) == second
            assert repo.was_handled(77)
            assert _journal_records(tmp_path) == records  # nothing written yet
        assert _journal_records(tmp_path) == records + 1
    finally:
        repo.close()
    again = TinyRepository(tmp_path)
    try:
        assert again.get_case(1) == first and again.get_case(2) == second
        assert again.get_group(-1) is not None and again.was_handled(77)
    finally:
        again.close()


def test_a_kill_inside_a_transaction_keeps_none_of_it(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path)
    try:
        make_case(repo, "之前", message=1)
        with repo.transaction():
            make_case(repo, "一半", message=2)
            repo.mark_handled(5)
            # The process dies here: copy the files as they are on disk right now.
            shutil.copytree(tmp_path, tmp_path.parent / "killed", ignore=shutil.ignore_patterns())
    finally:
        repo.close()
    dead = TinyRepository(tmp_path.parent / "killed")
    try:
        assert [c.text for c in dead.all_cases()] == ["之前"] and not dead.was_handled(5)
    finally:
        dead.close()


def test_a_transaction_whose_record_cannot_be_written_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = TinyRepository(tmp_path)
    try:
        make_case(repo, "之前", message=1)

        def disk_full(fd: int, data: Any) -> int:
            raise OSError(28, "No space left on device")

        with pytest.raises(OSError), repo.transaction():
            make_case(repo, "写不下", message=2)
            monkeypatch.setattr(journal.os, "write", disk_full)
        monkeypatch.undo()
        assert repo.get_case(2) is None and repo.case_by_origin(-1, 2) is None
        make_case(repo, "空间又有了", message=3)
    finally:
        repo.close()
    again = TinyRepository(tmp_path)
    try:
        assert [c.text for c in again.all_cases()] == ["之前", "空间又有了"]
    finally:
        again.close()


def test_a_save_journals_only_what_changed(tmp_path: Path) -> None:
    """O(1) in the table's size: a write appends about one document, a no-op nothing."""
    repo = TinyRepository(tmp_path, compact_min_bytes=1 << 30)
    try:
        made = [make_case(repo, "x" * 100, message=i) for i in range(300)]
        journal_file = tmp_path / "echowall.journal"
        before = journal_file.stat().st_size
        made[150].text = "y" * 100
        repo.save_case(made[150])
        grown = journal_file.stat().st_size - before
        size = len(journal.encode(to_doc(made[150])))
        assert size < grown < size + 100  # one document, its id and the record's frame
        repo.save_case(made[150])  # the same again: no record, no fsync
        assert journal_file.stat().st_size - before == grown
    finally:
        repo.close()


# -- compaction and files -------------------------------------------------------------------


def test_background_compaction_keeps_writes_made_meanwhile(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path, compact_min_bytes=1, compact_ratio=0.0)
    storage = repo.storage
    for i in range(200):
        make_case(repo, f"问题{i}", message=i)
    assert storage.stats()["records"] < 200  # it did fold along the way
    # Abandoned without close(): only what is on disk counts. Its helper threads are let
    # finish first, as a dead process's would be gone, so they cannot write into the new
    # store's work directory.
    if storage._job is not None:
        storage._job.wait()
    for helper in storage._freeing:
        helper.join()
    again = TinyRepository(tmp_path)
    try:
        assert [c.origin_message_id for c in again.all_cases()] == list(range(200))
    finally:
        again.close()
    assert not any((tmp_path / "echowall.tmp").iterdir())


def _held_in_memory(storage: journal.JournalStorage, table: str) -> set[str]:
    return {key for key, held in storage._tables[table].items() if isinstance(held, bytes)}


def test_documents_stay_on_disk_until_they_change(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path)
    made = [make_case(repo, f"问题{i}", message=i) for i in range(30)]
    repo.close()
    repo = TinyRepository(tmp_path)
    try:
        storage = repo.storage
        # Opened from the snapshot: every case is read from the file when asked for.
        assert _held_in_memory(storage, "cases") == set()
        assert [c.text for c in repo.all_cases()] == [c.text for c in made]
        assert repo.get_case(7) == made[6]
        # Saving an unchanged case compares it with the file's bytes and writes nothing.
        records = storage.stats()["records"]
        repo.save_case(made[6])
        assert storage.stats()["records"] == records
        # A changed case is held in memory until the next snapshot has it.
        made[6].text = "改过了"
        repo.save_case(made[6])
        assert _held_in_memory(storage, "cases") == {"7"}
        storage.compact()
        assert _held_in_memory(storage, "cases") == set()
        assert [c.text for c in repo.all_cases()] == [c.text for c in made]
    finally:
        repo.close()


def test_reads_follow_a_background_compaction_to_the_new_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = TinyRepository(tmp_path)
    made = [make_case(repo, f"问题{i}" * 40, message=i) for i in range(300)]
    repo.close()
    # The compaction's thread finishes only when the test lets it.
    go_on = threading.Event()
    copy_journal = journal._Compaction._copy_journal

    def held_back(job: journal._Compaction) -> None:
        go_on.wait(10)
        copy_journal(job)

    monkeypatch.setattr(journal._Compaction, "_copy_journal", held_back)
    repo = TinyRepository(tmp_path, compact_min_bytes=1 << 30)
    try:
        storage = repo.storage
        # Longer before the compaction starts: every later case moves in the new file.
        made[2].text = "长" * 500
        repo.save_case(made[2])
        storage.compact(wait=False)
        # Changed while the new snapshot is written from the frozen tables.
        for case in made[::7]:
            case.text = f"新{case.id}"
            repo.save_case(case)
        assert storage.compacting
        go_on.set()
        assert storage._job is not None
        storage._job.wait()
        made[1].text = "切换"
        repo.save_case(made[1])  # this write switches the new files in
        assert not storage.compacting
        for helper in storage._freeing:
            helper.join()  # the old snapshot is truncated and deleted by now
        # Cases changed while it ran keep their bytes; the others (case 3 too) moved to the
        # new file.
        assert _held_in_memory(storage, "cases") == {str(c.id) for c in [*made[::7], made[1]]}
        assert list(repo.all_cases()) == made
    finally:
        repo.close()
    again = TinyRepository(tmp_path)
    try:
        assert list(again.all_cases()) == made
    finally:
        again.close()


def test_compaction_triggers_by_size(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path, compact_min_bytes=4096, background=False)
    try:
        storage = repo.storage
        for i in range(40):
            make_case(repo, "x" * 200, message=i)
            stats = storage.stats()
            assert stats["journal_bytes"] < max(4096, stats["snapshot_bytes"]) + 1500
        assert stats["snapshot_bytes"] > 4096
    finally:
        repo.close()


class Crash(BaseException):
    """Stands for kill -9 at one point of the compaction's switch."""


@pytest.mark.parametrize("at", range(5))
def test_compaction_interrupted_at_any_point_loses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, at: int
) -> None:
    repo = TinyRepository(tmp_path, compact_min_bytes=1 << 30)
    storage = repo.storage
    for i in range(10):
        make_case(repo, f"旧{i}", message=i)
    go = threading.Event()
    run = journal._Compaction.run
    monkeypatch.setattr(journal._Compaction, "run", lambda job: (go.wait(), run(job)))
    storage.compact(wait=False)  # in the background, from the first ten
    for i in range(10, 15):  # written while it runs: they must stay in the journal
        make_case(repo, f"新{i}", message=i)
    assert storage.compacting
    go.set()
    assert storage._job is not None
    storage._job.wait()
    # The switch renames the snapshot, the contents and the journal in, and syncs the
    # directory twice: a crash before each of those steps.
    steps = [("replace", 1), ("replace", 2), ("replace", 3), ("_fsync_dir", 1), ("_fsync_dir", 2)]
    calls = {"replace": 0, "_fsync_dir": 0}
    real = {"replace": os.replace, "_fsync_dir": journal._fsync_dir}

    def failing(name: str) -> Any:
        def call(*args: Any) -> None:
            calls[name] += 1
            if (name, calls[name]) == steps[at]:
                raise Crash
            real[name](*args)

        return call

    monkeypatch.setattr(journal.os, "replace", failing("replace"))
    monkeypatch.setattr(journal, "_fsync_dir", failing("_fsync_dir"))
    with pytest.raises(Crash):
        make_case(repo, "崩溃时的", message=15)  # this write finds the compaction done
    monkeypatch.undo()
    again = TinyRepository(tmp_path)
    try:
        # The write that crashed had been fsync'd before the switch began: it is kept too.
        assert [c.origin_message_id for c in again.all_cases()] == list(range(16))
        assert [again.case_by_origin(-1, i) for i in range(16)] == list(again.all_cases())
        make_case(again, "之后", message=16)
    finally:
        again.close()
    third = TinyRepository(tmp_path)
    try:
        assert len(list(third.all_cases())) == 17
    finally:
        third.close()


def test_leftovers_of_an_interrupted_compaction_are_ignored(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path)
    make_case(repo, "在")
    work = tmp_path / "echowall.tmp"
    work.mkdir()
    (work / "echowall.snapshot.json").write_bytes(b'{"seq":99,"layout":1,"tables":{\n')
    (work / "echowall.journal").write_bytes(b"garbage")
    again = TinyRepository(tmp_path)
    try:
        assert [c.text for c in again.all_cases()] == ["在"]
        assert not work.exists() or not any(work.iterdir())
    finally:
        again.close()


def test_snapshot_is_plain_json_and_checked(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path, compact_every=1)
    case = make_case(repo, '带"引号"和\n换行的')
    make_case(repo, "再一个", message=2)  # the journal is switched under compaction too
    repo.close()
    snapshot = tmp_path / "echowall.snapshot.json"
    umask = os.umask(0)
    os.umask(umask)
    for path in (snapshot, tmp_path / "echowall.journal"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # as before, not private
    body = json.loads(snapshot.read_bytes())  # any JSON reader (and the old storage) reads it
    assert body["tables"]["cases"]["1"]["text"] == case.text
    raw = snapshot.read_bytes()
    snapshot.write_bytes(raw.replace("引号".encode(), "引用".encode()))
    with pytest.raises(ValueError, match="checksum"):
        TinyRepository(tmp_path)


def test_old_single_line_snapshot_is_read_and_rewritten(tmp_path: Path) -> None:
    """A data directory written by the previous storage opens; its snapshot gets the new form."""
    doc = to_doc(Case(1, -1, Channel.GROUP, "旧的", NOW, NOW, reporter_id=7, origin_chat_id=-1))
    doc["origin_message_id"] = 5
    snapshot = {"seq": 3, "tables": {"cases": {"1": doc}, "people": {"7": {"id": 7, "name": "张"}}}}
    (tmp_path / "echowall.snapshot.json").write_text(json.dumps(snapshot, ensure_ascii=False))
    record = {"seq": 4, "tables": {"cases": {"put": {"2": {**doc, "id": 2}}, "del": []}}}
    body = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()
    (tmp_path / "echowall.journal").write_bytes(b"%08x " % zlib.crc32(body) + body + b"\n")
    repo = TinyRepository(tmp_path)
    try:
        assert [c.id for c in repo.cases(building_id=-1)] == [1, 2]
        assert repo.case_by_origin(-1, 5) == repo.get_case(2)
        assert repo.get_person(7) == Person(7, "张")
    finally:
        repo.close()
    assert (tmp_path / "echowall.snapshot.json").read_bytes().startswith(b'{"seq":4,"layout":1')


def test_snapshot_keeps_odd_names_and_ids(tmp_path: Path) -> None:
    """Tables and ids need not be plain: whatever the whole-database path stores comes back."""
    storage = journal.JournalStorage(tmp_path / "db")
    data = {'名"字\\': {'a":b\\': {"x": "\n"}, "7": {}}, "empty": {}}
    storage.write(data)
    storage.close()
    again = journal.JournalStorage(tmp_path / "db")
    try:
        read = again.read() or {}
        assert {name: dict(docs) for name, docs in read.items()} == data
    finally:
        again.close()


def test_deferred_writes_are_appended_at_once_and_fsynced_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = TinyRepository(tmp_path)
    case = make_case(repo, "楼道灯坏了")
    synced: list[int] = []
    fsync = os.fsync
    monkeypatch.setattr(journal.os, "fsync", lambda fd: (synced.append(fd), fsync(fd))[1])
    case.card_message_id = 77
    repo.save_case(case, sync=False)
    assert synced == []  # appended, not fsync'd
    # Written at once: a process that dies now keeps it (the kernel has the bytes).
    assert b'"card_message_id":77' in (tmp_path / "echowall.journal").read_bytes()
    repo.flush()
    assert len(synced) == 1
    repo.flush()
    assert len(synced) == 1  # nothing left to sync
    case.staff_message_id = 78
    repo.save_case(case, sync=False)
    make_case(repo, "电梯异响", message=2)  # an ordinary write fsyncs, covering both
    repo.flush()
    assert len(synced) == 2
    repo.close()


def test_an_undone_transaction_during_a_compaction_keeps_documents_readable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = TinyRepository(tmp_path)
    made = [make_case(repo, f"问题{i}" * 20, message=i) for i in range(100)]
    repo.close()
    go_on = threading.Event()
    copy_journal = journal._Compaction._copy_journal

    def held_back(job: journal._Compaction) -> None:
        go_on.wait(10)
        copy_journal(job)

    monkeypatch.setattr(journal._Compaction, "_copy_journal", held_back)
    repo = TinyRepository(tmp_path, compact_min_bytes=1 << 30)
    try:
        storage = repo.storage
        # Longer before the compaction starts: every later case moves in the new file.
        made[0].text = "长" * 500
        repo.save_case(made[0])
        storage.compact(wait=False)
        with pytest.raises(RuntimeError), repo.transaction():
            for case in made[1:50]:
                repo.save_case(dataclasses.replace(case, text="改"))
            raise RuntimeError("undo while the snapshot is being written")
        go_on.set()
        assert storage._job is not None
        storage._job.wait()
        repo.save_case(made[99])  # a no-op: nothing switches
        make_case(repo, "切换", message=500)  # this write switches the new files in
        for helper in storage._freeing:
            helper.join()
        assert list(repo.all_cases())[:100] == made
    finally:
        repo.close()


# -- TinyDB on an echowall data directory ---------------------------------------------------
#
# `JournalStorage` is a TinyDB `Storage` (read, write, close): plain TinyDB, with its own
# tables and queries, opens the files the repository writes, and what it writes the
# repository reads. TinyDB hands the storage the whole database on every write; the storage
# journals only the documents that differ.


def open_db(path: Path, **options: Any) -> TinyDB:
    return TinyDB(path / "db", storage=JournalStorage, **options)


def storage_of(db: TinyDB) -> JournalStorage:
    storage = db.storage
    assert isinstance(storage, JournalStorage)
    return storage


def contents(table: Table) -> dict[int, dict[str, Any]]:
    return {doc.doc_id: dict(doc) for doc in table.all()}


def test_plain_tinydb_opens_the_repository_and_the_repository_reads_what_it_writes(
    tmp_path: Path,
) -> None:
    repo = TinyRepository(tmp_path)
    make_case(repo, "灯坏了", message=1)
    make_case(repo, "漏水", building=-2, message=2)
    repo.save_group(Group(-1, "1号楼"))
    repo.close()
    db = TinyDB(tmp_path / "echowall", storage=JournalStorage)
    try:
        cases = db.table("cases")
        assert {"cases", "groups"} <= db.tables()
        assert [d["text"] for d in cases.search(Query().building_id == -2)] == ["漏水"]
        assert cases.get(doc_id=1)["text"] == "灯坏了"  # type: ignore[index]
        cases.update({"state": State.ACCEPTED.value}, doc_ids=[2])
        db.table("groups").update({"title": "一号楼"}, Query().chat_id == -1)
    finally:
        db.close()
    again = TinyRepository(tmp_path)
    try:
        # The indexes follow what TinyDB wrote (replayed from the journal since the snapshot).
        assert [c.id for c in again.cases(states=[State.ACCEPTED])] == [2]
        assert [c.id for c in again.cases(building_id=-1, states=OPEN_STATES)] == [1]
        assert again.get_group(-1).title == "一号楼"  # type: ignore[union-attr]
    finally:
        again.close()


def test_generic_table_api_is_durable_without_close(tmp_path: Path) -> None:
    """TinyDB's table API on the journal, each write durable when it returns."""
    db = open_db(tmp_path)
    events = db.table("events")
    first = events.insert({"kind": "report", "case": 1, "tags": ["a"]})
    events.insert_multiple([{"kind": "accept", "case": 1}, {"kind": "report", "case": 2}])
    events.upsert(Document({"kind": "remind", "case": 2, "at": "09:00"}, doc_id=40))
    events.upsert(Document({"at": "10:00"}, doc_id=40))  # merges, as TinyDB does
    events.update({"seen": True}, Query().case == 1)
    events.update(lambda doc: doc["tags"].append("b"), doc_ids=[first])
    events.remove(doc_ids=[3])
    outbox = db.table("outbox")
    outbox.insert({"text": "广播"})
    outbox.truncate()
    expected = contents(events)
    assert expected[40] == {"kind": "remind", "case": 2, "at": "10:00"}
    assert expected[first]["tags"] == ["a", "b"]
    assert sorted(expected) == [1, 2, 40]
    # No close(): as after kill -9.
    again = open_db(tmp_path)
    try:
        assert contents(again.table("events")) == expected
        assert again.table("outbox").all() == []
        assert "outbox" in again.tables()
        assert again.table("events").get(doc_id=40) == expected[40]
        assert sorted(d.doc_id for d in again.table("events").get(doc_ids=[40, 99, 1])) == [1, 40]
        assert again.table("events").count(Query().kind == "report") == 1
        assert again.table("events").insert({"kind": "next"}) == 41
    finally:
        again.close()
        db.close()


def test_tinydb_reads_are_copies(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    try:
        table = db.table("t")
        table.insert({"list": [1]})
        doc = table.get(doc_id=1)
        assert doc is not None
        doc["list"].append(2)
        table.all()[0]["list"].append(3)
        assert table.get(doc_id=1) == {"list": [1]}
    finally:
        db.close()


def test_a_failed_tinydb_write_changes_nothing(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    table = db.table("t")
    table.insert_multiple([{"n": i} for i in range(5)])
    journal_bytes = (tmp_path / "db.journal").read_bytes()

    def explode(doc: MutableMapping[str, Any]) -> None:
        if doc["n"] == 3:
            raise RuntimeError("midway")
        doc["n"] += 100

    with pytest.raises(RuntimeError):
        table.update(explode)
    with pytest.raises(TypeError):  # not JSON: refused before anything is written
        table.insert({"when": NOW})
    with pytest.raises(ValueError):
        table.insert_multiple([{"n": 9}, Document({"n": 10}, doc_id=2)])
    assert [d["n"] for d in table.all()] == [0, 1, 2, 3, 4]
    assert (tmp_path / "db.journal").read_bytes() == journal_bytes
    db.close()


def test_a_tinydb_write_journals_only_what_changed(tmp_path: Path) -> None:
    """TinyDB hands over the whole database; one journal record holds only what differs."""
    db = open_db(tmp_path, compact_min_bytes=1 << 30)
    table = db.table("t")
    table.insert_multiple([{"n": i, "pad": "x" * 100} for i in range(2000)])
    journal_file = tmp_path / "db.journal"
    before = journal_file.stat().st_size
    table.update({"n": -1}, doc_ids=[1000])
    grown = journal_file.stat().st_size - before
    assert 100 < grown < 250
    table.upsert(Document({"n": -1, "pad": "x" * 100}, doc_id=1000))  # the same again
    table.update({"n": 5}, Query().n == 5)
    assert journal_file.stat().st_size - before == grown
    db.close()


def test_drop_table_and_indexes_follow_tinydb_writes(tmp_path: Path) -> None:
    storage = JournalStorage(tmp_path / "db")
    (index,) = storage.table("t").index(lambda doc: [doc["k"]])
    db = TinyDB(storage=lambda: storage)  # TinyDB on this very storage object
    try:
        table = db.table("t")
        table.insert_multiple([{"k": i % 3} for i in range(9)])
        db.table("gone").insert({"b": 2})
        table.update({"k": 7}, doc_ids=[1])
        table.remove(doc_ids=[2])
        table.insert({"k": 0})
        table.update({"k": 0}, Query().k == 2)
        expected: dict[int, set[int]] = {}
        for doc in table.all():
            expected.setdefault(doc["k"], set()).add(doc.doc_id)
        assert {key: index.ids(key) for key in index} == expected
        db.drop_table("gone")
        assert db.tables() == {"t"}
        db.drop_table("t")
        assert list(index) == []
    finally:
        db.close()


def test_transactions_nest_and_new_tables_are_kept_or_undone(tmp_path: Path) -> None:
    """TinyDB's writes inside the storage's transaction: one record, or nothing."""
    db = open_db(tmp_path)
    storage = storage_of(db)
    try:
        table = db.table("t")
        table.insert_multiple([{"n": i} for i in range(3)])
        with storage.transaction():
            table.remove(doc_ids=[1])
            with storage.transaction():  # joins the outer one
                db.table("fresh").insert({"x": 1})
                table.insert(Document({"n": 9}, doc_id=9))
                table.remove(doc_ids=[9])  # made and deleted again: never existed
        assert contents(table) == {2: {"n": 1}, 3: {"n": 2}}
        with pytest.raises(KeyError), storage.transaction():
            table.remove(doc_ids=[2])
            db.table("other").insert({"y": 2})
            raise KeyError("undo")
        assert contents(table) == {2: {"n": 1}, 3: {"n": 2}}
        assert db.tables() == {"t", "fresh"}
    finally:
        db.close()
    again = open_db(tmp_path)
    try:
        assert contents(again.table("t")) == {2: {"n": 1}, 3: {"n": 2}}
        assert again.tables() == {"t", "fresh"}
    finally:
        again.close()


_values = st.integers(0, 3)


_docs = st.fixed_dictionaries({"k": _values, "v": st.lists(st.integers(0, 9), max_size=3)})


_ids = st.lists(st.integers(1, 12), max_size=4, unique=True)


_ops = st.one_of(
    st.tuples(st.just("insert"), _docs),
    st.tuples(st.just("insert_id"), st.integers(1, 12), _docs),
    st.tuples(st.just("insert_multiple"), st.lists(_docs, max_size=3)),
    st.tuples(st.just("upsert"), st.integers(1, 12), _docs),
    st.tuples(st.just("upsert_cond"), _values, _docs),
    st.tuples(st.just("update_ids"), _ids, _docs),
    st.tuples(st.just("update_cond"), _values, _docs),
    st.tuples(st.just("update_fn"), _ids),
    st.tuples(st.just("update_multiple"), _values, _values),
    st.tuples(st.just("remove_ids"), _ids),
    st.tuples(st.just("remove_cond"), _values),
    st.tuples(st.just("truncate")),
    st.tuples(st.just("compact")),
)


def _run(table: Table, op: tuple[Any, ...]) -> Any:
    q = Query()
    name, *args = op
    if name == "insert":
        return table.insert(args[0])
    if name == "insert_id":
        return table.insert(Document(args[1], doc_id=args[0]))
    if name == "insert_multiple":
        return table.insert_multiple(args[0])
    if name == "upsert":
        return table.upsert(Document(args[1], doc_id=args[0]))
    if name == "upsert_cond":
        return table.upsert(args[1], q.k == args[0])
    if name == "update_ids":
        return table.update(args[1], doc_ids=args[0])
    if name == "update_cond":
        return table.update(args[1], q.k == args[0])
    if name == "update_fn":
        return table.update(lambda doc: doc["v"].append(len(doc["v"])), doc_ids=args[0])
    if name == "update_multiple":
        return table.update_multiple([({"k": args[1]}, q.k == args[0]), ({"x": 1}, q.k == 3)])
    if name == "remove_ids":
        return table.remove(doc_ids=args[0])
    if name == "remove_cond":
        return table.remove(q.k == args[0])
    if name == "truncate":
        return table.truncate()
    return None  # compact: only for the journal side


class JSONInMemory(Storage):
    """TinyDB's JSONStorage semantics (every write serialised, every read parsed), no file."""

    def __init__(self) -> None:
        self._text = "{}"

    def read(self) -> dict[str, dict[str, Any]] | None:
        data: dict[str, dict[str, Any]] = json.loads(self._text)
        return data or None

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        self._text = json.dumps(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_ops, max_size=25))
def test_behaves_like_tinydb(ops: list[tuple[Any, ...]]) -> None:
    """Differential: TinyDB on the journal gives what TinyDB on its JSON semantics gives,
    compacting along the way, and what is on disk reopens to the same."""
    with tempfile.TemporaryDirectory() as tmp:
        reference = TinyDB(storage=JSONInMemory).table("t")
        db = open_db(Path(tmp), compact_every=4)
        table = db.table("t")
        for op in ops:
            outcomes = []
            for side in (reference, table):
                try:
                    outcomes.append(("ok", _run(side, op)))
                except ValueError as error:
                    outcomes.append(("error", str(error)))
            if op[0] == "compact":
                storage_of(db).compact()
            assert outcomes[0] == outcomes[1], op
            assert contents(table) == contents(reference), op
        # Reopen what is on disk now, without close(), from a copy (as `echowall stats` does).
        copy = Path(tmp) / "copy"
        copy.mkdir()
        for name in ("db.journal", "db.snapshot.json"):
            if (Path(tmp) / name).exists():
                shutil.copy2(Path(tmp) / name, copy / name)
        again = open_db(copy)
        try:
            assert contents(again.table("t")) == contents(reference)
        finally:
            again.close()
            db.close()
