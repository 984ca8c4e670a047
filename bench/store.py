"""The case store at 1k / 10k / 100k cases: echowall's store against TinyDB's JSON storage.

Both sides hold the same documents: realistic cases (storage/records.py) with timelines,
supporters, a few years of history over 40 buildings and 3000 residents, built directly as
records (no Telegram). Per size and operation, p50 and p99 (nearest rank) of single calls:

- **insert**: `save_case` of a new case; **update**: `save_case` of an existing case after a
  step was added (the read before it is not timed). echowall's writes are durable when they
  return (fsync'd journal); JSONStorage rewrites its whole file and does not fsync;
- **get by id**: `get_case`; **open cases of a building**: `cases(building_id=,
  states=OPEN_STATES)`; **monthly export**: the cases created in one month, found the way the
  export and the reports find them, `cases_received(start, end)` (through the index by month).

The JSON side does the same through plain TinyDB (`TinyDB(path)`, default `JSONStorage`,
`upsert(Document(...))`, `get(doc_id=)`, `search(Query)`, `all()`, query cache off as in the
repository) and the same codec. JSONStorage rereads and reparses the whole file on every call
and rewrites it on every write, so its slow rows are sampled within a time budget; the sample
count is in the table.

Next to the writes, **fsync floor**: fsync of a 400-byte append in the same directory, one
after each timed write, so that the floor and the writes see the same moments of the disk.
Besides, at the largest size: opening the store (in a fresh subprocess: time to the first
case, and peak RSS, see `PROBE`), the store's own cost per write (fsync stubbed out, as a
diagnostic), and what a compaction costs.
"""

from __future__ import annotations

import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from storage import journal
from storage.codec import from_doc, to_doc
from storage.journal import JournalStorage, encode, write_snapshot
from storage.records import (
    OPEN_STATES,
    Case,
    CaseClass,
    Channel,
    Group,
    Level,
    Person,
    Rating,
    State,
    Step,
)
from storage.tinydb_store import TinyRepository

FULL_SIZES = (1_000, 10_000, 100_000)
QUICK_SIZES = (1_000, 10_000)
BUILDINGS = 40
RESIDENTS = 3_000
EPOCH = datetime(2023, 1, 1, tzinfo=UTC)
OPS = (
    "insert",
    "update",
    "fsync floor, between the writes",
    "get by id",
    "open cases of a building",
    "monthly export",
)

TEXTS = (
    "3楼走廊灯坏了，晚上很黑，老人上下楼不方便",
    "电梯按钮失灵，2号电梯停在5楼不动，已经一整天了",
    "楼道里堆了很多纸箱和旧家具，有消防隐患，请尽快清理",
    "顶楼漏水，下雨时天花板往下滴水，墙皮已经脱落",
    "地下车库入口的道闸坏了，车辆进出要排很长的队",
    "小区门口的路灯不亮，晚上回家很不安全",
    "垃圾桶满了两天没人清运，气味很大，招苍蝇",
    "楼下有人长期占用消防通道停车，多次劝说无效",
    "The entrance door does not close properly and the lock is broken",
    "二单元的水管爆了，地下室积水很深",
)
NOTES = ("已联系物业，明天上门查看", "维修师傅已到场", "材料已订购，预计三天到货", "")
MEASURES = ("更换了灯泡并检查了线路", "更换了电梯按钮面板", "清理了楼道杂物", "修补了防水层")
NAMES = ("张阿姨", "李大爷", "陈女士", "王楼长", "赵先生", "刘社工", "孙奶奶", "周师傅")


def make_case(case_id: int, rng: random.Random, created: datetime, age: timedelta) -> Case:
    """One case as the bot would have stored it; the older, the likelier it is closed."""
    building = -1001 - rng.randrange(BUILDINGS)
    reporter = 100_000 + rng.randrange(RESIDENTS)
    name = rng.choice(NAMES)
    case = Case(
        id=case_id,
        building_id=building,
        channel=rng.choice((Channel.GROUP,) * 8 + (Channel.PRIVATE, Channel.HOTLINE)),
        text=rng.choice(TEXTS) + ("。" + rng.choice(TEXTS) if rng.random() < 0.3 else ""),
        created=created,
        answer_due=created + timedelta(hours=24),
        reporter_id=reporter,
        reporter_name=name,
        entrance=str(rng.randrange(1, 5)),
        floor=str(rng.randrange(1, 19)),
        flat=f"{rng.randrange(1, 19)}0{rng.randrange(1, 5)}",
        category=rng.choice(("公共设施", "环境卫生", "安全隐患", "物业服务")),
        origin_chat_id=building,
        origin_message_id=rng.randrange(1, 10**6),
        card_message_id=rng.randrange(1, 10**6),
        staff_message_id=rng.randrange(1, 10**6),
        supporters=[100_000 + rng.randrange(RESIDENTS) for _ in range(rng.randrange(4))],
        timeline=[Step(created, "report", reporter, name)],
    )
    # Where in its life the case is: new ones spread over every state, the older the further
    # along; a month old, nearly all are closed (3 % declined, 0.5 % fixed, never confirmed).
    settled = min(1.0, age / timedelta(days=30))
    stage = rng.random() * (1.0 - 0.99 * settled)
    when = created
    if settled == 1.0 and rng.random() < 0.03:
        when += timedelta(hours=rng.uniform(1, 20))
        case.state, case.answered_at = State.DECLINED, when
        case.timeline.append(Step(when, "decline", 201, "王楼长", "不属于社区职责范围"))
        return case
    if stage < 0.92:
        when += timedelta(hours=rng.uniform(0.5, 20))
        case.state, case.answered_at = State.ACCEPTED, when
        case.klass = rng.choice(list(CaseClass))
        case.due = when + timedelta(days=rng.randrange(1, 8))
        case.timeline.append(Step(when, "accept", 201, "王楼长", "一般事项"))
        for _ in range(rng.randrange(3)):
            when += timedelta(hours=rng.uniform(1, 30))
            case.timeline.append(Step(when, "progress", 301, "刘社工", rng.choice(NOTES)))
    if stage < 0.05:
        case.level = Level.COMMUNITY
        case.timeline.append(Step(when, "escalate", 301, "刘社工", "需要社区协调"))
    if stage < 0.85:
        when += timedelta(hours=rng.uniform(2, 48))
        case.state, case.fixed_at, case.measure = State.FIXED, when, rng.choice(MEASURES)
        case.timeline.append(Step(when, "fixed", 301, "刘社工", case.measure))
    if stage < 0.80 and not (settled == 1.0 and rng.random() < 0.005):
        when += timedelta(hours=rng.uniform(1, 72))
        case.state, case.closed_at = State.CLOSED, when
        case.rating = rng.choice((Rating.SATISFIED,) * 6 + (Rating.BASIC, Rating.UNSATISFIED))
        case.timeline.append(Step(when, "confirm", reporter, name))
    return case


def make_cases(count: int, seed: int = 7) -> list[Case]:
    """`count` cases, about 90 a day up to now, oldest first (ids in creation order)."""
    rng = random.Random(seed)
    step = timedelta(days=3 * 365) / 100_000
    now = EPOCH + step * count
    return [
        make_case(i, rng, EPOCH + step * i, now - (EPOCH + step * i)) for i in range(1, count + 1)
    ]


def side_tables() -> dict[str, dict[str, dict[str, Any]]]:
    groups = {
        str(1001 + b): to_doc(Group(-1001 - b, f"林溪苑{b + 1}号楼", heads={201: "王楼长"}))
        for b in range(BUILDINGS)
    }
    people = {
        str(100_000 + p): to_doc(Person(100_000 + p, NAMES[p % len(NAMES)], "zh", [-1001]))
        for p in range(RESIDENTS)
    }
    return {"groups": groups, "people": people}


@dataclass
class Row:
    """p50/p99 of one operation at one size, on one store."""

    samples: list[float] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.samples)

    def pct(self, q: float) -> float:
        ordered = sorted(self.samples)
        return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))] * 1000

    def cell(self) -> str:
        if not self.samples:
            return "–"
        return f"{_ms(self.pct(0.5))} / {_ms(self.pct(0.99))} ({self.n})"


def _ms(value: float) -> str:
    if value >= 1000:
        return f"{value / 1000:.2f} s"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


@dataclass
class Results:
    sizes: tuple[int, ...]
    ours: dict[tuple[int, str], Row] = field(default_factory=dict)
    json: dict[tuple[int, str], Row] = field(default_factory=dict)
    facts: list[tuple[str, str]] = field(default_factory=list)


def sample(
    fn: Callable[[int], Any],
    most: int,
    budget: float,
    least: int = 3,
    *,
    after: Callable[[], None] | None = None,
) -> Row:
    """Time `fn(i)` for i = 0, 1, ... up to `most` calls or until `budget` seconds are spent.

    `after` runs untimed after each call (the interleaved fsync floor).
    """
    row = Row()
    began = time.perf_counter()
    for i in range(most):
        start = time.perf_counter()
        fn(i)
        row.samples.append(time.perf_counter() - start)
        if after is not None:
            after()
        if i + 1 >= least and time.perf_counter() - began > budget:
            break
    return row


def build_store(directory: Path, docs: dict[str, bytes]) -> None:
    """Write a data directory holding `docs` as its cases table, as a bot leaves it.

    The snapshot is written directly; opening and closing the store once then adds its table
    of contents (with the indexes), as every close of a running bot does.
    """
    tables = {name: {k: encode(v) for k, v in t.items()} for name, t in side_tables().items()}
    write_snapshot(directory / "echowall.snapshot.json", 1, {"cases": docs, **tables})
    TinyRepository(directory).close()


def build_json(path: Path, docs: dict[str, bytes]) -> None:
    """The same documents as TinyDB's JSONStorage would have written them."""
    with open(path, "wb") as handle:
        handle.write(b'{"cases": {')
        handle.write(b", ".join(b'"%s": %s' % (k.encode(), v) for k, v in docs.items()))
        handle.write(b"}, ")
        handle.write(json.dumps(side_tables())[1:].encode())


def _month(cases: list[Case]) -> tuple[datetime, datetime]:
    middle = cases[len(cases) // 2].created
    start = middle.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    return start, (start + timedelta(days=32)).replace(day=1)


def _touch(case: Case, i: int) -> None:
    case.timeline.append(Step(EPOCH + timedelta(days=900, minutes=i), "progress", 301, "刘社工"))


class Floor:
    """fsync samples of a 400-byte append taken between the store's writes, on the same disk.

    Interleaved, the floor and the writes see the same moments of a shared disk; a floor taken
    once at the start of the run says little about the p99 of writes minutes later.
    """

    def __init__(self, directory: Path) -> None:
        self.row = Row()
        self._handle = open(directory / "fsync-floor", "ab")  # noqa: SIM115 - closed in close()

    def probe(self) -> None:
        self._handle.write(b"x" * 399 + b"\n")
        self._handle.flush()
        start = time.perf_counter()
        os.fsync(self._handle.fileno())
        self.row.samples.append(time.perf_counter() - start)

    def close(self) -> None:
        self._handle.close()


def bench_ours(directory: Path, cases: list[Case], extra: list[Case], quick: bool) -> dict:
    """echowall's store: the reads first, on exactly `len(cases)` cases, then the writes."""
    rng = random.Random(11)
    size = len(cases)
    writes = 200 if quick else 2000
    targets = [rng.randrange(1, size + 1) for _ in range(writes)]
    start, end = _month(cases)
    repo = TinyRepository(directory)
    floor = Floor(directory)
    try:
        rows: dict[str, Row] = {}
        rows["get by id"] = sample(lambda i: repo.get_case(targets[i]), writes, 10)
        rows["open cases of a building"] = sample(
            lambda i: repo.cases(building_id=-1001 - i % BUILDINGS, states=OPEN_STATES),
            100 if quick else 1000,
            10,
        )
        rows["monthly export"] = sample(
            lambda _: repo.cases_received(start, end),
            3 if quick else 20,
            1 if quick else 20,
        )
        queue = iter(extra)

        def insert(_: int) -> None:
            case = next(queue)
            case.id = repo.next_case_id()
            repo.save_case(case)

        rows["insert"] = sample(insert, writes, 20, after=floor.probe)
        loaded = [_copy(cases[t - 1]) for t in targets]

        def update(i: int) -> None:
            _touch(loaded[i], i)
            repo.save_case(loaded[i])

        rows["update"] = sample(update, writes, 20, after=floor.probe)
        rows["fsync floor, between the writes"] = floor.row
        return rows
    finally:
        floor.close()
        repo.close()


def bench_json(path: Path, cases: list[Case], extra: list[Case], quick: bool) -> dict:
    """The same through plain TinyDB and its JSONStorage, in the same order."""
    from tinydb import Query, TinyDB
    from tinydb.table import Document

    rng = random.Random(11)
    size = len(cases)
    # JSONStorage takes seconds per call at 100,000 cases: a time budget per row, 3 samples at
    # least (1 with --quick).
    budget, least = (0.5, 1) if quick else (20.0, 3)
    most = 200 if quick else 2000
    targets = [rng.randrange(1, size + 1) for _ in range(most)]
    start, end = _month(cases)
    db = TinyDB(path)
    table = db.table("cases", cache_size=0)
    q = Query()
    open_states = [s.value for s in OPEN_STATES]
    rows: dict[str, Row] = {}
    try:
        rows["get by id"] = sample(
            lambda i: from_doc(Case, table.get(doc_id=targets[i]) or {}), most, budget, least
        )
        rows["open cases of a building"] = sample(
            lambda i: sorted(
                (
                    from_doc(Case, d)
                    for d in table.search(
                        (q.building_id == -1001 - i % BUILDINGS) & q.state.one_of(open_states)
                    )
                ),
                key=lambda c: c.id,
            ),
            most,
            budget,
            least,
        )
        rows["monthly export"] = sample(
            lambda _: [
                c
                for c in (from_doc(Case, d) for d in sorted(table.all(), key=lambda d: d.doc_id))
                if start <= c.created < end
            ],
            20,
            budget,
            least,
        )
        queue = iter(extra)
        next_id = size

        def insert(_: int) -> None:
            nonlocal next_id
            case = next(queue)
            next_id += 1
            case.id = next_id
            table.upsert(Document(to_doc(case), doc_id=case.id))

        rows["insert"] = sample(insert, most, budget, least)

        def update(i: int) -> None:
            case = _copy(cases[targets[i] - 1])
            _touch(case, i)
            table.upsert(Document(to_doc(case), doc_id=case.id))

        rows["update"] = sample(update, most, budget, least)
    finally:
        db.close()
    return rows


PROBE = """
import json, resource, sys, time
from storage.codec import from_doc
from storage.records import Case
from storage.tinydb_store import TinyRepository
from tinydb import TinyDB

def peak_kb():
    # Linux carries a parent's peak into a child's ru_maxrss across fork and exec, and this
    # probe is started by the (large) benchmark process; VmHWM is this process image's own.
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

kind, where = sys.argv[1], sys.argv[2]
base = peak_kb()
began = time.perf_counter()
if kind == "ours":
    store = TinyRepository(where)
    assert store.get_case(1) is not None
else:
    store = TinyDB(where)
    assert from_doc(Case, store.table("cases").get(doc_id=1)) is not None
opened = time.perf_counter() - began
print(json.dumps({"open_s": opened, "rss_kb": peak_kb(), "base_kb": base}))
store.close()
"""


def probe(kind: str, where: Path) -> dict[str, float]:
    """Open a store in a fresh interpreter: seconds to the first case, peak RSS."""
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", PROBE, kind, str(where)],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def own_cost(directory: Path, cases: list[Case], writes: int) -> tuple[str, str]:
    """The store's own cost per write, without the fsync: a diagnostic, not a durable write."""
    rng = random.Random(13)
    repo = TinyRepository(directory, compact_min_bytes=1 << 40)
    real = journal.os
    journal.os = types.SimpleNamespace(**{**vars(os), "fsync": lambda fd: None})  # type: ignore[assignment]
    try:
        loaded = [_copy(cases[rng.randrange(len(cases))]) for _ in range(writes)]

        def update(i: int) -> None:
            _touch(loaded[i], i)
            repo.save_case(loaded[i])

        row = sample(update, writes, 60)
    finally:
        journal.os = real
        repo.close()
    return (
        f"the store's own cost, {len(cases):,} cases",
        f"update with the journal's fsync stubbed out (diagnostic only): p50 "
        f"{_ms(row.pct(0.5))} ms, p99 {_ms(row.pct(0.99))} ms, p99.9 {_ms(row.pct(0.999))} ms "
        f"({row.n} samples); the rest of a durable write is the fsync",
    )


def compaction_cost(directory: Path, cases: list[Case]) -> list[tuple[str, str]]:
    """What folding the journal costs at this size: in the foreground, and in the background."""
    rng = random.Random(5)
    storage_kw = {"compact_min_bytes": 1 << 40}  # no automatic compaction while measuring
    repo = TinyRepository(directory, **storage_kw)
    facts = []
    try:
        storage: JournalStorage = repo.storage
        for i in range(200):
            case = repo.get_case(rng.randrange(1, len(cases) + 1))
            assert case is not None
            _touch(case, i)
            repo.save_case(case)
        began = time.perf_counter()
        storage.compact()
        full = time.perf_counter() - began
        snapshot_mb = storage.stats()["snapshot_bytes"] / 1e6
        facts.append(
            (
                f"compaction, {len(cases):,} cases, on the caller's thread",
                f"{full:.2f} s for a {snapshot_mb:.0f} MB snapshot (what `close()` does)",
            )
        )
        # Background, as it happens by itself: the write that starts it pays for freezing the
        # tables, the writes meanwhile share the disk with it, and the first write after it
        # ended switches the files in.
        began = time.perf_counter()
        storage.compact(wait=False)
        freeze = time.perf_counter() - began
        during, switch, i = Row(), 0.0, 0
        while storage.compacting:
            case = repo.get_case(rng.randrange(1, len(cases) + 1))
            assert case is not None
            i += 1
            _touch(case, i)
            start = time.perf_counter()
            repo.save_case(case)
            took = time.perf_counter() - start
            if storage.compacting:
                during.samples.append(took)
            else:
                switch = took
        writes = (
            f"{during.n} writes meanwhile, p50 {_ms(during.pct(0.5))} ms, "
            f"p99 {_ms(during.pct(0.99))} ms, max {_ms(max(during.samples) * 1000)} ms"
            if during.samples
            else "no write fell into it"
        )
        facts.append(
            (
                f"compaction, {len(cases):,} cases, in the background (automatic)",
                f"starting it (freezing the tables): {freeze * 1000:.1f} ms; {writes}; "
                f"the write that switches the files in: {switch * 1000:.1f} ms in all",
            )
        )
    finally:
        repo.close()
    return facts


def run(*, quick: bool = False, progress: Callable[[str], None] = lambda line: None) -> Results:
    sizes = QUICK_SIZES if quick else FULL_SIZES
    results = Results(sizes)
    began = time.perf_counter()
    cases = make_cases(max(sizes) + 5000)
    pool, spare = cases[: max(sizes)], cases[max(sizes) :]
    docs = {str(c.id): encode(to_doc(c)) for c in pool}
    # The generated cases (millions of objects) live as long as the benchmark: out of the
    # collector's way, as the bot freezes what its start-up built. Otherwise a full collection
    # started by any thread walks them all (0.4 s at 100,000, holding the GIL) and lands in
    # whichever measurement it hits, the writes during a background compaction above all.
    gc.freeze()
    keys = list(docs)
    progress(f"store: {len(pool):,} cases generated in {time.perf_counter() - began:.1f} s")
    with tempfile.TemporaryDirectory(prefix="echowall-bench-store-") as tmp:
        root = Path(tmp)
        for size in sizes:
            subset = {k: docs[k] for k in keys[:size]}
            ours_dir, json_path = root / f"ours-{size}", root / f"json-{size}.json"
            ours_dir.mkdir()
            build_store(ours_dir, subset)
            build_json(json_path, subset)
            extra = [_copy(c) for c in spare]
            for op, row in bench_ours(ours_dir, pool[:size], extra, quick).items():
                results.ours[size, op] = row
            progress(f"store: {size:,} cases, echowall store done")
            extra = [_copy(c) for c in spare]
            for op, row in bench_json(json_path, pool[:size], extra, quick).items():
                results.json[size, op] = row
            progress(f"store: {size:,} cases, TinyDB JSONStorage done")
        big = max(sizes)
        fresh_dir, fresh_json = root / "open", root / "open.json"
        fresh_dir.mkdir()
        build_store(fresh_dir, {k: docs[k] for k in keys[:big]})
        build_json(fresh_json, {k: docs[k] for k in keys[:big]})
        for kind, where, label in (
            ("ours", fresh_dir, "echowall store"),
            ("json", fresh_json, "TinyDB JSONStorage"),
        ):
            opened = probe(kind, where)
            results.facts.append(
                (
                    f"open, {big:,} cases, {label}",
                    f"{opened['open_s']:.2f} s to the first case; peak RSS "
                    f"{opened['rss_kb'] / 1024:.0f} MB (interpreter and imports: "
                    f"{opened['base_kb'] / 1024:.0f} MB)",
                )
            )
        progress("store: startup probes done")
        results.facts.append(own_cost(fresh_dir, pool[:big], 1000 if quick else 5000))
        results.facts.extend(compaction_cost(fresh_dir, pool[:big]))
        progress("store: compaction measured")
    return results


def _copy(case: Case) -> Case:
    copied = from_doc(Case, to_doc(case))
    return copied


def table(results: Results) -> str:
    lines = [
        "| cases | operation | echowall store p50 / p99 ms (n) | "
        "TinyDB JSONStorage p50 / p99 ms (n) |",
        "|---:|---|---:|---:|",
    ]
    for size in results.sizes:
        for op in OPS:
            ours, theirs = results.ours.get((size, op)), results.json.get((size, op))
            lines.append(
                f"| {size:,} | {op} | {ours.cell() if ours else '–'} | "
                f"{theirs.cell() if theirs else '–'} |"
            )
    return "\n".join(lines)


def facts(results: Results) -> Iterator[tuple[str, str]]:
    yield from results.facts


def results_block(results: Results, machine: list[tuple[str, str]], command: str) -> str:
    """The text that goes between the README's store result markers."""
    described = "\n".join(f"- {key}: {value}" for key, value in (*facts(results), *machine))
    return (
        f"`{command}`: p50 / p99 (nearest rank) in ms, sample count in brackets.\n\n"
        f"{table(results)}\n\n{described}\n"
    )
