"""End to end, on both frameworks: the residents' forum (小板凳座谈会) and its published count
(issue part 5).

王楼长 plans tonight's forum; during it opinions are logged against it — one answered on the
spot in one step, others to follow up (posted into the building when staff choose, like any
offline demand), one marked answered on the spot from its staff card;
after it the staff chat gets the tally in the seeds' form and the next agenda in one message,
edited as opinions are solved; a day later 王楼长 is reminded to log what remains. The clock
is pinned; each step counts what it cost the building group.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localapi import LocalBotAPI
from storage.records import State
from tests.conftest import B1, HEAD_WANG, STAFF, UNCLE_LI, WORKER_LIU, Harness
from tests.fakes import FakeClock
from tests.test_e2e_cases import no_bad_requests, sent_since, stored


async def test_a_forums_opinions_are_logged_tallied_and_followed_up(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    clock = FakeClock(datetime(2026, 11, 18, 2, 0, tzinfo=UTC))  # Wednesday 10:00 in Beijing
    bot = await start_bot(clock=clock)
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, HEAD_WANG, "/event 2026-11-18 19:00 小板凳座谈会 #forum @ 林溪苑广场")
    await h.reply(B1, "E1", "小板凳座谈会")
    await h.settle()
    clock.advance(hours=9, minutes=20)  # 19:20, during the forum

    # Answered on the spot, in one step: one answer, no acknowledgement of a case.
    mark = api.last_seq
    h.say(B1, HEAD_WANG, "/opinion 楼道灯坏了 当场答复：已通知物业今晚更换")
    await h.reply(B1, "🪑 座谈会 E1 的意见 #1：已当场答复。")
    await h.settle()
    assert len(sent_since(h, B1, mark)) == 1
    # To follow up: like any offline demand, a staff card; the building is shown it only
    # when staff post it (/publish).
    h.say(B1, HEAD_WANG, "/opinion 东门路面坑洼")
    await h.reply(B1, "🪑 座谈会 E1 的意见 #2 已登记（林溪苑1号楼）。")
    await h.reply(STAFF, "#2", "东门路面坑洼")
    h.say(STAFF, WORKER_LIU, "/opinion E1 希望增加健身器材")
    card = await h.reply(STAFF, "#3", "希望增加健身器材")
    # A resident may not log one.
    h.say(B1, UNCLE_LI, "/opinion 我也有意见")
    await h.reply(B1, "只有本楼栋长和社区工作人员")
    await h.settle()
    # #3 was answered there after all: one press on its card, edited; nothing in the group.
    mark = api.last_seq
    toast = await h.answer_to(h.press(card, WORKER_LIU, "当场答复"))
    assert toast["text"] == "诉求 #3：已当场答复。"
    await h.settle()
    edited = api.message(STAFF, card.message_id or 0)
    assert edited is not None and "已在居民座谈会上当场答复" in edited["text"]
    assert sent_since(h, B1, mark) == []

    # After the forum: its tally and the next agenda, in one staff message.
    clock.advance(hours=1, minutes=45)
    h.mark = api.last_seq
    result = await bot.runtime.forums()
    assert result.tallied == ["1:202611181100"]
    tally = await h.reply(STAFF, "收集意见 3 条：当场答复 2 条，协调解决 0 条，正在办理 1 条。")
    assert "下次座谈会议程" in (tally.text or "") and "#2" in (tally.text or "")
    await h.settle()
    # Solved through coordination: the same message is edited.
    h.say(STAFF, WORKER_LIU, "/publish 2")
    await h.reply(B1, "#2", "东门路面坑洼")
    h.say(STAFF, WORKER_LIU, "/accept 2 hard")
    await h.reply(B1, "#2", "已受理")
    h.say(STAFF, WORKER_LIU, "/fixed 2 已修补路面")
    await h.reply(B1, "#2", "已修补路面")
    h.say(STAFF, WORKER_LIU, "/confirm 2")
    await h.reply(B1, "#2", "回音壁")
    await h.settle()
    now = api.message(STAFF, tally.message_id or 0)
    assert now is not None
    assert "收集意见 3 条：当场答复 2 条，协调解决 1 条，正在办理 0 条。" in now["text"]
    assert (await bot.runtime.forums()).tallied == []

    # A day after: the organiser is reminded, privately, to log what remains.
    clock.advance(hours=22)
    h.mark = api.last_seq
    assert (await bot.runtime.forums()).reminded == ["1:202611181100"]
    reminder = await h.reply(HEAD_WANG, "座谈会纪要提醒", "/opinion E1")
    assert "已登记意见 3 条" in (reminder.text or "")
    no_bad_requests(h)
    await start_bot.stop_all()  # type: ignore[attr-defined]
    spot = stored(h.data_dir, 1)
    assert (spot.state, spot.on_spot, spot.forum_id) == (State.CLOSED, True, 1)
    assert stored(h.data_dir, 2).on_spot is False
