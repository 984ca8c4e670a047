"""The composition root: configuration in, a running bot out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from bot.config import Config
from bot.delivery import Limits
from bot.i18n import Catalogs
from bot.runtime import ReportTimes, Runtime, utc_now
from storage.tinydb_store import TinyRepository

log = logging.getLogger("echowall")


def build_runtime(config: Config, *, clock: Callable[[], datetime] = utc_now) -> Runtime:
    """Build the store, catalogs and core policy from the configuration."""
    settings = config.settings()
    catalogs = Catalogs(settings.timezone, default=settings.language)
    repo = TinyRepository(config.data_dir)
    limits = Limits(
        per_second=config.rate_per_second,
        group_per_minute=config.rate_group_per_minute,
        group_window=config.rate_group_window,
    )
    return Runtime(
        repo,
        settings,
        catalogs.get,
        limits,
        clock=clock,
        sweep_seconds=config.sweep_seconds,
        wall_seconds=config.wall_seconds,
        report_times=(
            ReportTimes(config.daily_at, config.weekly_at, config.monthly_at)
            if config.reports
            else None
        ),
    )


async def run_bot(config: Config, stop: asyncio.Event, *, runtime: Runtime | None = None) -> None:
    """Run the configured framework's adapter until `stop` is set; always close the store."""
    token = config.require_token()
    runtime = runtime or build_runtime(config)
    try:
        if config.framework == "ptb":
            from bot import ptb_adapter

            await ptb_adapter.serve(
                runtime, token, config.api_url, stop, timeout=config.http_timeout
            )
        else:
            from bot import aiogram_adapter

            await aiogram_adapter.serve(
                runtime, token, config.api_url, stop, timeout=config.http_timeout
            )
    finally:
        runtime.repo.close()
