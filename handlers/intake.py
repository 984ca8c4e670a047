"""Offline intake (民情速递站): staff register demands from the mailbox, visits, hotline, forums."""

from __future__ import annotations

from handlers import actions, callbacks, notify, report, rights
from handlers.core import Context, log
from handlers.parsing import parse_int, quoted
from handlers.render import CHANNEL_LABELS, RATING_LABELS, clip, esc
from handlers.texts import N_
from storage.records import Case, Channel, Group, Priority, Rating, Step

# What staff type: the channel's code, the words /help shows, and those communities use.
CHANNEL_WORDS = {
    "forum": Channel.FORUM,
    "座谈会": Channel.FORUM,
    "小板凳": Channel.FORUM,
    "小板凳座谈会": Channel.FORUM,
    "mailbox": Channel.MAILBOX,
    "信箱": Channel.MAILBOX,
    "民情信箱": Channel.MAILBOX,
    "visit": Channel.VISIT,
    "走访": Channel.VISIT,
    "入户": Channel.VISIT,
    "入户走访": Channel.VISIT,
    "hotline": Channel.HOTLINE,
    "热线": Channel.HOTLINE,
    "12345": Channel.HOTLINE,
}
# The ratings as typed: the code, the words /help and the rating buttons show.
RATING_WORDS = {
    "satisfied": Rating.SATISFIED,
    "满意": Rating.SATISFIED,
    "basic": Rating.BASIC,
    "basically satisfied": Rating.BASIC,
    "基本满意": Rating.BASIC,
    "unsatisfied": Rating.UNSATISFIED,
    "不满意": Rating.UNSATISFIED,
}


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
    parts = ctx.args.split(maxsplit=2)
    if len(parts) > 1 and parts[1].lower() not in CHANNEL_WORDS:
        ctx.usage(ctx._("“{word}” is not a channel.").format(word=quoted(parts[1])))
        return
    if len(parts) < 3:
        missing = (
            N_("The building, the channel and the demand are missing."),
            N_("The channel and the demand are missing."),
            N_("The demand is missing."),
        )[len(parts)]
        ctx.usage(ctx._(missing))
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
    if not report.short_enough(ctx, text):
        return
    channel = CHANNEL_WORDS[parts[1].lower()]
    if channel is Channel.FORUM:
        # Imported here: the forum's module uses this one's building lookup.
        from handlers import forum

        # An opinion of a forum held in the last three days is logged against it.
        held = forum.latest(ctx.svc, ctx.svc.clock(), building_id=found.chat_id)
        opinion = forum.log_opinion(ctx, found, text, held)
        if opinion is not None and (opinion.on_spot or not ctx.in_staff_chat):
            lines = [
                ctx._("Registered as case #{id} ({channel}, {building}).").format(
                    id=opinion.id, channel=ctx._(CHANNEL_LABELS[channel]), building=esc(found.label)
                )
            ]
            if not opinion.on_spot:
                lines.append(
                    ctx._(
                        "It is not shown in the building group; /publish {id} posts it there."
                    ).format(id=opinion.id)
                )
            ctx.reply("\n".join(lines))
        return
    case = report.create_case(
        ctx,
        building_id=found.chat_id,
        channel=channel,
        text=text,
        photo=None,
        reporter=None,
        origin=None,
        logged_by=ctx.sender.name if ctx.sender else None,
        # What a resident said offline may tell the building who said it: staff decide.
        published=False,
    )
    if not ctx.in_staff_chat:  # there, the staff card is the answer
        ctx.reply(
            ctx._("Registered as case #{id} ({channel}, {building}).").format(
                id=case.id, channel=ctx._(CHANNEL_LABELS[channel]), building=esc(found.label)
            )
            + "\n"
            + ctx._("It is not shown in the building group; /publish {id} posts it there.").format(
                id=case.id
            )
        )


def _publish(ctx: Context, case: Case) -> None:
    name = ctx.sender.name if ctx.sender else ""
    case.timeline.append(Step(ctx.svc.clock(), "publish", ctx.user_id, name))
    notify.publish(ctx.svc, case)
    log.info("case=%s chat=%s action=publish", case.id, ctx.chat.id)


def cmd_publish(ctx: Context) -> None:
    """Post an offline demand into its building group, where its steps are echoed from then."""
    token = ctx.args.strip().split(maxsplit=1)[0] if ctx.args.strip() else ""
    case = actions.load_case(ctx, token)
    if case is None:
        return
    if case.published:
        ctx.reply(ctx._("Case #{id} is already shown in its building group.").format(id=case.id))
        return
    _publish(ctx, case)
    if not notify.card_is_near(ctx, case):
        ctx.reply(
            ctx._("Case #{id} is posted in {building}.").format(
                id=case.id, building=esc(notify.building_label(ctx.svc, case))
            )
        )
    else:
        notify.refresh_staff_card(ctx.svc, case, priority=Priority.REPLY)


def press_publish(ctx: Context, cb: callbacks.Callback) -> None:
    """The staff card's "post in the building" button."""
    case = ctx.svc.repo.get_case(cb.int_arg(0))
    if case is None:
        ctx.toast(ctx._("This case no longer exists."))
        return
    if not rights.is_staff(ctx):
        ctx.toast(ctx._("Only community staff can do that."), alert=True)
        return
    if case.published:
        ctx.toast(ctx._("Case #{id} is already shown in its building group.").format(id=case.id))
        return
    _publish(ctx, case)
    ctx.toast(
        ctx._("Case #{id} is posted in {building}.").format(
            id=case.id, building=notify.building_label(ctx.svc, case)
        )
    )
    notify.refresh_staff_card(ctx.svc, case, priority=Priority.REPLY)


def cmd_rate(ctx: Context) -> None:
    """Record the satisfaction a resident without Telegram gave on the follow-up visit."""
    # Staff make the follow-up visit (the router lets only staff in): a head who fixed the
    # case must not rate it.
    token, _, word = ctx.args.strip().partition(" ")
    case = actions.load_case(ctx, token)
    if case is None:
        return
    word = " ".join(word.split())
    rating = RATING_WORDS.get(word.lower())
    if rating is None:
        problem = (
            ctx._("“{word}” is not a rating.").format(word=quoted(word))
            if word
            else ctx._("The rating is missing.")
        )
        ctx.usage(problem)
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
