"""Idempotency end to end: a duplicate delivery or a second press changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from localapi import LocalBotAPI
from tests.conftest import AUNT_ZHANG, B1, HEAD_WANG, STAFF, UNCLE_LI, Harness


async def test_duplicates_make_no_second_case_echo_or_vote(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    bot = await start_bot()
    h = Harness(api, tmp_path / "data", framework)
    report = h.say(B1, AUNT_ZHANG, "/report 三楼楼道灯坏了")
    card = await h.reply(B1, "#1")
    await h.settle()
    sent_before = len(api.sent)
    api.deliver_again(report)  # the same chat and message id, as after a crash
    api.deliver_again(report)
    await h.settle()
    repo = bot.runtime.repo
    assert [c.id for c in repo.all_cases()] == [1]
    assert len(api.sent) == sent_before  # acknowledged before: no second echo, no staff card

    for _ in range(3):
        await h.answer_to(h.press(card, UNCLE_LI, "我也遇到"))
    await h.settle()
    case = repo.get_case(1)
    assert case is not None and case.supporters == [UNCLE_LI]

    h.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    notice = await h.reply(B1, "#1", "换了灯泡")
    await h.answer_to(h.press(notice, AUNT_ZHANG, "满意"))
    second = await h.answer_to(h.press(notice, AUNT_ZHANG, "满意"))  # the same press again
    await h.settle()
    case = repo.get_case(1)
    assert case is not None and case.rating is not None and case.rating.value == "satisfied"
    assert second.get("text")  # answered, not left spinning
    assert sum(1 for s in case.timeline if s.action == "rate") == 1

    h.say(B1, HEAD_WANG, "/event 2026-12-24 19:00 联欢会")
    post = await h.reply(B1, "E1", "联欢会")
    for _ in range(2):
        await h.answer_to(h.press(post, UNCLE_LI, "参加"))
    await h.settle()
    event = repo.get_event(1)
    assert event is not None and [a.user_id for a in event.going] == [UNCLE_LI]
    assert not [e for e in api.errors if e.code == 400]
    assert sum(1 for r in api.sent if r.chat_id == STAFF and "#1" in (r.text or "")) >= 1
