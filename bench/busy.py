"""One busy chat must not hold up the others: a power cut, a morning of triage, and what each
action costs a chat in messages.

``python -m bench.busy [--quick] [--write] [--frameworks ptb,aiogram] [--baseline REF]``

Power cut: the real bot (PTB or aiogram, in this process) polls a `LocalBotAPI` that enforces
Telegram's limits (30 calls a second, 20 a minute into each group, 429 beyond). Nine other
buildings and the staff chat carry steady traffic that each chat's budget can bear (a resident
asks `/wall` in one of the nine every 0.6 s, so each building about 11 times a minute; staff
ask `/stats` every 6 s). First a quiet stretch is measured, then thirty residents
of building 1 report within a second while the steady traffic goes on. Reported: answer time
in the *other* chats, quiet against burst (p50/p99), and the time until all thirty reporters
have their case number, against the minimum under 20 messages a minute if every report got a
message of its own (the 21st can go only when the first has left the window: 60 s).

Morning triage: fourteen cases came in overnight and wait in the staff chat; staff take them
through accept, fixed and confirm with 40 commands in two minutes (the staff chat's whole
budget: 20 a minute). Reported: the answer time per command in the
staff chat, and the messages spent per command in the staff chat and in the buildings.

Messages per action: each action of a case's life, alone, in a quiet world, counting the calls
that reached each chat (send, edit, pin). Run against this tree and against `--baseline`
(a git revision, checked out into a temporary worktree; the bot runs from it as a process),
so the table shows before and after side by side, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import report
from bot.app import build_runtime, run_bot
from bot.config import Config
from localapi import LocalBotAPI, RateLimits, SentRecord
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    ESCALATION,
    HEAD_WANG,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    admit_world,
    build_world,
)

BEGIN, END = "<!-- results:busy -->", "<!-- /results:busy -->"
ROOT = Path(__file__).resolve().parent.parent
# The revision before delivery per chat: `git log` shows it as the parent of the commit that
# brought the postbox in.
BASELINE = "9220555"
OTHERS = [-9_100 - i for i in range(9)]  # nine other building groups
NEIGHBOURS = range(6000, 6030)  # thirty residents of building 1
RESIDENT_ELSEWHERE = 6100
TELEGRAM = RateLimits(per_second_global=30, per_minute_per_group=20)


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(len(ordered) * share + 0.5) - 1))]


def _world(api: LocalBotAPI) -> None:
    build_world(api)
    api.add_user(RESIDENT_ELSEWHERE, "住户", language_code="zh")
    for i, chat_id in enumerate(OTHERS):
        api.add_chat(chat_id, "group", title=f"和平里{i + 2}号楼", members=[RESIDENT_ELSEWHERE])
    for uid in NEIGHBOURS:
        api.add_user(uid, f"邻居{uid - 6000:02d}号", language_code="zh")
        api.set_member_status(B1, uid, "member")


@contextlib.asynccontextmanager
async def _running(api: LocalBotAPI, framework: str, **config: Any) -> Any:
    with tempfile.TemporaryDirectory(prefix="echowall-bench-busy-") as tmp:
        # The buildings, admitted (a group the bot first meets waits for staff).
        others = {chat_id: f"和平里{i + 2}号楼" for i, chat_id in enumerate(OTHERS)}
        admit_world(Path(tmp), {B1: "林溪苑1号楼", **others})
        values: dict[str, Any] = dict(
            token=api.token,
            api_url=api.url,
            framework=framework,
            data_dir=Path(tmp),
            staff_chat=STAFF,
            escalation_chat=ESCALATION,
            reports=False,
            quiet_hours="off",
            report_limit=0,
        )
        values.update(config)
        settings = Config(**values)
        stop = asyncio.Event()
        task = asyncio.create_task(run_bot(settings, stop, runtime=build_runtime(settings)))
        while not any(m == "getupdates" for m, _ in api.calls):
            if task.done():
                task.result()
            await asyncio.sleep(0.02)
        try:
            yield
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)


async def _answer(
    api: LocalBotAPI, chat_id: int, message_id: int, after: int, timeout: float
) -> float | None:
    """When the bot's first message replying to `message_id` in the chat arrived."""
    try:
        record = await api.wait_for(
            lambda r: r.chat_id == chat_id and r.reply_to_message_id == message_id,
            timeout=timeout,
            after_seq=after,
        )
    except TimeoutError:
        return None
    return record.time


@dataclass
class Steady:
    """Residents elsewhere and staff asking things at a steady pace; their answer times."""

    api: LocalBotAPI
    times: list[float] = field(default_factory=list)
    lost: int = 0
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def _ask(self, chat_id: int, user_id: int, text: str) -> None:
        after = self.api.last_seq
        began = time.monotonic()
        sent = self.api.user_message(chat_id, user_id, text)
        arrived = await _answer(self.api, chat_id, sent["message_id"], after, 70)
        if arrived is None:
            self.lost += 1
        else:
            self.times.append(arrived - began)

    async def run(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        turn = 0
        while time.monotonic() < end:
            chat = OTHERS[turn % len(OTHERS)]
            self._tasks.append(asyncio.create_task(self._ask(chat, RESIDENT_ELSEWHERE, "/wall")))
            if turn % 10 == 0:
                self._tasks.append(asyncio.create_task(self._ask(STAFF, WORKER_LIU, "/stats")))
            turn += 1
            await asyncio.sleep(0.6)
        await asyncio.gather(*self._tasks)
        self._tasks.clear()


async def power_cut(framework: str, stretch: float) -> dict[str, Any]:
    api = LocalBotAPI(limits=None)
    await api.start()
    _world(api)
    try:
        async with _running(api, framework):
            # The bot meets every group first (a greeting is no command), with no limits.
            for chat_id in OTHERS:
                api.user_message(chat_id, RESIDENT_ELSEWHERE, "大家好")
            await api.wait_idle(quiet=0.5, timeout=60)
            api.limits = TELEGRAM
            quiet = Steady(api)
            await quiet.run(stretch)
            await api.wait_idle(quiet=1.0, timeout=120)
            burst = Steady(api)
            steady = asyncio.create_task(burst.run(stretch))
            began = time.monotonic()
            first = api.last_seq
            names = {uid: f"邻居{uid - 6000:02d}号" for uid in NEIGHBOURS}
            for uid in NEIGHBOURS:
                api.user_message(B1, uid, f"/report 停电了，{names[uid]}家")
                await asyncio.sleep(1 / len(NEIGHBOURS))
            told = await _all_told(api, names, first, timeout=stretch + 90)
            all_told = time.monotonic() - began if told else float("nan")
            await steady
            into_b1 = sum(1 for r in api.sent if r.chat_id == B1 and r.seq > first)
            await api.wait_idle(quiet=1.0, timeout=120)
    finally:
        await api.stop()
    return {
        "framework": framework,
        "quiet": quiet.times,
        "burst": burst.times,
        "lost": quiet.lost + burst.lost,
        "all_told": all_told,
        "b1_messages": into_b1,
        "429s": sum(1 for e in api.errors if e.code == 429),
        "violations": api.violations,
    }


async def _all_told(api: LocalBotAPI, names: dict[int, str], after: int, timeout: float) -> bool:
    """Wait until every reporter's name stands next to a case number in building 1."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        told = set()
        for record in api.sent:
            if record.chat_id != B1 or record.seq <= after:
                continue
            shown = str((api.message(B1, record.message_id or 0) or {}).get("text", ""))
            named = [uid for uid, name in names.items() if name in shown]
            if len(named) == 1 and "#" in shown:
                told.add(named[0])
                continue
            for line in shown.splitlines():
                told |= {uid for uid in named if names[uid] in line and "#" in line}
        if len(told) == len(names):
            return True
        await asyncio.sleep(0.05)
    return False


async def triage(framework: str, actions: int, seconds: float, settle: float) -> dict[str, Any]:
    api = LocalBotAPI(limits=None)
    await api.start()
    _world(api)
    cases = -(-actions // 3) + 1
    try:
        async with _running(api, framework):
            for n, uid in enumerate(list(NEIGHBOURS)[:cases]):
                api.user_message(B1, uid, f"/report 第{n + 1}个问题")
            await api.wait_idle(quiet=1.0, timeout=60)
            # The cases came in overnight: the staff chat's minute is its own again by morning.
            await asyncio.sleep(settle)
            api.limits = TELEGRAM
            first = api.last_seq
            plan = [f"/accept {i}" for i in range(1, cases + 1)]
            plan += [f"/fixed {i} 已修好" for i in range(1, cases + 1)]
            plan += [f"/confirm {i}" for i in range(1, cases + 1)]
            plan = plan[:actions]
            waits: list[asyncio.Task[float | None]] = []
            for command in plan:
                after = api.last_seq
                case_id = int(command.split()[1])
                word = {"/accept": "已受理", "/fixed": "已解决", "/confirm": "已办结"}[
                    command.split()[0]
                ]
                began = time.monotonic()
                api.user_message(STAFF, WORKER_LIU, command)
                waits.append(asyncio.create_task(_told(api, case_id, word, after, began)))
                await asyncio.sleep(seconds / len(plan))
            answered = [t for t in await asyncio.gather(*waits) if t is not None]
            await api.wait_idle(quiet=1.0, timeout=180)
            staff = sum(1 for r in api.sent if r.chat_id == STAFF and r.seq > first)
            groups = sum(1 for r in api.sent if r.chat_id != STAFF and r.seq > first)
    finally:
        await api.stop()
    return {
        "framework": framework,
        "actions": len(plan),
        "answered": answered,
        "staff_per_action": staff / len(plan),
        "group_per_action": groups / len(plan),
        "429s": sum(1 for e in api.errors if e.code == 429),
        "violations": api.violations,
    }


async def _told(
    api: LocalBotAPI, case_id: int, word: str, after: int, began: float
) -> float | None:
    """When the staff chat first showed the case in its new state after the command."""
    needle = f"#{case_id}"

    def shows(r: SentRecord) -> bool:
        text = r.text or ""
        return r.chat_id == STAFF and any(
            needle in line
            and word in line
            and not line[line.index(needle) + len(needle) :][:1].isdigit()
            for line in text.splitlines()
        )

    try:
        record = await api.wait_for(shows, timeout=240, after_seq=after)
    except TimeoutError:
        return None
    return record.time - began


async def wall_cost(framework: str, reports: int, wall_seconds: float) -> dict[str, Any]:
    """`/report` latency while one building's open cases grow to `reports`, pacing lifted."""
    api = LocalBotAPI(limits=None)
    await api.start()
    build_world(api)
    latencies: list[float] = []
    try:
        async with _running(
            api,
            framework,
            rate_per_second=100_000,
            rate_group_per_minute=10_000_000,
            wall_seconds=wall_seconds,
        ):
            for n in range(reports):
                after = api.last_seq
                began = time.monotonic()
                sent = api.user_message(B1, AUNT_ZHANG, f"/report 第{n + 1}个问题")
                arrived = await _answer(api, B1, sent["message_id"], after, 30)
                if arrived is not None:
                    latencies.append(arrived - began)
            await api.wait_idle(quiet=1.0, timeout=60)
            edits = sum(1 for r in api.sent if r.chat_id == B1 and r.method == "editMessageText")
    finally:
        await api.stop()
    return {
        "framework": framework,
        "wall_seconds": wall_seconds,
        "reports": reports,
        "answered": len(latencies),
        "p50": statistics.median(latencies),
        "p99": _percentile(latencies, 0.99),
        "wall_edits": edits,
    }


# --- messages per action ----------------------------------------------------------------------


@contextlib.contextmanager
def _baseline_tree(ref: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="echowall-baseline-") as tmp:
        path = Path(tmp) / "tree"
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), ref],
            check=True,
        )
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=False
            )


async def _spawn(api: LocalBotAPI, tree: Path, data: Path) -> asyncio.subprocess.Process:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ECHOWALL_")},
        "PYTHONPATH": str(tree),
        "ECHOWALL_TOKEN": api.token,
        "ECHOWALL_API_URL": api.url,
        "ECHOWALL_DATA_DIR": str(data),
        "ECHOWALL_STAFF_CHAT": str(STAFF),
        "ECHOWALL_ESCALATION_CHAT": str(ESCALATION),
        "ECHOWALL_REPORT_LIMIT": "0",
        "ECHOWALL_REPORTS": "false",
        # Each action alone, more than a second apart: every wall refresh it asks for goes
        # out, in both trees.
        "ECHOWALL_WALL_SECONDS": "1",
        # Counting, not timing: no pacing, so neither tree waits for a group's minute (the
        # tree before this design would stall every chat while it waited).
        "ECHOWALL_RATE_PER_SECOND": "1000",
        "ECHOWALL_RATE_GROUP_PER_MINUTE": "100000",
        "ECHOWALL_LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=tree,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=open(data / "bot.log", "wb"),
    )


Counts = dict[str, dict[str, int]]  # action -> "group" / "staff" / "private" -> calls


async def per_action(tree: Path) -> Counts:
    """Run each action of a case's life once, alone, and count the calls per chat."""
    api = LocalBotAPI(limits=None)
    await api.start()
    build_world(api)
    counts: Counts = {}
    with tempfile.TemporaryDirectory(prefix="echowall-bench-actions-") as tmp:
        admit_world(Path(tmp))  # the two buildings, admitted
        process = await _spawn(api, tree, Path(tmp))
        try:
            while not any(m == "getupdates" for m, _ in api.calls):
                await asyncio.sleep(0.05)

            async def act(name: str, do: Any) -> None:
                print(f"  {name}", flush=True)
                await api.wait_idle(quiet=1.0, timeout=30)
                mark = api.last_seq
                do()
                await api.wait_idle(quiet=1.5, timeout=30)
                spent: dict[str, int] = {}
                for record in api.sent[mark:]:
                    where = (
                        "staff"
                        if record.chat_id == STAFF
                        else "private"
                        if record.chat_id > 0
                        else "group"
                    )
                    spent[where] = spent.get(where, 0) + 1
                counts[name] = spent

            def staff_card(case_id: int) -> SentRecord:
                return next(
                    r
                    for r in reversed(api.sent)
                    if r.chat_id == STAFF and f"#{case_id}" in (r.text or "") and r.reply_markup
                )

            def notice(case_id: int) -> SentRecord:
                return next(
                    r
                    for r in reversed(api.sent)
                    if r.chat_id == B1 and r.reply_markup and "满意" in str(r.reply_markup)
                )

            def press(record: SentRecord, user: int, label: str) -> None:
                for row in (record.reply_markup or {}).get("inline_keyboard", []):
                    for button in row:
                        if label in button["text"]:
                            api.press(
                                record.chat_id,
                                record.message_id or 0,
                                user,
                                button["callback_data"],
                            )
                            return
                raise AssertionError(f"no {label!r} button")

            def ack(case_id: int) -> SentRecord:
                return next(
                    r
                    for r in api.sent
                    if r.chat_id == B1 and f"#{case_id}" in (r.text or "") and r.reply_markup
                )

            await act(
                "first report in a group",
                lambda: api.user_message(B1, AUNT_ZHANG, "/report 楼道灯坏了"),
            )
            await act(
                "report in a group", lambda: api.user_message(B1, UNCLE_LI, "/report 电梯异响")
            )
            await act("“me too”", lambda: press(ack(1), UNCLE_LI, "我也遇到"))
            await act(
                "head accepts in the group", lambda: api.user_message(B1, HEAD_WANG, "/accept 1")
            )
            await act(
                "head reports progress",
                lambda: api.user_message(B1, HEAD_WANG, "/progress 1 已报修"),
            )
            await act(
                "head marks it fixed", lambda: api.user_message(B1, HEAD_WANG, "/fixed 1 换了灯泡")
            )
            await act("reporter rates", lambda: press(notice(1), AUNT_ZHANG, "满意"))
            await act("head confirms", lambda: api.user_message(B1, HEAD_WANG, "/confirm 1"))
            await act(
                "staff press Accept on the card", lambda: press(staff_card(2), WORKER_LIU, "受理")
            )
            api.user_message(B1, AUNT_ZHANG, "/report 门禁坏了")
            await api.wait_idle(quiet=1.0, timeout=30)
            await act(
                "staff /fixed just below the card",
                lambda: api.user_message(STAFF, WORKER_LIU, "/fixed 3 修好了"),
            )
            for n in range(8):  # the staff chat talks on: the card scrolls away
                api.user_message(STAFF, WORKER_LIU, f"好的{n}")
            await act(
                "staff /confirm far below the card",
                lambda: api.user_message(STAFF, WORKER_LIU, "/confirm 3"),
            )
            await act("/wall in a group", lambda: api.user_message(B1, UNCLE_LI, "/wall"))
        except Exception:
            print((Path(tmp) / "bot.log").read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        finally:
            process.terminate()
            await process.wait()
    await api.stop()
    return counts


def _cost(spent: dict[str, int]) -> str:
    parts = [f"{spent[k]} {k}" for k in ("group", "staff", "private") if spent.get(k)]
    return ", ".join(parts) or "0"


def tables(
    cuts: list[dict[str, Any]],
    triages: list[dict[str, Any]],
    walls: list[dict[str, Any]],
    before: Counts | None,
    after: Counts,
) -> str:
    lines = [
        "**Power cut**: thirty reports in building 1 within a second, while residents of nine "
        "other buildings ask every 0.6 s and staff every 6 s (answer time in those other chats).",
        "",
        "| framework | quiet p50 / p99 | during the burst p50 / p99 | burst p99 ÷ quiet p99 "
        "| all 30 told their number | minimum, a message each | ratio | messages into building 1 "
        "| unanswered | 429s | sends in retry_after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in cuts:
        qp50, qp99 = statistics.median(c["quiet"]), _percentile(c["quiet"], 0.99)
        bp50, bp99 = statistics.median(c["burst"]), _percentile(c["burst"], 0.99)
        lines.append(
            f"| {c['framework']} | {qp50 * 1000:.0f} / {qp99 * 1000:.0f} ms "
            f"| {bp50 * 1000:.0f} / {bp99 * 1000:.0f} ms | {bp99 / qp99:.2f}× "
            f"| {c['all_told']:.1f} s | 60 s | {c['all_told'] / 60:.3f}× | {c['b1_messages']} "
            f"| {c['lost']} | {c['429s']} | {c['violations']} |"
        )
    lines += [
        "",
        "**Morning triage**: staff take fourteen cases through accept → fixed → confirm in the "
        "staff chat, 40 commands in two minutes, under Telegram's limits.",
        "",
        "| framework | commands | answered | answer p50 / p99 | max | staff-chat messages "
        "per command | building messages per command | 429s | sends in retry_after |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in triages:
        times = t["answered"]
        lines.append(
            f"| {t['framework']} | {t['actions']} | {len(times)} "
            f"| {statistics.median(times) * 1000:.0f} / {_percentile(times, 0.99) * 1000:.0f} ms "
            f"| {max(times):.1f} s | {t['staff_per_action']:.2f} | {t['group_per_action']:.2f} "
            f"| {t['429s']} | {t['violations']} |"
        )
    lines += [
        "",
        "**A view costs what it shows**: one building's open cases grow from 0 to "
        f"{walls[0]['reports']:,} report by report (pacing lifted); `/report` latency with the "
        "pinned wall refreshed at most every second, and with it off.",
        "",
        "| framework | wall | answered | `/report` p50 | p99 | wall edits |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for w in walls:
        shown = "off" if w["wall_seconds"] > 1000 else f"every {w['wall_seconds']:g} s"
        lines.append(
            f"| {w['framework']} | {shown} | {w['answered']:,} | {w['p50'] * 1000:.1f} ms "
            f"| {w['p99'] * 1000:.1f} ms | {w['wall_edits']:,} |"
        )
    lines += [
        "",
        "**Messages per action**, each action alone in a quiet world (wall refreshed after "
        "every change in both; calls that reached each chat: sends, edits and pins).",
        "",
        "| action | before | after |" if before is not None else "| action | messages |",
        "|---|---|---|" if before is not None else "|---|---|",
    ]
    for action, spent in after.items():
        if before is not None:
            lines.append(f"| {action} | {_cost(before.get(action, {}))} | {_cost(spent)} |")
        else:
            lines.append(f"| {action} | {_cost(spent)} |")
    return "\n".join(lines)


async def run(frameworks: list[str], quick: bool, baseline: str | None) -> str:
    stretch = 8.0 if quick else 20.0
    actions, seconds = (15, 45.0) if quick else (40, 120.0)
    cuts, triages, walls = [], [], []
    grown = 300 if quick else 3000
    for framework in frameworks:
        print(f"power cut through {framework} …", flush=True)
        cuts.append(await power_cut(framework, stretch))
        print(f"morning triage through {framework} …", flush=True)
        triages.append(await triage(framework, actions, seconds, 5.0 if quick else 61.0))
        for every in (1.0, 100_000.0):
            print(f"{grown:,} open cases in one building through {framework} …", flush=True)
            walls.append(await wall_cost(framework, grown, every))
    print("messages per action, this tree …", flush=True)
    after = await per_action(ROOT)
    before = None
    if baseline:
        print(f"messages per action, baseline {baseline} …", flush=True)
        with _baseline_tree(baseline) as tree:
            before = await per_action(tree)
    return tables(cuts, triages, walls, before, after)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.busy", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="shorter stretches, 15 commands")
    parser.add_argument("--frameworks", default="ptb,aiogram")
    parser.add_argument(
        "--baseline",
        default=BASELINE,
        help=f"git revision to compare messages per action with (default {BASELINE}; '' for none)",
    )
    parser.add_argument("--write", action="store_true", help="put the tables into README.md")
    args = parser.parse_args(argv)
    if args.write and args.quick:
        parser.error("--write records full runs only; drop --quick")
    frameworks = [f.strip() for f in args.frameworks.split(",") if f.strip()]
    began = time.monotonic()
    result = asyncio.run(run(frameworks, args.quick, args.baseline or None))
    print()
    print(result)
    print(f"\ntotal {time.monotonic() - began:.0f} s")
    if args.write:
        machine = "\n".join(f"- {k}: {v}" for k, v in report.machine())
        report.write_readme(
            f"{result}\n\nMachine:\n{machine}\n\nCommand: `python -m bench.busy --write`",
            begin=BEGIN,
            end=END,
        )
        print(f"written to {report.README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
