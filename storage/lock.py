"""One owner per data directory: an advisory lock on `<path>.lock`, held while the store is open.

The journal is a single-writer store: two processes appending to one journal would interleave
their records, and a restore under a running bot would be overwritten by it. `JournalStorage`
takes this lock when it opens and lets go when it closes, so a second bot on the same data
directory stops at once with a clear message, and `echowall restore` takes it to make sure no
bot runs while the files are replaced. `flock` locks go with the process: `kill -9` frees them.

Within one process the lock is counted, not taken twice: tools and tests may open the same
directory again (a reopened store after a simulated crash) without locking themselves out.
"""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path


class StoreBusy(Exception):
    """Another process has the data directory open."""


_HELD: dict[Path, list[int]] = {}  # lock file -> [descriptor, holders in this process]
_GUARD = threading.Lock()


class DirectoryLock:
    """The lock of the store `<path>` (a data directory's `echowall`), taken once per holder."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        base = Path(path)
        self.path = base.with_name(base.name + ".lock")
        self._held = False

    def acquire(self) -> None:
        """Take the lock, or raise `StoreBusy` naming the process that holds it."""
        if self._held:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        key = self.path.resolve()
        with _GUARD:
            held = _HELD.get(key)
            if held is not None:
                held[1] += 1
                self._held = True
                return
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
                os.close(fd)
                who = f" (process {owner})" if owner.isdigit() else ""
                raise StoreBusy(
                    f"the data directory {self.path.parent} is in use by another echowall"
                    f"{who}: one bot per data directory; stop it first"
                ) from None
            except BaseException:
                os.close(fd)
                raise
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            _HELD[key] = [fd, 1]
            self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        key = self.path.resolve()
        with _GUARD:
            held = _HELD.get(key)
            if held is None:
                return
            held[1] -= 1
            if held[1] == 0:
                del _HELD[key]
                os.close(held[0])  # closing the descriptor frees the flock

    def __enter__(self) -> DirectoryLock:
        self.acquire()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()
