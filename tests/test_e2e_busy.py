"""One busy chat never holds up the others, with Telegram's limits enforced by the server.

The local Bot API counts 30 calls a second overall and 20 a minute into each group and answers
429 beyond them, exactly as Telegram does; the bot runs with production's pace. These are the
moments the pledge is about: many calls at once.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localapi import LocalBotAPI, RateLimits
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    MS_CHEN,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    Harness,
)

pytestmark = pytest.mark.no_faults  # exact limits: injected 429s would blur what is measured
NEIGHBOURS = range(5000, 5030)  # thirty residents of building 1
CASE = re.compile(r"#(\d+)")


def production_pace(**extra: Any) -> dict[str, Any]:
    return dict(rate_per_second=30, rate_group_per_minute=20, wall_seconds=10, **extra)


def no_limit_broken(api: LocalBotAPI) -> None:
    """0 sends inside a retry_after window, 0 answers of 429."""
    assert api.violations == 0
    assert [e for e in api.errors if e.code == 429] == []


def into(api: LocalBotAPI, chat_id: int) -> int:
    return sum(1 for r in api.sent if r.chat_id == chat_id)


async def answered_within(h: Harness, chat_id: int, needle: str, seconds: float) -> float:
    """How long the answer took: it must come in `seconds` (a busy group costs nothing)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await h.reply(chat_id, needle, timeout=seconds)
    return loop.time() - start


async def test_a_full_group_holds_up_no_other_chat(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    api.limits = RateLimits(per_second_global=30, per_minute_per_group=20)
    bot = await start_bot(**production_pace())
    h = Harness(api, tmp_path / "data", framework)
    for uid in NEIGHBOURS:
        api.add_user(uid, f"邻居{uid - 5000}", language_code="zh")
        api.set_member_status(B1, uid, "member")
    # Building 1 spends its whole minute: a report, then a question every second or so (just
    # apart enough that their answers do not go out together).
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(B1, "#1")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 40
    for uid in NEIGHBOURS:
        if into(api, B1) >= 19 or loop.time() > deadline:
            break
        h.say(B1, uid, "/case 1")
        await asyncio.sleep(1.2)
    assert into(api, B1) >= 19, "building 1 used its minute"
    h.say(B1, UNCLE_LI, "/case 1")
    await asyncio.sleep(0.5)
    assert bot.runtime.repo.outgoing_ids(B1), "building 1's answers wait for its minute"
    # Now another building and the staff chat: answered as fast as on a quiet day.
    h.say(B2, MS_CHEN, "/report 二号楼电梯停了")
    assert await answered_within(h, B2, "#2", 3.0) < 3.0
    h.say(STAFF, WORKER_LIU, "/stats month")
    assert await answered_within(h, STAFF, "响应率", 3.0) < 3.0
    no_limit_broken(api)


async def test_thirty_reports_in_a_second_all_get_their_case_number(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    api.limits = RateLimits(per_second_global=30, per_minute_per_group=20)
    await start_bot(**production_pace())
    h = Harness(api, tmp_path / "data", framework)
    names = {}
    for uid in NEIGHBOURS:
        names[uid] = f"邻居{uid - 5000:02d}号"
        api.add_user(uid, names[uid], language_code="zh")
        api.set_member_status(B1, uid, "member")
    reports = {}
    for uid in NEIGHBOURS:  # a power cut: thirty neighbours within a second
        reports[uid] = h.say(B1, uid, f"/report 停电了，{names[uid]}家")
        await asyncio.sleep(0.03)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    told: dict[int, str] = {}
    while len(told) < len(NEIGHBOURS) and loop.time() < deadline:
        await asyncio.sleep(0.1)
        for record in api.sent:
            if record.chat_id != B1:
                continue
            shown = str((api.message(B1, record.message_id or 0) or {}).get("text", ""))
            # The offer to support a case it looks like quotes that case: not this report.
            shown = "\n".join(x for x in shown.splitlines() if not x.startswith("🔎"))
            named = [uid for uid, name in names.items() if name in shown]
            if len(named) == 1 and (found := CASE.search(shown)):
                told[named[0]] = found.group(1)  # an acknowledgement of one report
                continue
            for line in shown.splitlines():  # of several: a line for each
                for uid in named:
                    if names[uid] in line and (found := CASE.search(line)):
                        told[uid] = found.group(1)
    assert len(told) == len(NEIGHBOURS), f"not told their number: {set(names) - set(told)}"
    assert sorted(int(n) for n in told.values()) == list(range(1, 31))
    # The first report is answered by itself; those that waited together share a message,
    # each a reply to the first report it answers; well within the group's minute.
    assert into(api, B1) <= 19
    h.say(STAFF, WORKER_LIU, "/stats month")
    assert await answered_within(h, STAFF, "收到 30 件", 3.0) < 3.0
    no_limit_broken(api)


async def test_staff_work_through_twelve_cases_in_the_staff_chat(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    # A minute shrunk to 12 s on both sides: two "minutes" of triage take 24 s.
    api.limits = RateLimits(per_second_global=30, per_minute_per_group=20, window_scale=0.2)
    await start_bot(**production_pace(rate_group_window=12))
    h = Harness(api, tmp_path / "data", framework)
    for uid in NEIGHBOURS[:12]:
        api.add_user(uid, f"邻居{uid - 5000}", language_code="zh")
        api.set_member_status(B1, uid, "member")
        h.say(B1, uid, f"/report 第{uid - 4999}个问题")
        await asyncio.sleep(0.05)
    await h.settle()
    commands: list[tuple[str, int, str, int]] = []
    steps = (("accept {id}", "已受理"), ("fixed {id} 修好了", "已解决"), ("confirm {id}", "已办结"))
    for step, done in steps:
        for case_id in range(1, 13):
            text = "/" + step.format(id=case_id)
            h.say(STAFF, WORKER_LIU, text)
            commands.append((text, case_id, done, h.mark))
            await asyncio.sleep(0.3)

    def unanswered() -> list[str]:
        # Answered in the staff chat after the command: a reply (alone or with others that
        # waited with it), or the case's card edited in place.
        staff = [r for r in api.sent if r.chat_id == STAFF]
        missing = []
        for text, case_id, done, mark in commands:
            pattern = re.compile(rf"#{case_id}\b[^\n]*{done}|{done}[^\n]*#{case_id}\b")
            if not any(r.seq > mark and pattern.search(r.text or "") for r in staff):
                missing.append(text)
        return missing

    # Answers wait for the staff chat's (shrunk) minute and, in a burst, a second for company:
    # no moment of silence says they are done, so wait for them (a minute at most).
    def unheard() -> list[int]:
        # Each case was taken through to the end, and its thread heard it.
        b1 = [r.text or "" for r in api.sent if r.chat_id == B1]
        return [i for i in range(1, 13) if not any(f"#{i} 已办结" in text for text in b1)]

    deadline = asyncio.get_running_loop().time() + 60
    while (unanswered() or unheard()) and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.2)
    assert unanswered() == [], "not answered in the staff chat"
    assert unheard() == [], "not echoed in the building group"
    no_limit_broken(api)
