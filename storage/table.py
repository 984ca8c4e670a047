"""The journal's tables: `JournalTable`, the `DocumentTable` of `storage.journal.JournalStorage`.

A table is a handle: the documents live in the storage, as the bytes of their JSON or as
where those bytes lie in the snapshot (see `storage.journal`). Ids are TinyDB's: positive
integers, kept as their decimal strings, so a data directory stays one TinyDB can open.

A read decodes the documents asked for and nothing else; a write commits the documents it
changes as one journal record (`JournalStorage.commit`), so its cost is what it changes, not
what the table holds. Indexes are kept with every snapshot: opening takes them from the
snapshot's table of contents and re-indexes only what the journal changed since.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from types import CodeType
from typing import TYPE_CHECKING, Any

import orjson

from storage.engine import Doc, KeyFunction, TableIndex

if TYPE_CHECKING:
    from storage.journal import JournalStorage


class JournalTable:
    """One table of a `JournalStorage`; see `storage.engine.DocumentTable` for the contract."""

    __slots__ = ("_name", "_storage")

    def __init__(self, storage: JournalStorage, name: str) -> None:
        self._storage = storage
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    # -- reads -------------------------------------------------------------------------------

    def get(self, doc_id: int) -> Doc | None:
        return self._storage.documents(self._name).find(str(doc_id))

    def many(self, doc_ids: Iterable[int]) -> Iterator[tuple[int, Doc]]:
        yield from self._storage.documents(self._name).numbered(doc_ids)

    def items(self) -> Iterator[tuple[int, Doc]]:
        yield from self.many(self.ids())

    def ids(self) -> list[int]:
        return sorted(map(int, self._storage.documents(self._name)))

    def last_id(self) -> int:
        return max(map(int, self._storage.documents(self._name)), default=0)

    def __len__(self) -> int:
        return len(self._storage.documents(self._name))

    # -- writes ------------------------------------------------------------------------------

    def put(self, doc_id: int, doc: Mapping[str, Any]) -> None:
        self._storage.commit(self._name, {str(doc_id): doc})

    def delete(self, *doc_ids: int) -> None:
        self._storage.commit(self._name, None, [str(doc_id) for doc_id in doc_ids])

    # -- indexes -----------------------------------------------------------------------------

    def index(self, *keys: KeyFunction) -> list[TableIndex]:
        """Indexes over the table, kept current from now on, and kept with every snapshot.

        Opening takes them from the snapshot's table of contents and brings them up to date
        with what the journal changed since. Without one, or when a key function's code
        changed, they are built in one scan and the contents are marked for rewriting.
        """
        storage, name = self._storage, self._name
        indexes = [TableIndex(key) for key in keys]
        code = _fingerprint(keys)

        def changed(doc_id: str, doc: Mapping[str, Any] | None, before: bytes | None) -> None:
            number, old = int(doc_id), orjson.loads(before) if before is not None else None
            for index in indexes:
                index.moved(number, index.keys(old), index.keys(doc))

        def freeze() -> Callable[[], dict[str, Any]]:
            dumps = [index.frozen() for index in indexes]
            return lambda: {"code": code, "indexes": [dump() for dump in dumps]}

        kept = storage.keep(name, freeze)
        docs = storage.documents(name)
        if kept is not None and kept.get("code") == code and len(kept["indexes"]) == len(keys):
            shared: dict[int, int] = {}
            for index, groups in zip(indexes, kept["indexes"], strict=True):
                index.restore(groups, shared)
            for doc_id, before in storage.replayed(name).items():
                changed(doc_id, docs.find(doc_id), before)
        else:
            if kept is not None or docs:
                storage.mark_stale()
            for doc_id, doc in docs.many(list(docs)):
                number = int(doc_id)
                for index in indexes:
                    index.add(number, doc)
        storage.subscribe(name, changed)
        return indexes


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
