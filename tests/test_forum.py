"""The residents' forum (小板凳座谈会): opinions logged against it (answered on the spot in one
step, or followed up), its tally in the seeds' form kept up to date in one staff message, the
agenda for the next forum, and the minutes reminder a day after.

Driven through the core against the recording messenger (`tests.coreworld`); the same
scenario runs end to end in `tests/test_e2e_forum.py`.
"""

from __future__ import annotations

from dataclasses import replace

from handlers import forum
from storage.records import Channel, State
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    HEAD_WANG,
    HEAD_ZHAO,
    MS_CHEN,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
)
from tests.coreworld import CoreWorld, case_of, shown

B2_RESIDENT = MS_CHEN


async def sweep(w: CoreWorld) -> forum.ForumSweep:
    with w.repo.transaction():
        result = forum.sweep(w.svc)
    await w.parts.deliver()
    return result


def latest_text(w: CoreWorld, chat_id: int, message_id: int) -> str:
    text = next(
        s.text for s in w.messenger.sent if (s.chat_id, s.message_id) == (chat_id, message_id)
    )
    for chat, message, edited, _keyboard in w.messenger.edits:
        if (chat, message) == (chat_id, message_id):
            text = edited
    return shown(text)


async def forum_tonight(w: CoreWorld) -> None:
    """王楼长 plans tonight's forum for building 1 (19:00); it is 19:30 now."""
    await w.say(B2, HEAD_ZHAO, "大家好")
    await w.say(B1, HEAD_WANG, "/event 2026-11-18 19:00 小板凳座谈会 #forum @ 林溪苑广场")
    w.clock.advance(hours=9, minutes=30)


async def test_opinions_are_logged_against_the_forum_and_tallied_in_the_seeds_form(
    w: CoreWorld,
) -> None:
    await forum_tonight(w)
    before_b1 = sum(1 for s in w.messenger.sent if s.chat_id == B1)
    # Answered on the spot, in one step: closed at once, no acknowledgement in the group.
    message = await w.say(B1, HEAD_WANG, "/opinion 楼道灯坏了 当场答复：已通知物业今晚更换")
    assert shown(w.replies_to(message)[-1]) == "🪑 座谈会 E1 的意见 #1：已当场答复。"
    spot = case_of(w, 1)
    assert (spot.state, spot.on_spot, spot.channel) == (State.CLOSED, True, Channel.FORUM)
    assert (spot.forum_id, spot.measure) == (1, "已通知物业今晚更换")
    assert sum(1 for s in w.messenger.sent if s.chat_id == B1) == before_b1 + 1
    # To follow up: acknowledged in the group, a card for staff with "answered on the spot".
    await w.say(B1, HEAD_WANG, "/opinion 东门路面坑洼")
    await w.say(STAFF, WORKER_LIU, "/opinion E1 希望增加健身器材")
    await w.say(STAFF, WORKER_LIU, "/log 1号楼 座谈会 垃圾分类点太远")
    assert [case_of(w, i).forum_id for i in (2, 3, 4)] == [1, 1, 1]
    assert case_of(w, 2).state is State.NEW
    # One is answered on the spot from its staff card, after all.
    card = case_of(w, 4).staff_message_id
    press = replace(w.press_event(STAFF, WORKER_LIU, "c1:spot:4"), message_id=card)
    await w.handle(press)
    assert w.answer_to(press) == ("诉求 #4：已当场答复。", False)
    assert (case_of(w, 4).state, case_of(w, 4).on_spot) == (State.CLOSED, True)
    # #2 is solved through coordination, #3 still in progress.
    await w.say(STAFF, WORKER_LIU, "/accept 2 hard")
    await w.say(STAFF, WORKER_LIU, "/fixed 2 已修补路面")
    await w.say(STAFF, WORKER_LIU, "/confirm 2")
    await w.say(STAFF, WORKER_LIU, "/accept 3")

    # The forum ends (two hours): the staff chat gets its tally and the next agenda, once.
    w.clock.advance(hours=2)
    result = await sweep(w)
    assert result.tallied == ["1:202611181100"] and result.reminded == []
    event = w.repo.get_event(1)
    assert event is not None and list(event.tallies) == ["202611181100"]
    tally_id = event.tallies["202611181100"]
    text = latest_text(w, STAFF, tally_id)
    assert "收集意见 4 条：当场答复 2 条，协调解决 1 条，正在办理 1 条。" in text
    assert "其中正在协调 1 条，待答复 0 条。" in text
    assert "下次座谈会议程" in text and "#3" in text
    assert (await sweep(w)).tallied == []

    # A later change edits the same message.
    await w.say(STAFF, WORKER_LIU, "/fixed 3 已采购")
    await w.say(STAFF, WORKER_LIU, "/confirm 3")
    text = latest_text(w, STAFF, tally_id)
    assert "收集意见 4 条：当场答复 2 条，协调解决 2 条，正在办理 0 条。" in text

    # A day after: 王楼长, who planned it, is reminded privately to log what remains.
    w.clock.advance(hours=22)
    result = await sweep(w)
    assert result.reminded == ["1:202611181100"]
    reminder = next(s for s in reversed(w.messenger.sent) if s.chat_id == HEAD_WANG)
    assert "座谈会纪要" in shown(reminder.text) and "/opinion E1" in shown(reminder.text)
    assert (await sweep(w)).reminded == []


async def test_the_agenda_puts_the_most_supported_and_hard_cases_first(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 电梯经常停运")
    await w.say(B1, UNCLE_LI, "/report 垃圾没人清")
    await w.say(B1, AUNT_ZHANG, "/report 楼道堆物")
    await w.press(B1, UNCLE_LI, "c1:too:1")
    await w.say(STAFF, WORKER_LIU, "/accept 3 hard")
    await forum_tonight(w)
    event = w.repo.get_event(1)
    assert event is not None
    assert [c.id for c in forum.agenda(w.svc, event)] == [1, 3, 2]


async def test_an_opinion_without_a_forum_or_with_bad_words_changes_nothing(
    w: CoreWorld,
) -> None:
    await w.say(B2, HEAD_ZHAO, "大家好")
    await w.say(B1, HEAD_WANG, "/event 2026-11-18 19:00 议事会")  # no #forum
    mistakes = [
        (B1, HEAD_WANG, "/opinion 楼道灯坏了", "三天内没有座谈会"),
        (B1, HEAD_WANG, "/opinion E1 楼道灯坏了", "E1 不是居民座谈会"),
        (B1, HEAD_WANG, "/opinion E9 楼道灯坏了", "没有活动 E9"),
        (STAFF, WORKER_LIU, "/opinion 楼道灯坏了", "“楼道灯坏了”不是一个楼栋"),
        (B1, UNCLE_LI, "/opinion 楼道灯坏了", "只有本楼栋长和社区工作人员"),
        (B2, B2_RESIDENT, "/opinion E1 楼道灯坏了", "只有本楼栋长和社区工作人员"),
    ]
    w.clock.advance(hours=10)

    async def answered(mistakes: list[tuple[int, int, str, str]]) -> None:
        for chat, user, text, needle in mistakes:
            message = await w.say(chat, user, text)
            replies = w.replies_to(message)
            assert replies and needle in shown(replies[-1]), (text, replies)

    await answered(mistakes)
    await w.say(B1, HEAD_WANG, "/event 2026-11-18 20:30 小板凳座谈会 #forum")
    w.clock.advance(hours=1)
    await answered(
        [
            (B1, HEAD_WANG, "/opinion", "缺少意见内容"),
            (B1, HEAD_WANG, "/opinion 路灯 当场答复：", "当场答复了什么"),
            (B2, HEAD_ZHAO, "/opinion E2 路灯", "座谈会 E2 不是为林溪苑2号楼举办的"),
        ]
    )
    assert list(w.repo.all_cases()) == []


async def test_a_forum_with_no_opinion_gets_a_tally_that_says_how_to_log_one(
    w: CoreWorld,
) -> None:
    await forum_tonight(w)
    w.clock.advance(hours=2)
    assert (await sweep(w)).tallied == ["1:202611181100"]
    event = w.repo.get_event(1)
    assert event is not None
    text = latest_text(w, STAFF, event.tallies["202611181100"])
    assert "收集意见 0 条" in text and "/opinion E1" in text


async def test_forum_opinions_count_in_the_figures_as_forum_cases(w: CoreWorld) -> None:
    from handlers import ledger

    await forum_tonight(w)
    await w.say(B1, HEAD_WANG, "/opinion 楼道灯坏了 当场答复：已更换")
    await w.say(B1, HEAD_WANG, "/opinion 东门路面坑洼")
    figures = ledger.tally(w.repo.all_cases(), ledger.all_time(), w.clock())
    forum_counts = figures.by_channel[Channel.FORUM]
    assert (forum_counts.received, forum_counts.closed, forum_counts.open) == (2, 1, 1)


async def test_log_forum_links_the_opinion_and_says_where_it_is_shown(w: CoreWorld) -> None:
    await forum_tonight(w)
    message = await w.say(WORKER_LIU, WORKER_LIU, "/log 1号楼 座谈会 垃圾分类点太远")
    answer = shown(w.replies_to(message)[-1])
    assert "#1" in answer and "/publish 1" in answer
    message = await w.say(WORKER_LIU, WORKER_LIU, "/log 1号楼 座谈会 路灯暗 当场答复：已报修")
    answer = shown(w.replies_to(message)[-1])
    assert "#2" in answer and "/publish" not in answer
    assert (case_of(w, 1).forum_id, case_of(w, 2).on_spot) == (1, True)
