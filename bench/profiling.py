"""``python -m bench --profile``: where a burst's CPU time goes, by component and by function.

cProfile sees the whole process: the bot, the framework, the HTTP clients and the local Bot
API server that answers them. Grouping own time (tottime) by where the code lives tells the
server's share apart from the bot's, and echowall's own layers from the framework's.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import pstats
from collections import defaultdict
from pathlib import Path

from bench.frameworks import measure_once
from bench.preload import Preloaded

ROOT = Path(__file__).resolve().parent.parent

# Matched in order against the code's file path; the first hit names the component.
_COMPONENTS = (
    (str(ROOT / "localapi"), "local Bot API server (localapi/)"),
    (str(ROOT / "storage"), "echowall storage/"),
    (str(ROOT / "handlers"), "echowall handlers/"),
    (str(ROOT / "bot"), "echowall bot/ (adapters, delivery)"),
    (str(ROOT / "bench"), "benchmark driver"),
    (str(ROOT / "tests"), "benchmark driver"),
    ("/tinydb/", "tinydb"),
    ("/telegram/", "python-telegram-bot"),
    ("/aiogram/", "aiogram"),
    ("/pydantic", "pydantic (aiogram models)"),
    ("/httpx/", "httpx/httpcore (PTB's HTTP client)"),
    ("/httpcore/", "httpx/httpcore (PTB's HTTP client)"),
    ("/h11/", "httpx/httpcore (PTB's HTTP client)"),
    ("/anyio/", "httpx/httpcore (PTB's HTTP client)"),
    ("/aiohttp/", "aiohttp (server and aiogram's client)"),
    ("/multidict/", "aiohttp (server and aiogram's client)"),
    ("/yarl/", "aiohttp (server and aiogram's client)"),
    ("/asyncio/", "asyncio"),
    ("/json/", "json"),
    ("/copy.py", "copy (deepcopy)"),
    ("/logging/", "logging"),
)


def _component(filename: str, function: str) -> str:
    if filename == "~":  # built-in functions have no file; name the costly ones
        if "fsync" in function:
            return "os.fsync (the store's journal)"
        if "poll" in function or "select" in function:
            return "idle: waiting in epoll"
        if "json" in function:
            return "json"
        return "other built-ins"
    for needle, name in _COMPONENTS:
        if needle in filename:
            return name
    return "other"


def profile(
    framework: str, kind: str, n: int, top: int = 25, *, store: Preloaded | None = None
) -> str:
    """Profile one burst measurement; return the component summary and the top functions.

    ``store`` is the prebuilt data directory echowall starts from (bench/preload.py).
    """
    profiler = cProfile.Profile()
    rate = asyncio.run(
        measure_once(
            framework,
            kind,
            "burst",
            n,
            store=store.directory if store is not None else None,
            profiler=profiler,
        )
    )[0]
    stats = pstats.Stats(profiler)
    by_component: dict[str, float] = defaultdict(float)
    raw = stats.stats  # type: ignore[attr-defined]
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        by_component[_component(filename, function)] += tottime
    busy = sum(t for name, t in by_component.items() if not name.startswith("idle"))
    out = io.StringIO()
    out.write(
        f"== {framework} / {kind}{f' with {store.cases:,} cases stored' if store else ''}: "
        f"burst of {n} updates, "
        f"{rate:.0f} updates/s under the profiler ==\n"
        f"{'component':<45} {'own s':>8} {'% busy':>7}\n"
    )
    for name, seconds in sorted(by_component.items(), key=lambda kv: -kv[1]):
        share = "" if name.startswith("idle") else f"{seconds / busy * 100:6.1f}%"
        out.write(f"{name:<45} {seconds:8.3f} {share:>7}\n")
    stats.stream = out  # type: ignore[attr-defined]
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()
