"""The durable store engine: a journal and a snapshot that TinyDB can read, written per document.

`JournalStorage` is two things over the same files:

- the store engine of `storage.engine` (`DocumentStore`): `table(name)` gives a
  `storage.table.JournalTable`, whose writes cost O(documents changed), and
  `transaction()`, `deferred()`, `flush()`, `compact()` and `close()` are this class's own;
- a TinyDB `Storage` (TinyDB's public three-method interface: `read`, `write`, `close`), so
  that plain ``TinyDB(data_dir / "echowall", storage=JournalStorage)`` opens an echowall data
  directory with TinyDB's own tables and queries (for tools and ad-hoc questions: TinyDB's
  write path hands the storage the whole database, so each of its writes costs O(table)).

How the store scales
--------------------
TinyDB's own write path is whole-database: a `Table` copies its table into a new dict, applies
the change and hands the storage every table to write, so a write costs O(n) before any byte
reaches the disk. The engine interface writes per document instead:

- A table keeps each document as its encoded JSON bytes, or, for a document unchanged since
  the snapshot was written, as where those bytes lie in the snapshot file (one int: offset
  << 32 | length; `dict[id, bytes | int]`). A write encodes only the documents it changes,
  appends them as one CRC-checked line to the journal, fsyncs it, and only then swaps the new
  bytes in; a write that returned survives `kill -9`, a write that raised changed nothing in
  memory. Puts that leave a document's bytes as they were are dropped, so a no-op save costs
  no fsync.
- Reads decode on access (`DocumentMap`): a lookup by id is one dict lookup, for a document
  on disk one `os.pread` of the snapshot (from the page cache: a few microseconds), and one
  `orjson.loads`. Every reader gets fresh objects, so nothing a caller does to a returned
  document can change the store behind the journal's back.
- Documents on disk rather than in memory because a ledger is mostly closed cases nobody
  reads: at 100,000 cases the process holds about 10 MB of positions instead of 155 MB of
  bytes. Bytes (not decoded dicts) for the changed ones, because they make everything else
  cheap: the snapshot is written without encoding anything, loaded without parsing it, and
  the cyclic garbage collector has almost nothing to walk.
- The journal is folded into a new snapshot when it has grown as large as the snapshot, so
  compaction costs O(1) amortised per byte written. A helper thread writes the snapshot from
  a frozen copy of the id -> bytes-or-position maps (documents on disk are read back a
  megabyte at a time; I/O and joins, the GIL is mostly free), paced at 32 MB/s and flushed
  every 256 kB so that the journal's fsyncs do not queue behind it (written flat out, it made
  concurrent writes 4-10 times slower), then the table of contents, then copies the journal
  records written meanwhile into a new journal file. The writer's thread pays for the copy of
  the maps and the indexes (5-15 ms at 100,000 documents) and for the switch at the next
  write: rename the snapshot and the contents in, append the last records to the new journal
  and rename it over the old one. The replaced files are kept alive by a hard link and freed
  later on a helper thread, since freeing 100 MB inside a rename takes tens of milliseconds.
  At the switch, every document not changed since the freeze is moved to where the new
  snapshot has it (one `dict.update` of positions the helper thread prepared), before the
  old file can be freed; the whole switch takes about 50 ms at 100,000 documents, once per
  compaction. A crash at any point leaves either the old snapshot with the whole journal or
  the new snapshot with a journal whose older records are skipped by sequence number.
- `subscribe` lets in-memory secondary indexes (`storage.engine.TableIndex`, registered by
  `JournalTable.index`) follow every change of a table, whichever path made it (TinyDB's
  whole-database `write` included), and `keep` stores them with every snapshot.

Files (compatible with the previous whole-database storage, both ways)
----------------------------------------------------------------------
``<path>.journal``: one record per line, ``<crc32 hex> {"seq":N,"tables":{name:{"put":{id:doc},
"del":[id]}}}``. A line whose checksum or JSON does not hold is a torn tail: it and everything
after it are dropped on open.

``<path>.tmp/``: files a compaction is writing; anything left there after a crash is deleted on
open. They live in a directory of their own so that copying the data directory's files (as
``echowall stats`` does) never meets a half-written or vanishing file.

The snapshot and its table of contents, ``<path>.snapshot.json`` and ``<path>.contents.jsonl``,
are described in `storage.snapshot`, which reads and writes them.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import shutil
import threading
import time
import zlib
from array import array
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from tinydb.storages import Storage

from storage.lock import DirectoryLock
from storage.snapshot import (
    CHUNK,
    CONTENTS_LAYOUT,
    FOOT,
    HEAD,
    LAYOUT,
    DocumentMap,
    Held,
    PacedWriter,
    ReadAhead,
    SnapshotFile,
    encode,
    json_name,
    read_snapshot,
    write_snapshot,
)
from storage.table import JournalTable

__all__ = ["DocumentMap", "JournalStorage", "encode", "read_snapshot", "write_snapshot"]

log = logging.getLogger(__name__)

# Called after a durable change with (document id, the new document or None when it was
# deleted, the previous version's bytes or None when it is new).
Listener = Callable[[str, Mapping[str, Any] | None, bytes | None], None]

_SCRATCH_IDS = itertools.count()
_FREE_STEP = 4 * 1024 * 1024


def _free(paths: list[Path]) -> None:
    """Delete files a slice at a time (see `JournalStorage._keep`); run on a helper thread.

    Each step frees at most _FREE_STEP bytes of blocks, which a concurrent journal fsync may
    have to commit; whatever is left after a crash goes with the work directory on open.
    """
    for path in paths:
        try:
            with open(path, "r+b") as handle:
                size = handle.seek(0, os.SEEK_END)
                while size > 0:
                    size = max(0, size - _FREE_STEP)
                    handle.truncate(size)
                    time.sleep(0.002)
            path.unlink()
        except OSError:
            pass


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Change:
    """What one commit does to one table."""

    __slots__ = ("dels", "drop", "puts")

    def __init__(
        self, puts: dict[str, Mapping[str, Any]], dels: list[str], drop: bool = False
    ) -> None:
        self.puts = puts
        self.dels = dels
        self.drop = drop


class _Transaction:
    """Changes made inside `JournalStorage.transaction()`: applied in memory at once, written
    to the journal as one record when it ends (or undone, when it raises)."""

    __slots__ = ("before", "created", "final")

    def __init__(self) -> None:
        # Per table, per document: the new bytes, or None when deleted.
        self.final: dict[str, dict[str, bytes | None]] = {}
        # Per table, per document: what it was before the transaction touched it (None: absent).
        self.before: dict[str, dict[str, Held | None]] = {}
        # Tables the transaction made exist.
        self.created: set[str] = set()


class _Compaction:
    """Builds the files that replace the snapshot and the journal, normally on its own thread.

    It writes a snapshot of frozen tables (bytes are immutable and the dicts are copies, so
    nothing is shared with the writer but the journal file), then copies the journal records
    written since it started into a new journal file, up to a size the storage had published
    (whole records only). The storage looks at it again only once it has ended, and appends
    whatever came in meanwhile before switching files.
    """

    def __init__(
        self,
        storage: JournalStorage,
        tables: dict[str, dict[str, Held]],
        *,
        pace: float | None,
    ) -> None:
        # The frozen tables stay until the switch, which moves every document still held as
        # it was frozen to where the new snapshot has it (`places`, in the same order).
        self.tables = tables
        self.places: list[array[int]] = []
        # Per table, where the new snapshot has each frozen document (built on the thread),
        # and what the writer changed or dropped meanwhile (those keep their new bytes).
        self.moved: dict[str, dict[str, int]] = {}
        self.touched: dict[str, set[str]] = {}
        self.dropped: set[str] = set()
        # A descriptor of its own for the current snapshot: the writer's thread may switch
        # files only after this job has ended, but it owns `storage._file`.
        self._fd = os.dup(storage._file.fd) if storage._file.fd is not None else None
        self.seq = storage._seq
        self.journal_size = storage._journal_size
        self.records = storage._records
        self.snapshot = storage._scratch(storage._snapshot_path.name)
        self.contents = storage._scratch(storage._contents_path.name)
        self.journal = storage._scratch(storage._journal_path.name)
        # What the tables keep with the snapshot (their indexes), frozen now, dumped later.
        self._kept = {name: freeze() for name, freeze in storage._keepers.items()}
        self.size = 0
        self.copied = 0  # journal bytes after `journal_size` already in `self.journal`
        self.error: BaseException | None = None
        self._source = storage._journal_path
        self._size_now: Callable[[], int] = lambda: storage._journal_size
        self.pace = pace  # None from the moment someone waits for it: flat out
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        # A daemon thread: an interpreter exiting without close() must not wait for it; the
        # half-written files are removed on the next open.
        self._thread = threading.Thread(target=self.run, name="journal-compaction", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def wait(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def run(self) -> None:
        fd = self._fd
        try:
            self.size = write_snapshot(
                self.snapshot,
                self.seq,
                self.tables,
                pace=lambda: self.pace,
                read=None if fd is None else ReadAhead(fd),
                places=self.places,
            )
            self.moved = {
                name: dict(zip(docs, places, strict=True))
                for (name, docs), places in zip(self.tables.items(), self.places, strict=True)
            }
            self._write_contents()
            self._copy_journal()
        except BaseException as error:  # reported by the storage on the event loop's thread
            self.error = error
        finally:
            if fd is not None:
                os.close(fd)

    def _write_contents(self) -> None:
        """Write the snapshot's table of contents: where each document is, what tables keep."""
        with open(self.snapshot, "rb") as snapshot:
            snapshot.seek(max(0, self.size - 64))
            foot = FOOT.search(snapshot.read())
        assert foot is not None
        head = {"contents": CONTENTS_LAYOUT, "seq": self.seq, "size": self.size}
        head["crc32"] = int(foot.group(1))
        with open(self.contents, "wb") as handle:
            # Paced like the snapshot: 10 MB written flat out made a concurrent journal fsync
            # wait for all of it (600 ms). One line at a time, so that neither writing nor
            # reading it ever holds more than one table's part.
            out = PacedWriter(handle, lambda: self.pace)

            def line(value: Any) -> None:
                data = orjson.dumps(value) + b"\n"
                for start in range(0, len(data), CHUNK):
                    out.put(data[start : start + CHUNK])

            line(head)
            for (name, docs), places in zip(self.tables.items(), self.places, strict=True):
                line({"table": name})
                line([list(docs), places.tolist()])
            for name, dump in self._kept.items():
                line({"kept": name})
                line(dump())
            line({"end": True})
            handle.flush()
            os.fdatasync(handle.fileno())

    def _copy_journal(self) -> None:
        """Copy the records written while the snapshot was being written, catching up twice."""
        with open(self._source, "rb") as source, open(self.journal, "ab") as target:
            for _ in range(3):
                # The storage publishes its size only after a record is complete and fsync'd.
                limit = self._size_now() - self.journal_size
                if limit - self.copied < CHUNK and self.copied:
                    break
                source.seek(self.journal_size + self.copied)
                while self.copied < limit:
                    chunk = source.read(min(CHUNK, limit - self.copied))
                    if not chunk:
                        raise OSError("journal ended early while compacting")
                    target.write(chunk)
                    self.copied += len(chunk)
            target.flush()
            os.fdatasync(target.fileno())


def _parse_record(line: bytes) -> dict[str, Any] | None:
    if not line.endswith(b"\n"):
        return None
    checksum, _, body = line.rstrip(b"\n").partition(b" ")
    try:
        if int(checksum, 16) != zlib.crc32(body):
            return None
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


class JournalStorage(Storage):
    """The durable `DocumentStore` (and a TinyDB `Storage`) over `<path>.snapshot.json`,
    `<path>.contents.jsonl` and `<path>.journal`; see the module docstring.

    Options: `compact_ratio` and `compact_min_bytes` decide when the journal is folded into a
    snapshot (journal bytes >= max(min, ratio * snapshot bytes)); `compact_every` also folds
    after that many records (tests use it to compact often); `compact_pace` caps how fast a
    background compaction writes (bytes/s, None: flat out); `background=False` compacts on the
    caller's thread instead of a helper thread.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        compact_every: int | None = None,
        compact_ratio: float = 1.0,
        compact_min_bytes: int = 1 << 20,
        compact_pace: float | None = 32e6,
        background: bool = True,
    ) -> None:
        base = Path(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        self._snapshot_path = base.with_name(base.name + ".snapshot.json")
        self._contents_path = base.with_name(base.name + ".contents.jsonl")
        self._journal_path = base.with_name(base.name + ".journal")
        self._work = base.with_name(base.name + ".tmp")
        self._compact_every = compact_every
        self._compact_ratio = compact_ratio
        self._compact_min = compact_min_bytes
        self._compact_pace = compact_pace
        self._background = background
        self._tables: dict[str, dict[str, Held]] = {}
        self._file = SnapshotFile()
        self._keepers: dict[str, Callable[[], Callable[[], Any]]] = {}
        # What the tables kept with the snapshot opened, encoded until they ask for it.
        self._kept: dict[str, bytes] = {}
        # Ids the journal changed since then, with what they were in the snapshot (or None).
        self._replayed: dict[str, dict[str, Held | None]] = {}
        self._contents_stale = False
        self._sync = True  # False inside `deferred()`
        self._tx: _Transaction | None = None  # open inside `transaction()`
        self._unsynced = False  # records written since the last fsync
        self._listeners: dict[str, list[Listener]] = {}
        self._seq = 0
        self._records = 0
        self._journal_size = 0
        self._snapshot_size = 0
        self._retry_at = 0
        self._job: _Compaction | None = None
        self._freeing: list[threading.Thread] = []
        self._closed = False
        # Asked for a compaction while one was under way: another follows it (`compact`).
        self._again = False
        # One process owns the files: taken before anything is read, or truncated.
        self._lock = DirectoryLock(base)
        self._lock.acquire()
        try:
            shutil.rmtree(self._work, ignore_errors=True)  # an interrupted compaction's files
            legacy = self._load()
            self._fd = os.open(self._journal_path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        except BaseException:
            self._file.close()
            self._lock.release()
            raise
        if legacy:
            self._start_compaction()

    # -- loading ---------------------------------------------------------------------------

    def _load(self) -> bool:
        legacy = False
        if self._snapshot_path.exists():
            self._file.fd = os.open(self._snapshot_path, os.O_RDONLY)
            with open(self._file.fd, "rb", closefd=False) as handle:
                if not self._load_contents(handle):
                    handle.seek(0)
                    self._seq, self._tables, legacy = read_snapshot(handle)
                    self._snapshot_size = handle.tell()
                    self._contents_stale = True
        if not self._journal_path.exists():
            return legacy
        good = 0
        with open(self._journal_path, "rb") as handle:
            for line in handle:
                record = _parse_record(line)
                if record is None:
                    break  # a torn tail: that write never returned, so nobody was told
                good += len(line)
                self._records += 1
                if record["seq"] > self._seq:
                    self._apply(record)
                    self._seq = record["seq"]
            size = handle.seek(0, os.SEEK_END)
        if good < size:
            with open(self._journal_path, "r+b") as handle:
                handle.truncate(good)
                handle.flush()
                os.fsync(handle.fileno())
        self._journal_size = good
        return legacy

    def _load_contents(self, handle: BinaryIO) -> bool:
        """Open the snapshot through its table of contents, without reading the snapshot.

        The contents file is written with the snapshot and renamed in after it; it is used
        only if it names this very snapshot (sequence number, size and checksum), so a crash
        between the two renames, or a contents file from an older snapshot, falls back to
        reading the snapshot itself. The snapshot's checksum is still verified: a damaged
        snapshot fails to open either way (about 0.1 s for 150 MB, from the page cache).
        """
        try:
            with open(self._contents_path, "rb") as lines:
                contents = orjson.loads(lines.readline())
                size = os.fstat(handle.fileno()).st_size
                head = HEAD.fullmatch(handle.readline())
                tail_at = max(0, size - 64)
                handle.seek(tail_at)
                foot = FOOT.search(handle.read())
                if (
                    head is None
                    or foot is None
                    or int(head.group(2)) != LAYOUT
                    or contents.get("contents") != CONTENTS_LAYOUT
                    or contents["seq"] != int(head.group(1))
                    or contents["size"] != size
                    or contents["crc32"] != int(foot.group(1))
                ):
                    return False
                tables: dict[str, dict[str, Held]] = {}
                kept: dict[str, bytes] = {}
                while True:
                    marker = orjson.loads(lines.readline())
                    if marker.get("end"):
                        break
                    if "table" in marker:
                        ids, places = orjson.loads(lines.readline())
                        tables[marker["table"]] = dict(zip(ids, places, strict=True))
                    else:  # decoded when the table asks for it: one at a time
                        kept[marker["kept"]] = lines.readline()
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return False
        handle.seek(0)
        crc, left = 0, tail_at + foot.start()
        while left > 0:
            chunk = handle.read(min(left, 1 << 22))
            if not chunk:
                break
            crc = zlib.crc32(chunk, crc)
            left -= len(chunk)
        if left or crc != contents["crc32"]:
            raise ValueError("snapshot is incomplete or its checksum does not match")
        self._seq, self._tables, self._snapshot_size = contents["seq"], tables, size
        self._kept = kept
        return True

    def _apply(self, record: Mapping[str, Any]) -> None:
        for name, change in record["tables"].items():
            if change.get("drop"):
                self._tables.pop(name, None)
                self._kept.pop(name, None)
                continue
            table = self._tables.setdefault(name, {})
            replayed = self._replayed.setdefault(name, {})
            for doc_id in change.get("del", ()):
                replayed.setdefault(doc_id, table.get(doc_id))
                table.pop(doc_id, None)
            for doc_id, doc in change.get("put", {}).items():
                replayed.setdefault(doc_id, table.get(doc_id))
                table[doc_id] = encode(doc)

    # -- TinyDB's whole-database interface -------------------------------------------------

    def read(self) -> dict[str, dict[str, Any]] | None:
        """Every table as a `DocumentMap`; used by TinyDB for table names and `drop_table`."""
        views: dict[str, Any] = {
            name: DocumentMap(docs, self._file) for name, docs in self._tables.items()
        }
        return views or None

    def write(self, data: dict[str, dict[str, Any]]) -> None:
        """Make the database equal to `data`, journalling only what differs (one record).

        TinyDB's tables call this with the whole database on every write; the engine
        interface never does. Tables passed back as this storage's own views are unchanged;
        in the others, every document is encoded and compared, and only those whose bytes
        differ from what the storage holds go into the record.
        """
        changes: dict[str, _Change] = {}
        for name, table in self._tables.items():
            if name not in data:
                changes[name] = _Change({}, list(table), drop=True)
        for name, docs in data.items():
            current = self._tables.get(name)
            if isinstance(docs, DocumentMap) and docs._docs is current:
                continue
            puts = {str(key): doc for key, doc in docs.items()}
            dels = [key for key in current or () if key not in puts]
            changes[name] = _Change(puts, dels)
        self._commit(changes, create=set(data))

    # -- the engine interface (storage.engine.DocumentStore) --------------------------------

    def table(self, name: str) -> JournalTable:
        """Table `name` as the engine interface's `DocumentTable` (see `storage.table`)."""
        return JournalTable(self, name)

    def opened(self) -> None:
        """Every table is open and indexed: rewrite an outdated table of contents (below)."""
        self.refresh_contents()

    # -- per-document primitives, for `JournalTable` ---------------------------------------

    def documents(self, name: str) -> DocumentMap:
        """The live view of one table (empty if it does not exist yet)."""
        return DocumentMap(self._tables.get(name, {}), self._file)

    def commit(
        self,
        name: str,
        puts: Mapping[str, Mapping[str, Any]] | None = None,
        deletes: Iterable[str] = (),
        *,
        create: bool = False,
    ) -> None:
        """Put and delete documents of one table as one durable step (one journal line).

        Returns once the change is fsync'd; raises, with nothing changed, if it could not be
        encoded or written. `create` makes an empty table exist even without changes.
        """
        change = _Change(dict(puts or {}), list(deletes))
        self._commit({name: change}, create={name} if create else set())

    def keep(self, name: str, freeze: Callable[[], Callable[[], Any]]) -> Any | None:
        """Keep something derived from table `name` (its indexes) with every snapshot.

        `freeze()` runs on the writer's thread when a compaction starts and must capture the
        state cheaply; the function it returns runs on the compaction's thread and gives JSON.
        Returns what was kept with the snapshot this storage opened, or None; the caller
        brings it up to date with `replayed(name)`. Once per table.
        """
        if name in self._keepers:
            raise ValueError(f"table {name!r} already keeps something with the snapshot")
        self._keepers[name] = freeze
        kept = self._kept.pop(name, None)
        return None if kept is None else orjson.loads(kept)

    def replayed(self, name: str) -> dict[str, bytes | None]:
        """Documents of table `name` the journal changed after the snapshot, with their bytes
        in the snapshot (None: not in it)."""
        return {
            key: None if held is None else self._file.blob(held)
            for key, held in self._replayed.get(name, {}).items()
        }

    def refresh_contents(self) -> None:
        """Start a background compaction if the snapshot was opened the slow way (no usable
        table of contents, or something kept with it was out of date), so the next start is
        fast. Call it once every table has said what it keeps."""
        if self._contents_stale and self._job is None:
            self._start_compaction()
        self._contents_stale = False

    def mark_stale(self) -> None:
        """What a table kept with the snapshot could not be used: refresh it (see above)."""
        if self._file.fd is not None:
            self._contents_stale = True

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        """Make every write inside one atomic step: one journal record, written at the end.

        Writes are applied in memory at once, so reads inside see them. At the end they are
        appended as a single record, fsync'd if `durable` (else as `deferred()` writes are),
        so a `kill -9` keeps all of them or none. If the block raises, or the record cannot
        be written, every change is undone in memory (indexes included) and nothing reaches
        the journal. A transaction opened inside another one joins it.
        """
        if self._closed:
            raise ValueError("storage is closed")
        if self._tx is not None:
            yield
            return
        self._tx = _Transaction()
        try:
            yield
        except BaseException:
            self._undo()
            raise
        self._end_transaction(durable)

    @property
    def in_transaction(self) -> bool:
        return self._tx is not None

    def _end_transaction(self, durable: bool) -> None:
        tx = self._tx
        assert tx is not None
        parts: list[bytes] = []
        for name in dict.fromkeys([*tx.created, *tx.final]):
            final = tx.final.get(name, {})
            before = tx.before.get(name, {})
            puts = [(k, b) for k, b in final.items() if b is not None]
            # A document made and deleted again inside the transaction never existed.
            dels = [k for k, b in final.items() if b is None and before.get(k) is not None]
            if not puts and not dels and name not in tx.created:
                continue
            body = b",".join(json_name(key) + b":" + blob for key, blob in puts)
            gone = orjson.dumps(dels)
            parts.append(json_name(name) + b':{"put":{' + body + b'},"del":' + gone + b"}")
        if not parts:
            self._tx = None
            return
        seq = self._seq + 1
        sync, self._sync = self._sync, self._sync and durable
        try:
            self._append(b'{"seq":%d,"tables":{%s}}' % (seq, b",".join(parts)))
        except BaseException:
            self._undo()
            raise
        finally:
            self._sync = sync
        self._tx = None
        self._seq = seq
        self._after_write()

    def _undo(self) -> None:
        """Put every document the open transaction changed back as it was, and end it."""
        tx, self._tx = self._tx, None
        assert tx is not None
        job = self._job
        for name, before in tx.before.items():
            table = self._tables.get(name)
            if table is None:
                continue
            listeners = self._listeners.get(name, ())
            for key, held in before.items():
                now = table.get(key)
                if held is None:
                    table.pop(key, None)
                else:
                    if job is not None and type(held) is not bytes:
                        # A compaction keeps the bytes of documents touched while it runs
                        # (see `_Compaction.touched`): a place in the old file would not do.
                        held = self._file.blob(held)
                    table[key] = held
                if listeners:
                    old = None if now is None else self._file.blob(now)
                    doc = None if held is None else orjson.loads(self._file.blob(held))
                    for listener in listeners:
                        listener(key, doc, old)
            if name in tx.created and not table:
                del self._tables[name]
        for name in tx.created:
            if name in self._tables and not self._tables[name]:
                del self._tables[name]

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """Writes inside are appended at once but not fsync'd: they survive `kill -9` (the
        kernel has them) but not a power cut, until the next fsync'd write or `flush()`.

        For bookkeeping after a reply was sent (the id of the message that went out): the
        write that the reply acknowledged was fsync'd before it, as every other write is.
        """
        before, self._sync = self._sync, False
        try:
            yield
        finally:
            self._sync = before

    def flush(self) -> None:
        """fsync what `deferred()` writes left unsynced (cheap when there is nothing), and
        switch in a background compaction that has finished (else the next write does)."""
        if self._closed:
            return
        if self._unsynced:
            os.fsync(self._fd)
            self._unsynced = False
        if self._job is not None and not self._job.running and self._tx is None:
            self._after_write()

    def subscribe(self, name: str, listener: Listener) -> None:
        """Call `listener` for every document of table `name` changed from now on."""
        self._listeners.setdefault(name, []).append(listener)

    def _commit(self, changes: Mapping[str, _Change], create: set[str]) -> None:
        if self._closed:
            raise ValueError("storage is closed")
        # Encode everything first: a document JSON cannot hold fails the write before any of
        # it reaches the journal.
        parts: list[bytes] = []
        applied: list[tuple[str, _Change, dict[str, bytes], list[str]]] = []
        for name, change in changes.items():
            table = self._tables.get(name)
            blobs = {}
            for key, doc in change.puts.items():
                blob = encode(doc)
                held = None if table is None else table.get(key)
                if held is None or not self._file.same(held, blob):
                    blobs[key] = blob
            dels = [key for key in dict.fromkeys(change.dels) if table and key in table]
            if change.drop:
                if table is None:
                    continue
            elif not blobs and not dels and (table is not None or name not in create):
                continue
            applied.append((name, change, blobs, dels))
            puts = b",".join(json_name(key) + b":" + blob for key, blob in blobs.items())
            parts.append(
                json_name(name)
                + b':{"put":{'
                + puts
                + b'},"del":'
                + orjson.dumps(dels)
                + (b',"drop":true}' if change.drop else b"}")
            )
        if not applied:
            return
        tx = self._tx
        if tx is None:
            seq = self._seq + 1
            self._append(b'{"seq":%d,"tables":{%s}}' % (seq, b",".join(parts)))
            self._seq = seq
        else:
            # Inside a transaction: remembered, written as one record when it ends.
            for name, change, blobs, dels in applied:
                if change.drop:
                    raise ValueError("a table cannot be dropped inside a transaction")
                current = self._tables.get(name)
                if current is None:
                    tx.created.add(name)
                    current = {}
                before = tx.before.setdefault(name, {})
                final = tx.final.setdefault(name, {})
                for key in (*dels, *blobs):
                    if key not in before:
                        before[key] = current.get(key)
                for key in dels:
                    final[key] = None
                final.update(blobs)
        job = self._job
        for name, change, blobs, dels in applied:
            if job is not None:  # a compaction runs: these keep their bytes at the switch
                if change.drop:
                    job.dropped.add(name)
                else:
                    job.touched.setdefault(name, set()).update(blobs, dels)
            listeners = self._listeners.get(name, ())
            current = self._tables.get(name, {})
            before = {key: current.get(key) for key in (*dels, *blobs)} if listeners else {}
            if change.drop:
                del self._tables[name]
            else:
                table = self._tables.setdefault(name, {})
                for key in dels:
                    del table[key]
                table.update(blobs)
            if listeners:
                # What each document was: the indexes find the keys it was under from it.
                # Documents on disk are still readable here (files switch only later).
                old = {k: None if h is None else self._file.blob(h) for k, h in before.items()}
                for listener in listeners:
                    for key in dels:
                        listener(key, None, old[key])
                    for key in blobs:
                        listener(key, change.puts[key], old[key])
        if tx is None:
            self._after_write()

    def _append(self, body: bytes) -> None:
        line = b"%08x " % zlib.crc32(body) + body + b"\n"
        try:
            view = memoryview(line)
            while view:
                view = view[os.write(self._fd, view) :]
            if self._sync:
                os.fsync(self._fd)  # also makes every unsynced record before it durable
            self._unsynced = not self._sync
        except BaseException:
            # A partial line left in the middle of the journal would hide every later record
            # from replay; cut it off (best effort) before reporting the failure.
            try:
                os.ftruncate(self._fd, self._journal_size)
                os.fsync(self._fd)
            except OSError:
                pass
            raise
        self._journal_size += len(line)
        self._records += 1

    # -- compaction ------------------------------------------------------------------------

    def _after_write(self) -> None:
        # The write is durable already: trouble with compaction is logged and retried later,
        # never reported as a failed write.
        try:
            if self._job is not None:
                if self._job.running:
                    return
                self._finish_compaction()
            if self._due() or self._again:
                self._again = False
                self._start_compaction()
        except OSError as error:
            log.warning("journal compaction failed, will retry later: %r", error)
            self._job = None
            self._retry_at = self._journal_size + self._compact_min

    def _due(self) -> bool:
        if not self._records or self._journal_size < self._retry_at:
            return False
        if self._compact_every is not None and self._records >= self._compact_every:
            return True
        return self._journal_size >= max(
            self._compact_min, self._compact_ratio * self._snapshot_size
        )

    def _scratch(self, name: str) -> Path:
        """A new file in the work directory; unique, so no two writers ever share one.

        Created like the files it replaces (mode 0o666 under the umask), not 0o600 as
        `tempfile` would make it.
        """
        self._work.mkdir(exist_ok=True)
        while True:
            path = self._work / f"{name}.{os.getpid()}.{next(_SCRATCH_IDS)}"
            try:
                os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            except FileExistsError:
                continue
            return path

    def _start_compaction(self, *, background: bool | None = None) -> None:
        # A copy of the id -> bytes-or-position dicts is a consistent image: neither changes in
        # place. With the indexes' copies, the one O(n) step on this thread: 5-15 ms at 100k.
        frozen = {name: dict(docs) for name, docs in self._tables.items()}
        if self._background if background is None else background:
            self._job = _Compaction(self, frozen, pace=self._compact_pace)
            self._job.start()
        else:
            self._job = _Compaction(self, frozen, pace=None)
            self._job.run()
            self._finish_compaction()

    def _finish_compaction(self) -> None:
        job, self._job = self._job, None
        assert job is not None and not job.running
        if job.error is not None:
            log.warning("journal compaction failed, will retry later: %r", job.error)
            job.snapshot.unlink(missing_ok=True)
            job.contents.unlink(missing_ok=True)
            job.journal.unlink(missing_ok=True)
            self._retry_at = self._journal_size + self._compact_min
            return
        try:
            # Opened before the rename: once it is in, documents must be readable from it.
            fd = os.open(job.snapshot, os.O_RDONLY)
            try:
                replaced = [self._keep(self._snapshot_path)]
                os.replace(job.snapshot, self._snapshot_path)
            except BaseException:
                os.close(fd)
                raise
            self._move_to(fd, job)
            self._snapshot_size = job.size
            replaced.append(self._keep(self._contents_path))
            os.replace(job.contents, self._contents_path)
            _fsync_dir(self._snapshot_path.parent)
            # The snapshot holds every record up to job.seq now: a crash from here on replays
            # only the newer ones, whichever journal it finds.
            tail = self._journal_size - job.journal_size
            if tail == 0:
                os.ftruncate(self._fd, 0)
                os.fsync(self._fd)
            else:
                replaced.append(self._keep(self._journal_path))
                self._switch_journal(job, tail)
        finally:
            job.snapshot.unlink(missing_ok=True)
            job.contents.unlink(missing_ok=True)
            job.journal.unlink(missing_ok=True)
        self._journal_size = tail
        self._records -= job.records
        self._retry_at = 0
        doomed = [path for path in replaced if path is not None]
        if doomed:
            self._freeing = [t for t in self._freeing if t.is_alive()]
            helper = threading.Thread(
                target=_free, args=(doomed,), name="journal-free", daemon=True
            )
            helper.start()
            self._freeing.append(helper)

    def _move_to(self, fd: int, job: _Compaction) -> None:
        """Read from the new snapshot from now on; documents unchanged since the job froze
        them are held as where the new file has them, and changed ones keep their bytes.

        This runs before the old file may be freed, so no reference to it survives.
        """
        for name, moved in job.moved.items():
            live = self._tables.get(name)
            if live is None or name in job.dropped:
                continue
            for key in job.touched.get(name, ()):
                moved.pop(key, None)
            live.update(moved)
        old, self._file.fd = self._file.fd, fd
        if old is not None:
            os.close(old)

    def _keep(self, path: Path) -> Path | None:
        """Hard-link a file about to be replaced into the work directory.

        Replacing the last name of a large file frees its blocks inside the rename (tens of
        milliseconds for a 100 MB snapshot, more with online discard); with a second name the
        rename is cheap, and the blocks are freed later on a helper thread.
        """
        if not path.exists():
            return None
        keep = self._scratch(path.name + ".old")
        keep.unlink()
        try:
            os.link(path, keep)
        except OSError:
            return None  # no hard links here: the rename frees the file itself
        return keep

    def _switch_journal(self, job: _Compaction, tail: int) -> None:
        """Replace the journal by its last `tail` bytes, the records written while compacting.

        The compaction copied most of them already; what came in since is appended here.
        """
        offset = job.journal_size + job.copied
        rest = b""
        while len(rest) < tail - job.copied:
            chunk = os.pread(self._fd, tail - job.copied - len(rest), offset + len(rest))
            if not chunk:
                raise OSError("journal ended early while compacting")
            rest += chunk
        fd = os.open(job.journal, os.O_RDWR | os.O_APPEND)
        try:
            view = memoryview(rest)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.replace(job.journal, self._journal_path)
        except BaseException:
            os.close(fd)
            raise
        # From the rename on, appends must go to the new file, whatever happens next.
        old, self._fd = self._fd, fd
        os.close(old)
        _fsync_dir(self._journal_path.parent)

    def compact(self, *, wait: bool = True) -> None:
        """Fold the journal into a fresh snapshot; safe to interrupt at any point.

        `wait=True`: now, on this thread (after finishing one under way). `wait=False`: in
        the background; if one is under way already, another starts when it is done, so that
        everything written before this call is in the snapshot once the second one is. A
        finished one is switched in by the next write or `flush()`.
        """
        if self._closed:
            raise ValueError("storage is closed")
        if self._tx is not None:
            raise ValueError("cannot compact inside a transaction")
        if not wait:
            if self._job is None:
                self._start_compaction()
            else:
                # The one under way froze the tables before this call: what was written since
                # (an erasure, say) reaches the snapshot only with the next one.
                self._again = True
            return
        if self._job is not None:
            self._job.pace = None
            self._job.wait()
            self._finish_compaction()
        self._again = False
        if self._records:
            self._start_compaction(background=False)

    @property
    def compacting(self) -> bool:
        """Whether a background compaction has started and not been switched in yet.

        Its thread writes the new files; the first write after it ended switches them in.
        """
        return self._job is not None

    def stats(self) -> dict[str, int]:
        """Sizes that decide compaction, for tests and the benchmark."""
        return {
            "seq": self._seq,
            "records": self._records,
            "journal_bytes": self._journal_size,
            "snapshot_bytes": self._snapshot_size,
        }

    def close(self) -> None:
        if self._closed:
            return
        self.flush()
        try:
            # Folding on close makes the next start read one snapshot instead of replaying.
            self.compact()
        finally:
            self._closed = True
            os.close(self._fd)
            self._file.close()
            for helper in self._freeing:
                helper.join()
            self._lock.release()
