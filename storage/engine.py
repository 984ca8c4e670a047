"""The store engine's interface: what the repository needs from a document store.

TinyDB's `Storage` showed how small such an interface can be (read, write, close). The
repository needs a little more than a whole database in and out, because a write must cost
what it changes, not what the store holds, and lookups other than by id must not scan:

- `DocumentStore.table(name)` gives a `DocumentTable`: JSON documents under positive integer
  ids, with `get`, `many`, `items`, `ids`, `last_id`, `len`, `put` and `delete`, and
  `index(*keys)`, which returns `TableIndex`es that follow every change of the table;
- `transaction(durable=)` makes everything written inside one atomic step; `deferred()`,
  `flush()`, `compact()`, `opened()` and `close()` are the rest of its life.

Two engines implement it: `storage.journal.JournalStorage` (the durable one: a journal and a
snapshot that TinyDB itself can read, see that module) and `storage.memory.MemoryStore` (for
tests and tools). `storage.documents.DocumentRepository` is written against this interface
only, so the same repository code runs on both, and the storage tests run on both.

The contract, which both engines' tests check (tests/test_engine.py):

- Documents are what JSON can hold: `put` encodes the document first and raises (`TypeError`)
  without changing anything if it cannot; what is read back is what JSON gives back (integer
  keys as strings, tuples as lists). Every read returns a freshly decoded copy, so a caller
  may change what it got without changing the store.
- Orders: `ids()` and `items()` go by id, ascending; `many(ids)` gives the documents that
  exist in the order asked, each once per time asked.
- A write outside a transaction is durable when it returns (for a durable engine), and one
  that raised changed nothing. A `put` that leaves a document's JSON as it was is no change:
  nothing is written and no index hears of it.
- `transaction()`: writes inside are applied at once (reads and indexes see them) and end up
  as one atomic step; if the block raises, every change it made is undone, indexes included,
  and the exception goes on. A transaction opened inside another joins it.
- Indexes are registered once per table, before the table is written, and run their key
  functions on every document written: a key function must accept every document of its
  table (it runs after the write, when refusing is too late).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from typing import Any, Protocol, cast

Doc = dict[str, Any]
# What an index files a document under: none, one or several keys (each hashable; a key
# kept with a snapshot goes through JSON, so tuples of plain values, strings and numbers).
KeyFunction = Callable[[Mapping[str, Any]], Iterable[Hashable]]


class TableIndex:
    """Document ids by key for one table, kept current by every change to that table.

    `key` maps a document to the keys it is found under (none, one or several). A key held by
    one document is stored as that id, by several as a set, to keep the common unique case
    (an origin, say) small. Nothing is kept per document: when one changes, the keys it was
    under are worked out again from its previous version (which the engine hands over), so an
    index costs memory per key and id only.

    Readers use `ids(key)` and iteration (the keys); engines use `add`, `update`, `frozen`
    and `restore`.
    """

    def __init__(self, key: KeyFunction) -> None:
        self._key = key
        self._ids: dict[Hashable, int | set[int]] = {}

    def keys(self, doc: Mapping[str, Any] | None) -> tuple[Hashable, ...]:
        """The keys a document (None: no document) is found under, each once."""
        return tuple(dict.fromkeys(self._key(doc))) if doc is not None else ()

    def ids(self, key: Hashable) -> set[int]:
        """The ids of the documents found under `key` (a new set the caller may change)."""
        held = self._ids.get(key)
        if held is None:
            return set()
        return {held} if isinstance(held, int) else set(held)

    def __iter__(self) -> Iterator[Hashable]:
        """Every key some document is found under (a copy: the index may change meanwhile)."""
        return iter(list(self._ids))

    # -- for engines -------------------------------------------------------------------------

    def add(self, doc_id: int, doc: Mapping[str, Any]) -> None:
        """Index a document not indexed yet (building the index by a scan)."""
        self._index(doc_id, self.keys(doc))

    def update(
        self, doc_id: int, before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
    ) -> None:
        """A document changed from `before` to `after` (None: absent)."""
        self.moved(doc_id, self.keys(before), self.keys(after))

    def moved(self, doc_id: int, before: tuple[Hashable, ...], after: tuple[Hashable, ...]) -> None:
        """A document's keys changed from `before` to `after` (as `keys` gives them)."""
        if before != after:
            self._unindex(doc_id, before)
            self._index(doc_id, after)

    def frozen(self) -> Callable[[], list[list[Any]]]:
        """A copy of the index now, and a function that turns it into JSON later:
        ``[[key, [id, ...]], ...]`` (what `restore` takes). Only the sets are copied here,
        on the writer's thread; the rest happens on the compaction's."""
        copy = dict(self._ids)
        for key, held in copy.items():
            if type(held) is set:
                copy[key] = held.copy()

        def dump() -> list[list[Any]]:
            return [
                [key, [held] if isinstance(held, int) else list(held)] for key, held in copy.items()
            ]

        return dump

    def restore(self, groups: list[list[Any]], ids: dict[int, int]) -> None:
        """Take the state `frozen` dumped (JSON arrays for tuples) in place of a scan.

        `ids`, shared by the indexes of one table, makes them share one int object per
        document id (decoding makes one per mention: at 100,000 cases, some 900,000 ints
        instead of 100,000).
        """
        one = ids.setdefault
        self._ids = {
            _hashable(raw): one(members[0], members[0])
            if len(members) == 1
            else {one(i, i) for i in members}
            for raw, members in groups
        }

    def _index(self, doc_id: int, keys: tuple[Hashable, ...]) -> None:
        ids = self._ids
        for key in keys:
            found = ids.get(key)
            if found is None:
                ids[key] = doc_id
            elif isinstance(found, set):
                found.add(doc_id)
            elif found != doc_id:
                ids[key] = {found, doc_id}

    def _unindex(self, doc_id: int, keys: tuple[Hashable, ...]) -> None:
        ids = self._ids
        for key in keys:
            held = ids.get(key)
            if held is None:
                continue
            if isinstance(held, int):
                if held == doc_id:
                    del ids[key]
            else:
                held.discard(doc_id)
                if len(held) == 1:
                    ids[key] = next(iter(held))


def _hashable(value: Any) -> Hashable:
    """A key as it was before JSON: arrays back to tuples."""
    if type(value) is not list:
        return cast(Hashable, value)
    if list in map(type, value):
        return tuple(map(_hashable, value))
    return tuple(value)


class DocumentTable(Protocol):
    """One named table of JSON documents, each under a positive integer id.

    Reads decode on access and return fresh copies; writes outside a transaction are one
    step each, durable when they return (see `DocumentStore`).
    """

    @property
    def name(self) -> str: ...

    def get(self, doc_id: int) -> Doc | None:
        """The document with this id, or None."""
        ...

    def many(self, doc_ids: Iterable[int]) -> Iterator[tuple[int, Doc]]:
        """The documents with these ids that exist, in the order asked, decoded one by one
        as the caller goes (a long list never holds every document at once)."""
        ...

    def items(self) -> Iterator[tuple[int, Doc]]:
        """Every document, by id; the ids are taken when iteration starts, and documents
        deleted meanwhile are skipped."""
        ...

    def ids(self) -> list[int]:
        """Every id, ascending; no document is read."""
        ...

    def last_id(self) -> int:
        """The highest id, 0 when the table is empty; no document is read."""
        ...

    def __len__(self) -> int: ...

    def put(self, doc_id: int, doc: Mapping[str, Any]) -> None:
        """Store `doc` under `doc_id`, replacing whatever was there."""
        ...

    def delete(self, *doc_ids: int) -> None:
        """Delete these documents (ids that do not exist are ignored), as one step."""
        ...

    def index(self, *keys: KeyFunction) -> list[TableIndex]:
        """One index per key function, current now and kept current by every change.

        Once per table, before the table is written. A durable engine may keep the indexes
        with its files so that opening does not read every document to rebuild them.
        """
        ...


class DocumentStore(Protocol):
    """Named tables of JSON documents, transactions, and the store's life."""

    def table(self, name: str) -> DocumentTable:
        """The table `name` (it comes to exist with its first document)."""
        ...

    def transaction(self, *, durable: bool = True) -> AbstractContextManager[None]:
        """Make every write inside one atomic step (see the module docstring).

        A durable engine writes the step as one record at the end, fsync'd; `durable=False`
        writes it at once but fsyncs it as `deferred()` writes are.
        """
        ...

    def deferred(self) -> AbstractContextManager[None]:
        """Writes inside survive the process dying at once, and a power cut only from the
        next durable write or `flush()` on (bookkeeping after a message went out)."""
        ...

    def flush(self) -> None:
        """Make durable what `deferred()` writes left pending (cheap when there is none)."""
        ...

    def opened(self) -> None:
        """Every table the owner uses is open and indexed; the engine may now do what needs
        all of them (the journal rewrites an outdated table of contents)."""
        ...

    def compact(self, *, wait: bool = True) -> None:
        """Fold what was written into the store's compact form (`wait=False`: in the
        background, where the engine can). An engine without one does nothing."""
        ...

    def close(self) -> None:
        """Flush, compact where that makes the next start faster, and let go of the files.

        Closing twice is harmless; a write or a transaction on a closed store raises
        `ValueError`."""
        ...
