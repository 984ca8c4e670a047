"""The person responsible for a case, and chasing: /assign, the reminder before a deadline,
the check's deadline, asking a reporter once more for a rating, /mine for heads and staff.

Driven through the core against the recording messenger and a pinned clock
(`tests.coreworld`); the same scenarios run end to end in `tests/test_e2e_cases.py`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from handlers import admin, overdue
from handlers.incoming import ChatRef, Quoted
from storage.records import Admission, Group, Level, Rating, State
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
from tests.coreworld import ANONYMOUS, CHATS, PEOPLE, CoreWorld, into, shown


def quoting(person_id: int, text: str = "这件我来办") -> Quoted:
    return Quoted(900 + person_id, PEOPLE[person_id], text)


async def sweep(w: CoreWorld) -> overdue.SweepResult:
    result = overdue.sweep(w.svc)
    await w.parts.deliver()
    return result


# --- /assign -------------------------------------------------------------------------------


async def test_assign_as_a_reply_names_the_head_who_gets_the_case_privately(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    in_b1 = len(into(w, B1))
    message = await w.say(STAFF, WORKER_LIU, "/assign 1", reply_to=quoting(HEAD_WANG))
    case = w.repo.get_case(1)
    assert case is not None and (case.assignee_id, case.assignee_name) == (HEAD_WANG, "王楼长")
    assert case.timeline[-1].action == "assign" and case.timeline[-1].note == "王楼长"
    (answer,) = [shown(a) for a in w.replies_to(message)]
    # 王楼长 never wrote to the bot privately: the answer carries the link that opens the chat.
    assert answer.splitlines() == [
        "📌 诉求 #1：负责人为王楼长。",
        "王楼长，请打开 https://t.me/echowall_bot?start=case_1 并点击“开始”，"
        "即可私信接收这件诉求和到期提醒。",
    ]
    (notice,) = into(w, HEAD_WANG)
    assert notice.startswith("📌 刘社工指定您为诉求 #1 的负责人。")
    assert "楼道灯坏了" in notice and "反映人：张阿姨" in notice
    assert len(into(w, B1)) == in_b1  # the building group is not told

    # He opens the link: the case is the answer, and the bot knows it may write to him.
    opened = await w.say(HEAD_WANG, HEAD_WANG, "/start case_1")
    (card, *_) = [shown(a) for a in w.replies_to(opened)]
    assert "诉求 #1" in card and "负责人：王楼长" in card
    person = w.repo.get_person(HEAD_WANG)
    assert person is not None and person.private is True

    # The card and /case show who.
    await w.say(B1, UNCLE_LI, "/case 1")
    assert "负责人：王楼长" in into(w, B1)[-1]


async def test_assign_by_mention_by_username_and_me(w: CoreWorld) -> None:
    await w.say(B2, MS_CHEN, "/report 电梯异响")
    zhao = replace(PEOPLE[HEAD_ZHAO], username="Zhao_LZ")
    await w.handle(w.message(CHATS[B2], zhao, "收到，我去看看"))
    await w.say(STAFF, WORKER_LIU, "/assign 1 @zhao_lz")
    case = w.repo.get_case(1)
    assert case is not None and case.assignee_id == HEAD_ZHAO

    mention = w.message(CHATS[STAFF], PEOPLE[WORKER_LIU], "/assign 1 王楼长")
    await w.handle(replace(mention, mentions=(PEOPLE[HEAD_WANG],)))
    case = w.repo.get_case(1)
    # 王楼长 heads building 1, not building 2: he cannot answer for its case.
    assert case is not None and case.assignee_id == HEAD_ZHAO
    assert "不是林溪苑2号楼的楼栋长" in shown(w.replies_to(mention)[0])

    await w.say(STAFF, WORKER_LIU, "/assign 1 我")
    case = w.repo.get_case(1)
    assert case is not None and (case.assignee_id, case.assignee_name) == (WORKER_LIU, "刘社工")
    assert into(w, WORKER_LIU) == []  # naming oneself sends oneself nothing


@pytest.mark.parametrize(
    ("who", "typed", "reply", "needle"),
    [
        ("staff", "/assign 1", None, "指定谁？请回复其消息发送 /assign 1"),
        ("staff", "/assign 1 @nobody", None, "还不认识@nobody"),
        ("staff", "/assign 1 王", None, "“王”不是人名"),
        ("staff", "/assign 1", AUNT_ZHANG, "张阿姨不是林溪苑1号楼的楼栋长，也不是社区工作人员"),
        ("staff", "/assign 9 me", None, "没有诉求 #9"),
        ("anonymous", "/assign 1 me", None, "匿名管理员不能担任负责人"),
        ("resident", "/assign 1 me", None, "只有本楼栋长和社区工作人员"),
    ],
)
async def test_a_bad_assignment_is_answered_and_changes_nothing(
    w: CoreWorld, who: str, typed: str, reply: int | None, needle: str
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    before = w.repo.get_case(1)
    quoted = quoting(reply) if reply is not None else None
    if who == "anonymous":
        message = w.message(CHATS[B1], ANONYMOUS, typed, sender_chat_id=B1)
        await w.handle(message)
    elif who == "resident":
        message = await w.say(B1, UNCLE_LI, typed)
    else:
        message = await w.say(STAFF, WORKER_LIU, typed, reply_to=quoted)
    answers = [shown(a) for a in w.replies_to(message)]
    assert any(needle in a for a in answers), answers
    assert w.repo.get_case(1) == before


async def test_whoever_accepts_is_responsible_until_someone_is_named(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, HEAD_WANG, "/accept 1 easy")
    case = w.repo.get_case(1)
    assert case is not None and case.assignee_id == HEAD_WANG
    await w.say(STAFF, WORKER_LIU, "/assign 1 me")
    await w.say(B1, HEAD_WANG, "/progress 1 已联系电工")
    case = w.repo.get_case(1)
    assert case is not None and case.assignee_id == WORKER_LIU  # acting does not take it back
    again = await w.say(STAFF, WORKER_LIU, "/assign 1 me")
    assert "已是诉求 #1 的负责人" in shown(w.replies_to(again)[0])


# --- reminders before the deadline ------------------------------------------------------------


async def test_the_person_responsible_is_reminded_privately_before_the_deadline(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, HEAD_WANG, "/accept 1 easy")  # due in one day
    in_b1, in_staff = len(into(w, B1)), len(into(w, STAFF))
    w.clock.advance(hours=21, minutes=59)
    assert (await sweep(w)).reminded == []
    w.clock.advance(minutes=2)  # 1 h 59 min before
    assert (await sweep(w)).reminded == [1]
    (reminder,) = into(w, HEAD_WANG)
    assert reminder.startswith("⏰ 诉求 #1（林溪苑1号楼）承诺 ")
    assert "前办结，还剩 2小时。" in reminder and "楼道灯坏了" in reminder
    assert (len(into(w, B1)), len(into(w, STAFF))) == (in_b1, in_staff)  # not into groups
    assert (await sweep(w)).reminded == []  # once per deadline

    # A new promise is a new deadline: reminded again before it.
    await w.say(B1, HEAD_WANG, "/escalate 1 需要社区协调")  # due in a day from now
    w.clock.advance(hours=22, minutes=30)
    assert (await sweep(w)).reminded == [1]


async def test_cases_nobody_answers_for_are_listed_in_one_staff_notice(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B2, MS_CHEN, "/report 电梯异响")
    staff_before = len(into(w, STAFF))
    groups_before = (len(into(w, B1)), len(into(w, B2)))
    w.clock.advance(hours=22, minutes=30)
    assert sorted((await sweep(w)).reminded) == [1, 2]
    notices = into(w, STAFF)[staff_before:]
    assert len(notices) == 1
    assert notices[0].splitlines()[0].startswith("⏰ 诉求 #1（林溪苑1号楼）须在 ")
    assert notices[0].splitlines()[1].startswith("⏰ 诉求 #2（林溪苑2号楼）须在 ")
    assert (len(into(w, B1)), len(into(w, B2))) == groups_before


async def test_someone_the_bot_cannot_write_to_is_reminded_through_the_staff_chat(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, HEAD_WANG, "/accept 1 easy")
    admin.mark_gone(w.svc, HEAD_WANG)  # Telegram refused a message to him (403)
    person = w.repo.get_person(HEAD_WANG)
    assert person is not None and person.private is False
    w.clock.advance(hours=23)
    assert (await sweep(w)).reminded == [1]
    assert into(w, HEAD_WANG) == []
    assert into(w, STAFF)[-1].startswith("⏰ 诉求 #1（林溪苑1号楼）承诺 ")


async def test_no_reminder_before_a_deadline_when_switched_off(tmp_path: Path) -> None:
    w = CoreWorld(tmp_path / "data", remind_before=None)
    try:
        await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
        w.clock.advance(hours=23)
        assert (await sweep(w)).reminded == []
    finally:
        w.close()


# --- the check of a fix has a deadline ---------------------------------------------------------


async def test_a_fix_not_checked_in_time_is_chased_like_any_other_case(w: CoreWorld) -> None:
    report = await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    case = w.repo.get_case(1)
    assert case is not None and case.assignee_id == HEAD_WANG
    assert case.check_due == w.clock() + timedelta(hours=48)
    assert case.deadline() == case.check_due
    await w.say(STAFF, WORKER_LIU, "/case 1")
    assert "验收时限：" in into(w, STAFF)[-1]

    w.clock.advance(hours=46, minutes=30)
    assert (await sweep(w)).reminded == [1]
    assert "须在 " in into(w, HEAD_WANG)[-1] and "前验收" in into(w, HEAD_WANG)[-1]
    w.clock.advance(hours=2)
    assert (await sweep(w)).flagged == [1]
    assert into(w, STAFF)[-1].startswith("⚠️ 诉求 #1（林溪苑1号楼）已超期")
    assert into(w, HEAD_WANG)[-1].startswith("⚠️ 您负责的诉求 #1 已超期")
    w.clock.advance(hours=24)
    assert (await sweep(w)).escalated == [1]
    case = w.repo.get_case(1)
    assert case is not None and case.level is Level.COMMUNITY and case.state is State.FIXED
    assert case.overdue_since is None and case.check_due is not None
    assert case.check_due > w.clock()
    echo = shown(w.replies_to(report)[-1])
    assert echo.startswith("⬆️ 诉求 #1 已上报至社区层级，将于 ") and echo.endswith("前完成验收。")
    await w.say(B1, HEAD_WANG, "/confirm 1")
    w.clock.advance(days=5)
    result = await sweep(w)
    assert (result.flagged, result.escalated, result.reminded) == ([], [], [])


# --- asking for a rating once more ---------------------------------------------------------------


async def test_a_reporter_who_has_not_rated_is_asked_once_more_after_a_day(w: CoreWorld) -> None:
    report = await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    await w.say(B1, HEAD_WANG, "/confirm 1")
    w.clock.advance(hours=23)
    assert (await sweep(w)).asked_to_rate == []
    w.clock.advance(hours=1)
    assert (await sweep(w)).asked_to_rate == [1]
    asked = w.messenger.sent[-1]
    assert asked.chat_id == B1 and asked.reply_to == report.message_id
    assert shown(asked.text).startswith("🔔 诉求 #1 已于 ")
    assert [b.data for row in asked.keyboard or () for b in row] == [
        "c1:rate:1:s",
        "c1:rate:1:b",
        "c1:rate:1:u",
    ]
    w.clock.advance(days=1)
    assert (await sweep(w)).asked_to_rate == []  # once only

    # Unrated, it shows in the figures; a press on the question records the rating.
    stats = await w.say(STAFF, WORKER_LIU, "/stats")
    assert "已评价 0 件 · 待评价 1 件" in shown(w.replies_to(stats)[0])
    await w.press(B1, AUNT_ZHANG, "c1:rate:1:s")
    case = w.repo.get_case(1)
    assert case is not None and case.rating is Rating.SATISFIED


async def test_the_question_goes_privately_to_a_reporter_who_writes_to_the_bot(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(AUNT_ZHANG, AUNT_ZHANG, "/mine")
    await w.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    in_b1 = len(into(w, B1))
    w.clock.advance(hours=25)
    assert (await sweep(w)).asked_to_rate == [1]
    assert len(into(w, B1)) == in_b1
    assert into(w, AUNT_ZHANG)[-1].startswith("🔔 诉求 #1 已于 ")


async def test_no_question_in_quiet_hours_nor_for_a_rated_or_offline_case(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 电梯异响")
    await w.say(STAFF, WORKER_LIU, "/log 1号楼 信箱 路灯不亮")
    for case_id in (1, 2, 3):
        await w.say(B1, HEAD_WANG, f"/fixed {case_id} 修好了")
    await w.press(B1, UNCLE_LI, "c1:rate:2:s")
    w.clock.advance(hours=37)  # 23:00 in Beijing
    assert (await sweep(w)).asked_to_rate == []
    w.clock.advance(hours=8, minutes=30)  # 07:30
    assert (await sweep(w)).asked_to_rate == [1]


# --- /mine for heads and staff -----------------------------------------------------------------


async def test_mine_lists_what_a_head_answers_for_overdue_first(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 电梯异响")
    await w.say(B1, AUNT_ZHANG, "/report 垃圾没清")
    await w.say(B1, HEAD_WANG, "/accept 1 hard")
    await w.say(B1, HEAD_WANG, "/accept 2 easy")
    await w.say(STAFF, WORKER_LIU, "/assign 3", reply_to=quoting(HEAD_WANG))
    w.clock.advance(days=1, hours=1)  # #2 (easy) and #3 (unanswered) are overdue now
    await sweep(w)
    mine = await w.say(HEAD_WANG, HEAD_WANG, "/mine")
    text = shown(w.replies_to(mine)[0])
    lines = [line for line in text.splitlines() if line.lstrip().startswith(("🆕", "🛠"))]
    assert [line.split("#")[1].split()[0] for line in lines] == ["2", "3", "1"]
    assert text.startswith("📌 您负责的诉求：3 件办理中")
    assert "前办结" in text and "前答复" in text
    # A resident's /mine is her own reports, as before.
    hers = await w.say(B1, AUNT_ZHANG, "/mine")
    assert shown(w.replies_to(hers)[0]).startswith("📋 ")


async def test_the_overdue_notice_goes_to_the_person_named_not_who_accepted(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, HEAD_WANG, "/accept 1 easy")
    await w.say(STAFF, WORKER_LIU, "/assign 1 me")
    w.clock.advance(days=1, minutes=1)
    assert (await sweep(w)).flagged == [1]
    assert into(w, WORKER_LIU)[-1].startswith("⚠️ 您负责的诉求 #1 已超期")
    assert not any(t.startswith("⚠️") for t in into(w, HEAD_WANG))


# --- admission: only admitted buildings are chased ----------------------------------------------


async def test_a_retired_building_is_neither_chased_nor_listed_nor_echoed_into(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 电梯异响")
    await w.say(B2, MS_CHEN, "/report 垃圾没清")
    await w.say(B1, HEAD_WANG, "/accept 1 easy")
    await w.say(B1, HEAD_WANG, "/fixed 2 修好了")
    await w.say(B2, HEAD_ZHAO, "/accept 3 easy")
    await w.say(STAFF, WORKER_LIU, "/buildings 撤出 1号楼")
    group = w.repo.get_group(B1)
    assert group is not None and group.admission is Admission.RETIRED
    in_b1 = len(into(w, B1))
    private_wang = len(into(w, HEAD_WANG))

    # Building 2 is chased as before; the retired building 1 not at all.
    w.clock.advance(hours=22, minutes=30)
    assert (await sweep(w)).reminded == [3]
    w.clock.advance(hours=2, minutes=35)  # 25 h after the fix: 10:05 next day in Beijing
    result = await sweep(w)
    assert (result.flagged, result.asked_to_rate) == ([3], [])
    w.clock.advance(hours=25)
    assert (await sweep(w)).escalated == [3]
    case = w.repo.get_case(1)
    assert case is not None and case.overdue_since is None and case.level is Level.BUILDING
    assert len(into(w, HEAD_WANG)) == private_wang  # no reminder, no overdue notice

    # His /mine lists no case of the retired building as one he answers for.
    mine = await w.say(HEAD_WANG, HEAD_WANG, "/mine")
    assert not any("您负责的诉求" in shown(a) for a in w.replies_to(mine))

    # Staff still settle its cases from the staff chat; the group it left hears nothing.
    await w.say(STAFF, WORKER_LIU, "/confirm 2")
    case = w.repo.get_case(2)
    assert case is not None and case.state is State.CLOSED
    assert len(into(w, B1)) == in_b1


async def test_mine_is_silent_in_a_group_waiting_for_admission(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, HEAD_WANG, "/accept 1 easy")
    waiting = ChatRef(-1003, "group", "幸福里3号楼")
    w.repo.save_group(Group(chat_id=waiting.id, title="幸福里3号楼", admission=Admission.PENDING))
    mine = w.message(waiting, PEOPLE[HEAD_WANG], "/mine")
    await w.handle(mine)
    assert w.replies_to(mine) == [] and into(w, waiting.id) == []
    # In his building's group, the same command answers.
    answered = await w.say(B1, HEAD_WANG, "/mine")
    assert "您负责的诉求" in shown(w.replies_to(answered)[0])


async def test_mine_in_a_group_leaves_out_an_offline_demand_not_posted_there(
    w: CoreWorld,
) -> None:
    await w.say(STAFF, WORKER_LIU, "/log 1号楼 走访 楼上装修太吵")
    await w.say(STAFF, WORKER_LIU, "/assign 1", reply_to=quoting(HEAD_WANG))
    in_group = await w.say(B1, HEAD_WANG, "/mine")
    assert not any("装修" in shown(a) for a in w.replies_to(in_group))
    privately = await w.say(HEAD_WANG, HEAD_WANG, "/mine")
    assert "装修" in shown(w.replies_to(privately)[0])
    # Posted into the building, it is listed there too.
    await w.say(STAFF, WORKER_LIU, "/publish 1")
    again = await w.say(B1, HEAD_WANG, "/mine")
    assert "装修" in shown(w.replies_to(again)[0])


# --- the staff chat named in Telegram ----------------------------------------------------------


async def test_the_staff_chat_named_with_setstaff_sorts_assigns_and_gets_the_reminders(
    tmp_path: Path,
) -> None:
    """No staff chat configured: an admin names it with /setstaff. The staff card with its
    category row goes there, its members are staff who may be named responsible, and the
    reminders of cases nobody answers for are listed there."""
    w = CoreWorld(tmp_path / "data", staff_chat=None, admins=frozenset({HEAD_ZHAO}))
    try:
        await w.say(STAFF, HEAD_ZHAO, "/setstaff")
        assert w.svc.staff_chat == STAFF
        await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
        await w.say(B1, UNCLE_LI, "/report 垃圾没清")
        (card, *_) = [s for s in w.messenger.sent if s.chat_id == STAFF and "#1" in s.text]
        assert card.keyboard is not None
        assert "💡 公共设施" in [b.text for row in card.keyboard for b in row]
        await w.press(STAFF, WORKER_LIU, "c1:cat:1:env")
        case = w.repo.get_case(1)
        assert case is not None and case.category == "env"
        # 刘社工 is staff by being in that chat (no admin): he may answer for a case.
        await w.say(WORKER_LIU, WORKER_LIU, "/assign 1 me")
        case = w.repo.get_case(1)
        assert case is not None and case.assignee_id == WORKER_LIU
        staff_before = len(into(w, STAFF))
        w.clock.advance(hours=22, minutes=30)
        assert sorted((await sweep(w)).reminded) == [1, 2]
        assert into(w, WORKER_LIU)[-1].startswith("⏰ 诉求 #1")
        (notice,) = into(w, STAFF)[staff_before:]
        assert notice.startswith("⏰ 诉求 #2") and "#1" not in notice
    finally:
        w.close()


async def test_the_person_responsible_gets_the_same_deep_link_as_the_staff_card(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    (card, *_) = [s for s in w.messenger.sent if s.chat_id == STAFF and "#1" in s.text]
    link = "https://t.me/echowall_bot?start=case_1"
    assert f'href="{link}"' in card.text  # the card's "open privately"
    answer = await w.say(STAFF, WORKER_LIU, "/assign 1", reply_to=quoting(HEAD_WANG))
    assert link in shown(w.replies_to(answer)[0])
    # A link of the form sent before (`c1`) still opens the case.
    opened = await w.say(HEAD_WANG, HEAD_WANG, "/start c1")
    assert "负责人：王楼长" in shown(w.replies_to(opened)[0])
