"""The reporter's privacy, end to end on both frameworks: for each way of reporting, every
message the bot sends or edits in a building group is checked for the reporter's name and id.

A case is driven through its whole life — reported, accepted on the staff card, progress,
fixed, rated by the reporter, checked and closed — and the group is asked about it (`/case` by
a neighbour and by the reporter, `/mine`, `/wall`, `/echo`). Heads and staff still read the
name where they act: the staff card, and `/case` in a head's private chat.

The way a station handles cases is driven the same way, for each way of reporting unnamed: a
category set on the card, a head naming himself responsible in the group, the reminder before
the deadline, the overdue flag and the escalation, the fix, the reporter asked once more for a
rating, the check's deadline passing, a head's `/mine` in the group, and a second case declined
on the card with a referral.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localapi import LocalBotAPI, SentRecord
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    HEAD_WANG,
    HEAD_ZHAO,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    Harness,
)
from tests.fakes import FakeClock

NAMES = {AUNT_ZHANG: "张阿姨", UNCLE_LI: "李大爷"}
PROBLEM = "楼上装修太吵，晚上十点还在砸墙"


def group_records(h: Harness) -> list[SentRecord]:
    """Everything the bot sent or edited in a building group."""
    return [r for r in h.api.sent if r.chat_id in (B1, B2)]


def traces(record: SentRecord, user_id: int) -> list[str]:
    """Where a record shows the person: name or id in its text, buttons or mentions."""
    found = []
    texts = [record.text or "", record.raw_text or ""]
    for row in (record.reply_markup or {}).get("inline_keyboard", []):
        texts += [button.get("text", "") for button in row]
    for text in texts:
        if NAMES[user_id] in text:
            found.append(f"name in {text!r}")
        if re.search(rf"(?<!\d){user_id}(?!\d)", text):
            found.append(f"id in {text!r}")
    for entity in record.entities:
        if entity.get("user", {}).get("id") == user_id or str(user_id) in entity.get("url", ""):
            found.append(f"mention in {entity}")
    return found


def leaks(h: Harness, user_id: int, *, after: int = 0) -> list[str]:
    return [t for r in group_records(h) if r.seq > after for t in traces(r, user_id)]


async def live_the_case(h: Harness, case: int, reporter: int, thread: int) -> None:
    """Accept on the staff card, progress, fix, the reporter's rating, the check; then the
    group asks about the case."""
    card = await h.api.wait_for(
        lambda r: r.chat_id == STAFF and r.method == "sendMessage" and f"#{case}" in (r.text or "")
    )
    assert NAMES[reporter] in (card.text or ""), "staff read the name where they act"
    h.press(card, WORKER_LIU, "受理")
    await h.reply(thread, f"#{case}", "受理")
    h.say(B1, HEAD_WANG, f"/progress {case} 已联系物业")
    await h.reply(B1 if thread == B1 else thread, f"#{case}", "已联系物业")
    h.say(B1, HEAD_WANG, f"/fixed {case} 已约谈施工队")
    fixed = await h.reply(thread, f"#{case}", "已约谈施工队")
    h.press(fixed, reporter, "基本满意")
    await h.reply(thread, f"#{case}", "基本满意")
    h.say(B1, HEAD_WANG, f"/confirm {case}")
    await h.reply(thread, f"#{case}", "回音壁")
    h.say(B1, UNCLE_LI if reporter != UNCLE_LI else AUNT_ZHANG, f"/case {case}")
    await h.reply(B1, f"#{case}", "办理过程")
    h.say(B1, reporter, f"/case {case}")
    await h.reply(B1, f"#{case}", "办理过程")
    h.say(B1, reporter, "/mine")
    await h.reply(B1, "私聊")
    h.say(B1, UNCLE_LI, "/echo")
    await h.reply(B1, f"#{case}", "回音壁")
    await h.settle()


@pytest.fixture
async def h(harness: Harness) -> Harness:
    # The bot has seen both buildings, and 张阿姨 writing in building 1.
    harness.say(B2, HEAD_ZHAO, "大家好")
    harness.say(B1, AUNT_ZHANG, "大家好")
    await harness.settle()
    return harness


async def test_a_private_report_never_names_the_reporter_in_a_group(h: Harness) -> None:
    h.say(AUNT_ZHANG, AUNT_ZHANG, f"/report {PROBLEM}")
    ack = await h.reply(AUNT_ZHANG, "#1")
    assert "楼栋：林溪苑1号楼" in (ack.text or "")
    await live_the_case(h, 1, AUNT_ZHANG, thread=AUNT_ZHANG)
    wall = [r for r in group_records(h) if PROBLEM[:6] in (r.text or "")]
    assert wall, "the group sees the case itself (its wall, /case, /echo)"
    assert leaks(h, AUNT_ZHANG) == []
    # A head reads the name privately, where the deep link of a card opens the case.
    h.say(HEAD_WANG, HEAD_WANG, "/case 1")
    private = await h.reply(HEAD_WANG, "#1")
    assert "反映人：张阿姨" in (private.text or "")


async def test_an_anonymous_group_report_never_names_the_reporter(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, f"/report anon {PROBLEM}")
    ack = await h.reply(B1, "#1")
    assert ack.reply_markup is not None
    labels = [b["text"] for row in ack.reply_markup["inline_keyboard"] for b in row]
    assert not any("隐藏" in label for label in labels), "nothing left to hide"
    await live_the_case(h, 1, AUNT_ZHANG, thread=B1)
    assert leaks(h, AUNT_ZHANG) == []


async def test_a_neighbours_message_logged_with_report_does_not_name_the_neighbour(
    h: Harness,
) -> None:
    said = h.say(B1, UNCLE_LI, PROBLEM)
    await h.settle()
    h.say(B1, AUNT_ZHANG, "/report", reply_to=said["message_id"])
    ack = await h.reply(B1, "#1")
    assert ack.reply_to_message_id == said["message_id"]
    await live_the_case(h, 1, UNCLE_LI, thread=B1)
    assert leaks(h, UNCLE_LI) == []


async def test_a_group_report_names_the_reporter_until_she_hides_her_name(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, f"/report {PROBLEM}")
    ack = await h.reply(B1, "#1")
    assert "反映人：张阿姨" in (ack.text or ""), "reported as herself, in her group"
    # A neighbour cannot hide her name for her.
    query = h.press(ack, UNCLE_LI, "隐藏")
    answer = await h.answer_to(query)
    assert answer["show_alert"]
    h.press(ack, AUNT_ZHANG, "隐藏")
    edited = await h.reply(B1, "#1", method="editMessageText")
    assert "张阿姨" not in (edited.text or "")
    mark = edited.seq
    await live_the_case(h, 1, AUNT_ZHANG, thread=B1)
    assert leaks(h, AUNT_ZHANG, after=mark) == []


async def test_an_offline_demand_reaches_the_group_only_when_staff_post_it(h: Harness) -> None:
    h.say(STAFF, WORKER_LIU, f"/log 1号楼 走访 {PROBLEM}")
    card = await h.reply(STAFF, "#1")
    h.say(STAFF, WORKER_LIU, "/accept 1")
    await h.reply(STAFF, "#1", "受理")
    h.say(B1, UNCLE_LI, "/wall")
    await h.reply(B1, "问题墙")
    h.say(B1, UNCLE_LI, "/case 1")
    await h.reply(B1, "#1")
    await h.settle()
    shown: list[Any] = [r for r in group_records(h) if PROBLEM[:6] in (r.text or "")]
    assert shown == [], "not in the group: no post, no echo, not on its wall, not by /case"

    h.press(card, WORKER_LIU, "楼栋群公开")
    post = await h.reply(B1, "#1", PROBLEM[:6])
    assert "走访" in (post.text or "")
    h.say(B1, HEAD_WANG, "/fixed 1 已约谈施工队")
    fixed = await h.reply(B1, "#1", "已约谈施工队")
    assert fixed.reply_to_message_id == post.message_id


# --- the station's way of handling cases, for a reporter the group may not read ---------------


async def _report_unnamed(h: Harness, way: str, text: str) -> int:
    """Report `text` the way given; the chat the case's thread is in."""
    if way == "private":
        h.say(AUNT_ZHANG, AUNT_ZHANG, f"/report {text}")
        return AUNT_ZHANG
    if way == "anon":
        h.say(B1, AUNT_ZHANG, f"/report anon {text}")
        return B1
    said = h.say(B1, UNCLE_LI, text)
    await h.settle()
    h.say(B1, AUNT_ZHANG, "/report", reply_to=said["message_id"])
    return B1


async def _staff_card(h: Harness, case: int) -> SentRecord:
    return await h.api.wait_for(
        lambda r: r.chat_id == STAFF and r.method == "sendMessage" and f"#{case}" in (r.text or "")
    )


@pytest.mark.parametrize("way", ["private", "anon", "neighbour"])
async def test_sorting_assigning_declining_and_chasing_never_name_an_unnamed_reporter(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any], way: str
) -> None:
    clock = FakeClock()
    bot = await start_bot(clock=clock)
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, AUNT_ZHANG, "大家好")
    await h.settle()
    reporter = UNCLE_LI if way == "neighbour" else AUNT_ZHANG

    thread = await _report_unnamed(h, way, PROBLEM)
    await h.reply(thread, "#1")
    card = await _staff_card(h, 1)
    assert NAMES[reporter] in (card.text or ""), "staff read the name where they act"
    # Sorted on the card; a head names himself responsible, in the group.
    await h.answer_to(h.press(card, WORKER_LIU, "邻里纠纷"))
    h.say(B1, HEAD_WANG, "/assign 1 me")
    await h.reply(B1, "#1", "王楼长")
    h.say(B1, HEAD_WANG, "/accept 1 easy")
    await h.reply(thread, "#1", "受理")
    await h.settle()

    # Chased: reminded before the deadline, flagged at it, escalated a day later.
    clock.advance(hours=22, minutes=30)
    assert (await bot.runtime.sweep()).reminded == [1]
    clock.advance(hours=2)
    assert (await bot.runtime.sweep()).flagged == [1]
    clock.advance(hours=25)
    h.mark = api.last_seq
    assert (await bot.runtime.sweep()).escalated == [1]
    await h.reply(thread, "#1", "上报")

    # Fixed and not rated: asked once more, in the thread (or privately, where she wrote).
    h.say(B1, HEAD_WANG, "/fixed 1 已约谈施工队")
    await h.reply(thread, "#1", "已约谈施工队")
    await h.settle()
    clock.advance(hours=24, minutes=5)
    h.mark = api.last_seq
    # The pinned clock started at 10:00 in Beijing: the day-later question is outside quiet hours.
    assert (await bot.runtime.sweep()).asked_to_rate == [1]
    again = await h.reply(thread, "#1", "还没收到您的评价")
    # The check's deadline passes: flagged.
    clock.advance(hours=48)
    assert (await bot.runtime.sweep()).flagged == [1]
    h.say(B1, HEAD_WANG, "/mine")
    await h.reply(B1, "您负责的诉求", "#1")

    # A second case, declined on the card under a matter not accepted, with its referral.
    thread = await _report_unnamed(h, way, "和房东的租房合同纠纷，押金不退")
    await h.reply(thread, "#2")
    second = await _staff_card(h, 2)
    await h.answer_to(h.press(second, WORKER_LIU, "不予受理"))
    await h.settle()
    offering = api.message(STAFF, second.message_id)
    assert offering is not None
    await h.answer_to(h.press(offering, WORKER_LIU, "私人合同纠纷"))
    declined = await h.reply(thread, "#2", "人民调解委员会")
    await h.settle()

    # The group saw all of it where the thread is the group, and never the reporter.
    in_group = [r for r in group_records(h)]
    assert any("负责人" in (r.text or "") for r in in_group), "the /assign answer"
    if thread == B1:
        assert again.chat_id == B1 and declined.chat_id == B1
    assert leaks(h, reporter) == []
