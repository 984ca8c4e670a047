"""The terminal demo: `echowall demo --script` end to end, and its pieces in isolation."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bot.demo import (
    AUNT_ZHANG,
    BUILDING_1,
    STAFF_CHAT,
    WORKER_LIU,
    DemoSession,
    _free_path,
    build_world,
    html_to_terminal,
)
from localapi import LocalBotAPI

ROOT = Path(__file__).resolve().parents[1]

FIRST_FLOW = """\
# The PRODUCT's first flow: call → accept → fix → rating → confirm → echo wall.
/report 楼道灯坏了
:as 王楼长
/accept 1 key 2d
/fixed 1 换了灯泡
:as 张阿姨
:press 1
:as 王楼长
/confirm 1
/echo
"""


# The demo's clock is pinned, so no test depends on the day it runs (Beijing time).
DEMO_CLOCK = "2026-12-02T09:00"
# A line of the bot's log (bot/logs.py), which belongs in the log file, not the chat.
_LOG_LINE = re.compile(r"(^|\s)(ts|level|logger)=", re.MULTILINE)


def run_script(
    tmp_path: Path, script: str, framework: str, *, clock: str = DEMO_CLOCK
) -> subprocess.CompletedProcess[str]:
    """Run `echowall demo --script` as a user would, with a clean environment."""
    path = tmp_path / "demo.txt"
    path.write_text(script, encoding="utf-8")
    # The demo must not depend on (or pick up) a developer's real settings.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHOWALL_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "bot.cli",
            "demo",
            "--framework",
            framework,
            "--script",
            str(path),
            "--data-dir",
            str(tmp_path / "data"),
            "--clock",
            clock,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def blocks(output: str) -> list[tuple[str, str]]:
    """The bot's messages as printed: (header line, indented body) pairs."""
    found: list[tuple[str, list[str]]] = []
    body: list[str] | None = None
    for line in output.splitlines():
        if line.startswith("◆ "):
            body = []
            found.append((line, body))
        elif body is not None and line.startswith("    "):
            body.append(line)
        else:
            body = None  # a prompt or a note ends the message
    return [(head, "\n".join(lines)) for head, lines in found]


def after(output: str, prompt_line: str) -> str:
    """What was printed after the echoed input line, up to the next prompt."""
    _, _, rest = output.partition(prompt_line)
    assert rest, f"{prompt_line!r} was not echoed"
    end = rest.find("\n[")
    return rest if end < 0 else rest[:end]


def test_script_runs_the_first_flow_end_to_end(tmp_path: Path, framework: str) -> None:
    result = run_script(tmp_path, FIRST_FLOW, framework)
    out = result.stdout
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr

    # The groups were greeted when the bot joined them; the banner suggests a first step.
    assert any(head.startswith("◆ 林溪苑1号楼") for head, _ in blocks(out)), out[:3000]
    # The demo's token is random and never shown, not even in its logs.
    assert not re.search(r"\d{5,}:[A-Za-z0-9_-]{20,}", out + result.stderr)
    banner = out.split("[张阿姨 @ 林溪苑1号楼] >")[0]
    assert any(
        line.startswith("刘社工 (staff). Try:") and "/report 楼道灯坏了" in line
        for line in banner.splitlines()
    )
    assert ":help" in banner

    # The report is acknowledged in the group and the staff chat gets a card with buttons.
    reported = blocks(after(out, "[张阿姨 @ 林溪苑1号楼] > /report 楼道灯坏了"))
    assert any("林溪苑1号楼" in head and "↪ #3" in head and "#1" in body for head, body in reported)
    assert any(
        head.startswith("◆ 社区工作群") and "#1" in body and "[1] 受理" in body
        for head, body in reported
    )

    # Acting as the head in building 1 shows the staff chat's edited card too.
    accepted = blocks(after(out, "[王楼长 @ 林溪苑1号楼] > /accept 1 key 2d"))
    assert any("社区工作群" in head and "✎ edited" in head for head, _ in accepted)

    # The resident's press is answered with a toast.
    pressed = after(out, "[张阿姨 @ 林溪苑1号楼] > :press 1")
    assert "pressed “满意”" in pressed
    assert "💬 toast:" in pressed and "感谢" in pressed

    # Confirming posts the echo-wall entry with the measure, and /echo lists it.
    confirmed = blocks(after(out, "[王楼长 @ 林溪苑1号楼] > /confirm 1"))
    assert any("回音壁" in body and "换了灯泡" in body for _, body in confirmed)
    echo = blocks(after(out, "[王楼长 @ 林溪苑1号楼] > /echo"))
    assert any("回音壁" in body and "#1" in body and "换了灯泡" in body for _, body in echo)

    # HTML is rendered, never shown raw; no ANSI into a pipe; the token never appears.
    assert "<b>" not in out and "&lt;" not in out and "\x1b[" not in out
    assert "123456:" not in out + result.stderr
    assert f"data is in {tmp_path / 'data'}" in out
    assert (tmp_path / "data").is_dir()

    # Logs go to a file in the demo's folder, named at the start and at the end, never into
    # the terminal; the banner says where the bot's clock stands, as its chats show times.
    log_file = tmp_path / "data" / "demo.log"
    assert f"logs go to {log_file}" in banner
    assert out.rstrip().endswith(f"Its log: {log_file}")
    log_text = log_file.read_text(encoding="utf-8")
    assert "action=start" in log_text and "action=confirm" in log_text
    assert not re.search(r"\d{5,}:[A-Za-z0-9_-]{20,}", log_text)
    assert not _LOG_LINE.search(out + result.stderr), result.stderr
    assert "The bot's clock: 12月2日 周三 09:00 (2026, Asia/Shanghai)." in banner


def test_unreadable_script_is_reported(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "demo", "--script", str(tmp_path / "missing.txt")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=30,
    )
    assert result.returncode == 2
    assert "demo script" in result.stderr


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("<b>诉求 #1</b> · 待受理", "诉求 #1 · 待受理"),
        (
            "a &lt;script&gt; &amp; b &quot;c&quot; &#39;d&#39; &#x4e00;",
            "a <script> & b \"c\" 'd' 一",
        ),
        ("<b>x <i>y</i> <u>z</u></b> <s>old</s> <code>/report</code>", "x y z old /report"),
        ('<a href="https://example.org/case/1">case</a>', "case <https://example.org/case/1>"),
        ('<a href="https://example.org">https://example.org</a>', "https://example.org"),
        ('<tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">t</span>', "s t"),
        ("<pre>line 1\nline 2</pre>", "line 1\nline 2"),
        ("plain text", "plain text"),
    ],
)
def test_html_to_terminal_strips_tags_and_unescapes(source: str, expected: str) -> None:
    assert html_to_terminal(source) == expected


def test_html_to_terminal_styles_only_when_asked() -> None:
    styled = html_to_terminal("<b>bold <i>both</i></b> plain", ansi=True)
    assert styled.startswith("\x1b[1mbold \x1b[3mboth")
    # Closing the inner tag keeps the outer style; everything is reset at the end.
    assert "\x1b[0m\x1b[1m" in styled
    assert styled.replace("\x1b[0m", "").endswith(" plain")
    assert "\x1b" not in html_to_terminal("<b>bold</b>")


async def test_switching_people_and_chats_follows_membership() -> None:
    api = LocalBotAPI()
    await api.start()
    try:
        build_world(api)
        out = io.StringIO()
        session = DemoSession(api, out)
        assert "[张阿姨 @ 林溪苑1号楼]" in session.prompt()

        assert await session.handle(":in staff")
        assert "not a member" in out.getvalue() and session.chat_id == BUILDING_1

        await session.handle(":in private")
        assert session.chat_id == AUNT_ZHANG and "private" in session.prompt()
        await session.handle(":as 刘社工")  # the private chat follows the person
        assert session.chat_id == WORKER_LIU
        await session.handle(":in 3")
        assert session.chat_id == STAFF_CHAT
        await session.handle(":as 1")  # 张阿姨 is not in the staff chat: back home
        assert session.chat_id == BUILDING_1 and session.me.id == AUNT_ZHANG

        await session.handle(":reply 99 hello")
        assert "no message #99" in out.getvalue()
        await session.handle(":press 1")
        assert "no message with buttons" in out.getvalue()
        await session.handle(":frobnicate")
        assert ":help" in out.getvalue()
        assert not await session.handle(":quit")
    finally:
        await api.stop()


def test_later_lets_a_case_run_overdue_and_escalate(tmp_path: Path) -> None:
    result = run_script(tmp_path, "/report 楼道漏水\n:later 25h\n:later 25h\n:later 2x\n", "ptb")
    assert result.returncode == 0, result.stderr
    flagged = after(result.stdout, "> :later 25h")
    assert "flagged [1]" in flagged and "已超期" in flagged
    # The clock as the chats show it: Beijing time, not UTC (09:00 + 25 h).
    assert "the bot's clock is now 12月3日 周四 10:00 (2026, Asia/Shanghai)" in flagged
    assert "UTC" not in flagged
    _, _, second = result.stdout.partition("> :later 25h")
    escalated = after(second, "> :later 25h")
    assert "escalated [1]" in escalated and "街道督办" in escalated
    assert "usage:  :later" in after(result.stdout, "> :later 2x")


# Every weekday, a month's last evening and the year's last minutes (Beijing time): the
# README's hint (a report, then `:later 7d`, then the weekly summary) must hold on each.
DEMO_DAYS = [
    "2026-11-30T09:00",  # Monday
    "2026-12-01T09:00",
    "2026-12-02T09:00",
    "2026-12-03T09:00",
    "2026-12-04T09:00",
    "2026-12-05T09:00",
    "2026-12-06T22:30",  # Sunday night
    "2026-11-30T23:59",  # a month's last minute
    "2026-12-31T23:30",  # New Year's Eve
]


@pytest.mark.parametrize("clock", DEMO_DAYS)
def test_reports_can_be_sent_from_the_demo(tmp_path: Path, clock: str) -> None:
    script = "/report 楼道灯坏了\n:later 7d\n:report weekly\n:report monthly\n:report yearly\n"
    result = run_script(tmp_path, script, "ptb", clock=clock)
    assert result.returncode == 0, result.stderr
    weekly = after(result.stdout, "> :report weekly")
    # Last week's summary holds the case reported a week ago, with its chart.
    assert "社区工作群" in weekly and "photo" in weekly, weekly
    assert "收到 1 件" in weekly, weekly
    monthly = after(result.stdout, "> :report monthly")
    assert ".xlsx" in monthly
    assert "usage:  :report" in after(result.stdout, "> :report yearly")


CALENDAR_JUMPS = """\
:as 刘社工
:in staff
/event tomorrow 19:00 小板凳座谈会 #forum @ 林溪苑广场
:as 王楼长
/remind 1m 测试
:later 2m
:later 1d
:later 10h
"""


def test_later_sends_what_falls_due_on_time(tmp_path: Path, framework: str) -> None:
    """A jump of the demo's clock is not an outage: what falls due in it goes out, on time."""
    result = run_script(tmp_path, CALENDAR_JUMPS, framework)
    out = result.stdout
    assert result.returncode == 0, result.stderr

    # The reminder a minute ahead, after :later 2m: there, and not marked late.
    soon = blocks(after(out, "> :later 2m"))
    (note,) = [body for head, body in soon if "林溪苑1号楼" in head and "提醒 R1：测试" in body]
    assert "补发" not in note
    # :later 1d (09:03 → 09:03 next day) goes over the day-before reminder at 19:00, 14 hours
    # before the end of the jump: it reaches both groups, as a reply to the event's post.
    day_before = blocks(after(out, "> :later 1d"))
    for group in ("林溪苑1号楼", "林溪苑2号楼"):
        (reminder,) = [
            (head, body) for head, body in day_before if group in head and "提醒：" in body
        ]
        assert "小板凳座谈会" in reminder[1] and "24小时" in reminder[1] and "↪" in reminder[0]
    assert "reminders that fell due: sent 1" in after(out, "> :later 1d")
    # :later 10h goes over the hour-before reminder (18:00) and the event itself (19:00).
    hour_before = blocks(after(out, "> :later 10h"))
    assert len([b for h, b in hour_before if "提醒：" in b and "60分钟" in b]) == 2
    # Nothing was late, skipped or logged into the chat.
    assert "补发" not in out
    assert not _LOG_LINE.search(out + result.stderr), result.stderr
    log_text = (tmp_path / "data" / "demo.log").read_text(encoding="utf-8")
    assert "reminder-skipped" not in log_text and "late=True" not in log_text
    assert log_text.count("action=reminder key=") == 3


def test_files_the_bot_sends_are_saved_in_the_demo_folder(tmp_path: Path) -> None:
    script = (
        "/report 楼道灯坏了\n:as 刘社工\n:in staff\n/export\n"
        ":later 7d\n:report weekly\n:report monthly\n"
    )
    result = run_script(tmp_path, script, "ptb")
    assert result.returncode == 0, result.stderr
    data = tmp_path / "data"
    # Each path is printed after the message that carried the file.
    saved = {Path(path) for path in re.findall(r"💾 saved: (\S+)", result.stdout)}
    ledger = data / "echowall-ledger-2026-12.xlsx"
    chart = data / "echowall-week-2026-W49.png"
    november = data / "echowall-ledger-2026-11.xlsx"
    assert f"💾 saved: {ledger}" in after(result.stdout, "> /export")
    assert f"💾 saved: {chart}" in after(result.stdout, "> :report weekly")
    assert f"💾 saved: {november}" in after(result.stdout, "> :report monthly")
    # Each is what the bot sent, ready to open.
    assert saved == {ledger, chart, november}
    assert ledger.read_bytes()[:2] == b"PK" and november.read_bytes()[:2] == b"PK"
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"data is in {data}" in result.stdout


def test_a_sent_file_is_saved_under_its_own_name_in_the_folder(tmp_path: Path) -> None:
    first = _free_path(tmp_path, "echowall-ledger-2026-12.xlsx", b"one")
    assert first == tmp_path / "echowall-ledger-2026-12.xlsx"
    first.write_bytes(b"one")
    # The same file again is the same file; a newer one with that name gets a number.
    assert _free_path(tmp_path, "echowall-ledger-2026-12.xlsx", b"one") == first
    second = _free_path(tmp_path, "echowall-ledger-2026-12.xlsx", b"two")
    assert second == tmp_path / "echowall-ledger-2026-12-2.xlsx"
    # Only the name's last part counts: nothing lands outside the folder.
    assert _free_path(tmp_path, "../../etc/x.png", b"") == tmp_path / "x.png"
    assert _free_path(tmp_path, "..\\..\\x.png", b"").parent == tmp_path
    with pytest.raises(ValueError):
        _free_path(tmp_path, "..", b"")
