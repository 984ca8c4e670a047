"""End to end, on both frameworks: cases handled the way a 民呼必应 station handles them.

1. Categories: the staff card's category row (the keyword suggestion pre-selected), a decline
   that names its not-accepted category and where to turn, the figures per category.
2. A named person responsible: /assign by @name and by mention, the case privately, the
   link that opens the private chat, reminders before a deadline (privately, never into the
   building group), the check's deadline, the reporter asked once more, /mine.

Each scenario also counts what it cost the building group in messages.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from localapi import LocalBotAPI
from storage.records import Level, State
from storage.tinydb_store import TinyRepository
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    HEAD_WANG,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    Harness,
)
from tests.fakes import FakeClock


def labels(record: Any) -> list[str]:
    markup = record.reply_markup if hasattr(record, "reply_markup") else record["reply_markup"]
    return [b["text"] for row in (markup or {}).get("inline_keyboard", []) for b in row]


def sent_since(h: Harness, chat_id: int, seq: int) -> list[Any]:
    """The new messages the bot sent into a chat after `seq` (edits and answers aside)."""
    return [
        r
        for r in h.api.sent
        if r.chat_id == chat_id and r.seq > seq and r.method.startswith("send")
    ]


def no_bad_requests(h: Harness) -> None:
    bad = [e for e in h.api.errors if e.code == 400 and "not modified" not in e.description]
    assert not bad, bad


def stored(data_dir: Path, case_id: int) -> Any:
    repo = TinyRepository(data_dir)
    try:
        return repo.get_case(case_id)
    finally:
        repo.close()


# --- 1. categories -----------------------------------------------------------------------------


async def test_staff_sort_a_case_on_its_card_and_decline_one_with_a_referral(
    harness: Harness, start_bot: Any
) -> None:
    h = harness
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(B1, "#1")
    card = await h.reply(STAFF, "#1")
    assert "类别：公共设施（系统建议）" in card.text
    assert labels(card)[:3] == ["受理", "不予受理", "上报"]
    assert "💡 公共设施" in labels(card) and "环境卫生" in labels(card)
    await h.settle()
    mark = h.api.last_seq

    # A category set from the row: a toast and an edit of the card, no new message.
    toast = await h.answer_to(h.press(card, WORKER_LIU, "环境卫生"))
    assert toast["text"] == "诉求 #1：环境卫生"
    await h.settle()
    now = h.api.message(STAFF, card.message_id)
    assert now is not None and "✅ 环境卫生" in labels(now) and "类别：环境卫生" in now["text"]
    # A resident pressing it is refused, and nothing changes.
    refused = await h.answer_to(h.press(card, UNCLE_LI, "公共设施"))
    assert refused["show_alert"] and "楼栋长" in refused["text"]
    await h.answer_to(h.press(now, WORKER_LIU, "受理"))
    await h.reply(B1, "#1", "已受理")
    await h.settle()

    # Declining: the card offers the categories not accepted; one press declines, and the
    # resident reads the category and where to turn, in the thread.
    report = h.say(B1, UNCLE_LI, "/report 和房东的租房合同纠纷，押金不退")
    await h.reply(B1, "#2")
    second = await h.reply(STAFF, "#2")
    await h.settle()
    asked = await h.answer_to(h.press(second, WORKER_LIU, "不予受理"))
    assert "#2" in asked["text"]
    await h.settle()
    offering = h.api.message(STAFF, second.message_id)
    assert offering is not None and "私人合同纠纷" in labels(offering)
    assert "↩ 返回" in labels(offering)
    declined = await h.answer_to(h.press(offering, WORKER_LIU, "私人合同纠纷"))
    assert declined["text"] == "已不予受理：私人合同纠纷。"
    echo = await h.reply(B1, "#2", "人民调解委员会")
    assert echo.reply_to_message_id == report["message_id"]
    assert "不予受理，类别：私人合同纠纷" in echo.text
    await h.settle()
    # What it cost building 1: the acknowledgement of #2 and the two echoes (accepted,
    # declined); the category, the decline's choices and the toasts cost it nothing.
    into_b1 = [r.text or "" for r in sent_since(h, B1, mark)]
    assert len(into_b1) == 3, into_b1
    assert [r for r in sent_since(h, STAFF, mark) if "#1" in (r.text or "")] == []

    # The figures break down by category; the ledger names it, and where #2 was referred.
    h.say(STAFF, WORKER_LIU, "/stats")
    stats = await h.reply(STAFF, "分类别")
    assert "▸ 环境卫生：收到 1 件" in stats.text
    assert "▸ 不予受理：私人合同纠纷：1" in stats.text
    h.say(STAFF, WORKER_LIU, "/export")
    ledger = await h.reply(STAFF, "民情台账", method="sendDocument")
    rows = list(load_workbook(io.BytesIO(ledger.document_bytes or b"")).worksheets[0].values)
    header = rows[0]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id[1][header.index("类别")] == "环境卫生"
    assert by_id[2][header.index("类别")] == "私人合同纠纷"
    assert by_id[2][header.index("转介去向")] == "人民调解委员会"
    no_bad_requests(h)
    await start_bot.stop_all()
    first, second_case = stored(h.data_dir, 1), stored(h.data_dir, 2)
    assert (first.state, first.category) == (State.ACCEPTED, "env")
    assert (second_case.state, second_case.category, second_case.referral) == (
        State.DECLINED,
        "contract",
        "mediate",
    )


async def test_a_head_declines_by_command_naming_category_referral_and_reason(
    harness: Harness,
) -> None:
    h = harness
    h.say(B1, AUNT_ZHANG, "/report 小区外马路的红绿灯坏了")
    await h.reply(B1, "#1")
    h.say(B1, HEAD_WANG, "/decline 1")
    usage = await h.reply(B1, "请在编号后写明类别")
    assert "用法：/decline <编号> <类别>" in usage.text
    h.say(B1, HEAD_WANG, "/decline 1 agency 12345 信号灯归交警管理")
    echo = await h.reply(B1, "#1", "12345")
    assert echo.text.splitlines() == [
        "🚫 诉求 #1 不予受理，类别：属其他部门职责。",
        "理由：信号灯归交警管理",
        "建议您向12345 政务服务便民热线反映：拨打 12345，或在 12345 平台留言",
    ]
    no_bad_requests(h)


# --- 2. the person responsible, and chasing --------------------------------------------------


async def _start(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> tuple[Harness, Any, FakeClock]:
    clock = FakeClock()
    bot = await start_bot(clock=clock)
    return Harness(api, tmp_path / "data", framework), bot, clock


async def test_a_named_head_gets_the_case_privately_and_is_reminded_before_the_deadline(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    api.add_user(HEAD_WANG, "王楼长", username="wang_lz", language_code="zh")
    h, bot, clock = await _start(api, tmp_path, framework, start_bot)
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(B1, "#1")
    h.say(B1, HEAD_WANG, "收到，我看看")  # the bot learns his @username here
    await h.settle()
    mark = api.last_seq

    # A resident may not name anyone: refused, and nothing changes.
    h.say(B1, UNCLE_LI, "/assign 1 @wang_lz")
    await h.reply(B1, "只有本楼栋长和社区工作人员")
    # Staff name him from the staff chat with his @username.
    h.say(STAFF, WORKER_LIU, "/assign 1 @wang_lz")
    answer = await h.reply(STAFF, "#1", "王楼长")
    assert "https://t.me/" in answer.text and "start=case_1" in answer.text
    notice = await h.reply(HEAD_WANG, "#1", "负责人")
    assert notice.text.startswith("📌 刘社工指定您为诉求 #1 的负责人。")
    # He opens the link: the case privately.
    h.say(HEAD_WANG, HEAD_WANG, "/start case_1")
    await h.reply(HEAD_WANG, "#1", "负责人：王楼长")
    # Named again by a mention (someone picked from the list): the same person, no change.
    h.say(STAFF, WORKER_LIU, "/assign 1 王楼长", mentions=[HEAD_WANG])
    await h.reply(STAFF, "已是诉求 #1 的负责人")

    h.say(B1, HEAD_WANG, "/accept 1 easy")
    await h.reply(B1, "#1", "已受理")
    await h.settle()
    before_deadline = api.last_seq
    clock.advance(hours=22, minutes=30)
    h.mark = api.last_seq
    assert (await bot.runtime.sweep()).reminded == [1]
    reminder = await h.reply(HEAD_WANG, "⏰", "#1")
    assert "前办结" in reminder.text
    await h.settle()
    assert sent_since(h, B1, before_deadline) == []  # never into the building group

    # /mine for him, privately: what he answers for, with its deadline.
    h.say(HEAD_WANG, HEAD_WANG, "/mine")
    mine = await h.reply(HEAD_WANG, "您负责的诉求")
    assert "#1" in mine.text and "前办结" in mine.text
    # What naming him cost building 1: nothing (the staff chat got the answer).
    assert [r for r in sent_since(h, B1, mark) if "负责人" in (r.text or "")] == []
    no_bad_requests(h)
    await start_bot.stop_all()  # type: ignore[attr-defined]
    case = stored(tmp_path / "data", 1)
    assert (case.assignee_id, case.assignee_name) == (HEAD_WANG, "王楼长")
    assert [s.action for s in case.timeline] == ["report", "assign", "accept", "category"]


async def test_a_fix_is_chased_for_its_check_and_the_reporter_asked_again_for_a_rating(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    h, bot, clock = await _start(api, tmp_path, framework, start_bot)
    report = h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(B1, "#1")
    h.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    await h.reply(B1, "#1", "换了灯泡")
    await h.settle()
    # A day later she has not rated: asked once more in the thread, with the buttons.
    clock.advance(hours=24, minutes=5)
    result = await bot.runtime.sweep()  # 10:05 in Beijing (the pinned clock): no quiet hours
    assert result.asked_to_rate == [1]
    again = await h.reply(B1, "#1", "还没收到您的评价")
    assert again.reply_to_message_id == report["message_id"]
    assert labels(again) == ["满意", "基本满意", "不满意"]
    await h.answer_to(h.press(again, AUNT_ZHANG, "基本满意"))
    await h.settle()
    # The check has a deadline: past it, flagged; a day later escalated with a new one.
    clock.advance(hours=48)
    h.mark = api.last_seq
    assert (await bot.runtime.sweep()).flagged == [1]
    await h.reply(STAFF, "#1", "超期")
    await h.reply(HEAD_WANG, "您负责的诉求 #1 已超期")
    clock.advance(hours=25)
    h.mark = api.last_seq
    assert (await bot.runtime.sweep()).escalated == [1]
    await h.reply(B1, "#1", "前完成验收")
    h.say(B1, HEAD_WANG, "/confirm 1")
    await h.reply(B1, "#1", "回音壁")
    no_bad_requests(h)
    await start_bot.stop_all()  # type: ignore[attr-defined]
    case = stored(tmp_path / "data", 1)
    assert (case.state, case.level, case.rating.value) == (State.CLOSED, Level.COMMUNITY, "basic")
