"""The store in memory: `MemoryStore` (an engine) and `MemoryRepository`, for tests and tools.

`MemoryStore` implements `storage.engine.DocumentStore` with the journal's semantics and no
files: documents are held as their JSON bytes (the journal's own encoding), so a document JSON
cannot hold is refused by `put` exactly as on disk, and every read decodes a fresh copy;
transactions apply at once and are undone, indexes included, when their block raises.
Nothing is durable: `deferred`, `flush`, `opened` and `compact` have nothing to do.

`MemoryRepository` is `storage.documents.DocumentRepository` over it: the whole
`storage.repository.Repository` protocol by the same code as the durable `TinyRepository`, so
the same results in the same order. `copy()` gives an independent repository that starts
from the same documents (tests start many worlds from one seeded store with it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from storage.documents import DocumentRepository
from storage.engine import Doc, KeyFunction, TableIndex
from storage.snapshot import encode

# One document's change: id, bytes before and after (None: absent), and the document as the
# caller wrote it (None when deleted or undone).
_Change = tuple[int, bytes | None, bytes | None, Mapping[str, Any] | None]


class MemoryStore:
    """Tables of JSON documents in memory; see `storage.engine.DocumentStore`."""

    def __init__(self, tables: Mapping[str, Mapping[int, bytes]] | None = None) -> None:
        self._tables: dict[str, dict[int, bytes]] = {
            name: dict(docs) for name, docs in (tables or {}).items()
        }
        self._indexes: dict[str, list[TableIndex]] = {}
        # Inside `transaction()`: per table, per document, what it was before (None: absent).
        self._before: dict[str, dict[int, bytes | None]] | None = None
        self._closed = False

    def table(self, name: str) -> MemoryTable:
        return MemoryTable(self, name)

    def copy(self) -> MemoryStore:
        """A new store with the same documents (and no indexes: its tables register theirs)."""
        if self._before is not None:
            raise ValueError("cannot copy inside a transaction")
        return MemoryStore(self._tables)

    @contextlib.contextmanager
    def transaction(self, *, durable: bool = True) -> Iterator[None]:
        self._check_open()
        if self._before is not None:
            yield  # joins the transaction under way
            return
        self._before = {}
        try:
            yield
        except BaseException:
            self._undo()
            raise
        self._before = None

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        yield

    def flush(self) -> None:
        return None

    def opened(self) -> None:
        return None

    def compact(self, *, wait: bool = True) -> None:
        # As the journal: refused when closed or inside a transaction, else nothing to fold.
        self._check_open()
        if self._before is not None:
            raise ValueError("cannot compact inside a transaction")

    def close(self) -> None:
        self._closed = True

    # -- for MemoryTable ---------------------------------------------------------------------

    def _docs(self, name: str) -> dict[int, bytes]:
        return self._tables.get(name) or {}

    def _write(
        self, name: str, puts: Mapping[int, Mapping[str, Any]], deletes: Iterable[int]
    ) -> None:
        """Apply one step: deletes, then puts; documents left as they were are no change.

        Everything is encoded first, so a document JSON cannot hold changes nothing."""
        self._check_open()
        blobs = {doc_id: encode(doc) for doc_id, doc in puts.items()}
        table = self._tables.setdefault(name, {})
        changes: list[_Change] = []
        for doc_id in dict.fromkeys(deletes):
            if doc_id in table:
                changes.append((doc_id, table[doc_id], None, None))
        for doc_id, blob in blobs.items():
            old = table.get(doc_id)
            if old != blob:
                changes.append((doc_id, old, blob, puts[doc_id]))
        if self._before is not None:
            before = self._before.setdefault(name, {})
            for doc_id, old, _, _ in changes:
                before.setdefault(doc_id, old)
        self._apply(name, changes)

    def _apply(self, name: str, changes: list[_Change]) -> None:
        table = self._tables.setdefault(name, {})
        indexes = self._indexes.get(name, ())
        for doc_id, old, new, doc in changes:
            if new is None:
                table.pop(doc_id, None)
            else:
                table[doc_id] = new
            if indexes:
                # As the journal does: the new document as written (decoded when undoing),
                # the old one decoded from its bytes.
                was = None if old is None else orjson.loads(old)
                now = doc if doc is not None or new is None else orjson.loads(new)
                for index in indexes:
                    index.update(doc_id, was, now)

    def _undo(self) -> None:
        before, self._before = self._before, None
        assert before is not None
        for name, docs in before.items():
            table = self._tables.setdefault(name, {})
            undone: list[_Change] = [
                (doc_id, table.get(doc_id), old, None) for doc_id, old in docs.items()
            ]
            self._apply(name, undone)

    def _index(self, name: str, keys: tuple[KeyFunction, ...]) -> list[TableIndex]:
        if name in self._indexes:
            raise ValueError(f"table {name!r} already has its indexes")
        indexes = [TableIndex(key) for key in keys]
        for doc_id, blob in self._docs(name).items():
            doc = orjson.loads(blob)
            for index in indexes:
                index.add(doc_id, doc)
        self._indexes[name] = indexes
        return indexes

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("storage is closed")


class MemoryTable:
    """One table of a `MemoryStore`; see `storage.engine.DocumentTable`."""

    __slots__ = ("_name", "_store")

    def __init__(self, store: MemoryStore, name: str) -> None:
        self._store = store
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    def get(self, doc_id: int) -> Doc | None:
        blob = self._store._docs(self._name).get(doc_id)
        if blob is None:
            return None
        doc: Doc = orjson.loads(blob)
        return doc

    def many(self, doc_ids: Iterable[int]) -> Iterator[tuple[int, Doc]]:
        for doc_id in doc_ids:
            blob = self._store._docs(self._name).get(doc_id)
            if blob is not None:
                yield doc_id, orjson.loads(blob)

    def items(self) -> Iterator[tuple[int, Doc]]:
        yield from self.many(self.ids())

    def ids(self) -> list[int]:
        return sorted(self._store._docs(self._name))

    def last_id(self) -> int:
        return max(self._store._docs(self._name), default=0)

    def __len__(self) -> int:
        return len(self._store._docs(self._name))

    def put(self, doc_id: int, doc: Mapping[str, Any]) -> None:
        self._store._write(self._name, {doc_id: doc}, ())

    def delete(self, *doc_ids: int) -> None:
        self._store._write(self._name, {}, doc_ids)

    def index(self, *keys: KeyFunction) -> list[TableIndex]:
        return self._store._index(self._name, keys)


class MemoryRepository(DocumentRepository):
    """The repository in memory (see the module docstring); `store` to share or inspect it."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self.store = store if store is not None else MemoryStore()
        super().__init__(self.store)

    def copy(self) -> MemoryRepository:
        """An independent repository starting from this one's documents, as a reopened
        store would (id counters from the stored ids, caches empty)."""
        return MemoryRepository(self.store.copy())
