"""Start-up time and peak memory of the real bot on a large store, per framework.

``python -m bench.startup [--quick] [--repeat N] [--write]`` (Linux: reads ``/proc``)

The targets: start-up within the framework's own import time + 1 s, and peak RSS within the
framework's own + 150 MB, with 100,000 cases and 10,000 calendar events stored.

**The store.** One data directory written directly as a snapshot (`storage.journal`), then
opened and closed once by the store, so that it is what a bot leaves behind when it stops,
after three years: the cases of `bench.store.make_cases` with its
groups and residents, and calendar events as `/event` makes them (`storage.codec.to_doc` of
`CalendarEvent` in the ``events`` table, document id = event id): most of them past, a few
hundred ahead within four weeks with reminders a day and two hours before, and some weekly
ones. Next to them the outbox records they left behind, because the bot checks them on start
(`handlers.calendar.catch_up` posts every recent event that has no post, and fires or skips
every reminder slot of the last eight days that has no broadcast): one broadcast per post,
cancellation and reminder sent, one delivery per group. An empty data directory is the
reference row.

**echowall**, measured as a process: ``python -m bot.cli run --framework X`` (as deployed,
without ``-X dev``) polls a `LocalBotAPI` in this process, on a fresh copy of the data
directory each time, since the bot writes to it. *Start-up* is the time from spawning the
process to the server receiving its first ``getUpdates``: from then on it answers. Then one
``/report`` goes into building group B1, and once the bot has acknowledged it and sent the
staff card (proof that it works on this store), the process's *peak RSS* is read from
``/proc/<pid>/status`` (``VmHWM``) before SIGTERM stops it; it must exit with 0.

**Baselines**, in the same run, also as fresh processes: the framework's own import time
(spawn to exit of ``python -c "import telegram.ext"`` or ``"import aiogram"``, and of
``python -c pass`` for the interpreter alone) with its peak RSS, and a bare bot of the
framework (`bench.bare_process`) measured exactly as echowall is (spawn to first
``getUpdates``; peak RSS after answering one report). Start-up target: import time + 1 s. RSS
target: the bare bot's peak RSS + 150 MB (a running bot's own memory, not just its imports).

Every process measurement runs `--repeat` times (3; `--quick`: 1, and 10,000 cases with
1,000 events), in rounds that take turns across all of them, and the median is reported.
Once per framework and store, a probe process times the phases of the bot's start (its own
imports, store and runtime, the framework adapter's import) and the peak RSS after each; with
the server's record of the bot's first ``getMe``, that shows where the start-up goes.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bench import report
from bench.store import NAMES, make_cases, side_tables
from handlers.calendar import HORIZON, event_slots, post_key
from localapi import LocalBotAPI
from storage.codec import to_doc
from storage.journal import encode, write_snapshot
from storage.records import (
    Attendee,
    Broadcast,
    BroadcastKind,
    BroadcastState,
    CalendarEvent,
    Delivery,
    DeliveryState,
    EventKind,
)
from storage.tinydb_store import TinyRepository
from tests.conftest import AUNT_ZHANG, B1, STAFF, admit_world, build_world

BEGIN, END = "<!-- results:startup -->", "<!-- /results:startup -->"
ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("ptb", "aiogram")
# What "the framework's own import" is, per framework (the figures are for these).
IMPORTS = {"ptb": "import telegram.ext", "aiogram": "import aiogram"}
FULL_SIZE, QUICK_SIZE = (100_000, 10_000), (10_000, 1_000)  # (cases, events)
REPEAT = 3
START_SLACK_S = 1.0
RSS_SLACK_MB = 150
# The deployment's default time zone (bot.config.Config.timezone): slot keys and the calendar's
# day index are in local time.
TZ = ZoneInfo("Asia/Shanghai")
REMINDERS = [1440, 120]  # minutes before: a day and two hours
REPORT = "/report 楼道灯坏了，晚上很黑"
TIMEOUT_S = 120.0  # for anything one launch waits for; a stuck bot fails the run
# Printed by every child probe: its own peak RSS in kB (a child's ru_maxrss would start from
# this large process's peak, see bench/README.md "The store").
HWM = "print(next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:')))"

# ------------------------------------------------------------------------------ the store

TITLES = {
    EventKind.FORUM: ("居民议事会", "楼栋议事会：加装电梯", "停车管理协商会"),
    EventKind.SEMINAR: ("消防安全讲座", "防诈骗宣传", "垃圾分类培训"),
    EventKind.VACCINATION: ("流感疫苗接种", "老年人疫苗接种"),
    EventKind.CLINIC: ("社区义诊", "免费量血压", "中医义诊"),
    EventKind.GENERAL: ("邻里节", "旧物交换", "楼道大扫除", "亲子手工活动"),
}
PLACES = ("社区活动中心", "3号楼架空层", "社区卫生服务站", "小区广场", None)


@dataclass
class Store:
    """A data directory to start the bot on, and what it holds."""

    label: str
    path: Path
    documents: dict[str, int] = field(default_factory=dict)
    disk_mb: float = 0.0
    slots_ahead: int = 0
    upcoming: int = 0
    weekly: int = 0
    weekly_active: int = 0


def _local(day: datetime, rng: random.Random) -> datetime:
    """A time of day as events are set (09:00 to 19:30, on the half hour), local time."""
    local = day.astimezone(TZ)
    return local.replace(
        hour=rng.randrange(9, 20), minute=rng.choice((0, 30)), second=0, microsecond=0
    )


def make_events(count: int, now: datetime, seed: int = 3) -> list[CalendarEvent]:
    """`count` events as `/event` would have made them over the three years up to `now`.

    3 % one-off ones ahead (2 to 28 days), 1 % weekly (two in three cancelled after a few
    months), the rest one-off in the past, 5 % of them cancelled before they took place. Nine
    in ten are a head's event for their own building, one in ten comes from the staff chat
    for several buildings (half of those for all of them). Every reminder slot still ahead lies
    a day or more after `now`, so none falls due while the benchmark runs. Ids follow creation.
    """
    rng = random.Random(seed)
    buildings = [doc["chat_id"] for doc in side_tables()["groups"].values()]
    span = timedelta(days=3 * 365)
    today = now.astimezone(TZ).weekday()
    made: list[CalendarEvent] = []
    ahead, weekly = max(1, count * 3 // 100), max(1, count // 100)
    for i in range(count):
        kind = rng.choice(list(TITLES))
        if rng.random() < 0.1:
            many = len(buildings) if rng.random() < 0.5 else rng.randint(3, 12)
            groups = rng.sample(buildings, many)
            chat, by = STAFF, 301
        else:
            chat = rng.choice(buildings)
            groups, by = [chat], 201
        event = CalendarEvent(
            id=0,
            title=rng.choice(TITLES[kind]),
            kind=kind,
            groups=groups,
            created=now,
            created_by=by,
            created_in=chat,
            place=rng.choice(PLACES),
            capacity=rng.choice((None, None, 30, 50)),
            reminders=list(REMINDERS),
            origin=f"{chat}:{rng.randrange(1, 10**6)}",
        )
        if i < ahead:
            event.start = _local(now + timedelta(days=rng.uniform(2, 28)), rng)
            event.created = now - timedelta(days=rng.uniform(0.1, 10))
        elif i < ahead + weekly:
            # Weekdays two to six days from today: the next occurrence is at least a day away.
            event.weekday = (today + rng.randint(2, 6)) % 7
            event.at = f"{rng.randrange(9, 20):02d}:{rng.choice((0, 30)):02d}"
            event.created = now - span + (span - timedelta(days=14)) * rng.random()
            if rng.random() < 2 / 3:
                ended = event.created + timedelta(weeks=rng.uniform(4, 40))
                event.cancelled = ended if ended < now else None
        else:
            event.start = _local(now - span + (span - timedelta(days=1)) * rng.random(), rng)
            event.created = event.start - timedelta(days=rng.uniform(2, 21))
            if rng.random() < 0.05:
                event.cancelled = event.created + (event.start - event.created) * rng.random()
        going = [
            Attendee(100_000 + rng.randrange(3000), rng.choice(NAMES), rng.choice(groups))
            for _ in range(rng.randrange(16))
        ]
        event.going = going[: event.capacity] if event.capacity else going
        event.declined = [100_000 + rng.randrange(3000) for _ in range(rng.randrange(3))]
        made.append(event)
    made.sort(key=lambda e: e.created)
    for number, event in enumerate(made, 1):
        event.id = number
    return made


class _Outbox:
    """The outbox records the events left behind: broadcasts, sent, one delivery per group."""

    def __init__(self, seed: int = 5) -> None:
        self.rng = random.Random(seed)
        self.broadcasts: dict[str, bytes] = {}
        self.deliveries: dict[str, bytes] = {}

    def sent(
        self,
        kind: BroadcastKind,
        event: CalendarEvent,
        when: datetime,
        key: str,
        payload: dict[str, str],
    ) -> None:
        number = len(self.broadcasts) + 1
        report_to = STAFF if event.created_in == STAFF and kind != BroadcastKind.REMINDER else None
        broadcast = Broadcast(
            id=number,
            kind=kind,
            targets=list(event.groups),
            created=when,
            key=key,
            payload=payload,
            report_to=report_to,
            state=BroadcastState.DONE,
            done_at=when + timedelta(seconds=2 + len(event.groups) / 30),
            reported=True,
        )
        self.broadcasts[str(number)] = encode(to_doc(broadcast))
        for k, chat in enumerate(event.groups):
            delivery = Delivery(
                id=len(self.deliveries) + 1,
                broadcast_id=number,
                chat_id=chat,
                state=DeliveryState.SENT,
                at=when + timedelta(seconds=k / 30),
                message_id=self.rng.randrange(1, 10**6),
            )
            self.deliveries[str(delivery.id)] = encode(to_doc(delivery))


def outbox_history(events: list[CalendarEvent], now: datetime) -> _Outbox:
    """Every post, cancellation and reminder slot of `events` up to `now`, as delivered.

    The slots come from `handlers.calendar.event_slots`, so their keys are the runtime's own.
    """
    svc = types.SimpleNamespace(settings=types.SimpleNamespace(timezone=TZ))
    outbox = _Outbox()
    for event in events:
        label = {"event": str(event.id), "label": f"E{event.id} {event.title}"}
        outbox.sent(BroadcastKind.EVENT, event, event.created, post_key(event), label)
        ended = min(now, event.cancelled or now)
        live = dataclasses.replace(event, cancelled=None)
        for slot in event_slots(svc, live, event.created, ended):  # type: ignore[arg-type]
            assert slot.occurrence is not None
            payload = {
                "event": str(event.id),
                "occurrence": slot.occurrence.isoformat(),
                "offset": str(slot.offset),
                "late": "",
            }
            outbox.sent(BroadcastKind.REMINDER, event, slot.due, slot.key, payload)
        if event.cancelled is not None:
            # The key handlers.calendar.cmd_cancel gives a cancellation.
            outbox.sent(BroadcastKind.CANCEL, event, event.cancelled, f"cancel:{event.id}", label)
    return outbox


def build_data(directory: Path, cases: int, events: int, now: datetime) -> Store:
    """Write a data directory with `cases` cases and `events` events (and their outbox)."""
    label = f"{cases:,} cases + {events:,} events" if cases or events else "empty"
    store = Store(label, directory)
    directory.mkdir(parents=True)
    if not cases and not events:
        # The world's building groups count as admitted, as in a deployment staff set up;
        # otherwise the bot would wait for staff to admit the group before answering.
        admit_world(directory)
        return store
    made = make_events(events, now)
    outbox = outbox_history(made, now)
    svc = types.SimpleNamespace(settings=types.SimpleNamespace(timezone=TZ))
    for event in made:
        if event.cancelled is None and (event.weekly or (event.start and event.start > now)):
            end = now + HORIZON if event.weekly else event.start
            assert end is not None
            store.slots_ahead += len(event_slots(svc, event, now, end))  # type: ignore[arg-type]
            store.upcoming += not event.weekly
        store.weekly += event.weekly
        store.weekly_active += event.weekly and event.cancelled is None
    tables = {
        "cases": {str(c.id): encode(to_doc(c)) for c in make_cases(cases)},
        **{name: {k: encode(v) for k, v in t.items()} for name, t in side_tables().items()},
        "events": {str(e.id): encode(to_doc(e)) for e in made},
        "broadcasts": outbox.broadcasts,
        "deliveries": outbox.deliveries,
    }
    store.documents = {name: len(docs) for name, docs in tables.items()}
    write_snapshot(directory / "echowall.snapshot.json", 1, tables)
    del tables
    # Opened and closed once, the directory holds what a stopped bot leaves behind (a close
    # compacts, with whatever the store keeps next to its snapshot).
    TinyRepository(directory).close()
    admit_world(directory)
    store.disk_mb = sum(p.stat().st_size for p in directory.iterdir() if p.is_file()) / 1e6
    return store


# ------------------------------------------------------------------------------ processes


@dataclass
class Samples:
    """Repeated measurements of one kind of process; the medians are reported."""

    seconds: list[float] = field(default_factory=list)
    peak_kb: list[int] = field(default_factory=list)
    to_getme: list[float] = field(default_factory=list)

    @property
    def s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def mb(self) -> float:
        return statistics.median(self.peak_kb) / 1024

    @property
    def getme_s(self) -> float:
        return statistics.median(self.to_getme)


def _env(**values: str) -> dict[str, str]:
    """This environment without any echowall settings, plus `values` as ECHOWALL_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHOWALL_")}
    env.update({f"ECHOWALL_{k.upper()}": v for k, v in values.items()})
    return env


def _peak_kb(pid: int) -> int:
    """A running process's peak RSS in kB (its own `VmHWM`, whoever started it)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for process {pid}")


def import_once(statement: str) -> tuple[float, int]:
    """Seconds from spawning ``python -c statement`` to its exit, and its peak RSS in kB."""
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", f"{statement}\n{HWM}"],
        cwd=ROOT,
        env=_env(),
        check=True,
        capture_output=True,
        text=True,
    )
    return time.monotonic() - began, int(done.stdout.split()[-1])


# How to start a bot against a given server: its argv and environment.
Command = Callable[[LocalBotAPI], tuple[list[str], dict[str, str]]]


async def _first_call(api: LocalBotAPI, method: str, process: asyncio.subprocess.Process) -> float:
    """When the server received `method` first (its monotonic clock), waiting if need be."""
    deadline = time.monotonic() + TIMEOUT_S
    while True:
        found = next((t for m, t in api.calls if m == method), None)
        if found is not None:
            return found
        if process.returncode is not None:
            raise RuntimeError(f"the bot exited with {process.returncode} before {method}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"no {method} within {TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.01)


async def launch(command: Command, log: Path) -> tuple[float, float, int]:
    """Start a bot process against a new local server, have it answer one report, stop it.

    Returns seconds from spawn to the first getMe and to the first getUpdates, and the peak
    RSS (kB) after the report was answered. Raises if the bot fails anywhere, or does not exit
    with 0 on SIGTERM; its stderr is kept in `log`.
    """
    async with LocalBotAPI() as api:
        build_world(api)
        argv, env = command(api)
        with open(log, "wb") as errors:
            began = time.monotonic()
            process = await asyncio.create_subprocess_exec(
                *argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=errors
            )
            code: int | None = None
            try:
                polling = await _first_call(api, "getupdates", process) - began
                getme = await _first_call(api, "getme", process) - began
                message = api.user_message(B1, AUNT_ZHANG, REPORT)
                ack = await api.wait_for(
                    lambda r: r.chat_id == B1 and r.reply_to_message_id == message["message_id"],
                    timeout=TIMEOUT_S,
                )
                await api.wait_for(
                    lambda r: r.chat_id == STAFF and r.method == "sendMessage",
                    timeout=TIMEOUT_S,
                    after_seq=ack.seq,
                )
                peak = _peak_kb(process.pid)
                process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(process.wait(), TIMEOUT_S)
            except (RuntimeError, TimeoutError) as failure:
                raise RuntimeError(f"{' '.join(argv[1:])}: {failure}\n{_tail(log)}") from None
            finally:
                if process.returncode is None:
                    process.kill()
                    await process.wait()
    if code != 0 or "Traceback" in log.read_text(encoding="utf-8", errors="replace"):
        raise RuntimeError(f"{' '.join(argv[1:])} exited with {code}:\n{_tail(log)}")
    return getme, polling, peak


def _tail(log: Path) -> str:
    """The end of a bot's stderr, for an error message."""
    return log.read_text(encoding="utf-8", errors="replace")[-3000:]


def echowall(framework: str, data_dir: Path) -> Command:
    """The real bot, as deployed: ``python -m bot.cli run`` configured by the environment."""

    def command(api: LocalBotAPI) -> tuple[list[str], dict[str, str]]:
        env = _env(token=api.token, api_url=api.url, data_dir=str(data_dir), staff_chat=str(STAFF))
        return [sys.executable, "-m", "bot.cli", "run", "--framework", framework], env

    return command


def bare(framework: str) -> Command:
    """The framework's bare bot (`bench.bare_process`)."""

    def command(api: LocalBotAPI) -> tuple[list[str], dict[str, str]]:
        argv = ["-m", "bench.bare_process", framework, api.url, api.token, str(STAFF)]
        return [sys.executable, *argv], _env()

    return command


# What the bot does before its first call to Telegram, phase by phase, in the order of
# bot.cli and bot.app.run_bot: each mark prints the seconds since the last one and the peak
# RSS (kB) so far. The interpreter's own start is `python -c pass`, measured apart.
PHASES = """
import json, sys, time
marks, last = [], time.perf_counter()
def mark(name):
    global last
    now = time.perf_counter()
    hwm = next(ln.split()[1] for ln in open('/proc/self/status') if ln.startswith('VmHWM:'))
    marks.append((name, now - last, int(hwm)))
    last = now
import bot.cli
from bot.app import build_runtime
from bot.config import load_config
mark("echowall's imports")
runtime = build_runtime(load_config(framework=sys.argv[1]))
mark("configuration, store open, runtime")
if sys.argv[1] == "ptb":
    from bot import ptb_adapter
else:
    from bot import aiogram_adapter
mark("framework adapter import")
print(json.dumps(marks))
"""


def phases(framework: str, data_dir: Path) -> list[tuple[str, float, int]]:
    """The phases of the bot's start before its first call, in a fresh process (see PHASES)."""
    done = subprocess.run(
        [sys.executable, "-c", PHASES, framework],
        cwd=ROOT,
        env=_env(data_dir=str(data_dir), staff_chat=str(STAFF)),
        check=True,
        capture_output=True,
        text=True,
    )
    marks = json.loads(done.stdout.splitlines()[-1])
    return [(str(name), float(seconds), int(kb)) for name, seconds, kb in marks]


# ------------------------------------------------------------------------------ the run


def _measure(into: Samples, run_dir: Path, framework: str, store: Store | None) -> None:
    """One launch: the bare bot (no store), or echowall on a fresh copy of `store`."""
    run_dir.mkdir()
    try:
        if store is None:
            command = bare(framework)
        else:
            shutil.copytree(store.path, run_dir / "data")
            command = echowall(framework, run_dir / "data")
        getme, polling, peak = asyncio.run(launch(command, run_dir / "stderr.log"))
    finally:
        shutil.rmtree(run_dir)
    into.to_getme.append(getme)
    into.seconds.append(polling)
    into.peak_kb.append(peak)


@dataclass
class Results:
    """Every sample of one run: bots by (framework, store label), baselines by framework."""

    stores: list[Store]
    repeat: int
    interpreter: Samples = field(default_factory=Samples)
    imports: dict[str, Samples] = field(default_factory=dict)
    bare: dict[str, Samples] = field(default_factory=dict)
    bots: dict[tuple[str, str], Samples] = field(default_factory=dict)
    phases: dict[tuple[str, str], list[tuple[str, float, int]]] = field(default_factory=dict)


def run(
    *,
    quick: bool = False,
    progress: Callable[[str], None] = lambda line: None,
    repeat: int | None = None,
) -> Results:
    """Build the stores, then measure every process `repeat` times, in rounds."""
    cases, events = QUICK_SIZE if quick else FULL_SIZE
    repeat = repeat or (1 if quick else REPEAT)
    with tempfile.TemporaryDirectory(prefix="echowall-bench-startup-") as tmp:
        root = Path(tmp)
        began = time.monotonic()
        now = datetime.now(UTC)
        stores = [
            build_data(root / "empty", 0, 0, now),
            build_data(root / "full", cases, events, now),
        ]
        results = Results(stores, repeat)
        progress(f"startup: stores written in {time.monotonic() - began:.1f} s")
        # Untimed: every module the processes load, read once, so no run pays for a cold cache.
        import_once("import bot.app, bot.ptb_adapter, bot.aiogram_adapter, bench.bare_process")
        for n in range(repeat):
            took, peak = import_once("pass")
            results.interpreter.seconds.append(took)
            results.interpreter.peak_kb.append(peak)
            for framework in FRAMEWORKS:
                took, peak = import_once(IMPORTS[framework])
                sample = results.imports.setdefault(framework, Samples())
                sample.seconds.append(took)
                sample.peak_kb.append(peak)
                rows: list[tuple[Samples, Store | None, str]] = [
                    (results.bare.setdefault(framework, Samples()), None, "bare")
                ]
                rows += [
                    (results.bots.setdefault((framework, data.label), Samples()), data, data.label)
                    for data in stores
                ]
                for into, data, label in rows:
                    _measure(into, root / "run", framework, data)
                    progress(
                        f"startup: round {n + 1}/{repeat} {framework} {label}: "
                        f"{into.seconds[-1]:.2f} s, {into.peak_kb[-1] / 1024:.0f} MB"
                    )
        for framework in FRAMEWORKS:
            for store in stores:
                shutil.copytree(store.path, root / "probe")
                results.phases[framework, store.label] = phases(framework, root / "probe")
                shutil.rmtree(root / "probe")
        progress("startup: phases probed")
    return results


# ------------------------------------------------------------------------------ the report


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


def table(results: Results) -> str:
    """The targets table, the baselines, and where the start-up goes."""
    lines = [
        "| framework | store | startup s | import + 1 s | met? | peak RSS MB | bare + 150 MB "
        "| met? |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for framework in FRAMEWORKS:
        start_target = results.imports[framework].s + START_SLACK_S
        rss_target = results.bare[framework].mb + RSS_SLACK_MB
        for store in results.stores:
            bot = results.bots[framework, store.label]
            lines.append(
                f"| {framework} | {store.label} | {bot.s:.2f} | {start_target:.2f} "
                f"| {_met(bot.s <= start_target)} | {bot.mb:.0f} | {rss_target:.0f} "
                f"| {_met(bot.mb <= rss_target)} |"
            )
    lines += [
        "",
        "| baseline | process | s | peak RSS MB |",
        "|---|---|---:|---:|",
        f"| interpreter | `python -c pass` (spawn to exit) | {results.interpreter.s:.2f} "
        f"| {results.interpreter.mb:.0f} |",
    ]
    for framework in FRAMEWORKS:
        imported, plain = results.imports[framework], results.bare[framework]
        lines += [
            f'| {framework} | `python -c "{IMPORTS[framework]}"` (spawn to exit) '
            f"| {imported.s:.2f} | {imported.mb:.0f} |",
            f"| {framework} | bare bot (spawn to first getUpdates; RSS after one report) "
            f"| {plain.s:.2f} | {plain.mb:.0f} |",
        ]
    lines += [
        "",
        "| framework | store | spawn → getMe s | getMe → first getUpdates s | phases before "
        "getMe (probe): s, peak RSS MB after |",
        "|---|---|---:|---:|---|",
    ]
    for framework in FRAMEWORKS:
        for store in results.stores:
            bot = results.bots[framework, store.label]
            steps = "; ".join(
                f"{name} {seconds:.2f} s, {kb / 1024:.0f} MB"
                for name, seconds, kb in results.phases[framework, store.label]
            )
            lines.append(
                f"| {framework} | {store.label} | {bot.getme_s:.2f} | {bot.s - bot.getme_s:.2f} "
                f"| {steps} |"
            )
    return "\n".join(lines)


def facts(results: Results) -> list[tuple[str, str]]:
    """What the stores held and how the figures were taken."""
    described = []
    for store in results.stores:
        if not store.documents:
            continue
        docs = ", ".join(f"{name} {count:,}" for name, count in store.documents.items())
        described.append(
            (
                f"store {store.label}",
                f"documents: {docs}; {store.disk_mb:.0f} MB on disk; {store.upcoming} "
                f"one-off events ahead and {store.weekly_active} weekly ones (of "
                f"{store.weekly}) active, {store.slots_ahead} reminder slots ahead (scheduler "
                f"jobs)",
            )
        )
    described.append(
        (
            "runs",
            f"median of {results.repeat} per row (the phases: one probe each); a fresh copy of "
            "the data directory per run, warm in the page cache",
        )
    )
    return described


def results_block(results: Results, machine: list[tuple[str, str]], command: str) -> str:
    """The text that goes between the README's start-up result markers."""
    described = "\n".join(f"- {key}: {value}" for key, value in (*facts(results), *machine))
    return f"`{command}`\n\n{table(results)}\n\n{described}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.startup", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="10,000 cases and 1,000 events, one run each"
    )
    parser.add_argument("--repeat", type=int, help=f"runs per process (default {REPEAT})")
    parser.add_argument("--write", action="store_true", help="put the results into README.md")
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    if args.write and args.quick:
        parser.error("--write records full runs only; drop --quick")
    results = run(
        quick=args.quick, progress=lambda line: print(line, flush=True), repeat=args.repeat
    )
    command = " ".join(["python -m bench.startup", *argv])
    block = results_block(results, report.machine(), command)
    print()
    print(block)
    if args.write:
        report.write_readme(block, begin=BEGIN, end=END)
        print(f"written to {report.README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
