"""Command line of the benchmark suite: ``python -m bench [--quick] [--store|--calendar] ...``.

Runs the framework benchmark (echowall vs. a bare echo bot on python-telegram-bot and
aiogram, see bench/frameworks.py) and then the store benchmark (echowall's case store vs.
TinyDB's JSON storage at 1k / 10k / 100k cases, see bench/store.py), prints the tables and,
with ``--write``, puts them into bench/README.md together with a description of the machine.
``--store`` runs the store benchmark alone.
"""

from __future__ import annotations

import argparse
import sys
import time

from bench import frameworks, report, store
from bench.bots import FRAMEWORKS, KINDS

DEFAULT_UPDATES = 300
DEFAULT_ROUNDS = 5
QUICK_UPDATES = 40


def _frameworks(value: str) -> list[str]:
    chosen = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [v for v in chosen if v not in FRAMEWORKS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"choose from {', '.join(FRAMEWORKS)} (comma-separated), not {value!r}"
        )
    return list(dict.fromkeys(chosen))


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
        help=f"smoke run: {QUICK_UPDATES} updates, one round (numbers are rough)",
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
        help=f"alternating echowall/bare rounds (default {DEFAULT_ROUNDS}; --quick: 1)",
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
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        from bench.profiling import profile

        for fw in args.frameworks:
            for kind in KINDS:
                print(profile(fw, kind, args.updates))
        return 0

    if args.calendar:
        from bench import calendar

        flags = ["--quick"] if args.quick else []
        flags += ["--write"] if args.write else []
        return calendar.main([*flags, "--frameworks", ",".join(args.frameworks)])

    began = time.monotonic()
    command = "python -m bench " + " ".join(sys.argv[1:] if argv is None else argv)
    results = None
    if not args.store:
        print(
            f"frameworks: {', '.join(args.frameworks)}; {args.updates} updates per "
            f"measurement, {args.rounds} round(s)"
            + (f", {args.pause_ms:g} ms between sequential updates" if args.pause_ms else ""),
            flush=True,
        )
        results = frameworks.run(
            args.frameworks,
            args.updates,
            args.rounds,
            pause=args.pause_ms / 1000,
            progress=lambda line: print(line, flush=True),
        )
    stored = store.run(quick=args.quick, progress=lambda line: print(line, flush=True))
    machine = report.machine()
    if results is not None:
        print()
        print(report.table(results))
    print()
    print(store.table(stored))
    print()
    for key, value in (*store.facts(stored), *machine):
        print(f"{key}: {value}")
    print(f"\ntotal {time.monotonic() - began:.0f} s")
    if args.write:
        if results is not None:
            report.write_readme(
                report.results_block(
                    results,
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
