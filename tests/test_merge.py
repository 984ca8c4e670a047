"""One problem, one case: /merge and the staff card's merge button, the "looks like #17"
offer on a new report's acknowledgement, echoes to the merged reporters, the figures, /find.

Driven through the core against the recording messenger (`tests.coreworld`); the same
scenarios run end to end in `tests/test_e2e_merge.py`.
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from openpyxl import load_workbook

from handlers import callbacks, ledger, similar
from handlers.callbacks import Act
from handlers.similar import grams, likeness
from storage.records import State
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
from tests.coreworld import STRANGER, CoreWorld, case_of, into, shown


def latest(w: CoreWorld, chat_id: int, message_id: int) -> tuple[str, list[str]]:
    """A bot message's text and button data as they are now (after its latest edit)."""
    text, keyboard = "", None
    for sent in w.messenger.sent:
        if (sent.chat_id, sent.message_id) == (chat_id, message_id):
            text, keyboard = sent.text, sent.keyboard
    for chat, message, edited, edited_keyboard in w.messenger.edits:
        if (chat, message) == (chat_id, message_id):
            text, keyboard = edited, edited_keyboard
    return shown(text), [b.data for row in keyboard or () for b in row]


# --- similarity ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "alike"),
    [
        ("水管爆了！", "楼下水管爆裂，到处是水", True),
        ("楼道灯坏了", "三楼楼道灯不亮了", True),
        ("The corridor light is broken", "corridor light broken on floor 3", True),
        ("楼道灯坏了", "电梯坏了", False),
        ("楼道灯坏了", "楼道堆放杂物", False),
        ("1号楼水管爆了", "2号楼电梯坏了", False),
        ("", "楼道灯坏了", False),
    ],
)
def test_texts_look_alike_by_their_character_pairs(a: str, b: str, alike: bool) -> None:
    assert (likeness(grams(a), grams(b)) >= 0.5) is alike


# --- the offer on the acknowledgement ------------------------------------------------------------


async def test_a_report_like_an_open_case_is_offered_me_too_on_it_and_merges_at_a_press(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼下水管爆了，到处是水")
    await w.say(B1, HEAD_WANG, "/accept 1")
    before = len(into(w, B1))
    report = await w.say(B1, UNCLE_LI, "/report 水管爆了！")
    assert case_of(w, 2).similar_to == 1
    # The acknowledgement itself is the offer: no message more than a plain report.
    assert len(into(w, B1)) == before + 1
    ack = case_of(w, 2).card_message_id
    assert ack is not None
    text, data = latest(w, B1, ack)
    assert "看起来与诉求 #1 是同一个问题" in text and "楼下水管爆了" in text
    assert data[:3] == ["c1:too:2", "c1:same:2:1", "c1:diff:2"]
    # The staff card shows the likeness, with a merge button.
    card = case_of(w, 2).staff_message_id
    assert card is not None
    staff_text, staff_data = latest(w, STAFF, card)
    assert "疑似与诉求 #1 重复" in staff_text and "c1:mrg:2:1" in staff_data

    # A neighbour may not answer for him.
    press = replace(w.press_event(B1, AUNT_ZHANG, "c1:same:2:1"), message_id=ack)
    await w.handle(press)
    assert w.answer_to(press) == ("只有反映诉求 #2 的居民可以回答。", True)
    assert case_of(w, 2).state is State.NEW

    sent = len(w.messenger.sent)
    press = replace(w.press_event(B1, UNCLE_LI, "c1:same:2:1"), message_id=ack)
    await w.handle(press)
    assert w.answer_to(press) == ("谢谢，已将您计入诉求 #1 的“我也遇到”。", False)
    dup, kept = case_of(w, 2), case_of(w, 1)
    assert (dup.state, dup.merged_into, dup.similar_to) == (State.MERGED, 1, None)
    assert kept.merged == [2] and kept.supporters == [UNCLE_LI]
    assert [s.action for s in dup.timeline][-1] == "merge"
    # Told by the edited acknowledgement: no new message in the group.
    assert [s for s in w.messenger.sent[sent:] if s.chat_id == B1] == []
    text, data = latest(w, B1, ack)
    assert text.startswith("🔗 诉求 #2 已并入诉求 #1") and data == ["c1:anon:2"]
    # The first report's acknowledgement counts him.
    first_ack = case_of(w, 1).card_message_id
    assert first_ack is not None and "1 位邻居也遇到这个问题" in latest(w, B1, first_ack)[0]
    assert report.message_id == dup.origin_message_id


async def test_no_a_new_problem_keeps_the_case_and_removes_the_offer(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 三楼楼道灯不亮了")
    ack = case_of(w, 2).card_message_id
    press = replace(w.press_event(B1, UNCLE_LI, "c1:diff:2"), message_id=ack)
    await w.handle(press)
    assert w.answer_to(press) == ("好的，诉求 #2 单独办理。", False)
    assert (case_of(w, 2).state, case_of(w, 2).similar_to) == (State.NEW, None)
    assert ack is not None
    text, data = latest(w, B1, ack)
    assert "看起来与" not in text and data == ["c1:too:2", "c1:anon:2"]
    # Pressed again (an old copy): nothing more to answer.
    again = replace(w.press_event(B1, UNCLE_LI, "c1:diff:2"), message_id=ack)
    await w.handle(again)
    assert w.answer_to(again) == ("这个问题已经回答过了。", False)


async def test_a_report_unlike_any_open_case_gets_no_offer(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B2, MS_CHEN, "/report 楼道灯坏了")  # another building: not offered
    await w.say(B1, UNCLE_LI, "/report 电梯坏了")
    assert case_of(w, 2).similar_to is None and case_of(w, 3).similar_to is None


async def test_a_report_is_compared_with_the_newest_open_cases_of_its_building_only(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 地下室水管爆了")
    pipe = case_of(w, 1)
    for n in range(2, similar.LOOKBACK + 1):  # the pipe is still among the newest LOOKBACK
        w.repo.save_case(replace(pipe, id=n, text=f"电梯按钮失灵{n}", origin_message_id=None))
    found = similar.lookalike(w.repo, B1, "地下室水管爆裂")
    assert found is not None and found.id == 1
    # One more open case after it, and a backlog no longer costs every new report a scan.
    w.repo.save_case(
        replace(pipe, id=similar.LOOKBACK + 1, text="电梯按钮失灵", origin_message_id=None)
    )
    assert similar.lookalike(w.repo, B1, "地下室水管爆裂") is None


# --- /merge ---------------------------------------------------------------------------------------


async def test_staff_merge_ten_reports_of_a_burst_pipe_into_one_case(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 地下室水管爆了")
    texts = ["楼道漏水", "地下室进水了", "停水了怎么回事", "水管爆裂"]
    for text in texts:
        await w.say(B1, UNCLE_LI, f"/report {text}")
    await w.say(STRANGER, STRANGER, "/report 地下室水管爆了")  # privately: asked the building
    question = next(s for s in reversed(w.messenger.sent) if s.chat_id == STRANGER)
    pick = [b.data for row in question.keyboard or () for b in row if b.data.endswith(str(B1))]
    await w.press(STRANGER, STRANGER, pick[0])
    private = case_of(w, 6)
    assert private.origin_chat_id == STRANGER

    before_b1 = len(into(w, B1))
    for dup in (2, 3, 4, 5, 6):
        await w.say(STAFF, WORKER_LIU, f"/merge {dup} 1")
    kept = case_of(w, 1)
    assert kept.merged == [2, 3, 4, 5, 6]
    assert kept.supporters == [UNCLE_LI, STRANGER]  # each person once
    assert all(case_of(w, i).state is State.MERGED for i in range(2, 7))
    # Each reporter is told in their own thread: four echoes into the group, one privately.
    told = into(w, B1)[before_b1:]
    assert len(told) == 4 and all("已并入诉求 #1" in t for t in told)
    assert any("已并入诉求 #1" in t for t in into(w, STRANGER))

    # Every later step reaches them: the group's echo names them, the private one gets a copy.
    before_b1, before_private = len(into(w, B1)), len(into(w, STRANGER))
    await w.say(STAFF, WORKER_LIU, "/accept 1")
    group_echo = into(w, B1)[before_b1:]
    assert len(group_echo) == 1 and "已受理" in group_echo[0]
    assert "🔔 同时告知：李大爷" in group_echo[0]
    mention = next(s for s in reversed(w.messenger.sent) if s.chat_id == B1)
    assert f'href="tg://user?id={UNCLE_LI}"' in mention.text
    copies = into(w, STRANGER)[before_private:]
    assert len(copies) == 1 and "诉求 #1 已受理" in copies[0]

    # The figures count the problem once; the ledger shows the duplicates as merged.
    figures = ledger.tally(w.repo.all_cases(), ledger.all_time(), w.clock())
    assert figures.overall.received == 1 and figures.overall.accepted == 1
    t = w.svc.texts("zh")
    rows = ledger.ledger_rows(
        w.repo.all_cases(), t, {B1: "1号楼"}, now=w.clock(), tz=w.settings.timezone
    )
    headers = ledger.ledger_headers(t)
    state, progress = headers.index("办理状态"), headers.index("进展情况")
    assert [r[state] for r in rows] == ["已受理", *["已合并"] * 5]
    assert [r[progress] for r in rows] == ["", *["已并入 #1"] * 5]


async def test_merge_refuses_what_cannot_be_merged_and_changes_nothing(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 楼道灯不亮")
    await w.say(B2, MS_CHEN, "/report 楼道灯坏了")
    await w.say(B1, AUNT_ZHANG, "/report 垃圾没人清")
    await w.say(STAFF, WORKER_LIU, "/decline 4 outside")
    before = {c.id: c for c in w.repo.all_cases()}
    cases = [
        ("/merge 2", "要并入哪一件诉求？请在 #2 后写上它的编号。"),
        ("/merge 2 x", "“x”不是诉求编号"),
        ("/merge 2 99", "没有诉求 #99。"),
        ("/merge 2 2", "不能把诉求并入它自己。"),
        ("/merge 2 3", "诉求 #2 和 #3 不属于同一楼栋"),
        ("/merge 2 4", "诉求 #4 不予受理：只能并入未办结的诉求。"),
        ("/merge 4 1", "诉求 #4 当前为“不予受理”：/merge 只能用于"),
    ]
    for command, answer in cases:
        message = await w.say(STAFF, WORKER_LIU, command)
        replies = w.replies_to(message)
        assert replies and answer in shown(replies[-1]), (command, replies)
    # A head of another building, and a resident, may not.
    message = await w.say(B2, HEAD_ZHAO, "/merge 2 1")
    assert "楼栋长" in shown(w.replies_to(message)[-1])
    message = await w.say(B1, UNCLE_LI, "/merge 2 1")
    assert "楼栋长" in shown(w.replies_to(message)[-1])
    assert {c.id: c for c in w.repo.all_cases()} == before


async def test_merging_a_case_others_were_merged_into_moves_them_along(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 水管爆了")
    await w.say(B1, UNCLE_LI, "/report 水管爆裂")
    await w.say(B1, HEAD_WANG, "/report 地下室水管爆了")
    await w.say(B1, HEAD_WANG, "/merge 2 3")
    await w.say(B1, HEAD_WANG, "/merge 3 1")
    assert case_of(w, 1).merged == [3, 2] and case_of(w, 2).merged_into == 1
    assert sorted(case_of(w, 1).supporters) == [UNCLE_LI, HEAD_WANG]


async def test_the_staff_cards_merge_button_merges_with_a_toast_and_an_echo(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 三楼楼道灯坏了")
    card = case_of(w, 2).staff_message_id
    press = replace(w.press_event(STAFF, WORKER_LIU, "c1:mrg:2:1"), message_id=card)
    before = len(into(w, B1))
    await w.handle(press)
    assert w.answer_to(press) == ("诉求 #2 已并入 #1。", False)
    assert case_of(w, 2).state is State.MERGED
    told = into(w, B1)[before:]
    assert len(told) == 1 and "诉求 #2 已并入诉求 #1" in told[0]
    assert card is not None and latest(w, STAFF, card)[1] == []
    # A resident forging it is refused.
    await w.say(B1, AUNT_ZHANG, "/report 垃圾没人清")
    await w.say(B1, UNCLE_LI, "/report 垃圾好几天没人清")
    forged = await w.press(B1, UNCLE_LI, callbacks.encode(Act.MERGE, 4, 3))
    assert (w.answer_to(forged) or ("", False))[1] is True
    assert case_of(w, 4).state is State.NEW


# --- /find ----------------------------------------------------------------------------------------


async def test_find_lists_open_and_recent_cases_matching_the_words(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 地下室水管爆了")
    await w.say(B1, UNCLE_LI, "/report 楼道灯坏了")
    await w.say(B2, MS_CHEN, "/report 水管漏水")
    await w.say(B1, UNCLE_LI, "/report 水管爆裂")
    await w.say(B1, HEAD_WANG, "/merge 4 1")
    message = await w.say(B1, HEAD_WANG, "/find 水管")
    answer = shown(w.replies_to(message)[-1])
    assert answer.splitlines()[0] == "🔍 有 2 件诉求与“水管”相符"
    assert "#1" in answer and "#4" in answer and "已并入 #1" in answer and "#3" not in answer
    # Staff search every building.
    message = await w.say(STAFF, WORKER_LIU, "/find 水管")
    answer = shown(w.replies_to(message)[-1])
    assert "#3" in answer and "林溪苑2号楼" in answer
    message = await w.say(B1, WORKER_LIU, "/find all 水管")
    assert "#3" in shown(w.replies_to(message)[-1])
    # Closed long ago: not listed any more.
    await w.say(B1, HEAD_WANG, "/fixed 2 换了灯泡")
    await w.say(B1, HEAD_WANG, "/confirm 2")
    w.clock.advance(days=31)
    message = await w.say(B1, HEAD_WANG, "/find 楼道灯")
    assert "没有" in shown(w.replies_to(message)[-1])
    # Residents may not search; nothing typed gets the usage.
    message = await w.say(B1, UNCLE_LI, "/find 水管")
    assert "楼栋长" in shown(w.replies_to(message)[-1])
    message = await w.say(B1, HEAD_WANG, "/find")
    assert "用法：/find" in shown(w.replies_to(message)[-1])


async def test_merged_cases_count_once_per_category_as_a_recount_of_the_exported_ledger(
    w: CoreWorld,
) -> None:
    from handlers.stats import export_workbook

    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 楼道灯不亮了")
    await w.say(B1, AUNT_ZHANG, "/report 垃圾没人清")
    await w.say(STAFF, WORKER_LIU, "/merge 2 1")
    await w.say(STAFF, WORKER_LIU, "/accept 1 facility")
    await w.say(STAFF, WORKER_LIU, "/accept 3 env")
    period = ledger.all_time()
    figures = ledger.tally(w.repo.all_cases(), period, w.clock(), w.settings.categories)
    t = w.svc.texts("zh")
    data = export_workbook(
        list(w.repo.all_cases()),
        {B1: "1号楼"},
        t,
        period,
        w.clock(),
        w.settings.categories,
        tz=w.settings.timezone,
    )
    rows = list(load_workbook(io.BytesIO(data)).worksheets[0].values)
    header = rows[0]
    counted = [r for r in rows[1:] if r[header.index("办理状态")] != "已合并"]
    assert [r[header.index("进展情况")] for r in rows[1:]] == [None, "已并入 #1", None]
    recount: dict[str, int] = {}
    for row in counted:
        recount[str(row[header.index("类别")])] = recount.get(str(row[header.index("类别")]), 0) + 1
    by_category = {
        w.settings.categories.name(code, t): tally.received
        for code, tally in figures.by_category.items()
        if code is not None
    }
    assert recount == by_category == {"公共设施": 1, "环境卫生": 1}
    assert len(rows) - 1 == 3  # the merged case keeps its row
