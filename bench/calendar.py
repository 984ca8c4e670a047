"""Calendar benchmarks: a broadcast to 1,000 groups under Telegram's limits, and the lateness
of 10,000 scheduled reminders.

``python -m bench.calendar [--quick] [--write] [--frameworks ptb,aiogram]``

Broadcast: the real bot (PTB or aiogram) polls an in-process `LocalBotAPI` that enforces
Telegram's limits (30 messages a second overall, 20 a minute per group) and answers 429 with
`retry_after` when they are exceeded. A staff `/announce` goes to N building groups; the time
from the command to the last group's message is compared with the theoretical minimum N / 30 s.

Reminders: a runtime on a real APScheduler, a real store in the temp dir and a messenger that
answers at once. 10,000 reminders fall due within a 20 s window; lateness is the time from a
reminder's due time to the moment it was handed to the outbox, durably recorded (the delivery
itself is paced by Telegram's limits, which the broadcast figure covers).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import report
from bot.app import build_runtime, run_bot
from bot.config import Config
from localapi import LocalBotAPI, RateLimits
from storage.records import Reminder
from tests.conftest import STAFF, WORKER_LIU, admit_world, build_world
from tests.fakes import FakeMessenger

BEGIN, END = "<!-- results:calendar -->", "<!-- /results:calendar -->"
RESIDENT = 102


async def broadcast(framework: str, groups: int) -> dict[str, Any]:
    """Time one /announce to `groups` groups against Telegram's limits."""
    api = LocalBotAPI(limits=RateLimits(per_second_global=30, per_minute_per_group=20))
    await api.start()
    build_world(api)
    chats = [-7_000_000 - i for i in range(groups)]
    for i, chat_id in enumerate(chats):
        api.add_chat(chat_id, "group", title=f"楼{i + 1}", members=[RESIDENT])
    with tempfile.TemporaryDirectory(prefix="echowall-bench-bc-") as tmp:
        admit_world(Path(tmp), {c: f"楼{i + 1}" for i, c in enumerate(chats)})
        config = Config(
            token=api.token,
            api_url=api.url,
            framework=framework,
            data_dir=Path(tmp),
            staff_chat=STAFF,
            reports=False,
            quiet_hours="off",
        )
        stop = asyncio.Event()
        task = asyncio.create_task(run_bot(config, stop, runtime=build_runtime(config)))
        while not any(m == "getupdates" for m, _ in api.calls):
            await asyncio.sleep(0.02)
        # The bot meets every group (no reply: a greeting is no command), unlimited meanwhile.
        api.limits = None
        for chat_id in chats:
            api.user_message(chat_id, RESIDENT, "大家好")
        await api.wait_idle(quiet=0.5, timeout=120)
        api.limits = RateLimits(per_second_global=30, per_minute_per_group=20)
        first_error = len(api.errors)
        began = time.monotonic()
        api.user_message(STAFF, WORKER_LIU, "/announce 本周六上午消防演练，请大家配合")
        await api.wait_for(
            lambda r: r.chat_id == STAFF and "📬" in (r.text or ""), timeout=groups / 10 + 60
        )
        sends = sorted(r.time for r in api.sent if r.chat_id in set(chats))
        elapsed = sends[-1] - began
        copies = {c: 0 for c in chats}
        for record in api.sent:
            if record.chat_id in copies:
                copies[record.chat_id] += 1
        stop.set()
        await asyncio.wait_for(task, 30)
    await api.stop()
    minimum = groups / 30
    return {
        "framework": framework,
        "groups": groups,
        "seconds": elapsed,
        "minimum": minimum,
        "ratio": elapsed / minimum,
        "429s": sum(1 for e in api.errors[first_error:] if e.code == 429),
        "violations": api.violations,
        "delivered_once": sum(1 for n in copies.values() if n == 1),
    }


async def reminders(count: int, window: float) -> dict[str, Any]:
    """Lateness of `count` reminders falling due within `window` seconds."""
    with tempfile.TemporaryDirectory(prefix="echowall-bench-rem-") as tmp:
        config = Config(
            token="1:x",
            data_dir=Path(tmp),
            staff_chat=STAFF,
            reports=False,
            rate_per_second=1_000_000,
            rate_group_per_minute=1_000_000,
        )
        runtime = build_runtime(config)
        repo = runtime.repo
        now = datetime.now(UTC)
        lead = 5.0 + count / 2000  # time to plan the jobs before the first falls due
        for i in range(count):
            due = now + timedelta(seconds=lead + window * i / count)
            repo.save_reminder(
                Reminder(
                    id=repo.next_reminder_id(),
                    chat_id=-8_000_000 - i % 100,
                    text=f"提醒 {i}",
                    due=due,
                    created=now,
                )
            )
        began = time.monotonic()
        await runtime.start(FakeMessenger(), bot_id=1, username="echowall_bot")
        plan_seconds = time.monotonic() - began
        deadline = time.monotonic() + lead + window + 60
        keys = [f"rm:{i + 1}" for i in range(count)]
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if repo.broadcast_by_key(keys[-1]) is not None:
                break
        late = []
        for i, key in enumerate(keys):
            found = repo.broadcast_by_key(key)
            reminder = repo.get_reminder(i + 1)
            if found is not None and reminder is not None:
                late.append((found.created - reminder.due).total_seconds())
        await runtime.stop()
        repo.close()
    late.sort()
    return {
        "count": count,
        "window": window,
        "fired": len(late),
        "plan_seconds": plan_seconds,
        "p50": statistics.median(late) if late else float("nan"),
        "p99": late[int(len(late) * 0.99) - 1] if late else float("nan"),
        "max": late[-1] if late else float("nan"),
    }


def table(broadcasts: list[dict[str, Any]], lateness: dict[str, Any]) -> str:
    lines = [
        "| broadcast | groups | time | minimum (N / 30 s) | ratio | 429s | sends in retry_after "
        "| delivered once |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for b in broadcasts:
        lines.append(
            f"| {b['framework']} | {b['groups']:,} | {b['seconds']:.1f} s | {b['minimum']:.1f} s "
            f"| {b['ratio']:.3f}× | {b['429s']} | {b['violations']} "
            f"| {b['delivered_once']:,} of {b['groups']:,} |"
        )
    r = lateness
    lines += [
        "",
        "| reminders | due within | fired | jobs planned in | lateness p50 | p99 | max |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {r['count']:,} | {r['window']:.0f} s | {r['fired']:,} | {r['plan_seconds']:.2f} s "
        f"| {r['p50'] * 1000:.1f} ms | {r['p99'] * 1000:.1f} ms | {r['max'] * 1000:.1f} ms |",
    ]
    return "\n".join(lines)


async def run(frameworks: list[str], groups: int, count: int, window: float) -> str:
    broadcasts = []
    for framework in frameworks:
        print(f"broadcast to {groups} groups through {framework} …", flush=True)
        broadcasts.append(await broadcast(framework, groups))
    print(f"{count} reminders due within {window:.0f} s …", flush=True)
    lateness = await reminders(count, window)
    return table(broadcasts, lateness)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.calendar", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 groups, 1,000 reminders")
    parser.add_argument("--frameworks", default="ptb,aiogram")
    parser.add_argument("--write", action="store_true", help="put the table into README.md")
    args = parser.parse_args(argv)
    if args.write and args.quick:
        parser.error("--write records full runs only; drop --quick")
    groups, count = (100, 1000) if args.quick else (1000, 10_000)
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    result = asyncio.run(run(frameworks, groups, count, 20.0))
    print()
    print(result)
    if args.write:
        machine = "\n".join(f"- {k}: {v}" for k, v in report.machine())
        report.write_readme(
            f"{result}\n\nMachine:\n{machine}\n\nCommand: `python -m bench.calendar --write`",
            begin=BEGIN,
            end=END,
        )
        print(f"written to {report.README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
