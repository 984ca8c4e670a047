"""The ledger and the three rates: known answers, empty denominators, xlsx ⇄ /stats agreement."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from bot.i18n import Catalogs
from handlers import ledger
from handlers.incoming import ChatRef, User
from handlers.ledger import Rate, Tally
from handlers.render import RATING_LABELS, STATE_LABELS, chunk, utf16_len
from handlers.stats import (
    Format,
    export_csv,
    export_filename,
    export_workbook,
    period_label,
    rate_text,
    stats_blocks,
    stats_text,
)
from handlers.texts import Translator
from storage.records import Case, CaseClass, Channel, Contact, Group, Rating, State, Step
from tests.ledgerfile import COUNTS, rate_matches, recount, sheets, summary_rows
from tests.test_core import GROUP, HEAD, RESIDENT, STAFF, World

TZ = ZoneInfo("Asia/Shanghai")
CATALOGS = Catalogs(TZ)
ZH, EN = CATALOGS.get("zh"), CATALOGS.get("en")
B1, B2 = -1, -2
LABELS = {B1: "林溪苑1号楼", B2: "林溪苑2号楼"}
NOW = datetime(2026, 11, 21, 10, 0, tzinfo=TZ)  # a Saturday
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def local(month: int, day: int, hour: int = 9, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=TZ)


def case(
    case_id: int,
    building: int,
    channel: Channel,
    created: datetime,
    state: State = State.NEW,
    *,
    answered_after: timedelta | None = None,
    due: datetime | None = None,
    rating: Rating | None = None,
    reporter: str = "张阿姨",
) -> Case:
    """A case as the handlers leave it: answer due 24 h after the report."""
    answered_at = created + answered_after if answered_after is not None else None
    c = Case(
        case_id,
        building,
        channel,
        f"问题{case_id}",
        created.astimezone(UTC),
        (created + 24 * HOUR).astimezone(UTC),
        reporter_name=reporter,
        state=state,
        answered_at=answered_at,
        due=due,
        rating=rating,
    )
    if state in (State.ACCEPTED, State.FIXED, State.CLOSED):
        c.klass = CaseClass.KEY
        c.due = c.due or (answered_at or created) + 2 * DAY
    if state in (State.FIXED, State.CLOSED):
        c.measure = f"措施{case_id}"
        c.fixed_at = (answered_at or created) + DAY
    if state in (State.CLOSED, State.DECLINED):
        c.closed_at = (answered_at or created) + 2 * DAY
    return c


def reopened(c: Case, at: datetime) -> Case:
    """What `actions.reopen` does to a case: a new answer window counted from `at`."""
    c.timeline.append(Step(at.astimezone(UTC), "reopen", 1, "x", "不满意"))
    c.answer_due = at.astimezone(UTC) + (c.answer_due - c.created)
    c.state, c.closed_at, c.fixed_at = State.REOPENED, None, None
    return c


def known_cases() -> list[Case]:
    """Eleven cases with hand-counted answers (see the comments)."""
    return [
        # 1 B1 group: answered in 2 h, closed, satisfied; reported exactly at the month's start.
        case(1, B1, Channel.GROUP, local(11, 1, 0), State.CLOSED, answered_after=2 * HOUR,
             rating=Rating.SATISFIED),
        # 2 B1 group: answered 30 h late, closed, basically satisfied.
        case(2, B1, Channel.GROUP, local(11, 3), State.CLOSED, answered_after=30 * HOUR,
             rating=Rating.BASIC),
        # 3 B1 hotline: declined within the hour.
        case(3, B1, Channel.HOTLINE, local(11, 5), State.DECLINED, answered_after=HOUR),
        # 4 B1 hotline: accepted in time, fixed and waiting for the check; its due time has
        #   passed, but a fixed case owes nothing more, so it is not overdue.
        case(4, B1, Channel.HOTLINE, local(11, 8), State.FIXED, answered_after=3 * HOUR,
             due=local(11, 10)),
        # 5 B2 group: accepted in time, promised for later: open, not overdue.
        case(5, B2, Channel.GROUP, local(11, 12), State.ACCEPTED, answered_after=HOUR,
             due=local(11, 25)),
        # 6 B2 group: accepted in time, promise broken: overdue.
        case(6, B2, Channel.GROUP, local(11, 12), State.ACCEPTED, answered_after=HOUR,
             due=local(11, 15)),
        # 7 B2 forum: never answered, answer deadline passed: overdue.
        case(7, B2, Channel.FORUM, local(11, 14)),
        # 8 B2 forum: reported last night, still inside its answer window.
        case(8, B2, Channel.FORUM, local(11, 20, 21)),
        # 9 B2 group: answered 30 h late, fixed, rated unsatisfied, so reopened two hours ago;
        #   reopening moved answer_due past the old answer, which must still count as late.
        reopened(
            case(9, B2, Channel.GROUP, local(11, 16, 0), State.FIXED, answered_after=30 * HOUR,
                 rating=Rating.UNSATISFIED),
            NOW - 2 * HOUR,
        ),
        # 10 a minute before November (local time), and 11 at December's first instant.
        case(10, B1, Channel.MAILBOX, local(10, 31, 23, 59)),
        case(11, B1, Channel.VISIT, local(12, 1, 0)),
    ]  # fmt: skip


NOVEMBER = ledger.month_period(2026, 11, TZ)


def counts(t: Tally) -> dict[str, int]:
    return {k: getattr(t, k) for k in Tally.__dataclass_fields__}


def expect(**values: int) -> dict[str, int]:
    base = dict.fromkeys(Tally.__dataclass_fields__, 0)
    base.update(values)
    return base


def test_month_counts_and_rates_overall() -> None:
    result = ledger.tally(known_cases(), NOVEMBER, NOW)
    overall = result.overall
    assert counts(overall) == expect(
        received=9,
        answered=7,  # 1 2 3 4 5 6 9
        answered_in_time=5,  # 1 3 4 5 6
        accepted=6,  # 1 2 4 5 6 9
        declined=1,
        closed=2,
        open=6,  # 4 5 6 7 8 9
        overdue=2,  # 6 7
        rated=3,
        satisfied=1,
        basic=1,
        unsatisfied=1,
        unrated=1,  # 4: fixed, its rating still to come
    )
    assert overall.response_rate == Rate(5, 9)
    assert overall.resolution_rate == Rate(2, 6)
    assert overall.satisfaction_rate == Rate(2, 3)
    assert overall.satisfaction_rate.value == pytest.approx(2 / 3)


def test_month_counts_by_building_and_channel() -> None:
    result = ledger.tally(known_cases(), NOVEMBER, NOW)
    assert set(result.by_building) == {B1, B2}
    b1, b2 = result.by_building[B1], result.by_building[B2]
    assert counts(b1) == expect(
        received=4, answered=4, answered_in_time=3, accepted=3, declined=1, closed=2, open=1,
        rated=2, satisfied=1, basic=1, unrated=1,
    )  # fmt: skip
    assert (b1.response_rate, b1.resolution_rate, b1.satisfaction_rate) == (
        Rate(3, 4), Rate(2, 3), Rate(2, 2),
    )  # fmt: skip
    assert counts(b2) == expect(
        received=5, answered=3, answered_in_time=2, accepted=3, open=5, overdue=2, rated=1,
        unsatisfied=1,
    )  # fmt: skip
    # Nothing closed out of three accepted is 0 %, not "no data".
    assert b2.resolution_rate == Rate(0, 3) and b2.resolution_rate.value == 0
    assert b2.satisfaction_rate == Rate(0, 1)

    assert list(result.by_channel) == [Channel.GROUP, Channel.FORUM, Channel.HOTLINE]
    group, forum, hotline = (result.by_channel[c] for c in list(result.by_channel))
    assert (group.received, group.answered_in_time, group.accepted, group.closed) == (5, 3, 5, 2)
    assert (group.rated, group.satisfied + group.basic) == (3, 2)
    assert (forum.received, forum.answered, forum.overdue) == (2, 0, 1)
    assert forum.response_rate == Rate(0, 2)
    assert forum.resolution_rate.value is None and forum.satisfaction_rate.value is None
    assert (hotline.received, hotline.answered_in_time, hotline.accepted, hotline.declined) == (
        2, 2, 1, 1,
    )  # fmt: skip
    assert hotline.resolution_rate == Rate(0, 1) and hotline.satisfaction_rate.value is None


def test_week_all_and_other_months() -> None:
    week = ledger.week_of(NOW, TZ)
    assert (week.start, week.end) == (local(11, 16, 0), local(11, 23, 0))
    result = ledger.tally(known_cases(), week, NOW)
    assert [c.id for c in ledger.received_in(known_cases(), week)] == [8, 9]
    assert counts(result.overall) == expect(
        received=2, answered=1, accepted=1, open=2, rated=1, unsatisfied=1
    )
    assert result.overall.response_rate == Rate(0, 2)

    everything = ledger.tally(known_cases(), ledger.all_time(), NOW)
    assert (everything.overall.received, everything.overall.open) == (11, 8)
    assert everything.overall.overdue == 3  # 6, 7 and 10; 11 is not due yet
    october = ledger.tally(known_cases(), ledger.month_period(2026, 10, TZ), NOW)
    assert [c.id for c in ledger.received_in(known_cases(), october.period)] == [10]
    assert ledger.tally(known_cases(), ledger.month_period(2026, 12, TZ), NOW).overall.received == 1


def test_late_answer_stays_late_after_a_reopening() -> None:
    ninth = known_cases()[8]
    assert ninth.answered_at is not None and ninth.answered_at <= ninth.answer_due
    assert ledger.first_answer_due(ninth) == local(11, 17, 0)
    assert not ledger.answered_in_time(ninth)
    twice = reopened(replace(ninth, timeline=list(ninth.timeline)), NOW)
    assert ledger.first_answer_due(twice) == local(11, 17, 0)


def test_rates_with_nothing_to_divide_are_no_data() -> None:
    empty = ledger.tally([], NOVEMBER, NOW)
    for rate in (
        empty.overall.response_rate,
        empty.overall.resolution_rate,
        empty.overall.satisfaction_rate,
    ):
        assert rate.value is None
        assert rate_text(rate, ZH) == "暂无数据" and rate_text(rate, EN) == "no data"
    assert empty.by_building == {} and empty.by_channel == {}
    text = stats_text([], LABELS, EN, NOVEMBER, NOW)
    assert "No cases were received in this period." in text
    declined_only = [case(1, B1, Channel.GROUP, local(11, 2), State.DECLINED, answered_after=HOUR)]
    only = ledger.tally(declined_only, NOVEMBER, NOW).overall
    assert only.response_rate == Rate(1, 1)
    assert only.resolution_rate.value is None and only.satisfaction_rate.value is None


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("", (2026, 11, 1), (2026, 12, 1)),
        ("month", (2026, 11, 1), (2026, 12, 1)),
        ("WEEK", (2026, 11, 16), (2026, 11, 23)),
        ("2026-02", (2026, 2, 1), (2026, 3, 1)),
        ("2025-12", (2025, 12, 1), (2026, 1, 1)),
        ("2026-7", (2026, 7, 1), (2026, 8, 1)),
    ],
)
def test_periods_parse(text: str, start: tuple[int, int, int], end: tuple[int, int, int]) -> None:
    period = ledger.parse_period(text, NOW, TZ)
    assert period is not None
    assert period.start == datetime(*start, tzinfo=TZ) and period.end == datetime(*end, tzinfo=TZ)


@pytest.mark.parametrize("text", ["2020-13", "2026-00", "26-11", "year", "2026-11-01", "1899-12"])
def test_bad_periods_are_refused(text: str) -> None:
    assert ledger.parse_period(text, NOW, TZ) is None


@pytest.mark.parametrize(
    ("text", "kind"),
    [("本周", "week"), ("本月", "month"), ("全部", "all"), ("1999-01", "month"), ("", "month")],
)
def test_periods_in_the_words_help_shows_and_any_real_month(text: str, kind: str) -> None:
    """/help in Chinese offers 本周|本月|全部; a month before the bot existed is a month."""
    period = ledger.parse_period(text, NOW, TZ)
    assert period is not None and period.kind == kind


def test_periods_follow_the_configured_time_zone() -> None:
    # 17:30 UTC on 30 November is already 1 December in Shanghai.
    late = datetime(2026, 11, 30, 17, 30, tzinfo=UTC)
    assert ledger.month_of(late, TZ).start == local(12, 1, 0)
    assert ledger.month_of(late, ZoneInfo("UTC")).start == datetime(2026, 11, 1, tzinfo=UTC)
    assert ledger.parse_period("all", NOW, TZ) == ledger.all_time()


def test_period_labels() -> None:
    assert period_label(NOVEMBER, ZH) == "2026年11月"
    assert period_label(NOVEMBER, EN) == "11/2026"
    assert period_label(ledger.week_of(NOW, TZ), ZH) == "2026年第47周（2026-11-16 至 2026-11-22）"
    assert period_label(ledger.all_time(), EN) == "all time"
    assert export_filename(NOVEMBER) == "echowall-ledger-2026-11.xlsx"


def test_ledger_rows_in_the_unified_format() -> None:
    rows = ledger.ledger_rows(known_cases(), ZH, LABELS, NOVEMBER, now=NOW, tz=TZ)
    assert ledger.ledger_headers(ZH) == [
        "编号", "登记时间", "渠道", "楼栋", "反映人", "房号", "联系电话", "问题内容", "类别",
        "办理级别", "案件类别", "责任人", "答复时间", "按时答复", "答复用时（小时）", "承诺时限",
        "处理措施", "转介去向", "办理状态", "进展情况", "办结时间", "办结用时（天）", "是否超期",
        "满意度", "照片数", "整改照片",
    ]  # fmt: skip
    assert ledger.ledger_headers(EN)[:3] == ["Case no.", "Registered at", "Channel"]
    assert [r[0] for r in rows] == list(range(1, 10))
    first = rows[0]
    # Times are local times with their year, durations numbers: 2 h to answer, 2 d 2 h to close.
    assert first == [
        1, local(11, 1, 0), "楼栋群", "林溪苑1号楼", "张阿姨", "", "", "问题1", "", "楼栋",
        "重点件", "", local(11, 1, 2), "是", 2.0, local(11, 3, 2), "措施1", "", "已办结", "",
        local(11, 3, 2), 2.08, "否", "满意", 0, "否",
    ]  # fmt: skip
    registered = first[1]
    assert isinstance(registered, datetime) and registered.utcoffset() == 8 * HOUR
    declined = rows[2]
    assert declined[18] == "不予受理" and declined[20] is None and declined[13] == "是"
    assert declined[21] is None  # declined: never handled to the end, so no time to close
    assert rows[1][13] == "否" and rows[8][13] == "否"  # answered late, also after reopening
    assert rows[6][12] is None and rows[6][13] == "" and rows[6][14] is None  # never answered
    assert [r[22] for r in rows] == ["否"] * 5 + ["是", "是", "否", "否"]  # 6 and 7 overdue
    unknown = ledger.ledger_rows(
        [case(5, -77, Channel.VISIT, local(11, 2))], EN, LABELS, now=NOW, tz=TZ
    )
    assert unknown[0][3] == "-77" and unknown[0][2] == "home visit"


def test_progress_notes_and_an_offline_residents_contact_are_in_the_ledger() -> None:
    """进展情况 holds what /progress told the resident, dated; an offline demand names the
    resident staff took it from, with flat and phone (the ledger goes to staff only)."""
    handled = case(1, B1, Channel.GROUP, local(11, 2), State.ACCEPTED, answered_after=HOUR)
    handled.timeline += [
        Step(local(11, 2, 14).astimezone(UTC), "progress", 3, "王楼长", "已联系电工"),
        Step(local(11, 3, 9, 30).astimezone(UTC), "progress", 3, "王楼长", "明天上午换线"),
    ]
    offline = case(2, B2, Channel.VISIT, local(11, 4), reporter="")
    offline.contact = Contact("王阿姨", "3-502", "13800000000")
    erased = case(3, B2, Channel.GROUP, local(11, 4), State.CLOSED, answered_after=HOUR)
    erased.reporter_name, erased.anonymised = "", NOW
    rows = ledger.ledger_rows([handled, offline, erased], ZH, LABELS, now=NOW, tz=TZ)
    headers = ledger.ledger_headers(ZH)
    first, second, third = (dict(zip(headers, row, strict=True)) for row in rows)
    assert first["进展情况"] == "2026-11-02 14:00 已联系电工\n2026-11-03 09:30 明天上午换线"
    assert first["办理状态"] == "已受理" and first["房号"] == first["联系电话"] == ""
    assert (second["反映人"], second["房号"], second["联系电话"]) == (
        "王阿姨", "3-502", "13800000000",
    )  # fmt: skip
    assert third["反映人"] == "（已匿名）"


def test_stats_text_shows_every_scope() -> None:
    text = stats_text(known_cases(), LABELS, ZH, NOVEMBER, NOW)
    assert "民情统计 · 2026年11月" in text
    assert "收到 9 件 · 已答复 7 件（按时 5 件）· 受理 6 件 · 不予受理 1 件" in text
    assert "办结 2 件 · 办理中 6 件 · 超期 2 件 · 已评价 3 件" in text
    assert "响应率 55.6% (5/9) · 解决率 33.3% (2/6) · 满意率 66.7% (2/3)" in text
    assert text.index("林溪苑1号楼") < text.index("林溪苑2号楼") < text.index("分渠道")
    assert "<b>" not in text
    html = "\n".join(stats_blocks(ledger.tally(known_cases(), NOVEMBER, NOW), EN, LABELS))
    assert "<b>Overall</b>" in html and "resolution rate no data" in html  # the forum


def test_html_escapes_building_names() -> None:
    cases = [case(1, B1, Channel.GROUP, local(11, 2))]
    html = "\n".join(stats_blocks(ledger.tally(cases, NOVEMBER, NOW), EN, {B1: "A<b>&"}))
    assert "A&lt;b&gt;&amp;" in html


def read_book(data: bytes) -> tuple[list[tuple], list[tuple]]:
    """The ledger sheet and the summary sheet of a workbook, as rows of values."""
    book = sheets(data)
    ledger_sheet, _timeline, summary = book.values()
    return ledger_sheet, summary


def test_workbook_layout_and_summary() -> None:
    data = export_workbook(known_cases(), LABELS, ZH, NOVEMBER, NOW, tz=TZ)
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["民情台账", "办理过程", "汇总"]
    sheet = book["民情台账"]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:Z10"
    assert all(cell.font.bold for cell in sheet[1])
    assert sheet.column_dimensions["H"].width >= 8  # the problem column is not squeezed
    assert sheet.max_row == 10
    # Real date cells with the year, local time; durations numbers with one decimal shown.
    registered, answered_hours = sheet["B2"], sheet["O2"]
    assert registered.value == datetime(2026, 11, 1, 0, 0) and registered.is_date
    assert registered.number_format == "yyyy-mm-dd hh:mm"
    assert answered_hours.value == 2.0 and answered_hours.number_format == "0.0"
    assert sheet["V2"].value == 2.08  # days to close
    summary = book["汇总"]
    header = [c.value for c in summary[1]]
    overall = dict(zip(header, (c.value for c in summary[2]), strict=True))
    assert overall["统计范围"] == "总体"
    assert (overall["收到诉求"], overall["办结"], overall["办理中"], overall["超期"]) == (
        9,
        2,
        6,
        2,
    )
    assert overall["响应率"] == pytest.approx(5 / 9)
    assert summary.cell(2, header.index("响应率") + 1).number_format == "0.0%"
    rows = {(r[0], r[1]): r for r in summary.iter_rows(min_row=3, values_only=True) if r[0]}
    assert rows[("渠道", "小板凳座谈会")][header.index("解决率")] == "暂无数据"
    assert ("楼栋", "林溪苑2号楼") in rows
    assert rows[("统计时间", datetime(2026, 11, 21, 10, 0))] is not None
    assert rows[("时区", "Asia/Shanghai")] is not None


def test_the_timeline_sheet_has_every_step_of_every_case() -> None:
    first = case(1, B1, Channel.GROUP, local(11, 2, 9), State.CLOSED, answered_after=HOUR)
    first.timeline = [
        Step(local(11, 2, 9).astimezone(UTC), "report", 101, "张阿姨"),
        Step(local(11, 2, 10).astimezone(UTC), "accept", 201, "王楼长", code="key"),
        Step(local(11, 2, 15).astimezone(UTC), "progress", 201, "王楼长", "已联系电工"),
        Step(local(11, 3, 9).astimezone(UTC), "supporter", 102, "李大爷"),
        Step(local(11, 3, 11).astimezone(UTC), "rate", 101, "张阿姨", code="satisfied"),
    ]
    second = case(2, B2, Channel.MAILBOX, local(11, 4), reporter="")
    second.timeline = [
        Step(local(11, 4).astimezone(UTC), "log", 301, "刘社工", "刘社工", code="logged-by"),
    ]
    old = case(3, B2, Channel.GROUP, local(10, 30))  # another month: not in November's file
    old.timeline = [Step(local(10, 30).astimezone(UTC), "report", 103, "陈女士")]
    book = sheets(export_workbook([first, second, old], LABELS, ZH, NOVEMBER, NOW, tz=TZ))
    assert book["办理过程"] == [
        ("编号", "时间", "步骤", "操作人", "备注"),
        (1, datetime(2026, 11, 2, 9, 0), "反映", "张阿姨", None),
        (1, datetime(2026, 11, 2, 10, 0), "已受理", "王楼长", "重点件"),
        (1, datetime(2026, 11, 2, 15, 0), "进展", "王楼长", "已联系电工"),
        (1, datetime(2026, 11, 3, 9, 0), "同感", "李大爷", None),
        (1, datetime(2026, 11, 3, 11, 0), "评价", "张阿姨", "满意"),
        (2, datetime(2026, 11, 4, 9, 0), "线下登记", "刘社工", "由刘社工代为登记"),
    ]
    english = sheets(export_workbook([first], LABELS, EN, NOVEMBER, NOW, tz=TZ))
    assert english["Timeline"][0] == ("Case no.", "Time", "Step", "By", "Note")
    assert english["Timeline"][2][2:] == ("accepted", "王楼长", "key case")


def test_workbook_keeps_resident_text_as_text() -> None:
    evil = case(1, B1, Channel.GROUP, local(11, 2), reporter="=cmd|' /C calc'!A0")
    evil.text = '=HYPERLINK("http://x","点我")\x00\x07 灯坏了'
    evil.timeline = [Step(evil.created, "progress", 1, "=1+2", "@SUM(A1:A9)")]
    data = export_workbook([evil], {B1: "=1+1"}, ZH, NOVEMBER, NOW, tz=TZ)
    book = load_workbook(io.BytesIO(data))
    row = [c for c in book.worksheets[0][2]]
    assert all(c.data_type != "f" for c in row)
    assert row[7].value == '=HYPERLINK("http://x","点我") 灯坏了'
    assert row[4].value == "=cmd|' /C calc'!A0" and row[3].value == "=1+1"
    for sheet in book.worksheets[1:]:
        assert all(c.data_type != "f" for r in sheet.iter_rows() for c in r)


def test_the_csv_is_the_ledger_sheet_for_other_systems() -> None:
    cases = known_cases()
    cases[3].contact = Contact("王阿姨", "3-502", "+86 138 0000 0000")
    cases[4].text = "=1+1 is not a formula; -3 °C neither"
    cases[0].photo, cases[0].photos, cases[0].fix_photo = "p1", ["p1", "p2"], "after"
    duplicate = case(10, B1, Channel.GROUP, local(11, 20), State.MERGED)
    duplicate.merged_into = 1
    cases.append(duplicate)
    data = export_csv(cases, LABELS, ZH, NOVEMBER, NOW, tz=TZ)
    assert data.startswith("\ufeff".encode()) and b"\r\n" in data and b"\n\n" not in data
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    assert rows[0] == ledger.ledger_headers(ZH)
    col = {header: rows[0].index(header) for header in rows[0]}
    by_id = {row[0]: row for row in rows[1:]}
    assert rows[1][:3] == ["1", "2026-11-01T00:00+08:00", "楼栋群"]
    assert by_id["1"][col["答复用时（小时）"]] == "2.0"
    assert by_id["1"][col["办结用时（天）"]] == "2.08"
    # A phone number stays as it is; a formula does not.
    assert [by_id["4"][col["房号"]], by_id["4"][col["联系电话"]]] == ["3-502", "+86 138 0000 0000"]
    assert by_id["5"][col["问题内容"]] == "'=1+1 is not a formula; -3 °C neither"
    # The report's photos and the fix's; a merged case keeps its row, saying where it went.
    assert (by_id["1"][col["照片数"]], by_id["1"][col["整改照片"]]) == ("2", "是")
    merged = by_id["10"]
    assert (merged[col["办理状态"]], merged[col["进展情况"]]) == ("已合并", "已并入 #1")
    assert (merged[col["照片数"]], merged[col["整改照片"]]) == ("0", "")
    xlsx, _summary = read_book(export_workbook(cases, LABELS, ZH, NOVEMBER, NOW, tz=TZ))
    assert len(rows) == len(xlsx)
    for written, cells in zip(rows[1:], xlsx[1:], strict=True):
        for field, cell in zip(written, cells, strict=True):
            if isinstance(cell, datetime):
                assert datetime.fromisoformat(field).replace(tzinfo=None) == cell
            elif isinstance(cell, (int, float)):
                assert float(field) == cell
            else:
                assert field.removeprefix("'") == (cell or "")
    assert export_filename(NOVEMBER, Format.CSV) == "echowall-ledger-2026-11.csv"


# --- the xlsx rows and /stats agree, for any set of cases ----------------------------------

MONTH_START = local(11, 1, 0)


@st.composite
def case_sets(draw: st.DrawFn) -> list[Case]:
    """Coherent random cases around November: states with the fields their history leaves."""
    cases = []
    for case_id in range(1, draw(st.integers(0, 30)) + 1):
        created = MONTH_START + timedelta(minutes=draw(st.integers(-3 * 1440, 33 * 1440)))
        state = draw(st.sampled_from(list(State)))
        # Every state but "new" has had an answer: reopening needs a fix, closing or decline.
        answered = state is not State.NEW
        delay = timedelta(minutes=draw(st.integers(0, 48 * 60))) if answered else None
        c = case(
            case_id,
            draw(st.sampled_from([B1, B2, -3])),
            draw(st.sampled_from(list(Channel))),
            created,
            State.FIXED if state is State.REOPENED else state,
            answered_after=delay,
            reporter=draw(st.text(max_size=8)),
        )
        c.text = draw(st.text(min_size=1, max_size=40))
        if state in (State.FIXED, State.CLOSED, State.REOPENED):
            c.rating = draw(st.none() | st.sampled_from(list(Rating)))
        if state is State.REOPENED:
            reopened(c, created + timedelta(days=draw(st.integers(3, 10))))
        if state is State.MERGED:
            c.merged_into = draw(st.integers(1, 30))
        cases.append(c)
    return cases


def counted(body: list[list[object]], state: int, t: Translator) -> list[list[object]]:
    """The ledger's rows the figures count: not those of cases merged into another."""
    merged = t.gettext(STATE_LABELS[State.MERGED])
    return [r for r in body if r[state] != merged]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=case_sets(), language=st.sampled_from(["zh", "en"]))
def test_rates_from_the_exported_rows_equal_the_stats(cases: list[Case], language: str) -> None:
    t = CATALOGS.get(language)
    rows, summary = read_book(export_workbook(cases, LABELS, t, NOVEMBER, NOW, tz=TZ))
    header, body = rows[0], [[v if v is not None else "" for v in r] for r in rows[1:]]
    col = {name: header.index(t.gettext(name)) for name in ledger.LEDGER_HEADERS}
    state = col["State"]
    # A merged case keeps its row, and counts in no figure.
    assert len(body) == len(ledger.received_in(cases, NOVEMBER))
    body = counted(body, state, t)
    declined, closed = (
        t.gettext(STATE_LABELS[State.DECLINED]),
        t.gettext(STATE_LABELS[State.CLOSED]),
    )
    pleased = {t.gettext(RATING_LABELS[Rating.SATISFIED]), t.gettext(RATING_LABELS[Rating.BASIC])}
    answered = [r for r in body if r[col["Answered at"]] != ""]
    accepted = [r for r in answered if r[state] != declined]
    rated = [r for r in body if r[col["Satisfaction"]] != ""]
    from_rows = (
        Rate(sum(r[col["Answered in time"]] == t.gettext("yes") for r in body), len(body)),
        Rate(sum(r[state] == closed for r in accepted), len(accepted)),
        Rate(sum(r[col["Satisfaction"]] in pleased for r in rated), len(rated)),
    )

    overall = ledger.tally(cases, NOVEMBER, NOW).overall
    assert from_rows == (overall.response_rate, overall.resolution_rate, overall.satisfaction_rate)
    # The summary sheet and the /stats text say the same.
    overall_row = summary[1]
    for written, rate in zip(overall_row[-3:], from_rows, strict=True):
        if rate.value is None:
            assert written == t.gettext("no data")
        else:
            assert written == pytest.approx(rate.value)
    text = stats_text(cases, LABELS, t, NOVEMBER, NOW)
    if body:
        for rate in from_rows:
            assert rate_text(rate, t) in text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=case_sets(), language=st.sampled_from(["zh", "en"]))
def test_every_figure_of_the_summary_sheet_is_a_recount_of_the_ledger_rows(
    cases: list[Case], language: str
) -> None:
    """Overall, per building and per channel: each count and each rate of the summary sheet
    is what counting the ledger sheet's rows gives."""
    t = CATALOGS.get(language)
    rows, summary = read_book(export_workbook(cases, LABELS, t, NOVEMBER, NOW, tz=TZ))
    counted, written = recount(rows, t), summary_rows(summary)
    overall = (t.gettext("Overall"), "")
    assert set(written) == set(counted) or (not counted and set(written) == {overall})
    n = len(COUNTS)
    for scope, figures in counted.items():
        assert written[scope][:n] == figures[:n], scope
        for value, (part, whole) in zip(written[scope][n:], figures[n:], strict=True):
            assert rate_matches(value, part, whole, t), (scope, value, part, whole)


# --- the commands, against the recording messenger -----------------------------------------


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    yield w  # type: ignore[misc]
    w.repo.close()


WORKER = User(7, "刘社工", language="zh")
PRIVATE = ChatRef(WORKER.id, "private")


async def test_stats_for_staff_and_refusal_for_others(world: World) -> None:
    world.messenger.statuses[(STAFF, WORKER.id)] = "member"
    world.repo.save_group(Group(GROUP.id, GROUP.title or "", name="林溪苑5号楼"))
    await world.say(RESIDENT, "/report 楼道灯坏了")
    await world.say(HEAD, "/accept 1")
    before = len(world.messenger.sent)
    await world.say(RESIDENT, "/stats")
    await world.say(HEAD, "/stats month")  # a head of a building is not staff
    refusals = [s.text for s in world.messenger.sent[before:]]
    assert refusals == ["/stats 仅限社区工作人员使用。"] * 2
    assert world.messenger.documents == []

    await world.say(WORKER, "/stats month", chat=PRIVATE)
    reply = world.messenger.sent[-1]
    assert reply.chat_id == WORKER.id
    assert "收到 1 件" in reply.text and "响应率 100% (1/1)" in reply.text
    assert "<b>林溪苑5号楼</b>" in reply.text
    await world.say(WORKER, "/stats year", chat=PRIVATE)
    assert world.messenger.sent[-1].text == (
        "“year”不是统计时段。\n用法：/stats [本周|本月|全部|YYYY-MM]（默认本月）"
    )
    await world.say(WORKER, "/stats week month", chat=PRIVATE)
    assert world.messenger.sent[-1].text.startswith("“week month”：请只写一个时段。")
    await world.say(WORKER, "/stats 2026-13", chat=PRIVATE)
    assert world.messenger.sent[-1].text.startswith("“2026-13”不是月份")


async def test_export_sends_the_month_to_staff_only_in_private(world: World) -> None:
    world.messenger.statuses[(STAFF, WORKER.id)] = "member"
    await world.say(RESIDENT, "/report 楼道灯坏了")
    await world.say(RESIDENT, "/export")
    assert world.messenger.documents == []
    await world.say(WORKER, "/export")  # staff, but in a building group: reporters' names
    assert world.messenger.documents == []
    assert "私聊" in world.messenger.sent[-1].text
    await world.say(WORKER, "/export 2020-13", chat=PRIVATE)
    assert world.messenger.sent[-1].text == (
        "“2020-13”不是月份：请写成 YYYY-MM，例如 2026-11。\n"
        "用法：/export [YYYY-MM] [csv]（默认本月，Excel 表格；加 csv 导出 CSV 文件）"
    )
    await world.say(WORKER, "/export", chat=PRIVATE)
    ((chat_id, name, data),) = world.messenger.documents
    assert chat_id == WORKER.id and name == "echowall-ledger-2026-11.xlsx"
    rows, _ = read_book(data)
    assert [(r[0], r[4], r[7]) for r in rows[1:]] == [(1, "张阿姨", "楼道灯坏了")]
    # A real month without cases: said so, without an empty workbook.
    for month, label in (("2026-10", "2026年10月"), ("1999-01", "1999年1月")):
        await world.say(WORKER, f"/export {month}", chat=PRIVATE)
        assert len(world.messenger.documents) == 1
        assert world.messenger.sent[-1].text == f"📒 {label}没有收到诉求，没有台账可导出。"
    # The same ledger as CSV, the month and the format in either order.
    for words in ("csv", "2026-11 CSV", "csv 2026-11"):
        await world.say(WORKER, f"/export {words}", chat=PRIVATE)
        chat_id, name, data = world.messenger.documents[-1]
        assert name == "echowall-ledger-2026-11.csv" and data.startswith("\ufeff编号,".encode())
    assert len(world.messenger.documents) == 4
    for words, problem in (
        ("csv xlsx", "“csv xlsx”：请只写一个月份和一种格式。"),
        ("2026-11 2026-10", "“2026-11 2026-10”：请只写一个月份和一种格式。"),
        ("pdf", "“pdf”既不是月份（YYYY-MM），也不是文件格式（xlsx、csv）。"),
        ("csv 2026-13", "“2026-13”不是月份：请写成 YYYY-MM，例如 2026-11。"),
    ):
        await world.say(WORKER, f"/export {words}", chat=PRIVATE)
        assert world.messenger.sent[-1].text.split("\n")[0] == problem
    assert len(world.messenger.documents) == 4


def test_stats_of_many_buildings_fit_in_telegram_messages() -> None:
    cases = [case(i, -i, Channel.GROUP, local(11, 2)) for i in range(1, 151)]
    labels = {-i: f"林溪苑{i}号楼" + "东区" * 20 for i in range(1, 151)}
    messages = chunk(stats_blocks(ledger.tally(cases, NOVEMBER, NOW), ZH, labels))
    assert len(messages) > 1
    assert all(utf16_len(m) <= 4096 for m in messages)
    assert all(f"林溪苑{i}号楼" in "".join(messages) for i in range(1, 151))
