"""The `echowall` program as a process: clean start and stop on both frameworks, clear errors."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from localapi import LocalBotAPI
from tests.conftest import AUNT_ZHANG, B1, STAFF, admit_world, build_world

ROOT = Path(__file__).resolve().parent.parent


def _env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ECHOWALL_")}
    env.update({f"ECHOWALL_{k.upper()}": v for k, v in values.items()})
    return env


@pytest.mark.parametrize("framework", ["ptb", "aiogram"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
async def test_signal_stops_the_bot_cleanly(
    tmp_path: Path, framework: str, sig: signal.Signals
) -> None:
    async with LocalBotAPI() as api:
        build_world(api)
        admit_world(tmp_path)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-X",
            "dev",
            "-m",
            "bot.cli",
            "run",
            "--framework",
            framework,
            cwd=ROOT,
            env=_env(
                token=api.token, api_url=api.url, data_dir=str(tmp_path), staff_chat=str(STAFF)
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        api.user_message(B1, AUNT_ZHANG, "/report 楼道灯坏了")
        ack = await api.wait_for(lambda r: r.chat_id == B1 and "#1" in (r.text or ""), timeout=20)
        assert ack.reply_to_message_id is not None
        assert {lang for (_, lang) in api.commands} >= {"zh", "en"}
        started = time.monotonic()
        process.send_signal(sig)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
        elapsed = time.monotonic() - started
    text = stderr.decode()
    assert process.returncode == 0, text
    assert elapsed < 10
    assert "Unclosed" not in text and "Traceback" not in text, text
    assert api.token not in text


def test_missing_token_is_a_clear_error(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ECHOWALL_TOKEN" in result.stderr and "demo" in result.stderr


def test_bad_setting_names_the_variable(tmp_path: Path) -> None:
    import subprocess

    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env=_env(token="1:x", timezone="Mars/Olympus", staff_chat="not-a-number"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "ECHOWALL_TIMEZONE" in result.stderr and "ECHOWALL_STAFF_CHAT" in result.stderr
    assert "1:x" not in result.stderr


async def test_logs_are_structured_and_never_hold_the_token(tmp_path: Path) -> None:
    token = "987654:AAH-secret_half_of_the_token_42"
    async with LocalBotAPI(token=token) as api:
        build_world(api)
        admit_world(tmp_path)
        # Failures make the HTTP stack log and raise with URLs in hand.
        api.fail_rate(0.3, kinds=("500", "502", "429"), seed=3)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "run",
            cwd=ROOT,
            env=_env(
                token=token,
                api_url=api.url,
                data_dir=str(tmp_path),
                staff_chat=str(STAFF),
                log_level="DEBUG",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        api.user_message(B1, AUNT_ZHANG, "/report 楼道灯坏了")
        await api.wait_for(lambda r: r.chat_id == B1 and "#1" in (r.text or ""), timeout=30)
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), 15)
    text = stderr.decode()
    assert "secret_half_of_the_token" not in text and token not in text
    assert "retry" in text or "flood control" in text  # the failures were logged
    lines = [line for line in text.splitlines() if "logger=echowall" in line]
    assert any("action=report" in ln and "case=1" in ln and f"chat={B1}" in ln for ln in lines)
    assert all(line.startswith("ts=") and " level=" in line for line in lines)
