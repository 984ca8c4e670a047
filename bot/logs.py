"""Logging: one event per line as `key=value` pairs, with secrets removed from everything.

Handlers log events as `action=report case=17 chat=-1001 ...`; this formatter puts the time,
level and logger in front in the same form, so a line can be grepped or parsed as logfmt.
The token is replaced wherever it would appear — message, arguments, tracebacks — because
HTTP libraries put it into URLs and error texts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

FORMAT = "ts=%(asctime)s level=%(levelname)s logger=%(name)s %(message)s"
REDACTED = "<token>"


class RedactingFormatter(logging.Formatter):
    """A formatter that never writes any of the given secrets."""

    def __init__(self, secrets: Iterable[str], fmt: str = FORMAT) -> None:
        super().__init__(fmt)
        # The bot id part of a token (before ':') is public; the whole token and its secret
        # half are not.
        found: set[str] = set()
        for secret in secrets:
            if secret:
                found.add(secret)
                tail = secret.partition(":")[2]
                if len(tail) >= 8:
                    found.add(tail)
        self._secrets = sorted(found, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


def configure(level: str, secrets: Iterable[str] = (), *, path: Path | None = None) -> None:
    """Log at `level`, one redacted logfmt line per event: to stderr, or appended to `path`."""
    handler: logging.Handler = (
        logging.StreamHandler() if path is None else logging.FileHandler(path, encoding="utf-8")
    )
    handler.setFormatter(RedactingFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # httpx logs every request URL at INFO; the URL holds the token (redacted anyway).
    logging.getLogger("httpx").setLevel(logging.WARNING)
    # APScheduler logs every job it adds at INFO: one line per reminder slot at every start.
    if root.level > logging.DEBUG:
        logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
