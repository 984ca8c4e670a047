"""Fuzzing every command's arguments and every button payload (issue #6, item 4).

Property tests (hypothesis) drive the core directly — fast, hundreds of inputs — and a few
dozen inputs go end to end through python-telegram-bot and aiogram against the local Bot API.
What must hold for any input:

- no crash: the core contains failures, so "no crash" means it logged no error;
- nothing Telegram would refuse because of our formatting: every text parses as Telegram
  HTML and is at most 4096 characters after parsing (1024 for captions), button data is
  1-64 bytes, a press is answered exactly once with at most 200 characters
  (`tests.coreworld.CheckedMessenger` uses the local Bot API's own checker);
- a person who typed a command for this bot gets an answer, a mistake gets a usage text;
  a command for another bot, an edited message and a channel post get nothing and change
  nothing;
- no unauthorised change, whatever the sequence of messages and presses (rights per
  PRODUCT.md, computed here without the handlers' code).

Runs are deterministic (`derandomize=True`, no example database). For a longer campaign:
`ECHOWALL_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py -s`. The number of inputs tried is
printed at the end of the module (`test_zz_inputs_tried`).
"""

from __future__ import annotations

import asyncio
import os
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handlers.callbacks import ARGS, RATING_CODES, Act
from handlers.commands import BY_NAME, COMMANDS, Who
from handlers.incoming import ChatRef, Membership, Message, Press, Quoted, User
from handlers.parsing import parse_command
from handlers.render import chunk, clip, esc, utf16_len
from localapi import LocalBotAPI, parse_html
from storage.records import Case, Channel
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    ESCALATION,
    FAULT_RATE,
    HEAD_WANG,
    HEAD_ZHAO,
    MS_CHEN,
    QUIET,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    Harness,
)
from tests.coreworld import (
    ANONYMOUS,
    CHANNEL,
    CHANNEL_BOT,
    CHATS,
    PEOPLE,
    STATUSES,
    STRANGER,
    CoreWorld,
    Seeded,
    private,
)

# Inputs tried, by kind; reported by the last test of the module.
TRIED: Counter[str] = Counter()
_SCALE = int(os.environ.get("ECHOWALL_FUZZ_EXAMPLES", "0"))


def fuzz(examples: int) -> settings:
    """Deterministic settings: the same inputs on every run, no example database."""
    return settings(
        max_examples=_SCALE or examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# --- inputs --------------------------------------------------------------------------------

# fmt: off
FRAGMENTS = [
    # CJK, emoji (astral, joined, flags), mathematical letters, RTL text and marks
    "楼道灯坏了", "電梯異響", "３单元", "👍", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇨🇳", "𝕏𝕪", "𠜎",
    "مرحبا بالعالم", "שלום", "\u202e", "\u200f", "\u2066", "\u2069",
    # invisible and control characters
    "\u200b", "\u200d", "\ufeff", "\u00ad", "\x00", "\x07", "\x1b[31m", "\x7f", "\r\n", "\r",
    "\n", "\t", "\u3000", "\u00a0", "\u2028",
    # Telegram HTML and Markdown metacharacters
    "<", ">", "&", "&amp;", "&lt;", "&#0;", "&#x110000;", "&nbsp;", "<b>", "</b>", "<i>x</i>",
    '<a href="tg://user?id=1">x</a>', "<script>alert(1)</script>", "<tg-spoiler>", "<pre>",
    "<code>", "<br/>", "*bold*", "_it_", "`code`", "```", "[link](http://x.y)", "~~", "||s||",
    "\\", "\\n",
    # format strings
    "{}", "{id}", "{0}", "{n!r}", "%s", "%(x)s", "%",
    # numbers and case ids as people and attackers type them
    "#1", "#", "＃2", "1", "2", "3", "7", "0", "-1", "--5", "-", "99999999999", "1e9", "١٢", "²",
    "１２", "1_000", "0x1f", "+3",
    # words the commands read
    "@echowall_bot", "@otherbot", "/report", "/accept 1", "easy", "key", "hard", "EASY",
    "12h", "2d", "30m", "0h", "9999d", "99999d", "2026-12-01", "2026-02-30", "9999-12-31",
    "0001-01-01", "25:99", "18:00", "week", "month", "all", "2026-11", "1999-01", "2026-13",
    "zh", "en", "fr", "forum", "mailbox", "visit", "hotline", "座谈会", "12345", "林溪苑",
    "1号楼", "-1001", "-1002", "satisfied", "basic", "unsatisfied", "满意", "不满意",
]
# fmt: on
CHARACTERS = st.characters(exclude_categories=("Cs",))  # Telegram text is valid UTF-8
PIECE = st.one_of(st.sampled_from(FRAGMENTS), st.text(CHARACTERS, min_size=1, max_size=12))
SEP = st.sampled_from([" ", " ", " ", "\n", "\u3000", "\t", "  ", "\u00a0", ""])
WORDS = st.lists(st.tuples(PIECE, SEP), max_size=8).map(lambda xs: "".join(p + s for p, s in xs))
# Sizes around the limits: a building name (64), a note (1000), a report (2000), a message.
SIZES = st.one_of(
    st.sampled_from([63, 64, 65, 999, 1000, 1001, 1999, 2000, 2001, 4096, 10_000]),
    st.integers(100, 10_000),
)
HUGE = st.builds(
    lambda piece, size: (piece * (size // len(piece) + 1))[:size],
    st.sampled_from(FRAGMENTS),
    SIZES,
)
TEXT = st.one_of(WORDS, WORDS, st.text(CHARACTERS, max_size=40), HUGE)

CASES = st.sampled_from(["1", "2", "3", "4", "5", "6", "7", "8", "#7", "＃8"])  # the seeded cases
CASE_TOKEN = st.one_of(
    CASES,
    CASES,
    st.sampled_from(
        ["0", "-1", "--5", "١", "²", "１", "999999999", "9999999999", "#", "abc", "1.0", "+1"]
    ),
    st.integers(-10, 10**12).map(str),
)
WHEN = st.sampled_from(
    [
        "12h",
        "2d",
        "30m",
        "0h",
        "0d",
        "9999d",
        "99999d",
        "１２h",
        "12H",
        "2026-12-01",
        "2026-12-01 08:30",
        "2026-02-30",
        "2026-12-01 25:99",
        "9999-12-31 23:59",
        "0001-01-01",
        "2020-01-01 10:00",
        "tomorrow",
    ]
)
CLASS = st.sampled_from(["easy", "key", "hard", "EASY", "Key", "difficult"])
MONTHS = st.sampled_from(
    [
        "week",
        "month",
        "all",
        "ALL",
        "2026-11",
        "2026-1",
        "2026-13",
        "1999-01",
        "9999-12",
        "0000-00",
        "",
        "yesterday",
    ]
)


def spaced(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """Parts joined by a separator each, any of them possibly left out."""
    maybe = [st.one_of(st.just(""), p) for p in parts]
    return st.tuples(*[st.tuples(p, SEP) for p in maybe]).map(
        lambda xs: "".join(p + s for p, s in xs if p)
    )


# Categories and referrals as people type them: codes, names in either language, and not.
CATEGORY_WORDS = st.sampled_from(
    [
        "env", "facility", "outside", "court", "anon", "环境卫生", "不属本社区辖区", "公共设施",
        "Public facilities", "ENV", "nowhere", "不属于社区", "违法",
    ]
)  # fmt: skip
REFERRAL_WORDS = st.sampled_from(["12345", "派出所", "hotline", "法院", "desk", "110", "火星"])

STRUCTURED: dict[str, st.SearchStrategy[str]] = {
    "accept": spaced(CASE_TOKEN, CATEGORY_WORDS, CLASS, WHEN),
    "progress": spaced(CASE_TOKEN, TEXT),
    "fixed": spaced(CASE_TOKEN, TEXT),
    "confirm": spaced(CASE_TOKEN, TEXT),
    "escalate": spaced(CASE_TOKEN, TEXT),
    "reopen": spaced(CASE_TOKEN, TEXT),
    "case": spaced(CASE_TOKEN, TEXT),
    "rate": spaced(
        CASE_TOKEN,
        st.sampled_from(
            ["satisfied", "basic", "unsatisfied", "满意", "基本满意", "不满意", "UNSATISFIED", "ok"]
        ),
    ),
    "log": spaced(
        st.sampled_from(
            ["1号楼", "2号楼", "林溪苑", "-1001", "-1002", "--1001", "²", "nowhere", "-1000", "1"]
        ),
        st.sampled_from(
            ["forum", "mailbox", "visit", "hotline", "信箱", "12345", "MAILBOX", "fax"]
        ),
        TEXT,
    ),
    "lang": st.sampled_from(["zh", "en", "ZH", " en ", "fr", "zh-hans", ""]),
    "stats": MONTHS,
    "export": MONTHS,
    "unsethead": st.sampled_from(
        ["", str(HEAD_WANG), str(UNCLE_LI), "--5", "²", "-", "abc", "9" * 30, "-201"]
    ),
    "building": TEXT,
    "report": TEXT,
    "decline": spaced(CASE_TOKEN, CATEGORY_WORDS, REFERRAL_WORDS, TEXT),
    "category": spaced(CASE_TOKEN, CATEGORY_WORDS),
    "merge": spaced(CASE_TOKEN, CASE_TOKEN, TEXT),
    "opinion": spaced(
        st.sampled_from(["E1", "e2", "E99", "E", "E-1", ""]),
        st.sampled_from(["1号楼", "林溪苑", "nowhere", ""]),
        TEXT,
        st.sampled_from(["", "当场答复：已修", "answered:", "当场答复：", "ANSWERED: done"]),
    ),
    "find": spaced(st.sampled_from(["all", "全部", "", "ALL"]), TEXT),
    "assign": spaced(
        CASE_TOKEN,
        st.sampled_from(["me", "我", "@zhao_lz", "@nobody", "@", "@@", "王楼长", "-", "ME"]),
        TEXT,
    ),
}
NAMES = sorted(BY_NAME)


@st.composite
def command_text(draw: st.DrawFn, name: str | None = None) -> str:
    name = name or draw(st.sampled_from(NAMES))
    head = draw(
        st.sampled_from(
            [
                f"/{name}",
                f"/{name}",
                f"/{name.upper()}",
                f"/{name}@echowall_bot",
                f"/{name}@EchoWall_Bot",
                f"/{name}@otherbot",
            ]
        )
    )
    structured = STRUCTURED.get(name, TEXT)
    args = draw(st.one_of(structured, structured, TEXT))
    separator = draw(st.sampled_from([" ", " ", "\n", "\u3000", "  "]))
    return head + (separator + args if args else "")


ANY_TEXT = st.one_of(
    command_text(),
    command_text(),
    command_text(),
    TEXT,
    st.sampled_from(["", "/", "/frobnicate", "/报告 灯", "/start@", "/report@", "/@echowall_bot"]),
)

# Who writes, and where: (chat, sender, sender_chat).
ACTORS: dict[str, tuple[int, User | None, int | None]] = {
    "resident": (B1, PEOPLE[AUNT_ZHANG], None),
    "neighbour": (B1, PEOPLE[UNCLE_LI], None),
    "other_resident": (B2, PEOPLE[MS_CHEN], None),
    "head": (B1, PEOPLE[HEAD_WANG], None),
    "other_head": (B2, PEOPLE[HEAD_ZHAO], None),
    "other_head_in_b1": (B1, PEOPLE[HEAD_ZHAO], None),
    "staff": (STAFF, PEOPLE[WORKER_LIU], None),
    "staff_in_b1": (B1, PEOPLE[WORKER_LIU], None),
    "staff_private": (WORKER_LIU, PEOPLE[WORKER_LIU], None),
    "resident_private": (AUNT_ZHANG, PEOPLE[AUNT_ZHANG], None),
    "stranger": (STRANGER, PEOPLE[STRANGER], None),
    "escalation_chat": (ESCALATION, PEOPLE[WORKER_LIU], None),
    "anonymous_admin": (B1, ANONYMOUS, B1),
    "anonymous_admin_staff": (STAFF, ANONYMOUS, STAFF),
    "channel_in_group": (B1, CHANNEL_BOT, CHANNEL),
    "channel": (CHANNEL, None, CHANNEL),
}

MANAGERS = ["head", "anonymous_admin", "staff", "staff_in_b1", "staff_private", "other_head"]


@dataclass(frozen=True)
class Say:
    """A message to build in a world: who, what, and how it arrives."""

    actor: str
    text: str
    edited: bool = False
    reply: str | None = None  # None, "person", "bot", "photo"
    photo: bool = False
    name: str | None = None  # the sender's name as Telegram shows it now
    title: str | None = None  # the group's title as Telegram shows it now


@dataclass(frozen=True)
class Tap:
    """A button press to build in a world."""

    actor: str
    data: str
    inline: bool = False  # on an inline message: no chat


@dataclass(frozen=True)
class Join:
    chat: int
    joined: bool
    title: str


Step = Say | Tap | Join

SAY = st.builds(
    Say,
    actor=st.sampled_from(sorted(ACTORS)),
    text=ANY_TEXT,
    edited=st.sampled_from([False] * 7 + [True]),
    reply=st.sampled_from([None] * 6 + ["person", "bot", "photo"]),
    photo=st.sampled_from([False] * 5 + [True]),
    name=st.one_of(st.none(), st.none(), st.text(CHARACTERS, min_size=1, max_size=64), PIECE),
    title=st.one_of(st.none(), st.none(), st.none(), st.text(CHARACTERS, min_size=1, max_size=128)),
)

# Button payloads: what we make, with any arguments, and what a forger types.
CASE_BUTTONS = [str(act) for act in Act if ARGS[act] == "i"]  # a case's number, nothing else
CALLBACK_INTS = st.one_of(
    st.integers(1, 8), st.integers(1, 8), st.integers(-(2**70), 2**70), st.sampled_from([0, -1])
)
CATEGORY_CODES = st.sampled_from(
    ["env", "facility", "service", "outside", "court", "anon", "agency", "x", "ENV", "zzzzzzzz"]
)
OURS = st.one_of(
    st.builds(lambda a, i: f"c1:{a}:{i}", st.sampled_from(CASE_BUTTONS), CALLBACK_INTS),
    st.builds(
        lambda a, i, c: f"c1:{a}:{i}:{c}",
        st.sampled_from(["cat", "nac"]),
        CALLBACK_INTS,
        CATEGORY_CODES,
    ),
    st.builds(
        lambda a, i, j: f"c1:{a}:{i}:{j}",
        st.sampled_from(["same", "mrg"]),
        CALLBACK_INTS,
        CALLBACK_INTS,
    ),
    st.builds(
        lambda i, r: f"c1:rate:{i}:{r}",
        CALLBACK_INTS,
        st.sampled_from(["s", "b", "u", "x", "S", "sat", "1"]),
    ),
    st.builds(
        lambda d, c: f"c1:bld:{d}:{c}",
        st.one_of(st.just("{draft}"), CALLBACK_INTS),
        st.sampled_from([B1, B2, STAFF, ESCALATION, CHANNEL, 0, -1, 10**15, "x"]),
    ),
)
FORGED = st.one_of(
    st.text(CHARACTERS, max_size=80),
    st.sampled_from(
        [
            "",
            ":",
            "c1",
            "c1:",
            "c1::",
            "c1:too",
            "c1:too:",
            "c1:too:1:2",
            "c1:TOO:1",
            "c2:too:1",
            "C1:too:1",
            "c1:too:-",
            "c1:too:--1",
            "c1:too:١",
            "c1:too:²",
            "c1:too:１",
            "c1:too: 1",
            "c1:too:1 ",
            "c1:too:+1",
            "c1:too:1_0",
            "c1:rate:1:",
            "c1:rate:1:ss",
            "c1:bld:1",
            "c1:bld::",
            "c1:acc:0x1",
            "c1:acc:1e3",
            "c1:acc:9" + "9" * 57,
        ]
    ),
    st.lists(
        st.one_of(
            st.sampled_from(
                ["c1", "too", "acc", "rate", "bld", "1", "-1", "--1", "s", "u", "", "١"]
            ),
            st.text(CHARACTERS, max_size=5),
        ),
        max_size=6,
    ).map(":".join),
    st.builds(lambda d, n: d + "9" * n, OURS, st.integers(1, 100)),  # oversized
)
TAP_ACTORS = sorted(a for a in ACTORS if ACTORS[a][1] is not None and not ACTORS[a][1].is_bot)
TAP = st.builds(
    Tap,
    actor=st.sampled_from(TAP_ACTORS),
    data=st.one_of(OURS, OURS, FORGED),
    inline=st.sampled_from([False, False, False, True]),
)
JOIN = st.builds(
    Join,
    chat=st.sampled_from([B1, B2, -1003, STAFF]),
    joined=st.booleans(),
    title=st.text(CHARACTERS, min_size=1, max_size=128),
)


# --- the world -----------------------------------------------------------------------------


# The longest texts a case can hold, of characters that count double for Telegram (astral)
# and grow fourfold when escaped, from a resident whose name is markup.
LONGEST_TEXT = ("𝕏𝕏𝕏&" * 500)[:2000]
LONGEST_NOTE = ("🔧🔧🔧<" * 250)[:1000]
NASTY_NAME = ("<b>李</b>&amp;" + "𝕏" * 64)[:64]
NASTY_BUILDING = ("楼<&>𝕏" * 16)[:64]


async def seed(w: CoreWorld) -> None:
    """Cases in every state, so that fuzzed actions meet each of them.

    #1 new (B1, 张阿姨) · #2 accepted (B2) · #3 fixed, with a photo (B1, 李大爷) ·
    #4 closed (B1) · #5 offline, fixed (B1, /log) · #6 declined (B1) ·
    #7 accepted and #8 fixed with a photo (B2, named with markup): both with the longest text,
    #8 with the longest measure; and a private report of the stranger waiting for a building.
    """
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B2, MS_CHEN, "/report 电梯异响")
    await w.say(B2, HEAD_ZHAO, "/accept 2 key 2d")
    await w.say(B1, UNCLE_LI, "/report 水管漏水", photo="photo-1")
    await w.say(B1, HEAD_WANG, "/fixed 3 换了水管")
    await w.say(B1, AUNT_ZHANG, "/report 垃圾没清")
    await w.say(B1, HEAD_WANG, "/fixed 4 已清理")
    await w.say(B1, HEAD_WANG, "/confirm 4")
    await w.say(STAFF, WORKER_LIU, "/log 1号楼 信箱 路灯不亮")
    await w.say(STAFF, WORKER_LIU, "/fixed 5 换了路灯")
    await w.say(B1, AUNT_ZHANG, "/report 噪音")
    await w.say(B1, HEAD_WANG, "/decline 6 不属于社区")
    await w.say(B2, HEAD_ZHAO, "/building " + NASTY_BUILDING)
    nasty = replace(PEOPLE[MS_CHEN], name=NASTY_NAME)
    for photo in (None, "photo-4"):
        await w.handle(w.message(CHATS[B2], nasty, "/report " + LONGEST_TEXT, photo=photo))
    await w.say(B2, HEAD_ZHAO, "/accept 7 hard")
    await w.say(B2, HEAD_ZHAO, "/fixed 8 " + LONGEST_NOTE)
    await w.say(STRANGER, STRANGER, "/report the bins are full")
    assert [c.id for c in w.repo.all_cases()] == list(range(1, 9))
    assert w.messenger.violations == [] and w.failures.records == []


def draft_of(w: CoreWorld) -> str:
    """The stranger's waiting report, as its building buttons name it."""
    for sent in reversed(w.messenger.sent):
        for row in sent.keyboard or ():
            for button in row:
                if button.data.startswith("c1:bld:"):
                    return button.data.split(":")[2]
    return "1"


def message_of(w: CoreWorld, say: Say) -> Message:
    chat_id, sender, sender_chat = ACTORS[say.actor]
    chat = CHATS.get(chat_id) or private(chat_id)
    if say.title is not None and chat.is_group:
        chat = ChatRef(chat.id, chat.kind, say.title)
    if say.name is not None and sender is not None and not sender.is_bot:
        sender = replace(sender, name=say.name)
    quoted = None
    if say.reply == "person":
        quoted = Quoted(10_001, PEOPLE[UNCLE_LI], "三楼的灯又不亮了 <b>&")
    elif say.reply == "bot":
        quoted = Quoted(10_002, User(123456, "echowall", is_bot=True), "欢迎")
    elif say.reply == "photo":
        quoted = Quoted(10_003, PEOPLE[AUNT_ZHANG], "", photo="photo-2")
    return w.message(
        chat,
        sender,
        say.text,
        reply_to=quoted,
        sender_chat_id=sender_chat,
        photo="photo-3" if say.photo else None,
        edited=say.edited,
    )


def press_of(w: CoreWorld, tap: Tap) -> Press:
    chat_id, sender, _ = ACTORS[tap.actor]
    assert sender is not None
    data = tap.data.replace("{draft}", draft_of(w))
    press = w.press_event(None if tap.inline else chat_id, sender.id, data)
    return replace(press, sender=sender, message_id=None if tap.inline else 1)


def store(w: CoreWorld) -> tuple[dict[int, Case], dict[int, tuple[Any, ...]]]:
    """What an action may change: the cases, and each group's heads, name and language."""
    cases = {c.id: c for c in w.repo.all_cases()}
    groups = {
        g.chat_id: (dict(g.heads), g.name, g.language) for g in w.repo.groups(active_only=False)
    }
    return cases, groups


def clean(w: CoreWorld) -> None:
    """Nothing crashed and nothing Telegram would refuse was sent."""
    assert w.failures.describe() == []
    assert w.messenger.violations == []


SEEDED = Seeded(seed)


def run(scenario: Callable[[CoreWorld], Any]) -> None:
    """Run one input's scenario in a fresh copy of the seeded world."""

    async def main() -> None:
        async with SEEDED.world() as w:
            await scenario(w)

    asyncio.run(main())


# --- properties over the core ----------------------------------------------------------------


async def handled_cleanly(w: CoreWorld, say: Say) -> None:
    """Handle one message; check the rules, and that it is answered exactly when it should be."""
    message = message_of(w, say)
    before, sent_before = store(w), len(w.messenger.sent)
    documents_before, outgoing = len(w.messenger.documents), w.messenger.outgoing()
    await w.handle(message)
    await w.outbox.pump()  # an announcement or event post is the answer
    clean(w)
    command = parse_command(message.text, "echowall_bot")
    ignored = message.edited or message.chat.kind == "channel"
    if ignored or command is None or (command[0] not in BY_NAME and message.chat.is_group):
        # Not for us (another bot's command, chatter, a service message), an edit or a
        # channel post: not a word, and no change.
        assert w.messenger.outgoing() == outgoing, f"answered {message.text[:80]!r}"
        assert store(w) == before
        return
    here = [s for s in w.messenger.sent[sent_before:] if s.chat_id == message.chat.id]
    documents = [d for d in w.messenger.documents[documents_before:] if d[0] == message.chat.id]
    assert here or documents, f"no answer to {message.text[:80]!r} from {say.actor}"


@pytest.mark.parametrize("name", NAMES)
@fuzz(80)
@given(data=st.data())
def test_every_command_with_any_arguments(name: str, data: st.DataObject) -> None:
    """Each command, as any sender, with structured and wild arguments."""
    say = data.draw(SAY, label="say")
    # Most of what a command does is behind a rights check: managers write half the inputs.
    actor = data.draw(st.one_of(st.sampled_from(MANAGERS), st.just(say.actor)), label="actor")
    say = replace(say, actor=actor, text=data.draw(command_text(name), label="text"))
    TRIED["commands (core)"] += 1
    run(lambda w: handled_cleanly(w, say))


@fuzz(300)
@given(say=SAY)
def test_any_message_is_handled_without_crash_or_refusal(say: Say) -> None:
    """Any text (commands, chatter, unknown commands) from anyone anywhere."""
    TRIED["messages (core)"] += 1
    run(lambda w: handled_cleanly(w, say))


@fuzz(500)
@given(tap=TAP, again=st.sampled_from([None, None, "same", "other"]))
def test_any_button_payload_is_answered_once_and_safely(tap: Tap, again: str | None) -> None:
    """Ours with any arguments, forged, malformed, oversized, replayed: one answer each."""
    TRIED["presses (core)"] += 1

    async def scenario(w: CoreWorld) -> None:
        press = press_of(w, tap)
        await w.handle(press)
        clean(w)
        assert w.answer_to(press) is not None, f"press {press.data!r} not answered"
        if again is None:
            return
        TRIED["presses (core)"] += 1
        # The same update redelivered is ignored; the same button pressed again (by the same
        # person or someone else) is a new press: answered, and "me too" and ratings count once.
        await w.handle(press)
        assert sum(1 for a in w.messenger.answers if a[0] == press.callback_id) == 1
        before = store(w)[0]
        actor = tap.actor if again == "same" else "neighbour"
        second = press_of(w, replace(tap, actor=actor))
        await w.handle(second)
        clean(w)
        assert w.answer_to(second) is not None
        if press.data.startswith(("c1:too:", "c1:rate:")) and again == "same":
            assert store(w)[0] == before, "a repeated me-too or rating counted twice"

    run(scenario)


# --- sequences, with a rights invariant --------------------------------------------------

# The steps of a head's or staff's action on a case, as `handlers.commands` describes them.
CASE_ACTIONS = {c.name for c in COMMANDS if c.case is not None and c.who is Who.MANAGERS}
MANAGER_STATUSES = {"creator", "administrator"}


def is_staff(event: Message | Press) -> bool:
    """PRODUCT.md: members of the staff chat (and ECHOWALL_ADMINS, none here)."""
    if isinstance(event, Message) and event.is_anonymous_admin:
        return event.chat.id == STAFF
    sender = event.sender
    return sender is not None and STATUSES.get((STAFF, sender.id)) is not None


def is_head(event: Message | Press, building: int, heads: dict[int, Any]) -> bool:
    """PRODUCT.md: appointed heads of the building and the group's Telegram administrators."""
    if isinstance(event, Message) and event.is_anonymous_admin:
        return event.chat.id == building
    sender = event.sender
    if sender is None:
        return False
    return sender.id in heads or STATUSES.get((building, sender.id)) in MANAGER_STATUSES


def check_rights(
    event: Message | Press,
    before: tuple[dict[int, Case], dict[int, tuple[Any, ...]]],
    after: tuple[dict[int, Case], dict[int, tuple[Any, ...]]],
) -> None:
    """Every change the event made was the sender's to make."""
    cases_before, groups_before = before
    cases_after, groups_after = after
    staff = is_staff(event)
    sender_id = event.sender.id if event.sender is not None else None

    def manager(building: int) -> bool:
        heads = groups_before.get(building, ({}, None, None))[0]
        return staff or is_head(event, building, heads)

    for case_id, case in cases_after.items():
        old = cases_before.get(case_id)
        steps = case.timeline[len(old.timeline) :] if old else case.timeline
        actions = [s.action for s in steps]
        if old is None:
            if case.channel in (Channel.GROUP, Channel.PRIVATE):
                assert case.reporter_id is not None and case.reporter_id != ANONYMOUS.id
            else:
                assert staff, f"offline case #{case_id} logged by a non-staff sender"
        else:
            fields = (
                *("state", "level", "due", "measure", "rating", "klass", "closed_at"),
                *("category", "referral", "assignee_id", "check_due"),
            )
            changed = [f for f in fields if getattr(old, f) != getattr(case, f)]
            assert not changed or steps, f"case #{case_id} {changed} changed without a step"
        for action in actions:
            if action in CASE_ACTIONS:
                by_rating = action == "reopen" and "rate" in actions
                assert manager(case.building_id) or by_rating, (
                    f"{action} of case #{case_id} by {sender_id} in {getattr(event, 'chat', None)}"
                )
            elif action == "rate":
                # The reporter by button; staff for an offline case (/rate, after the visit).
                assert (isinstance(event, Press) and sender_id == case.reporter_id) or (
                    isinstance(event, Message) and staff and case.reporter_id is None
                ), f"rating of case #{case_id} by {sender_id}"
            elif action == "log":
                assert staff
    for chat_id, (heads, name, language) in groups_after.items():
        old_heads, old_name, old_language = groups_before.get(chat_id, ({}, None, None))
        if (heads, name, language) != (old_heads, old_name, old_language):
            assert manager(chat_id), f"settings of {chat_id} changed by {sender_id}"


@fuzz(250)
@given(steps=st.lists(st.one_of(SAY, SAY, TAP, TAP, JOIN), min_size=1, max_size=8))
def test_sequences_keep_rights_and_rules(steps: list[Step]) -> None:
    """Messages, presses and membership changes in any order: the invariants hold each step."""
    TRIED["sequences (core)"] += 1

    async def scenario(w: CoreWorld) -> None:
        for step in steps:
            TRIED["sequence steps (core)"] += 1
            before = store(w)
            if isinstance(step, Join):
                chat = CHATS.get(step.chat) or ChatRef(step.chat, "group", step.title)
                await w.handle(
                    Membership(w._next_update(), replace(chat, title=step.title), step.joined)
                )
                clean(w)
                continue
            event = message_of(w, step) if isinstance(step, Say) else press_of(w, step)
            await w.handle(event)
            clean(w)
            if isinstance(event, Press):
                assert w.answer_to(event) is not None
            check_rights(event, before, store(w))

    run(scenario)


@fuzz(200)
@given(
    parts=st.lists(st.tuples(TEXT, st.sampled_from(["", "", "b", "code"])), max_size=6),
    limit=st.sampled_from([1, 2, 40, 120, 1000, 4096]),
)
def test_clip_and_chunk_keep_what_telegram_takes(parts: list[tuple[str, str]], limit: int) -> None:
    """Clipped text fits its limit as Telegram counts; chunked HTML stays whole and fits."""
    TRIED["texts clipped and chunked"] += 1
    for text, _ in parts:
        assert utf16_len(clip(text, limit)) <= limit
    blocks = [f"<{tag}>{esc(text)}</{tag}>" if tag else esc(text) for text, tag in parts]
    for message in chunk(blocks):
        shown, _ = parse_html(message)
        assert utf16_len(shown) <= 4096


# --- a systematic sweep at the limits --------------------------------------------------------

SWEEP_ACTORS = ["head", "other_head", "anonymous_admin", "staff", "staff_private", "resident"]
SWEEP_ARGS = {
    "accept": ["hard 9999-12-31 23:59", "easy 9999d", "key 2026-11-18 10:01", "env hard 3d"],
    "progress": [LONGEST_NOTE],
    "fixed": [LONGEST_NOTE],
    "confirm": ["", LONGEST_NOTE],
    "decline": [LONGEST_NOTE, "anon 110 " + LONGEST_NOTE],
    "escalate": [LONGEST_NOTE],
    "reopen": [LONGEST_NOTE],
    "case": [""],
    "rate": ["unsatisfied", "满意"],
    "category": ["env", "outside"],
    "assign": ["me", "@nobody"],
    "merge": ["1", "2", "8", "99", "x"],
}
SWEEP_PRESSES = (
    CASE_BUTTONS
    + [f"{Act.RATE}:{code}" for code in RATING_CODES.values()]
    + [f"{Act.CATEGORY}:env", f"{Act.NOT_ACCEPTED}:outside", f"{Act.NOT_ACCEPTED}:env"]
    + [f"{Act.MERGE}:1", f"{Act.MERGE}:2", f"{Act.SAME}:1", f"{Act.SAME}:3"]
)
SWEEP_PRESSERS = ["resident", "neighbour", "other_resident", "head", "other_head", "staff"]


@pytest.mark.parametrize("name", sorted(SWEEP_ARGS))
def test_sweep_case_commands_on_every_case_at_the_limits(name: str) -> None:
    """Each case command on each seeded case (every state, the longest texts) by each manager.

    Not random: what a fuzzer finds only by luck — the longest note about the longest case,
    shown on a photo's caption — is tried every time.
    """
    for case_id in range(1, 9):  # a fresh world per case, so each starts in its seeded state

        async def scenario(w: CoreWorld, case_id: int = case_id) -> None:
            for actor in SWEEP_ACTORS:
                for args in SWEEP_ARGS[name]:
                    TRIED["sweep (core)"] += 1
                    await handled_cleanly(w, Say(actor, f"/{name} {case_id} {args}".strip()))
            for command in ("/case", "/wall", "/echo", "/mine"):
                TRIED["sweep (core)"] += 1
                await handled_cleanly(w, Say("staff", f"{command} {case_id}"))

        run(scenario)


@pytest.mark.parametrize("action", SWEEP_PRESSES)
def test_sweep_buttons_on_every_case(action: str) -> None:
    """Each button on each seeded case, pressed by residents, heads and staff in turn."""
    for case_id in range(1, 9):
        data = f"c1:{action.split(':')[0]}:{case_id}" + (
            f":{action.split(':')[1]}" if ":" in action else ""
        )

        async def scenario(w: CoreWorld, data: str = data) -> None:
            for actor in SWEEP_PRESSERS:
                TRIED["sweep (core)"] += 1
                press = press_of(w, Tap(actor, data))
                await w.handle(press)
                clean(w)
                assert w.answer_to(press) is not None

        run(scenario)


# --- mistakes get a clear answer -------------------------------------------------------------

MISTAKES = [
    # (actor, text, what the answer must contain)
    ("head", "/accept abc", "/accept <编号>"),
    ("head", "/accept", "/accept <编号>"),
    ("head", "/accept 1 soon", "/accept <编号>"),
    ("head", "/accept 1 key 2d extra", "/accept <编号>"),
    ("head", "/accept 1 key 2020-01-01", "“2020-01-01”已经过去了"),
    ("head", "/accept 1 key 2026-02-30", "“2026-02-30”不是有效日期"),
    ("head", "/accept 1 2026-12-01 25:99", "“25:99”不是有效时刻"),
    ("head", "/accept 1 0h", "“0h”时长为零"),
    ("head", "/accept 99", "#99"),
    ("head", "/accept --5", "/accept <编号>"),
    ("head", "/progress 1", "/progress <编号>"),
    ("head", "/fixed", "/fixed <编号>"),
    ("head", "/fixed 1 " + "很" * 1001, "太长"),
    ("head", "/confirm x", "/confirm <编号>"),
    ("head", "/confirm 1", "#1"),  # new, not fixed: that action does not apply
    ("head", "/decline 1", "/decline <编号>"),
    ("head", "/decline 1", "请在编号后写明类别"),
    ("head", "/decline 1 env 太远", "“env”属于应受理事项"),
    ("head", "/accept 1 outside", "属于不受理事项"),
    ("head", "/category 1", "/category <编号> <类别>"),
    ("head", "/category 1 火星", "“火星”不是诉求类别"),
    ("head", "/category 6 env", "只能归入不受理类别"),
    ("head", "/assign 1", "指定谁"),
    ("head", "/assign 1 @nobody", "还不认识@nobody"),
    ("head", "/assign 4 me", "/assign 只能用于"),
    ("staff", "/assign 1 张阿姨", "“张阿姨”不是人名"),
    ("head", "/escalate #x 上报", "/escalate <编号>"),
    ("head", "/reopen 4", "/reopen <编号>"),
    ("head", "/reopen 1", "/reopen 只能用于以下状态的诉求：已解决，待确认 / 已办结 / 不予受理。"),
    ("resident", "/case abc", "/case <编号>"),
    ("resident", "/case 999", "#999"),
    ("resident", "/case 99999999999999999999", "没有诉求 #99999999999999999999"),
    ("resident", "/case", "是哪件诉求"),
    ("resident", "/report", "/report"),
    ("resident", "/report " + "长" * 2001, "太长"),
    ("head", "/building", "/building <楼栋名称"),
    ("head", "/building " + "楼" * 65, "/building <楼栋名称"),
    ("resident", "/lang fr", "只有本楼栋长和社区工作人员"),
    ("resident_private", "/lang fr", "不支持“fr”这种语言。\n用法：/lang 中文|英文"),
    ("staff", "/log", "/log"),
    ("staff", "/log 1号楼 传真 灯坏了", "/log"),
    ("staff", "/log nowhere visit 灯坏了", "nowhere"),
    ("staff", "/log ² visit 灯坏了", "²"),
    ("staff", "/log " + "楼" * 4080 + " visit 灯", "楼楼楼"),  # a 4096-character message
    ("staff", "/log --1001 visit 灯坏了", "--1001"),
    ("staff", "/rate 5 great", "/rate"),
    ("staff", "/rate x satisfied", "/rate"),
    ("staff", "/stats yesterday", "/stats"),
    ("staff", "/stats week month", "/stats"),
    ("staff_private", "/export 2026-13", "/export"),
    ("staff_private", "/export 2026-13", "“2026-13”不是月份"),
    ("staff_private", "/export week", "“week”不是月份"),
    ("head", "/event 2026-13-45 25:99 座谈会", "“2026-13-45”不是有效日期"),
    ("head", "/event 2026-13-45 25:99 座谈会", "“25:99”不是有效时刻"),
    ("head", "/event yesterday 19:00 座谈会", "“yesterday”已经过去了"),
    ("head", "/event 2026-11-18 09:00 座谈会", "“2026-11-18 09:00”已经过去了"),
    ("head", "/event every funday 19:00 座谈会", "“funday”不是星期"),
    ("head", "/event tomorrow 19:00 座谈会 cap=many", "“many”不是名额"),
    ("head", "/event tomorrow", "缺少时间和活动名称"),
    ("head", "/remind 25:99 交物业费", "“25:99”不是有效时刻"),
    ("head", "/remind soon 交物业费", "“soon”不是时间"),
    ("head", "/remind 2h", "要提醒什么"),
    ("head", "/cancel X9", "“X9”不是活动编号（如 E3），也不是提醒编号（如 R5）"),
    ("head", "/events x", "“x”不是活动编号"),
    ("head", "/announce", "要通知什么"),
    ("staff", "/rate 5", "缺少满意度"),
    ("staff", "/log 1号楼", "缺少渠道和诉求内容"),
    ("head", "/unsethead", "/unsethead"),
    ("head", "/unsethead --5", "/unsethead"),
    ("head", "/unsethead ²", "/unsethead"),
    ("head", "/sethead", "/sethead"),
    ("head", "/merge 1", "要并入哪一件诉求"),
    ("head", "/merge 1 1", "不能把诉求并入它自己"),
    ("head", "/merge 1 x", "“x”不是诉求编号"),
    ("head", "/merge 1 99", "没有诉求 #99"),
    ("head", "/find", "/find [全部] <关键词>"),
    ("resident", "/find 灯", "只有本楼栋长和社区工作人员"),
    ("head", "/opinion E99 路灯不亮", "没有活动 E99"),
    ("staff", "/opinion", "哪个楼栋"),
    ("stranger", "/frobnicate", "/help"),
    ("stranger", "/sethead", "building group"),
]


@pytest.mark.parametrize(("actor", "text", "needle"), MISTAKES)
def test_a_mistake_gets_a_clear_answer(actor: str, text: str, needle: str) -> None:
    """Each answer names what is wrong with what was typed."""
    TRIED["mistakes (core)"] += 1

    async def scenario(w: CoreWorld) -> None:
        before = store(w)
        message = message_of(w, Say(actor, text))
        await w.handle(message)
        clean(w)
        answers = [parse_html(a)[0] for a in w.replies_to(message)]
        assert answers, f"no answer to {text!r}"
        assert any(needle in a for a in answers), answers
        assert store(w) == before

    run(scenario)


# Arguments wrong in every way, and right but for a case the resident may not act on.
NOT_YOURS = ["", "¿¿ x", "abc 9999-99-99 soon", "1", "1 key 2d", "99999999999999999999"]


@pytest.mark.parametrize("name", sorted(c.name for c in COMMANDS if c.who is not Who.EVERYONE))
def test_someone_who_may_not_use_a_command_is_told_so_whatever_the_arguments(name: str) -> None:
    """A resident typing a head's or staff's command is told she may not use it, never how
    to write it (the commands and who may use them as `handlers.commands` describes them)."""
    TRIED["mistakes (core)"] += len(NOT_YOURS)
    # Setting up is the deployment's admins', everything else of this list staff's at least.
    refusal = "系统管理员" if BY_NAME[name].who is Who.ADMINS else "社区工作人员"

    async def scenario(w: CoreWorld) -> None:
        for args in NOT_YOURS:
            before = store(w)
            message = message_of(w, Say("neighbour", f"/{name} {args}".strip()))
            await w.handle(message)
            clean(w)
            answers = [parse_html(a)[0] for a in w.replies_to(message)]
            assert len(answers) == 1, (name, args, answers)
            assert "用法" not in answers[0], (name, args, answers)
            assert refusal in answers[0], (name, args, answers)
            assert store(w) == before

    run(scenario)


def test_the_heads_of_a_building_with_many_long_names_are_listed_in_full() -> None:
    TRIED["mistakes (core)"] += 1

    async def scenario(w: CoreWorld) -> None:
        group = w.repo.get_group(B1)
        assert group is not None
        group.heads = {1000 + i: f"{i:02d}" + "<王>&𝕏" * 12 for i in range(60)}
        w.repo.save_group(group)
        message = message_of(w, Say("resident", "/heads"))
        await w.handle(message)
        clean(w)
        shown = "".join(parse_html(text)[0] for text in w.replies_to(message))
        assert all(f"{i:02d}<王>&𝕏" in shown for i in range(60))

    run(scenario)


# --- end to end: the real frameworks against the local Bot API ---------------------------------

E2E_COMMANDS = [f"/{c.name}" for c in COMMANDS] + ["/frobnicate"]
E2E_SENDERS = [
    (B1, AUNT_ZHANG),
    (B1, UNCLE_LI),
    (B1, HEAD_WANG),
    (B2, HEAD_ZHAO),
    (STAFF, WORKER_LIU),
    (AUNT_ZHANG, AUNT_ZHANG),
    (WORKER_LIU, WORKER_LIU),
]


def e2e_inputs(seed: int, count: int) -> list[tuple[int, int, str]]:
    """Deterministic fuzzed messages (chat, sender, text) drawn from the same fragments."""
    rng = random.Random(seed)
    inputs = []
    for _ in range(count):
        chat, sender = rng.choice(E2E_SENDERS)
        words = " ".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.15:
            words += rng.choice(FRAGMENTS) * rng.randint(50, 600)
        command = rng.choice(E2E_COMMANDS)
        target = rng.choice(["", "", "", "@echowall_bot", "@otherbot"])
        case = rng.choice(["1", "2", "#1", "x", "--5", "²", ""])
        text = f"{command}{target} {case} {words}".strip()[:4096]  # users can send 4096 at most
        inputs.append((chat, sender, text))
    return inputs


def no_bad_requests(api: LocalBotAPI) -> None:
    bad = [e for e in api.errors if e.code == 400 and "not modified" not in e.description]
    assert bad == [], bad
    assert api.internal_errors == []


async def test_e2e_fuzzed_inputs_through_the_real_framework(
    harness: Harness, framework: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A few dozen fuzzed messages and payloads per framework: zero 400s, every command answered."""
    h, api = harness, harness.api
    api.add_chat(CHANNEL, "channel", title="林溪苑频道")
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了 <b>&amp; 👍")
    card = await h.reply(B1, "#1")
    staff_card = await h.reply(STAFF, "#1")
    await h.settle()
    for chat, sender, text in e2e_inputs(6 if framework == "ptb" else 7, 30):
        TRIED[f"messages (e2e {framework})"] += 1
        mark = api.last_seq
        h.say(chat, sender, text)
        # Under injected faults a retry_after window is quiet too: wait longer for silence.
        await api.wait_idle(quiet=QUIET if FAULT_RATE else 0.1, timeout=40)
        answers = [r for r in api.sent if r.seq > mark and r.chat_id == chat]
        command = parse_command(text, api.bot_username)
        if command is not None and (command[0] in BY_NAME or chat > 0):
            assert answers, f"no answer to {text[:80]!r} ({framework})"
        if "@otherbot" in text.split(" ")[0]:
            assert not [r for r in api.sent if r.seq > mark], text
    # An edited command, a channel post and service messages: not a word back.
    mark = api.last_seq
    edited = h.say(B1, UNCLE_LI, "我也是")
    api.edit_user_message(B1, edited["message_id"], "/fixed 1 <i>我修好了</i>")
    h.say(CHANNEL, AUNT_ZHANG, "/report 频道帖子")
    api.service_message(B1, HEAD_WANG, new_chat_title="林溪苑1号楼 <新>")
    api.service_message(B1, HEAD_WANG, new_chat_members=[MS_CHEN])
    await h.settle()
    assert [r.text for r in api.sent if r.seq > mark] == []
    # An anonymous admin is answered; a channel's post in the group may not report.
    h.say(B1, AUNT_ZHANG, "/wall", sender_chat_id=B1)
    await h.reply(B1, "问题墙")
    h.say(B1, AUNT_ZHANG, "/report 频道", sender_chat_id=CHANNEL)
    await h.reply(B1, "匿名")
    # A group upgraded to a supergroup (two more service messages) keeps working.
    supergroup = api.migrate_to_supergroup(B2, -1002002)["id"]
    await h.settle()
    h.say(supergroup, HEAD_ZHAO, "/wall@echowall_bot")
    await h.reply(supergroup, "问题墙")
    TRIED[f"messages (e2e {framework})"] += 9
    rng = random.Random(11)
    payloads = [
        "c1:acc:1",
        "c1:esc:1",
        "c1:rate:1:u",
        "c1:too:1",
        "c1:too:--1",
        "c1:bld:1:-1001",
        "c1:acc:" + "9" * 57,
        "x" * 64,
        "c2:acc:1",
        "c1:rate:1:q",
        "c1:too:١",
        "",
    ]
    for data in payloads:
        TRIED[f"presses (e2e {framework})"] += 1
        target = rng.choice([card, staff_card])
        query = api.press(target.chat_id, target.message_id, rng.choice([UNCLE_LI, MS_CHEN]), data)
        await h.answer_to(query)
    await h.settle()
    no_bad_requests(api)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []
    acted = [r for r in api.sent if "我修好了" in (r.text or "")]
    assert acted == [], "an edited message was acted on"


def test_zz_inputs_tried(capsys: pytest.CaptureFixture[str]) -> None:
    """Report how many inputs the module tried (it runs last, after the others)."""
    inputs = {k: v for k, v in TRIED.items() if k != "sequences (core)"}
    lines = [f"fuzz inputs tried: {sum(inputs.values())}"]
    lines += [f"  {k}: {v}" for k, v in sorted(TRIED.items())]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
