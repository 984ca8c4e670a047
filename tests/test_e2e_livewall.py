"""End to end: each building group's pinned problem wall stays current, without needless edits."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from localapi import LocalBotAPI
from tests.conftest import AUNT_ZHANG, B1, B2, HEAD_WANG, HEAD_ZHAO, MS_CHEN, UNCLE_LI, Harness


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness


def pinned_text(h: Harness, chat_id: int) -> str:
    message_id = h.api.pinned(chat_id)
    assert message_id is not None, "no pinned wall"
    message = h.api.message(chat_id, message_id)
    assert message is not None
    return str(message["text"])


async def test_pinned_wall_follows_every_change(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    card = await h.reply(B1, "#1")
    await h.settle()
    assert "#1" in pinned_text(h, B1) and "待受理" in pinned_text(h, B1)
    wall_id = h.api.pinned(B1)

    h.say(B1, UNCLE_LI, "/report 电梯异响")
    await h.reply(B1, "#2")
    await h.settle()
    assert "#2" in pinned_text(h, B1) and h.api.pinned(B1) == wall_id  # edited, not re-posted

    h.press(card, UNCLE_LI, "(0)")
    await h.settle()
    assert "👥1" in pinned_text(h, B1)

    h.say(B1, HEAD_WANG, "/accept 1")
    await h.reply(B1, "#1", "已受理")
    await h.settle()
    assert "已受理" in pinned_text(h, B1)

    for command in ("/fixed 1 换了灯泡", "/confirm 1", "/decline 2 agency 物业 属于物业维修范围"):
        h.say(B1, HEAD_WANG, command)
        await h.settle()
    assert "没有未办结" in pinned_text(h, B1)
    assert h.api.pinned(B1) == wall_id
    assert not [e for e in h.api.errors if "not modified" in e.description]
    walls_posted = [r for r in h.api.sent if r.chat_id == B1 and r.method == "pinChatMessage"]
    assert len(walls_posted) == 1


async def test_without_pin_rights_the_group_is_told_once_and_wall_still_works(h: Harness) -> None:
    h.api.set_bot_can_pin(B2, False)
    h.say(B2, MS_CHEN, "/report 垃圾桶满了")
    await h.reply(B2, "置顶")
    h.say(B2, MS_CHEN, "/report 门禁坏了")
    await h.reply(B2, "#2")
    await h.settle()
    warnings = [r for r in h.api.sent if r.chat_id == B2 and "置顶" in (r.text or "")]
    assert len(warnings) == 1
    h.say(B2, HEAD_ZHAO, "/wall")
    wall = await h.reply(B2, "问题墙")
    assert "#1" in wall.text and "#2" in wall.text


async def test_a_busy_building_gets_one_wall_edit_a_second_not_one_per_report(
    api: LocalBotAPI, start_bot: Callable[..., Any]
) -> None:
    """With production's pacing of walls (ECHOWALL_WALL_SECONDS=1), the first report shows on
    the wall at once and a burst of reports folds into few edits; the last one shows all."""
    running = await start_bot(wall_seconds=1)
    h = Harness(api, running.config.data_dir, running.config.framework)
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(B1, "#1")
    await h.settle()
    wall_id = h.api.pinned(B1)
    assert wall_id is not None and "#1" in pinned_text(h, B1)

    mark = api.last_seq
    for n in range(12):
        api.user_message(B1, (AUNT_ZHANG, UNCLE_LI)[n % 2], f"/report 第{n}个问题")
    await api.wait_for(lambda r: r.chat_id == B1 and "#13" in (r.text or ""), timeout=20)
    await asyncio.sleep(1.5)  # the folded edit comes within a second of the last change
    await h.settle()
    text = pinned_text(h, B1)
    assert all(f"#{n}" in text for n in range(1, 14)), text
    edits = [
        r
        for r in api.sent
        if r.seq > mark and r.method == "editMessageText" and r.message_id == wall_id
    ]
    # One edit per second of the burst at most: far fewer than the 12 reports.
    assert 1 <= len(edits) <= 4, len(edits)
    assert h.api.pinned(B1) == wall_id


async def test_a_wall_waiting_for_its_second_is_refreshed_on_stop(
    api: LocalBotAPI, start_bot: Callable[..., Any]
) -> None:
    running = await start_bot(wall_seconds=60)
    h = Harness(api, running.config.data_dir, running.config.framework)
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(B1, "#1")
    await h.settle()
    h.say(B1, UNCLE_LI, "/report 电梯异响")
    await h.reply(B1, "#2")
    await h.settle()
    assert "#2" not in pinned_text(h, B1)  # its minute has not passed
    await start_bot.stop_all()  # type: ignore[attr-defined]
    assert "#2" in pinned_text(h, B1)
