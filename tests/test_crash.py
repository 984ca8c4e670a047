"""kill -9 the real bot process under load: nothing acknowledged is lost, nothing is doubled.

Residents report and press "me too", a head accepts cases, staff broadcast announcements to 30
building groups and reminders fall due, while the process is killed at random moments and
restarted. Runs a short campaign in CI; `ECHOWALL_CRASH_KILLS=50 ./dev test tests/test_crash.py
-s` runs a longer one on demand and prints the figures.
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from localapi import LocalBotAPI
from storage.records import DeliveryState, Reminder
from storage.tinydb_store import TinyRepository
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    HEAD_WANG,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    admit_world,
    build_world,
)

ROOT = Path(__file__).resolve().parent.parent
KILLS = int(os.environ.get("ECHOWALL_CRASH_KILLS", "8"))
ACK = re.compile(r"#(\d+)")
ECHOED_ACCEPT = re.compile(r"诉求 #(\d+) 已受理（")


async def _spawn(api: LocalBotAPI, data_dir: Path) -> asyncio.subprocess.Process:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ECHOWALL_")},
        "ECHOWALL_TOKEN": api.token,
        "ECHOWALL_API_URL": api.url,
        "ECHOWALL_DATA_DIR": str(data_dir),
        "ECHOWALL_STAFF_CHAT": str(STAFF),
        # Slow enough that a broadcast to 30 groups is often caught mid-way by a kill.
        "ECHOWALL_RATE_PER_SECOND": "60",
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


GROUPS = [-6000 - i for i in range(30)]
REMINDERS = 40


def _seed_reminders(data_dir: Path, span: float) -> dict[int, datetime]:
    """Reminders in storage, falling due across the campaign (as /remind would leave them)."""
    repo = TinyRepository(data_dir)
    now = datetime.now(UTC)
    due: dict[int, datetime] = {}
    try:
        for n in range(REMINDERS):
            reminder = Reminder(
                id=repo.next_reminder_id(),
                chat_id=B2,
                text=f"crash-reminder-{n}",
                due=now + timedelta(seconds=2 + span * n / REMINDERS),
                created=now,
            )
            repo.save_reminder(reminder)
            due[reminder.id] = reminder.due
    finally:
        repo.close()
    return due


async def test_kill_9_loses_and_doubles_nothing(tmp_path: Path) -> None:
    rng = random.Random(20261121)
    data_dir = tmp_path / "data"
    reports: dict[int, str] = {}  # report message id -> text
    announcements: dict[int, str] = {}  # staff message id -> text
    accepts: dict[int, int] = {}  # /accept message id -> case id
    async with LocalBotAPI() as api:
        build_world(api)
        for chat_id in GROUPS:
            api.add_chat(chat_id, "group", title=f"和平里{chat_id}", members=[UNCLE_LI])
        # The bot meets the groups first; the reminders fall due over the campaign's length.
        admit_world(
            data_dir, {B1: "1", B2: "2", **{chat_id: f"和平里{chat_id}" for chat_id in GROUPS}}
        )
        process = await _spawn(api, data_dir)
        for chat_id in [B2, *GROUPS]:
            api.user_message(chat_id, UNCLE_LI, "大家好")
        await api.wait_idle(quiet=1.0, timeout=60)
        process.send_signal(signal.SIGTERM)
        await process.wait()
        _seed_reminders(data_dir, span=KILLS * 1.4)
        counter = 0
        for kill in range(KILLS):
            process = await _spawn(api, data_dir)
            if kill % 3 == 0:
                text = f"/announce 第{kill}号通知"
                announcements[api.user_message(STAFF, WORKER_LIU, text)["message_id"]] = text[10:]
            deadline = asyncio.get_running_loop().time() + rng.uniform(0.4, 2.5)
            while asyncio.get_running_loop().time() < deadline:
                counter += 1
                roll = rng.random()
                if roll < 0.6 or not reports:
                    text = f"/report 第{counter}个问题"
                    who = AUNT_ZHANG if counter % 2 else UNCLE_LI
                    message = api.user_message(B1, who, text)
                    reports[message["message_id"]] = text.split(" ", 1)[1]
                else:
                    case_id = rng.randint(1, max(1, len(reports) // 2))
                    message = api.user_message(B1, HEAD_WANG, f"/accept {case_id}")
                    accepts[message["message_id"]] = case_id
                await asyncio.sleep(rng.uniform(0.0, 0.08))
            process.send_signal(signal.SIGKILL)
            await process.wait()
            # The store must open after every kill, whatever it was doing.
            TinyRepository(data_dir).close()
        # A last, clean run lets the redelivered updates and the resumed broadcasts finish.
        # Updates a killed process fetched count as delivered for the server, so wait for this
        # process to poll before waiting for quiet.
        calls = len(api.calls)
        process = await _spawn(api, data_dir)
        while not any(m == "getupdates" for m, _ in api.calls[calls:]):
            await asyncio.sleep(0.05)
        await api.wait_idle(quiet=2.5, timeout=120)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 20) == 0

        acked: dict[int, int] = {}
        accepted: set[int] = set()
        by_text = {text: message_id for message_id, text in reports.items()}
        for record in api.sent:
            if record.chat_id != B1:
                continue
            # An acknowledgement names the case and its text: alone (a reply to the report), or
            # one line per case when reports that waited together are acknowledged together.
            text = record.text or ""
            parts = [line for line in text.splitlines() if ACK.search(line)]
            if len(ACK.findall(text)) == 1:
                parts = [text]
            for part in parts:
                match = ACK.search(part)
                said = [t for t in by_text if t in part]
                if match and len(said) == 1 and "已登记" in text:
                    acked[by_text[said[0]]] = int(match.group(1))
            # The echo of an accept, as a reply to the report (alone or with others).
            accepted |= {int(n) for n in ECHOED_ACCEPT.findall(text)}
        copies = {text: {c: 0 for c in [B1, B2, *GROUPS]} for text in announcements.values()}
        reminded: dict[int, int] = {}
        for record in api.sent:
            for text, per_group in copies.items():
                if text in (record.text or "") and record.chat_id in per_group:
                    per_group[record.chat_id] += 1
            found = re.search(r"crash-reminder-(\d+)", record.text or "")
            if found and record.chat_id == B2:
                reminded[int(found.group(1))] = reminded.get(int(found.group(1)), 0) + 1

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
            assert case.timeline and case.timeline[0].action == "report"
        for case_id in accepted:
            case = repo.get_case(case_id)
            assert case is not None and any(s.action == "accept" for s in case.timeline)
        # Broadcasts: never two copies; a group without one is recorded as uncertain (the
        # kill came between the call and its record), never silently skipped.
        uncertain = 0
        broadcasts = [b for b in repo.unfinished_broadcasts()]
        assert broadcasts == [] or all(b.kind.value != "announce" for b in broadcasts)
        announced = {}
        for reminder_or_announce_id in range(1, 10_000):
            b = repo.get_broadcast(reminder_or_announce_id)
            if b is None:
                break
            if b.kind.value == "announce":
                announced[b.payload["text"]] = b
        for text, per_group in copies.items():
            assert max(per_group.values()) <= 1, f"{text}: a group got two copies"
            broadcast = announced.get(text)
            if broadcast is None:
                continue  # killed before the announcement was stored: nobody was told
            deliveries = repo.deliveries(broadcast.id)
            for chat_id in broadcast.targets:
                if per_group[chat_id] == 0:
                    assert deliveries[chat_id].state is DeliveryState.UNCERTAIN, (text, chat_id)
                    uncertain += 1
        # Reminders: each at most once; a missing one was uncertain, never lost.
        assert max(reminded.values(), default=0) <= 1, "a reminder went out twice"
        lost_reminders = 0
        for n in range(REMINDERS):
            if reminded.get(n, 0) == 0:
                key_broadcast = repo.broadcast_by_key(f"rm:{n + 1}")
                assert key_broadcast is not None, f"reminder {n} was lost"
                state = repo.deliveries(key_broadcast.id)[B2].state
                assert state is DeliveryState.UNCERTAIN, (n, state)
                lost_reminders += 1
    finally:
        repo.close()
    print(
        f"\ncrash campaign: {KILLS} kills, {len(reports)} reports sent, "
        f"{len(acked)} acknowledged, {len(cases)} cases stored, {len(accepted)} accepts "
        f"acknowledged; {len(announcements)} broadcasts to {len(GROUPS) + 2} groups, "
        f"{uncertain} deliveries uncertain (killed mid-call), 0 doubled; "
        f"{REMINDERS} reminders, {REMINDERS - lost_reminders} sent once, "
        f"{lost_reminders} uncertain, 0 doubled; cases lost 0, doubled 0"
    )
    assert len(acked) > KILLS  # the bot did real work between kills
