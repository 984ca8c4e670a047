"""Flood control per person, end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from localapi import LocalBotAPI
from tests.conftest import AUNT_ZHANG, B1, UNCLE_LI, Harness


async def test_many_reports_in_a_minute_are_slowed(
    api: LocalBotAPI, start_bot: Callable[..., Any], tmp_path: Path, framework: str
) -> None:
    bot = await start_bot(report_limit=3, report_window_minutes=1)
    h = Harness(api, tmp_path / "data", framework)
    for n in range(6):
        h.say(B1, AUNT_ZHANG, f"/report 灯{n}坏了")
    await h.reply(B1, "短时间内")
    h.say(B1, UNCLE_LI, "/report 门坏了")
    await h.reply(B1, "#4")
    await h.settle()
    assert [c.text for c in bot.runtime.repo.all_cases()] == [
        "灯0坏了",
        "灯1坏了",
        "灯2坏了",
        "门坏了",
    ]
    assert sum("短时间内" in (r.text or "") for r in api.sent) == 1
