"""kill -9 the real bot process while residents report: no acknowledged case is lost or doubled.

Runs a short campaign in CI; `ECHOWALL_CRASH_KILLS=50 ./dev test tests/test_crash.py` runs a
longer one on demand.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
from pathlib import Path

from bot.localapi import LocalBotAPI
from storage.tinydb_store import TinyRepository
from tests.conftest import AUNT_ZHANG, B1, STAFF, UNCLE_LI, build_world

ROOT = Path(__file__).resolve().parent.parent
KILLS = int(os.environ.get("ECHOWALL_CRASH_KILLS", "8"))
ACK = re.compile(r"#(\d+)")


async def _spawn(api: LocalBotAPI, data_dir: Path) -> asyncio.subprocess.Process:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ECHOWALL_")},
        "ECHOWALL_TOKEN": api.token,
        "ECHOWALL_API_URL": api.url,
        "ECHOWALL_DATA_DIR": str(data_dir),
        "ECHOWALL_STAFF_CHAT": str(STAFF),
        "ECHOWALL_RATE_PER_SECOND": "1000",
        "ECHOWALL_RATE_GROUP_PER_MINUTE": "100000",
        "ECHOWALL_REPORT_LIMIT": "0",
        "ECHOWALL_LOG_LEVEL": "WARNING",
    }
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def test_kill_9_never_loses_an_acknowledged_case(tmp_path: Path) -> None:
    rng = random.Random(20261121)
    data_dir = tmp_path / "data"
    reports: dict[int, str] = {}  # report message id -> text
    async with LocalBotAPI() as api:
        build_world(api)
        counter = 0
        for _ in range(KILLS):
            process = await _spawn(api, data_dir)
            deadline = asyncio.get_running_loop().time() + rng.uniform(1.0, 2.5)
            while asyncio.get_running_loop().time() < deadline:
                counter += 1
                text = f"/report 第{counter}个问题"
                who = AUNT_ZHANG if counter % 2 else UNCLE_LI
                reports[api.user_message(B1, who, text)["message_id"]] = text.split(" ", 1)[1]
                await asyncio.sleep(rng.uniform(0.0, 0.08))
            process.send_signal(signal.SIGKILL)
            await process.wait()
            # The store must open after every kill, whatever it was doing.
            TinyRepository(data_dir).close()
        # A last, clean run lets the redelivered updates be handled.
        process = await _spawn(api, data_dir)
        await api.wait_idle(quiet=1.5, timeout=60)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0

        acked: dict[int, int] = {}
        for record in api.sent:
            if record.chat_id == B1 and record.reply_to_message_id in reports:
                match = ACK.search(record.text or "")
                if match:
                    acked[record.reply_to_message_id] = int(match.group(1))

    repo = TinyRepository(data_dir)
    try:
        cases = list(repo.all_cases())
        origins = [(c.origin_chat_id, c.origin_message_id) for c in cases]
        assert len(origins) == len(set(origins)), "a report became two cases"
        for message_id, case_id in acked.items():
            case = repo.get_case(case_id)
            assert case is not None, f"acknowledged case #{case_id} was lost"
            assert case.text == reports[message_id]
            assert case.origin_message_id == message_id
    finally:
        repo.close()
    print(
        f"\ncrash campaign: {KILLS} kills, {len(reports)} reports sent, "
        f"{len(acked)} acknowledged, {len(cases)} cases stored, lost 0, doubled 0"
    )
    assert len(acked) > KILLS  # the bot did real work between kills
