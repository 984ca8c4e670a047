"""Telegram faults on the outgoing paths, one kind at a time, on both frameworks.

How the bot decides, per kind: 429 is waited out (never a call inside `retry_after`), 5xx and
a refused connection are retried; a timeout or a dropped connection leaves the fate unknown,
so a *reply* is sent again (a resident must hear back; a second copy is the lesser harm)
while a *broadcast* message is not (a second copy in 200 groups is the greater harm): the
recipient is recorded as uncertain and the staff's delivery report says so.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localapi import LocalBotAPI
from tests.conftest import AUNT_ZHANG, B1, B2, MS_CHEN, STAFF, WORKER_LIU, Harness

pytestmark = pytest.mark.no_faults  # each test injects its own


def _copies(api: LocalBotAPI, chat_id: int, needle: str) -> int:
    return sum(
        1
        for r in api.sent
        if r.chat_id == chat_id and r.method == "sendMessage" and needle in (r.text or "")
    )


def _answers(api: LocalBotAPI, message: dict[str, Any]) -> int:
    """The bot's messages that answer a person's message."""
    return sum(
        1
        for r in api.sent
        if r.chat_id == message["chat"]["id"] and r.reply_to_message_id == message["message_id"]
    )


async def _meet(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "大家好")
    h.say(B2, MS_CHEN, "大家好")
    await h.settle()


@pytest.mark.parametrize("kind", ["timeout", "reset"])
async def test_broadcast_recipient_of_unknown_fate_is_not_sent_twice(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str, kind: str
) -> None:
    await start_bot(http_timeout=1)
    h = Harness(api, tmp_path / "data", framework)
    await _meet(h)
    h.say(STAFF, WORKER_LIU, "/announce 明早停电")
    await h.reply(STAFF, "2 个群")
    # The first message of the broadcast: a slow answer (performed) or a dropped connection
    # (not performed); either way the bot cannot know.
    api.inject("sendMessage", kind=kind, delay=1.6)  # type: ignore[arg-type]
    report = await h.reply(STAFF, "📬", timeout=15)
    copies = {chat: _copies(api, chat, "明早停电") for chat in (B1, B2)}
    assert max(copies.values()) == 1 and sorted(copies.values()) == (
        [1, 1] if kind == "timeout" else [0, 1]
    )
    assert "不确定是否送达" in (report.text or "") and "1 个已送达" in (report.text or "")


@pytest.mark.parametrize("kind", ["500", "502", "429"])
async def test_reply_after_server_error_or_flood_arrives_once(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str, kind: str
) -> None:
    await start_bot()
    h = Harness(api, tmp_path / "data", framework)
    api.inject("sendMessage", kind=kind, times=2, retry_after=1)  # type: ignore[arg-type]
    report = h.say(B1, AUNT_ZHANG, "/report 电梯异响")
    await h.reply(B1, "#1", timeout=10)
    await h.settle()
    assert _answers(api, report) == 1 and api.violations == 0


async def test_reply_after_a_dropped_connection_is_sent_again(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    await start_bot(http_timeout=1)
    h = Harness(api, tmp_path / "data", framework)
    api.inject("sendMessage", kind="reset")
    report = h.say(B1, AUNT_ZHANG, "/report 水管漏水")
    await h.reply(B1, "#1", timeout=10)
    await h.settle()
    assert _answers(api, report) == 1
