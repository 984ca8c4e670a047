"""The part of the runtime both adapters share: services, delivery and the core."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from bot.delivery import Limits, ReliableMessenger
from bot.scheduler import Scheduler
from handlers import admin, overdue
from handlers.core import BotIdentity, Services, Settings
from handlers.events import Event, Migration
from handlers.ports import DeliveryError, Messenger
from handlers.router import Core
from handlers.texts import Translator
from storage.repository import Repository

log = logging.getLogger("echowall.runtime")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Runtime:
    """Owns the store and the core for one running bot; adapters feed it events."""

    def __init__(
        self,
        repo: Repository,
        settings: Settings,
        texts: Callable[[str | None], Translator],
        limits: Limits,
        *,
        clock: Callable[[], datetime] = utc_now,
        sweep_seconds: float = 300,
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.texts = texts
        self.limits = limits
        self.clock = clock
        self.core: Core | None = None
        self.sweep_seconds = sweep_seconds
        self.scheduler = Scheduler()
        # Updates and scheduled jobs take turns: each reads a case, awaits sends, then saves
        # it, and an interleaved change to the same case would be lost.
        self._turn = asyncio.Lock()

    async def start(self, messenger: Messenger, *, bot_id: int, username: str) -> None:
        """Wire the framework's messenger in and publish the command menus."""
        services: Services | None = None

        def migrated(old: int, new: int) -> None:
            assert services is not None
            admin.on_migration(services, Migration(0, old, new))

        def gone(chat_id: int) -> None:
            assert services is not None
            admin.mark_gone(services, chat_id)

        reliable = ReliableMessenger(messenger, self.limits, on_migrated=migrated, on_gone=gone)
        services = Services(
            repo=self.repo,
            messenger=reliable,
            settings=self.settings,
            texts=self.texts,
            clock=self.clock,
            bot=BotIdentity(bot_id, username),
        )
        self.core = Core(services)
        try:
            await self.core.register_menus()
        except DeliveryError as exc:
            log.warning("command menus not registered: %s", exc)
        self.scheduler.every("overdue-sweep", self.sweep_seconds, self.sweep)
        self.scheduler.start()
        log.info("action=start bot=@%s", username)

    async def handle(self, event: Event) -> None:
        assert self.core is not None, "Runtime.start() first"
        async with self._turn:
            await self.core.handle(event)

    async def sweep(self) -> overdue.SweepResult:
        """Run one overdue sweep now (the scheduler calls this periodically)."""
        assert self.core is not None, "Runtime.start() first"
        async with self._turn:
            try:
                result = await overdue.sweep(self.core.svc)
            except Exception:
                log.exception("action=sweep failed")
                return overdue.SweepResult()
        if result.flagged or result.escalated:
            log.info("action=sweep flagged=%s escalated=%s", result.flagged, result.escalated)
        return result

    async def stop(self) -> None:
        self.scheduler.shutdown()
        log.info("action=stop")
