"""The `echowall` console program: run, demo."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.config import ConfigError, load_config


def _logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    # httpx logs every request URL, and the URL holds the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


async def _until_signal(main: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, main.set)


async def _run(framework: str | None) -> None:
    from bot.app import run_bot

    config = load_config(framework=framework)
    _logging(config.log_level)
    stop = asyncio.Event()
    await _until_signal(stop)
    await run_bot(config, stop)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="echowall", description="民有所呼，我必有应")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot (long polling)")
    run.add_argument("--framework", choices=["ptb", "aiogram"])
    demo = sub.add_parser("demo", help="try the bot in a terminal chat, no token needed")
    demo.add_argument("--framework", choices=["ptb", "aiogram"])
    demo.add_argument("--data-dir", help="keep the demo's data here (default: a temp dir)")
    demo.add_argument("--script", help="read demo commands from this file instead of the keyboard")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            asyncio.run(_run(args.framework))
        elif args.command == "demo":
            from bot.demo import run_demo

            asyncio.run(run_demo(args.framework, args.data_dir, args.script))
    except ConfigError as exc:
        print(f"echowall: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
