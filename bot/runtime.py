"""The part of the runtime both adapters share: the core, its jobs, and delivery per chat.

Nothing here holds a lock across the network. An update, a sweep, a reminder or a report is
decided and committed in one synchronous step (`handlers.router.Router`, the jobs below), with
the messages it wants sent written to the postbox in the same transaction; the dispatcher
(`bot.delivery`) then sends them chat by chat. A busy group waits in its own lane.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time as monotonic
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import TypeVar

from bot.delivery import Dispatcher, Limits, ReliableMessenger
from bot.scheduler import Scheduler
from handlers import admin, calendar, digests, erasure, forum, overdue
from handlers.core import BotIdentity, Services, Settings
from handlers.courier import Courier
from handlers.incoming import Event, Migration
from handlers.ledger import Ledger
from handlers.outbox import Outbox
from handlers.ports import DeliveryError, Messenger
from handlers.postbox import Doorbell, Postbox
from handlers.router import Router, broadcast_renderers, delivery_tables
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
# How far back the check looks for slots that fell due and have not gone out.
CATCH_UP_LOOKBACK = timedelta(days=8)
# On stop, calls in flight get this long to finish; what still waits stays in the store.
STOP_GRACE = 3.0
# Bookkeeping saved without its own fsync (message ids after a send) is fsync'd this often.
FLUSH_SECONDS = 1.0
# Personal data past its retention is anonymised, and old outbox records pruned, this often;
# a run that filled its batch runs again a minute later.
RETENTION_JOB = "retention-sweep"
RETENTION_SECONDS = 3600.0
# After a sweep erased something, the store's journal is folded at most this often (its old
# versions of what was erased go with it); /forgetme has it folded at once.
FOLD_SECONDS = 24 * 3600.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ReportTimes:
    """Local times of the staff chat's reports: daily, Mondays, and on the 1st."""

    daily: time = time(20, 0)
    weekly: time = time(8, 30)
    monthly: time = time(9, 0)


@dataclass(frozen=True)
class Live:
    """What a started runtime runs on, built in one step once the bot knows who it is."""

    svc: Services
    router: Router
    courier: Courier
    dispatcher: Dispatcher
    outbox: Outbox
    reliable: ReliableMessenger


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
        self.sweep_seconds = sweep_seconds
        # A building's pinned wall is edited at most once in this many seconds: the first
        # change shows at once, the changes of a busy stretch fold into one edit per period.
        self.wall_seconds = wall_seconds
        # None: the reports are not scheduled (they can still be sent by calling them).
        self.reports_scheduled = report_times is not None
        self.report_times = report_times or ReportTimes()
        self.scheduler = Scheduler(settings.timezone)
        self._live: Live | None = None
        self._outbox_task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._replan = False
        self._flush_task: asyncio.Task[None] | None = None
        # Where the bot's clock was moved on purpose: what fell due there is not late.
        self.jumps = calendar.Jumps()
        # Personal data was erased by the update being handled: fold the journal after it.
        self._erased = False
        self._folded_at: float | None = None

    @property
    def live(self) -> Live:
        if self._live is None:
            raise RuntimeError("Runtime.start() first")
        return self._live

    @property
    def outbox(self) -> Outbox:
        return self.live.outbox

    @property
    def svc(self) -> Services:
        return self.live.svc

    async def start(
        self,
        messenger: Messenger,
        *,
        bot_id: int,
        username: str,
        reads_all: bool | None = None,
    ) -> None:
        """Build the core and its delivery around the framework's messenger, and run."""
        doorbell = Doorbell()
        svc = Services(
            repo=self.repo,
            settings=self.settings,
            texts=self.texts,
            clock=self.clock,
            bot=BotIdentity(bot_id, username, reads_all),
            post=Postbox(self.repo, self.clock, doorbell),
            calendar_changed=self._calendar_changed,
            broadcast_queued=self._wake.set,
            data_erased=self._data_erased,
        )
        reliable = ReliableMessenger(
            messenger,
            self.limits,
            on_migrated=self._migrated,
            on_gone=lambda chat: self._job_now("gone", lambda s: admin.mark_gone(s, chat)),
        )
        courier = Courier(svc, delivery_tables(), intervals={"wall": self.wall_seconds})
        dispatcher = Dispatcher(courier, reliable, self.limits, doorbell)
        self._live = Live(
            svc=svc,
            router=Router(svc, reliable),
            courier=courier,
            dispatcher=dispatcher,
            outbox=Outbox(svc, dispatcher, broadcast_renderers()),
            reliable=reliable,
        )
        try:
            await self.live.router.register_menus()
        except DeliveryError as exc:
            log.warning("command menus not registered: %s", exc)
        self.scheduler.every("overdue-sweep", self.sweep_seconds, self.sweep)
        self.scheduler.every("forum-sweep", self.sweep_seconds, self.forums)
        self.scheduler.every(RETENTION_JOB, RETENTION_SECONDS, self.retention)
        times = self.report_times
        # Scheduled even before a staff chat is named (/setstaff may name one at any time):
        # a report with no staff chat to go to is not made.
        if self.reports_scheduled:
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
        dispatcher.start()  # what waited in the postbox when the bot last stopped
        await self.calendar_tick()
        self._outbox_task = asyncio.create_task(self._deliver_forever(), name="outbox")
        self._flush_task = asyncio.create_task(self._flush_forever(), name="store-flush")
        # What start-up built (modules, the store's maps and indexes) lives as long as the
        # bot: the collector need not walk it again at every full collection.
        gc.freeze()
        log.info("action=start bot=@%s", username)

    async def handle(self, event: Event) -> None:
        await self.live.router.handle(event)
        if self._replan:
            self.plan()
        if self._erased:
            self._erased = False
            self._fold(urgent=True)

    def _data_erased(self) -> None:
        self._erased = True

    def _fold(self, *, urgent: bool) -> None:
        """Have the store fold its journal in the background, so that what was erased no
        longer lies in its files (at once after /forgetme, at most daily after sweeps)."""
        now = monotonic.monotonic()
        if not urgent and self._folded_at is not None and now - self._folded_at < FOLD_SECONDS:
            return
        self._folded_at = now
        try:
            self.repo.compact(wait=False)
        except (OSError, ValueError):
            log.exception("action=compact failed")

    def _migrated(self, old: int, new: int) -> None:
        """A send found the group upgraded: its cases, settings and waiting messages move."""
        self._job_now("migrate", lambda s: admin.on_migration(s, Migration(0, old, new)))

    def _job_now(self, name: str, make: Callable[[Services], T]) -> T | None:
        """Run a job's decisions as one transaction; a failure is logged, never raised."""
        try:
            with self.repo.transaction():
                return make(self.live.svc)
        except Exception:
            log.exception("action=%s failed", name)
            return None

    async def _flush_forever(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                self.repo.flush()
            except OSError:
                log.exception("action=store-flush failed")

    # ------------------------------------------------------------------ calendar and outbox

    def _calendar_changed(self) -> None:
        self._replan = True

    async def calendar_tick(self, lookback: timedelta = CATCH_UP_LOOKBACK) -> dict[str, int]:
        """Send what fell due (late within the grace, else skip) and replan the jobs."""
        self.jumps.forget_before(self.clock() - lookback)
        counts = (
            self._job_now("calendar-catch-up", lambda s: calendar.catch_up(s, lookback, self.jumps))
            or {}
        )
        if counts:
            log.info("action=calendar-catch-up %s", counts)
        self._wake.set()
        self.plan()
        return counts

    def plan(self) -> None:
        """Make the scheduler's reminder jobs match the calendar in storage (ids = slot keys)."""
        self._replan = False
        now = self.clock()
        # Jobs run on the wall clock; the bot's clock may be moved (tests, the demo).
        offset = datetime.now(UTC) - now
        wanted = {
            SLOT_PREFIX + s.key: s.due + offset for s in calendar.upcoming(self.live.svc, now)
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
        outcome = self._job_now(
            f"reminder key={key}", lambda s: calendar.fire_key(s, key, self.jumps)
        )
        self._wake.set()
        return outcome

    async def tick(self) -> None:
        """Catch up with the clock now: due reminders, then everything the outbox may send."""
        await self.calendar_tick()
        await self.live.outbox.pump()

    async def clock_moved(self, before: datetime) -> dict[str, int]:
        """The bot's clock was moved forward on purpose, from `before` to now (the demo).

        The bot was running all along, so nothing that fell due in between is late: those
        reminders go out now, in order, each as it would have at its time (not skipped, not
        marked late). What fell due while the bot was really not running stays late.
        Call it right after moving the clock: the jump is recorded before anything else
        runs, so no reminder job can meet the moved clock first and take its slot for late.
        """
        now = self.clock()
        self.jumps.add(before, now)
        # However long the jump, all of it, and the usual stretch before it.
        return await self.calendar_tick(CATCH_UP_LOOKBACK + max(now - before, timedelta()))

    async def _deliver_forever(self) -> None:
        outbox = self.live.outbox
        while not outbox.stopping:
            self._wake.clear()
            try:
                await outbox.pump()
            except Exception:
                log.exception("action=outbox failed")
            release = outbox.next_release()
            wait = 60.0 if release is None else (release - self.clock()).total_seconds()
            if outbox.stopping:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(0.05, min(wait, 60.0)))

    async def delivered(self, timeout: float = 10.0) -> bool:
        """Wait until what has been decided so far has gone out (the demo, tests)."""
        return self._live is None or await self._live.dispatcher.idle(timeout)

    def delivering(self) -> bool:
        """Whether some chat's lane has work right now (a file being made counts)."""
        return self._live is not None and self._live.dispatcher.busy()

    # ------------------------------------------------------------------ scheduled jobs

    async def sweep(self) -> overdue.SweepResult:
        """Run one overdue sweep now (the scheduler calls this periodically)."""
        result = self._job_now("sweep", overdue.sweep) or overdue.SweepResult()
        if result.flagged or result.escalated or result.reminded or result.asked_to_rate:
            log.info(
                "action=sweep flagged=%s escalated=%s reminded=%s asked_to_rate=%s",
                result.flagged,
                result.escalated,
                result.reminded,
                result.asked_to_rate,
            )
        return result

    async def forums(self) -> forum.ForumSweep:
        """After each residents' forum: its tally to the staff chat, and a day later the
        minutes reminder to whoever planned it (the scheduler calls this periodically)."""
        return self._job_now("forum-sweep", forum.sweep) or forum.ForumSweep()

    async def retention(self) -> erasure.RetentionResult:
        """Run the retention sweep now: anonymise what is past its retention, prune the
        outbox (the scheduler calls this every hour)."""
        result = self._job_now("retention", erasure.sweep) or erasure.RetentionResult()
        if result.changed:
            log.info(
                "action=retention anonymised=%s events=%s broadcasts=%s deliveries=%s",
                result.anonymised,
                result.events,
                result.broadcasts,
                result.deliveries,
            )
            self._fold(urgent=False)
        if result.more:
            again = datetime.now(UTC) + timedelta(minutes=1)
            self.scheduler.at(RETENTION_JOB + ":more", again, self.retention)
        return result

    async def daily(self) -> list[int] | None:
        """Send the daily register that closed last; return the numbers of the cases listed."""
        closes = self.report_times.daily

        def run(svc: Services) -> list[int]:
            day = digests.register_day(self.clock(), self.settings.timezone, closes)
            return digests.daily_register(svc, day, closes_at=closes)

        return self._report("daily-register", run)

    async def weekly(self) -> Ledger | None:
        """Send the summary of last ISO week (Monday to Sunday), with its chart."""

        def run(svc: Services) -> Ledger | None:
            monday = digests.previous_week(self.clock(), self.settings.timezone)
            return digests.weekly_summary(svc, monday)

        return self._report("weekly-summary", run)

    async def monthly(self) -> Ledger | None:
        """Send the report of last calendar month, with its ledger file."""

        def run(svc: Services) -> Ledger | None:
            first = digests.previous_month(self.clock(), self.settings.timezone)
            return digests.monthly_report(svc, first)

        return self._report("monthly-report", run)

    def _report(self, name: str, make: Callable[[Services], T]) -> T | None:
        result = self._job_now(name, make)
        log.info("action=%s done", name)
        return result

    # ------------------------------------------------------------------ stopping

    async def stop(self) -> None:
        self.scheduler.shutdown()
        live = self._live
        if live is not None:
            # Calls in flight finish (and are recorded); what still waits stays in the store
            # and goes out after the next start.
            live.outbox.stop()
            await live.dispatcher.stop(STOP_GRACE)
            self._wake.set()
        task, self._outbox_task = self._outbox_task, None
        if task is not None:
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
