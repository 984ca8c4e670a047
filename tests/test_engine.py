"""The store engine's contract (storage/engine.py), on every engine: the durable journal and
the in-memory store, as TinyDB's own tests run on each of its storages.

What one engine does the other must do too: same results, same orders, same refusals, the
same transactions (undone with their indexes when the block raises). A differential test runs
random operations on both and on a plain dict, and reopens the journal from its files.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.engine import DocumentStore, DocumentTable, TableIndex
from storage.journal import JournalStorage
from storage.memory import MemoryStore

Opener = Callable[[], DocumentStore]


@pytest.fixture(params=["journal", "memory"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the engine under test; for the journal, opening again reads the same files."""
    opened: list[DocumentStore] = []

    def open_store() -> DocumentStore:
        if request.param == "journal":
            store: DocumentStore = JournalStorage(tmp_path / "db")
        else:
            store = MemoryStore()
        opened.append(store)
        return store

    yield open_store
    for store in opened:
        store.close()


def by_key(doc: Mapping[str, Any]) -> list[Hashable]:
    return [doc["k"]]


def index_state(index: TableIndex) -> dict[Hashable, set[int]]:
    return {key: index.ids(key) for key in index if index.ids(key)}


def expected_index(table: DocumentTable) -> dict[Hashable, set[int]]:
    found: dict[Hashable, set[int]] = {}
    for doc_id, doc in table.items():
        found.setdefault(doc["k"], set()).add(doc_id)
    return found


def test_reads_are_fresh_copies_in_id_order(engine: Opener) -> None:
    table = engine().table("t")
    for doc_id in (5, 1, 30, 2):
        table.put(doc_id, {"list": [doc_id], "k": 0})
    doc = table.get(1)
    assert doc is not None
    doc["list"].append(99)
    for _, each in table.items():
        each["list"].append(98)
    assert table.get(1) == {"list": [1], "k": 0}
    assert table.ids() == [1, 2, 5, 30] and [i for i, _ in table.items()] == [1, 2, 5, 30]
    assert [i for i, _ in table.many([30, 7, 1, 30])] == [30, 1, 30]
    assert table.last_id() == 30 and len(table) == 4
    assert table.get(7) is None and table.name == "t"


def test_documents_are_what_json_gives_back_and_refused_when_json_cannot_hold_them(
    engine: Opener,
) -> None:
    store = engine()
    table = store.table("t")
    table.put(1, {"n": 1})
    table.put(2, {"tuple": (1, 2), "keys": {3: "three"}, "text": '引号"\n'})
    assert table.get(2) == {"tuple": [1, 2], "keys": {"3": "three"}, "text": '引号"\n'}
    with pytest.raises(TypeError):
        table.put(1, {"when": object()})
    assert table.get(1) == {"n": 1}
    with pytest.raises(TypeError), store.transaction():
        table.put(3, {"n": 3})
        table.put(4, {"bad": {1, 2}})
    assert table.ids() == [1, 2]


def test_put_replaces_and_delete_ignores_missing_ids(engine: Opener) -> None:
    table = engine().table("t")
    table.put(1, {"a": 1, "b": 2})
    table.put(1, {"a": 3})
    assert table.get(1) == {"a": 3}
    table.put(2, {"a": 4})
    table.delete(1, 1, 77)
    assert table.ids() == [2]
    table.delete()
    assert table.ids() == [2]


def test_indexes_follow_every_change_and_are_registered_once(engine: Opener) -> None:
    store = engine()
    table = store.table("t")
    for doc_id in range(1, 10):
        table.put(doc_id, {"k": doc_id % 3})
    index, unique = table.index(by_key, lambda doc: [] if doc["k"] else [("zero", doc["k"])])
    assert index_state(index) == {0: {3, 6, 9}, 1: {1, 4, 7}, 2: {2, 5, 8}}
    assert index_state(unique) == {("zero", 0): {3, 6, 9}}
    table.put(1, {"k": 7})
    table.delete(2)
    table.put(10, {"k": 0})
    table.put(3, {"k": 0})  # no change: nothing to follow
    assert index_state(index) == expected_index(table)
    assert unique.ids(("zero", 0)) == {3, 6, 9, 10}
    with pytest.raises(ValueError):
        table.index(by_key)


def test_a_transaction_applies_at_once_nests_and_is_undone_with_its_indexes(
    engine: Opener,
) -> None:
    store = engine()
    table, other = store.table("t"), store.table("other")
    (index,) = table.index(by_key)
    for doc_id in range(1, 4):
        table.put(doc_id, {"k": doc_id})
    with store.transaction():
        table.delete(1)
        with store.transaction():  # joins the outer one
            other.put(1, {"x": 1})
            table.put(9, {"k": 9})
            table.delete(9)  # made and deleted again: never existed
        assert table.ids() == [2, 3] and other.get(1) == {"x": 1}
    assert table.ids() == [2, 3] and index_state(index) == {2: {2}, 3: {3}}
    with pytest.raises(KeyError), store.transaction():
        table.delete(2)
        table.put(3, {"k": 30})
        table.put(4, {"k": 4})
        other.put(2, {"y": 2})
        assert index_state(index) == {30: {3}, 4: {4}}  # seen at once inside
        raise KeyError("undo")
    assert [(i, d["k"]) for i, d in table.items()] == [(2, 2), (3, 3)]
    assert index_state(index) == {2: {2}, 3: {3}} and other.ids() == [1]
    with store.transaction(durable=False):
        table.put(5, {"k": 5})
    store.flush()
    assert table.get(5) == {"k": 5}


def test_writes_inside_deferred_are_kept(engine: Opener) -> None:
    store = engine()
    with store.deferred():
        store.table("t").put(1, {"k": 1})
    store.flush()
    store.flush()
    assert store.table("t").get(1) == {"k": 1}


def test_a_closed_store_refuses_writes_and_transactions(engine: Opener) -> None:
    store = engine()
    store.table("t").put(1, {"k": 1})
    store.close()
    store.close()
    with pytest.raises(ValueError):
        store.table("t").put(2, {"k": 2})
    with pytest.raises(ValueError), store.transaction():
        pass
    with pytest.raises(ValueError):
        store.compact()


def test_compaction_is_refused_inside_a_transaction(engine: Opener) -> None:
    store = engine()
    store.table("t").put(1, {"k": 1})
    with pytest.raises(ValueError), store.transaction():
        store.compact()
    store.compact()
    store.compact(wait=False)
    assert store.table("t").get(1) == {"k": 1}


# -- differential: both engines against a dict, the journal reopened from its files ----------

_doc = st.fixed_dictionaries({"k": st.integers(0, 3), "v": st.lists(st.integers(0, 9), max_size=2)})
_id = st.integers(1, 8)
_step = st.one_of(
    st.tuples(st.just("put"), st.sampled_from("ab"), _id, _doc),
    st.tuples(st.just("delete"), st.sampled_from("ab"), st.lists(_id, max_size=3)),
)
_op = st.one_of(
    _step,
    st.tuples(st.just("transaction"), st.lists(_step, max_size=4), st.booleans()),
    st.tuples(st.just("compact"), st.booleans()),
    st.just(("reopen",)),
)


class Undo(Exception):
    """Raised inside a transaction that the test wants undone."""


def _apply(model: dict[str, dict[int, dict[str, Any]]], step: tuple[Any, ...]) -> None:
    if step[0] == "put":
        model[step[1]][step[2]] = step[3]
    else:
        for doc_id in step[2]:
            model[step[1]].pop(doc_id, None)


def _do(tables: dict[str, DocumentTable], step: tuple[Any, ...]) -> None:
    if step[0] == "put":
        tables[step[1]].put(step[2], step[3])
    else:
        tables[step[1]].delete(*step[2])


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_op, max_size=20))
def test_engines_agree_with_a_dict(ops: list[tuple[Any, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "db"
        journal = JournalStorage(path, compact_every=5)
        stores: dict[str, DocumentStore] = {"journal": journal, "memory": MemoryStore()}
        model: dict[str, dict[int, dict[str, Any]]] = {"a": {}, "b": {}}

        def open_tables(store: DocumentStore) -> tuple[dict[str, DocumentTable], TableIndex]:
            tables = {name: store.table(name) for name in "ab"}
            (index,) = tables["a"].index(by_key)
            store.opened()
            return tables, index

        opened = {name: open_tables(store) for name, store in stores.items()}
        try:
            for op in ops:
                if op[0] in ("put", "delete"):
                    _apply(model, op)
                    for tables, _ in opened.values():
                        _do(tables, op)
                elif op[0] == "transaction":
                    steps, undo = op[1], op[2]
                    if not undo:
                        for step in steps:
                            _apply(model, step)
                    for name, store in stores.items():
                        tables = opened[name][0]
                        try:
                            with store.transaction():
                                for step in steps:
                                    _do(tables, step)
                                if undo:
                                    raise Undo
                        except Undo:
                            pass
                elif op[0] == "compact":
                    for store in stores.values():
                        store.compact(wait=op[1])
                else:  # the journal opened again from what is on disk, without close()
                    journal = stores["journal"]  # type: ignore[assignment]
                    assert isinstance(journal, JournalStorage)
                    # As a dead process would: its helper threads gone, its files let go.
                    if journal._job is not None:
                        journal._job.wait()
                    for helper in journal._freeing:
                        helper.join()
                    os.close(journal._fd)
                    journal._file.close()
                    journal = JournalStorage(path)
                    stores["journal"] = journal
                    opened["journal"] = open_tables(journal)
                for name, (tables, index) in opened.items():
                    for table_name, table in tables.items():
                        docs = model[table_name]
                        assert dict(table.items()) == docs, (name, op)
                        assert table.ids() == sorted(docs), (name, op)
                        assert table.last_id() == max(docs, default=0), (name, op)
                        assert len(table) == len(docs)
                    assert index_state(index) == expected_index(tables["a"]), (name, op)
        finally:
            for store in stores.values():
                store.close()
