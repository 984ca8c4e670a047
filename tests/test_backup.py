"""Copies of a live store (`storage.backup`), the one-owner lock, and erased data leaving the
store's files. The real bot killed in the middle of a backup is in test_e2e_backup.py.

What a copy builds on is what the engine guarantees (docs/storage.md, "Backups"): a copy made
while the store is written — and compacted, which replaces its files — is a state the store
passed through, and holds every write that returned before the copy began.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from storage import backup
from storage.backup import CopyError, copy_store, restore, snapshot_seq, write_backup
from storage.journal import JournalStorage
from storage.lock import StoreBusy
from storage.records import Case, Channel
from storage.tinydb_store import TinyRepository

NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent
HOLD = """
import sys, time
from storage.tinydb_store import TinyRepository
repo = TinyRepository(sys.argv[1])
print("open", flush=True)
time.sleep(60)
"""


def holder(data_dir: Path) -> subprocess.Popen[str]:
    """Another process with the store open, as a running bot has it."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(data_dir)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "open"
    return process


def doc(n: int) -> dict[str, object]:
    return {"n": n, "text": f"第{n}件" * 20}


def store_bytes(directory: Path) -> dict[str, bytes]:
    """The store's files (not its lock, which names the process holding it)."""
    return {
        p.name: p.read_bytes() for p in directory.iterdir() if p.is_file() and p.suffix != ".lock"
    }


def documents(directory: Path) -> dict[int, dict[str, object]]:
    store = JournalStorage(directory / "echowall")
    try:
        return dict(store.table("docs").items())
    finally:
        store.close()


# --- one owner per data directory ----------------------------------------------------------


def test_a_second_process_cannot_open_a_store_in_use(tmp_path: Path) -> None:
    data = tmp_path / "data"
    process = holder(data)
    try:
        with pytest.raises(StoreBusy, match=f"process {process.pid}"):
            TinyRepository(data)
    finally:
        process.kill()  # kill -9: the lock goes with the process
        process.wait()
    repo = TinyRepository(data)
    # Within one process the store may be opened again (a reopen after a simulated crash).
    again = TinyRepository(data)
    again.close()
    repo.close()


# --- consistent copies -----------------------------------------------------------------------


def test_a_copy_holds_everything_written_and_opens(tmp_path: Path) -> None:
    store = JournalStorage(tmp_path / "data" / "echowall", compact_every=7, background=False)
    docs = store.table("docs")
    for n in range(1, 31):
        docs.put(n, doc(n))
    info = copy_store(tmp_path / "data", tmp_path / "copy")
    store.close()
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == [
        "echowall.contents.jsonl",  # it names the snapshot copied, so it is kept
        "echowall.journal",
        "echowall.snapshot.json",
    ]
    assert documents(tmp_path / "copy") == {n: doc(n) for n in range(1, 31)}
    assert info.seq == 30 and info.snapshot_seq == 28 and info.records == 2
    assert info.attempts == 1


def test_a_compaction_between_the_journal_and_the_snapshot_is_harmless(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The journal is copied first: a snapshot renamed in meanwhile holds all it has."""
    store = JournalStorage(tmp_path / "data" / "echowall", compact_min_bytes=1 << 30)
    docs = store.table("docs")
    for n in range(1, 11):
        docs.put(n, doc(n))
    copy = backup._copy_file

    def meanwhile(source: Path, target: Path, pace: float | None) -> int | None:
        copied = copy(source, target, pace)
        if source.suffix == ".journal":
            docs.put(11, doc(11))
            store.compact()  # the journal copied is now the old one
            docs.put(12, doc(12))
        return copied

    monkeypatch.setattr(backup, "_copy_file", meanwhile)
    info = copy_store(tmp_path / "data", tmp_path / "copy")
    store.close()
    assert documents(tmp_path / "copy") == {n: doc(n) for n in range(1, 12)}
    assert (info.seq, info.snapshot_seq, info.attempts) == (11, 11, 1)


def test_a_snapshot_freed_under_the_copy_is_copied_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A compaction frees the replaced snapshot in slices after its switch: a copy that read
    it then is not whole, and is made again."""
    store = JournalStorage(tmp_path / "data" / "echowall", background=False, compact_every=3)
    docs = store.table("docs")
    for n in range(1, 8):
        docs.put(n, doc(n))
    copy, cut = backup._copy_file, []

    def freed(source: Path, target: Path, pace: float | None) -> int | None:
        copied = copy(source, target, pace)
        if source.name.endswith(".snapshot.json") and not cut:
            with open(target, "r+b") as handle:
                handle.truncate(target.stat().st_size // 2)
            cut.append(target)
        return copied

    monkeypatch.setattr(backup, "_copy_file", freed)
    info = copy_store(tmp_path / "data", tmp_path / "copy")
    store.close()
    assert info.attempts == 2 and cut
    assert documents(tmp_path / "copy") == {n: doc(n) for n in range(1, 8)}


def test_a_journal_with_a_gap_is_copied_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal truncated and written again under the copy shows as a gap in its records."""
    store = JournalStorage(tmp_path / "data" / "echowall", compact_min_bytes=1 << 30)
    docs = store.table("docs")
    for n in range(1, 6):
        docs.put(n, doc(n))
    copy, broken = backup._copy_file, []

    def gap(source: Path, target: Path, pace: float | None) -> int | None:
        copied = copy(source, target, pace)
        if source.suffix == ".journal" and not broken:
            lines = target.read_bytes().splitlines(keepends=True)
            target.write_bytes(b"".join(lines[:2] + lines[3:]))  # record 3 missing
            broken.append(target)
        return copied

    monkeypatch.setattr(backup, "_copy_file", gap)
    info = copy_store(tmp_path / "data", tmp_path / "copy")
    store.close()
    assert info.attempts == 2 and broken
    assert documents(tmp_path / "copy") == {n: doc(n) for n in range(1, 6)}


def test_copies_made_while_writing_and_compacting_are_states_the_store_went_through(
    tmp_path: Path,
) -> None:
    """A writer puts documents 1, 2, 3 … as fast as it can, compacting in the background every
    few writes; copies made meanwhile each hold 1 … k, every one as written, with k no less
    than what had been written when the copy began."""
    store = JournalStorage(tmp_path / "data" / "echowall", compact_every=5, compact_pace=None)
    docs = store.table("docs")
    written = [0]
    stop = threading.Event()
    results: list[tuple[int, dict[int, dict[str, object]]]] = []
    problems: list[BaseException] = []

    def copier() -> None:
        try:
            for round_ in range(25):
                before = written[0]
                target = tmp_path / f"copy{round_}"
                copy_store(tmp_path / "data", target)
                results.append((before, documents(target)))
        except BaseException as error:
            problems.append(error)
        finally:
            stop.set()

    thread = threading.Thread(target=copier)
    thread.start()
    n = 0
    while not stop.is_set():
        n += 1
        docs.put(n, doc(n))
        written[0] = n
        if n % 50 == 0:
            time.sleep(0.001)  # let the copier run
    thread.join()
    store.close()
    assert problems == []
    assert len(results) == 25
    for before, copied in results:
        k = len(copied)
        assert copied == {i: doc(i) for i in range(1, k + 1)}, "a copy is no state of the store"
        assert k >= before, "a copy lost a write that had returned before it began"
    assert n > 100


# --- backups and restores --------------------------------------------------------------------


def case(n: int, text: str) -> Case:
    return Case(n, -1001, Channel.GROUP, text, NOW, NOW)


def test_a_backup_restores_what_the_store_held_and_keeps_what_it_replaced(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    repo = TinyRepository(data)  # open, as a running bot has it
    for n in range(1, 6):
        repo.save_case(case(n, f"问题{n}"))
    out = tmp_path / "backups" / "b.tar.gz"
    info = write_backup(data, out, now=NOW)
    assert info.path == out and out.exists() and not list(out.parent.glob("*.partial"))
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".echowall")]
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert {"echowall.backup.json", "echowall.journal"} <= names
    assert names <= {"echowall.backup.json", *(p.name for p in backup.store_files(data))}
    repo.save_case(case(6, "备份之后"))
    # Not while the bot runs (here this process has the store open): nothing is touched.
    refused = subprocess.run(
        [sys.executable, "-m", "bot.cli", "restore", str(out)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "ECHOWALL_DATA_DIR": str(data)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "in use by another echowall" in refused.stderr
    repo.close()
    before = store_bytes(data)

    done = restore(out, data, now=NOW)
    assert (done.cases, done.seq) == (5, info.seq)
    assert done.replaced is not None and done.replaced.parent == data
    kept = {p.name: p.read_bytes() for p in done.replaced.iterdir()}
    assert kept == before
    reopened = TinyRepository(data)
    try:
        assert [(c.id, c.text) for c in reopened.all_cases()] == [
            (n, f"问题{n}") for n in range(1, 6)
        ]
    finally:
        reopened.close()


def test_a_restore_is_refused_while_the_bot_runs_and_for_a_damaged_backup(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    repo = TinyRepository(data)
    repo.save_case(case(1, "问题1"))
    repo.close()
    out = tmp_path / "b.tar.gz"
    write_backup(data, out, now=NOW)
    files = store_bytes(data)
    process = holder(data)
    try:
        with pytest.raises(StoreBusy):
            restore(out, data, now=NOW)
    finally:
        process.kill()
        process.wait()
    assert store_bytes(data) == files
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(out) as source, tarfile.open(damaged, "w:gz") as target:
        for member in source.getmembers():
            content = source.extractfile(member).read()  # type: ignore[union-attr]
            if member.name != "echowall.backup.json":
                content = content.replace(b"\xe9\x97\xae\xe9\xa2\x98", b"xxxxxx")  # 问题
            member.size = len(content)
            target.addfile(member, io.BytesIO(content))
    with pytest.raises(CopyError, match="damaged"):
        restore(damaged, data, now=NOW)
    with pytest.raises(CopyError, match=r"not an echowall backup|cannot be read"):
        restore(tmp_path / "data" / "echowall.journal", data, now=NOW)
    assert store_bytes(data) == files
    assert not [p for p in data.iterdir() if p.name.startswith(".echowall-restore")]


# --- erased data leaves the files --------------------------------------------------------------


def test_an_erasure_during_a_compaction_leaves_the_files_with_the_next_one(
    tmp_path: Path,
) -> None:
    """A compaction under way froze the tables before the erasure: `compact(wait=False)` then
    asks for another, and once both are switched in no file holds the erased name."""
    store = JournalStorage(tmp_path / "echowall", compact_min_bytes=1 << 30, compact_pace=2e5)
    docs = store.table("docs")
    for n in range(1, 200):
        docs.put(n, doc(n))
    docs.put(200, {"name": "王阿姨", "phone": "13800000000"})
    store.compact(wait=False)
    assert store.compacting
    docs.put(200, {"name": "", "phone": ""})  # erased while the compaction writes
    store.compact(wait=False)
    deadline = time.monotonic() + 60
    work = tmp_path / "echowall.tmp"  # where replaced files wait to be freed, in slices
    while store.compacting or store.stats()["records"] or any(work.glob("*")):
        assert time.monotonic() < deadline, "the compactions did not finish"
        time.sleep(0.05)
        store.flush()  # switches a finished compaction in (no write needed)
    held = b"".join(p.read_bytes() for p in tmp_path.rglob("echowall.*") if p.is_file())
    assert "王阿姨".encode() not in held and b"13800000000" not in held
    assert snapshot_seq(tmp_path / "echowall.snapshot.json") is not None
    store.close()
