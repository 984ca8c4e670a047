"""The repository on disk: `TinyRepository`, the repository over the durable `JournalStorage`.

TinyDB is the embedded store the product promises: the data directory holds a journal and a
snapshot in TinyDB's JSON layout, and `JournalStorage` is a TinyDB `Storage`, so plain
``TinyDB(data_dir / "echowall", storage=JournalStorage)`` opens it too (see storage/journal.py).
The repository itself goes through the engine interface (storage/engine.py), whose writes cost
O(documents changed); `storage.memory.MemoryRepository` is the same repository in memory.

One instance per data directory, used from the event loop's thread only, so access is
serialised by construction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from storage.documents import DocumentRepository
from storage.journal import JournalStorage


class TinyRepository(DocumentRepository):
    """The repository in `data_dir` (files `echowall.*`).

    Storage options (`compact_every`, `compact_ratio`, `compact_min_bytes`, `compact_pace`,
    `background`) go to `JournalStorage`.
    """

    def __init__(self, data_dir: str | Path, **storage_options: Any) -> None:
        self._journal = JournalStorage(Path(data_dir) / "echowall", **storage_options)
        super().__init__(self._journal)

    @property
    def storage(self) -> JournalStorage:
        """The durable storage underneath, for sizes and compaction (tests, the benchmark)."""
        return self._journal
