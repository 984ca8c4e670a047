"""Every command described once, and the buttons: what the router, the menus, /help, the
timeline and the tests all read.

A command is one `Command` in `COMMANDS`: its name, its handler, its usage, who may use it,
whether Telegram's command menus list it, the label of the step it adds to a case's timeline
and, for a command that acts on one case, the states it applies to. From this table come the
router's dispatch and its rights gate for staff commands, both command menus (residents' and
group administrators'), /help, the usage answered to a mistake, the timeline's labels, and the
tests' lists of commands (the rights matrix, the fuzzers, the catalog checks). Adding a
command is described in `docs/contributing.md`.

The order of `COMMANDS` is the order of the menus and of /help.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from handlers import (
    actions,
    admin,
    admission,
    announce,
    calendar,
    erasure,
    forum,
    intake,
    merge,
    report,
    rights,
    setup,
    stats,
    walls,
)
from handlers.callbacks import Act, Callback
from handlers.core import Context
from handlers.ports import BotCommand
from handlers.render import chunk, esc
from handlers.texts import N_, Translator
from storage.records import OPEN_STATES, State

CommandHandler = Callable[[Context], None]
PressHandler = Callable[[Context, Callback], None]


class Who(StrEnum):
    """Who may use a command: its section of /help and its menu."""

    EVERYONE = "everyone"  # residents and everyone else; the residents' menu
    MANAGERS = "managers"  # a building's heads (and group administrators) and staff
    STAFF = "staff"  # community staff only: the router refuses anyone else
    ADMINS = "admins"  # the deployment's admins, who set the bot up (the handler checks)


@dataclass(frozen=True)
class CaseRule:
    """How a command acts on one case, given by its number after the command."""

    states: frozenset[State]  # the states it applies to
    note: bool  # a note must follow the case number
    answers: bool  # it answers what the case waits for: its overdue flag goes


@dataclass(frozen=True)
class Command:
    """One command, described once."""

    name: str
    handler: CommandHandler
    usage: str  # gettext msgid, plain text (escaped where shown)
    about: str  # gettext msgid: its line in the menus and in /help
    who: Who
    menu: bool = True  # listed in Telegram's command menu
    label: str | None = None  # gettext msgid: the step it adds to a case's timeline
    case: CaseRule | None = None
    changes: bool = True  # False: it only reads (and answers)
    where: str = "any"  # "group": works in a building group only; "private": privately only


EVERYONE, MANAGERS, STAFF, ADMINS = Who.EVERYONE, Who.MANAGERS, Who.STAFF, Who.ADMINS


SECTIONS = (
    (EVERYONE, None),
    (MANAGERS, N_("<b>Building heads and staff</b>")),
    (STAFF, N_("<b>Community staff</b>")),
    (ADMINS, N_("<b>Setting up</b> (the deployment's admins)")),
)
BUTTONS_HINT = N_("Buttons: 👍 me too under a case, your rating under a fix, ✋ under an event.")
RESIDENT_NOTES = (
    N_(
        "/report may be the caption of a photo, an album, a voice message or a video; for an "
        "outdoor problem share the location and reply /report to it; words like “entrance 3, "
        "floor 5, flat 502” say where indoors."
    ),
)
MANAGER_NOTES = (
    N_(
        "A category is its code or its name, e.g. /accept 17 env, or /decline 17 outside "
        "12345 and a reason; /category alone lists them and where to turn."
    ),
    N_("Send /fixed as the caption of a photo of the fix: residents see before and after."),
    N_(
        "At a residents' forum (#forum): /opinion <opinion> logs each opinion against it; "
        "add “answered: <answer>” for one answered on the spot. After the forum the staff "
        "chat gets its tally and the next agenda."
    ),
    N_(
        "Many reports of one problem: /merge 18 17 makes #18's reporter a supporter of #17, "
        "told every step of it; /find finds a case by its words."
    ),
    N_(
        "Whoever accepts a case is responsible for it until /assign names someone else; "
        "/mine lists yours, overdue first. Reminders before a deadline come privately: "
        "send me /start once."
    ),
)
STAFF_NOTES = (
    N_("Staff work in every building, from the staff chat or privately."),
    N_("From the staff chat, /event and /announce reach every building group."),
    N_(
        "The staff card sorts each case with its category row (💡 the suggestion); Decline "
        "offers the matters not accepted and tells the resident where to turn."
    ),
)


# The menus Telegram shows, per scope: (scope, who sees it, where it is shown).
MENU_SCOPES = (
    ("default", EVERYONE, "any"),
    ("all_private_chats", EVERYONE, "private"),
    ("all_group_chats", EVERYONE, "group"),
    ("chat_administrators", MANAGERS, "group"),  # every group's administrators
)


def menu(t: Translator, scope: str) -> list[BotCommand]:
    """A command menu in one language: `default` and the chats' scopes of `MENU_SCOPES`;
    `chat_member` (an appointed head in their group, as its administrators) and `staff`
    (the staff chat: everything staff use there)."""
    who, where = {s: (w, p) for s, w, p in MENU_SCOPES}.get(
        scope,
        {"chat_member": (MANAGERS, "group"), "staff": (STAFF, "staff")}.get(
            scope, (EVERYONE, "any")
        ),
    )
    allowed = {
        EVERYONE: (EVERYONE,),
        MANAGERS: (EVERYONE, MANAGERS),
        STAFF: (EVERYONE, MANAGERS, STAFF),
    }[who]

    def shown_in(command: Command) -> bool:
        if where == "private":
            return command.where != "group"
        if where == "group":
            return command.where != "private"
        if where == "staff":
            return command.where == "any"
        return True

    shown = [c for c in COMMANDS if c.menu and c.who in allowed and shown_in(c)]
    return [BotCommand(c.name, about(t, c)) for c in shown]


def about(t: Translator, command: Command) -> str:
    text = t.gettext(command.about)
    if command.who is STAFF:
        return t.gettext("Staff: {about}").format(about=text)
    return text


def help_lines(t: Translator, *, manager: bool, staff: bool, admin: bool = False) -> list[str]:
    """/help: the commands this person may use, each with its usage, by section."""
    _ = t.gettext
    lines = [_("<b>echowall commands</b>")]
    allowed = {EVERYONE: True, MANAGERS: manager or staff, STAFF: staff, ADMINS: admin}
    for who, heading in SECTIONS:
        if not allowed[who]:
            continue
        if heading is not None:
            lines += ["", _(heading)]
        lines += [
            _("{usage} — {about}").format(usage=esc(_(c.usage)), about=esc(_(c.about)))
            for c in COMMANDS
            if c.who is who
        ]
        if who is EVERYONE:
            lines += [esc(_(note)) for note in RESIDENT_NOTES]
            lines.append(
                _("Buttons: 👍 me too under a case, your rating under a fix, ✋ under an event.")
            )
        if who is MANAGERS:
            lines += [esc(_(note)) for note in MANAGER_NOTES]
        if who is STAFF:
            lines += [_(note) for note in STAFF_NOTES]
    return lines


def cmd_help(ctx: Context) -> None:
    """List the commands this person may use."""
    staff = rights.is_staff(ctx)
    manager = staff or (ctx.group is not None and rights.is_head(ctx, ctx.group.chat_id))
    admin = rights.is_admin(ctx)
    for text in chunk(help_lines(ctx.t, manager=manager, staff=staff, admin=admin)):
        ctx.reply(text)


ANSWERABLE = frozenset({State.NEW, State.REOPENED})
WORKABLE = frozenset({State.NEW, State.ACCEPTED, State.REOPENED})
REOPENABLE = frozenset({State.FIXED, State.CLOSED, State.DECLINED})
RATEABLE = frozenset({State.FIXED, State.CLOSED})


COMMANDS: tuple[Command, ...] = (
    # --- residents (and everyone) ---------------------------------------------------------
    Command(
        "report",
        report.cmd_report,
        N_("/report <problem>"),
        N_("Report a problem"),
        EVERYONE,
        label=N_("reported"),
    ),
    Command("mine", walls.cmd_mine, N_("/mine"), N_("My cases"), EVERYONE, changes=False),
    Command(
        "case",
        walls.cmd_case,
        N_("/case <id>"),
        N_("One case with its history"),
        EVERYONE,
        changes=False,
    ),
    Command(
        "wall",
        walls.cmd_wall,
        N_("/wall"),
        N_("Open cases of this building"),
        EVERYONE,
        changes=False,
    ),
    Command(
        "echo",
        walls.cmd_echo,
        N_("/echo"),
        N_("Closed cases and their measures"),
        EVERYONE,
        changes=False,
    ),
    Command(
        "events",
        calendar.cmd_events,
        N_("/events [E<id>]"),
        N_("Upcoming events"),
        EVERYONE,
        changes=False,
    ),
    Command(
        "heads",
        admin.cmd_heads,
        N_("/heads"),
        N_("List the building heads"),
        EVERYONE,
        changes=False,
        where="group",
    ),
    Command("help", cmd_help, N_("/help"), N_("How to use echowall"), EVERYONE, changes=False),
    Command(
        "start",
        admin.cmd_start,
        N_("/start"),
        N_("Welcome and first steps"),
        EVERYONE,
        menu=False,
        changes=False,
    ),
    Command("lang", admin.cmd_lang, N_("/lang zh|en"), N_("Language: zh or en"), EVERYONE),
    Command(
        "forgetme",
        erasure.cmd_forgetme,
        N_("/forgetme (in a private chat with me)"),
        N_("Erase what the bot keeps about you"),
        EVERYONE,
        # Asked in a private chat; listed in /help, not in the menus of every group.
        menu=False,
        # It only asks: the answer's button erases.
        changes=False,
    ),
    # --- building heads and staff ---------------------------------------------------------
    Command(
        "accept",
        actions.cmd_accept,
        N_("/accept <id> [<category>] [easy|key|hard] [12h|2d|YYYY-MM-DD HH:MM]"),
        N_("Accept a case"),
        MANAGERS,
        label=N_("accepted"),
        case=CaseRule(ANSWERABLE, note=False, answers=True),
    ),
    Command(
        "assign",
        actions.cmd_assign,
        N_("/assign <id> (as a reply to the person, or with @name, or me)"),
        N_("Name who is responsible for a case"),
        MANAGERS,
        label=N_("responsible"),
        case=CaseRule(OPEN_STATES, note=False, answers=False),
    ),
    Command(
        "progress",
        actions.cmd_progress,
        N_("/progress <id> <what was done>"),
        N_("Report progress on a case"),
        MANAGERS,
        label=N_("progress"),
        case=CaseRule(WORKABLE, note=True, answers=False),
    ),
    Command(
        "fixed",
        actions.cmd_fixed,
        N_("/fixed <id> <the measure taken>"),
        N_("Mark a case fixed with the measure"),
        MANAGERS,
        label=N_("fixed"),
        case=CaseRule(WORKABLE, note=True, answers=True),
    ),
    Command(
        "confirm",
        actions.cmd_confirm,
        N_("/confirm <id>"),
        N_("Close a fixed case after checking"),
        MANAGERS,
        label=N_("checked and closed"),
        case=CaseRule(frozenset({State.FIXED}), note=False, answers=True),
    ),
    Command(
        "decline",
        actions.cmd_decline,
        N_("/decline <id> <category> [<where to turn>] [<reason>]"),
        N_("Decline a case: why, and where to turn"),
        MANAGERS,
        label=N_("declined"),
        case=CaseRule(ANSWERABLE, note=False, answers=True),
    ),
    Command(
        "category",
        actions.cmd_category,
        N_("/category <id> <category>"),
        N_("Set or correct a case's category"),
        MANAGERS,
        label=N_("category"),
        case=CaseRule(frozenset(State), note=False, answers=False),
    ),
    Command(
        "escalate",
        actions.cmd_escalate,
        N_("/escalate <id> <note>"),
        N_("Escalate a case"),
        MANAGERS,
        label=N_("escalated"),
        case=CaseRule(WORKABLE, note=True, answers=True),
    ),
    Command(
        "reopen",
        actions.cmd_reopen,
        N_("/reopen <id> <note>"),
        N_("Reopen a case"),
        MANAGERS,
        label=N_("reopened"),
        case=CaseRule(REOPENABLE, note=True, answers=True),
    ),
    Command(
        "merge",
        merge.cmd_merge,
        N_("/merge <id of the duplicate> <id of the case to keep>"),
        N_("Merge a duplicate into the case of the same problem"),
        MANAGERS,
        label=N_("merged"),
        case=CaseRule(OPEN_STATES, note=False, answers=True),
    ),
    Command(
        "find",
        merge.cmd_find,
        N_("/find [all] <words>"),
        N_("Find open and recent cases by their words"),
        MANAGERS,
        changes=False,
    ),
    Command(
        "opinion",
        forum.cmd_opinion,
        N_("/opinion [E<forum id>] [<building>] <opinion> [answered: <what was answered>]"),
        N_("Log an opinion given at a residents' forum"),
        MANAGERS,
        label=N_("forum opinion"),
    ),
    Command(
        "sethead",
        admin.cmd_sethead,
        N_("/sethead (as a reply to the person)"),
        N_("Appoint a building head (reply)"),
        MANAGERS,
        where="group",
    ),
    Command(
        "unsethead",
        admin.cmd_unsethead,
        N_("/unsethead (as a reply to the head, or with their user id)"),
        N_("Remove a building head"),
        MANAGERS,
        menu=False,
        where="group",
    ),
    Command(
        "building",
        admin.cmd_building,
        N_("/building <name, up to 64 characters>"),
        N_("Name this building"),
        MANAGERS,
        where="group",
    ),
    Command(
        "event",
        calendar.cmd_event,
        N_(
            "/event YYYY-MM-DD HH:MM <title> [@ <place>] or "
            "/event every mon..sun HH:MM <title> [@ <place>]; "
            "options: cap=30, remind=1d,1h (or remind=none), to=<building>,<building> "
            "(staff chat); notes on the following lines"
        ),
        N_("Plan an event with sign-up and reminders"),
        MANAGERS,
    ),
    Command(
        "announce",
        announce.cmd_announce,
        N_("/announce <text> (in the staff chat: to every building group)"),
        N_("Post and pin an announcement"),
        MANAGERS,
    ),
    Command(
        "remind",
        calendar.cmd_remind,
        N_("/remind <10m|2h|1d|HH:MM|YYYY-MM-DD HH:MM> <text>"),
        N_("Set a reminder in this chat"),
        MANAGERS,
    ),
    Command(
        "cancel",
        calendar.cmd_cancel,
        N_("/cancel E<event id> or /cancel R<reminder id>"),
        N_("Cancel an event or a reminder"),
        MANAGERS,
    ),
    # --- community staff ------------------------------------------------------------------
    Command(
        "stats",
        stats.cmd_stats,
        N_("/stats [week|month|all|YYYY-MM]"),
        N_("Case statistics and the three rates"),
        STAFF,
        changes=False,
    ),
    Command(
        "export",
        stats.cmd_export,
        N_("/export [YYYY-MM] [csv]"),
        N_("The monthly ledger as a spreadsheet"),
        STAFF,
        changes=False,
    ),
    Command(
        "log",
        intake.cmd_log,
        N_(
            "/log <building> <forum|mailbox|visit|hotline> [name=… flat=… phone=…] "
            "<what the resident asks>"
        ),
        N_("Register an offline demand"),
        STAFF,
        label=N_("registered"),
    ),
    Command(
        "rate",
        intake.cmd_rate,
        N_("/rate <id> <satisfied|basic|unsatisfied>"),
        N_("Record satisfaction from a follow-up visit"),
        STAFF,
        label=N_("rated"),
        case=CaseRule(RATEABLE, note=False, answers=False),
    ),
    Command(
        "publish",
        intake.cmd_publish,
        N_("/publish <id>"),
        N_("Post an offline demand in its building group"),
        STAFF,
        label=N_("posted in the building"),
        case=CaseRule(frozenset(State), note=False, answers=False),
    ),
    Command(
        "buildings",
        admission.cmd_buildings,
        N_("/buildings [admit|refuse|rename|retire] <building> [new name]"),
        N_("List, admit, rename and retire buildings"),
        STAFF,
    ),
    Command(
        "status",
        setup.cmd_status,
        N_("/status"),
        N_("What is configured: staff chat, buildings, privacy"),
        STAFF,
        changes=False,
    ),
    # --- the deployment's admins (set-up) --------------------------------------------------
    Command(
        "setup",
        setup.cmd_setup,
        N_("/setup (privately)"),
        N_("Set the bot up, step by step"),
        ADMINS,
        menu=False,
        changes=False,
        where="private",
    ),
    Command(
        "setstaff",
        setup.cmd_setstaff,
        N_("/setstaff (inside the staff chat)"),
        N_("Make this group the staff chat"),
        ADMINS,
        menu=False,
    ),
    Command(
        "setescalation",
        setup.cmd_setescalation,
        N_("/setescalation (inside the escalation chat)"),
        N_("Make this group the escalation chat"),
        ADMINS,
        menu=False,
    ),
)
BY_NAME: Mapping[str, Command] = {command.name: command for command in COMMANDS}


@dataclass(frozen=True)
class ButtonSpec:
    """What pressing a button does; `command` is the command it stands for, whose rules apply."""

    handler: PressHandler
    command: str | None = None


BUTTONS: Mapping[Act, ButtonSpec] = {
    Act.ME_TOO: ButtonSpec(report.press_me_too),
    Act.ACCEPT: ButtonSpec(actions.press_accept, "accept"),
    Act.DECLINE: ButtonSpec(actions.press_decline, "decline"),
    Act.ESCALATE: ButtonSpec(actions.press_escalate, "escalate"),
    Act.RATE: ButtonSpec(actions.press_rate, "rate"),
    Act.BUILDING: ButtonSpec(report.press_building, "report"),
    Act.RSVP: ButtonSpec(calendar.press_rsvp),
    Act.CATEGORY: ButtonSpec(actions.press_category, "category"),
    Act.NOT_ACCEPTED: ButtonSpec(actions.press_not_accepted, "decline"),
    Act.CARD: ButtonSpec(actions.press_card),
    Act.HIDE: ButtonSpec(report.press_hide_name),
    Act.PUBLISH: ButtonSpec(intake.press_publish, "publish"),
    Act.ADMIT: ButtonSpec(admission.press_admit, "buildings"),
    Act.REFUSE: ButtonSpec(admission.press_refuse, "buildings"),
    Act.SAME: ButtonSpec(merge.press_same),
    Act.NOT_SAME: ButtonSpec(merge.press_not_same),
    Act.MERGE: ButtonSpec(merge.press_merge, "merge"),
    Act.ON_SPOT: ButtonSpec(forum.press_on_spot, "fixed"),
    Act.FORGET: ButtonSpec(erasure.press_forget, "forgetme"),
}

# Steps no command adds: a neighbour's "me too", and the sweep's overdue flag.
OTHER_STEPS = {
    "supporter": N_("me too"),
    "overdue": N_("overdue"),
    "onspot": N_("answered on the spot"),
}
STEP_LABELS: Mapping[str, str] = {
    **{c.name: c.label for c in COMMANDS if c.label is not None},
    **OTHER_STEPS,
}
