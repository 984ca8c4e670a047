"""End to end: offline demands registered by staff flow through the same lifecycle and ledger."""

from __future__ import annotations

import pytest

from storage.records import Channel, Rating
from storage.tinydb_store import TinyRepository
from tests.conftest import AUNT_ZHANG, B1, B2, HEAD_WANG, HEAD_ZHAO, STAFF, WORKER_LIU, Harness


@pytest.fixture
async def h(harness: Harness) -> Harness:
    harness.say(B1, HEAD_WANG, "大家好")
    harness.say(B2, HEAD_ZHAO, "大家好")
    await harness.settle()
    return harness


async def test_staff_log_a_mailbox_demand_and_post_it_into_the_building(h: Harness) -> None:
    h.say(STAFF, WORKER_LIU, "/log 1号楼 信箱 3单元门口路灯不亮")
    staff = await h.reply(STAFF, "#1", "3单元门口路灯不亮")
    assert "不在楼栋群公开" in staff.text
    # Its steps are not echoed into the building before staff post it there.
    h.say(STAFF, WORKER_LIU, "/progress 1 已联系电工")
    await h.reply(STAFF, "#1", "已联系电工")
    await h.settle()
    assert not [r for r in h.api.sent if r.chat_id == B1 and "#1" in (r.text or "")]

    h.press(staff, WORKER_LIU, "楼栋群公开")
    card = await h.reply(B1, "#1", "3单元门口路灯不亮")
    assert card.reply_to_message_id is None and "民情信箱" in card.text

    h.say(B1, HEAD_WANG, "/fixed 1 换了路灯")
    fixed = await h.reply(B1, "#1", "换了路灯")
    assert fixed.reply_markup is None  # nobody on Telegram to rate it
    h.say(STAFF, WORKER_LIU, "/rate 1 满意")
    await h.reply(STAFF, "#1", "满意")
    h.say(STAFF, WORKER_LIU, "/confirm 1")
    entry = await h.reply(B1, "#1", "回音壁")
    assert entry.reply_to_message_id == card.message_id  # the thread starts at the post
    assert "民情信箱" in entry.text and "满意" in entry.text
    await h.settle()
    repo = TinyRepository(h.data_dir)
    try:
        case = repo.get_case(1)
        assert case is not None
        assert case.channel is Channel.MAILBOX and case.rating is Rating.SATISFIED
        assert case.reporter_id is None and case.building_id == B1 and case.published
    finally:
        repo.close()


async def test_log_refusals_and_usage(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/log 1号楼 hotline 我也想登记")
    await h.reply(B1, "工作人员")
    h.say(STAFF, WORKER_LIU, "/log 林溪苑 hotline 哪一栋")
    which = await h.reply(STAFF, "林溪苑1号楼")
    assert "林溪苑2号楼" in which.text
    h.say(STAFF, WORKER_LIU, "/log 1号楼 微信 渠道不对")
    await h.reply(STAFF, "/log")
    h.say(STAFF, WORKER_LIU, "/log 9号楼 visit 没有这栋")
    await h.reply(STAFF, "9号楼")
    await h.settle()
    assert not any("#1" in (r.text or "") for r in h.api.sent)


async def test_rate_is_for_offline_cases_only(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(B1, "#1")
    h.say(B1, HEAD_WANG, "/fixed 1 换灯")
    await h.reply(B1, "#1", "换灯")
    h.say(STAFF, WORKER_LIU, "/rate 1 满意")
    await h.reply(STAFF, "只有")
