"""The scheduled reports (日登记、周汇总、月上报) against a recording messenger and a fake clock."""

from __future__ import annotations

import io
import struct
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from bot.config import ConfigError, load_config
from bot.delivery import Limits
from bot.i18n import Catalogs
from bot.runtime import (
    CALENDAR_JOB,
    DAILY_JOB,
    MONTHLY_JOB,
    RETENTION_JOB,
    WEEKLY_JOB,
    ReportTimes,
    Runtime,
)
from bot.scheduler import Scheduler
from handlers import chart, digests
from handlers.core import Settings
from handlers.ports import Rejected
from handlers.render import utf16_len
from storage.records import Channel, Group, Rating, State
from storage.tinydb_store import TinyRepository
from tests.fakes import FakeClock, FakeMessenger, assemble
from tests.test_ledger import case

T = TypeVar("T")

TZ = ZoneInfo("Asia/Shanghai")
STAFF = -900
B1, B2 = -1, -2
HOUR = timedelta(hours=1)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def local(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


class Office:
    """The core's services with a staff chat, two buildings and a recording messenger."""

    def __init__(self, tmp_path: Path, staff_chat: int | None = STAFF) -> None:
        self.clock = FakeClock(local(11, 20, 20))
        self.messenger = FakeMessenger()
        self.repo = TinyRepository(tmp_path)
        self.repo.save_group(Group(B1, "林溪苑1号楼"))
        self.repo.save_group(Group(B2, "林溪苑2号楼"))
        self.settings = Settings(staff_chat=staff_chat, timezone=TZ)
        self.use(self.messenger)

    def use(self, messenger: FakeMessenger) -> None:
        """Deliver through this messenger from now on."""
        self.messenger = messenger
        self.parts = assemble(self.repo, self.settings, self.clock, messenger)
        self.svc = self.parts.svc

    async def run(self, report: Callable[..., T], *args: object, **kw: object) -> T:
        """Run a report as the runtime does (one transaction), then deliver what it decided."""
        with self.repo.transaction():
            result = report(self.svc, *args, **kw)
        await self.parts.deliver()
        return result

    def add(self, *cases: object) -> None:
        for c in cases:
            self.repo.save_case(c)  # type: ignore[arg-type]

    def texts(self) -> list[str]:
        return self.messenger.texts_in(STAFF)


@pytest.fixture
def office(tmp_path: Path) -> Iterator[Office]:
    o = Office(tmp_path)
    yield o
    o.repo.close()


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk."""
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


# --- which day, week and month ----------------------------------------------------------------


def test_register_windows_and_due_periods() -> None:
    evening = digests.register_window(date(2026, 11, 20), TZ, time(20, 0))
    assert (evening.start, evening.end) == (local(11, 19, 20), local(11, 20, 20))
    calendar = digests.register_window(date(2026, 11, 20), TZ)
    assert (calendar.start, calendar.end) == (local(11, 20, 0), local(11, 21, 0))
    # The register due at 20:00 local; the clock is in UTC (20:00 Shanghai is 12:00 UTC).
    at = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    assert digests.register_day(at, TZ, time(20, 0)) == date(2026, 11, 20)
    assert digests.register_day(at - HOUR, TZ, time(20, 0)) == date(2026, 11, 19)
    # Monday 08:30 summarises the week before; any later day of the week too.
    assert digests.previous_week(local(11, 23, 8, 30), TZ) == date(2026, 11, 16)
    assert digests.previous_week(local(11, 29, 23, 59), TZ) == date(2026, 11, 16)
    assert digests.previous_month(local(12, 1, 9), TZ) == date(2026, 11, 1)
    assert digests.previous_month(local(1, 1, 9, year=2027), TZ) == date(2026, 12, 1)
    # Dec 1 00:30 in Shanghai is still Nov 30 in UTC: the local month counts.
    assert digests.previous_month(datetime(2026, 11, 30, 16, 30, tzinfo=UTC), TZ) == date(
        2026, 11, 1
    )


# --- the daily register -----------------------------------------------------------------------


async def test_daily_register_lists_the_cases_of_its_window(office: Office) -> None:
    office.add(
        case(1, B1, Channel.GROUP, local(11, 19, 19, 59)),  # the day before's register
        case(2, B1, Channel.GROUP, local(11, 19, 21)),  # after last night's register closed
        case(3, B2, Channel.HOTLINE, local(11, 20, 9), State.ACCEPTED, answered_after=HOUR),
        case(4, B1, Channel.GROUP, local(11, 20, 12), State.DECLINED, answered_after=HOUR),
        case(5, B2, Channel.GROUP, local(11, 20, 20)),  # reported as the register closes
    )
    listed = await office.run(digests.daily_register, date(2026, 11, 20), closes_at=time(20, 0))
    assert listed == [2, 3, 4]
    (text,) = office.texts()
    assert text.startswith("📋 <b>日登记</b> · 11月20日 周五")
    assert "登记时段：11月19日 周四 20:00 至 11月20日 周五 20:00" in text
    assert "新登记诉求 3 件" in text
    assert "分楼栋：林溪苑1号楼 2 · 林溪苑2号楼 1" in text
    assert "分渠道：楼栋群 2 · 热线 1" in text
    assert "分状态：待受理 1 · 已受理 1 · 不予受理 1" in text
    assert "<b>#3</b> · 林溪苑2号楼 · 热线 · 🛠 已受理\n问题3" in text
    assert "#1" not in text and "#5" not in text


async def test_daily_register_of_a_calendar_day(office: Office) -> None:
    office.add(
        case(1, B1, Channel.GROUP, local(11, 19, 23, 59)),
        case(2, B1, Channel.GROUP, local(11, 20, 0)),
        case(3, B1, Channel.GROUP, local(11, 20, 23, 59)),
    )
    assert await office.run(digests.daily_register, date(2026, 11, 20)) == [2, 3]


async def test_empty_day_says_so(office: Office) -> None:
    office.add(case(1, B1, Channel.GROUP, local(11, 18)))
    assert await office.run(digests.daily_register, date(2026, 11, 20), closes_at=time(20)) == []
    (text,) = office.texts()
    assert "日登记" in text and "今日没有新登记的诉求。" in text


async def test_register_escapes_and_clips_residents_text(office: Office) -> None:
    office.repo.save_group(Group(-3, "<b>楼</b> & 3"))
    loud = case(1, -3, Channel.GROUP, local(11, 20, 9))
    loud.text = "<script>" + "漏水" * 500
    office.add(loud)
    await office.run(digests.daily_register, date(2026, 11, 20), closes_at=time(20))
    (text,) = office.texts()
    assert "&lt;b&gt;楼&lt;/b&gt; &amp; 3" in text and "&lt;script&gt;" in text
    assert "<script>" not in text
    assert text.count("漏水") < 110 and text.rstrip().endswith("…")


async def test_busy_day_is_split_into_telegram_messages(office: Office) -> None:
    office.add(
        *(
            case(i, B1, Channel.GROUP, local(11, 20, 8) + i * timedelta(seconds=30))
            for i in range(1, 201)
        )
    )
    for c in office.repo.all_cases():
        c.text = "楼道灯坏了，" * 40
        office.repo.save_case(c)
    assert (
        len(await office.run(digests.daily_register, date(2026, 11, 20), closes_at=time(20))) == 200
    )
    texts = office.texts()
    assert len(texts) > 1 and all(utf16_len(t) <= 4096 for t in texts)
    joined = "\n".join(texts)
    assert all(f"<b>#{i}</b>" in joined for i in range(1, 201))
    assert texts[0].startswith("📋")  # heading and counts come first


async def test_no_staff_chat_no_reports(tmp_path: Path) -> None:
    office = Office(tmp_path, staff_chat=None)
    try:
        office.add(case(1, B1, Channel.GROUP, local(11, 20, 9)))
        assert await office.run(digests.daily_register, date(2026, 11, 20)) == []
        assert await office.run(digests.weekly_summary, date(2026, 11, 16)) is None
        assert await office.run(digests.monthly_report, date(2026, 11, 1)) is None
        assert office.messenger.sent == [] and office.messenger.pictures == []
        assert office.messenger.documents == []
    finally:
        office.repo.close()


# --- the weekly summary -----------------------------------------------------------------------


def a_week(office: Office) -> None:
    """Week 47 (Nov 16–22): five cases received, two closed in it, one closed from before."""
    office.add(
        # received the Sunday before, closed on Tuesday (closed_at = answer + 2 days): a
        # closing of week 47, not a receipt
        case(1, B1, Channel.GROUP, local(11, 15), State.CLOSED, answered_after=HOUR),
        # received Monday, closed Wednesday, satisfied
        case(2, B1, Channel.GROUP, local(11, 16), State.CLOSED, answered_after=HOUR,
             rating=Rating.SATISFIED),
        # received Monday, answered 30 h late, closed Thursday
        case(3, B2, Channel.GROUP, local(11, 16, 10), State.CLOSED, answered_after=30 * HOUR,
             rating=Rating.BASIC),
        # received Wednesday, declined at once: not a closing
        case(4, B2, Channel.HOTLINE, local(11, 18), State.DECLINED, answered_after=HOUR),
        # received Sunday, still new
        case(5, B1, Channel.GROUP, local(11, 22, 18)),
        # received the next Monday: not in week 47
        case(6, B1, Channel.GROUP, local(11, 23, 8)),
    )  # fmt: skip


def test_week_activity_counts_receipts_and_closings_per_day(office: Office) -> None:
    a_week(office)
    activity = digests.week_activity(office.repo.all_cases(), date(2026, 11, 16), TZ)
    assert activity[B1].received == [1, 0, 0, 0, 0, 0, 1]
    assert activity[B1].closed == [0, 1, 1, 0, 0, 0, 0]  # #1 on Tuesday, #2 on Wednesday
    assert activity[B2].received == [1, 0, 1, 0, 0, 0, 0]
    assert activity[B2].closed == [0, 0, 0, 1, 0, 0, 0]  # #3: answered Tue 16:00, closed Thu
    # The weekly summary reads only the cases received or closed in the week (#1 to #5).
    active = office.repo.cases_active(local(11, 16, 0), local(11, 23, 0))
    assert [c.id for c in active] == [1, 2, 3, 4, 5]
    assert digests.week_activity(active, date(2026, 11, 16), TZ) == activity


async def test_weekly_summary_sends_a_chart_with_the_figures(office: Office) -> None:
    a_week(office)
    office.clock.now = local(11, 23, 8, 30)
    ledger = await office.run(digests.weekly_summary, date(2026, 11, 16))
    assert ledger is not None and ledger.overall.received == 4
    ((chat, name, data, caption),) = office.messenger.pictures
    assert chat == STAFF and name == "echowall-week-2026-W47.png"
    width, height = png_size(data)
    assert 400 <= width <= 2000 and 300 <= height <= 2000  # Telegram: w + h ≤ 10000
    assert 5_000 < len(data) < 1_000_000
    assert caption is not None and utf16_len(caption) <= 1024
    assert caption.startswith("📈 <b>周汇总</b> · 2026年第47周（2026-11-16 至 2026-11-22）")
    assert "收到 4 件 · 已答复 3 件（按时 2 件）· 受理 2 件 · 不予受理 1 件" in caption
    assert "响应率 50% (2/4) · 解决率 100% (2/2) · 满意率 100% (2/2)" in caption
    everything = caption + "\n".join(office.texts())
    assert "林溪苑1号楼" in everything and "林溪苑2号楼" in everything


async def test_weekly_caption_stays_within_1024_and_the_rest_follows(office: Office) -> None:
    for i in range(1, 21):
        office.repo.save_group(Group(-100 - i, f"林溪苑{i}号楼" + "东区" * 5))
        office.add(case(i, -100 - i, Channel.GROUP, local(11, 16 + i % 7)))
    await office.run(digests.weekly_summary, date(2026, 11, 16))
    ((_, _, data, caption),) = office.messenger.pictures
    assert caption is not None and utf16_len(caption) <= 1024 and "响应率" in caption
    rest = office.texts()
    assert rest and all(utf16_len(t) <= 4096 for t in rest)
    assert all(f"林溪苑{i}号楼" in caption + "".join(rest) for i in range(1, 21))
    width, height = png_size(data)
    assert width + height <= 10000 and height / width <= 20


def test_chart_panels_busiest_first_the_rest_together() -> None:
    labels = {-i: f"{i}号楼" for i in range(1, 12)}
    labels[-11] = "Block K"
    activity = {
        -i: digests.Activity(received=[i, 0, 0, 0, 0, 0, 0], closed=[0] * 7) for i in range(1, 12)
    }
    zh = Catalogs(TZ).get("zh")
    panels, key = digests.week_panels(activity, labels, zh, cjk=True)
    assert [p.label for p in panels] == [
        "全部楼栋",
        "Block K",
        *(f"{i}号楼" for i in range(10, 3, -1)),
        "其他楼栋",
    ]
    assert panels[0].received[0] == sum(range(1, 12)) and panels[-1].received[0] == 1 + 2 + 3
    assert key == []
    # Without a CJK font, Chinese names are drawn as codes, explained in the key.
    panels, key = digests.week_panels(activity, labels, zh, cjk=False)
    assert [p.label for p in panels[1:4]] == ["Block K", "B1", "B2"]
    assert key[:2] == [("B1", "10号楼"), ("B2", "9号楼")]


async def test_without_a_cjk_font_the_chart_is_english_with_a_key(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[tuple[list[str], list[chart.Panel], chart.ChartTexts, str | None]] = []
    real = chart.render_week

    def spy(labels, panels, texts, *, family=None):  # type: ignore[no-untyped-def]
        drawn.append((list(labels), list(panels), texts, family))
        return real(labels, panels, texts, family=family)

    monkeypatch.setattr(chart, "cjk_family", lambda: None)
    monkeypatch.setattr(chart, "render_week", spy)
    a_week(office)
    await office.run(digests.weekly_summary, date(2026, 11, 16))
    ((day_labels, panels, texts, family),) = drawn
    assert family is None and all(label.isascii() for label in day_labels)
    assert day_labels[0] == "Mon\n11-16" and texts.received == "Received"
    assert [p.label for p in panels] == ["All buildings", "B1", "B2"]
    ((_, _, data, caption),) = office.messenger.pictures
    assert data.startswith(PNG_MAGIC)
    assert caption is not None and "图中楼栋代号：B1 = 林溪苑1号楼 · B2 = 林溪苑2号楼" in caption


async def test_with_a_cjk_font_the_chart_speaks_the_staff_language(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[list[str], str | None]] = []

    def fake(labels, panels, texts, *, family=None):  # type: ignore[no-untyped-def]
        seen.append(([p.label for p in panels] + [texts.title, labels[0]], family))
        return PNG_MAGIC + b"fake"

    monkeypatch.setattr(chart, "cjk_family", lambda: "Noto Sans CJK SC")
    monkeypatch.setattr(chart, "render_week", fake)
    a_week(office)
    await office.run(digests.weekly_summary, date(2026, 11, 16))
    ((words, family),) = seen
    assert family == "Noto Sans CJK SC"
    assert words[:3] == ["全部楼栋", "林溪苑1号楼", "林溪苑2号楼"]
    assert words[3].startswith("每日收到与办结诉求 · 2026年第47周") and words[4] == "周一\n11-16"
    ((_, _, _, caption),) = office.messenger.pictures
    assert caption is not None and "代号" not in caption


async def test_a_chart_that_fails_leaves_the_figures_as_text(
    office: Office, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kw: object) -> bytes:
        raise RuntimeError("no fonts at all")

    monkeypatch.setattr(chart, "render_week", broken)
    a_week(office)
    await office.run(digests.weekly_summary, date(2026, 11, 16))
    assert office.messenger.pictures == []
    assert "响应率 50% (2/4)" in "\n".join(office.texts())


async def test_a_refused_picture_leaves_the_figures_as_text(office: Office) -> None:
    class NoPhotos(FakeMessenger):
        async def send_picture(
            self, chat_id: int, filename: str, data: bytes, *, caption: str | None = None
        ) -> int:
            raise Rejected("Bad Request: PHOTO_INVALID_DIMENSIONS")

    office.use(NoPhotos())
    a_week(office)
    await office.run(digests.weekly_summary, date(2026, 11, 16))
    text = "\n".join(office.texts())
    assert text.startswith("📈 <b>周汇总</b>") and "响应率 50% (2/4)" in text


async def test_a_quiet_week_sends_no_chart(office: Office) -> None:
    office.add(case(1, B1, Channel.GROUP, local(11, 2)))
    await office.run(digests.weekly_summary, date(2026, 11, 16))
    assert office.messenger.pictures == []
    (text,) = office.texts()
    assert "周汇总" in text and "本期没有收到诉求。" in text


# --- the monthly report -----------------------------------------------------------------------


async def test_monthly_report_has_the_rates_and_the_ledger(office: Office) -> None:
    a_week(office)
    office.add(case(7, B2, Channel.MAILBOX, local(10, 31, 23, 59)))  # October
    office.clock.now = local(12, 1, 9)
    ledger = await office.run(digests.monthly_report, date(2026, 11, 1))
    assert ledger is not None and ledger.overall.received == 6
    text = "\n".join(office.texts())
    assert text.startswith("🗓 <b>月上报</b> · 2026年11月")
    assert "收到 6 件 · 已答复 4 件（按时 3 件）· 受理 3 件 · 不予受理 1 件" in text
    assert "响应率 50% (3/6) · 解决率 100% (3/3) · 满意率 100% (2/2)" in text
    assert "<b>林溪苑2号楼</b>" in text and "<b>热线</b>" in text
    ((chat, name, data),) = office.messenger.documents
    assert chat == STAFF and name == "echowall-ledger-2026-11.xlsx"
    rows = list(load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(values_only=True))
    assert [r[0] for r in rows[1:]] == [1, 2, 3, 4, 5, 6]


# --- scheduling and configuration ---------------------------------------------------------------


async def test_runtime_schedules_the_three_reports(tmp_path: Path) -> None:
    repo = TinyRepository(tmp_path)
    times = ReportTimes(daily=time(21, 15), weekly=time(8, 30), monthly=time(9, 0))
    runtime = Runtime(
        repo, Settings(staff_chat=STAFF, timezone=TZ), Catalogs(TZ).get, Limits(),
        report_times=times,
    )  # fmt: skip
    before = datetime.now(UTC)
    await runtime.start(FakeMessenger(), bot_id=99, username="echowall_bot")
    try:
        runs = runtime.scheduler.next_runs()
    finally:
        await runtime.stop()
        repo.close()
    assert set(runs) == {
        "overdue-sweep",
        "forum-sweep",
        RETENTION_JOB,
        CALENDAR_JOB,
        DAILY_JOB,
        WEEKLY_JOB,
        MONTHLY_JOB,
    }
    assert (DAILY_JOB, WEEKLY_JOB, MONTHLY_JOB) == (
        "digest:daily",
        "digest:weekly",
        "digest:monthly",
    )
    daily, weekly, monthly = (runs[j] for j in (DAILY_JOB, WEEKLY_JOB, MONTHLY_JOB))
    assert daily is not None and weekly is not None and monthly is not None
    daily, weekly, monthly = (d.astimezone(TZ) for d in (daily, weekly, monthly))
    assert (daily.hour, daily.minute) == (21, 15) and daily - before <= timedelta(days=1)
    assert weekly.weekday() == 0 and (weekly.hour, weekly.minute) == (8, 30)
    assert weekly - before <= timedelta(days=7)
    assert monthly.day == 1 and (monthly.hour, monthly.minute) == (9, 0)
    assert monthly - before <= timedelta(days=31)
    assert min(daily, weekly, monthly) > before


async def test_without_a_staff_chat_the_reports_are_scheduled_and_make_nothing(
    tmp_path: Path,
) -> None:
    """/setstaff may name a staff chat at any time, so the jobs are there; until then a
    report has nowhere to go and is not made."""
    repo = TinyRepository(tmp_path)
    runtime = Runtime(repo, Settings(timezone=TZ), Catalogs(TZ).get, Limits())
    await runtime.start(FakeMessenger(), bot_id=99, username="echowall_bot")
    try:
        assert {DAILY_JOB, WEEKLY_JOB, MONTHLY_JOB} <= set(runtime.scheduler.next_runs())
        assert await runtime.daily() == []
        assert repo.outgoing_chats() == set()
    finally:
        await runtime.stop()
        repo.close()


def test_report_times_are_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env or echowall.toml of the developer's
    for name in ("ECHOWALL_DAILY_AT", "ECHOWALL_WEEKLY_AT", "ECHOWALL_MONTHLY_AT"):
        monkeypatch.delenv(name, raising=False)
    config = load_config()
    assert (config.daily_at, config.weekly_at, config.monthly_at) == (
        time(20, 0),
        time(8, 30),
        time(9, 0),
    )
    monkeypatch.setenv("ECHOWALL_DAILY_AT", "7:05")
    assert load_config().daily_at == time(7, 5)
    for bad in ("24:00", "20:00:30", "8pm", "2000", ""):
        monkeypatch.setenv("ECHOWALL_WEEKLY_AT", bad)
        with pytest.raises(ConfigError, match=r"ECHOWALL_WEEKLY_AT: .*HH:MM"):
            load_config()


def test_a_job_added_again_replaces_the_old_one() -> None:
    async def job() -> None:
        return None

    scheduler = Scheduler(TZ)
    scheduler.cron(DAILY_JOB, job, hour=20, minute=0)
    scheduler.cron(DAILY_JOB, job, hour=21, minute=0)
    assert list(scheduler.next_runs()) == [DAILY_JOB]
