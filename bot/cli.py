"""The `echowall` console program: run, demo, stats, export, backup, restore."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.config import ConfigError, load_config
from bot.logs import configure
from storage.backup import CopyError
from storage.lock import StoreBusy


async def _until_signal(main: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.set)


async def _run(framework: str | None) -> None:
    from bot.app import run_bot

    config = load_config(framework=framework)
    token = config.token.get_secret_value() if config.token else ""
    configure(config.log_level, [token])
    stop = asyncio.Event()
    await _until_signal(stop)
    await run_bot(config, stop)


@contextmanager
def _store_copy(data_dir: Path) -> Iterator[Path]:
    """A private, consistent copy of the store to read from while the bot may be running.

    Opening and closing the store folds its journal into a snapshot; doing that under a
    running bot could lose the bot's newest writes, so the files are copied as
    `storage.backup.copy_store` does for a backup (see there and docs/storage.md).
    """
    from storage.backup import copy_store

    with tempfile.TemporaryDirectory(prefix="echowall-") as tmp:
        copy_store(data_dir, Path(tmp))
        yield Path(tmp)


def _backup(out: str | None, pace: float) -> None:
    """Write a backup of the configured data directory, next to a running bot or not."""
    from storage.backup import write_backup

    config = load_config()
    now = datetime.now(config.settings().timezone)
    if not config.data_dir.is_dir():
        raise ConfigError(f"there is no data directory at {config.data_dir}")
    target = Path(out or f"echowall-backup-{now:%Y%m%d-%H%M%S}.tar.gz")
    info = write_backup(config.data_dir, target, now=now, pace=pace * 1e6 or None)
    print(f"{info.path} ({info.size:,} bytes; every write up to no. {info.seq})")


def _restore(archive: str) -> None:
    """Put a backup in place of the configured data directory's store (the bot stopped)."""
    from storage.backup import restore

    config = load_config()
    now = datetime.now(config.settings().timezone)
    info = restore(Path(archive), config.data_dir, now=now)
    print(f"restored {archive} into {config.data_dir}: {info.cases:,} cases, as on {info.created}")
    if info.replaced is not None:
        print(f"the files it replaced are in {info.replaced}")


def _report(
    command: str, period_text: str | None, out: str | None, form: str | None = None
) -> None:
    """Print the statistics, or write the ledger file, from the configured data directory."""
    from bot.i18n import Catalogs
    from handlers import ledger, stats
    from handlers.commands import BY_NAME
    from handlers.render import plain
    from storage.tinydb_store import TinyRepository

    config = load_config()
    settings = config.settings()
    t = Catalogs(settings.timezone, default=settings.language).get(settings.language)
    now = datetime.now(UTC)
    if command == "stats":
        period = ledger.parse_period(period_text or "", now, settings.timezone)
    else:
        period = (
            ledger.parse_month(period_text, settings.timezone)
            if period_text
            else ledger.month_of(now, settings.timezone)
        )
    if period is None:
        # The same words as the chat's answer; the usage is the chat command's.
        problem = stats.period_problem(
            t, (period_text or "").split(), months_only=command != "stats"
        )
        usage = t.gettext("Usage: {usage}").format(usage=t.gettext(BY_NAME[command].usage))
        raise ConfigError(plain(problem) + "\n" + usage)
    if not config.data_dir.is_dir():
        raise ConfigError(
            t.gettext("There is no data directory at {path}.").format(path=config.data_dir)
        )
    with _store_copy(config.data_dir) as copy:
        repo = TinyRepository(copy)
        try:
            cases = repo.cases_received(period.start, period.end)
            labels = stats.building_labels(repo)
        finally:
            repo.close()
    if command == "stats":
        print(stats.stats_text(cases, labels, t, period, now, settings.categories))
        return
    # The format asked for, else the one the file's name says, else the workbook.
    suffix = Path(out).suffix.lower().lstrip(".") if out else ""
    chosen = stats.Format(form or (suffix if suffix in ("csv", "xlsx") else "xlsx"))
    target = Path(out or stats.export_filename(period, chosen))
    exporter = stats.EXPORTERS[chosen]
    categories = settings.categories
    target.write_bytes(exporter(cases, labels, t, period, now, categories, tz=settings.timezone))
    print(target)


def _setup() -> int:
    """`echowall setup`: check the bot with Telegram, say what to set in @BotFather, and print
    the link that makes whoever opens it an admin (then /setup in Telegram goes on)."""
    import httpx

    config = load_config()
    token = config.require_token()
    try:
        reply = httpx.get(f"{config.api_url}/bot{token}/getMe", timeout=config.http_timeout)
        me = reply.json().get("result") if reply.status_code == 200 else None
    except (httpx.HTTPError, ValueError) as exc:
        print(f"echowall: Telegram did not answer: {type(exc).__name__}", file=sys.stderr)
        return 1
    if not me:
        print("echowall: Telegram refused the token: check ECHOWALL_TOKEN", file=sys.stderr)
        return 1
    username = me.get("username", "")
    privacy = not me.get("can_read_all_group_messages", False)
    joins = me.get("can_join_groups", True)
    code = config.setup_code()
    ok, todo = "ok  ", "TODO"
    lines = [
        f"echowall setup for @{username}",
        "",
        "In @BotFather:",
        f"  [{ok if privacy else todo}] /setprivacy -> Enable (privacy mode on: in groups the bot"
        " gets only commands and replies to it)",
        f"  [{ok if joins else todo}] /setjoingroups -> Enable while you add it to your groups,"
        " Disable afterwards",
        "  [    ] /setdescription: what residents read before they start the bot",
        "",
        "Then open this link in Telegram yourself (it makes you an admin of this echowall;",
        "it is as secret as the token, share it with nobody else):",
        f"  https://t.me/{username}?start={code}",
        "and follow /setup in that chat: /setstaff in the staff chat, /setescalation in the",
        "escalation chat, the building groups admitted on the staff chat's cards.",
        "",
        "Configured here (the configuration wins over /setstaff and /setescalation):",
        f"  ECHOWALL_STAFF_CHAT={config.staff_chat or '(not set)'}",
        f"  ECHOWALL_ESCALATION_CHAT={config.escalation_chat or '(not set)'}",
        f"  ECHOWALL_ADMINS={config.admins or '(not set)'}",
    ]
    print("\n".join(lines))
    return 0


def _instant(text: str) -> datetime:
    """A moment as typed: ISO 8601, in the demo's time zone unless it names its own."""
    from zoneinfo import ZoneInfo

    from bot.demo import DEMO_TIMEZONE

    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date and time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(DEMO_TIMEZONE))
    return moment


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="echowall", description="民有所呼，我必有应")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (long polling)")
    run.add_argument("--framework", choices=["ptb", "aiogram"])
    demo = sub.add_parser("demo", help="try the bot in a terminal chat, no token needed")
    demo.add_argument("--framework", choices=["ptb", "aiogram"])
    demo.add_argument("--data-dir", help="keep the demo's data here (default: a temp dir)")
    demo.add_argument("--script", help="read demo commands from this file instead of the keyboard")
    demo.add_argument(
        "--clock",
        type=_instant,
        help="start the bot's clock at this moment, e.g. 2026-12-02T09:00 (Beijing time)",
    )
    report = sub.add_parser("stats", help="print the counts and the three rates of a period")
    report.add_argument("--period", default="month", help="week, month, all or YYYY-MM")
    export = sub.add_parser("export", help="write the ledger of a month as an .xlsx file")
    export.add_argument("--month", help="YYYY-MM (default: this month)")
    export.add_argument("--out", help="file to write (default: echowall-ledger-YYYY-MM.xlsx)")
    sub.add_parser("setup", help="check the bot with Telegram and print the admins' set-up link")
    backup = sub.add_parser(
        "backup", help="write a consistent copy of the store while the bot runs (.tar.gz)"
    )
    backup.add_argument("--out", help="file to write (default: echowall-backup-<time>.tar.gz)")
    backup.add_argument(
        "--pace",
        type=float,
        default=32,
        help="copy at most this many MB a second, so the bot's writes keep their speed "
        "(default 32; 0: as fast as the disk goes)",
    )
    restore = sub.add_parser("restore", help="bring a backup back (stop the bot first)")
    restore.add_argument("archive", help="a file written by echowall backup")
    export.add_argument(
        "--format",
        choices=["xlsx", "csv"],
        help="xlsx (the workbook, for people) or csv (the ledger sheet, for other systems); "
        "default: by the --out file's suffix, else xlsx",
    )
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            asyncio.run(_run(args.framework))
        elif args.command == "demo":
            from bot.demo import run_demo

            asyncio.run(run_demo(args.framework, args.data_dir, args.script, args.clock))
        elif args.command == "stats":
            _report("stats", args.period, None)
        elif args.command == "export":
            _report("export", args.month, args.out, args.format)
        elif args.command == "setup":
            return _setup()
        elif args.command == "backup":
            _backup(args.out, args.pace)
        elif args.command == "restore":
            _restore(args.archive)
    except (ConfigError, StoreBusy, CopyError) as exc:
        print(f"echowall: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
