"""`echowall backup` next to a running bot, with a process killed in the middle (SIGKILL), and
`echowall restore` from what is left: the restored store opens, and holds every case the bot
acknowledged before the backup began.

The bot and the backup are real processes (`python -m bot.cli run`, `… backup`, `… restore`)
on one data directory, the bot polling the local Bot API server, on both frameworks. The store
holds a history of cases first, so that a backup paced at 0.4 MB a second takes seconds and is
killed, or sees the bot killed, while it copies the snapshot; meanwhile residents keep
reporting, so the bot keeps writing its journal.

- The bot killed: the backup goes on (it only reads the bot's files) and is whole; restored,
  it holds every case acknowledged before it began, and the cases it holds are cases 1 … n,
  each as written (a state the store went through).
- The backup killed: no file at its name, the previous backup untouched; restored from that
  one, the store is as it was then. The next backup deletes the dead one's work directory.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from localapi import LocalBotAPI
from storage.backup import WORK_PREFIX
from storage.records import Case, Channel
from storage.tinydb_store import TinyRepository
from tests.conftest import AUNT_ZHANG, B1, MS_CHEN, STAFF, UNCLE_LI, admit_world, build_world

ROOT = Path(__file__).resolve().parent.parent
# The history: cases 1 … HISTORY, about 1.4 MB on disk (3.5 s of a backup at PACE_MB).
HISTORY = 600
LONG_AGO = datetime(2025, 3, 2, 1, 0, tzinfo=UTC)
PACE_MB = 0.4
RESIDENTS = (AUNT_ZHANG, UNCLE_LI, MS_CHEN)


def env(api: LocalBotAPI, data: Path) -> dict[str, str]:
    values = {k: v for k, v in os.environ.items() if not k.startswith("ECHOWALL_")}
    values.update(
        ECHOWALL_TOKEN=api.token,
        ECHOWALL_API_URL=api.url,
        ECHOWALL_DATA_DIR=str(data),
        ECHOWALL_STAFF_CHAT=str(STAFF),
        ECHOWALL_REPORT_LIMIT="0",
        ECHOWALL_REPORTS="false",
        ECHOWALL_RATE_PER_SECOND="1000",
        ECHOWALL_RATE_GROUP_PER_MINUTE="100000",
        PYTHONPATH=str(ROOT),
    )
    return values


def write_history(data: Path) -> None:
    repo = TinyRepository(data)
    try:
        with repo.transaction():
            for n in range(1, HISTORY + 1):
                text = f"旧诉求{n}：" + "楼道照明与消防通道" * 60
                repo.save_case(Case(n, B1, Channel.GROUP, text, LONG_AGO, LONG_AGO))
    finally:
        repo.close()


def cli(api: LocalBotAPI, data: Path, *args: str) -> subprocess.Popen[str]:
    """`echowall …` as a process; what it writes goes to a file beside the data directory (a
    pipe nobody reads would stop a chatty bot)."""
    log = open(data.parent / f"{args[0]}-{time.monotonic_ns()}.log", "w+")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=ROOT,
        env=env(api, data),
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    process.log = log  # type: ignore[attr-defined]
    return process


def finish(process: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    """Wait for the process; its exit code and what it wrote."""
    process.wait(timeout=timeout)
    log = process.log  # type: ignore[attr-defined]
    log.seek(0)
    text = str(log.read())
    log.close()
    return process.returncode, text


class Residents:
    """Residents reporting one case after another, each waiting for its acknowledgement."""

    def __init__(self, api: LocalBotAPI) -> None:
        self.api = api
        self.acknowledged: list[int] = []
        self.sent = 0
        self.stop = False

    async def report(self) -> int:
        self.sent += 1
        who = RESIDENTS[self.sent % len(RESIDENTS)]
        self.api.user_message(B1, who, f"/report 第{self.sent}件新诉求")
        number = HISTORY + self.sent
        mark = re.compile(rf"#{number}(?!\d)")
        await self.api.wait_for(
            lambda r: r.chat_id == B1 and bool(mark.search(r.text or "")), timeout=30
        )
        self.acknowledged.append(number)
        return number

    async def keep_reporting(self) -> None:
        # A flag as well as the cancellation: asyncio.wait_for (Python 3.11) may swallow a
        # cancellation that meets the wait's end, and the bot answers all the time.
        while not self.stop:
            await self.report()


async def in_the_middle(backup: subprocess.Popen[str], backups: Path) -> None:
    """Until the backup copies the store's snapshot (after its journal): in the middle."""
    deadline = time.monotonic() + 30
    while True:
        assert backup.poll() is None, "the backup ended before it could be interrupted"
        for work in backups.glob(WORK_PREFIX + "*"):
            snapshot = work / "echowall.snapshot.json"
            if snapshot.exists() and snapshot.stat().st_size > 0:
                return
        assert time.monotonic() < deadline, "the backup never started copying"
        await asyncio.sleep(0.02)


def case_numbers(data: Path) -> list[int]:
    repo = TinyRepository(data)
    try:
        cases = list(repo.all_cases())
        for case in cases:
            if case.id <= HISTORY:
                assert case.text.startswith(f"旧诉求{case.id}：")
            else:
                assert case.text == f"第{case.id - HISTORY}件新诉求"
        return [case.id for case in cases]
    finally:
        repo.close()


@pytest.mark.parametrize("framework", ["ptb", "aiogram"])
@pytest.mark.parametrize("killed", ["bot", "backup"])
async def test_a_process_killed_in_the_middle_of_a_backup_and_the_store_restored(
    tmp_path: Path, framework: str, killed: str
) -> None:
    data, backups = tmp_path / "data", tmp_path / "backups"
    backups.mkdir()
    write_history(data)
    admit_world(data)
    async with LocalBotAPI() as api:
        build_world(api)
        bot = cli(api, data, "run", "--framework", framework)
        try:
            residents = Residents(api)
            for _ in range(3):
                await residents.report()
            # A first backup, whole, as fast as the disk goes.
            first = backups / "first.tar.gz"
            done = cli(api, data, "backup", "--out", str(first), "--pace", "0")
            code, err = await asyncio.to_thread(finish, done)
            assert code == 0, err
            before_first = list(residents.acknowledged)
            for _ in range(3):
                await residents.report()
            before_second = list(residents.acknowledged)

            second = backups / "second.tar.gz"
            backup = cli(api, data, "backup", "--out", str(second), "--pace", str(PACE_MB))
            writer = asyncio.create_task(residents.keep_reporting())
            try:
                await in_the_middle(backup, backups)
                victim = bot if killed == "bot" else backup
                victim.send_signal(signal.SIGKILL)
                victim.wait(timeout=10)
                assert victim.returncode == -signal.SIGKILL
            finally:
                residents.stop = True
                writer.cancel()
                await asyncio.wait_for(asyncio.gather(writer, return_exceptions=True), 45)
            assert residents.acknowledged[len(before_second) :], "the bot wrote nothing meanwhile"
            if killed == "bot":
                code, err = await asyncio.to_thread(finish, backup, 120)
                assert code == 0, err
                assert second.exists()
                restore_from = second
            else:
                assert not second.exists()
                assert list(backups.glob(WORK_PREFIX + "*")), "nothing was left behind"
                restore_from = first
        finally:
            if bot.poll() is None:
                bot.send_signal(signal.SIGKILL)  # a crash, not a clean stop
            finish(bot, 10)

        restore = cli(api, data, "restore", str(restore_from))
        code, err = await asyncio.to_thread(finish, restore)
        assert code == 0, err
        numbers = case_numbers(data)
        # A state the store went through: cases 1 … n, each as written.
        assert numbers == list(range(1, len(numbers) + 1))
        if killed == "bot":
            # Every case acknowledged before the backup began, whatever came after it.
            assert set(before_second) <= set(numbers)
        else:
            assert numbers == list(range(1, before_first[-1] + 1))
            # The next backup deletes what the killed one left (a copy of the store).
            again = cli(api, data, "backup", "--out", str(backups / "again.tar.gz"))
            code, err = await asyncio.to_thread(finish, again)
            assert code == 0, err
            assert not list(backups.glob(WORK_PREFIX + "*"))

        # The bot runs on the restored store: it finds the newest case it holds.
        bot = cli(api, data, "run", "--framework", framework)
        try:
            newest = numbers[-1]
            seen = api.last_seq
            api.user_message(B1, AUNT_ZHANG, f"/case {newest}")
            mark = re.compile(rf"#{newest}(?!\d)")
            await api.wait_for(
                lambda r: (
                    r.chat_id == B1
                    and "新诉求" in (r.text or "")
                    and bool(mark.search(r.text or ""))
                ),
                timeout=30,
                after_seq=seen,
            )
        finally:
            bot.send_signal(signal.SIGTERM)
            code, err = await asyncio.to_thread(finish, bot, 30)
        assert code == 0, err
