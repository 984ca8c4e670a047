"""The part of the runtime both adapters share: services, delivery and the core."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TypeVar

from bot.delivery import Limits, ReliableMessenger
from bot.scheduler import Scheduler
from handlers import admin, calendar, digests, overdue
from handlers.core import BotIdentity, Services, Settings
from handlers.events import Event, Migration
from handlers.ledger import Ledger
from handlers.outbox import Outbox
from handlers.ports import DeliveryError, Messenger
from handlers.router import Core
from handlers.texts import Translator
from storage.repository import Repository

log = logging.getLogger("echowall.runtime")
T = TypeVar("T")

# Fixed ids: a job added again (after a restart of the runtime) replaces, never doubles.
DAILY_JOB, WEEKLY_JOB, MONTHLY_JOB = "digest:daily", "digest:weekly", "digest:monthly"
CALENDAR_JOB = "calendar:catch-up"
SLOT_PREFIX = "slot:"
# How often the calendar is checked for missed slots and replanned (weekly events roll on).
CALENDAR_SECONDS = 60.0
# On stop, deliveries in flight get this long to finish before they are cancelled.
STOP_GRACE = 3.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReportTimes:
    """Local times of the staff chat's reports: daily, Mondays, and on the 1st."""

    daily: time = time(20, 0)
    weekly: time = time(8, 30)
    monthly: time = time(9, 0)


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
        report_times: ReportTimes | None = ReportTimes(),
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.texts = texts
        self.limits = limits
        self.clock = clock
        self.core: Core | None = None
        self.sweep_seconds = sweep_seconds
        # None: the reports are not scheduled (they can still be sent by calling them).
        self.reports_scheduled = report_times is not None
        self.report_times = report_times or ReportTimes()
        self.scheduler = Scheduler(settings.timezone)
        # Updates and scheduled jobs take turns: each reads a case, awaits sends, then saves
        # it, and an interleaved change to the same case would be lost.
        self._turn = asyncio.Lock()
        self.outbox: Outbox | None = None
        self._outbox_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._replan = False

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
        services.wake_outbox = self._wake.set
        services.calendar_changed = self._calendar_changed
        self.core = Core(services)
        self.outbox = Outbox(services, reliable)
        try:
            await self.core.register_menus()
        except DeliveryError as exc:
            log.warning("command menus not registered: %s", exc)
        self.scheduler.every("overdue-sweep", self.sweep_seconds, self.sweep)
        times = self.report_times
        if self.reports_scheduled and self.settings.staff_chat is not None:  # nowhere else
            self.scheduler.cron(
                DAILY_JOB, self.daily, hour=times.daily.hour, minute=times.daily.minute
            )
            self.scheduler.cron(
                WEEKLY_JOB,
                self.weekly,
                day_of_week="mon",
                hour=times.weekly.hour,
                minute=times.weekly.minute,
            )
            self.scheduler.cron(
                MONTHLY_JOB,
                self.monthly,
                day=1,
                hour=times.monthly.hour,
                minute=times.monthly.minute,
            )
        self.scheduler.every(CALENDAR_JOB, CALENDAR_SECONDS, self.calendar_tick)
        self.scheduler.start()
        await self.calendar_tick()
        self._outbox_task = asyncio.create_task(self._deliver_forever(), name="outbox")
        log.info("action=start bot=@%s", username)

    async def handle(self, event: Event) -> None:
        assert self.core is not None, "Runtime.start() first"
        async with self._turn:
            await self.core.handle(event)
        if self._replan:
            self.plan()

    # ------------------------------------------------------------------ calendar and outbox

    def _calendar_changed(self) -> None:
        self._replan = True

    async def calendar_tick(self) -> dict[str, int]:
        """Send what fell due (late within the grace, else skip) and replan the jobs."""
        assert self.core is not None, "Runtime.start() first"
        async with self._turn:
            try:
                counts = calendar.catch_up(self.core.svc)
            except Exception:
                log.exception("action=calendar-catch-up failed")
                counts = {}
        if counts:
            log.info("action=calendar-catch-up %s", counts)
        self.plan()
        return counts

    def plan(self) -> None:
        """Make the scheduler's reminder jobs match the calendar in storage (ids = slot keys)."""
        assert self.core is not None, "Runtime.start() first"
        self._replan = False
        now = self.clock()
        # Jobs run on the wall clock; the bot's clock may be moved (tests, the demo).
        offset = datetime.now(UTC) - now
        wanted = {
            SLOT_PREFIX + s.key: s.due + offset for s in calendar.upcoming(self.core.svc, now)
        }
        existing = self.scheduler.job_times(SLOT_PREFIX)
        for job_id in existing.keys() - wanted.keys():
            self.scheduler.remove(job_id)
        for job_id, when in wanted.items():
            planned = existing.get(job_id)
            if planned is None or abs(planned - when) > timedelta(seconds=1):
                self.scheduler.at(job_id, when, self.fire, job_id.removeprefix(SLOT_PREFIX))

    async def fire(self, key: str) -> str | None:
        """A reminder job: hand the slot to the outbox if it still exists and is due."""
        assert self.core is not None, "Runtime.start() first"
        async with self._turn:
            try:
                return calendar.fire_key(self.core.svc, key)
            except Exception:
                log.exception("action=reminder key=%s failed", key)
                return None

    async def tick(self) -> None:
        """Catch up with the clock now: due reminders, then everything the outbox may send."""
        await self.calendar_tick()
        assert self.outbox is not None
        await self.outbox.pump()

    async def _deliver_forever(self) -> None:
        assert self.outbox is not None
        while not self.outbox.stopping:
            self._wake.clear()
            try:
                await self.outbox.pump()
            except Exception:
                log.exception("action=outbox failed")
            release = self.outbox.next_release()
            wait = 60.0 if release is None else (release - self.clock()).total_seconds()
            if self.outbox.stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.05, min(wait, 60.0)))

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

    async def _report(self, name: str, make: Callable[[Services], Awaitable[T]]) -> T | None:
        """Run one report in its turn; a failure is logged and must not stop the scheduler."""
        assert self.core is not None, "Runtime.start() first"
        async with self._turn:
            try:
                result = await make(self.core.svc)
            except Exception:
                log.exception("action=%s failed", name)
                return None
        log.info("action=%s done", name)
        return result

    async def daily(self) -> list[int] | None:
        """Send the daily register that closed last; return the numbers of the cases listed."""
        closes = self.report_times.daily

        async def run(svc: Services) -> list[int]:
            day = digests.register_day(self.clock(), self.settings.timezone, closes)
            return await digests.daily_register(svc, day, closes_at=closes)

        return await self._report("daily-register", run)

    async def weekly(self) -> Ledger | None:
        """Send the summary of last ISO week (Monday to Sunday), with its chart."""

        async def run(svc: Services) -> Ledger | None:
            monday = digests.previous_week(self.clock(), self.settings.timezone)
            return await digests.weekly_summary(svc, monday)

        return await self._report("weekly-summary", run)

    async def monthly(self) -> Ledger | None:
        """Send the report of last calendar month, with its ledger file."""

        async def run(svc: Services) -> Ledger | None:
            first = digests.previous_month(self.clock(), self.settings.timezone)
            return await digests.monthly_report(svc, first)

        return await self._report("monthly-report", run)

    async def stop(self) -> None:
        self.scheduler.shutdown()
        task, self._outbox_task = self._outbox_task, None
        if task is not None and self.outbox is not None:
            # Sends in flight finish (and are recorded); the rest wait for the next start.
            self.outbox.stop()
            self._wake.set()
            try:
                await asyncio.wait_for(task, STOP_GRACE)
            except TimeoutError:
                log.warning("action=stop outbox did not finish in %ss", STOP_GRACE)
            except asyncio.CancelledError:
                pass
        log.info("action=stop")
