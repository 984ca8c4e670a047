"""`echowall demo`: the real bot against a built-in local Bot API, with a terminal chat.

No token and no network: a :class:`~localapi.LocalBotAPI` listens on 127.0.0.1, a small
neighbourhood (two building groups, the staff chat, the street office's escalation chat and
five people) is set up in it, and the real bot polls it exactly as it would poll Telegram.
The terminal then lets you act as any of those people in any of their chats:

* a plain line is sent as the current person's message in the current chat, so
  ``/report 楼道灯坏了`` works exactly as typed;
* lines starting with a colon are the demo's own commands (``:as``, ``:in``, ``:press``,
  ``:reply``, ``:photo``, ``:show``, ``:wait``, ``:later``, ``:report``, ``:help``,
  ``:quit``), so they never clash with the bot's ``/commands``.

After every input the demo waits for the bot to go quiet and prints everything it did in
any chat: new messages, edits, pins, documents and the answer to a button press. The demo's
folder (its data directory) keeps the store, the log (`demo.log`: logs never go to the
terminal) and every file the bot sent, such as ledgers and charts, under its own name.

`:later` moves the bot's clock on purpose and tells the runtime so: the bot was running all
along, so what falls due within the jump goes out as it would have, never marked late.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import io
import logging
import os
import queue
import re
import secrets
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Protocol, TextIO, TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from bot.app import build_runtime, run_bot
from bot.config import Config, ConfigError
from bot.logs import configure
from bot.runtime import Runtime, utc_now
from localapi import LocalBotAPI, SentRecord
from storage.records import Group
from storage.tinydb_store import TinyRepository

__all__ = ["DemoConfig", "DemoSession", "html_to_terminal", "run_demo"]

log = logging.getLogger("echowall.demo")

JSON = dict[str, Any]
T = TypeVar("T")

# How long the bot must stay silent before a step counts as done, and how long we wait at most.
QUIET_SECONDS = 0.3
BUSY_TIMEOUT = 15.0
STARTUP_TIMEOUT = 20.0
SHOW_LAST = 12
MAX_WAIT_SECONDS = 600.0
# The demo's folder (its data directory) also holds its log and the files the bot sent.
LOG_NAME = "demo.log"

# --------------------------------------------------------------------------------------
# The demo neighbourhood
# --------------------------------------------------------------------------------------

STAFF_CHAT = -1000
BUILDING_1 = -1001
BUILDING_2 = -1002
ESCALATION_CHAT = -1009

AUNT_ZHANG = 101
UNCLE_LI = 102
MS_CHEN = 103
HEAD_WANG = 201
WORKER_LIU = 301


@dataclass(frozen=True)
class Person:
    """Someone you can act as; `chats` are the groups they belong to, home first."""

    id: int
    name: str
    role: str
    chats: tuple[int, ...]


@dataclass(frozen=True)
class Place:
    """A group chat of the demo world; `alias` is a short ASCII name for `:in`."""

    id: int
    name: str
    alias: str
    about: str


PEOPLE: tuple[Person, ...] = (
    Person(AUNT_ZHANG, "张阿姨", "resident, building 1", (BUILDING_1,)),
    Person(UNCLE_LI, "李大爷", "resident, building 1", (BUILDING_1,)),
    Person(MS_CHEN, "陈女士", "resident, building 2", (BUILDING_2,)),
    Person(HEAD_WANG, "王楼长", "building head (group admin), building 1", (BUILDING_1,)),
    # Community workers sit in the building groups too, so staff can act there directly.
    Person(
        WORKER_LIU,
        "刘社工",
        "community staff",
        (STAFF_CHAT, BUILDING_1, BUILDING_2, ESCALATION_CHAT),
    ),
)

PLACES: tuple[Place, ...] = (
    Place(BUILDING_1, "林溪苑1号楼", "b1", "building 1's group"),
    Place(BUILDING_2, "林溪苑2号楼", "b2", "building 2's group"),
    Place(STAFF_CHAT, "社区工作群", "staff", "the staff chat"),
    Place(ESCALATION_CHAT, "街道督办", "street", "the street office's escalation chat"),
)

PRIVATE_WORDS = frozenset({"private", "p", "pm", "dm", "私聊"})


def build_world(api: LocalBotAPI) -> None:
    """Create the people, their private chats and the groups (the bot joins them later)."""
    for person in PEOPLE:
        api.add_user(person.id, person.name, language_code="zh")
        api.add_chat(person.id, "private")
    for place in PLACES:
        members = [p.id for p in PEOPLE if place.id in p.chats]
        admins = {
            BUILDING_1: [HEAD_WANG],
            STAFF_CHAT: [WORKER_LIU],
        }.get(place.id, [])
        # The bot is not in the groups yet: add_bot_to_chat brings it in, as people would.
        api.add_chat(
            place.id,
            "group",
            title=place.name,
            members=members,
            admins=admins,
            bot_status="left",
        )


def admit_buildings(data_dir: Path) -> None:
    """The demo's two buildings are admitted before the bot joins them: a community would
    admit them on the staff chat's card, which the demo skips (`:in staff` shows /buildings)."""
    repo = TinyRepository(data_dir)
    try:
        for place in PLACES:
            if place.id in (BUILDING_1, BUILDING_2) and repo.get_group(place.id) is None:
                repo.save_group(Group(chat_id=place.id, title=place.name))
    finally:
        repo.close()


# Who adds the bot where; building groups make it an admin so it may pin the live wall.
INTRODUCTIONS: tuple[tuple[int, int, bool], ...] = (
    (STAFF_CHAT, WORKER_LIU, False),
    (ESCALATION_CHAT, WORKER_LIU, False),
    (BUILDING_1, HEAD_WANG, True),
    (BUILDING_2, WORKER_LIU, True),
)


class DemoConfig(Config):
    """The bot's configuration as the demo passes it: no ECHOWALL_* env, .env or toml.

    A developer's real settings (a production token, a staff chat id) must not leak into a
    throw-away demo, so only the values given to the constructor count.
    """

    # Merged into Config's: without the file sources these keys would only cause warnings.
    model_config = SettingsConfigDict(env_file=None, toml_file=None)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


# The demo's neighbourhood is in Beijing time, whatever the machine's settings.
DEMO_TIMEZONE = "Asia/Shanghai"


def demo_config(api: LocalBotAPI, framework: str, data_dir: Path) -> DemoConfig:
    """Settings for the bot under demo, pointed at the local server.

    Validated like any configuration, so an unknown framework is a ConfigError.
    """
    values: dict[str, Any] = dict(
        token=api.token,
        api_url=api.url,
        framework=framework,
        data_dir=data_dir,
        staff_chat=STAFF_CHAT,
        escalation_chat=ESCALATION_CHAT,
        admins="",
        timezone=DEMO_TIMEZONE,
        language="zh",
        # Telegram's global pace, but a roomier per-group window: someone trying the demo
        # types faster than a real group talks and should not watch the bot wait a minute.
        rate_per_second=30,
        rate_group_per_minute=600,
        # No quiet hours: someone trying the demo at night should see event posts at once.
        quiet_hours="off",
        # Someone trying the demo looks at the pinned wall after every step.
        wall_seconds=1,
        log_level=_log_level_name(),
    )
    try:
        return DemoConfig(**values)
    except ValidationError as exc:
        raise ConfigError(f"invalid demo configuration: {exc.errors()[0]['msg']}") from None


# --------------------------------------------------------------------------------------
# Rendering Telegram HTML for a terminal
# --------------------------------------------------------------------------------------

_ANSI_CODES = {
    "b": "1",
    "strong": "1",
    "i": "3",
    "em": "3",
    "u": "4",
    "ins": "4",
    "s": "9",
    "strike": "9",
    "del": "9",
    "code": "36",
    "pre": "36",
}
_ANSI_RESET = "\x1b[0m"
_ANSI_SEQUENCE = re.compile(r"\x1b\[[0-9;]*m")


class _TerminalHtml(HTMLParser):
    """Telegram's HTML subset to plain text, with optional ANSI styles for formatting tags."""

    def __init__(self, *, ansi: bool) -> None:
        # convert_charrefs unescapes &lt; &amp; &#39; ... inside text for us.
        super().__init__(convert_charrefs=True)
        self.ansi = ansi
        self.parts: list[str] = []
        self.styles: list[str] = []
        self.links: list[str | None] = []

    def _restyle(self) -> None:
        if self.ansi:
            # Resetting and re-applying what is still open keeps nesting correct.
            self.parts.append(_ANSI_RESET)
            self.parts.extend(f"\x1b[{code}m" for code in self.styles)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _ANSI_CODES:
            self.styles.append(_ANSI_CODES[tag])
            if self.ansi:
                self.parts.append(f"\x1b[{_ANSI_CODES[tag]}m")
        elif tag == "a":
            self.links.append(dict(attrs).get("href"))
            self.parts.append("")  # marks where the link text starts, see handle_endtag

    def handle_endtag(self, tag: str) -> None:
        if tag in _ANSI_CODES:
            code = _ANSI_CODES[tag]
            if code in self.styles:
                # Remove the innermost matching style.
                del self.styles[len(self.styles) - 1 - self.styles[::-1].index(code)]
            self._restyle()
        elif tag == "a" and self.links:
            href = self.links.pop()
            # Show the target unless the link text already is it (e.g. a bare URL).
            if href and not href.startswith("tg://") and not self._ends_with(href):
                self.parts.append(f" <{href}>")

    def _ends_with(self, text: str) -> bool:
        return "".join(self.parts).endswith(text)

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def render(self, source: str) -> str:
        self.feed(source)
        self.close()
        if self.ansi and self.styles:
            self.parts.append(_ANSI_RESET)
        return "".join(self.parts)


def html_to_terminal(text: str, *, ansi: bool = False) -> str:
    """Telegram HTML as readable terminal text: tags stripped, entities unescaped.

    With ``ansi`` bold, italic, underline, strikethrough and code get terminal styles;
    use it only when the output is a TTY.
    """
    try:
        return _TerminalHtml(ansi=ansi).render(text)
    except Exception:  # a renderer must never take the demo down; fall back to crude stripping
        log.debug("could not render %r", text, exc_info=True)
        return html.unescape(re.sub(r"<[^>]*>", "", text))


class Style:
    """ANSI decorations for the demo's own lines, or none when output is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}{_ANSI_RESET}" if self.enabled else text

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def head(self, text: str) -> str:
        return self._wrap("1;34", text)

    def prompt(self, text: str) -> str:
        return self._wrap("1;32", text)

    def warn(self, text: str) -> str:
        return self._wrap("33", text)


# --------------------------------------------------------------------------------------
# The terminal chat
# --------------------------------------------------------------------------------------


class ShiftedClock:
    """The bot's clock in the demo: real time plus however far :later has moved it.

    `start` sets where the clock starts (`echowall demo --clock`); it runs on from there.
    """

    def __init__(self, start: datetime | None = None) -> None:
        self.offset = timedelta() if start is None else start - utc_now()

    def __call__(self) -> datetime:
        return utc_now() + self.offset


HELP = """\
Type a line to send it as {me} in the current chat, e.g.  /report 楼道灯坏了
Demo commands start with a colon:
  :as [name|n]       act as someone else (alone: list people)
  :in [chat|n]       switch chat; ':in private' is your private chat with the bot
  :press <n> [#id]   press button [n] of the latest bot message with buttons here
  :reply <id> <text> reply to message #id
  :photo <caption>   send a photo with a caption, e.g.  :photo /report 墙皮脱落
  :show              show this chat's recent messages as they are now
  :wait <seconds>    wait, then show what the bot did (for scripts)
  :later <30m|12h|2d> move the bot's clock forward: reminders due meanwhile, overdue sweep
  :report <daily|weekly|monthly>   send that staff-chat report now
  :help  :quit       (Ctrl-D or Ctrl-C quit too; Enter on an empty line shows news)"""

BANNER = """\
echowall demo: the real bot, a local Telegram stand-in, no token, no network.
People: 张阿姨 李大爷 (building 1), 陈女士 (building 2), 王楼长 (head, building 1),
刘社工 (staff). Try:  /report 楼道灯坏了   then  :as 王楼长   and  /accept 1"""


class DemoSession:
    """Who you are, where you are, and what the bot said since you last looked."""

    def __init__(
        self,
        api: LocalBotAPI,
        out: TextIO,
        *,
        color: bool = False,
        bot_task: asyncio.Task[None] | None = None,
        runtime: Runtime | None = None,
        clock: ShiftedClock | None = None,
        files: Path | None = None,
    ) -> None:
        self.api = api
        # Where the files the bot sends (workbooks, charts) are saved to be opened; None: not.
        self.files = files
        self.runtime = runtime
        self.clock = clock
        self.out = out
        self.ansi = color
        self.style = Style(color)
        self.bot_task = bot_task
        self.me: Person = PEOPLE[0]
        self.chat_id: int = self.me.chats[0]
        self.mark = api.last_seq  # newest SentRecord already shown
        self.error_mark = len(api.errors)
        # Latest HTML the bot sent for each of its messages: the current state, with formatting.
        self.html: dict[tuple[int, int], str] = {}
        # The callback query of the last :press, whose answer is shown before anything else.
        self.pending_press: str | None = None

    # ------------------------------------------------------------------ output helpers

    def say(self, text: str = "") -> None:
        print(text, file=self.out)

    def note(self, text: str) -> None:
        self.say(self.style.dim(f"  {text}"))

    def prompt(self) -> str:
        return self.style.prompt(f"[{self.me.name} @ {self.chat_name(self.chat_id)}]") + " > "

    def chat_name(self, chat_id: int) -> str:
        for place in PLACES:
            if place.id == chat_id:
                return place.name
        person = self.person_by_id(chat_id)
        if person is not None:
            return "private" if person == self.me else f"private: {person.name}"
        chat = self.api.chats.get(chat_id)
        return (chat.title if chat is not None and chat.title else None) or str(chat_id)

    @staticmethod
    def person_by_id(user_id: int) -> Person | None:
        return next((p for p in PEOPLE if p.id == user_id), None)

    def sender_name(self, message: JSON) -> str:
        sender = message.get("from") or {}
        if sender.get("id") == self.api.bot_id:
            return self.api.bot_name
        return str(sender.get("first_name") or message.get("sender_chat", {}).get("title") or "?")

    def body(self, html_text: str | None, plain: str | None) -> list[str]:
        """The lines of a bot message, indented, formatting kept where it helps."""
        text = html_to_terminal(html_text, ansi=self.ansi) if html_text is not None else plain
        text = text or ""
        return [f"    {line}" for line in text.splitlines()] if text else []

    @staticmethod
    def buttons(markup: JSON | None) -> list[list[JSON]]:
        rows = (markup or {}).get("inline_keyboard") or []
        return [list(row) for row in rows]

    def button_lines(self, markup: JSON | None) -> list[str]:
        """Buttons numbered across rows, one terminal line per keyboard row."""
        lines: list[str] = []
        number = 0
        for row in self.buttons(markup):
            cells: list[str] = []
            for button in row:
                number += 1
                label = str(button.get("text", ""))
                if button.get("url"):
                    label += f" <{button['url']}>"
                cells.append(f"[{number}] {label}")
            lines.append("    " + "  ".join(cells))
        return lines

    # ------------------------------------------------------------------ what the bot did

    def print_record(self, record: SentRecord) -> None:
        where = self.style.head(f"◆ {self.chat_name(record.chat_id)}")
        key = (record.chat_id, record.message_id or 0)
        html_text = record.raw_text if (record.parse_mode or "").lower() == "html" else None
        if html_text is not None:
            self.html[key] = html_text
        elif record.text is not None:
            self.html.pop(key, None)  # replaced by plain text: the old HTML is stale
        method = record.method
        if method in ("sendMessage", "sendPhoto", "sendDocument"):
            head = f"{where}  #{record.message_id}"
            if record.reply_to_message_id is not None:
                head += f" ↪ #{record.reply_to_message_id}"
            if record.photo:
                head += "  🖼 photo"
            if record.document_name is not None:
                size = len(record.document_bytes or b"")
                head += f"  📎 {record.document_name} ({_human_size(size)})"
            self.say(head)
            lines = self.body(html_text, record.text) + self.button_lines(record.reply_markup)
            lines += self.save_file(record)
        elif method in ("editMessageText", "editMessageCaption"):
            self.say(f"{where}  ✎ edited #{record.message_id}")
            lines = self.body(html_text, record.text) + self.button_lines(record.reply_markup)
        elif method == "editMessageReplyMarkup":
            self.say(f"{where}  ✎ edited buttons of #{record.message_id}")
            lines = self.button_lines(record.reply_markup) or ["    (buttons removed)"]
        elif method == "pinChatMessage":
            lines = []
            self.say(f"{where}  📌 pinned #{record.message_id}")
        elif method == "unpinChatMessage":
            lines = []
            self.say(f"{where}  unpinned #{record.message_id}")
        elif method == "deleteMessage":
            lines = []
            self.say(f"{where}  🗑 deleted #{record.message_id}")
        else:
            lines = []
            self.say(f"{where}  {method} #{record.message_id}")
        for line in lines:
            self.say(line)

    def save_file(self, record: SentRecord) -> list[str]:
        """Save a file the bot sent (a ledger, a chart) so it can be opened; say where."""
        if self.files is None or record.document_name is None or record.document_bytes is None:
            return []
        try:
            path = _free_path(self.files, record.document_name, record.document_bytes)
            path.write_bytes(record.document_bytes)
        except (OSError, ValueError) as exc:
            return [self.style.warn(f"  ⚠ could not save {record.document_name}: {exc}")]
        return [self.style.dim(f"  💾 saved: {path}")]

    def print_news(self) -> None:
        """Everything the bot sent or changed since the last call, and refused calls."""
        for record in self.api.sent:
            if record.seq > self.mark:
                self.print_record(record)
        self.mark = self.api.last_seq
        for error in self.api.errors[self.error_mark :]:
            # "not modified" is routine when a card is refreshed without a change.
            if "not modified" not in error.description:
                refusal = f"  ⚠ Bot API refused {error.method}: {error.description}"
                self.say(self.style.warn(refusal))
        self.error_mark = len(self.api.errors)
        self.out.flush()

    async def settle(self, timeout: float = BUSY_TIMEOUT) -> None:
        """Wait until the bot has handled everything and gone quiet, then print its output."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            # Quiet on the wire and no lane at work, at the same moment: a lane making a
            # file (the ledger, the chart) makes no call for a while, then sends it.
            while True:
                left = max(0.1, deadline - loop.time())
                if self.runtime is not None and not await self.runtime.delivered(left):
                    raise TimeoutError
                await self.api.wait_idle(quiet=QUIET_SECONDS, timeout=left)
                if self.runtime is None or not self.runtime.delivering():
                    break
                if loop.time() >= deadline:
                    raise TimeoutError
        except TimeoutError:
            self.note("(the bot is still busy; press Enter later to see the rest)")
        # A toast shows up at once on a phone, before the edits the press caused.
        self.print_press_answer()
        self.print_news()

    def bot_failed(self) -> BaseException | None:
        """The exception the bot stopped with, if it stopped on its own."""
        task = self.bot_task
        if task is None or not task.done():
            return None
        if task.cancelled():
            return asyncio.CancelledError()
        return task.exception() or RuntimeError("the bot stopped")

    # ------------------------------------------------------------------ input handling

    async def handle(self, line: str) -> bool:
        """Act on one input line; False means quit."""
        line = line.strip()
        if line.startswith("::"):
            line = line[1:]  # '::)' sends ':)' — an escape for text that starts with a colon
        elif line.startswith(":"):
            name, _, rest = line[1:].partition(" ")
            return await self.command(name.lower(), rest.strip())
        if line:
            self.send_text(line)
        await self.settle()
        return True

    async def command(self, name: str, arg: str) -> bool:
        handlers: dict[str, Callable[[str], bool]] = {
            "as": self.cmd_as,
            "in": self.cmd_in,
            "press": self.cmd_press,
            "reply": self.cmd_reply,
            "photo": self.cmd_photo,
            "show": self.cmd_show,
            "help": self.cmd_help,
            "h": self.cmd_help,
            "?": self.cmd_help,
        }
        if name in ("quit", "q", "exit"):
            return False
        if name == "wait":
            await self.cmd_wait(arg)
            return True
        if name == "later":
            await self.cmd_later(arg)
            return True
        if name == "report":
            await self.cmd_report(arg)
            return True
        handler = handlers.get(name)
        if handler is None:
            self.note(f"unknown command :{name}; :help lists the demo commands")
            return True
        # Commands that talk to the bot wait for its answer; the others show what came meanwhile.
        if handler(arg):
            await self.settle()
        else:
            self.print_news()
        return True

    def send_text(self, text: str, *, reply_to: int | None = None) -> None:
        message = self.api.user_message(self.chat_id, self.me.id, text, reply_to=reply_to)
        self.note(f"→ sent #{message['message_id']}")

    def cmd_help(self, arg: str) -> bool:
        self.say(HELP.format(me=self.me.name))
        return False

    def list_people(self) -> None:
        for number, person in enumerate(PEOPLE, 1):
            mark = "*" if person == self.me else " "
            self.say(f" {mark}{number}. {person.name}  {self.style.dim(person.role)}")

    def cmd_as(self, arg: str) -> bool:
        if not arg:
            self.list_people()
            self.note("switch with  :as <name or number>")
            return False
        person = _pick(arg, PEOPLE, lambda p: (p.name, str(p.id)))
        if person is None:
            self.note(f"nobody called {arg!r}; :as lists people")
            return False
        self.me = person
        private = self.chat_id in {p.id for p in PEOPLE}
        if private:
            self.chat_id = person.id  # the private chat follows you
        elif self.chat_id not in person.chats:
            moved = person.chats[0]
            self.note(
                f"{person.name} is not in {self.chat_name(self.chat_id)}; "
                f"now in {self.chat_name(moved)}"
            )
            self.chat_id = moved
        self.note(f"you are {person.name} ({person.role}) in {self.chat_name(self.chat_id)}")
        return False

    def list_chats(self) -> None:
        for number, place in enumerate(PLACES, 1):
            mark = "*" if place.id == self.chat_id else " "
            member = "" if place.id in self.me.chats else self.style.dim("  (not a member)")
            self.say(f" {mark}{number}. {place.name}  {self.style.dim(place.alias)}{member}")
        mark = "*" if self.chat_id == self.me.id else " "
        self.say(f" {mark}   private  {self.style.dim(f'{self.me.name} ↔ bot')}")

    def cmd_in(self, arg: str) -> bool:
        if not arg:
            self.list_chats()
            self.note("switch with  :in <chat name, number or alias>")
            return False
        if arg.lower() in PRIVATE_WORDS:
            self.chat_id = self.me.id
        else:
            place = _pick(arg, PLACES, lambda p: (p.name, p.alias))
            if place is None:
                self.note(f"no chat {arg!r}; :in lists chats")
                return False
            if place.id not in self.me.chats:
                members = [p.name for p in PEOPLE if place.id in p.chats]
                self.note(
                    f"{self.me.name} is not a member of {place.name}; try  :as {members[0]}"
                    if members
                    else f"nobody is in {place.name}"
                )
                return False
            self.chat_id = place.id
        self.note(f"now in {self.chat_name(self.chat_id)}")
        return False

    def latest_with_buttons(self) -> JSON | None:
        for message in reversed(self.api.messages(self.chat_id)):
            if self.buttons(message.get("reply_markup")):
                return message
        return None

    def cmd_press(self, arg: str) -> bool:
        words = arg.split()
        if not words:
            self.note("usage:  :press <n>   or  :press <n> #<message id>")
            return False
        target: JSON | None
        if len(words) > 1:
            message_id = _message_number(words[-1])
            target = self.api.message(self.chat_id, message_id) if message_id else None
            if target is None:
                self.note(f"no message {words[-1]} in this chat")
                return False
            choice = " ".join(words[:-1])
        else:
            target = self.latest_with_buttons()
            choice = words[0]
            if target is None:
                self.note("no message with buttons in this chat yet")
                return False
        flat = [b for row in self.buttons(target.get("reply_markup")) for b in row]
        button: JSON | None = None
        if choice.isdigit() and 1 <= int(choice) <= len(flat):
            button = flat[int(choice) - 1]
        elif not choice.isdigit():
            # A label works too; an exact label wins over a partial one (满意 vs 不满意).
            exact = [b for b in flat if b.get("text") == choice]
            partial = [b for b in flat if choice in str(b.get("text", ""))]
            button = exact[0] if exact else partial[0] if len(partial) == 1 else None
        if button is None:
            self.note(f"no button {choice!r} on #{target['message_id']}:")
            for line in self.button_lines(target.get("reply_markup")):
                self.say(line)
            return False
        data = button.get("callback_data")
        if data is None:
            self.note(f"[{choice}] is not a callback button: {button.get('url') or button}")
            return False
        self.note(f"→ pressed “{button.get('text')}” on #{target['message_id']}")
        query_id = self.api.press(self.chat_id, int(target["message_id"]), self.me.id, data)
        self.pending_press = query_id
        return True

    def cmd_reply(self, arg: str) -> bool:
        number, _, text = arg.partition(" ")
        message_id = _message_number(number)
        if message_id is None or not text.strip():
            self.note("usage:  :reply <message id> <text>")
            return False
        if self.api.message(self.chat_id, message_id) is None:
            self.note(f"no message #{message_id} in this chat")
            return False
        self.send_text(text.strip(), reply_to=message_id)
        return True

    def cmd_photo(self, arg: str) -> bool:
        message = self.api.user_message(self.chat_id, self.me.id, photo=True, caption=arg or None)
        self.note(f"→ sent photo #{message['message_id']}")
        return True

    def cmd_show(self, arg: str) -> bool:
        messages = self.api.messages(self.chat_id)[-SHOW_LAST:]
        pinned = self.api.pinned(self.chat_id)
        self.say(self.style.head(f"── {self.chat_name(self.chat_id)}, as it is now ──"))
        if not messages:
            self.note("(no messages yet)")
        for message in messages:
            self.show_message(message, pinned=message["message_id"] == pinned)
        return False

    def show_message(self, message: JSON, *, pinned: bool) -> None:
        head = f"#{message['message_id']} {self.sender_name(message)}"
        reply = message.get("reply_to_message")
        if reply:
            head += f" ↪ #{reply['message_id']}"
        if message.get("edit_date"):
            head += " (edited)"
        if pinned:
            head += " 📌"
        if message.get("photo"):
            head += "  🖼 photo"
        document = message.get("document")
        if document:
            size = _human_size(int(document.get("file_size") or 0))
            head += f"  📎 {document.get('file_name')} ({size})"
        if message.get("new_chat_members"):
            names = ", ".join(str(u.get("first_name")) for u in message["new_chat_members"])
            head += f" added {names}"
        self.say(head)
        plain = message.get("text", message.get("caption"))
        is_bot = (message.get("from") or {}).get("id") == self.api.bot_id
        html_text = self.html.get((int(message["chat"]["id"]), int(message["message_id"])))
        lines = self.body(html_text if is_bot else None, plain)
        for line in lines + self.button_lines(message.get("reply_markup")):
            self.say(line)

    def local_time(self) -> str:
        """The bot's clock as its chats show times, in the demo's zone: 12月3日 周四 10:00 …"""
        if self.runtime is None or self.clock is None:
            return "?"
        now = self.clock()
        year = now.astimezone(self.runtime.settings.timezone).year
        return f"{self.runtime.texts(None).datetime(now)} ({year}, {DEMO_TIMEZONE})"

    async def cmd_later(self, arg: str) -> None:
        """Let time pass for the bot: deadlines run out, reminders fall due."""
        match = re.fullmatch(r"(\d{1,3})([mhd])", arg.strip().lower())
        if match is None or self.runtime is None or self.clock is None:
            self.note("usage:  :later <minutes>m, <hours>h or <days>d   e.g.  :later 25h")
            return
        amount = int(match.group(1))
        unit = {"m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
        before = self.clock()
        self.clock.offset += timedelta(**{unit: amount})
        # At once, before anything else runs: the bot was running all along, so reminders
        # that fell due during the jump go out in order, as at their time (not late).
        reminders = await self.runtime.clock_moved(before)
        self.note(f"⏩ the bot's clock is now {self.local_time()}")
        if reminders:
            done = ", ".join(f"{outcome} {n}" for outcome, n in sorted(reminders.items()))
            self.note(f"reminders that fell due: {done}")
        await self.runtime.tick()  # they go out first: they came before the end of the jump
        result = await self.runtime.sweep()
        self.note(
            f"overdue sweep: flagged {result.flagged or '-'}, escalated {result.escalated or '-'}"
        )
        await self.settle()

    async def cmd_report(self, arg: str) -> None:
        """Send one of the scheduled staff-chat reports now, as its job would."""
        jobs = {
            "daily": self.runtime.daily if self.runtime else None,
            "weekly": self.runtime.weekly if self.runtime else None,
            "monthly": self.runtime.monthly if self.runtime else None,
        }
        job = jobs.get(arg.strip().lower())
        if job is None:
            self.note("usage:  :report daily  |  :report weekly  |  :report monthly")
            return
        self.note(f"sending the {arg.strip().lower()} report to the staff chat…")
        await job()
        await self.settle(timeout=30)

    async def cmd_wait(self, arg: str) -> None:
        try:
            seconds = float(arg) if arg else 1.0
        except ValueError:
            self.note("usage:  :wait <seconds>")
            return
        await asyncio.sleep(max(0.0, min(seconds, MAX_WAIT_SECONDS)))
        await self.settle()

    def print_press_answer(self) -> None:
        """The toast or alert the pressing person would see."""
        query_id, self.pending_press = self.pending_press, None
        if query_id is None:
            return
        answer = self.api.callback_answers.get(query_id)
        if answer is None:
            self.note("(the bot did not answer the press)")
        elif not answer.get("text"):
            self.note("(press answered without a message)")
        elif answer.get("show_alert"):
            self.say(self.style.warn(f"  ⚠ alert: {answer['text']}"))
        else:
            self.say(f"  💬 toast: {answer['text']}")


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def _free_path(folder: Path, name: str, data: bytes) -> Path:
    """Where to save a sent file: its own name in `folder`, numbered if another file has it.

    The name is the bot's, but only its last part counts, so nothing lands outside `folder`.
    """
    base = Path(Path(name).name.replace("\\", "_"))
    if base.name in ("", ".", ".."):
        raise ValueError(f"not a file name: {name!r}")
    path = folder / base
    number = 1
    while path.exists():
        if path.is_file() and path.read_bytes() == data:
            return path  # the same file again (the same export twice): one copy
        number += 1
        path = folder / f"{base.stem}-{number}{base.suffix}"
    return path


def _message_number(text: str) -> int | None:
    text = text.strip().lstrip("#")
    return int(text) if text.isdigit() else None


def _pick(arg: str, items: Sequence[T], names: Callable[[T], tuple[str, ...]]) -> T | None:
    """An item by 1-based number, exact name, or a name fragment that fits only one."""
    wanted = arg.strip().lower()
    if wanted.isdigit() and 1 <= int(wanted) <= len(items):
        return items[int(wanted) - 1]
    for item in items:
        if wanted in (n.lower() for n in names(item)):
            return item
    partial = [item for item in items if any(wanted in n.lower() for n in names(item))]
    return partial[0] if len(partial) == 1 else None


# --------------------------------------------------------------------------------------
# Where lines come from: the keyboard or a script
# --------------------------------------------------------------------------------------


class LineSource(Protocol):
    """Gives the next input line after showing the prompt; None ends the demo."""

    async def next_line(self, prompt: str) -> str | None: ...

    def interrupt(self) -> None: ...


class KeyboardLines:
    """Reads the terminal in a daemon thread so the bot keeps running while you type.

    `input()` blocks, and the event loop must not: the bot, the local server and its
    long polls all live on it. The thread reads one line per request, so the prompt is
    only shown after the bot's output is printed.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._requests: queue.Queue[str] = queue.Queue()
        self._lines: asyncio.Queue[str | None] = asyncio.Queue()
        self._interrupted = False
        self._readline = False
        if sys.stdin.isatty():
            # Line editing and history for input(); only for a terminal, since importing
            # readline can write control sequences to a pipe.
            with contextlib.suppress(ImportError):
                import readline  # noqa: F401

                self._readline = True
        threading.Thread(target=self._read, name="echowall-demo-input", daemon=True).start()

    def _read(self) -> None:
        while True:
            prompt = self._requests.get()
            try:
                line: str | None = input(prompt)
            except (EOFError, KeyboardInterrupt, OSError, ValueError):
                line = None
            try:
                self._loop.call_soon_threadsafe(self._lines.put_nowait, line)
            except RuntimeError:
                return  # the loop is closed: the demo has ended
            if line is None:
                return

    async def next_line(self, prompt: str) -> str | None:
        if self._interrupted:
            return None
        if self._readline:
            # Readline must know which prompt bytes take no room, or editing the line garbles it.
            prompt = _ANSI_SEQUENCE.sub("\x01\\g<0>\x02", prompt)
        self._requests.put(prompt)
        return await self._lines.get()

    def interrupt(self) -> None:
        self._interrupted = True
        self._lines.put_nowait(None)


class ScriptLines:
    """Lines of a file; blank lines and `#` comments are skipped, each line is echoed."""

    def __init__(self, path: str | os.PathLike[str], out: TextIO) -> None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the demo script: {exc}") from None
        self._lines = iter(text.splitlines())
        self._out = out
        self._interrupted = False

    async def next_line(self, prompt: str) -> str | None:
        for raw in self._lines:
            if self._interrupted:
                return None
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            print(prompt + line, file=self._out)
            return line
        return None

    def interrupt(self) -> None:
        self._interrupted = True


# --------------------------------------------------------------------------------------
# Putting it together
# --------------------------------------------------------------------------------------


def _log_level_name() -> str:
    level = os.environ.get("ECHOWALL_LOG_LEVEL", "").strip().upper()
    return level if level in logging.getLevelNamesMapping() else "INFO"


def _log_to_file(token: str, path: Path) -> None:
    """Everything logged goes to `path`, never to the terminal: the terminal is the chat.

    INFO unless ECHOWALL_LOG_LEVEL says otherwise; Python's warnings go there too.
    """
    configure(_log_level_name(), [token], path=path)
    logging.captureWarnings(True)
    level = logging.getLogger().level
    for noisy in ("httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


async def _wait_until_polling(api: LocalBotAPI, bot: asyncio.Task[None]) -> None:
    """Return once the bot asks for updates; raise what it died of if it fails first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STARTUP_TIMEOUT
    while not any(method == "getupdates" for method, _ in api.calls):
        if bot.done():
            bot.result()  # raises the startup error
            raise RuntimeError("the bot stopped before polling")
        if loop.time() > deadline:
            raise TimeoutError(f"the bot did not start polling within {STARTUP_TIMEOUT:.0f}s")
        await asyncio.sleep(0.02)


async def _stop_bot(stop: asyncio.Event, bot: asyncio.Task[None]) -> None:
    """Ask the bot to stop and wait for it; a failure it already died of was reported."""
    reported = bot.done()
    stop.set()
    try:
        await asyncio.wait_for(bot, 15)
    except asyncio.CancelledError:
        if not bot.cancelled():
            raise  # we are being cancelled ourselves
    except TimeoutError:
        log.warning("the bot did not stop within 15 s")
    except Exception as exc:
        if not reported:
            log.warning("the bot failed while stopping: %r", exc)


async def _converse(session: DemoSession, source: LineSource) -> None:
    while True:
        line = await source.next_line(session.prompt())
        if line is None:
            return
        if not await session.handle(line):
            return
        failure = session.bot_failed()
        if failure is not None:
            session.say(session.style.warn(f"The bot stopped: {failure!r}"))
            return


def _terminal_state() -> Callable[[], None]:
    """Snapshot the terminal's mode; the returned function restores it.

    Quitting with Ctrl-C while the input thread sits in readline would otherwise leave the
    terminal without echo.
    """
    try:
        import termios

        fd = sys.stdin.fileno()
        if not os.isatty(fd):
            return lambda: None
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError, io.UnsupportedOperation):
        return lambda: None

    def restore() -> None:
        with contextlib.suppress(OSError, ValueError):
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)

    return restore


async def run_demo(
    framework: str | None,
    data_dir: str | None,
    script: str | None,
    start: datetime | None = None,
) -> None:
    """Run the terminal demo until :quit, end of input or end of the script.

    `start` pins the bot's clock to begin at that moment instead of now.
    """
    out = sys.stdout
    if isinstance(out, io.TextIOWrapper):
        # A terminal that cannot show Chinese should get '?' rather than a crash.
        out.reconfigure(errors="replace")
    color = out.isatty() and "NO_COLOR" not in os.environ
    loop = asyncio.get_running_loop()
    source: LineSource = ScriptLines(script, out) if script else KeyboardLines(loop)
    restore_terminal = _terminal_state()

    data = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="echowall-demo-"))
    data.mkdir(parents=True, exist_ok=True)
    log_path = data / LOG_NAME
    # A fresh random token per run: nothing to leak, and nothing else can talk to this bot.
    api = LocalBotAPI(token=f"123456:{secrets.token_urlsafe(24)}", host="127.0.0.1")
    _log_to_file(api.token, log_path)
    await api.start()
    stop = asyncio.Event()
    bot: asyncio.Task[None] | None = None
    with contextlib.suppress(NotImplementedError, RuntimeError):
        # Ctrl-C ends the conversation the same way :quit does, so shutdown stays orderly.
        loop.add_signal_handler(signal.SIGINT, source.interrupt)
    try:
        build_world(api)
        admit_buildings(data)
        config = demo_config(api, framework or "ptb", data)
        clock = ShiftedClock(start)
        runtime = build_runtime(config, clock=clock)
        bot = asyncio.create_task(run_bot(config, stop, runtime=runtime), name="echowall-bot")
        try:
            await _wait_until_polling(api, bot)
        except Exception as exc:
            print(f"echowall demo: the bot did not start: {exc}", file=sys.stderr)
            raise SystemExit(1) from None
        session = DemoSession(
            api, out, color=color, bot_task=bot, runtime=runtime, clock=clock, files=data
        )
        session.note(f"logs go to {log_path}")
        session.note("starting: the bot joins the groups…")
        for chat_id, by_user, as_admin in INTRODUCTIONS:
            api.add_bot_to_chat(chat_id, by_user, as_admin=as_admin)
        await session.settle(timeout=STARTUP_TIMEOUT)
        session.say()
        session.say(BANNER)
        session.say(session.style.dim("Demo commands start with ':' — :help lists them."))
        session.say(session.style.dim(f"The bot's clock: {session.local_time()}."))
        await _converse(session, source)
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)
        restore_terminal()
        if bot is not None:
            await _stop_bot(stop, bot)
        await api.stop()
        print(f"\nBye. The demo's data is in {data}", file=out)
        print(f"Its log: {log_path}", file=out)
        out.flush()
