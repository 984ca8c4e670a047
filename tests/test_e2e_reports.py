"""End to end: the daily register, weekly summary and monthly report reach the staff chat."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localapi import LocalBotAPI
from tests.conftest import STAFF, Harness
from tests.fakes import FakeClock
from tests.test_e2e_ledger import neighbourhood_month, rows_of

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


async def test_register_summary_and_report_reach_the_staff_chat(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    # Friday 20 November 2026, 11:00 in Shanghai.
    clock = FakeClock(datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
    bot = await start_bot(clock=clock)
    h = Harness(api, tmp_path / "data", framework)
    await neighbourhood_month(h)  # #1 closed and rated, #2 new, #3 declined
    await h.settle()

    clock.now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)  # 20:00: the register closes
    h.mark = api.last_seq
    assert await bot.runtime.daily() == [1, 2, 3]
    register = await h.reply(STAFF, "日登记", "新登记诉求 3 件")
    for needle in ("#1", "#2", "#3", "林溪苑1号楼", "楼道灯坏了", "已办结", "不予受理"):
        assert needle in register.text

    clock.now = datetime(2026, 11, 23, 0, 30, tzinfo=UTC)  # Monday 08:30
    h.mark = api.last_seq
    assert await bot.runtime.weekly() is not None
    chart = await h.reply(STAFF, "周汇总", method="sendPhoto")
    assert chart.photo and (chart.document_bytes or b"").startswith(PNG_MAGIC)
    assert "响应率 66.7% (2/3) · 解决率 100% (1/1) · 满意率 100% (1/1)" in (chart.text or "")

    clock.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 1 December, 09:00
    h.mark = api.last_seq
    assert await bot.runtime.monthly() is not None
    report = await h.reply(STAFF, "月上报", "2026年11月")
    assert "响应率 66.7% (2/3)" in report.text
    ledger = await h.reply(STAFF, "民情台账", method="sendDocument")
    assert ledger.document_name == "echowall-ledger-2026-11.xlsx"
    rows = rows_of(ledger.document_bytes or b"")
    assert [(r[0], r[3], r[18]) for r in rows[1:]] == [
        (1, "林溪苑1号楼", "已办结"),
        (2, "林溪苑1号楼", "待受理"),
        (3, "林溪苑2号楼", "不予受理"),
    ]
