"""The snapshot file and its table of contents: layouts, writing, reading, and the view of
documents held in them (`DocumentMap`).

A document is held either as its encoded bytes (`encode`) or, unchanged since the snapshot was
written, as where those bytes lie in the snapshot (one int: offset << 32 | length, `Held`);
`SnapshotFile` reads the latter with `os.pread`. `storage.journal.JournalStorage` owns the
files and decides when to write them; this module only knows their layout.

Files
-----
``<path>.snapshot.json``: one JSON object ``{"seq":N,...,"tables":{name:{id:doc}}}``, written
with one document per line and a CRC of everything before its last line, so it loads by slicing
lines instead of parsing JSON. Any JSON reader, including the previous storage, reads it as
before; a snapshot in the old single-line form is read with `json.loads` and rewritten in the
new layout by a compaction right after opening.

``<path>.contents.jsonl``: the snapshot's table of contents, written with it and renamed in
right after it. JSON lines: a head ``{"contents":2,"seq","size","crc32"}``; per table a line
``{"table":name}`` and a line ``[[id,...],[offset << 32 | length,...]]``; per table that keeps
something with the snapshot (its indexes, see `JournalStorage.keep`) a line ``{"kept":name}``
and a line with it; and ``{"end":true}``. Opening uses it when it names the snapshot (seq, size,
checksum): the documents' places come from it and the indexes are restored instead of rebuilt,
so no document is decoded (100,000 cases: about 0.4 s instead of 1.4 s), and it is read a line
at a time, so opening never holds much more than what it builds. Otherwise the snapshot is read
line by line as before and a background compaction writes new contents.
"""

from __future__ import annotations

import json
import os
import re
import time
import zlib
from array import array
from collections.abc import Callable, ItemsView, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO

import orjson

Doc = dict[str, Any]

LAYOUT = 1
CONTENTS_LAYOUT = 2
HEAD = re.compile(rb'\{"seq":(\d+),"layout":(\d+),"tables":\{\n')
FOOT = re.compile(rb'\},"crc32":(\d+)\}\n')
# The snapshot writer's pace: it hands the GIL back at every write() of a chunk, and it flushes
# its file every SYNC_EVERY bytes, because a journal fsync can end up waiting for the dirty
# pages of other files on the same file system (ext4's ordered mode does).
CHUNK = 128 * 1024
SYNC_EVERY = 256 * 1024

# What orjson writes is what `json.dumps(doc, ensure_ascii=False, separators=(",", ":"))`
# writes, about twice as fast. Integer keys become strings, as with `json`; datetimes and
# dataclasses are refused, as `json` refuses them (orjson would otherwise write them).
ENCODE_OPTIONS = (
    orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
)
# A document kept on disk is held as where it lies in the snapshot: offset << 32 | length.
LENGTH = 0xFFFFFFFF
Held = bytes | int


def encode(doc: Mapping[str, Any]) -> bytes:
    """The bytes a document is kept and journalled as (compact, UTF-8, key order kept)."""
    return orjson.dumps(doc, option=ENCODE_OPTIONS)


def read_at(fd: int, held: int) -> bytes:
    """The bytes of a document held on disk, read from the snapshot open as `fd`."""
    length = held & LENGTH
    blob = os.pread(fd, length, held >> 32)
    if len(blob) != length:
        raise OSError("the snapshot is shorter than the documents it holds")
    return blob


class SnapshotFile:
    """The open snapshot file that documents held on disk are read from.

    Reads are positional (`os.pread`), so the compaction thread can read the same file. The
    storage points it at the new file when a compaction is switched in, on the writer's
    thread, and rewrites every reference it holds at the same moment.
    """

    __slots__ = ("fd",)

    def __init__(self) -> None:
        self.fd: int | None = None

    def blob(self, held: Held) -> bytes:
        if type(held) is bytes:
            return held
        assert self.fd is not None and isinstance(held, int)
        return read_at(self.fd, held)

    def same(self, held: Held, blob: bytes) -> bool:
        """Whether a held document is exactly `blob` (a length check first: no read)."""
        if type(held) is bytes:
            return held == blob
        assert isinstance(held, int)
        return (held & LENGTH) == len(blob) and self.blob(held) == blob

    def close(self) -> None:
        fd, self.fd = self.fd, None
        if fd is not None:
            os.close(fd)


def json_name(key: str) -> bytes:
    """A JSON string literal for a table name or document id (ids are digits: no escaping)."""
    if key.isdigit():
        return b'"%s"' % key.encode()
    return json.dumps(key, ensure_ascii=False).encode()


class DocumentMap(Mapping[str, Doc]):
    """A read-only view of one table: document id -> a freshly decoded copy of the document.

    It is what `read` hands TinyDB for each table, so TinyDB's own read methods (`get`,
    `search`, `all`, iteration, `count`) work on top of it, and what `JournalTable` reads
    through. Membership and length never decode.
    """

    __slots__ = ("_docs", "_file")

    def __init__(self, docs: Mapping[str, Held], file: SnapshotFile) -> None:
        self._docs = docs
        self._file = file

    def __getitem__(self, key: str) -> Doc:
        decoded: Doc = orjson.loads(self._file.blob(self._docs[key]))
        return decoded

    def __contains__(self, key: object) -> bool:
        return key in self._docs

    def __iter__(self) -> Iterator[str]:
        return iter(self._docs)

    def __len__(self) -> int:
        return len(self._docs)

    def find(self, key: str) -> Doc | None:
        """The document under `key`, freshly decoded, or None."""
        held = self._docs.get(key)
        if held is None:
            return None
        doc: Doc = orjson.loads(self._file.blob(held))
        return doc

    def raw(self, key: str) -> bytes | None:
        """The encoded document, for callers that only compare or copy it."""
        held = self._docs.get(key)
        return None if held is None else self._file.blob(held)

    def items(self) -> _BatchedItems:
        return _BatchedItems(self)

    def numbered(self, doc_ids: Iterable[int]) -> Iterator[tuple[int, Doc]]:
        """`many` for integer ids (the engine interface's): those that exist, in that order."""
        docs, blob, loads = self._docs, self._file.blob, orjson.loads
        for doc_id in doc_ids:
            held = docs.get(str(doc_id))
            if held is not None:
                yield doc_id, loads(blob(held))

    def many(self, keys: Iterable[str]) -> Iterator[tuple[str, Doc]]:
        """Decode the given ids (those that exist), in the given order, batch by batch."""
        docs, blob, loads = self._docs, self._file.blob, orjson.loads
        for key in keys:
            held = docs.get(key)
            if held is not None:
                yield key, loads(blob(held))


class _BatchedItems(ItemsView[str, Doc]):
    """`items()` of a `DocumentMap`: decodes in batches, and tolerates writes while iterating."""

    _mapping: DocumentMap

    def __iter__(self) -> Iterator[tuple[str, Doc]]:
        # The ids are listed first: a scan that writes (update by query) must not trip over the
        # dict changing size, and ids removed meanwhile are skipped.
        return self._mapping.many(list(self._mapping))


def write_snapshot(
    path: Path,
    seq: int,
    tables: Mapping[str, Mapping[str, Held]],
    *,
    pace: float | Callable[[], float | None] | None = None,
    read: Callable[[int], bytes] | None = None,
    places: list[array[int]] | None = None,
) -> int:
    """Write and fsync a snapshot in the line layout; return its size in bytes.

    `pace` (bytes per second, or a function giving the pace now) leaves the disk to the
    journal's fsyncs: written flat out, a snapshot of 100,000 cases slows every concurrent
    write several times over. `read` gives
    the bytes of documents held on disk (an int); `places`, if given, receives one array per
    table with where each document lies in the new file, in the tables' order.
    """
    with open(path, "wb") as handle:
        out = PacedWriter(handle, pace)
        put = out.put
        buf = [b'{"seq":%d,"layout":%d,"tables":{\n' % (seq, LAYOUT)]
        at = len(buf[0])  # where the next byte appended to buf lands in the file
        pending = 0
        names = list(tables)
        for t, name in enumerate(names):
            head = json_name(name) + b":{\n"
            buf.append(head)
            at += len(head)
            docs = tables[name]
            where = array("Q")
            last = len(docs) - 1
            for i, (key, held) in enumerate(docs.items()):
                if type(held) is bytes:
                    blob = held
                else:
                    assert read is not None and isinstance(held, int)
                    blob = read(held)
                name_part = json_name(key) + b":"
                where.append((at + len(name_part)) << 32 | len(blob))
                line = b"%s%s%s" % (name_part, blob, b"\n" if i == last else b",\n")
                buf.append(line)
                at += len(line)
                pending += len(line)
                if pending >= CHUNK:
                    put(b"".join(buf))
                    buf = []
                    pending = 0
            if places is not None:
                places.append(where)
            tail = b"}\n" if t == len(names) - 1 else b"},\n"
            buf.append(tail)
            at += len(tail)
        put(b"".join(buf))
        foot = b'},"crc32":%d}\n' % out.crc
        handle.write(foot)
        handle.flush()
        os.fsync(handle.fileno())
    return out.size + len(foot)


class PacedWriter:
    """Writes a file chunk by chunk, with an fdatasync every SYNC_EVERY bytes and, given a
    pace (bytes per second, or a function giving it now), no faster than that."""

    def __init__(self, handle: BinaryIO, pace: float | Callable[[], float | None] | None) -> None:
        self._handle = handle
        self._pace = pace
        self._began = time.monotonic()
        self._synced = 0
        self.crc = 0
        self.size = 0

    def put(self, chunk: bytes) -> None:
        self.crc = zlib.crc32(chunk, self.crc)
        self._handle.write(chunk)
        self.size += len(chunk)
        if self.size - self._synced >= SYNC_EVERY:
            self._handle.flush()
            os.fdatasync(self._handle.fileno())
            self._synced = self.size
            rate = self._pace() if callable(self._pace) else self._pace
            if rate:
                ahead = self.size / rate - (time.monotonic() - self._began)
                if ahead > 0:
                    time.sleep(ahead)


class ReadAhead:
    """Reads documents held on disk for a compaction: they lie in file order, so one read of
    a megabyte serves hundreds of them (instead of one `pread` each)."""

    WINDOW = 1 << 20

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._start = 0
        self._data = b""

    def __call__(self, held: int) -> bytes:
        length, offset = held & LENGTH, held >> 32
        at = offset - self._start
        if at < 0 or at + length > len(self._data):
            self._start, at = offset, 0
            self._data = os.pread(self._fd, max(self.WINDOW, length), offset)
            if len(self._data) < length:
                raise OSError("the snapshot is shorter than the documents it holds")
        return self._data[at : at + length]


def read_snapshot(handle: BinaryIO) -> tuple[int, dict[str, dict[str, Held]], bool]:
    """Parse a snapshot: (seq, tables of documents, whether it was in the old form).

    Documents are held as where they lie in the file (offset << 32 | length), so opening
    reads the file once and keeps none of it. The old single-line form, and the rare line
    whose id is escaped, give their bytes instead.
    """
    first = handle.readline()
    head = HEAD.fullmatch(first)
    if head is None or int(head.group(2)) != LAYOUT:
        body = json.loads(first + handle.read())  # the single-line form of the old storage
        tables: dict[str, dict[str, Held]] = {
            name: {key: encode(doc) for key, doc in docs.items()}
            for name, docs in body["tables"].items()
        }
        return int(body["seq"]), tables, True
    crc = zlib.crc32(first)
    tables = {}
    docs: dict[str, Held] | None = None
    at = len(first)
    for line in handle:
        if line.startswith(b'},"crc32":'):
            foot = FOOT.fullmatch(line)
            if foot is None or int(foot.group(1)) != crc or handle.read(1):
                break
            return int(head.group(1)), tables, False
        crc = zlib.crc32(line, crc)
        if line[0] == 0x7D:  # "}" or "}," closes a table
            docs = None
        elif docs is None:  # "<name>":{
            docs = tables.setdefault(json.loads(line[:-3]), {})
        else:  # "<id>":<document> with a comma unless it is the table's last
            stop = len(line) - (2 if line[-2] == 0x2C else 1)
            colon = line.find(b'":', 1, stop)
            key = line[1:colon]
            if b"\\" in key:  # an escaped id: let the JSON decoder split the line
                ((name, doc),) = json.loads(b"{" + line[:stop] + b"}").items()
                docs[name] = encode(doc)
            else:
                docs[key.decode()] = (at + colon + 2) << 32 | (stop - colon - 2)
        at += len(line)
    raise ValueError("snapshot is incomplete or its checksum does not match")
