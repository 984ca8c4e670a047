"""The bots under benchmark: echowall itself and a bare echo bot per framework.

Every bot polls the same in-process ``LocalBotAPI`` and answers a text message in a building
group with the same two sends: a reply in the group (the acknowledgement the benchmark times)
and a message to the staff chat. echowall does that through its whole stack (adapter, core,
durable store, delivery layer); the bare bots do it with nothing but the framework's own API,
so they show what the framework can do on this machine, the ceiling echowall runs under.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Protocol

from aiogram import Bot as AiogramBot
from aiogram import Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from telegram.ext import Application, MessageHandler, filters

from bench import bare_process
from bot import aiogram_adapter, ptb_adapter
from bot.config import Config
from localapi import LocalBotAPI
from tests.conftest import STAFF, RunningBot, admit_world, make_config

FRAMEWORKS = ("ptb", "aiogram")
KINDS = ("echowall", "bare")

# Pacing in echowall's delivery layer is configured far above what the benchmark can reach,
# so the numbers show processing cost and not the production flood-limit pacing (30/s).
RATE_PER_SECOND = 100_000
RATE_GROUP_PER_MINUTE = 10_000_000

# The same long-poll settings the echowall adapters use (see bot/*_adapter.py).
POLL_TIMEOUT = 30


class BenchBot(Protocol):
    """A bot the benchmark can start against a local server and stop again."""

    async def start(self, api: LocalBotAPI) -> None: ...

    async def stop(self) -> None: ...


async def wait_until_polling(api: LocalBotAPI, task: asyncio.Task[Any] | None = None) -> None:
    """Return once the bot sent its first getUpdates: from then on it sees injected updates."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while not any(method == "getupdates" for method, _ in api.calls):
        if task is not None and task.done():
            task.result()  # surfaces the start-up error instead of a bare timeout
        if loop.time() > deadline:
            raise TimeoutError("the bot did not start polling within 15 s")
        await asyncio.sleep(0.01)


# --------------------------------------------------------------------------------------
# echowall
# --------------------------------------------------------------------------------------


class EchowallBot:
    """The real bot (``bot.app.run_bot``) on a fresh temporary data directory.

    With ``store`` (a prebuilt data directory, see bench/preload.py) the data directory starts
    as a copy of it, so the bot runs with that many cases already stored; without, it starts
    empty.
    """

    def __init__(self, framework: str, store: Path | None = None) -> None:
        self.framework = framework
        self.store = store
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._running: RunningBot | None = None

    async def start(self, api: LocalBotAPI) -> None:
        # A fresh store per run: the TinyDB tables grow with every case, so reusing one would
        # make later runs slower than earlier ones. The system temp dir is a real disk here,
        # so the journal's fsyncs cost what they cost in production (tmpfs would hide them).
        self._tmp = tempfile.TemporaryDirectory(prefix="echowall-bench-")
        data_dir = Path(self._tmp.name) / "data"
        if self.store is not None:
            copy_durably(self.store, data_dir)
        admit_world(data_dir)  # the two buildings, admitted
        config = make_config(
            api,
            data_dir,
            self.framework,
            rate_per_second=RATE_PER_SECOND,
            rate_group_per_minute=RATE_GROUP_PER_MINUTE,
            # The tests refresh the pinned wall after every change; production (and so the
            # benchmark) edits it at most once a second per building.
            wall_seconds=Config.model_fields["wall_seconds"].default,
        )
        self._running = RunningBot(config)
        await self._running.start(api)

    async def stop(self) -> None:
        try:
            if self._running is not None:
                await self._running.stop()
        finally:
            if self._tmp is not None:
                self._tmp.cleanup()


def copy_durably(source: Path, target: Path) -> None:
    """Copy a data directory and fsync the copy before the bot starts on it.

    On ext4 a journal fsync can wait for other files' dirty pages; without this, the first
    reports on a copied 100,000-case store would pay for writing the copy back.
    """
    shutil.copytree(source, target)
    for path in target.rglob("*"):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --------------------------------------------------------------------------------------
# Bare python-telegram-bot
# --------------------------------------------------------------------------------------


class BarePtbBot:
    """PTB ``Application`` with one ``MessageHandler``: reply in the group, card to staff."""

    def __init__(self) -> None:
        self._app: Application | None = None  # type: ignore[type-arg]

    async def start(self, api: LocalBotAPI) -> None:
        # echowall's own builder, so base URLs, timeouts and the HTTP client settings are
        # identical by construction; everything after it is plain PTB.
        app = ptb_adapter.build_application(api.token, api.url)
        app.add_handler(MessageHandler(filters.TEXT, bare_process.ptb_on_message(STAFF)))
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(
            allowed_updates=ptb_adapter.ALLOWED_UPDATES, timeout=POLL_TIMEOUT
        )
        self._app = app
        await wait_until_polling(api)

    async def stop(self) -> None:
        app, self._app = self._app, None
        if app is None:
            return
        assert app.updater is not None
        await app.updater.stop()
        await app.stop()
        await app.shutdown()


# --------------------------------------------------------------------------------------
# Bare aiogram
# --------------------------------------------------------------------------------------


class BareAiogramBot:
    """aiogram ``Dispatcher`` with one message handler: reply in the group, card to staff."""

    def __init__(self) -> None:
        self._session: AiohttpSession | None = None
        self._dispatcher: Dispatcher | None = None
        self._polling: asyncio.Task[None] | None = None

    async def start(self, api: LocalBotAPI) -> None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(api.url))
        bot = AiogramBot(api.token, session=session)
        dispatcher = Dispatcher()
        dispatcher.message.register(bare_process.aiogram_on_message(STAFF))
        self._session, self._dispatcher = session, dispatcher
        # The same polling arguments as echowall's adapter. handle_as_tasks=False handles one
        # update at a time, as echowall must (its store has a single owner); aiogram's default
        # (True) would overlap updates and is not the comparison we want.
        self._polling = asyncio.create_task(
            dispatcher.start_polling(
                bot,
                polling_timeout=POLL_TIMEOUT,
                handle_as_tasks=False,
                allowed_updates=aiogram_adapter.ALLOWED_UPDATES,
                handle_signals=False,
                close_bot_session=False,
            )
        )
        await wait_until_polling(api, self._polling)

    async def stop(self) -> None:
        try:
            if self._polling is not None and not self._polling.done():
                assert self._dispatcher is not None
                await self._dispatcher.stop_polling()
            if self._polling is not None:
                await self._polling
        finally:
            if self._session is not None:
                await self._session.close()
            self._polling = self._dispatcher = self._session = None


def make_bot(framework: str, kind: str, store: Path | None = None) -> BenchBot:
    """The bot to measure: ``kind`` is "echowall" or "bare", ``framework`` "ptb" or "aiogram".

    ``store`` is the prebuilt data directory echowall starts from (a copy of it); the bare
    bots store nothing and take none.
    """
    if framework not in FRAMEWORKS:
        raise ValueError(f"unknown framework {framework!r}")
    if kind == "echowall":
        return EchowallBot(framework, store)
    if kind == "bare":
        return BarePtbBot() if framework == "ptb" else BareAiogramBot()
    raise ValueError(f"unknown bot kind {kind!r}")
