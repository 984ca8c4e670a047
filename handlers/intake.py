"""Offline intake (民情速递站): staff register demands from the mailbox, visits, hotline, forums."""

from __future__ import annotations

from handlers import actions, rights
from handlers.core import Context
from handlers.parsing import parse_int
from handlers.render import CHANNEL_LABELS, RATING_LABELS, clip, esc
from handlers.report import create_case
from handlers.texts import N_
from storage.records import Channel, Group, Rating, State

OFFLINE = (Channel.FORUM, Channel.MAILBOX, Channel.VISIT, Channel.HOTLINE)
# What staff type: the channel's name, or the words communities use for it.
CHANNEL_WORDS = {
    "forum": Channel.FORUM,
    "座谈会": Channel.FORUM,
    "小板凳": Channel.FORUM,
    "mailbox": Channel.MAILBOX,
    "信箱": Channel.MAILBOX,
    "visit": Channel.VISIT,
    "走访": Channel.VISIT,
    "入户": Channel.VISIT,
    "hotline": Channel.HOTLINE,
    "热线": Channel.HOTLINE,
    "12345": Channel.HOTLINE,
}
RATING_WORDS = {
    "satisfied": Rating.SATISFIED,
    "满意": Rating.SATISFIED,
    "basic": Rating.BASIC,
    "基本满意": Rating.BASIC,
    "unsatisfied": Rating.UNSATISFIED,
    "不满意": Rating.UNSATISFIED,
}
LOG_USAGE = N_("/log <building> <forum|mailbox|visit|hotline> <what the resident asks>")
RATE_USAGE = N_("/rate <id> <satisfied|basic|unsatisfied>")


def find_building(ctx: Context, token: str) -> Group | list[Group] | None:
    """A building by chat id, exact name, or a unique part of its name (spaces ignored)."""
    buildings = ctx.svc.buildings()
    chat_id = parse_int(token)
    if chat_id is not None:
        return next((g for g in buildings if g.chat_id == chat_id), None)
    wanted = token.replace(" ", "").lower()
    exact = [g for g in buildings if g.label.replace(" ", "").lower() == wanted]
    if exact:
        return exact[0]
    partial = [g for g in buildings if wanted in g.label.replace(" ", "").lower()]
    return partial[0] if len(partial) == 1 else (partial or None)


def cmd_log(ctx: Context) -> None:
    """Register a demand made offline, for a resident without Telegram."""
    if not rights.is_staff(ctx):
        ctx.reply(ctx._("Only community staff can register offline demands."))
        return
    parts = ctx.args.split(maxsplit=2)
    if len(parts) < 3 or parts[1].lower() not in CHANNEL_WORDS:
        ctx.reply(ctx._("Usage: {usage}").format(usage=esc(ctx._(LOG_USAGE))))
        return
    found = find_building(ctx, parts[0])
    if not isinstance(found, Group):
        names = ", ".join(g.label for g in found) if isinstance(found, list) else ""
        name = clip(parts[0], 100)  # what was typed may be long; a name is at most 64
        ctx.reply(
            ctx._("Which building? “{name}” matches {names}.").format(
                name=esc(name), names=esc(clip(names, 3000))
            )
            if names
            else ctx._("There is no building “{name}”; see /wall in the staff chat.").format(
                name=esc(name)
            )
        )
        return
    text = parts[2].strip()
    if len(text) > ctx.svc.settings.max_text:
        ctx.reply(
            ctx._("That is too long: please keep a report under {limit} characters.").format(
                limit=ctx.t.number(ctx.svc.settings.max_text)
            )
        )
        return
    channel = CHANNEL_WORDS[parts[1].lower()]
    case = create_case(
        ctx,
        building_id=found.chat_id,
        channel=channel,
        text=text,
        photo=None,
        reporter=None,
        origin=None,
        logged_by=ctx.sender.name if ctx.sender else None,
    )
    if not ctx.in_staff_chat:
        ctx.reply(
            ctx._("Registered as case #{id} ({channel}, {building}).").format(
                id=case.id, channel=ctx._(CHANNEL_LABELS[channel]), building=esc(found.label)
            )
        )


def cmd_rate(ctx: Context) -> None:
    """Record the satisfaction a resident without Telegram gave on the follow-up visit."""
    # Staff make the follow-up visit; a head who fixed the case must not rate it.
    if not rights.is_staff(ctx):
        ctx.reply(ctx._("Only community staff can record satisfaction from a visit."))
        return
    parts = ctx.args.split()
    rating = RATING_WORDS.get(parts[1].lower()) if len(parts) == 2 else None
    if rating is None:
        ctx.reply(ctx._("Usage: {usage}").format(usage=esc(ctx._(RATE_USAGE))))
        return
    action = actions.Action("rate", frozenset({State.FIXED, State.CLOSED}), False, RATE_USAGE)
    case = actions.load_case(ctx, action, parts[0])
    if case is None:
        return
    if case.reporter_id is not None:
        ctx.reply(
            ctx._("Only the resident who reported case #{id} can rate it.").format(id=case.id)
        )
        return
    actions.record_rating(ctx, case, rating)
    ctx.reply(
        ctx._("Case #{id}: satisfaction recorded as {rating}.").format(
            id=case.id, rating=ctx._(RATING_LABELS[rating])
        )
    )
