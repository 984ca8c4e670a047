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
