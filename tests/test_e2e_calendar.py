"""The calendar end to end: the real bot on both frameworks against the local Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from localapi import LocalBotAPI, RateLimits, SentRecord
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    HEAD_WANG,
    MS_CHEN,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    Harness,
    admit_world,
)
from tests.fakes import FakeClock, ShiftedClock

TZ = ZoneInfo("Asia/Shanghai")
# Saturday 21 November 2026, 10:00 in Shanghai: outside the quiet hours.
SATURDAY_10 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


def _sent(api: LocalBotAPI, chat_id: int, *needles: str) -> list[SentRecord]:
    return [
        r
        for r in api.sent
        if r.chat_id == chat_id
        and r.method == "sendMessage"
        and all(n in (r.text or "") for n in needles)
    ]


def _no_400s(api: LocalBotAPI, *, allowed: str | None = None) -> None:
    """No request of ours was malformed (`allowed`: a method expected to be refused)."""
    bad = [e for e in api.errors if e.code == 400 and e.method != allowed]
    assert bad == [], bad


async def _meet_groups(h: Harness, groups: list[tuple[int, int]]) -> None:
    """Someone speaks in each group, so the bot knows it as a building."""
    for chat_id, user_id in groups:
        h.say(chat_id, user_id, "大家好")
    await h.settle()


async def test_staff_event_rsvp_events_list_and_reminders(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    clock = FakeClock(SATURDAY_10)
    bot = await start_bot(clock=clock)
    h = Harness(api, tmp_path / "data", framework)
    await _meet_groups(h, [(B1, AUNT_ZHANG), (B2, MS_CHEN)])

    h.say(STAFF, WORKER_LIU, "/event 2026-11-22 19:00 小板凳座谈会 #forum @ 林溪苑广场")
    await h.reply(STAFF, "E1", "2 个群")
    post = await h.reply(B1, "E1", "小板凳座谈会", "林溪苑广场")
    await h.reply(B2, "E1", "小板凳座谈会")
    report = await h.reply(STAFF, "📬", "送达报告")
    assert "2 个群中 2 个已送达" in (report.text or "")

    answer = await h.answer_to(h.press(post, AUNT_ZHANG, "参加"))
    assert "E1" in answer.get("text", "")
    await h.settle()
    shown = api.message(B1, post.message_id)
    assert shown is not None and "1 人报名" in shown["text"]
    labels = [b["text"] for row in shown["reply_markup"]["inline_keyboard"] for b in row]
    assert any("（1）" in label for label in labels)
    # Pressing again changes nothing, and the bot does not try a pointless edit.
    await h.answer_to(h.press(post, AUNT_ZHANG, "参加"))
    await h.settle()

    h.say(B1, UNCLE_LI, "/events")
    listing = await h.reply(B1, "近期活动", "E1")
    assert "林溪苑广场" in (listing.text or "")

    # The day-before reminder goes to both groups once, as a reply to the event's post.
    clock.now = datetime(2026, 11, 21, 19, 0, tzinfo=TZ)
    await bot.runtime.tick()
    await bot.runtime.tick()
    await h.settle()
    (reminder,) = _sent(api, B1, "提醒", "E1")
    assert reminder.reply_to_message_id == post.message_id and "1 人报名" in (reminder.text or "")
    assert len(_sent(api, B2, "提醒", "E1")) == 1
    _no_400s(api)
    assert api.violations == 0


async def test_remind_fires_once_through_the_scheduler_and_survives_restarts(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    clock = ShiftedClock()
    bot = await start_bot(clock=clock)
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, HEAD_WANG, "/remind 1m 测试")
    await h.reply(B1, "R1")
    # Move the bot's clock to a second before the reminder: the real APScheduler job, replanned
    # on the wall clock, fires about a second later without any help.
    clock.advance(seconds=59)
    bot.runtime.plan()
    fired = await h.reply(B1, "提醒", "测试")
    assert "补发" not in (fired.text or "")

    h.say(B1, HEAD_WANG, "/remind 10m 开会")
    await h.reply(B1, "R2")
    await start_bot.stop_all()  # down while it falls due
    clock.advance(minutes=30)
    await start_bot(clock=clock)
    late = await h.reply(B1, "开会", "补发")
    assert "R2" in (late.text or "")
    await start_bot.stop_all()
    await start_bot(clock=clock)
    await h.settle()
    assert len(_sent(api, B1, "提醒 R1：")) == 1 and len(_sent(api, B1, "提醒 R2：")) == 1


async def test_moving_the_clock_on_purpose_sends_what_fell_due_on_time(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    clock = ShiftedClock()
    bot = await start_bot(clock=clock)
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, HEAD_WANG, "/remind 1m 测试")
    await h.reply(B1, "R1")
    h.say(B1, HEAD_WANG, "/remind 3h 开会")  # beyond the 2 hours' grace after the jump
    await h.reply(B1, "R2")
    # The bot runs on while its clock jumps 5 hours (the demo's `:later 5h`): both reminders
    # go out, in order, neither marked late nor skipped.
    before = clock()
    clock.advance(hours=5)
    assert await bot.runtime.clock_moved(before) == {"sent": 2}
    await bot.runtime.tick()
    await h.settle()
    (first,) = _sent(api, B1, "提醒 R1：测试")
    (second,) = _sent(api, B1, "提醒 R2：开会")
    assert first.seq < second.seq
    assert "补发" not in (first.text or "") + (second.text or "")
    # A jump longer than the catch-up's usual look back still covers all of itself.
    h.say(B1, HEAD_WANG, "/remind 3d 年检")
    await h.reply(B1, "R3")
    before = clock()
    clock.advance(days=12)
    assert await bot.runtime.clock_moved(before) == {"sent": 1}
    await bot.runtime.tick()
    inspection = await h.reply(B1, "提醒 R3：年检")
    assert "补发" not in (inspection.text or "")
    # A stop is an outage, whatever the clock did before: what fell due meanwhile is late.
    h.say(B1, HEAD_WANG, "/remind 10m 交表")
    await h.reply(B1, "R4")
    await start_bot.stop_all()
    clock.advance(minutes=30)
    await start_bot(clock=clock)
    late = await h.reply(B1, "交表", "补发")
    assert "R4" in (late.text or "")


async def test_group_announcement_is_pinned_or_says_why_not(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    await start_bot()
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, HEAD_WANG, "/announce 明天 8:00-12:00 停水 <请储水>")
    post = await h.reply(B1, "停水", "<请储水>")
    await h.settle()
    assert api.pinned(B1) == post.message_id
    api.set_bot_can_pin(B2, False)
    h.say(B2, 202, "/announce 电梯检修")
    await h.reply(B2, "电梯检修")
    await h.reply(B2, "无法置顶")
    h.say(B1, AUNT_ZHANG, "/announce 我也要发")
    await h.reply(B1, "只有")
    assert len(_sent(api, B1, "我也要发")) == 0
    _no_400s(api, allowed="pinChatMessage")


async def test_cancel_tells_the_groups_and_stops_reminders(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    clock = FakeClock(SATURDAY_10)
    bot = await start_bot(clock=clock)
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, HEAD_WANG, "/event 2026-11-22 19:00 健康讲座 #seminar remind=1h")
    post = await h.reply(B1, "E1", "健康讲座")
    h.say(B1, MS_CHEN, "/cancel E1")  # not a head here
    await h.reply(B1, "只有")
    h.say(B1, HEAD_WANG, "/cancel E1")
    cancelled = await h.reply(B1, "已取消", "E1")
    assert cancelled.reply_to_message_id == post.message_id
    await h.answer_to(h.press(post, AUNT_ZHANG, "参加"))
    clock.now = datetime(2026, 11, 22, 18, 0, tzinfo=TZ)
    await bot.runtime.tick()
    await h.settle()
    assert _sent(api, B1, "提醒", "E1") == []


async def test_broadcast_to_200_groups_under_faults_arrives_once_each(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    groups = [-5000 - i for i in range(200)]
    for i, chat_id in enumerate(groups):
        api.add_chat(chat_id, "group", title=f"幸福里{i + 1}号楼", members=[UNCLE_LI])
    admit_world(tmp_path / "data", {c: f"幸福里{i + 1}号楼" for i, c in enumerate(groups)})
    bot = await start_bot(rate_per_second=90)
    h = Harness(api, tmp_path / "data", framework)
    await _meet_groups(h, [(chat_id, UNCLE_LI) for chat_id in groups])
    # Telegram's limits, scaled up for speed, and a fifth of all sends failing.
    api.limits = RateLimits(per_second_global=100, per_minute_per_group=20)
    api.fail_rate(0.2, kinds=("429", "500", "502", "500", "502"), methods=["sendMessage"])
    # And one group that removed the bot without the bot noticing yet.
    api.chats[groups[7]].bot_status = "kicked"
    h.say(STAFF, WORKER_LIU, "/announce 本周六上午消防演练")
    report = await h.reply(STAFF, "📬", "送达报告", timeout=60)
    api.clear_faults()
    for chat_id in groups:
        copies = len(_sent(api, chat_id, "消防演练"))
        assert copies == (0 if chat_id == groups[7] else 1), (chat_id, copies)
    text = report.text or ""
    assert "200 个群中 199 个已送达" in text and "幸福里8号楼" in text and "移出" in text
    assert api.violations == 0
    assert any(kind == "429" for _, kind in api.injected)
    group = bot.runtime.repo.get_group(groups[7])
    assert group is not None and not group.active
    await asyncio.sleep(0)
    assert bot.runtime.outbox is not None and bot.runtime.outbox.next_release() is None


@pytest.mark.no_faults  # it needs the stop to fall mid-broadcast; faults move the timing
async def test_broadcast_interrupted_by_a_stop_resumes_without_doubles(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    groups = [-5500 - i for i in range(30)]
    for i, chat_id in enumerate(groups):
        api.add_chat(chat_id, "group", title=f"和平里{i + 1}号楼", members=[UNCLE_LI])
    admit_world(tmp_path / "data", {c: f"和平里{i + 1}号楼" for i, c in enumerate(groups)})
    await start_bot(rate_per_second=15)
    h = Harness(api, tmp_path / "data", framework)
    await _meet_groups(h, [(chat_id, UNCLE_LI) for chat_id in groups])
    h.say(STAFF, WORKER_LIU, "/announce 周日上午社区义诊")
    await h.reply(STAFF, "30 个群")
    await asyncio.sleep(0.8)
    await start_bot.stop_all()  # SIGTERM's path: sends in flight finish, the rest wait
    before = sum(len(_sent(api, c, "义诊")) for c in groups)
    assert 0 < before < len(groups)
    await start_bot(rate_per_second=15)
    await h.reply(STAFF, "📬", timeout=20)
    assert all(len(_sent(api, c, "义诊")) == 1 for c in groups)
