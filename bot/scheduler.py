"""The runtime's one scheduler (APScheduler 3, asyncio): periodic jobs of the core."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.interval import IntervalTrigger

log = logging.getLogger("echowall.scheduler")


class Scheduler:
    """Owns an AsyncIOScheduler; jobs have fixed ids, so a restart never doubles them."""

    def __init__(self) -> None:
        # coalesce + one instance: a sweep that was missed while the bot was down runs once,
        # late, instead of once per missed interval; a generous grace keeps it from being
        # dropped silently when the loop was busy (APScheduler's default grace is 1 s).
        self._scheduler = AsyncIOScheduler(
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600}
        )

    def every(self, job_id: str, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        self._scheduler.add_job(
            job, IntervalTrigger(seconds=seconds), id=job_id, replace_existing=True
        )

    def start(self) -> None:
        self._scheduler.start()

    def shutdown(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
