"""Command line of the benchmark suite: ``python -m bench [--quick] [--store|--calendar] ...``.

Runs the framework benchmark (echowall with 0, 10,000 and 100,000 cases stored vs. a bare echo
bot on python-telegram-bot and aiogram, see bench/frameworks.py) and then the store benchmark
(echowall's case store vs. TinyDB's JSON storage at 1k / 10k / 100k cases, see bench/store.py),
prints the tables and, with ``--write``, puts them into bench/README.md together with a
description of the machine. Then, unless ``--store`` is given, start-up time and peak RSS
with 100,000 cases and 10,000 events (bench/startup.py) and the calendar (broadcast to 1,000
groups, 10,000 reminders: bench/calendar.py), each writing its own table. ``--store``,
``--startup`` and ``--calendar`` run one part alone.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import frameworks, report, store
from bench.bots import FRAMEWORKS, KINDS
from bench.preload import preloaded_stores

DEFAULT_UPDATES = 300
DEFAULT_ROUNDS = 5
QUICK_UPDATES = 40
QUICK_CASES = (0, 10_000)


def _frameworks(value: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in FRAMEWORKS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"choose from {', '.join(FRAMEWORKS)} (comma-separated), not {value!r}"
        )
    return list(dict.fromkeys(chosen))


def _sizes(value: str) -> list[int]:
    """Store sizes for --cases: comma-separated counts of cases, smallest first."""
    try:
        sizes = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 0:
        raise argparse.ArgumentTypeError(
            f"comma-separated numbers of cases (0 or more), e.g. 0,10000; not {value!r}"
        )
    return sorted(set(sizes))


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="echowall's /report latency and throughput against a bare echo bot, "
        "per framework, on an in-process local Bot API server.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK_UPDATES} updates, one round, echowall at "
        + " and ".join(f"{size:,}" for size in QUICK_CASES)
        + " cases (numbers are rough)",
    )
    parser.add_argument(
        "--frameworks",
        type=_frameworks,
        default=list(FRAMEWORKS),
        metavar="LIST",
        help="comma-separated, from: " + ",".join(FRAMEWORKS),
    )
    parser.add_argument(
        "--updates",
        type=_positive,
        metavar="N",
        help=f"updates per measurement (default {DEFAULT_UPDATES}; --quick: {QUICK_UPDATES})",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        metavar="R",
        help=f"rounds; in each, the bare bot runs after every echowall store size "
        f"(default {DEFAULT_ROUNDS}; --quick: 1)",
    )
    parser.add_argument(
        "--cases",
        type=_sizes,
        metavar="LIST",
        help="how many cases echowall's store holds, one row per size (default "
        + ",".join(map(str, frameworks.DEFAULT_CASES))
        + "; --quick: "
        + ",".join(map(str, QUICK_CASES))
        + "); --profile uses the first",
    )
    parser.add_argument(
        "--pause-ms",
        type=float,
        default=0.0,
        metavar="MS",
        help="idle time between sequential updates (default 0: back to back, the hot path)",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help="rewrite the results section of bench/README.md with this run",
    )
    parser.add_argument(
        "--calendar",
        action="store_true",
        help="only the calendar benchmark: broadcast to 1,000 groups, 10,000 reminders "
        "(--quick: 100 groups, 1,000 reminders)",
    )
    parser.add_argument(
        "--startup",
        action="store_true",
        help="only start-up time and peak RSS, empty and with 100,000 cases and 10,000 events "
        "(--quick: 10,000 and 1,000)",
    )
    parser.add_argument(
        "--store",
        action="store_true",
        help="only the store benchmark (1k/10k/100k cases; --quick: 1k/10k, fewer samples)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of the benchmark, profile one burst per framework and bot (cProfile)",
    )
    args = parser.parse_args(argv)
    if args.write and args.quick:
        parser.error("--write records full runs only; drop --quick")
    if args.write and args.profile:
        parser.error("--profile numbers are slowed by the profiler; they are not written")
    if args.store and args.profile:
        parser.error("--profile profiles the framework benchmark; drop --store")
    if args.pause_ms < 0:
        parser.error("--pause-ms must not be negative")
    args.updates = args.updates or (QUICK_UPDATES if args.quick else DEFAULT_UPDATES)
    args.rounds = args.rounds or (1 if args.quick else DEFAULT_ROUNDS)
    args.cases = args.cases or list(QUICK_CASES if args.quick else frameworks.DEFAULT_CASES)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        from bench.profiling import profile

        size = args.cases[0]
        with preloaded_stores([size], progress=print) as stores:
            for fw in args.frameworks:
                for kind in KINDS:
                    seeded = stores[size] if kind == "echowall" else None
                    print(profile(fw, kind, args.updates, store=seeded))
        return 0

    flags = ["--quick"] if args.quick else []
    flags += ["--write"] if args.write else []
    if args.calendar:
        from bench import calendar

        return calendar.main([*flags, "--frameworks", ",".join(args.frameworks)])
    if args.startup:
        from bench import startup

        return startup.main(flags)

    began = time.monotonic()
    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    measured = None
    if not args.store:
        print(
            f"frameworks: {', '.join(args.frameworks)}; {args.updates} updates per "
            f"measurement, {args.rounds} round(s); echowall with "
            f"{' / '.join(f'{size:,}' for size in args.cases)} cases stored"
            + (f", {args.pause_ms:g} ms between sequential updates" if args.pause_ms else ""),
            flush=True,
        )
        measured = frameworks.run(
            args.frameworks,
            args.updates,
            args.rounds,
            cases=args.cases,
            pause=args.pause_ms / 1000,
            progress=lambda line: print(line, flush=True),
        )
    stored = store.run(quick=args.quick, progress=lambda line: print(line, flush=True))
    machine = report.machine()
    if measured is not None:
        print()
        print(report.table(measured.results))
        print()
        print(report.notes(measured))
    print()
    print(store.table(stored))
    print()
    for key, value in (*store.facts(stored), *machine):
        print(f"{key}: {value}")
    print(f"\ntotal {time.monotonic() - began:.0f} s")
    if args.write:
        if measured is not None:
            report.write_readme(
                report.results_block(
                    measured,
                    machine,
                    updates=args.updates,
                    rounds=args.rounds,
                    command=command.strip(),
                )
            )
        report.write_readme(
            store.results_block(stored, machine, command.strip()),
            begin=report.STORE_BEGIN,
            end=report.STORE_END,
        )
        print(f"results written to {report.README}")
    if args.store:
        return 0
    from bench import calendar, startup

    print("\nstart-up and memory", flush=True)
    status = startup.main(flags)
    print("\nthe calendar", flush=True)
    return status or calendar.main([*flags, "--frameworks", ",".join(args.frameworks)])


if __name__ == "__main__":
    sys.exit(main())
