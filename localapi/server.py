"""The HTTP face of the local Bot API server, and :class:`LocalBotAPI` that composes the parts.

``LocalBotAPI`` is a :class:`~localapi.world.World` that listens on 127.0.0.1: the real
python-telegram-bot and aiogram stacks call ``<root>/bot<token>/<method>`` exactly as they
would call ``api.telegram.org`` and get Telegram's envelope back.  Between the request and the
method sit the token check, the parameter decoding and the fault injector; an unexpected
exception answers 500 and stays visible in ``internal_errors``.  A thin JSON control API under
``/_control/`` drives the world for a bot that runs in another process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict

from aiohttp import web

from localapi.chats import ChatMethods
from localapi.errors import TelegramError
from localapi.limits import Fault, FaultInjector, FloodControl, RateLimits
from localapi.methods import MessageMethods
from localapi.model import JSON
from localapi.params import Handler, Params, read_params
from localapi.records import ErrorRecord
from localapi.rules import SEND_LIKE_METHODS
from localapi.world import World

log = logging.getLogger(__name__)


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _json_response(body: JSON, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=_dumps)


class LocalBotAPI(World, FaultInjector):
    """Local Telegram Bot API server with a controllable world.

    The world's control API (:class:`World`) and fault injection (:class:`FaultInjector`) are
    its own; the Bot API methods, the flood limits and the HTTP application are its parts.
    """

    def __init__(
        self,
        token: str = "123456:TEST",
        *,
        bot_id: int = 123456,
        bot_username: str = "echowall_bot",
        bot_name: str = "echowall",
        host: str = "127.0.0.1",
        port: int = 0,
        limits: RateLimits | None = None,
    ) -> None:
        World.__init__(self, bot_id=bot_id, bot_username=bot_username, bot_name=bot_name)
        FaultInjector.__init__(self)
        self.token = token
        self.host = host
        self.port = port
        # Every call as (lower-cased method name, monotonic time), valid or not.
        self.calls: list[tuple[str, float]] = []
        # Unexpected exceptions inside handlers (a bug here, not in the bot).
        self.internal_errors: list[BaseException] = []

        self._flood = FloodControl(limits)
        self._messages = MessageMethods(self, self._flood)
        table = {
            **self.updates.methods(),
            **self._messages.methods(),
            **ChatMethods(self).methods(),
        }
        # Telegram method names are case-insensitive: looked up lower-cased.
        self._methods: dict[str, tuple[str, Handler]] = {
            name.lower(): (name, handler) for name, handler in table.items()
        }
        self._runner: web.AppRunner | None = None
        self._bound_port: int | None = None

    @property
    def limits(self) -> RateLimits | None:
        """The flood limits (None: only announced retry windows are enforced); assignable."""
        return self._flood.limits

    @limits.setter
    def limits(self, limits: RateLimits | None) -> None:
        self._flood.limits = limits

    @property
    def violations(self) -> int:
        """Send-like calls the bot made into an announced retry_after window."""
        return self._flood.violations

    @violations.setter
    def violations(self, count: int) -> None:
        self._flood.violations = count

    @property
    def strict_ampersand(self) -> bool:
        """Refuse an unescaped '&' in HTML (real Telegram keeps it; see parse_html)."""
        return self._messages.strict_ampersand

    @strict_ampersand.setter
    def strict_ampersand(self, strict: bool) -> None:
        self._messages.strict_ampersand = strict

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start listening; ``url`` is valid afterwards."""
        if self._runner is not None:
            return
        self.pulse.closing = False
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot_request)
        app.router.add_route("*", "/_control/{name}", self._handle_control)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        # A short shutdown timeout: pending long polls are woken on stop() anyway.
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        address = runner.addresses[0]
        self._bound_port = int(address[1])

    async def stop(self) -> None:
        """Stop the server, answering pending long polls with an empty result first."""
        self.pulse.closing = True
        self.pulse.notify()
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()
        self._bound_port = None

    async def __aenter__(self) -> LocalBotAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        """Root URL such as ``http://127.0.0.1:41234`` (PTB: ``base_url=url + '/bot'``)."""
        if self._bound_port is None:
            raise RuntimeError("LocalBotAPI is not started")
        return f"http://{self.host}:{self._bound_port}"

    async def wait_idle(self, quiet: float = 0.2, timeout: float = 5.0) -> None:
        """Wait until no bot call arrived for ``quiet`` s and every update was delivered."""
        pulse = self.pulse
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = pulse.changed
            busy = pulse.inflight > 0 or self.updates.undelivered() > 0
            silent_for = time.monotonic() - pulse.last_activity
            if not busy and silent_for >= quiet:
                return
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(
                    f"bot not idle after {timeout}s: {self.updates.undelivered()} update(s) "
                    f"undelivered, {pulse.inflight} call(s) in flight, "
                    f"last call {silent_for:.2f}s ago"
                )
            wake_in = remaining if busy else min(remaining, quiet - silent_for)
            await pulse.wait(changed, wake_in)

    # ------------------------------------------------------------------ the Bot API

    async def _handle_bot_request(self, request: web.Request) -> web.StreamResponse:
        raw_method = request.match_info["method"]
        entry = self._methods.get(raw_method.lower())
        name = entry[0] if entry else raw_method
        # Lower-cased, since Telegram method names are case-insensitive: one spelling to match.
        self.calls.append((name.lower(), time.monotonic()))
        if request.match_info["token"] != self.token:
            return self._error_response(name, TelegramError(401, "Unauthorized"), {})
        try:
            params = await read_params(request)
        except TelegramError as exc:
            return self._error_response(name, exc, {})
        if entry is None:
            return self._error_response(
                name, TelegramError(404, "Not Found: method not found"), params.for_record()
            )
        handler = entry[1]
        # Long polls are not bot activity; everything else keeps wait_idle waiting.
        is_activity = name != "getUpdates"
        if is_activity:
            self.pulse.inflight += 1
            self.pulse.touch()
        try:
            fault = self.take_fault(name)
            if fault is not None:
                if fault.kind == "reset":
                    if request.transport is not None:
                        request.transport.abort()
                    # Nothing reaches the client any more; this only ends the handler.
                    raise web.HTTPInternalServerError()
                if fault.kind != "timeout":
                    raise self._fault_error(name, fault, params)
            result = await handler(params, request)
            if fault is not None and fault.kind == "timeout":
                # The call already took effect; only the answer is late.
                await asyncio.sleep(fault.delay)
            return _json_response({"ok": True, "result": result})
        except TelegramError as exc:
            return self._error_response(name, exc, params.for_record())
        except web.HTTPException:
            raise
        except Exception as exc:  # a bug in this server: keep it visible, not just a 500
            log.exception("LocalBotAPI: %s failed", name)
            self.internal_errors.append(exc)
            return self._error_response(
                name, TelegramError(500, "Internal Server Error"), params.for_record()
            )
        finally:
            if is_activity:
                self.pulse.inflight -= 1
                self.pulse.touch()

    def _fault_error(self, name: str, fault: Fault, params: Params) -> TelegramError:
        chat_id: int | None
        try:
            chat_id = params.get_int("chat_id")
        except TelegramError:
            chat_id = None
        if fault.kind == "429" and name in SEND_LIKE_METHODS:
            # An announced retry window: sends into it count as violations.
            self._flood.block(chat_id if chat_id is not None else "global", fault.retry_after)
        chat = self.chats.get(chat_id) if chat_id is not None else None
        return fault.error(chat_id, chat.migrated_to if chat is not None else None)

    def _error_response(
        self, method: str, error: TelegramError, params: dict[str, object]
    ) -> web.Response:
        self.errors.append(ErrorRecord(method, error.code, error.description, params))
        body: JSON = {"ok": False, "error_code": error.code, "description": error.description}
        if error.parameters:
            body["parameters"] = error.parameters
        self.pulse.notify()
        return _json_response(body, error.code)

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return _json_response({"ok": False, "error_code": 404, "description": "Not Found"}, 404)

    # ------------------------------------------------------------------ the control API

    async def _handle_control(self, request: web.Request) -> web.Response:
        """Thin JSON wrapper over the in-process control API for out-of-process bots."""
        name = request.match_info["name"]
        try:
            result: object
            if request.method == "GET":
                result = self._control_query(name, request.query)
            else:
                action = self._control_actions().get(name)
                if action is None:
                    raise LookupError(f"unknown control endpoint {name!r}")
                body = await request.json() if request.can_read_body else {}
                if not isinstance(body, dict):
                    raise ValueError("control body must be a JSON object")
                result = action(**body)
        except (LookupError, TypeError, ValueError) as exc:
            status = 404 if type(exc) is LookupError else 400
            # KeyError's str() adds quotes; the first argument is the readable message.
            text = str(exc.args[0]) if exc.args else type(exc).__name__
            return _json_response({"ok": False, "description": text}, status)
        return _json_response({"ok": True, "result": result})

    def _control_query(self, name: str, query: Mapping[str, str]) -> object:
        if name == "sent":
            after = int(query.get("after", "0"))
            return [r.to_json() for r in self.sent if r.seq > after]
        if name == "messages":
            return self.messages(int(query["chat_id"]))
        if name == "errors":
            return [asdict(e) for e in self.errors]
        raise LookupError(f"unknown control endpoint {name!r}")

    def _control_actions(self) -> dict[str, Callable[..., object]]:
        return {
            "user_message": self.user_message,
            "edit_user_message": self.edit_user_message,
            "press": self.press,
            "add_user": self.add_user,
            "add_chat": self.add_chat,
            "add_bot_to_chat": self.add_bot_to_chat,
            "remove_bot_from_chat": self.remove_bot_from_chat,
            "migrate": self.migrate_to_supergroup,
            "set_admin": self.set_admin,
        }
