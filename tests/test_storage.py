"""The TinyDB repository and its durable journal: round trips, torn tails, compaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.records import Case, Channel, Group, Person, State, Step
from storage.tinydb_store import TinyRepository

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def make_case(repo: TinyRepository, text: str, building: int = -1, message: int = 1) -> Case:
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


@pytest.fixture(params=[1, 3, 2000], ids=["compact-every-write", "compact-often", "journal"])
def compact_every(request: pytest.FixtureRequest) -> int:
    return int(request.param)


def test_round_trip_survives_reopen(tmp_path: Path, compact_every: int) -> None:
    repo = TinyRepository(tmp_path, compact_every=compact_every)
    first = make_case(repo, "灯坏了")
    make_case(repo, "漏水", message=2)
    first.state, first.supporters = State.ACCEPTED, [3, 4]
    repo.save_case(first)
    repo.save_group(Group(-1, "1号楼", heads={5: "王"}))
    repo.save_person(Person(7, "张", "en", [-1]))
    repo.close()

    again = TinyRepository(tmp_path, compact_every=compact_every)
    try:
        assert again.get_case(1) == first
        assert [c.text for c in again.cases(building_id=-1)] == ["灯坏了", "漏水"]
        assert [c.id for c in again.cases(states=[State.ACCEPTED])] == [1]
        assert again.case_by_origin(-1, 2) is not None
        assert again.get_group(-1) == Group(-1, "1号楼", heads={5: "王"})
        assert again.get_person(7) == Person(7, "张", "en", [-1])
        assert again.next_case_id() == 3
    finally:
        again.close()


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


def test_migrating_a_group_moves_its_cases(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path)
    try:
        repo.save_group(Group(-1, "1号楼", name="林溪苑1号楼"))
        make_case(repo, "问题")
        repo.save_person(Person(7, "张", buildings=[-1]))
        repo.migrate_group(-1, -1001)
        assert repo.get_group(-1) is None
        group = repo.get_group(-1001)
        assert group is not None and group.name == "林溪苑1号楼"
        assert [c.id for c in repo.cases(building_id=-1001)] == [1]
        assert repo.get_person(7).buildings == [-1001]  # type: ignore[union-attr]
    finally:
        repo.close()
