"""End to end, on both frameworks: answers that say what is wrong, the Chinese words /help
shows, and each group reading the bot in its own language (the local Bot API keeps the text
as Telegram shows it, entities parsed)."""

from __future__ import annotations

import pytest

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


@pytest.fixture
async def h(harness: Harness) -> Harness:
    harness.say(B1, HEAD_WANG, "大家好")
    harness.say(B2, HEAD_ZHAO, "大家好")
    await harness.settle()
    return harness


async def test_residents_are_told_they_may_not_and_mistakes_are_named(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(B1, "#1")
    # A resident typing a head's or staff's command, however wrong: she may not.
    for text in ("/accept abc soon", "/stats yesterday", "/event 2026-13-45 25:99 座谈会"):
        h.say(B1, UNCLE_LI, text)
        refusal = await h.reply(B1, "社区工作人员")
        assert "用法" not in (refusal.text or ""), text
    # Heads and staff are told what is wrong with what they typed.
    h.say(B1, HEAD_WANG, "/event 2026-13-45 25:99 座谈会")
    both = await h.reply(B1, "“2026-13-45”不是有效日期", "“25:99”不是有效时刻")
    assert "用法：/event" in (both.text or "")
    h.say(B1, HEAD_WANG, "/case 99999999999999999999")
    await h.reply(B1, "没有诉求 #99999999999999999999。")
    h.say(WORKER_LIU, WORKER_LIU, "/export 1999-01")
    await h.reply(WORKER_LIU, "1999年1月没有收到诉求")
    await h.settle()


async def test_chinese_words_are_taken_and_each_group_reads_its_language(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(B1, "#1")
    h.say(B1, HEAD_WANG, "/accept 1 重点 3d")
    accepted = await h.reply(B1, "#1", "已受理（重点件）")
    assert "用法" not in (accepted.text or "")
    h.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    fixed = await h.reply(B1, "#1", "换了灯泡")
    h.press(fixed, AUNT_ZHANG, "满意")
    await h.settle()
    # Building 2 and the staff chat switch to English; building 1 stays Chinese.
    h.say(B2, HEAD_ZHAO, "/lang english")
    await h.reply(B2, "Language set to English.")
    h.say(STAFF, WORKER_LIU, "/lang en")
    await h.reply(STAFF, "Language set to English.")
    h.say(STAFF, WORKER_LIU, "/case 1")
    case = await h.reply(STAFF, "Timeline")
    shown = case.text or ""
    assert "accepted · 王楼长: key case" in shown and "rated · 张阿姨: satisfied" in shown
    h.say(B1, AUNT_ZHANG, "/case 1")
    case = await h.reply(B1, "办理过程")
    shown = case.text or ""
    assert "已受理 · 王楼长：重点件" in shown and "评价 · 张阿姨：满意" in shown
    h.say(STAFF, WORKER_LIU, "/announce 明天上午停水")
    english = await h.reply(B2, "明天上午停水")
    chinese = await h.reply(B1, "明天上午停水")
    assert "from 刘社工, community staff" in (english.text or "")
    assert "（社区工作人员 刘社工）" in (chinese.text or "")
    await h.settle()
