"""End to end: /stats and /export through the real frameworks, and the `echowall` CLI."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook

from storage.records import Case, Channel, Group, Rating, State
from storage.tinydb_store import TinyRepository
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
    Harness,
)

ROOT = Path(__file__).resolve().parent.parent


def rows_of(data: bytes) -> list[tuple]:
    return list(load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(values_only=True))


async def neighbourhood_month(h: Harness) -> None:
    """Three reports: one closed and rated satisfied, one left new, one declined."""
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(STAFF, "#1")
    h.say(B1, UNCLE_LI, "/report 电梯异响")
    await h.reply(STAFF, "#2")
    h.say(B2, MS_CHEN, "/report 希望装个秋千")
    await h.reply(STAFF, "#3")
    h.say(B1, HEAD_WANG, "/accept 1 key 2d")
    await h.reply(B1, "#1", "重点件")
    h.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    fixed = await h.reply(B1, "#1", "换了灯泡")
    await h.answer_to(h.press(fixed, AUNT_ZHANG, "满意"))
    h.say(B1, HEAD_WANG, "/confirm 1")
    await h.reply(B1, "#1", "换了灯泡")
    h.say(B2, HEAD_ZHAO, "/decline 3 不属于社区办理范围")
    await h.reply(B2, "#3", "不属于社区办理范围")


async def test_staff_stats_show_the_counts_and_three_rates(h: Harness) -> None:
    await neighbourhood_month(h)
    h.say(STAFF, WORKER_LIU, "/stats month")
    stats = await h.reply(STAFF, "民情统计", "分楼栋")
    text = stats.text
    assert "收到 3 件 · 已答复 2 件（按时 2 件）· 受理 1 件 · 不予受理 1 件" in text
    assert "办结 1 件 · 办理中 1 件 · 超期 0 件 · 已评价 1 件" in text
    assert "响应率 66.7% (2/3) · 解决率 100% (1/1) · 满意率 100% (1/1)" in text
    # Building 2 declined its only case: nothing accepted, so no resolution rate.
    b2 = text[text.index("林溪苑2号楼") :]
    assert "解决率 暂无数据" in b2.split("分渠道")[0]
    assert "楼栋群" in text.split("分渠道")[1]


async def test_resident_is_refused_statistics_and_the_ledger(h: Harness) -> None:
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await h.reply(STAFF, "#1")
    h.say(B1, AUNT_ZHANG, "/stats")
    refusal = await h.reply(B1, "社区工作人员")
    h.say(AUNT_ZHANG, AUNT_ZHANG, "/export")
    await h.reply(AUNT_ZHANG, "社区工作人员")
    await h.settle()
    later = [r for r in h.api.sent if r.seq >= refusal.seq]
    assert not any("📊" in (r.text or "") or r.document_name for r in later)


async def test_export_sends_the_ledger_file_to_staff(h: Harness) -> None:
    await neighbourhood_month(h)
    h.say(STAFF, WORKER_LIU, "/export")
    sent = await h.reply(STAFF, "民情台账", method="sendDocument")
    assert sent.document_name is not None and sent.document_name.endswith(".xlsx")
    assert "3" in (sent.text or "")
    rows = rows_of(sent.document_bytes or b"")
    assert rows[0][:5] == ("编号", "登记时间", "渠道", "楼栋", "反映人")
    body = {r[0]: r for r in rows[1:]}
    assert sorted(body) == [1, 2, 3]
    assert (body[1][3], body[1][4], body[1][7]) == ("林溪苑1号楼", "张阿姨", "楼道灯坏了")
    assert (body[1][16], body[1][18], body[1][23]) == ("换了灯泡", "已办结", "满意")
    assert (body[1][8], body[1][11]) == ("公共设施", "王楼长")  # category, responsible
    assert isinstance(body[1][1], datetime) and isinstance(body[1][20], datetime)
    assert body[2][18] == "待受理" and body[2][12] is None
    assert (body[3][3], body[3][18], body[3][13]) == ("林溪苑2号楼", "不予受理", "是")
    assert (body[3][8], body[3][17]) == ("不属本社区辖区", "12345 政务服务便民热线")
    # The same from a private chat with the bot; a bad month gets the usage line.
    h.say(WORKER_LIU, WORKER_LIU, "/export 2020-13")
    await h.reply(WORKER_LIU, "/export [YYYY-MM]")
    h.say(WORKER_LIU, WORKER_LIU, "/export")
    private = await h.reply(WORKER_LIU, "民情台账", method="sendDocument")
    assert rows_of(private.document_bytes or b"") == rows


@pytest.fixture
def h(harness: Harness) -> Harness:
    return harness


# --- the console program -------------------------------------------------------------------


def seed(repo: TinyRepository) -> None:
    """Four cases of November 2026 (and one of October) in two buildings."""
    start = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
    far = datetime(2099, 1, 1, tzinfo=UTC)  # nothing becomes overdue while the test runs
    repo.save_group(Group(B1, "林溪苑1号楼"))
    repo.save_group(Group(B2, "林溪苑2号楼", name="二号楼"))

    def add(case_id: int, building: int, state: State, **kw: object) -> None:
        created = kw.pop("created", start + timedelta(days=case_id))
        c = Case(case_id, building, Channel.GROUP, f"问题{case_id}", created, far, **kw)  # type: ignore[arg-type]
        c.state = state
        repo.save_case(c)

    answered = start + timedelta(days=1)
    add(1, B1, State.CLOSED, answered_at=answered, due=far, reporter_name="张阿姨",
        rating=Rating.BASIC, closed_at=answered)  # fmt: skip
    add(2, B1, State.ACCEPTED, answered_at=answered, due=far)
    add(3, B2, State.DECLINED, answered_at=answered, closed_at=answered)
    add(4, B2, State.NEW)
    add(5, B2, State.NEW, created=datetime(2026, 10, 5, tzinfo=UTC))


def cli(data_dir: Path, *args: str, language: str = "en") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHOWALL_")}
    # This checkout's code, whichever checkout the interpreter's own install points at.
    env.update(
        ECHOWALL_DATA_DIR=str(data_dir),
        ECHOWALL_LANGUAGE=language,
        PYTHONIOENCODING="utf-8",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=data_dir.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_stats_and_export_read_the_store_without_touching_it(tmp_path: Path) -> None:
    data = tmp_path / "data"
    repo = TinyRepository(data)  # stays open, as a running bot would keep it
    try:
        seed(repo)
        files = {p.name: p.read_bytes() for p in data.iterdir()}

        result = cli(data, "stats", "--period", "2026-11")
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "Case statistics · 11/2026" in out
        assert "received 4 · answered 3 (3 in time) · accepted 2 · declined 1" in out
        assert "closed 1 · open 2 · overdue 0 · rated 1" in out
        assert "response rate 75% (3/4) · resolution rate 50% (1/2)" in out
        assert "satisfaction rate 100% (1/1)" in out
        assert "林溪苑1号楼" in out and "二号楼" in out

        zh = cli(data, "stats", "--period", "all", language="zh")
        assert "收到 5 件" in zh.stdout and "全部" in zh.stdout

        target = tmp_path / "ledger.xlsx"
        result = cli(data, "export", "--month", "2026-11", "--out", str(target))
        assert result.returncode == 0, result.stderr
        rows = rows_of(target.read_bytes())
        assert rows[0][0] == "Case no."
        state = rows[0].index("State")
        assert [(r[0], r[3], r[state]) for r in rows[1:]] == [
            (1, "林溪苑1号楼", "closed"),
            (2, "林溪苑1号楼", "accepted"),
            (3, "二号楼", "declined"),
            (4, "二号楼", "new"),
        ]

        bad = cli(data, "stats", "--period", "2020-13")
        assert bad.returncode == 2 and "/stats [week|month|all|YYYY-MM]" in bad.stderr
        missing = cli(tmp_path / "nowhere", "stats")
        assert missing.returncode == 2 and "nowhere" in missing.stderr
        assert not (tmp_path / "nowhere").exists()

        # The store the "bot" has open was not folded or truncated under it.
        assert {p.name: p.read_bytes() for p in data.iterdir()} == files
        repo.save_case(Case(6, B1, Channel.GROUP, "问题6", datetime.now(UTC), datetime.now(UTC)))
    finally:
        repo.close()
    reopened = TinyRepository(data)
    try:
        assert [c.id for c in reopened.all_cases()] == [1, 2, 3, 4, 5, 6]
    finally:
        reopened.close()
