"""Due times in calendar and in working days (China's holidays and make-up working days)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from handlers.deadlines import add_days, is_workday
from localapi import LocalBotAPI
from storage.tinydb_store import TinyRepository
from tests.conftest import AUNT_ZHANG, B1, HEAD_WANG, Harness
from tests.fakes import FakeClock

TZ = ZoneInfo("Asia/Shanghai")
EVE_OF_NATIONAL_DAY = datetime(2026, 9, 30, 10, 0, tzinfo=TZ)


def test_calendar_days_ignore_holidays() -> None:
    assert add_days(EVE_OF_NATIONAL_DAY, 2, TZ, working=False) == datetime(
        2026, 10, 2, 10, 0, tzinfo=TZ
    )


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        (1, datetime(2026, 10, 8, 10, 0, tzinfo=TZ)),  # 1–7 October are the holiday
        (2, datetime(2026, 10, 9, 10, 0, tzinfo=TZ)),
        (3, datetime(2026, 10, 10, 10, 0, tzinfo=TZ)),  # Saturday 10 October is worked
        (4, datetime(2026, 10, 12, 10, 0, tzinfo=TZ)),
    ],
)
def test_working_days_skip_national_day_and_count_the_make_up_saturday(
    days: int, expected: datetime
) -> None:
    assert add_days(EVE_OF_NATIONAL_DAY, days, TZ, working=True) == expected


def test_years_without_holiday_data_count_monday_to_friday() -> None:
    friday = datetime(2030, 3, 8, 9, 0, tzinfo=TZ)
    assert not is_workday(datetime(2030, 3, 9).date())
    assert add_days(friday, 1, TZ, working=True) == datetime(2030, 3, 11, 9, 0, tzinfo=TZ)


async def test_accept_counts_working_days_when_configured(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    clock = FakeClock(EVE_OF_NATIONAL_DAY.astimezone(UTC))
    await start_bot(clock=clock, working_days=True)
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, AUNT_ZHANG, "/report 国庆前楼道灯坏了")
    await h.reply(B1, "#1")
    h.say(B1, HEAD_WANG, "/accept 1 key")
    accepted = await h.reply(B1, "#1", "已受理")
    assert "10月9日" in accepted.text
    await start_bot.stop_all()  # type: ignore[attr-defined]
    repo = TinyRepository(tmp_path / "data")
    try:
        case = repo.get_case(1)
        assert case is not None and case.due == datetime(2026, 10, 9, 10, 0, tzinfo=TZ)
    finally:
        repo.close()
