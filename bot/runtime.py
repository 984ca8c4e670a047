"""The part of the runtime both adapters share: services, delivery and the core."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TypeVar

from bot.delivery import Limits, ReliableMessenger
from bot.scheduler import Scheduler
from handlers import admin, calendar, digests, livewall, overdue
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
# Bookkeeping saved without its own fsync (message ids after a reply) is fsync'd this often.
FLUSH_SECONDS = 1.0


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
        wall_seconds: float = 1.0,
        report_times: ReportTimes | None = ReportTimes(),
    ) -> None:
        self.repo = repo
        self.settings = settings
        self.texts = texts
        self.limits = limits
        self.clock = clock
        self.core: Core | None = None
        self.sweep_seconds = sweep_seconds
        # A building's pinned wall is edited at most once in this many seconds: the first
        # change shows at once, the changes of a busy stretch fold into one edit per period.
        self.wall_seconds = wall_seconds
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
        self._walls_due: dict[int, None] = {}  # buildings whose wall is out of date
        self._walls_done: dict[int, float] = {}  # loop time of each wall's last refresh
        self._walls_wake = asyncio.Event()
        self._walls_task: asyncio.Task[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None

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
        services.wall_changed = self._wall_changed
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
        # Walls left out of date by a stop or a crash are brought up to date (an unchanged
        # wall costs no call: it is compared by digest).
        for group in self.repo.groups():
            if group.wall_message_id is not None:
                self._wall_changed(group.chat_id)
        self._walls_task = asyncio.create_task(self._walls_forever(), name="walls")
        self._flush_task = asyncio.create_task(self._flush_forever(), name="store-flush")
        # What start-up built (modules, the store's maps and indexes) lives as long as the
        # bot: the collector need not walk it again at every full collection.
        gc.freeze()
        log.info("action=start bot=@%s", username)

    async def handle(self, event: Event) -> None:
        assert self.core is not None, "Runtime.start() first"
        async with self._turn:
            await self.core.handle(event)
        if self._replan:
            self.plan()

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                self.repo.flush()
            except OSError:
                log.exception("action=store-flush failed")

    # ------------------------------------------------------------------ the pinned walls

    def _wall_changed(self, building_id: int) -> None:
        self._walls_due[building_id] = None
        self._walls_wake.set()

    async def _walls_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._walls_wake.wait()
            self._walls_wake.clear()
            while self._walls_due:
                now = loop.time()
                period = self.wall_seconds
                ready = [
                    b for b in self._walls_due if now - self._walls_done.get(b, -period) >= period
                ]
                if not ready:
                    await asyncio.sleep(
                        min(self._walls_done[b] for b in self._walls_due) + period - now
                    )
                    continue
                for building in ready:
                    del self._walls_due[building]
                    self._walls_done[building] = loop.time()
                    await self.refresh_wall(building)

    async def refresh_wall(self, building_id: int) -> None:
        """Refresh one building's wall now, in its own turn."""
        assert self.core is not None, "Runtime.start() first"
        async with self._turn:
            try:
                await livewall.refresh_wall(self.core.svc, building_id)
            except Exception:
                log.exception("action=wall chat=%s failed", building_id)

    async def _refresh_walls(self, buildings: list[int]) -> None:
        for building in buildings:
            await self.refresh_wall(building)

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
        walls, self._walls_task = self._walls_task, None
        if walls is not None:
            walls.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await walls
            # Walls still waiting for their second are refreshed now; whatever does not
            # make it in time is brought up to date at the next start.
            due, self._walls_due = list(self._walls_due), {}
            try:
                await asyncio.wait_for(self._refresh_walls(due), STOP_GRACE)
            except TimeoutError:
                log.warning("action=stop walls not refreshed in %ss", STOP_GRACE)
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
        flush, self._flush_task = self._flush_task, None
        if flush is not None:
            flush.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flush
        self.repo.flush()
        gc.unfreeze()  # a process that starts another runtime (tests, the demo) starts afresh
        log.info("action=stop")
