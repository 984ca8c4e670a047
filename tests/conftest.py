"""Shared fixtures: a local Bot API world and the real bot polling it over HTTP."""

from __future__ import annotations

import asyncio
import os
import zlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import build_runtime, run_bot
from bot.config import Config
from localapi import LocalBotAPI, SentRecord

STAFF = -1000
ESCALATION = -1009
B1 = -1001
B2 = -1002

# Residents, heads and staff of the test neighbourhood.
AUNT_ZHANG = 101  # resident of building 1
UNCLE_LI = 102  # resident of building 1
MS_CHEN = 103  # resident of building 2
HEAD_WANG = 201  # Telegram administrator of building 1's group
HEAD_ZHAO = 202  # administrator of building 2's group
WORKER_LIU = 301  # community staff, member of the staff chat

FRAMEWORKS = ["ptb", "aiogram"]


def build_world(api: LocalBotAPI) -> None:
    """Two building groups, the staff chat, the escalation chat and their people."""
    people = {
        AUNT_ZHANG: ("张阿姨", "zh"),
        UNCLE_LI: ("李大爷", "zh"),
        MS_CHEN: ("陈女士", "zh"),
        HEAD_WANG: ("王楼长", "zh"),
        HEAD_ZHAO: ("赵楼长", "zh"),
        WORKER_LIU: ("刘社工", "zh"),
    }
    for uid, (name, lang) in people.items():
        api.add_user(uid, name, language_code=lang)
        api.add_chat(uid, "private")
    api.add_chat(
        B1,
        "group",
        title="林溪苑1号楼",
        members=[AUNT_ZHANG, UNCLE_LI, HEAD_WANG],
        admins=[HEAD_WANG],
        bot_status="administrator",
    )
    api.add_chat(
        B2,
        "group",
        title="林溪苑2号楼",
        members=[MS_CHEN, HEAD_ZHAO],
        admins=[HEAD_ZHAO],
        bot_status="administrator",
    )
    api.add_chat(STAFF, "group", title="社区工作群", members=[WORKER_LIU], admins=[WORKER_LIU])
    api.add_chat(ESCALATION, "group", title="街道督办", members=[WORKER_LIU])


BUILDINGS = {B1: "林溪苑1号楼", B2: "林溪苑2号楼"}


def admit_world(data_dir: Path, groups: dict[int, str] | None = None) -> None:
    """The building groups (the world's two, or `groups`), admitted: as in a deployment where
    staff admitted them, or that served them before admission existed. A group the bot is
    added to later waits for staff."""
    from storage.records import Group
    from storage.tinydb_store import TinyRepository

    repo = TinyRepository(data_dir)
    try:
        for chat_id, title in (BUILDINGS if groups is None else groups).items():
            if repo.get_group(chat_id) is None:
                repo.save_group(Group(chat_id=chat_id, title=title))
    finally:
        repo.close()


@dataclass
class Harness:
    """Drives the bot like people in the chats would, and reads what it answered."""

    api: LocalBotAPI
    data_dir: Path
    framework: str
    mark: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def say(self, chat_id: int, user_id: int, text: str | None = None, **kw: Any) -> dict:
        """Send a message as a person; later waits only see the bot's answers to come."""
        self.mark = self.api.last_seq
        return self.api.user_message(chat_id, user_id, text, **kw)

    def press(self, record: SentRecord | dict, user_id: int, label_part: str) -> str:
        """Press the button whose label contains `label_part` on a bot message."""
        markup = record.reply_markup if isinstance(record, SentRecord) else record["reply_markup"]
        chat_id = record.chat_id if isinstance(record, SentRecord) else record["chat"]["id"]
        message_id = record.message_id if isinstance(record, SentRecord) else record["message_id"]
        for row in (markup or {}).get("inline_keyboard", []):
            for button in row:
                if label_part in button["text"]:
                    self.mark = self.api.last_seq
                    return self.api.press(chat_id, message_id, user_id, button["callback_data"])
        raise AssertionError(f"no button with {label_part!r} in {markup}")

    async def reply(
        self, chat_id: int, *needles: str, timeout: float = 5.0, method: str | None = None
    ) -> SentRecord:
        """Wait for the bot's next message into a chat that contains every needle."""

        def match(r: SentRecord) -> bool:
            return (
                r.chat_id == chat_id
                and (method is None or r.method == method)
                and all(n in (r.text or "") for n in needles)
            )

        # Under injected faults every answer may wait out a few retry_after windows.
        timeout *= 4 if FAULT_RATE else 1
        return await self.api.wait_for(match, timeout=timeout, after_seq=self.mark)

    async def answer_to(self, callback_id: str, timeout: float = 5.0) -> dict:
        """Wait for the bot to answer a button press."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while callback_id not in self.api.callback_answers:
            if loop.time() > deadline:
                raise AssertionError(f"press {callback_id} was not answered")
            await asyncio.sleep(0.01)
        return self.api.callback_answers[callback_id]

    async def settle(self) -> None:
        # A retry_after window is quiet too: under faults, wait longer for silence.
        await self.api.wait_idle(quiet=QUIET, timeout=40)


def make_config(api: LocalBotAPI, data_dir: Path, framework: str, **kw: Any) -> Config:
    values: dict[str, Any] = dict(
        token=api.token,
        api_url=api.url,
        framework=framework,
        data_dir=data_dir,
        staff_chat=STAFF,
        escalation_chat=ESCALATION,
        rate_per_second=1000,
        rate_group_per_minute=100000,
        # Scenarios report many cases as few people; the flood control has its own tests.
        report_limit=0,
        # The report jobs run on the wall clock; a run that spans 20:00 would get a stray one.
        reports=False,
        # Scenarios look at the wall right after each change; the coalescing has its own test.
        wall_seconds=0,
    )
    values.update(kw)
    return Config(**values)


class RunningBot:
    """The real bot polling the local server in this event loop."""

    def __init__(self, config: Config, clock: Callable[[], datetime] | None = None) -> None:
        self.config = config
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.runtime = build_runtime(config, clock=clock) if clock else build_runtime(config)

    async def start(self, api: LocalBotAPI) -> None:
        self.task = asyncio.create_task(run_bot(self.config, self.stop_event, runtime=self.runtime))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 15
        # The bot registers its menus after getMe; then it starts polling.
        while not any(m == "getupdates" for m, _ in api.calls):
            if self.task.done():
                self.task.result()
            if loop.time() > deadline:
                raise AssertionError("the bot did not start polling")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.stop_event.set()
        if self.task is not None:
            await asyncio.wait_for(self.task, 15)


@pytest.fixture(params=FRAMEWORKS)
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# `ECHOWALL_FAULT_RATE=0.2 ./dev test` runs every scenario with a fifth of the bot's calls
# failing (429 with retry_after, 500, 502); the scenarios must pass unchanged.
FAULT_RATE = float(os.environ.get("ECHOWALL_FAULT_RATE", "0") or 0)
FAULT_TOTALS = {"calls": 0, "failed": 0, "violations": 0}
# How long the bot must be silent to count as done: under faults, longer than any pause it
# takes between retries (a 1 s retry_after, backoff of 0.5, 1 and 2 s).
QUIET = 2.5 if FAULT_RATE else 0.15


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Under injected faults, say how many calls failed and whether any limit was broken."""
    if FAULT_RATE:
        t = FAULT_TOTALS
        terminalreporter.write_line(
            f"injected faults: {t['failed']} of {t['calls']} bot calls failed "
            f"(429 / 500 / 502); sends inside a retry_after window: {t['violations']}"
        )


@pytest.fixture
async def api(request: pytest.FixtureRequest) -> AsyncIterator[LocalBotAPI]:
    server = LocalBotAPI()
    await server.start()
    build_world(server)
    if FAULT_RATE and "no_faults" not in request.keywords:
        seed = zlib.crc32(request.node.name.encode())
        server.fail_rate(FAULT_RATE, kinds=("429", "500", "502"), seed=seed)
    try:
        yield server
    finally:
        FAULT_TOTALS["calls"] += len(server.calls)
        FAULT_TOTALS["failed"] += len(server.injected)
        FAULT_TOTALS["violations"] += server.violations
        await server.stop()


@pytest.fixture
async def start_bot(
    api: LocalBotAPI, tmp_path: Path, framework: str
) -> AsyncIterator[Callable[..., Any]]:
    """Start (or restart) the bot on the same data directory; stopped at teardown.

    `await start_bot.stop_all()` stops it earlier, e.g. before a test opens the store itself.
    """
    running: list[RunningBot] = []

    async def start(clock: Callable[[], datetime] | None = None, **config: Any) -> RunningBot:
        if not running and not (tmp_path / "data").exists():
            admit_world(tmp_path / "data")
        bot = RunningBot(make_config(api, tmp_path / "data", framework, **config), clock)
        await bot.start(api)
        running.append(bot)
        return bot

    async def stop_all() -> None:
        while running:
            await running.pop().stop()

    start.stop_all = stop_all  # type: ignore[attr-defined]
    try:
        yield start
    finally:
        await stop_all()


@pytest.fixture
async def harness(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> AsyncIterator[Harness]:
    await start_bot()
    yield Harness(api, tmp_path / "data", framework)


@pytest.fixture
async def w(tmp_path: Path) -> AsyncIterator[Any]:
    """A `tests.coreworld.CoreWorld` on a fresh data directory: the core with its recording
    messenger (a test module may define its own `w` for a world set up otherwise)."""
    from tests.coreworld import CoreWorld  # coreworld imports this module's people and chats

    world = CoreWorld(tmp_path / "data")
    yield world
    world.close()
