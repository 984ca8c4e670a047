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

from bench.frameworks import Result

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


def table(results: list[Result]) -> str:
    """A Markdown table: one row per (framework, bot), echowall's rate as % of bare's."""
    bare = {r.framework: r.rate for r in results if r.kind == "bare"}
    lines = [
        "| framework | bot | p50 ms | p99 ms | updates/s | min–max of rounds | % of bare |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        share = "–"
        if r.kind != "bare" and r.framework in bare:
            share = f"{r.rate / bare[r.framework] * 100:.0f} %"
        spread = f"{min(r.rates):.0f}–{max(r.rates):.0f}" if len(r.rates) > 1 else "–"
        lines.append(
            f"| {r.framework} | {r.kind} | {r.p50_ms:.2f} | {r.p99_ms:.2f} | "
            f"{r.rate:.0f} | {spread} | {share} |"
        )
    return "\n".join(lines)


def results_block(
    results: list[Result],
    machine_info: list[tuple[str, str]],
    *,
    updates: int,
    rounds: int,
    command: str,
) -> str:
    """The text that goes between the README's result markers."""
    described = "\n".join(f"- {key}: {value}" for key, value in machine_info)
    samples = len(results[0].latencies) if results else 0
    return (
        f"`{command}`: {updates} updates per measurement, {rounds} round(s); latency "
        f"percentiles over the {samples} sequential samples of each row, updates/s the median "
        "of its rounds' bursts.\n\n"
        f"{table(results)}\n\n"
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
