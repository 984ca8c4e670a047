"""Who may read a reporter's name, and which cases a building group sees.

Residents report neighbours' noise, illegal building work, a landlord: they stop reporting if
the building learns who called. So a group never reads a reporter's name unless the resident
reported there, as themselves, and did not ask to stay unnamed. A private report, a
neighbour's message logged by someone else (`/report` as a reply) and a report made with
`/report anon` (or whose reporter pressed "hide my name") are unnamed in every group. Heads
and staff read the name where they act: the staff chat, the escalation chat, and a private
chat with the bot.

An offline demand (`/log`) is not shown in its building group at all until staff post it
there (`/publish`, or the staff card's button): its text alone may tell the building who
called.
"""

from __future__ import annotations

from handlers import rights
from handlers.core import Context, Services
from storage.records import Case, Channel

ANON_WORDS = frozenset({"anon", "anonymous", "匿名", "不具名"})


def logged_for_neighbour(case: Case) -> bool:
    """Whether the case is a neighbour's message that someone else logged with /report."""
    first = case.timeline[0] if case.timeline else None
    # Steps stored before codes existed hold "logged by …" worded in the note.
    return first is not None and first.action == "report" and bool(first.code or first.note)


def named_in_groups(case: Case) -> bool:
    """Whether a group may read who reported the case."""
    return (
        case.reporter_id is not None
        and not case.anonymous
        and case.channel is Channel.GROUP
        and not logged_for_neighbour(case)
    )


def official_chat(svc: Services, chat_id: int) -> bool:
    """The staff chat and the escalation chat: where staff and officials act on cases."""
    return chat_id in (svc.staff_chat, svc.escalation_chat)


def may_see_reporter(ctx: Context, case: Case) -> bool:
    """Whether whoever reads this chat may read the case's reporter.

    May ask for a member status (a head reading privately): call it before writing anything.
    """
    if official_chat(ctx.svc, ctx.chat.id):
        return True
    if ctx.chat.is_private:
        if ctx.user_id is not None and ctx.user_id == case.reporter_id:
            return True
        return rights.may_manage(ctx, case.building_id)
    return ctx.chat.id == case.building_id and named_in_groups(case)


def shown_to(ctx: Context, case: Case) -> bool:
    """Whether the case may be shown in this chat at all (an offline demand not yet posted
    into its building is for its heads and staff only)."""
    if case.published or official_chat(ctx.svc, ctx.chat.id):
        return True
    return ctx.chat.is_private and rights.may_manage(ctx, case.building_id)
