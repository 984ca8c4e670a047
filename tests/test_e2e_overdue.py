"""End to end: deadlines, overdue flags and escalation, with time under the test's control."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from localapi import LocalBotAPI
from storage.records import Level
from storage.tinydb_store import TinyRepository
from tests.conftest import AUNT_ZHANG, B1, ESCALATION, HEAD_WANG, STAFF, Harness
from tests.fakes import FakeClock


async def _start(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any], **kw: Any
) -> tuple[Harness, Any, FakeClock]:
    clock = FakeClock()
    bot = await start_bot(clock=clock, **kw)
    return Harness(api, tmp_path / "data", framework), bot, clock


async def test_unanswered_case_is_flagged_once_then_escalated(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    h, bot, clock = await _start(api, tmp_path, framework, start_bot)
    h.say(B1, AUNT_ZHANG, "/report 楼顶漏水")
    card = await h.reply(B1, "#1")
    staff_card = await h.reply(STAFF, "#1")
    await h.settle()
    clock.advance(hours=23)
    assert (await bot.runtime.sweep()).flagged == []

    clock.advance(hours=2)
    h.mark = api.last_seq
    assert (await bot.runtime.sweep()).flagged == [1]
    notice = await h.reply(STAFF, "#1", "超期")
    assert "林溪苑1号楼" in notice.text
    await h.settle()
    # The staff card shows the flag; the resident's acknowledgement is not edited for it
    # (the wall shows it, and the group keeps its message budget).
    current = api.message(STAFF, staff_card.message_id)
    assert current is not None and "超期" in current["text"]
    assert api.message(B1, card.message_id)["text"] == card.text  # type: ignore[index]

    h.say(B1, AUNT_ZHANG, "/wall")
    wall = await h.reply(B1, "问题墙")
    assert "#1" in wall.text and "超期" in wall.text

    h.mark = api.last_seq
    assert (await bot.runtime.sweep()).flagged == []  # told once
    await h.settle()
    assert not [r for r in api.sent if r.seq > h.mark and r.chat_id == STAFF]

    clock.advance(hours=25)
    h.mark = api.last_seq
    assert (await bot.runtime.sweep()).escalated == [1]
    await h.reply(ESCALATION, "#1", "楼顶漏水")
    await h.reply(B1, "#1", "社区")
    await start_bot.stop_all()  # type: ignore[attr-defined]
    repo = TinyRepository(tmp_path / "data")
    try:
        case = repo.get_case(1)
        assert case is not None and case.level is Level.COMMUNITY and case.overdue_since is None
        assert [s.action for s in case.timeline] == ["report", "overdue", "escalate"]
    finally:
        repo.close()


async def test_accepted_case_past_due_tells_the_head_who_promised(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    h, bot, clock = await _start(api, tmp_path, framework, start_bot)
    h.say(B1, AUNT_ZHANG, "/report 电梯停了")
    await h.reply(B1, "#1")
    h.say(B1, HEAD_WANG, "/accept 1 easy")
    await h.reply(B1, "#1", "已受理")
    await h.settle()
    clock.advance(hours=25)
    h.mark = api.last_seq
    assert (await bot.runtime.sweep()).flagged == [1]
    await h.reply(HEAD_WANG, "#1", "超期")
    h.say(B1, HEAD_WANG, "/fixed 1 修好了")
    await h.reply(B1, "#1", "修好了")
    h.say(B1, HEAD_WANG, "/confirm 1")
    await h.reply(B1, "#1", "回音壁")
    await h.settle()
    clock.advance(hours=48)
    result = await bot.runtime.sweep()
    assert (result.flagged, result.escalated, result.reminded) == ([], [], [])


async def test_the_scheduler_runs_the_sweep_by_itself(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    h, _, clock = await _start(api, tmp_path, framework, start_bot, sweep_seconds=0.2)
    h.say(B1, AUNT_ZHANG, "/report 路灯不亮")
    await h.reply(B1, "#1")
    clock.advance(hours=30)
    await h.reply(STAFF, "#1", "超期", timeout=10)


async def test_an_escalated_unanswered_case_gets_a_new_deadline_to_answer_by(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    h, bot, clock = await _start(api, tmp_path, framework, start_bot)
    h.say(B1, AUNT_ZHANG, "/report 井盖松动")
    await h.reply(B1, "#1")
    await h.settle()
    clock.advance(hours=25)
    assert (await bot.runtime.sweep()).flagged == [1]
    clock.advance(hours=25)
    assert (await bot.runtime.sweep()).escalated == [1]
    clock.advance(hours=1)
    result = await bot.runtime.sweep()
    assert result.flagged == [] and result.escalated == []  # the community has 2 days now
    clock.advance(days=2)
    assert (await bot.runtime.sweep()).flagged == [1]
