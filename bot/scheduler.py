"""The runtime's one scheduler (APScheduler 3, asyncio): periodic and calendar jobs of the core."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, tzinfo
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("echowall.scheduler")


class Scheduler:
    """Owns an AsyncIOScheduler; jobs have fixed ids, so a restart never doubles them."""

    def __init__(self, timezone: tzinfo | None = None) -> None:
        # Calendar jobs ("20:00 every day") are meant in the deployment's time zone, not the
        # server's, which is often UTC.
        self._timezone = timezone or ZoneInfo("UTC")
        # coalesce + one instance: a sweep that was missed while the bot was down runs once,
        # late, instead of once per missed interval; a generous grace keeps it from being
        # dropped silently when the loop was busy (APScheduler's default grace is 1 s).
        self._scheduler = AsyncIOScheduler(
            timezone=self._timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )

    def every(self, job_id: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        self._scheduler.add_job(
            job, IntervalTrigger(seconds=seconds), id=job_id, replace_existing=True
        )

    def cron(
        self, job_id: str, job: Callable[[], Awaitable[object]], **cron_fields: int | str
    ) -> None:
        """Run `job` at calendar times (CronTrigger fields: day_of_week, hour, ...) locally."""
        self._scheduler.add_job(
            job,
            CronTrigger(timezone=self._timezone, **cron_fields),
            id=job_id,
            replace_existing=True,
        )

    def at(
        self, job_id: str, when: datetime, job: Callable[..., Awaitable[object]], *args: object
    ) -> None:
        """Run `job(*args)` once at `when`, however late: the job itself decides what a late
        run should do (APScheduler would otherwise drop a missed one-off job with a warning)."""
        self._scheduler.add_job(
            job,
            DateTrigger(run_date=when),
            args=args,
            id=job_id,
            replace_existing=True,
            misfire_grace_time=None,
        )

    def job_times(self, prefix: str) -> dict[str, datetime | None]:
        """The jobs whose id starts with `prefix`, with their next run time."""
        return {
            job.id: getattr(job, "next_run_time", None)
            for job in self._scheduler.get_jobs()
            if job.id.startswith(prefix)
        }

    def remove(self, job_id: str) -> None:
        self._scheduler.remove_job(job_id)

    def next_runs(self) -> dict[str, datetime | None]:
        """Return every job's id and next run time (None until the scheduler has started)."""
        return {job.id: getattr(job, "next_run_time", None) for job in self._scheduler.get_jobs()}

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
