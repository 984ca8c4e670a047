"""The problem wall, the echo wall, a resident's own cases, and one case in full."""

from __future__ import annotations

from datetime import UTC, datetime

from handlers import notify, privacy, rights
from handlers.actions import MAX_CASE_DIGITS, echo_entry
from handlers.admin import LANGUAGES
from handlers.core import Context
from handlers.intake import contact_text
from handlers.ledger import is_overdue
from handlers.livewall import wall_line, wall_title
from handlers.parsing import case_digits, quoted
from handlers.render import Notes, chunk, timeline
from handlers.texts import N_
from storage.records import OPEN_STATES, Case, State

ECHO_LIMIT = 10


def _line(ctx: Context, case: Case, *, with_building: bool = False) -> str:
    building = notify.building_label(ctx.svc, case) if with_building else None
    return wall_line(ctx.svc, ctx.t, case, building=building)


def _send_all(ctx: Context, blocks: list[str]) -> None:
    for text in chunk(blocks):
        ctx.reply(text)


def _buildings_for(ctx: Context) -> list[int]:
    """The building a wall is about: this group, or in private the sender's buildings."""
    if ctx.group is not None:
        return [ctx.group.chat_id]
    if ctx.chat.is_private and ctx.user_id is not None:
        if rights.is_staff(ctx):
            return [g.chat_id for g in ctx.svc.buildings()]
        person = ctx.svc.repo.get_person(ctx.user_id)
        return list(person.buildings) if person else []
    if ctx.in_staff_chat:
        return [g.chat_id for g in ctx.svc.buildings()]
    return []


def cmd_wall(ctx: Context) -> None:
    """Show the open cases of this building: the problem wall."""
    buildings = _buildings_for(ctx)
    if not buildings:
        ctx.reply(ctx._("Use /wall in your building group."))
        return
    found = (c for b in buildings for c in ctx.svc.repo.cases(building_id=b, states=OPEN_STATES))
    cases = [c for c in found if privacy.shown_to(ctx, c)]
    cases.sort(key=lambda c: c.id)
    if not cases:
        ctx.reply(ctx._("🧱 Problem wall: no open cases. 🎉"))
        return
    title = wall_title(ctx.t, len(cases))
    many = len(buildings) > 1
    _send_all(ctx, [title, *(_line(ctx, c, with_building=many) for c in cases)])


def cmd_echo(ctx: Context) -> None:
    """Show recently closed cases with their measure and satisfaction: the echo wall."""
    buildings = _buildings_for(ctx)
    if not buildings:
        ctx.reply(ctx._("Use /echo in your building group."))
        return
    repo = ctx.svc.repo
    closed = (c for b in buildings for c in repo.cases(building_id=b, states=(State.CLOSED,)))
    done = [c for c in closed if privacy.shown_to(ctx, c)]
    done.sort(key=lambda c: c.closed_at or c.created, reverse=True)
    if not done:
        ctx.reply(ctx._("📣 Echo wall: nothing closed yet."))
        return
    blocks = [ctx._("📣 <b>Echo wall</b>: recently closed cases")]
    blocks += ["\n" + echo_entry(ctx, c, ctx.t, listed=True) for c in done[:ECHO_LIMIT]]
    _send_all(ctx, blocks)


def cmd_mine(ctx: Context) -> None:
    """The cases the sender is responsible for (overdue first), then their own reports."""
    if ctx.user_id is None:
        return
    blocks = _responsible_for(ctx, ctx.user_id)
    cases = ctx.svc.repo.cases(reporter_id=ctx.user_id)
    unnamed = 0
    if not ctx.chat.is_private:
        # The group must not learn which unnamed report was theirs.
        shown = [c for c in cases if privacy.named_in_groups(c)]
        unnamed, cases = len(cases) - len(shown), shown
    if cases:
        title = ctx.t.ngettext(
            "📋 <b>Your cases</b> ({n})", "📋 <b>Your cases</b> ({n})", len(cases)
        )
        if blocks:
            blocks.append("")
        blocks.append(title.format(n=ctx.t.number(len(cases))))
        blocks += [_line(ctx, c, with_building=True) for c in reversed(cases)]
    if unnamed:
        if not blocks:
            ctx.reply(ctx._("Your reports are listed in our private chat: send me /mine there."))
            return
        blocks.append(ctx._("Reports made without your name are listed only in our private chat."))
    if not blocks:
        ctx.reply(ctx._("You have not reported anything yet. Use /report to start."))
        return
    _send_all(ctx, blocks)


def _responsible_for(ctx: Context, user_id: int) -> list[str]:
    """The open cases someone answers for, overdue first, then by their deadline."""
    svc, t = ctx.svc, ctx.t
    now = svc.clock()
    # Not the cases of a building that is not admitted (retired: they wait in the ledger),
    # and in a group not an offline demand its building has not been shown.
    cases = [
        c
        for c in svc.repo.cases(assignee_id=user_id, states=OPEN_STATES)
        if svc.is_building(c.building_id) and privacy.shown_to(ctx, c)
    ]
    if not cases:
        return []

    def order(case: Case) -> tuple[bool, datetime, int]:
        deadline = case.deadline()
        return (not is_overdue(case, now), deadline or datetime.max.replace(tzinfo=UTC), case.id)

    cases.sort(key=order)
    title = t.ngettext(
        "📌 <b>You are responsible for</b> {n} open case",
        "📌 <b>You are responsible for</b> {n} open cases",
        len(cases),
    )
    blocks = [title.format(n=t.number(len(cases)))]
    for case in cases:
        line = _line(ctx, case, with_building=True)
        deadline = case.deadline()
        if deadline is not None:
            line += "\n    " + t.gettext(DEADLINES[case.state]).format(time=t.datetime(deadline))
        blocks.append(line)
    return blocks


# What each open state waits for, as /mine shows its deadline.
DEADLINES = {
    State.NEW: N_("to be answered by {time}"),
    State.REOPENED: N_("to be answered by {time}"),
    State.ACCEPTED: N_("to be fixed by {time}"),
    State.FIXED: N_("to be checked by {time}"),
}


def cmd_case(ctx: Context) -> None:
    """Show one case with its whole timeline."""
    # Imported here: the table of commands imports this module for its handlers.
    from handlers.commands import STEP_LABELS

    words = ctx.args.split()
    digits = case_digits(words[0]) if words else None
    if digits is None:
        ctx.usage(
            ctx._("“{word}” is not a case number: write it like 17 or #17.").format(
                word=quoted(words[0])
            )
            if words
            else ctx._("Which case? Write its number after the command.")
        )
        return
    case = ctx.svc.repo.get_case(int(digits)) if len(digits) <= MAX_CASE_DIGITS else None
    if case is None or not privacy.shown_to(ctx, case):
        # An offline demand not posted into its building is not there for this chat.
        ctx.reply(ctx._("There is no case #{id}.").format(id=quoted(digits)))
        return
    show_reporter = privacy.may_see_reporter(ctx, case)
    show_names = (
        ctx.chat.id == case.building_id
        or privacy.official_chat(ctx.svc, ctx.chat.id)
        or (ctx.chat.is_private and rights.may_manage(ctx, case.building_id))
    )
    card = notify.card_context_text(ctx, case)
    if case.contact is not None and ctx.chat.is_private and rights.is_staff(ctx):
        # An offline resident's contact details: to staff, in a private chat only.
        card += "\n" + contact_text(ctx.t, case.contact)
    notes = Notes((ctx.svc.texts(language) for language in LANGUAGES), ctx.svc.settings.categories)
    # In a group that may not read the reporter, the steps they took are shown unnamed.
    hidden = {case.reporter_id} if not show_reporter and case.reporter_id is not None else set()
    steps = timeline(
        case, ctx.t, show_names=show_names, labels=STEP_LABELS, notes=notes, unnamed=hidden
    )
    _send_all(ctx, [card, "", ctx._("<b>Timeline</b>"), *steps])
