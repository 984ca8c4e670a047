"""Copies of a store that its bot keeps writing: consistent copies, backups and restores.

What the engine guarantees (`storage.journal`), and what a copy builds on
------------------------------------------------------------------------
1. The snapshot (`<path>.snapshot.json`) is never changed in place: a compaction writes a new
   one elsewhere and renames it in. It ends with a checksum of everything before its last line
   and names the sequence number of the last write it holds.
2. The journal (`<path>.journal`) only grows, by whole records appended in order, each with a
   checksum and the next sequence number (one more than the last); a record is complete and
   fsync'd before its write returns. Only a compaction's switch shortens it: it is replaced
   by a new file (renamed in) or truncated to nothing, after the snapshot that holds its
   records was renamed in.
3. Opening applies the journal's records with a sequence number above the snapshot's, in
   order, and drops a torn or corrupted tail.

So the state after write N is the snapshot of some write M <= N and the journal's records
M+1 .. N. A copy made while the owner writes is consistent when the snapshot copied is whole
(its checksum holds) and the journal copied is a run of records without a gap that reaches
back to the snapshot: records M+1 .. N, or only older ones. `copy_store` copies the journal
first and then the snapshot (so the snapshot is never older than the journal's start),
checks exactly that, and copies again when a compaction got in between (the replaced snapshot
is freed in slices after the switch, which shows as a checksum that does not hold; a journal
truncated under the copy shows as a gap). The table of contents is kept only if it names the
copied snapshot. Nothing is asked of the running bot, and its files are only read.

A backup (`write_backup`) is such a copy in one gzip'd tar file with a manifest, written
under a temporary name and renamed in when whole. `restore` checks a backup by opening it,
takes the data directory's lock (no bot may run on it meanwhile), moves the files it replaces
into `echowall.replaced-<time>/` and puts the backup's in their place.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
import zlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from storage.lock import DirectoryLock
from storage.snapshot import FOOT, HEAD, LAYOUT, PacedWriter, read_snapshot

NAME = "echowall"
SUFFIXES = (".journal", ".snapshot.json", ".contents.jsonl")
MANIFEST = "echowall.backup.json"
BACKUP_FORMAT = 1
_CHUNK = 1 << 20
_RECORD = re.compile(rb"([0-9a-f]{8}) (.*)\n", re.S)


class CopyError(Exception):
    """No consistent copy could be made, or a backup cannot be restored."""


@dataclass(frozen=True)
class CopyInfo:
    """What a copy holds: every write up to `seq`; its snapshot's write and the attempts."""

    seq: int
    snapshot_seq: int
    records: int
    attempts: int


def store_files(directory: Path, name: str = NAME) -> list[Path]:
    return [directory / (name + suffix) for suffix in SUFFIXES]


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_file(source: Path, target: Path, pace: float | None) -> int | None:
    """Copy what `source` holds now (what is appended meanwhile is left out), at most `pace`
    bytes a second; None when there is no such file."""
    try:
        fd = os.open(source, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        size = os.fstat(fd).st_size
        with open(target, "wb") as handle:
            out = PacedWriter(handle, pace)
            copied = 0
            while copied < size:
                chunk = os.pread(fd, min(_CHUNK, size - copied), copied)
                if not chunk:
                    break  # truncated under us: what was read is a prefix
                out.put(chunk)
                copied += len(chunk)
            handle.flush()
            os.fsync(handle.fileno())
        return copied
    finally:
        os.close(fd)


def snapshot_seq(path: Path) -> int | None:
    """The write a snapshot file holds everything up to, or None when it is not whole."""
    try:
        with open(path, "rb") as handle:
            first = handle.readline()
            head = HEAD.fullmatch(first)
            if head is None or int(head.group(2)) != LAYOUT:
                handle.seek(0)
                try:
                    return read_snapshot(handle)[0]  # an older layout: parsed whole
                except (ValueError, KeyError, TypeError):
                    return None
            size = os.fstat(handle.fileno()).st_size
            tail_at = max(0, size - 64)
            handle.seek(tail_at)
            foot = FOOT.search(handle.read())
            if foot is None or tail_at + foot.end() != size:
                return None
            handle.seek(0)
            crc, left = 0, tail_at + foot.start()
            while left > 0:
                chunk = handle.read(min(left, 1 << 22))
                if not chunk:
                    return None
                crc = zlib.crc32(chunk, crc)
                left -= len(chunk)
            return int(head.group(1)) if crc == int(foot.group(1)) else None
    except OSError:
        return None


def journal_run(path: Path) -> tuple[list[int], int]:
    """The sequence numbers of a journal's whole records, in order, and the bytes they take
    (a torn or corrupted tail is not counted)."""
    seqs: list[int] = []
    good = 0
    if not path.exists():
        return seqs, good
    with open(path, "rb") as handle:
        for line in handle:
            match = _RECORD.fullmatch(line)
            if match is None or int(match.group(1), 16) != zlib.crc32(match.group(2)):
                break
            try:
                record = orjson.loads(match.group(2))
                seq = int(record["seq"])
            except (ValueError, KeyError, TypeError):
                break
            seqs.append(seq)
            good += len(line)
    return seqs, good


def _contents_match(contents: Path, snapshot: Path) -> bool:
    """Whether a table of contents names this very snapshot (see `storage.snapshot`)."""
    try:
        with open(contents, "rb") as handle:
            head = orjson.loads(handle.readline())
        with open(snapshot, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            found = HEAD.fullmatch(handle.readline())
            handle.seek(max(0, size - 64))
            foot = FOOT.search(handle.read())
    except (OSError, ValueError):
        return False
    return (
        isinstance(head, dict)
        and found is not None
        and foot is not None
        and head.get("seq") == int(found.group(1))
        and head.get("size") == size
        and head.get("crc32") == int(foot.group(1))
    )


def _attempt(source: Path, target: Path, name: str, pace: float | None) -> CopyInfo | None:
    journal, snapshot, contents = store_files(source, name)
    to_journal, to_snapshot, to_contents = store_files(target, name)
    for path in (to_journal, to_snapshot, to_contents):
        path.unlink(missing_ok=True)
    # The journal first: a snapshot renamed in meanwhile holds everything it has and more.
    _copy_file(journal, to_journal, pace)
    has_snapshot = _copy_file(snapshot, to_snapshot, pace) is not None
    base = 0
    if has_snapshot:
        seq = snapshot_seq(to_snapshot)
        if seq is None:
            return None  # freed under the copy by a compaction's switch: again
        base = seq
    if _copy_file(contents, to_contents, pace) is not None and not (
        has_snapshot and _contents_match(to_contents, to_snapshot)
    ):
        to_contents.unlink()  # of another snapshot: the copy opens without it
    seqs, good = journal_run(to_journal)
    if to_journal.exists() and good < to_journal.stat().st_size:
        with open(to_journal, "r+b") as handle:
            handle.truncate(good)  # the record being written when the copy was made
            os.fsync(handle.fileno())
    if any(b != a + 1 for a, b in itertools.pairwise(seqs)):
        return None  # truncated and written again under the copy: again
    if seqs and seqs[0] > base + 1:
        return None  # a gap between the snapshot and the journal: again
    last = max(base, seqs[-1]) if seqs else base
    return CopyInfo(last, base, len([s for s in seqs if s > base]), 0)


def copy_store(
    source: Path,
    target: Path,
    *,
    name: str = NAME,
    pace: float | None = None,
    attempts: int = 20,
) -> CopyInfo:
    """Copy the store in `source` into `target` (a directory) while its owner may write,
    into a consistent whole (see the module docstring); `pace`: bytes a second at most."""
    target.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, attempts + 1):
        info = _attempt(source, target, name, pace)
        if info is not None:
            _fsync(target)
            return CopyInfo(info.seq, info.snapshot_seq, info.records, attempt)
        time.sleep(min(0.05 * attempt, 1.0))
    raise CopyError(f"no consistent copy of {source} after {attempts} attempts")


# --- backups ---------------------------------------------------------------------------------


WORK_PREFIX = ".echowall-backup-"
_WORK = re.compile(re.escape(WORK_PREFIX) + r"(\d+)-")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_abandoned(directory: Path) -> list[Path]:
    """Delete the work directories of backups into `directory` whose process is gone (killed
    in the middle); they hold a copy of the store. Returns what was deleted."""
    removed = []
    for path in directory.glob(WORK_PREFIX + "*"):
        found = _WORK.match(path.name)
        if found is not None and path.is_dir() and not _alive(int(found.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


@dataclass(frozen=True)
class BackupInfo:
    path: Path
    seq: int
    size: int


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_backup(
    data_dir: Path, out: Path, *, now: datetime, pace: float | None = None, name: str = NAME
) -> BackupInfo:
    """Write a consistent copy of the store in `data_dir` as one .tar.gz file at `out`.

    The copy is made and archived in a work directory next to `out` (`.echowall-backup-<pid>-…`),
    and the archive renamed to `out` only when it is whole and on disk: a backup cut short
    (killed, the disk full) leaves no file at `out`, only its work directory, which the next
    backup into the same directory deletes once its process is gone.
    """
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_abandoned(out.parent)
    work = Path(tempfile.mkdtemp(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=out.parent))
    partial = work / (out.name + ".partial")
    try:
        info = copy_store(data_dir, work, name=name, pace=pace)
        files = [path for path in store_files(work, name) if path.exists()]
        manifest = {
            "format": BACKUP_FORMAT,
            "created": now.isoformat(),
            "seq": info.seq,
            "snapshot_seq": info.snapshot_seq,
            "files": {
                path.name: {"size": path.stat().st_size, "sha256": _sha256(path)} for path in files
            },
        }
        with tarfile.open(partial, "w:gz", compresslevel=6) as tar:
            body = json.dumps(manifest, indent=1).encode()
            entry = tarfile.TarInfo(MANIFEST)
            entry.size, entry.mtime = len(body), int(now.timestamp())
            tar.addfile(entry, io.BytesIO(body))
            for path in files:
                tar.add(path, arcname=path.name, recursive=False)
        _fsync(partial)
        os.replace(partial, out)
        _fsync(out.parent)
        return BackupInfo(out, info.seq, out.stat().st_size)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)


@dataclass(frozen=True)
class RestoreInfo:
    created: str
    seq: int
    cases: int
    replaced: Path | None  # where the files it replaced were moved, if there were any


def read_backup(archive: Path, into: Path, name: str = NAME) -> dict[str, Any]:
    """Unpack a backup into `into` after checking it: only the store's files and the manifest,
    each as the manifest describes it. Returns the manifest."""
    allowed = {path.name for path in store_files(into, name)}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            members = tar.getmembers()
            names = [member.name for member in members]
            if MANIFEST not in names or not set(names) <= allowed | {MANIFEST}:
                raise CopyError(f"{archive} is not an echowall backup")
            for member in members:
                if not member.isfile() or len(set(names)) != len(names):
                    raise CopyError(f"{archive} is not an echowall backup")
                source = tar.extractfile(member)
                assert source is not None
                with source, open(into / member.name, "wb") as target:
                    shutil.copyfileobj(source, target, _CHUNK)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise CopyError(f"{archive} cannot be read: {error}") from None
    manifest: dict[str, Any] = json.loads((into / MANIFEST).read_text("utf-8"))
    if manifest.get("format") != BACKUP_FORMAT:
        raise CopyError(f"{archive} is a backup of another format ({manifest.get('format')})")
    for file_name, facts in manifest["files"].items():
        path = into / file_name
        if not path.exists() or _sha256(path) != facts["sha256"]:
            raise CopyError(f"{archive} is damaged: {file_name} is not as it was backed up")
    (into / MANIFEST).unlink()
    return manifest


def restore(archive: Path, data_dir: Path, *, now: datetime, name: str = NAME) -> RestoreInfo:
    """Put the store of a backup in place of the one in `data_dir` (whose files are moved
    aside, not deleted); refused with `storage.lock.StoreBusy` while a bot runs on it."""
    from storage.tinydb_store import TinyRepository

    data_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".echowall-restore-", dir=data_dir))
    try:
        manifest = read_backup(archive, work, name)
        # Opened once: the backup is whole, and the store starts from one snapshot.
        repo = TinyRepository(work)
        try:
            cases = len(repo.case_ids())
        finally:
            repo.close()
        with DirectoryLock(data_dir / name):
            replaced: Path | None = None
            current = [path for path in store_files(data_dir, name) if path.exists()]
            if current:
                replaced = data_dir / f"{name}.replaced-{now:%Y%m%d-%H%M%S}"
                replaced.mkdir()
                for path in current:
                    os.replace(path, replaced / path.name)
            for path in store_files(work, name):
                if path.exists():
                    os.replace(path, data_dir / path.name)
            shutil.rmtree(data_dir / f"{name}.tmp", ignore_errors=True)
            _fsync(data_dir)
        return RestoreInfo(str(manifest["created"]), int(manifest["seq"]), cases, replaced)
    finally:
        shutil.rmtree(work, ignore_errors=True)
