"""echowall vs. a bare echo bot, per framework: /report latency and sustained updates/s.

Each measurement runs in a fresh world: a new ``LocalBotAPI`` (no flood limits) in this
process, the test neighbourhood from ``tests.conftest.build_world`` with message ids starting
where a group with a past would be (``bench.preload.give_history``), and a freshly started
bot. echowall starts on a copy of a prebuilt data directory holding 0, 10,000 or 100,000 cases
(bench/preload.py), so each row shows it at one store size. After start-up a full garbage
collection clears what start-up left (opening a large store leaves plenty), then a few warm-up
reports go first (lazy imports, connection set-up, echowall registering the residents and
posting the building's problem wall) and are not counted. Then either

* **sequential**: one report at a time. Latency is the time from just before ``user_message``
  injects the update to the moment the server records the bot's acknowledgement (the message
  that replies to it). The next report goes in once the staff card of the previous one was
  recorded too; echowall may still be finishing that update then (it refreshes the problem
  wall and records the update as handled after the card), and the next acknowledgement waits
  for that tail; or
* **burst**: all N reports injected at once; updates/s = N / (time from the first injection
  to the last acknowledgement), and "all done" = N / (time to the last staff card). echowall
  sends an answer before other chats' messages (bot/delivery.py, answers first), so its
  staff cards trail its acknowledgements in a burst; the bare bot sends both in turn.

Within a round, every echowall store size is followed by the bare bot, so slow drift of the
machine (other processes, thermal state) lands on both alike and each echowall measurement has
a bare one next to it; the bare row gathers all of them.
"""

from __future__ import annotations

import asyncio
import cProfile
import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bench.bots import make_bot
from bench.preload import Preloaded, give_history, preloaded_stores
from localapi import LocalBotAPI, SentRecord
from tests.conftest import AUNT_ZHANG, B1, HEAD_WANG, STAFF, UNCLE_LI, build_world

# The building-1 people who file reports, in turn.
RESIDENTS = (AUNT_ZHANG, UNCLE_LI, HEAD_WANG)
PROBLEMS = (
    "3楼走廊灯坏了",
    "电梯按钮失灵，2号电梯停在5楼",
    "楼道里堆了很多纸箱，有消防隐患",
    "The entrance door does not close properly",
    "地下车库漏水",
)
WARMUP = 5
# How many cases echowall's store holds before a measurement, one row per size.
DEFAULT_CASES = (0, 10_000, 100_000)
# Generous per-update timeout: a stuck bot fails the run instead of hanging it.
UPDATE_TIMEOUT = 10.0


@dataclass
class Result:
    """Everything measured for one row (framework, bot kind, store size) over all rounds."""

    framework: str
    kind: str
    cases: int | None = None  # cases stored before the measurement; None for the bare bot
    latencies: list[float] = field(default_factory=list)  # seconds, sequential mode
    rates: list[float] = field(default_factory=list)  # updates/s, one per burst measurement
    # updates/s up to the last staff card, one per burst measurement
    done_rates: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.kind if self.cases is None else f"{self.kind} @ {self.cases:,} cases"

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000

    @property
    def p99_ms(self) -> float:
        return percentile(self.latencies, 99) * 1000

    @property
    def rate(self) -> float:
        """Median of the burst rates (the middle one for an odd number of bursts)."""
        return statistics.median(self.rates)

    @property
    def done_rate(self) -> float:
        return statistics.median(self.done_rates)


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile: the smallest value with at least pct % of values <= it."""
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _report_text(i: int) -> str:
    return f"/report {PROBLEMS[i % len(PROBLEMS)]} ({i + 1})"


def _ack_of(message_id: int) -> Callable[[SentRecord], bool]:
    def match(record: SentRecord) -> bool:
        return record.chat_id == B1 and record.reply_to_message_id == message_id

    return match


def _to_staff(record: SentRecord) -> bool:
    return record.chat_id == STAFF and record.method == "sendMessage"


async def _sequential(api: LocalBotAPI, n: int, first: int = 0, pause: float = 0.0) -> list[float]:
    """Inject n reports one at a time; return each one's acknowledgement latency (s).

    ``pause`` seconds pass between an update's staff card and the next injection: 0 measures
    the hot path, a pause lets the bot go idle first, as it mostly is in a real building.
    """
    latencies: list[float] = []
    for i in range(first, first + n):
        mark = api.last_seq
        started = time.monotonic()
        message = api.user_message(B1, RESIDENTS[i % len(RESIDENTS)], _report_text(i))
        ack = await api.wait_for(
            _ack_of(message["message_id"]), timeout=UPDATE_TIMEOUT, after_seq=mark
        )
        latencies.append(ack.time - started)
        # The staff card goes out in the staff chat's own lane, before or after the
        # acknowledgement; once both are out, the update is handled.
        await api.wait_for(_to_staff, timeout=UPDATE_TIMEOUT, after_seq=mark)
        if pause:
            await asyncio.sleep(pause)
    return latencies


async def _burst(api: LocalBotAPI, n: int, first: int) -> tuple[float, float]:
    """Inject n reports at once; return updates/s up to the last acknowledgement, and up to
    the last staff card."""
    mark = api.last_seq
    pending: set[int] = set()
    started = time.monotonic()
    for i in range(first, first + n):
        message = api.user_message(B1, RESIDENTS[i % len(RESIDENTS)], _report_text(i))
        pending.add(message["message_id"])
    staff_cards = 0

    def all_acknowledged(record: SentRecord) -> bool:
        if record.chat_id == B1:
            pending.discard(record.reply_to_message_id or 0)
        return not pending

    def all_carded(record: SentRecord) -> bool:
        nonlocal staff_cards
        staff_cards += _to_staff(record)
        return staff_cards >= n

    timeout = UPDATE_TIMEOUT + n * 0.2
    last = await api.wait_for(all_acknowledged, timeout=timeout, after_seq=mark)
    elapsed = last.time - started
    # The last staff cards (stopping the bot must not interrupt a send either).
    carded = await api.wait_for(all_carded, timeout=timeout, after_seq=mark)
    return n / elapsed, n / (max(carded.time, last.time) - started)


async def measure_once(
    framework: str,
    kind: str,
    mode: str,
    n: int,
    *,
    store: Path | None = None,
    pause: float = 0.0,
    profiler: cProfile.Profile | None = None,
) -> list[float]:
    """One fresh server and bot; sequential latencies (s), or a burst's [updates/s to the
    last acknowledgement, updates/s to the last staff card].

    ``store`` is the prebuilt data directory echowall starts from (a copy of it is made before
    the bot starts, outside the measurement). A given profiler runs only during the measured
    part, not start-up, warm-up or stop.
    """
    api = LocalBotAPI(limits=None)
    await api.start()
    try:
        build_world(api)
        give_history(api)
        bot = make_bot(framework, kind, store)
        await bot.start(api)
        try:
            # Start-up leaves garbage (at 100,000 cases: from opening the store); collected
            # here, the measured part does not pay for a full collection start-up caused.
            gc.collect()
            await _sequential(api, WARMUP)
            if profiler is not None:
                profiler.enable()
            try:
                if mode == "sequential":
                    return await _sequential(api, n, first=WARMUP, pause=pause)
                return list(await _burst(api, n, first=WARMUP))
            finally:
                if profiler is not None:
                    profiler.disable()
        finally:
            await bot.stop()
    finally:
        await api.stop()
        if api.internal_errors:
            raise RuntimeError(f"LocalBotAPI failed internally: {api.internal_errors[0]!r}")


@dataclass
class Run:
    """The rows of one run, and the stores echowall was measured on."""

    results: list[Result]
    stores: list[Preloaded]


def _measure(
    result: Result, n: int, store: Path | None, pause: float, progress: Callable[[str], None]
) -> None:
    """One sequential and one burst measurement into ``result``, each in its own event loop."""
    fw, kind = result.framework, result.kind
    began = time.monotonic()
    # A new loop per measurement: no connection pool, task or cache left over from the
    # previous bot can help or hinder the next one.
    result.latencies += asyncio.run(
        measure_once(fw, kind, "sequential", n, store=store, pause=pause)
    )
    acknowledged, done = asyncio.run(measure_once(fw, kind, "burst", n, store=store))
    result.rates.append(acknowledged)
    result.done_rates.append(done)
    progress(
        f"{fw:>7} {result.label:<28} "
        f"p50 {statistics.median(result.latencies[-n:]) * 1000:6.2f} ms  "
        f"burst {result.rates[-1]:7.1f} updates/s  "
        f"({time.monotonic() - began:.1f} s)"
    )


def run(
    frameworks: list[str],
    n: int,
    rounds: int,
    *,
    cases: Sequence[int] = DEFAULT_CASES,
    pause: float = 0.0,
    progress: Callable[[str], None] = print,
) -> Run:
    """Measure echowall at every store size and the bare bot, per framework.

    The stores are built once, before the first measurement. In each round and framework,
    echowall at each size is followed by the bare bot: e@0, bare, e@10k, bare, ...
    """
    with preloaded_stores(cases, progress=progress) as stores:
        results: dict[tuple[str, int | None], Result] = {}
        for fw in frameworks:
            for size in cases:
                results[fw, size] = Result(fw, "echowall", size)
            results[fw, None] = Result(fw, "bare")
        for round_no in range(1, rounds + 1):
            progress(f"round {round_no}/{rounds}")
            for fw in frameworks:
                for size in cases:
                    _measure(results[fw, size], n, stores[size].directory, pause, progress)
                    _measure(results[fw, None], n, None, pause, progress)
        return Run(list(results.values()), list(stores.values()))
