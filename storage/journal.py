"""A durable TinyDB `Storage`: a snapshot file plus an fsync'd append-only journal.

TinyDB hands a storage the whole database on every write. Rewriting a JSON file each time is
slow and, when the process is killed mid-write, can leave the file unreadable. This storage
keeps the data in memory, appends only the documents that changed as one checksummed line,
and fsyncs before `write` returns, so a write that returned survives `kill -9`. The journal is
folded into a new snapshot (written aside, fsync'd, then renamed) when it grows.
"""

from __future__ import annotations

import copy
import json
import os
import zlib
from pathlib import Path
from typing import Any

from tinydb.storages import Storage

Tables = dict[str, dict[str, Any]]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalStorage(Storage):
    """TinyDB storage backed by `<path>.snapshot.json` and `<path>.journal`."""

    def __init__(self, path: str | os.PathLike[str], *, compact_every: int = 2000) -> None:
        base = Path(path)
        base.parent.mkdir(parents=True, exist_ok=True)
        self._snapshot = base.with_name(base.name + ".snapshot.json")
        self._journal_path = base.with_name(base.name + ".journal")
        self._compact_every = compact_every
        self._data: Tables = {}
        self._seq = 0
        self._lines = 0
        self._load()
        # The last written state of each table: tables TinyDB did not replace are unchanged.
        self._shadow: Tables = copy.deepcopy(self._data)
        self._seen: dict[str, int] = {name: id(t) for name, t in self._data.items()}
        self._journal = open(self._journal_path, "ab")  # noqa: SIM115 - lives as long as the store

    def _load(self) -> None:
        if self._snapshot.exists():
            body = json.loads(self._snapshot.read_text("utf-8"))
            self._seq = int(body["seq"])
            self._data = body["tables"]
        good = 0
        if self._journal_path.exists():
            raw = self._journal_path.read_bytes()
            for line in raw.splitlines(keepends=True):
                record = self._parse(line)
                if record is None:
                    break  # a torn tail: that write never returned, so nobody was told
                good += len(line)
                if record["seq"] > self._seq:
                    self._apply(record)
                    self._seq = record["seq"]
                self._lines += 1
            if good < len(raw):
                with open(self._journal_path, "r+b") as handle:
                    handle.truncate(good)
                    handle.flush()
                    os.fsync(handle.fileno())

    @staticmethod
    def _parse(line: bytes) -> dict[str, Any] | None:
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

    def _apply(self, record: dict[str, Any]) -> None:
        for name, change in record["tables"].items():
            table = self._data.setdefault(name, {})
            for doc_id in change.get("del", ()):
                table.pop(doc_id, None)
            table.update(change.get("put", {}))

    def read(self) -> Tables | None:
        return self._data or None

    def write(self, data: Tables) -> None:
        changes: dict[str, dict[str, Any]] = {}
        for name, table in data.items():
            if self._seen.get(name) == id(table) and name in self._shadow:
                continue
            shadow = self._shadow.get(name, {})
            put = {k: v for k, v in table.items() if shadow.get(k) != v}
            gone = [k for k in shadow if k not in table]
            if put or gone:
                changes[name] = {"put": put, "del": gone}
        for name in [n for n in self._shadow if n not in data]:
            changes[name] = {"put": {}, "del": list(self._shadow[name])}
        self._data = data
        self._seen = {name: id(t) for name, t in data.items()}
        if not changes:
            return
        self._seq += 1
        body = json.dumps(
            {"seq": self._seq, "tables": changes}, ensure_ascii=False, separators=(",", ":")
        ).encode()
        self._journal.write(b"%08x " % zlib.crc32(body) + body + b"\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._lines += 1
        for name, change in changes.items():
            shadow = self._shadow.setdefault(name, {})
            for doc_id in change["del"]:
                shadow.pop(doc_id, None)
            shadow.update(copy.deepcopy(change["put"]))
        for name in [n for n in self._shadow if n not in data]:
            del self._shadow[name]
        if self._lines >= self._compact_every:
            self.compact()

    def compact(self) -> None:
        """Fold the journal into a fresh snapshot; safe to interrupt at any point."""
        tmp = self._snapshot.with_suffix(".tmp")
        with open(tmp, "wb") as handle:
            handle.write(
                json.dumps(
                    {"seq": self._seq, "tables": self._data},
                    ensure_ascii=False,
                    separators=(",", ":"),
                ).encode()
            )
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self._snapshot)
        _fsync_dir(self._snapshot.parent)
        # Records up to self._seq are in the snapshot now; a crash before this truncation only
        # leaves records that loading skips by their sequence number.
        self._journal.truncate(0)
        self._journal.seek(0)
        os.fsync(self._journal.fileno())
        self._lines = 0

    def close(self) -> None:
        if not self._journal.closed:
            if self._lines:
                self.compact()
            self._journal.close()
