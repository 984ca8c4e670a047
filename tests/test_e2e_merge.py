"""End to end, on both frameworks: one problem, one case (issue part 4).

A burst pipe brings several reports into building 1: the second reporter is offered, on the
acknowledgement itself, to say "me too" on the first case and does; staff merge the third from
its staff card; every later step reaches the merged reporters; a head finds the case by its
words; the figures count the problem once. Each step also counts what it cost the group.
"""

from __future__ import annotations

from typing import Any

from handlers import ledger
from storage.records import State
from storage.tinydb_store import TinyRepository
from tests.conftest import AUNT_ZHANG, B1, HEAD_WANG, STAFF, UNCLE_LI, WORKER_LIU, Harness
from tests.test_e2e_cases import labels, no_bad_requests, sent_since


async def test_a_burst_pipe_becomes_one_case_with_its_reporters_as_supporters(
    harness: Harness, start_bot: Any
) -> None:
    h = harness
    h.say(B1, AUNT_ZHANG, "/report 地下室水管爆了，到处是水")
    first = await h.reply(B1, "#1")
    await h.settle()

    # A report like it: its acknowledgement is the offer, and costs no extra message.
    mark = h.api.last_seq
    h.say(B1, UNCLE_LI, "/report 水管爆了！楼道进水")
    ack = await h.reply(B1, "#2", "看起来与诉求 #1 是同一个问题")
    assert labels(ack)[1:3] == ["👍 改为对 #1 点“我也遇到”", "✖ 不是，是新问题"]
    card = await h.reply(STAFF, "#2", "疑似与诉求 #1 重复")
    assert "🔗 并入 #1" in labels(card)
    await h.settle()
    assert len(sent_since(h, B1, mark)) == 1

    # A neighbour cannot answer for him; he says "me too" on #1: a toast and an edit.
    refused = await h.answer_to(h.press(ack, AUNT_ZHANG, "改为对 #1"))
    assert refused["show_alert"]
    mark = h.api.last_seq
    toast = await h.answer_to(h.press(ack, UNCLE_LI, "改为对 #1"))
    assert toast["text"] == "谢谢，已将您计入诉求 #1 的“我也遇到”。"
    await h.settle()
    edited = h.api.message(B1, ack.message_id)
    assert edited is not None and edited["text"].startswith("🔗 诉求 #2 已并入诉求 #1")
    shown = [
        b["text"]
        for row in (edited.get("reply_markup") or {}).get("inline_keyboard", [])
        for b in row
    ]
    assert shown == ["🙈 隐藏我的姓名"]  # no "me too" on a merged case; the name may still go
    counted = h.api.message(B1, first.message_id)
    assert counted is not None and "1 位邻居也遇到这个问题" in counted["text"]
    assert sent_since(h, B1, mark) == []

    # A third report; staff merge it from its card: one echo into its thread.
    third = h.say(B1, HEAD_WANG, "/report 地下室水管爆裂，停水了")
    await h.reply(B1, "#3")
    card3 = await h.reply(STAFF, "#3", "疑似与诉求 #1 重复")
    await h.settle()
    mark = h.api.last_seq
    merged = await h.answer_to(h.press(card3, WORKER_LIU, "并入 #1"))
    assert merged["text"] == "诉求 #3 已并入 #1。"
    told = await h.reply(B1, "诉求 #3 已并入诉求 #1")
    assert told.reply_to_message_id == third["message_id"]
    await h.settle()
    assert len(sent_since(h, B1, mark)) == 1

    # A resident may not merge; a head may find the case by its words.
    h.say(B1, UNCLE_LI, "/merge 3 1")
    await h.reply(B1, "只有本楼栋长和社区工作人员")
    h.say(B1, HEAD_WANG, "/find 水管")
    found = await h.reply(B1, "🔍 有 3 件诉求与“水管”相符")
    assert "已并入 #1" in found.text

    # Every later step of #1 names the merged reporters (a mention notifies them).
    mark = h.api.last_seq
    h.say(STAFF, WORKER_LIU, "/accept 1")
    echo = await h.reply(B1, "#1", "已受理", "🔔 同时告知：李大爷, 王楼长")
    mentions = [e for e in echo.entities if e.get("type") == "text_mention"]
    assert [m["user"]["id"] for m in mentions] == [UNCLE_LI, HEAD_WANG]
    await h.settle()
    assert len(sent_since(h, B1, mark)) == 1
    no_bad_requests(h)
    await start_bot.stop_all()

    repo = TinyRepository(h.data_dir)
    try:
        cases = list(repo.all_cases())
        kept = repo.get_case(1)
        assert kept is not None and kept.merged == [2, 3]
        assert sorted(kept.supporters) == [UNCLE_LI, HEAD_WANG]
        assert [c.state for c in cases] == [State.ACCEPTED, State.MERGED, State.MERGED]
        figures = ledger.tally(cases, ledger.all_time(), kept.created)
        assert figures.overall.received == 1
    finally:
        repo.close()
