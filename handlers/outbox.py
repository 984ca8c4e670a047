"""The outbox: durable broadcasts, delivered once per recipient under Telegram's limits.

Everything the bot sends to many chats, or sends later (announcements, event posts,
reminders, cancellations), is first written as a `Broadcast` and then delivered by
`Outbox.pump`. Each recipient gets a `Delivery` record that is written *before* the call
(`sending`) and again after it (`sent` with the message id, or `failed` with the reason), both
fsync'd. After a crash, a recipient still marked `sending` may or may not have the message:
it is marked `uncertain` and never sent again, because a second copy in a group is worse than
the gap the delivery report shows. The same holds for a call whose answer was lost to a
timeout. Flood control (429) and server errors are retried, as they mean "not delivered".

Each recipient's message goes out in that chat's turn (`Lanes`, the runtime's delivery per
chat) at broadcast priority: after the answers and echoes waiting there, before view
refreshes; a group that has used its 20 messages a minute holds up only itself. The renderers
of the broadcast kinds are handed in by the composition root.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, TypeVar

from handlers.core import Services, log
from handlers.courier import Sender
from handlers.ports import (
    ChatGone,
    ChatMigrated,
    DeliveryError,
    Keyboard,
    Rejected,
    RetryLater,
    Uncertain,
)
from handlers.render import LABELLED, clip, esc
from handlers.texts import N_, Translator
from storage.records import (
    Broadcast,
    BroadcastKind,
    BroadcastState,
    Delivery,
    DeliveryState,
    Priority,
)

T = TypeVar("T")

# Calls per recipient before the outbox gives up on flood control or server errors; each
# waits out retry_after or backs off, so this covers minutes of trouble.
SEND_ATTEMPTS = 12
CONCURRENT_CHATS = 32
# Problem lines in a delivery report: 50 short lines stay far below 4096 characters.
REPORT_LINES = 50
FINAL = frozenset({DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.UNCERTAIN})

REASONS = {
    "removed": N_("the bot was removed from the group"),
    "rejected": N_("Telegram refused the message"),
    "flood": N_("Telegram's flood control did not let up"),
    "network": N_("Telegram could not be reached"),
    "uncertain": N_("unknown whether it arrived (no answer from Telegram); not sent twice"),
    "obsolete": N_("no longer needed (the event was cancelled or moved)"),
    "pin": N_("posted, but could not be pinned (the bot is not allowed to pin)"),
}


@dataclass(frozen=True)
class Post:
    """What one recipient of a broadcast gets."""

    text: str
    keyboard: Keyboard | None = None
    reply_to: int | None = None


# Builds a recipient's post; None when the broadcast no longer applies (e.g. event cancelled).
Renderer = Callable[[Services, Broadcast, int, Translator], Post | None]
Renderers = Mapping[BroadcastKind, Renderer]


class Lanes(Protocol):
    """The runtime's delivery per chat: runs `job` in the chat's turn, at `priority`, with a
    sender that paces and retries its calls."""

    async def run(
        self, chat_id: int, priority: Priority, job: Callable[[Sender], Awaitable[T]]
    ) -> T: ...


class DirectLanes:
    """Lanes without pacing: every job at once, with the given sender (core tests, tools)."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender

    async def run(
        self, chat_id: int, priority: Priority, job: Callable[[Sender], Awaitable[T]]
    ) -> T:
        return await job(self.sender)


def enqueue(
    svc: Services,
    kind: BroadcastKind,
    targets: list[int],
    payload: dict[str, str],
    *,
    key: str | None = None,
    report_to: int | None = None,
    routine: bool = False,
    pin: bool = False,
) -> Broadcast:
    """Record a broadcast durably and wake the outbox; with a `key`, at most once ever."""
    if key is not None:
        existing = svc.repo.broadcast_by_key(key)
        if existing is not None:
            return existing
    now = svc.clock()
    quiet = svc.settings.quiet_hours
    not_before = quiet.release(now, svc.settings.timezone) if routine and quiet else None
    broadcast = Broadcast(
        id=svc.repo.next_broadcast_id(),
        kind=kind,
        targets=list(dict.fromkeys(targets)),
        created=now,
        key=key,
        payload=payload,
        report_to=report_to,
        not_before=not_before,
        pin=pin,
    )
    if not broadcast.targets:
        broadcast.state = BroadcastState.DONE
        broadcast.done_at = now
        broadcast.reported = report_to is None
    svc.repo.save_broadcast(broadcast)
    log.info(
        "action=enqueue broadcast=%s kind=%s targets=%s key=%s",
        broadcast.id,
        kind.value,
        len(broadcast.targets),
        key,
    )
    svc.broadcast_queued()
    return broadcast


def skip(svc: Services, key: str, kind: BroadcastKind) -> None:
    """Record that a keyed broadcast will never go out (a reminder missed beyond its grace)."""
    if svc.repo.has_broadcast(key):
        return
    now = svc.clock()
    svc.repo.save_broadcast(
        Broadcast(
            id=svc.repo.next_broadcast_id(),
            kind=kind,
            targets=[],
            created=now,
            key=key,
            state=BroadcastState.SKIPPED,
            done_at=now,
            reported=True,
        )
    )


class Stopping(Exception):
    """The bot is stopping: a message still waiting for its turn is left for the next start."""


class Outbox:
    """Delivers unfinished broadcasts; one instance per running bot."""

    def __init__(self, svc: Services, lanes: Lanes, renderers: Renderers) -> None:
        self.svc = svc
        self.lanes = lanes
        self.renderers = renderers
        self._lock = asyncio.Lock()
        self._recovered = False
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def stop(self) -> None:
        """Finish the sends in flight, start no new ones; the worker then returns."""
        self._stopping = True

    def recover(self) -> int:
        """After a restart: recipients caught mid-call are uncertain; return how many."""
        count = 0
        for broadcast in self.svc.repo.unfinished_broadcasts():
            for delivery in self.svc.repo.deliveries(broadcast.id).values():
                if delivery.state is DeliveryState.SENDING:
                    delivery.state = DeliveryState.UNCERTAIN
                    delivery.error = "uncertain"
                    self.svc.repo.save_delivery(delivery)
                    count += 1
        self._recovered = True
        if count:
            log.warning("action=outbox-recover uncertain=%s", count)
        return count

    def next_release(self) -> datetime | None:
        """The earliest time a waiting (quiet-hours) broadcast may go out."""
        now = self.svc.clock()
        times = [
            b.not_before
            for b in self.svc.repo.unfinished_broadcasts()
            if b.state is BroadcastState.ACTIVE and b.not_before and b.not_before > now
        ]
        return min(times, default=None)

    async def pump(self) -> int:
        """Deliver everything that may go out now; return the number of messages sent."""
        if not self._recovered:
            self.recover()
        async with self._lock:
            sent = 0
            while not self._stopping:
                queues, ready = self._ready()
                if not queues:
                    break
                sent += await self._deliver_all(queues)
                # Close each round's broadcasts at once: during a burst of reminders the loop
                # keeps going, and the unfinished ones are what every round reads.
                for broadcast in ready:
                    self._finish(broadcast.id)
            # The rest: reports a crash left unsent, broadcasts completed by an earlier round.
            for broadcast in self.svc.repo.unfinished_broadcasts():
                self._finish(broadcast.id)
            return sent

    def _ready(self) -> tuple[dict[int, list[Broadcast]], list[Broadcast]]:
        """Per chat, the broadcasts that may go out now and have not reached it yet; and
        those broadcasts."""
        now = self.svc.clock()
        queues: dict[int, list[Broadcast]] = {}
        ready = []
        for broadcast in self.svc.repo.unfinished_broadcasts():
            if broadcast.state is not BroadcastState.ACTIVE:
                continue
            if broadcast.not_before is not None and broadcast.not_before > now:
                continue
            ready.append(broadcast)
            done = self.svc.repo.deliveries(broadcast.id)
            for chat_id in broadcast.targets:
                record = done.get(chat_id)
                if record is None or record.state is DeliveryState.PENDING:
                    queues.setdefault(chat_id, []).append(broadcast)
        return queues, ready

    async def _deliver_all(self, queues: dict[int, list[Broadcast]]) -> int:
        gate = asyncio.Semaphore(CONCURRENT_CHATS)
        counts: list[int] = []

        async def drain(chat_id: int, broadcasts: list[Broadcast]) -> None:
            async with gate:
                for broadcast in broadcasts:
                    if self._stopping:
                        return
                    counts.append(await self._deliver(broadcast, chat_id))

        await asyncio.gather(*(drain(c, b) for c, b in queues.items()))
        return sum(counts)

    async def _deliver(self, broadcast: Broadcast, chat_id: int) -> int:
        async def job(sender: Sender) -> int:
            return await self._deliver_with(sender, broadcast, chat_id)

        return await self.lanes.run(chat_id, Priority.POST, job)

    async def _deliver_with(self, sender: Sender, broadcast: Broadcast, chat_id: int) -> int:
        svc = self.svc
        delivery = svc.repo.delivery(broadcast.id, chat_id) or Delivery(
            0, broadcast.id, chat_id, DeliveryState.SENDING, svc.clock()
        )
        render = self.renderers.get(broadcast.kind)
        post = render(svc, broadcast, chat_id, svc.texts_for(chat_id)) if render else None
        if post is None:
            delivery.state, delivery.error = DeliveryState.FAILED, "obsolete"
            svc.repo.save_delivery(delivery)
            return 0
        try:
            delivery.message_id = await sender.send(
                chat_id,
                post.text,
                reply_to=post.reply_to,
                keyboard=post.keyboard,
                attempts=SEND_ATTEMPTS,
                retry_uncertain=False,
                on_call=lambda: self._leaving(delivery),
            )
            delivery.state = DeliveryState.SENT
        except Stopping:
            return 0  # not sent, not recorded: the next start sends it
        except Uncertain:
            delivery.state, delivery.error = DeliveryState.UNCERTAIN, "uncertain"
        except ChatGone:
            delivery.state, delivery.error = DeliveryState.FAILED, "removed"
        except ChatMigrated:
            delivery.state, delivery.error = DeliveryState.FAILED, "removed"
        except Rejected as exc:
            log.warning("broadcast=%s chat=%s rejected: %s", broadcast.id, chat_id, exc)
            delivery.state, delivery.error = DeliveryState.FAILED, "rejected"
        except RetryLater:
            delivery.state, delivery.error = DeliveryState.FAILED, "flood"
        except DeliveryError:
            delivery.state, delivery.error = DeliveryState.FAILED, "network"
        delivery.at = svc.clock()
        unpinned = False
        if delivery.state is DeliveryState.SENT and broadcast.pin:
            assert delivery.message_id is not None
            try:
                await sender.pin(chat_id, delivery.message_id)
            except DeliveryError as exc:
                log.info("broadcast=%s chat=%s pin failed: %s", broadcast.id, chat_id, exc)
                delivery.error = "pin"
                unpinned = broadcast.report_to is None  # the head is in the group: say it there
        with svc.repo.transaction():
            svc.repo.save_delivery(delivery)
            if unpinned:
                t = svc.texts_for(chat_id)
                svc.post.send(
                    chat_id,
                    t.gettext(
                        "I could not pin this announcement: give me the right to pin "
                        "messages to keep announcements on top."
                    ),
                    priority=Priority.ECHO,
                    reply_to=delivery.message_id,
                )
        log.info(
            "action=deliver broadcast=%s chat=%s state=%s message=%s",
            broadcast.id,
            chat_id,
            delivery.state.value,
            delivery.message_id,
        )
        return 1 if delivery.state is DeliveryState.SENT else 0

    def _leaving(self, delivery: Delivery) -> None:
        """Right before the call, after the pacing wait: stop here, or record it durably."""
        if self._stopping:
            if delivery.id:
                # An earlier attempt was refused (429, 5xx): it did not arrive; send it later.
                delivery.state = DeliveryState.PENDING
                self.svc.repo.save_delivery(delivery)
            raise Stopping
        delivery.state = DeliveryState.SENDING
        self.svc.repo.save_delivery(delivery)

    def _finish(self, broadcast_id: int) -> None:
        """Close a broadcast whose recipients all have a final state, and report it (the
        report is committed with the broadcast's closing)."""
        repo = self.svc.repo
        broadcast = repo.get_broadcast(broadcast_id)
        if broadcast is None:
            return
        with repo.transaction():
            if broadcast.state is BroadcastState.ACTIVE:
                done = repo.deliveries(broadcast.id)
                if any(
                    done.get(c) is None or done[c].state not in FINAL for c in broadcast.targets
                ):
                    return
                broadcast.state = BroadcastState.DONE
                broadcast.done_at = self.svc.clock()
                broadcast.reported = broadcast.report_to is None
            if not broadcast.reported and broadcast.report_to is not None:
                self.svc.post.send(
                    broadcast.report_to,
                    delivery_report(self.svc, broadcast),
                    priority=Priority.ECHO,
                )
                broadcast.reported = True
            repo.save_broadcast(broadcast)


def delivery_report(svc: Services, broadcast: Broadcast) -> str:
    """The staff chat's account of a finished broadcast: how many got it, who did not, why."""
    assert broadcast.report_to is not None
    t = svc.texts_for(broadcast.report_to)
    done = svc.repo.deliveries(broadcast.id)
    delivered = [c for c in broadcast.targets if done[c].state is DeliveryState.SENT]
    lines = [
        t.gettext("📬 <b>Delivery report</b> of {what}: {sent} of {total} groups got it.").format(
            what=esc(broadcast.payload.get("label", "")),
            sent=t.number(len(delivered)),
            total=t.number(len(broadcast.targets)),
        )
    ]
    problems = [
        c for c in broadcast.targets if done[c].state is not DeliveryState.SENT or done[c].error
    ]
    for chat_id in problems[:REPORT_LINES]:
        delivery = done[chat_id]
        group = svc.repo.get_group(chat_id)
        name = group.label if group else str(chat_id)
        reason = REASONS.get(delivery.error or "", REASONS["rejected"])
        line = t.gettext(LABELLED).format(label=esc(clip(name, 60)), text=t.gettext(reason))
        lines.append(f"• {line}")
    if len(problems) > REPORT_LINES:
        more = t.gettext("… and {n} more groups.")
        lines.append(more.format(n=t.number(len(problems) - REPORT_LINES)))
    return "\n".join(lines)
