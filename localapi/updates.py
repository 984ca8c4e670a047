"""The update queue and its delivery: getUpdates long polling and the webhook methods.

The world queues updates here; a bot fetches them with getUpdates, which confirms everything
before its ``offset``, filters by the remembered ``allowed_updates``, waits up to ``timeout``
for something to arrive and answers 409 when a newer poll takes over.
"""

from __future__ import annotations

import asyncio
import copy

from aiohttp import web

from localapi.errors import CONFLICT_OTHER_POLL, TelegramError
from localapi.model import JSON
from localapi.params import Handler, Params
from localapi.records import Pulse
from localapi.rules import ALLOWED_UPDATES_ERROR, DEFAULT_ALLOWED_UPDATES, allowed_updates


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


class UpdateQueue:
    """Updates not yet confirmed by the bot, oldest first, and the methods that deliver them."""

    def __init__(self, pulse: Pulse) -> None:
        self.pulse = pulse
        self.pending: list[JSON] = []
        self.delivered_upto = 0
        self.allowed: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._next_update_id = 1
        self._poll_generation = 0

    def put(self, kind: str, payload: JSON) -> None:
        """Queue a copy of ``payload`` as an update of type ``kind``."""
        update_id = self._next_update_id
        self._next_update_id += 1
        self.pending.append({"update_id": update_id, kind: copy.deepcopy(payload)})
        self.pulse.notify()

    def undelivered(self) -> int:
        """Queued updates no getUpdates answer has carried yet."""
        return sum(1 for u in self.pending if u["update_id"] > self.delivered_upto)

    def _is_allowed(self, update: JSON) -> bool:
        kind = next(k for k in update if k != "update_id")
        return kind in self.allowed

    def methods(self) -> dict[str, Handler]:
        return {
            "getUpdates": self.get_updates,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
        }

    async def get_updates(self, params: Params, request: web.Request) -> list[JSON]:
        offset = params.get_int("offset")
        limit = min(100, max(1, params.get_int("limit") or 100))
        timeout = max(0.0, params.get_float("timeout") or 0.0)
        self.allowed = allowed_updates(
            params.get_json("allowed_updates", ALLOWED_UPDATES_ERROR), self.allowed
        )
        if offset is not None:
            if offset < 0:
                self.pending = self.pending[offset:]
            else:
                self.pending = [u for u in self.pending if u["update_id"] >= offset]
        self._poll_generation += 1
        generation = self._poll_generation
        self.pulse.notify()  # wakes an older poll so it can answer 409
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self.pulse.changed
            if self.pulse.closing or not _connected(request):
                return []  # shutting down, or the client gave up: nobody to deliver to
            if generation != self._poll_generation:
                # Clients that stop polling drop the connection and immediately poll once more
                # to confirm offsets; give that disconnect a moment to land before calling it a
                # conflict, so only genuinely concurrent pollers see 409.
                await asyncio.sleep(0.05)
                if not _connected(request):
                    return []
                raise TelegramError(409, CONFLICT_OTHER_POLL)
            self.pending = [u for u in self.pending if self._is_allowed(u)]
            ready = self.pending[:limit]
            remaining = deadline - loop.time()
            if ready or remaining <= 0:
                break
            await self.pulse.wait(changed, remaining)
        if ready:
            self.delivered_upto = max(self.delivered_upto, ready[-1]["update_id"])
            self.pulse.touch()
        return copy.deepcopy(ready)

    async def delete_webhook(self, params: Params, request: web.Request) -> bool:
        if params.get_bool("drop_pending_updates"):
            self.pending.clear()
            self.pulse.notify()
        return True

    async def get_webhook_info(self, params: Params, request: web.Request) -> JSON:
        return {
            "url": "",
            "has_custom_certificate": False,
            "pending_update_count": len(self.pending),
        }
