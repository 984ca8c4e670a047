"""Data directories with N cases already stored, for measuring echowall at a given size.

The framework benchmark runs echowall on a store that already holds 0, 10,000 or 100,000
cases. Each size is built once per run, in the system temp dir, and every measurement starts
from a copy of it (see ``bench.bots.EchowallBot``), so all measurements of a size start from
the same state.

The cases are bench/store.py's realistic history (`make_cases`: about 90 a day, 40 buildings,
3,000 residents, the recent ones in every state, the old ones nearly all closed), moved in
time so that the newest case was reported just now: a deployment that has been running up to
today, whose open cases are as overdue as their age makes them, not by the years between the
generator's calendar and the benchmark's. A store of N cases is ``make_cases(N)``, the
history of a deployment that has reached N cases, not the oldest N of a bigger one.

Next to the cases, the directory holds the store benchmark's side tables (`side_tables`):
the 40 building groups, whose first one is the benchmark world's building group B1 (same
chat id, same title, its head HEAD_WANG among the heads), and 3,000 residents who are not the
world's three reporters. A 0-case store holds these tables too, so the rows of one framework
differ in the number of cases and in nothing else.
"""

from __future__ import annotations

import dataclasses
import gc
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.store import build_store, make_cases, side_tables
from localapi import LocalBotAPI
from storage.codec import to_doc
from storage.journal import encode
from storage.records import Case
from tests.conftest import B1, HEAD_WANG, build_world

# Every message id a preloaded case refers to (its report, its card, its staff card) is below
# this. The benchmark starts the world's chats here (see `give_history`), so a new report never
# gets the message id of a stored case's report, which echowall would take for a redelivery.
FIRST_NEW_MESSAGE_ID = 1_000_000


@dataclass(frozen=True)
class Preloaded:
    """One prebuilt data directory and what it holds."""

    cases: int
    directory: Path
    open_cases: int
    open_in_b1: int
    disk_bytes: int  # everything in the data directory

    def describe(self) -> str:
        """One line for the results: how many cases, how many still open, the size on disk."""
        return (
            f"{self.cases:,} cases, {self.open_cases:,} of them open ({self.open_in_b1:,} in "
            f"the measured building group), {self.disk_bytes / 1e6:.1f} MB on disk"
        )


def give_history(api: LocalBotAPI) -> None:
    """Start every chat's message ids at FIRST_NEW_MESSAGE_ID, as in groups with a past.

    The local server numbers each chat's messages from 1; a preloaded case's report has a
    message id below FIRST_NEW_MESSAGE_ID, like a message of long ago. Every measurement,
    the bare bot's too, runs with this numbering, so no row sends shorter ids than another.
    """
    for chat in api.chats.values():
        chat.next_message_id = max(chat.next_message_id, FIRST_NEW_MESSAGE_ID)


def history(count: int, now: datetime) -> list[Case]:
    """`count` cases as `make_cases` generates them, moved so the newest was reported at `now`."""
    cases = make_cases(count)
    if not cases:
        return cases
    shift = now - cases[-1].created
    for case in cases:
        for field in dataclasses.fields(case):
            value = getattr(case, field.name)
            if isinstance(value, datetime):
                setattr(case, field.name, value + shift)
        for step in case.timeline:
            step.at += shift
    return cases


def _check_world() -> None:
    """The stored group B1 must be the world's B1, or echowall would rewrite it in warm-up."""
    api = LocalBotAPI()
    build_world(api)
    stored = side_tables()["groups"].get(str(abs(B1)))
    if stored is None or stored["chat_id"] != B1 or stored["title"] != api.chats[B1].title:
        raise RuntimeError(f"bench.store.side_tables() no longer holds the world's B1: {stored}")
    if str(HEAD_WANG) not in stored["heads"]:
        raise RuntimeError(f"the stored B1 does not list HEAD_WANG as a head: {stored}")


def build(directory: Path, count: int, now: datetime) -> Preloaded:
    """Write a data directory holding `count` cases (and the side tables) into `directory`."""
    cases = history(count, now)
    highest = max(
        (
            i
            for c in cases
            for i in (c.origin_message_id, c.card_message_id, c.staff_message_id)
            if i is not None
        ),
        default=0,
    )
    if highest >= FIRST_NEW_MESSAGE_ID:
        raise RuntimeError(f"a stored message id ({highest}) reaches FIRST_NEW_MESSAGE_ID")
    directory.mkdir(parents=True)
    build_store(directory, {str(c.id): encode(to_doc(c)) for c in cases})
    return Preloaded(
        cases=count,
        directory=directory,
        open_cases=sum(c.is_open for c in cases),
        open_in_b1=sum(c.is_open and c.building_id == B1 for c in cases),
        disk_bytes=sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()),
    )


@contextmanager
def preloaded_stores(
    sizes: Iterable[int], *, progress: Callable[[str], None] = lambda line: None
) -> Iterator[dict[int, Preloaded]]:
    """Build one data directory per size in a temp dir; they are deleted on leaving."""
    _check_world()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="echowall-bench-preload-") as tmp:
        stores: dict[int, Preloaded] = {}
        for size in sizes:
            stores[size] = build(Path(tmp) / f"cases-{size}", size, now)
            # The generated cases are garbage now; collecting them here keeps millions of
            # objects from being walked by the collector while the bots are measured.
            gc.collect()
            progress(f"preloaded store: {stores[size].describe()}")
        yield stores
