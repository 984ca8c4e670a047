"""What tests observe: records of the bot's calls, and the pulse their waits listen to.

:class:`SentRecord` is one successful message-affecting call, :class:`ErrorRecord` one non-ok
answer.  :class:`Pulse` wakes every waiter (``wait_for``, ``wait_idle``, long polls) on each
change and keeps the clock of the bot's last activity.
"""

from __future__ import annotations

import asyncio
import copy
import time
from dataclasses import asdict, dataclass, field

from localapi.model import JSON


@dataclass
class SentRecord:
    """One successful message-affecting bot call, as observed by the server."""

    seq: int
    method: str
    chat_id: int
    message_id: int | None
    # Visible text after entity parsing (the caption for media); see raw_text for the input.
    text: str | None
    parse_mode: str | None
    reply_to_message_id: int | None
    reply_markup: JSON | None
    # The uploaded file: a document's, or a photo's when its bytes were uploaded (a photo sent
    # by file_id or URL has none), so tests can check what image arrived.
    document_name: str | None
    document_bytes: bytes | None
    photo: bool
    time: float
    raw_text: str | None = None
    entities: list[JSON] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        method: str,
        chat_id: int,
        msg: JSON | None,
        *,
        message_id: int | None = None,
        parse_mode: str | None = None,
        raw_text: str | None = None,
        reply_markup: JSON | None = None,
        document: tuple[str, bytes] | None = None,
        photo: bool = False,
    ) -> SentRecord:
        """The record of a call that left ``msg`` (None: a call on ``message_id``, no content).

        Its ``seq`` is 0 until the world logs it (:meth:`World.log_sent` numbers records).
        """
        text: str | None = None
        entities: list[JSON] = []
        reply_to: int | None = None
        if msg is not None:
            text = msg.get("text", msg.get("caption"))
            entities = copy.deepcopy(msg.get("entities") or msg.get("caption_entities") or [])
            reply = msg.get("reply_to_message")
            reply_to = reply["message_id"] if reply else None
            message_id = msg["message_id"]
        return cls(
            seq=0,
            method=method,
            chat_id=chat_id,
            message_id=message_id,
            text=text,
            parse_mode=parse_mode,
            reply_to_message_id=reply_to,
            reply_markup=copy.deepcopy(reply_markup),
            document_name=document[0] if document else None,
            document_bytes=document[1] if document else None,
            photo=photo,
            time=time.monotonic(),
            raw_text=raw_text,
            entities=entities,
        )

    def to_json(self) -> JSON:
        """JSON-safe form for the control API: document bytes replaced by their size."""
        data = asdict(self)
        body = data.pop("document_bytes")
        data["document_size"] = None if body is None else len(body)
        return data

    def describe(self) -> str:
        """One line for a timeout message."""
        text = (self.text or "")[:80].replace("\n", "\\n")
        line = (
            f"  #{self.seq} {self.method} chat={self.chat_id} msg={self.message_id} text={text!r}"
        )
        return line + (f" doc={self.document_name!r}" if self.document_name else "")


@dataclass
class ErrorRecord:
    """A non-ok answer the server gave."""

    method: str
    code: int
    description: str
    params: dict[str, object]


class Pulse:
    """Change notifications and the bot's activity, shared by the world and the server.

    The event is replaced on every change; a waiter takes :attr:`changed` *before* checking its
    condition and then waits on that one, which gets set (no lost wake-ups).
    """

    def __init__(self) -> None:
        self.changed = asyncio.Event()
        # Bot calls being answered (long polls excluded) and when the last one came or went.
        self.inflight = 0
        self.last_activity = time.monotonic()
        # Set on stop(): pending long polls answer at once.
        self.closing = False

    def notify(self) -> None:
        changed, self.changed = self.changed, asyncio.Event()
        changed.set()

    def touch(self) -> None:
        """The bot did something: restart wait_idle's quiet period."""
        self.last_activity = time.monotonic()
        self.notify()

    @staticmethod
    async def wait(changed: asyncio.Event, timeout: float) -> bool:
        """Wait until ``changed`` is set (True) or ``timeout`` seconds passed (False)."""
        try:
            await asyncio.wait_for(changed.wait(), timeout=max(0.0, timeout))
        except TimeoutError:
            return False
        return True
