"""End to end: the case lifecycle through the real framework stack and the local Bot API."""

from __future__ import annotations

import pytest

from storage.records import State
from storage.tinydb_store import TinyRepository
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    ESCALATION,
    HEAD_WANG,
    HEAD_ZHAO,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    Harness,
)


def no_bad_requests(h: Harness) -> None:
    """The bot's own formatting never made the server refuse a call."""
    bad = [e for e in h.api.errors if e.code == 400 and "not modified" not in e.description]
    assert not bad, bad


async def test_resident_report_is_acknowledged_and_staff_get_buttons(h: Harness) -> None:
    report = h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    ack = await h.reply(B1, "#1")
    assert ack.reply_to_message_id == report["message_id"]
    assert "楼道灯坏了" in ack.text
    labels = [b["text"] for row in ack.reply_markup["inline_keyboard"] for b in row]
    assert any("(0)" in label for label in labels)
    card = await h.reply(STAFF, "#1")
    staff_buttons = [
        b["callback_data"] for row in card.reply_markup["inline_keyboard"] for b in row
    ]
    assert staff_buttons[:3] == ["c1:acc:1", "c1:dec:1", "c1:esc:1"]
    # Then the category row, the one the report's words suggest pre-selected.
    assert staff_buttons[3:] == [f"c1:cat:1:{c}" for c in ("env", "facility", "property",
                                 "dispute", "safety", "welfare", "service")]  # fmt: skip
    assert "💡 公共设施" in [b["text"] for row in card.reply_markup["inline_keyboard"] for b in row]
    assert "张阿姨" in card.text
    no_bad_requests(h)


async def test_whole_lifecycle_from_report_to_echo_wall(h: Harness) -> None:
    report = h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(STAFF, "#1")

    h.say(B1, HEAD_WANG, "/accept 1 key 2d")
    accepted = await h.reply(B1, "#1", "重点件")
    assert accepted.reply_to_message_id == report["message_id"]

    h.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    fixed = await h.reply(B1, "#1", "换了灯泡")
    assert fixed.reply_to_message_id == report["message_id"]
    press = h.press(fixed, AUNT_ZHANG, "满意")
    answer = await h.answer_to(press)
    assert "感谢" in answer["text"]

    h.say(B1, HEAD_WANG, "/confirm 1")
    entry = await h.reply(B1, "#1", "换了灯泡")
    assert "满意" in entry.text

    h.say(B1, AUNT_ZHANG, "/echo")
    echo = await h.reply(B1, "回音壁")
    assert "#1" in echo.text and "换了灯泡" in echo.text

    h.say(B1, AUNT_ZHANG, "/wall")
    wall = await h.reply(B1, "问题墙")
    assert "#1" not in wall.text

    h.say(B1, AUNT_ZHANG, "/case 1")
    case = await h.reply(B1, "#1", "办理过程")
    for step in ("受理", "办结", "评价"):
        assert step in case.text
    no_bad_requests(h)


async def test_second_resident_cannot_mark_someone_elses_case_fixed(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 电梯异响")
    await h.reply(B1, "#1")
    h.say(B1, UNCLE_LI, "/fixed 1 我修好了")
    refusal = await h.reply(B1, "楼栋长")
    assert "#1" in refusal.text
    await h.settle()
    repo = TinyRepository(h.data_dir)
    try:
        case = repo.get_case(1)
        assert case is not None and case.state is State.NEW and case.measure is None
    finally:
        repo.close()


async def test_resident_pressing_a_staff_button_is_refused(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 垃圾没清")
    card = await h.reply(STAFF, "#1")
    press = h.press(card, UNCLE_LI, "受理")
    answer = await h.answer_to(press)
    assert answer["show_alert"] and "楼栋长" in answer["text"]
    h.say(B1, AUNT_ZHANG, "/case 1")
    shown = await h.reply(B1, "#1")
    assert "待受理" in shown.text


async def test_staff_accept_button_and_head_of_other_building_refused(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 门禁坏了")
    card = await h.reply(STAFF, "#1")
    h.say(B2, HEAD_ZHAO, "/accept 1")
    await h.reply(B2, "楼栋长")
    press = h.press(card, WORKER_LIU, "受理")
    assert "受理" in (await h.answer_to(press))["text"]
    await h.reply(B1, "#1", "已受理")
    await h.settle()
    edited = h.api.message(STAFF, card.message_id)
    assert edited is not None and "已受理" in edited["text"]


async def test_unsatisfied_rating_reopens_and_only_the_reporter_counts(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 水管漏水")
    await h.reply(B1, "#1")
    h.say(B1, HEAD_WANG, "/fixed 1 拧紧了阀门")
    notice = await h.reply(B1, "拧紧了阀门")
    other = h.press(notice, UNCLE_LI, "不满意")
    assert "只有" in (await h.answer_to(other))["text"]
    mine = h.press(notice, AUNT_ZHANG, "不满意")
    await h.answer_to(mine)
    await h.reply(B1, "#1", "重新")
    await h.reply(STAFF, "#1", "不满意")
    h.say(B1, AUNT_ZHANG, "/wall")
    wall = await h.reply(B1, "问题墙")
    assert "#1" in wall.text


async def test_photo_caption_report_reaches_staff_as_photo(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, photo=True, caption="/report 墙皮脱落")
    await h.reply(B1, "#1", "墙皮脱落")
    card = await h.reply(STAFF, "#1", method="sendPhoto")
    assert card.photo


async def test_reply_with_report_logs_the_neighbours_message(h: Harness) -> None:
    original = h.say(B1, AUNT_ZHANG, "三楼的灯又不亮了")
    h.say(B1, UNCLE_LI, "/report", reply_to=original["message_id"])
    ack = await h.reply(B1, "#1", "三楼的灯又不亮了")
    assert ack.reply_to_message_id == original["message_id"]
    h.say(B1, AUNT_ZHANG, "/mine")
    mine = await h.reply(B1, "#1")
    assert "三楼" in mine.text


async def test_bare_report_explains_usage(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report")
    usage = await h.reply(B1, "/report")
    assert "#" not in usage.text


async def test_me_too_counts_each_neighbour_once(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 楼下噪音")
    card = await h.reply(B1, "#1")
    first = h.press(card, UNCLE_LI, "(0)")
    await h.answer_to(first)
    await h.settle()
    current = h.api.message(B1, card.message_id)
    again = h.press(current, UNCLE_LI, "(1)")
    assert "已经" in (await h.answer_to(again))["text"]
    own = h.press(current, AUNT_ZHANG, "(1)")
    await h.answer_to(own)
    head = h.press(current, HEAD_WANG, "(1)")
    await h.answer_to(head)
    await h.settle()
    current = h.api.message(B1, card.message_id)
    assert current is not None
    labels = [b["text"] for row in current["reply_markup"]["inline_keyboard"] for b in row]
    assert any("(2)" in label for label in labels)


async def test_language_switch_to_english(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/lang en")
    await h.reply(B1, "楼栋长")
    h.say(B1, HEAD_WANG, "/lang en")
    await h.reply(B1, "English")
    h.say(B1, AUNT_ZHANG, "/report The lift is stuck")
    ack = await h.reply(B1, "#1", "case")
    assert "Thank you" in ack.text


async def test_supergroup_migration_keeps_cases_and_settings(h: Harness) -> None:
    h.say(B1, HEAD_WANG, "/building 林溪苑1号楼")
    await h.reply(B1, "林溪苑1号楼")
    h.say(B1, AUNT_ZHANG, "/report 楼道堆物")
    await h.reply(B1, "#1")
    new_id = -1001000000001
    h.api.migrate_to_supergroup(B1, new_id)
    await h.settle()
    h.say(new_id, AUNT_ZHANG, "/wall")
    wall = await h.reply(new_id, "#1")
    assert "楼道堆物" in wall.text
    h.say(new_id, HEAD_WANG, "/accept 1")
    await h.reply(new_id, "#1", "已受理")
    h.say(new_id, AUNT_ZHANG, "/report 新问题")
    ack = await h.reply(new_id, "#2")
    assert "林溪苑1号楼" in ack.text


async def test_commands_addressed_to_other_bots_are_ignored(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report@otherbot 别的机器人")
    h.say(B1, AUNT_ZHANG, "/report@echowall_bot 真正的问题")
    ack = await h.reply(B1, "#1")
    assert "真正的问题" in ack.text
    await h.settle()
    assert not any("别的机器人" in (r.text or "") for r in h.api.sent)


async def test_user_text_is_escaped_in_html(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report <b>灯</b> & <script>x</script> 1<2")
    ack = await h.reply(B1, "#1")
    assert "<script>" in h.api.message(B1, ack.message_id)["text"]
    await h.reply(STAFF, "#1")
    no_bad_requests(h)


async def test_wall_with_150_open_cases_stays_within_limits(h: Harness) -> None:
    for i in range(150):
        h.say(B1, AUNT_ZHANG, f"/report 第{i}号问题：" + "楼道里的灯泡坏了很久没人修" * 4)
    await h.reply(STAFF, "#150", timeout=60)
    await h.settle()
    h.say(B1, AUNT_ZHANG, "/wall")
    await h.reply(B1, "#150", timeout=10)
    await h.settle()
    parts = [r for r in h.api.sent if r.chat_id == B1 and r.seq > h.mark]
    assert len(parts) >= 2
    assert all(len(p.text) <= 4096 for p in parts)
    assert all(f"#{i}" in "".join(p.text for p in parts) for i in range(1, 151))
    no_bad_requests(h)


async def test_private_report_asks_for_the_building(h: Harness) -> None:
    h.say(B1, HEAD_WANG, "大家好")
    h.say(B2, HEAD_ZHAO, "大家好")
    h.say(AUNT_ZHANG, AUNT_ZHANG, "/report 小区大门坏了")
    question = await h.reply(AUNT_ZHANG, "哪个楼栋")
    press = h.press(question, AUNT_ZHANG, "2号楼")
    await h.answer_to(press)
    ack = await h.reply(AUNT_ZHANG, "#1")
    assert "林溪苑2号楼" in ack.text
    await h.reply(STAFF, "#1")


async def test_private_report_goes_straight_to_the_known_building(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "大家好")
    h.say(AUNT_ZHANG, AUNT_ZHANG, "/report 单元门关不上")
    ack = await h.reply(AUNT_ZHANG, "#1")
    assert "林溪苑1号楼" in ack.text
    h.say(B1, HEAD_WANG, "/accept 1")
    echo = await h.reply(AUNT_ZHANG, "#1", "已受理")
    assert echo.chat_id == AUNT_ZHANG


async def test_bot_added_to_a_group_says_it_waits_for_staff(h: Harness) -> None:
    h.api.add_chat(-1003, "group", title="林溪苑3号楼", members=[UNCLE_LI], bot_status="left")
    h.mark = h.api.last_seq
    h.api.add_bot_to_chat(-1003, UNCLE_LI)
    note = await h.reply(-1003, "社区工作人员")
    assert "回音壁" in note.text and "/report" not in note.text
    await h.reply(STAFF, "林溪苑3号楼", "李大爷")


async def test_escalation_reaches_the_escalation_chat(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 外墙脱落有危险")
    await h.reply(B1, "#1")
    h.say(STAFF, WORKER_LIU, "/escalate 1 需要街道协调")
    await h.reply(B1, "#1", "社区")
    esc = await h.reply(ESCALATION, "#1", "需要街道协调")
    assert "外墙脱落" in esc.text


async def test_decline_and_heads_management(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 希望装个秋千")
    await h.reply(B1, "#1")
    h.say(B1, HEAD_WANG, "/decline 1")
    await h.reply(B1, "/decline")
    h.say(B1, HEAD_WANG, "/decline 1 不属于社区办理范围")
    await h.reply(B1, "#1", "不属于社区办理范围")
    appoint = h.say(B1, UNCLE_LI, "我来当楼长")
    h.say(B1, HEAD_WANG, "/sethead", reply_to=appoint["message_id"])
    await h.reply(B1, "李大爷")
    h.say(B1, UNCLE_LI, "/reopen 1 再议")
    await h.reply(B1, "#1", "再议")
    h.say(B1, UNCLE_LI, "/heads")
    heads = await h.reply(B1, "李大爷")
    assert str(UNCLE_LI) in heads.text


async def test_command_menus_registered_in_both_languages(h: Harness) -> None:
    languages = {lang for (_, lang) in h.api.commands}
    assert {"zh", "en"} <= languages
    en = next(v for (scope, lang), v in h.api.commands.items() if lang == "en")
    assert any(c["command"] == "report" for c in en)


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness
