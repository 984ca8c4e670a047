"""The ledger file as LibreOffice opens it: what a community without Excel (LibreOffice, WPS)
sees, and what the street office recounts.

LibreOffice runs headless (`soffice --convert-to`), with a profile of its own per test, on the
workbook `/export` sends: it must open it, keep its three sheets, read every time as a date
with its year and every duration as a number, and show them as the file says; and the summary
it shows must be the recount of the ledger rows it shows. `./dev test` installs LibreOffice
(`libreoffice-calc-nogui`) when it is missing and it runs as root, and then requires it
(`ECHOWALL_REQUIRE_LIBREOFFICE=1`); elsewhere the test is skipped, saying how to install it.
"""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from handlers.ledger import LEDGER_COLUMNS, LEDGER_HEADERS, Kind
from handlers.render import STATE_LABELS
from handlers.stats import export_workbook
from storage.records import Channel, Contact, State, Step
from tests.ledgerfile import COUNTS, rate_matches, recount, sheets, summary_rows
from tests.test_ledger import B1, CATALOGS, LABELS, NOVEMBER, NOW, TZ, case, known_cases, local

SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")
REQUIRED = os.environ.get("ECHOWALL_REQUIRE_LIBREOFFICE") == "1"
# LibreOffice's CSV filter: comma, double quotes, UTF-8, from line 1, cells as shown (not as
# stored), every sheet to a file of its own (-1, LibreOffice 7.2 and later).
CSV_FILTER = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,true,false,false,-1"


@pytest.fixture
def soffice() -> str:
    if SOFFICE is None:
        message = (
            "LibreOffice is not installed: apt-get install libreoffice-calc-nogui "
            "(./dev test does it when run as root)"
        )
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return SOFFICE


def convert(soffice: str, source: Path, to: str, out: Path) -> list[Path]:
    """Open `source` in LibreOffice and save it as `to`; the files it wrote."""
    out.mkdir()
    profile = out.parent / f"profile-{out.name}"  # never the user's, never shared
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--headless",
            "--norestore",
            "--convert-to",
            to,
            "--outdir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    written = sorted(out.iterdir())
    assert written, f"LibreOffice wrote nothing: {result.stdout} {result.stderr}"
    return written


def month_of_cases() -> list:
    """The known month, with a timeline, progress notes, an offline resident's contact, the
    photos of a report and of its fix, and a duplicate merged into case 1."""
    cases = known_cases()
    first = cases[0]
    first.photo, first.photos, first.fix_photo = "p1", ["p1", "p2", "p3"], "after"
    first.timeline = [
        Step(first.created, "report", 101, "张阿姨"),
        Step(local(11, 1, 2).astimezone(UTC), "accept", 201, "王楼长", code="key"),
        Step(local(11, 2, 9).astimezone(UTC), "progress", 201, "王楼长", "已联系电工"),
    ]
    offline = case(12, B1, Channel.VISIT, local(11, 18, 15), reporter="")
    offline.contact = Contact("王阿姨", "3-502", "13800000000")
    offline.text = '=HYPERLINK("http://x","点我") 楼道堆物'
    duplicate = case(13, B1, Channel.GROUP, local(11, 19, 8), State.MERGED)
    duplicate.merged_into = 1
    return [*cases, offline, duplicate]


@pytest.mark.parametrize("language", ["zh", "en"])
def test_libreoffice_opens_the_ledger_with_dates_numbers_and_a_summary_that_recounts(
    soffice: str, tmp_path: Path, language: str
) -> None:
    t = CATALOGS.get(language)
    ours = tmp_path / "ledger.xlsx"
    ours.write_bytes(export_workbook(month_of_cases(), LABELS, t, NOVEMBER, NOW, tz=TZ))
    written = sheets(ours.read_bytes())

    # Opened and saved again by LibreOffice: the same sheets, cells and types.
    (saved,) = convert(soffice, ours, "xlsx:Calc MS Excel 2007 XML", tmp_path / "xlsx")
    theirs = sheets(saved.read_bytes())
    names = [t.gettext("Ledger"), t.gettext("Timeline"), t.gettext("Summary")]
    assert list(theirs) == list(written) == names
    ledger, timeline, summary = theirs.values()
    assert ledger == written[t.gettext("Ledger")]
    assert timeline == written[t.gettext("Timeline")] and len(timeline) > 3
    kinds = [column.kind for column in LEDGER_COLUMNS]
    for row in ledger[1:]:
        for value, kind in zip(row, kinds, strict=True):
            if kind is Kind.WHEN and value is not None:
                assert isinstance(value, datetime), row  # a date cell, not text
            if kind is Kind.NUMBER and value is not None:
                assert isinstance(value, (int, float)), row
    col = {msgid: ledger[0].index(t.gettext(msgid)) for msgid in LEDGER_HEADERS}
    by_id = {row[0]: row for row in ledger[1:]}
    assert by_id[1][col["Registered at"]] == datetime(2026, 11, 1, 0, 0)  # local, with its year
    formula = by_id[12][col["Problem"]]
    assert formula == '=HYPERLINK("http://x","点我") 楼道堆物'  # text, never a formula
    assert (by_id[1][col["Photos"]], by_id[1][col["Fix photo"]]) == (3, t.gettext("yes"))
    # A merged case keeps its row, saying where it went; the recount leaves it out.
    merged = by_id[13]
    assert merged[col["State"]] == t.gettext(STATE_LABELS[State.MERGED])
    assert merged[col["Progress"]] == t.gettext("merged into #{id}").format(id=1)

    # The summary LibreOffice reads is the recount of the rows it reads.
    counted, figures = recount(ledger, t), summary_rows(summary)
    assert set(figures) == set(counted)
    n = len(COUNTS)
    for scope, recounted in counted.items():
        assert figures[scope][:n] == recounted[:n], scope
        for value, (part, whole) in zip(figures[scope][n:], recounted[n:], strict=True):
            assert rate_matches(value, part, whole, t), (scope, value)

    # As shown on screen (and printed): times with the year and the minute, durations with
    # one decimal, rates as percentages.
    shown = {
        path.stem.split("-", 1)[1]: list(csv.reader(path.open(encoding="utf-8", newline="")))
        for path in convert(soffice, ours, CSV_FILTER, tmp_path / "csv")
    }
    assert set(shown) == set(written)
    rows = shown[t.gettext("Ledger")]
    first = rows[1]
    assert first[col["Registered at"]] == "2026-11-01 00:00"
    assert first[col["Answered at"]] == "2026-11-01 02:00"
    # 2 h to answer, 2.08 days to close; three photos.
    assert first[col["Hours to answer"]] == "2.0" and first[col["Days to close"]] == "2.1"
    assert first[col["Photos"]] == "3"
    overall = shown[t.gettext("Summary")][1]
    assert overall[-3:] == ["50.0%", "33.3%", "66.7%"]  # 5 of 10 answered in time
    assert shown[t.gettext("Timeline")][2][1] == "2026-11-01 02:00"
