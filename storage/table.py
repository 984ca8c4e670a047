"""TinyDB tables that write per document, and in-memory indexes that follow them.

`JournalDB` is a `TinyDB` whose `table_class` is `JournalTable`, over `JournalStorage`. Code
written against plain TinyDB (``db.table("events")``, ``insert``, ``upsert(Document(...))``,
``update``, ``get(doc_id=)``, ``search``, ``all()``, ``remove(doc_ids=)``, ``truncate``) works
unchanged and gets the speed-up: TinyDB's `Table` routes every write through `_update_table`,
which copies the whole table and hands the storage the whole database; `JournalTable`
reimplements the write methods to find the documents concerned (by id in O(1), by query with
one scan), change decoded copies of just those, and commit them as one journal record. Reads
are TinyDB's own, over the storage's `DocumentMap`, so queries keep working.

Differences from plain TinyDB, all deliberate: a write is atomic (a query or callable that
raises midway changes nothing); ``get(doc_ids=...)`` returns the documents in the order asked
(TinyDB: table order) in O(k) instead of a full scan; ``insert_multiple`` with explicit ids
cannot be overwritten by a later automatic id; ``remove(doc_ids=)`` accepts repeated ids;
documents read are always fresh copies, so mutating one never changes the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, MutableMapping
from types import CodeType
from typing import TYPE_CHECKING, Any, cast

import orjson
from tinydb import TinyDB
from tinydb.queries import QueryLike
from tinydb.storages import Storage
from tinydb.table import Table

from storage.journal import DocumentMap, JournalStorage

Fields = Mapping[str, Any] | Callable[[MutableMapping[str, Any]], None]
KeyFunction = Callable[[Mapping[str, Any]], Iterable[Hashable]]


class TableIndex:
    """Document ids by key for one table, kept current by every change to that table.

    `key` maps a document to the keys it is found under (none, one or several). It must accept
    every document of the table: it runs after a change is durable, when failing is too late.
    A key held by one document is stored as that id, by several as a set, to keep the common
    unique case (an origin, say) small. Nothing is kept per document: when one changes, the
    keys it was under are worked out again from its previous version (which the storage hands
    over), so an index costs memory per key and id only.
    """

    def __init__(self, key: KeyFunction) -> None:
        self._key = key
        self._ids: dict[Hashable, int | set[int]] = {}

    def keys(self, doc: Mapping[str, Any] | None) -> tuple[Hashable, ...]:
        """The keys a document (None: no document) is found under, each once."""
        return tuple(dict.fromkeys(self._key(doc))) if doc is not None else ()

    def _add(self, number: int, doc: Mapping[str, Any]) -> None:
        """Index a document not indexed yet (building the index at startup)."""
        self._index(number, self.keys(doc))

    def _changed(
        self, number: int, before: tuple[Hashable, ...], after: tuple[Hashable, ...]
    ) -> None:
        if before != after:
            self._unindex(number, before)
            self._index(number, after)

    def _index(self, number: int, keys: tuple[Hashable, ...]) -> None:
        ids = self._ids
        for key in keys:
            found = ids.get(key)
            if found is None:
                ids[key] = number
            elif isinstance(found, set):
                found.add(number)
            elif found != number:
                ids[key] = {found, number}

    def _unindex(self, number: int, keys: tuple[Hashable, ...]) -> None:
        ids = self._ids
        for key in keys:
            held = ids.get(key)
            if held is None:
                continue
            if isinstance(held, int):
                if held == number:
                    del ids[key]
            else:
                held.discard(number)
                if len(held) == 1:
                    ids[key] = next(iter(held))

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
                [key, [held] if type(held) is int else list(held)] for key, held in copy.items()
            ]

        return dump

    def restore(self, groups: list[list[Any]]) -> None:
        """Take the state `frozen` dumped (JSON arrays for tuples) in place of a scan."""
        self._ids = {
            _hashable(raw): members[0] if len(members) == 1 else set(members)
            for raw, members in groups
        }

    def ids(self, key: Hashable) -> set[int]:
        """The ids of the documents found under `key` (a new set the caller may change)."""
        held = self._ids.get(key)
        if held is None:
            return set()
        return {held} if isinstance(held, int) else set(held)

    def __iter__(self) -> Iterator[Hashable]:
        """Every key some document is found under (a copy: the index may change meanwhile)."""
        return iter(list(self._ids))


class JournalTable(Table):
    """A TinyDB `Table` on `JournalStorage` whose writes cost O(documents changed)."""

    def __init__(
        self,
        storage: Storage,
        name: str,
        cache_size: int = Table.default_query_cache_capacity,
        persist_empty: bool = False,
    ) -> None:
        if not isinstance(storage, JournalStorage):
            raise TypeError(f"JournalTable needs a JournalStorage, not {type(storage).__name__}")
        self._journal = storage
        super().__init__(storage, name, cache_size=cache_size)
        if persist_empty:
            self._write({}, create=True)

    # -- reads -----------------------------------------------------------------------------

    def _read_table(self) -> DocumentMap:  # type: ignore[override]
        return self._journal.documents(self.name)

    if not TYPE_CHECKING:  # type checkers keep TinyDB's overloads of `get`

        def get(self, cond=None, doc_id=None, doc_ids=None):
            if doc_id is None and doc_ids is not None:
                wanted = [str(i) for i in dict.fromkeys(doc_ids)]
                return [
                    self.document_class(doc, self.document_id_class(key))
                    for key, doc in self._read_table().many(wanted)
                ]
            return super().get(cond, doc_id, doc_ids)

    def documents(self) -> DocumentMap:
        """The table as id (a string) -> decoded document, without TinyDB's `Document` copies."""
        return self._read_table()

    def max_id(self) -> int:
        """The highest document id in the table, 0 if empty (no document is decoded)."""
        return max((int(key) for key in self._read_table()), default=0)

    def add_indexes(self, *keys: KeyFunction) -> list[TableIndex]:
        """Indexes over the table, kept current from now on.

        They are kept with every snapshot (see `JournalStorage.keep`): opening takes them from
        the snapshot's table of contents and re-indexes only what the journal changed since.
        Without it (or when a key function's code changed) they are built in one scan.
        """
        indexes = [TableIndex(key) for key in keys]
        code = _fingerprint(keys)

        def changed(doc_id: str, doc: Mapping[str, Any] | None, before: bytes | None) -> None:
            number, old = int(doc_id), orjson.loads(before) if before is not None else None
            for index in indexes:
                index._changed(number, index.keys(old), index.keys(doc))

        def freeze() -> Callable[[], dict[str, Any]]:
            dumps = [index.frozen() for index in indexes]
            return lambda: {"code": code, "indexes": [dump() for dump in dumps]}

        kept = self._journal.keep(self.name, freeze)
        if kept is not None and kept.get("code") == code and len(kept["indexes"]) == len(keys):
            for index, groups in zip(indexes, kept["indexes"], strict=True):
                index.restore(groups)
            table = self._read_table()
            for doc_id, before in self._journal.replayed(self.name).items():
                changed(doc_id, table.get(doc_id), before)
        else:
            if kept is not None or self._read_table():
                self._journal.mark_stale()
            for doc_id, doc in self._read_table().items():
                number = int(doc_id)
                for index in indexes:
                    index._add(number, doc)
        self._journal.subscribe(self.name, changed)
        return indexes

    # -- writes ----------------------------------------------------------------------------

    def _write(
        self,
        puts: Mapping[int, Mapping[str, Any]],
        deletes: Iterable[int] = (),
        *,
        create: bool = False,
    ) -> None:
        self._journal.commit(
            self.name,
            {str(doc_id): doc for doc_id, doc in puts.items()},
            [str(doc_id) for doc_id in deletes],
            create=create,
        )
        self.clear_cache()

    def insert(self, document: Mapping) -> int:
        if not isinstance(document, Mapping):
            raise ValueError("Document is not a Mapping")
        if isinstance(document, self.document_class):
            doc_id = document.doc_id
            # As TinyDB does: the next automatic id is found again (from the ids alone).
            self._next_id = None
        else:
            doc_id = self._get_next_id()
        if str(doc_id) in self._read_table():
            raise ValueError(f"Document with ID {doc_id} already exists")
        self._write({doc_id: dict(document)})
        return int(doc_id)

    def insert_multiple(self, documents: Iterable[Mapping]) -> list[int]:
        table = self._read_table()
        puts: dict[int, dict[str, Any]] = {}
        explicit = False
        for document in documents:
            if not isinstance(document, Mapping):
                raise ValueError("Document is not a Mapping")
            if isinstance(document, self.document_class):
                doc_id = document.doc_id
                if str(doc_id) in table or doc_id in puts:
                    raise ValueError(f"Document with ID {doc_id} already exists")
                explicit = True
            else:
                doc_id = self._get_next_id()
                while doc_id in puts:  # an explicit id earlier in this batch
                    doc_id = self._get_next_id()
            puts[doc_id] = dict(document)
        self._write(puts)
        if explicit:
            # TinyDB keeps its counter here, so a later automatic id could overwrite one of
            # these documents; it is found again from the ids instead.
            self._next_id = None
        return list(puts)

    def update(
        self,
        fields: Fields,
        cond: QueryLike | None = None,
        doc_ids: Iterable[int] | None = None,
    ) -> list[int]:
        apply = _applier(fields)
        changed: dict[int, dict[str, Any]] = {}
        updated: list[int] = []
        if doc_ids is not None:
            table = self._read_table()
            for doc_id in doc_ids:
                key = str(doc_id)
                if key not in table:
                    continue
                doc = changed.get(doc_id)
                if doc is None:
                    doc = changed[doc_id] = table[key]
                apply(doc)
                updated.append(doc_id)
        else:
            for key, doc in self._read_table().items():
                if cond is None or cond(doc):
                    apply(doc)
                    changed[int(key)] = doc
                    updated.append(int(key))
        if changed:  # upsert tries an update first: a miss must not cost anything
            self._write(changed)
        return updated

    def update_multiple(self, updates: Iterable[tuple[Fields, QueryLike]]) -> list[int]:
        pairs = [(_applier(fields), cond) for fields, cond in updates]
        changed: dict[int, dict[str, Any]] = {}
        updated: list[int] = []
        for key, doc in self._read_table().items():
            for apply, cond in pairs:
                if cond(doc):
                    apply(doc)
                    changed[int(key)] = doc
                    updated.append(int(key))
        self._write(changed)
        return updated

    def remove(
        self,
        cond: QueryLike | None = None,
        doc_ids: Iterable[int] | None = None,
    ) -> list[int]:
        table = self._read_table()
        if doc_ids is not None:
            removed = [i for i in dict.fromkeys(doc_ids) if str(i) in table]
        elif cond is not None:
            removed = [int(key) for key, doc in table.items() if cond(doc)]
        else:
            raise RuntimeError("Use truncate() to remove all documents")
        self._write({}, removed)
        return removed

    def truncate(self) -> None:
        self._write({}, [int(key) for key in self._read_table()], create=True)
        self._next_id = None

    def _update_table(self, updater: Callable[[dict[int, Mapping]], None]) -> None:
        """TinyDB's generic write path, for anything not reimplemented above.

        The updater works on a staging view that decodes the documents it touches, so its
        cost is what it reads, and only what it changed is committed.
        """
        staged = _Staged(self._read_table())
        updater(cast(dict[int, Mapping], staged))
        self._write(staged.touched, staged.deleted, create=True)


def _hashable(value: Any) -> Hashable:
    """A key as it was before JSON: arrays back to tuples."""
    if type(value) is not list:
        return cast(Hashable, value)
    if list in map(type, value):
        return tuple(map(_hashable, value))
    return tuple(value)


def _fingerprint(functions: Iterable[Callable[..., Any]]) -> str:
    """What the key functions compute, by their bytecode (line numbers left out): kept
    indexes are used only while the functions that made them are unchanged."""

    def code_of(code: CodeType) -> tuple[Any, ...]:
        consts = tuple(code_of(c) if isinstance(c, CodeType) else repr(c) for c in code.co_consts)
        return (code.co_name, code.co_code, consts, code.co_names)

    parts = [
        (getattr(fn, "__qualname__", ""), code_of(fn.__code__)) if hasattr(fn, "__code__") else ()
        for fn in functions
    ]
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def _applier(fields: Fields) -> Callable[[dict[str, Any]], None]:
    if callable(fields):
        return cast(Callable[[dict[str, Any]], None], fields)
    return lambda doc: doc.update(fields)


class _Staged(MutableMapping[int, Mapping[str, Any]]):
    """A table as TinyDB's updaters see it (int ids), recording what they do to it."""

    def __init__(self, base: DocumentMap) -> None:
        self._base = base
        self.touched: dict[int, Mapping[str, Any]] = {}
        self.deleted: set[int] = set()

    def __getitem__(self, doc_id: int) -> Mapping[str, Any]:
        if doc_id in self.deleted:
            raise KeyError(doc_id)
        doc = self.touched.get(doc_id)
        if doc is None:
            # A decoded copy: changed in place, it is committed with the others; unchanged, its
            # bytes match and the commit leaves it out.
            doc = self.touched[doc_id] = self._base[str(doc_id)]
        return doc

    def __setitem__(self, doc_id: int, doc: Mapping[str, Any]) -> None:
        self.deleted.discard(doc_id)
        self.touched[doc_id] = doc

    def __delitem__(self, doc_id: int) -> None:
        if doc_id not in self:
            raise KeyError(doc_id)
        self.touched.pop(doc_id, None)
        if str(doc_id) in self._base:
            self.deleted.add(doc_id)

    def __contains__(self, doc_id: object) -> bool:
        if doc_id in self.touched:
            return True
        return doc_id not in self.deleted and str(doc_id) in self._base

    def __iter__(self) -> Iterator[int]:
        for key in list(self._base):
            doc_id = int(key)
            if doc_id not in self.deleted:
                yield doc_id
        for doc_id in list(self.touched):
            if str(doc_id) not in self._base:
                yield doc_id

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def clear(self) -> None:
        self.touched.clear()
        self.deleted = {int(key) for key in self._base}


class JournalDB(TinyDB):
    """TinyDB over `JournalStorage` with `JournalTable` for every table."""

    table_class = JournalTable
    default_storage_class = JournalStorage  # type: ignore[assignment]

    def table(self, name: str, **kwargs: Any) -> JournalTable:
        return cast(JournalTable, super().table(name, **kwargs))

    @property
    def storage(self) -> JournalStorage:
        return cast(JournalStorage, self._storage)
