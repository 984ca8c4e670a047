"""Turning results into the table, describing the machine, and updating bench/README.md."""

from __future__ import annotations

import os
import platform
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

from bench.frameworks import Result, Run

README = Path(__file__).with_name("README.md")
BEGIN = "<!-- results:frameworks -->"
END = "<!-- /results:frameworks -->"
STORE_BEGIN = "<!-- results:store -->"
STORE_END = "<!-- /results:store -->"
# sniffio is listed because its absence makes httpcore (PTB's HTTP stack) retry a failing
# import on every request; see README.md.
PACKAGES = (
    "python-telegram-bot",
    "aiogram",
    "pydantic",
    "httpx",
    "httpcore",
    "sniffio",
    "aiohttp",
    "tinydb",
)
# What echowall should reach per framework and store size; the table shows it, nothing fails.
TARGET_P99_MS = 30.0
TARGET_SHARE = 0.70


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def fsync_probe(samples: int = 200) -> float:
    """Median seconds of fsync after a small append in the temp dir, where echowall's store is.

    echowall fsyncs its journal about four times per report, so this number moves its
    results more than anything else on the machine; it is recorded with them.
    """
    times: list[float] = []
    with (
        tempfile.TemporaryDirectory(prefix="echowall-bench-fsync-") as tmp,
        open(Path(tmp) / "journal", "ab") as handle,
    ):
        for _ in range(samples):
            handle.write(b"x" * 400 + b"\n")
            handle.flush()
            began = time.perf_counter()
            os.fsync(handle.fileno())
            times.append(time.perf_counter() - began)
    return statistics.median(times)


def machine() -> list[tuple[str, str]]:
    """What the numbers depend on, in the order they are shown."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    cores = f"{os.cpu_count()}"
    if usable is not None and usable != os.cpu_count():
        cores += f" ({usable} usable by this process)"
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    return [
        ("CPU", cpu_model()),
        ("cores", cores),
        ("OS", f"{platform.system()} {platform.release()}"),
        (
            "disk",
            f"fsync of a small append in {tempfile.gettempdir()}: "
            f"median {fsync_probe() * 1000:.2f} ms",
        ),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("event loop", "asyncio default (no uvloop)"),
        ("packages", ", ".join(versions)),
        ("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")),
    ]


def shortfalls(result: Result, bare_rate: float) -> list[str]:
    """What keeps an echowall row from the targets; empty when it meets both."""
    missed = []
    if result.p99_ms > TARGET_P99_MS:
        missed.append(f"p99 {result.p99_ms:.1f} ms")
    if result.rate < TARGET_SHARE * bare_rate:
        missed.append(f"{result.rate / bare_rate * 100:.0f} % of bare")
    return missed


def table(results: list[Result]) -> str:
    """A Markdown table: one row per (framework, bot, store size), echowall against bare.

    "% of bare" and the target compare each echowall row with the bare row of its framework.
    """
    bare = {r.framework: r.rate for r in results if r.kind == "bare"}
    lines = [
        "| framework | bot | cases stored | p50 ms | p99 ms | updates/s | min–max of bursts "
        "| % of bare | all done/s | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        share = target = "–"
        if r.kind != "bare" and r.framework in bare:
            share = f"{r.rate / bare[r.framework] * 100:.0f} %"
            missed = shortfalls(r, bare[r.framework])
            target = "not met: " + ", ".join(missed) if missed else "met"
        stored = "–" if r.cases is None else f"{r.cases:,}"
        spread = f"{min(r.rates):.0f}–{max(r.rates):.0f}" if len(r.rates) > 1 else "–"
        lines.append(
            f"| {r.framework} | {r.kind} | {stored} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.rate:.0f} | {spread} | {share} | {r.done_rate:.0f} | {target} |"
        )
    return "\n".join(lines)


def notes(run: Run) -> str:
    """The lines under the table: the targets, and what the preloaded stores held."""
    lines = [
        f"- target (shown, not enforced): /report p99 ≤ {TARGET_P99_MS:g} ms, and echowall's "
        f"updates/s at least {TARGET_SHARE * 100:.0f} % of the bare bot's on the same "
        "framework, at every store size",
        "- all done/s: updates/s up to the last staff card (echowall answers first and sends "
        "the staff cards after; the bare bot sends both in turn)",
    ]
    lines += [f"- store: {store.describe()}" for store in run.stores]
    return "\n".join(lines)


def results_block(
    run: Run,
    machine_info: list[tuple[str, str]],
    *,
    updates: int,
    rounds: int,
    command: str,
) -> str:
    """The text that goes between the README's result markers."""
    described = "\n".join(f"- {key}: {value}" for key, value in machine_info)
    ours = next((r for r in run.results if r.kind != "bare"), None)
    bare = next((r for r in run.results if r.kind == "bare"), None)
    sizes = " / ".join(f"{store.cases:,}" for store in run.stores)
    return (
        f"`{command}`: {updates} updates per measurement, {rounds} round(s); echowall on "
        f"stores holding {sizes} cases, the bare bot measured after each of them; latency "
        f"percentiles over the {len(ours.latencies) if ours else 0} sequential samples of "
        f"each echowall row ({len(bare.latencies) if bare else 0} of each bare row), "
        "updates/s the median of the row's bursts.\n\n"
        f"{table(run.results)}\n\n"
        f"{notes(run)}\n"
        f"{described}\n"
    )


def write_readme(block: str, path: Path = README, *, begin: str = BEGIN, end: str = END) -> None:
    """Replace what stands between the result markers; everything else stays as it is."""
    text = path.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{path}: markers {begin} … {end} not found; nothing written")
    replacement = f"{begin}\n{block.rstrip()}\n{end}"
    path.write_text(pattern.sub(lambda _: replacement, text, count=1), encoding="utf-8")
