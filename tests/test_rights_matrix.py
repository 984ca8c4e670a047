"""Every action × every role: who may change what (issue #6, item 5).

The expected table is written out below, from PRODUCT.md's rights: residents report, tap
"me too" and rate the fix of their own case; a building's heads (appointed, or the group's
Telegram administrators, also when they post anonymously) act on the cases and settings of
their building; staff (members of the staff chat) may do everything everywhere, and only they
register offline demands, record a visit's rating and see the statistics and the ledger.

- `+` the action is carried out: its change is in the store (or its answer is given);
- `-` it is refused: the store is unchanged, nothing is posted anywhere else, and the sender
  gets an answer (a reply to the command, an alert on the button). A command that does not
  apply where it was sent (a group command in the staff chat, the ledger in a building group)
  is refused the same way;
- `.` cannot happen: nobody presses a button anonymously (Telegram names the admin who does).

Each column is a sender in a chat, each row an action — a command, or a button press with
callback data forged with the codec in whatever chat the sender is in. Every command described
in `handlers.commands.COMMANDS` and every button action (`handlers.callbacks.Act`) has a row:
one line in `MATRIX` and one `Row` in `ROWS`; `test_every_command_and_button_has_a_row` fails
for one without. For a command that only reads (`changes=False`), `+` means the answer shows
what was asked for and `-` a refusal.

The whole matrix runs against the core; a few rows also run end to end through both
frameworks and the local Bot API.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from handlers import callbacks
from handlers.callbacks import Act
from handlers.commands import BUTTONS, COMMANDS
from handlers.incoming import ChatRef, Quoted, User
from localapi import LocalBotAPI
from storage.records import Admission, Channel, Level, Rating, State
from storage.records import Role as ChatRole
from storage.tinydb_store import TinyRepository
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    HEAD_WANG,
    HEAD_ZHAO,
    MS_CHEN,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    Harness,
)
from tests.coreworld import ANONYMOUS, CHATS, PEOPLE, STRANGER, CoreWorld, Seeded, private
from tests.fakes import Sent

MATRIX = """
action        reporter resident other_resident other_head admin anonymous staff staff_in_b1 stranger
/report          +        +           +            +        +       -       -        +         +
/accept          -        -           -            -        +       +       +        +         -
/progress        -        -           -            -        +       +       +        +         -
/fixed           -        -           -            -        +       +       +        +         -
/confirm         -        -           -            -        +       +       +        +         -
/decline         -        -           -            -        +       +       +        +         -
/escalate        -        -           -            -        +       +       +        +         -
/reopen          -        -           -            -        +       +       +        +         -
/sethead         -        -           -            -        +       +       -        +         -
/unsethead       -        -           -            -        +       +       -        +         -
/building        -        -           -            -        +       +       -        +         -
/lang            -        -           -            -        +       +       +        +         +
/log             -        -           -            -        -       -       +        +         -
/rate            -        -           -            -        -       -       +        +         -
/stats           -        -           -            -        -       -       +        +         -
/export          -        -           -            -        -       -       +        -         -
[accept]         -        -           -            -        +       .       +        +         -
[decline]        -        -           -            -        +       .       +        +         -
[escalate]       -        -           -            -        +       .       +        +         -
[satisfied]      +        -           -            -        -       .       -        -         -
[unsatisfied]    +        -           -            -        -       .       -        -         -
[me too]         -        +           +            +        +       .       +        +         +
[building]       -        -           -            -        -       .       -        -         +
/event           -        -           -            -        +       +       +        +         -
/cancel          -        -           -            -        +       +       +        +         -
/remind          -        -           -            -        +       +       +        +         +
/announce        -        -           -            -        +       +       +        +         -
[rsvp]           +        +           -            +        +       .       -        +         -
/start           +        +           +            +        +       +       +        +         +
/help            +        +           +            +        +       +       +        +         +
/mine            +        +           +            +        +       +       +        +         +
/case            +        +           +            +        +       +       +        +         +
/wall            +        +           +            +        +       +       +        +         -
/echo            +        +           +            +        +       +       +        +         -
/heads           +        +           +            +        +       +       -        +         -
/events          +        +           +            +        +       +       +        +         +
/assign          -        -           -            -        +       +       +        +         -
/category        -        -           -            -        +       +       +        +         -
[category]       -        -           -            -        +       .       +        +         -
[not accepted]   -        -           -            -        +       .       +        +         -
[back]           -        -           -            -        +       .       +        +         -
/publish         -        -           -            -        -       -       +        +         -
[hide name]      +        -           -            -        -       .       -        -         -
[publish]        -        -           -            -        -       .       +        +         -
/buildings       -        -           -            -        -       -       +        +         -
/status          -        -           -            -        -       -       +        +         -
/setup           -        -           -            -        -       -       -        -         -
/setstaff        -        -           -            -        -       -       -        -         -
/setescalation   -        -           -            -        -       -       -        -         -
[admit]          -        -           -            -        -       .       +        +         -
[refuse]         -        -           -            -        -       .       +        +         -
/merge           -        -           -            -        +       +       +        +         -
/find            -        -           -            -        +       +       +        +         -
[merge]          -        -           -            -        +       .       +        +         -
[same]           +        -           -            -        +       .       +        +         -
[not same]       +        -           -            -        +       .       +        +         -
/opinion         -        -           -            -        +       +       +        +         -
[on spot]        -        -           -            -        +       .       +        +         -
/forgetme        -        -           -            -        -       -       -        -         +
[forget]         -        -           -            -        -       .       -        -         +
[keep]           -        -           -            -        -       .       -        -         +
"""
# Setting up is for the deployment's admins (ECHOWALL_ADMINS, or whoever opened the set-up
# link), none of whom is among these roles: a group's administrator is a head, not an admin.
# tests/test_admission.py has the admins' side.
# Notes on single cells: the reporter's own "me too" is not counted (she is counted already);
# "me too" is open to anyone, as PRODUCT.md gives it to residents without naming a building;
# /lang in the staff chat or a private chat sets that chat's own language, which its staff or
# its person may; /report in the staff chat and /export in a building group are refused there.
# Calendar: /event, /announce and /cancel are a head's in their own group and staff's anywhere
# (a head cancels only what was planned in their group); /remind is a manager's in a group and
# anyone's in their private chat; "I'll come" counts only in a group the event is for.
# Reading: /wall and /echo need a building (the stranger, seen in none, is told to ask in
# one); /heads works in a building group only.
# Cases: /assign names 王楼长 (a head of building 1) by replying to his message; the category
# buttons and "back" are the staff card's, and work for whoever may act on the case.
# One problem, one case: /merge and the staff card's merge button are a manager's; the offer on
# a new case's acknowledgement ("me too on #1 instead", "no, a new problem") is its reporter's
# to answer, and a manager's; /find searches what a head or staff may act on.
# The forum: /opinion logs an opinion against building 1's forum E1 (the staff chat's names
# the forum, whose one building it is for); "answered on the spot" is on the opinion's card.
# Erasure: /forgetme is anyone's, about themselves, asked in a private chat (in a group it
# says where to ask); its button erases only the one who presses it, in that private chat.


@dataclass(frozen=True)
class Role:
    """A sender and the chat the sender writes in."""

    chat: int
    person: User
    sender_chat: int | None = None

    @property
    def chat_ref(self) -> ChatRef:
        return CHATS.get(self.chat) or private(self.chat)


ROLES = {
    # 张阿姨, a resident of building 1, who reported case #1.
    "reporter": Role(B1, PEOPLE[AUNT_ZHANG]),
    # 李大爷, another resident of building 1.
    "resident": Role(B1, PEOPLE[UNCLE_LI]),
    # 陈女士, a resident of building 2, in her own group.
    "other_resident": Role(B2, PEOPLE[MS_CHEN]),
    # 赵楼长, administrator of building 2's group, writing in building 1's group.
    "other_head": Role(B1, PEOPLE[HEAD_ZHAO]),
    # 王楼长, administrator of building 1's group.
    "admin": Role(B1, PEOPLE[HEAD_WANG]),
    # An anonymous administrator of building 1's group (GroupAnonymousBot, sender_chat = B1).
    "anonymous": Role(B1, ANONYMOUS, sender_chat=B1),
    # 刘社工, community staff, in the staff chat.
    "staff": Role(STAFF, PEOPLE[WORKER_LIU]),
    # 刘社工 writing in building 1's group.
    "staff_in_b1": Role(B1, PEOPLE[WORKER_LIU]),
    # Someone the bot has never seen in a group, in a private chat.
    "stranger": Role(STRANGER, PEOPLE[STRANGER]),
}

NEW_HEAD = User(104, "周师傅", language="zh")  # a neighbour to appoint, or appointed already


# --- the state each row starts from ---------------------------------------------------------


async def reported(w: CoreWorld) -> None:
    """Case #1, new: 张阿姨's report in building 1; the bot knows both building groups."""
    await w.say(B2, MS_CHEN, "大家好")
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")


async def accepted(w: CoreWorld) -> None:
    await reported(w)
    await w.say(STAFF, WORKER_LIU, "/accept 1")


async def fixed(w: CoreWorld) -> None:
    await accepted(w)
    await w.say(STAFF, WORKER_LIU, "/fixed 1 换了灯泡")


async def closed(w: CoreWorld) -> None:
    await fixed(w)
    await w.say(STAFF, WORKER_LIU, "/confirm 1")


async def with_head(w: CoreWorld) -> None:
    """Case #1, and 周师傅 appointed a head of building 1."""
    await reported(w)
    await w.handle(
        w.message(CHATS[B1], PEOPLE[HEAD_WANG], "/sethead", reply_to=Quoted(900, NEW_HEAD, "好"))
    )


async def offline_fixed(w: CoreWorld) -> None:
    """Case #1, and case #2: a mailbox demand registered by staff, fixed, awaiting the visit."""
    await reported(w)
    await w.say(STAFF, WORKER_LIU, "/log 1号楼 信箱 路灯不亮")
    await w.say(STAFF, WORKER_LIU, "/fixed 2 换了路灯")


async def offline_logged(w: CoreWorld) -> None:
    """Case #1, and case #2: a visit's demand registered by staff, not posted in building 1."""
    await reported(w)
    await w.say(STAFF, WORKER_LIU, "/log 1号楼 走访 楼上装修太吵")


NEWCOMER = -1003  # a group that added the bot, waiting for staff to admit it


async def pending_group(w: CoreWorld) -> None:
    """Case #1, and a new group that added the bot: its card waits in the staff chat."""
    await reported(w)
    await w.handle(w.message(ChatRef(NEWCOMER, "group", "新来的群"), PEOPLE[UNCLE_LI], "大家好"))


def admission_of(o: Outcome, chat: int) -> Any:
    return o.after.groups[chat][3]


async def with_event(w: CoreWorld) -> None:
    """Event E1, planned by 王楼长 for building 1, on top of case #1."""
    await reported(w)
    await w.say(B1, HEAD_WANG, "/event 2026-12-01 19:00 小板凳座谈会 @ 林溪苑广场")


def events(o: Outcome) -> dict[int, Any]:
    return o.after.calendar[0]


async def lookalike(w: CoreWorld) -> None:
    """Case #1, and case #2: 张阿姨's second report, which looks like #1."""
    await reported(w)
    await w.say(B1, AUNT_ZHANG, "/report 三楼楼道灯也坏了")


async def with_forum(w: CoreWorld) -> None:
    """Case #1, and 王楼长's residents' forum E1 for building 1, about to begin."""
    await reported(w)
    await w.say(B1, HEAD_WANG, "/event 2026-11-18 10:20 小板凳座谈会 #forum @ 林溪苑广场")


async def forum_opinion(w: CoreWorld) -> None:
    """The forum, and case #2: an opinion given there, still open."""
    await with_forum(w)
    await w.say(STAFF, WORKER_LIU, "/opinion E1 健身器材坏了")


async def with_draft(w: CoreWorld) -> None:
    """Case #1, and the stranger's private report waiting for a building."""
    await reported(w)
    await w.say(STRANGER, STRANGER, "/report the bins are full")


async def forgetful(w: CoreWorld) -> None:
    """Case #1, and the stranger's language set in a private chat: a record of them."""
    await reported(w)
    await w.say(STRANGER, STRANGER, "/lang en")


def forget_button(w: CoreWorld) -> str:
    """The /forgetme question's "erase" button, asked now."""
    return callbacks.encode(Act.FORGET, int(w.clock().timestamp() // 60), "y")


def keep_button(w: CoreWorld) -> str:
    """The /forgetme question's "keep it" button, asked now."""
    return callbacks.encode(Act.FORGET, int(w.clock().timestamp() // 60), "n")


def draft_button(w: CoreWorld) -> str:
    for sent in reversed(w.messenger.sent):
        for row in sent.keyboard or ():
            for button in row:
                if button.data.startswith("c1:bld:") and button.data.endswith(str(B1)):
                    return button.data
    raise AssertionError("no building question was asked")


# --- what each row does, and what it changes when it is allowed -----------------------------


@dataclass
class Outcome:
    """What the world looked like before the action and after it."""

    before: Snapshot
    after: Snapshot
    role: Role
    answers: list[str] = field(default_factory=list)  # replies and the press's answer
    sent: list[Sent] = field(default_factory=list)  # everything the bot sent meanwhile
    edited: list[int] = field(default_factory=list)  # the chats of the messages it edited


@dataclass(frozen=True)
class Snapshot:
    cases: dict[int, Any]
    groups: dict[int, tuple[Any, ...]]
    languages: dict[int, str | None]
    documents: int
    # Events (cancelled?, who signed up), reminders, and broadcasts handed to the outbox.
    calendar: tuple[Any, ...] = ()


def broadcasts(w: CoreWorld) -> int:
    """How many broadcasts were ever handed to the outbox (their ids count up from 1)."""
    count = 0
    while w.repo.get_broadcast(count + 1) is not None:
        count += 1
    return count


def snapshot(w: CoreWorld) -> Snapshot:
    people = [*PEOPLE, NEW_HEAD.id]
    return Snapshot(
        cases={c.id: c for c in w.repo.all_cases()},
        groups={
            g.chat_id: (dict(g.heads), g.name, g.language, g.admission, g.role)
            for g in w.repo.groups(active_only=False)
        },
        languages={uid: (p.language if (p := w.repo.get_person(uid)) else None) for uid in people},
        documents=len(w.messenger.documents),
        calendar=(
            {
                e.id: (e.cancelled is not None, [a.user_id for a in e.going])
                for e in w.repo.events(include_cancelled=True)
            },
            len(w.repo.reminders(include_cancelled=True)),
            broadcasts(w),
        ),
    )


def case1(o: Outcome) -> Any:
    return o.after.cases[1]


def chat_language(o: Outcome) -> str | None:
    if o.role.chat > 0:
        return o.after.languages.get(o.role.chat)
    return o.after.groups.get(o.role.chat, ({}, None, None, None, None))[2]


@dataclass(frozen=True)
class Row:
    setup: Callable[[CoreWorld], Awaitable[None]]
    done: Callable[[Outcome], bool]
    command: str | None = None
    reply_to: Quoted | None = None
    data: Callable[[CoreWorld], str] | None = None  # a button press with this callback data


ROWS: dict[str, Row] = {
    "/report": Row(
        reported,
        # A new case; in a private chat first the question which building it is about.
        lambda o: (
            len(o.after.cases) == 2
            or any(
                b.data.startswith("c1:bld:")
                for s in o.sent
                for row in s.keyboard or ()
                for b in row
            )
        ),
        command="/report 三楼楼梯扶手松了",
    ),
    "/accept": Row(reported, lambda o: case1(o).state is State.ACCEPTED, command="/accept 1"),
    "/progress": Row(
        accepted,
        lambda o: case1(o).timeline[-1].action == "progress",
        command="/progress 1 已联系电工",
    ),
    "/fixed": Row(accepted, lambda o: case1(o).state is State.FIXED, command="/fixed 1 换了灯泡"),
    "/confirm": Row(fixed, lambda o: case1(o).state is State.CLOSED, command="/confirm 1"),
    "/decline": Row(
        reported, lambda o: case1(o).state is State.DECLINED, command="/decline 1 不属于社区"
    ),
    "/escalate": Row(
        accepted, lambda o: case1(o).level is Level.COMMUNITY, command="/escalate 1 需要协调"
    ),
    "/reopen": Row(closed, lambda o: case1(o).state is State.REOPENED, command="/reopen 1 又坏了"),
    "/sethead": Row(
        reported,
        lambda o: NEW_HEAD.id in o.after.groups[B1][0],
        command="/sethead",
        reply_to=Quoted(900, NEW_HEAD, "我来当楼栋长"),
    ),
    "/unsethead": Row(
        with_head, lambda o: NEW_HEAD.id not in o.after.groups[B1][0], command="/unsethead 104"
    ),
    "/building": Row(
        reported,
        lambda o: o.after.groups[B1][1] == "林溪苑1号楼东",
        command="/building 林溪苑1号楼东",
    ),
    "/lang": Row(reported, lambda o: chat_language(o) == "en", command="/lang en"),
    "/log": Row(
        reported,
        lambda o: len(o.after.cases) == 2 and o.after.cases[2].channel is Channel.VISIT,
        command="/log 1号楼 走访 三楼住户反映楼道堆物",
    ),
    "/rate": Row(
        offline_fixed,
        lambda o: o.after.cases[2].rating is Rating.SATISFIED,
        command="/rate 2 满意",
    ),
    "/stats": Row(reported, lambda o: any(a.startswith("📊") for a in o.answers), command="/stats"),
    "/export": Row(
        reported, lambda o: o.after.documents == o.before.documents + 1, command="/export"
    ),
    "[accept]": Row(
        reported, lambda o: case1(o).state is State.ACCEPTED, data=lambda w: "c1:acc:1"
    ),
    "[decline]": Row(
        reported, lambda o: any("/decline 1" in a for a in o.answers), data=lambda w: "c1:dec:1"
    ),
    "[escalate]": Row(
        reported, lambda o: case1(o).level is Level.COMMUNITY, data=lambda w: "c1:esc:1"
    ),
    "[satisfied]": Row(
        fixed, lambda o: case1(o).rating is Rating.SATISFIED, data=lambda w: "c1:rate:1:s"
    ),
    "[unsatisfied]": Row(
        fixed, lambda o: case1(o).state is State.REOPENED, data=lambda w: "c1:rate:1:u"
    ),
    "[me too]": Row(reported, lambda o: len(case1(o).supporters) == 1, data=lambda w: "c1:too:1"),
    "[building]": Row(with_draft, lambda o: len(o.after.cases) == 2, data=draft_button),
    "/event": Row(
        reported, lambda o: len(events(o)) == 1, command="/event 2026-12-01 19:00 座谈会"
    ),
    "/cancel": Row(with_event, lambda o: events(o)[1][0], command="/cancel E1"),
    "/remind": Row(reported, lambda o: o.after.calendar[1] == 1, command="/remind 2h 交物业费"),
    "/announce": Row(
        reported,
        lambda o: o.after.calendar[2] > o.before.calendar[2],
        command="/announce 明天上午停水",
    ),
    "[rsvp]": Row(with_event, lambda o: len(events(o)[1][1]) == 1, data=lambda w: "c1:go:1:y"),
    # Commands that only read: carried out is answered with what was asked for.
    "/start": Row(reported, lambda o: any(a.startswith("👋") for a in o.answers), command="/start"),
    "/help": Row(reported, lambda o: any("/report" in a for a in o.answers), command="/help"),
    "/mine": Row(reported, lambda o: bool(o.answers), command="/mine"),
    "/case": Row(reported, lambda o: any("#1" in a for a in o.answers), command="/case 1"),
    "/wall": Row(reported, lambda o: any("🧱" in a for a in o.answers), command="/wall"),
    "/echo": Row(closed, lambda o: any("📣" in a for a in o.answers), command="/echo"),
    "/heads": Row(with_head, lambda o: any("</b>\n" in a for a in o.answers), command="/heads"),
    "/events": Row(with_event, lambda o: any("📅" in a for a in o.answers), command="/events"),
    "/assign": Row(
        reported,
        lambda o: case1(o).assignee_id == HEAD_WANG,
        command="/assign 1",
        reply_to=Quoted(901, PEOPLE[HEAD_WANG], "这件我来办"),
    ),
    "/category": Row(reported, lambda o: case1(o).category == "env", command="/category 1 env"),
    "[category]": Row(
        reported, lambda o: case1(o).category == "env", data=lambda w: "c1:cat:1:env"
    ),
    "[not accepted]": Row(
        reported,
        lambda o: (
            (case1(o).state, case1(o).category, case1(o).referral)
            == (State.DECLINED, "outside", "hotline")
        ),
        data=lambda w: "c1:nac:1:outside",
    ),
    "[back]": Row(reported, lambda o: STAFF in o.edited, data=lambda w: "c1:card:1"),
    "/publish": Row(offline_logged, lambda o: o.after.cases[2].published, command="/publish 2"),
    "/buildings": Row(reported, lambda o: any("🏠" in a for a in o.answers), command="/buildings"),
    "/status": Row(reported, lambda o: any("⚙️" in a for a in o.answers), command="/status"),
    "/setup": Row(reported, lambda o: any("🛠" in a for a in o.answers), command="/setup"),
    "/setstaff": Row(
        reported,
        lambda o: any(g[4] is ChatRole.STAFF for g in o.after.groups.values()),
        command="/setstaff",
    ),
    "/setescalation": Row(
        reported,
        lambda o: any(g[4] is ChatRole.ESCALATION for g in o.after.groups.values()),
        command="/setescalation",
    ),
    "[admit]": Row(
        pending_group,
        lambda o: admission_of(o, NEWCOMER) is Admission.ADMITTED,
        data=lambda w: f"c1:adm:{NEWCOMER}",
    ),
    "[refuse]": Row(
        pending_group,
        lambda o: admission_of(o, NEWCOMER) is Admission.REFUSED,
        data=lambda w: f"c1:ref:{NEWCOMER}",
    ),
    "[hide name]": Row(reported, lambda o: case1(o).anonymous, data=lambda w: "c1:anon:1"),
    "[publish]": Row(
        offline_logged, lambda o: o.after.cases[2].published, data=lambda w: "c1:pub:2"
    ),
    "/merge": Row(
        lookalike, lambda o: o.after.cases[2].state is State.MERGED, command="/merge 2 1"
    ),
    "/find": Row(lookalike, lambda o: any("🔍" in a for a in o.answers), command="/find 楼道灯"),
    "[merge]": Row(
        lookalike, lambda o: o.after.cases[2].state is State.MERGED, data=lambda w: "c1:mrg:2:1"
    ),
    "[same]": Row(
        lookalike, lambda o: o.after.cases[2].state is State.MERGED, data=lambda w: "c1:same:2:1"
    ),
    "[not same]": Row(
        lookalike, lambda o: o.after.cases[2].similar_to is None, data=lambda w: "c1:diff:2"
    ),
    "/opinion": Row(
        with_forum,
        lambda o: len(o.after.cases) == 2 and o.after.cases[2].forum_id == 1,
        command="/opinion E1 楼道很脏",
    ),
    "[on spot]": Row(forum_opinion, lambda o: o.after.cases[2].on_spot, data=lambda w: "c1:spot:2"),
    "/forgetme": Row(
        reported,
        lambda o: any(
            b.data.startswith("c1:fgt:") for s in o.sent for row in s.keyboard or () for b in row
        ),
        command="/forgetme",
    ),
    "[forget]": Row(
        forgetful,
        lambda o: o.before.languages[STRANGER] == "en" and o.after.languages[STRANGER] is None,
        data=forget_button,
    ),
    # "Keep it" changes nothing: the question becomes its answer, the record stays.
    "[keep]": Row(
        forgetful,
        lambda o: STRANGER in o.edited and o.after.languages[STRANGER] == "en",
        data=keep_button,
    ),
}


def parse_matrix(text: str) -> dict[tuple[str, str], str]:
    lines = [line.split() for line in text.strip().splitlines()]
    header = lines[0][1:]
    cells = {}
    for line in lines[1:]:
        # An action may be two words, e.g. "[me too]".
        width = len(line) - len(header)
        action, marks = " ".join(line[:width]), line[width:]
        for role, mark in zip(header, marks, strict=True):
            cells[(action, role)] = mark
    return cells


EXPECTED = parse_matrix(MATRIX)
SEEDED: dict[Callable[[CoreWorld], Awaitable[None]], Seeded] = {}

# The button actions and the rows that forge their presses.
BUTTON_ROWS = {
    Act.ACCEPT: ["[accept]"],
    Act.DECLINE: ["[decline]"],
    Act.ESCALATE: ["[escalate]"],
    Act.RATE: ["[satisfied]", "[unsatisfied]"],
    Act.ME_TOO: ["[me too]"],
    Act.BUILDING: ["[building]"],
    Act.RSVP: ["[rsvp]"],
    Act.CATEGORY: ["[category]"],
    Act.NOT_ACCEPTED: ["[not accepted]"],
    Act.CARD: ["[back]"],
    Act.HIDE: ["[hide name]"],
    Act.PUBLISH: ["[publish]"],
    Act.ADMIT: ["[admit]"],
    Act.REFUSE: ["[refuse]"],
    Act.MERGE: ["[merge]"],
    Act.SAME: ["[same]"],
    Act.NOT_SAME: ["[not same]"],
    Act.ON_SPOT: ["[on spot]"],
    Act.FORGET: ["[forget]", "[keep]"],
}


def test_the_matrix_is_complete_and_every_row_is_defined() -> None:
    actions = {action for action, _ in EXPECTED}
    roles = {role for _, role in EXPECTED}
    assert roles == set(ROLES)
    assert actions == set(ROWS)
    assert all(mark in "+-." for mark in EXPECTED.values())


def test_every_command_and_button_has_a_row() -> None:
    """A new command or button needs its row in the matrix (the commands as described in
    `handlers.commands`)."""
    missing = [f"/{c.name}" for c in COMMANDS if f"/{c.name}" not in ROWS]
    missing += [str(act) for act in Act if not set(BUTTON_ROWS.get(act, [])) & set(ROWS)]
    assert missing == [], f"add these to MATRIX and ROWS: {missing}"
    assert set(BUTTONS) == set(Act), "every button action has its handler"


def test_read_only_commands_change_nothing_for_anyone() -> None:
    """What `changes=False` promises: the matrix's rows of those commands leave the store as
    it was, whoever sends them (what they send, such as the ledger's file, aside)."""
    for command in (c for c in COMMANDS if not c.changes):
        row = ROWS[f"/{command.name}"]
        for role in ROLES.values():
            outcome = asyncio.run(perform(row, role))
            after = replace(outcome.after, documents=outcome.before.documents)
            assert after == outcome.before, f"/{command.name} changed the store"


async def perform(row: Row, role: Role) -> Outcome:
    """Run the row's action as the role in a fresh world set up for it."""
    seeded = SEEDED.setdefault(row.setup, Seeded(row.setup))
    async with seeded.world() as w:
        before = snapshot(w)
        sent_before, answers_before = len(w.messenger.sent), len(w.messenger.answers)
        edits_before = len(w.messenger.edits)
        if row.data is not None:
            press = w.press_event(role.chat, role.person.id, row.data(w))
            await w.handle(press)
            answers = [t for cid, t, _ in w.messenger.answers[answers_before:] if t]
            assert len(w.messenger.answers) == answers_before + 1, "a press is answered once"
        else:
            message = w.message(
                role.chat_ref,
                role.person,
                row.command or "",
                reply_to=row.reply_to,
                sender_chat_id=role.sender_chat,
            )
            await w.handle(message)
            answers = w.replies_to(message)
        assert w.failures.describe() == []
        assert w.messenger.violations == []
        edited = [chat for chat, *_ in w.messenger.edits[edits_before:]]
        return Outcome(before, snapshot(w), role, answers, w.messenger.sent[sent_before:], edited)


CELLS = sorted((action, role) for (action, role), mark in EXPECTED.items() if mark != ".")


@pytest.mark.parametrize(("action", "role"), CELLS, ids=[f"{a} as {r}" for a, r in CELLS])
def test_rights(action: str, role: str) -> None:
    row, expected = ROWS[action], EXPECTED[(action, role)]
    outcome = asyncio.run(perform(row, ROLES[role]))
    if expected == "+":
        assert row.done(outcome), f"{action} as {role} should have been carried out"
        return
    assert outcome.after == outcome.before, f"{action} as {role} changed the store"
    assert not row.done(outcome)
    assert outcome.answers, f"{action} as {role} was refused without a word"
    # A refusal is an answer to the sender only: a reply to the command, or the press's alert.
    elsewhere = [s for s in outcome.sent if row.data is not None or s.chat_id != outcome.role.chat]
    assert elsewhere == [], f"{action} as {role} posted {elsewhere}"


# --- a few rows end to end, through both frameworks -------------------------------------------


def no_bad_requests(api: LocalBotAPI) -> None:
    bad = [e for e in api.errors if e.code == 400 and "not modified" not in e.description]
    assert bad == [], bad


async def test_e2e_rights_rows(harness: Harness, start_bot: Any) -> None:
    h, api = harness, harness.api
    h.say(B2, HEAD_ZHAO, "大家好")
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    card = await h.reply(B1, "#1")
    h.say(STAFF, WORKER_LIU, "/log 1号楼 信箱 路灯不亮")
    await h.reply(STAFF, "#2")
    h.say(B1, HEAD_WANG, "/fixed 2 换了路灯")
    await h.reply(B1, "#2", "换了路灯")

    # Refused: a head of another building, a resident, a head recording a visit's rating,
    # a resident forging a staff button, a resident asking for the statistics.
    h.say(B2, HEAD_ZHAO, "/accept 1")
    await h.reply(B2, "楼栋长", "#1")
    neighbour = h.say(B1, AUNT_ZHANG, "我来当楼栋长")
    h.say(B1, UNCLE_LI, "/sethead", reply_to=neighbour["message_id"])
    await h.reply(B1, "楼栋长")
    h.say(B1, HEAD_WANG, "/rate 2 满意")
    await h.reply(B1, "社区工作人员")
    query = api.press(B1, card.message_id, UNCLE_LI, callbacks.encode(Act.ESCALATE, 1))
    answer = await h.answer_to(query)
    assert answer["show_alert"] and "楼栋长" in answer["text"]
    h.say(B1, UNCLE_LI, "/stats")
    await h.reply(B1, "社区工作人员")

    # Carried out: staff registers a demand, an anonymous admin names the building.
    h.say(STAFF, WORKER_LIU, "/log 1号楼 走访 楼道堆物")
    await h.reply(STAFF, "#3")
    h.say(B1, HEAD_WANG, "/building 林溪苑1号楼东", sender_chat_id=B1)
    await h.reply(B1, "林溪苑1号楼东")
    await h.settle()
    no_bad_requests(api)
    await start_bot.stop_all()
    repo = TinyRepository(h.data_dir)
    try:
        first, offline = repo.get_case(1), repo.get_case(2)
        assert first is not None and first.state is State.NEW and first.level is Level.BUILDING
        assert offline is not None and offline.rating is None
        group = repo.get_group(B1)
        assert group is not None and group.heads == {} and group.name == "林溪苑1号楼东"
        assert repo.get_case(3) is not None
    finally:
        repo.close()
