"""Offline intake (民情速递站): staff register demands from the mailbox, visits, hotline, forums."""

from __future__ import annotations

import re

from handlers import actions, callbacks, notify, report, rights
from handlers.core import Context, log
from handlers.parsing import parse_int, quoted
from handlers.render import CHANNEL_LABELS, LABELLED, RATING_LABELS, clip, esc
from handlers.texts import N_, Translator
from storage.records import Case, Channel, Contact, Group, Priority, Rating, Step

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


# The resident's contact details, given with /log as `name=… flat=… phone=…` (or 姓名=…
# 房号=… 电话=…), anywhere on the first line: the key, `=` (or `＝`), and the value up to the
# next space, or quoted ("Wang Li", “王 丽”) when it has spaces. Words in the text that only
# look like `a=b` stay in the text.
CONTACT_WORDS = {
    "name": "name",
    "姓名": "name",
    "联系人": "name",
    "flat": "flat",
    "room": "flat",
    "房号": "flat",
    "门牌号": "flat",
    "phone": "phone",
    "tel": "phone",
    "电话": "phone",
    "手机": "phone",
    "联系电话": "phone",
}
CONTACT_LIMITS = {"name": 30, "flat": 30, "phone": 30}
_OPTION = re.compile(
    r"(?:^|(?<=\s))(?P<key>[^\s=＝]+)[=＝](?P<value>“[^”]*”|\"[^\"]*\"|'[^']*'|\S*)"
)
_PHONE = re.compile(r"\+?[\d()\- ]+")
_QUOTES = (("“", "”"), ('"', '"'), ("'", "'"))


def _unquoted(value: str) -> str:
    for opening, closing in _QUOTES:
        if len(value) >= 2 and value[0] == opening and value[-1] == closing:
            return value[1:-1].strip()
    return value


def contact_options(t: Translator, args: str) -> tuple[str, Contact | None] | str:
    """Take the contact details out of /log's arguments: (the rest, the contact or None),
    or what is wrong with them (already worded)."""
    first, newline, more = args.partition("\n")
    found: dict[str, str] = {}
    problem: str | None = None

    def take(match: re.Match[str]) -> str:
        nonlocal problem
        key = CONTACT_WORDS.get(match["key"].lower())
        if key is None or problem is not None:
            return match[0]
        typed, value = match["key"], _unquoted(match["value"])
        digits = sum(ch.isdigit() for ch in value)
        if key in found:
            problem = t.gettext("“{word}” is given twice.").format(word=quoted(typed))
        elif not value:
            problem = t.gettext("“{word}” has nothing after the equals sign.").format(
                word=quoted(match[0])
            )
        elif len(value) > CONTACT_LIMITS[key]:
            problem = t.gettext("“{word}” is too long: {limit} characters at most.").format(
                word=quoted(value), limit=t.number(CONTACT_LIMITS[key])
            )
        elif key == "phone" and not (_PHONE.fullmatch(value) and 5 <= digits <= 20):
            problem = t.gettext(
                "“{word}” is not a phone number: write its digits, e.g. 13800000000 or "
                "0371-12345678."
            ).format(word=quoted(value))
        found[key] = value
        return ""

    rest = _OPTION.sub(take, first)
    if problem is not None:
        return problem
    rest = " ".join(rest.split()) + newline + more
    if not found:
        return rest, None
    return rest, Contact(found.get("name", ""), found.get("flat", ""), found.get("phone", ""))


def contact_text(t: Translator, contact: Contact) -> str:
    """The contact details for staff, as HTML: 居民：王阿姨 · 3-502 · 13800000000."""
    parts = [p for p in (contact.name, contact.flat, contact.phone) if p]
    text = esc(" · ".join(parts))
    return t.gettext(LABELLED).format(label=t.gettext("Resident"), text=text)


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


def take_contact(ctx: Context) -> tuple[str, Contact | None] | None:
    """The command's arguments without the resident's contact details, and those details
    (`/log` and `/opinion`); None when they are wrong or typed where a group reads them
    (answered)."""
    taken = contact_options(ctx.t, ctx.args)
    if isinstance(taken, str):
        ctx.usage(taken)
        return None
    args, contact = taken
    if contact is not None and not (ctx.chat.is_private or ctx.in_staff_chat):
        # A building group must never read a resident's phone: not from the bot either.
        ctx.reply(
            ctx._(
                "A resident's contact details are for staff only: register them in the staff "
                "chat or in a private chat with me. Nothing was registered; please delete "
                "your message here."
            )
        )
        return None
    return args, contact


def cmd_log(ctx: Context) -> None:
    """Register a demand made offline, for a resident without Telegram."""
    taken = take_contact(ctx)
    if taken is None:
        return
    args, contact = taken
    parts = args.split(maxsplit=2)
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
        opinion = forum.log_opinion(ctx, found, text, held, contact=contact)
        if opinion is not None and (opinion.on_spot or not ctx.in_staff_chat):
            lines = [
                ctx._("Registered as case #{id} ({channel}, {building}).").format(
                    id=opinion.id, channel=ctx._(CHANNEL_LABELS[channel]), building=esc(found.label)
                )
            ]
            if contact is not None and not ctx.in_staff_chat:  # in a private chat with staff
                lines.append(contact_text(ctx.t, contact))
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
        contact=contact,
    )
    if not ctx.in_staff_chat:  # there, the staff card is the answer
        text = ctx._("Registered as case #{id} ({channel}, {building}).").format(
            id=case.id, channel=ctx._(CHANNEL_LABELS[channel]), building=esc(found.label)
        )
        if contact is not None:  # only here: in a private chat with staff
            text += "\n" + contact_text(ctx.t, contact)
        text += "\n" + ctx._(
            "It is not shown in the building group; /publish {id} posts it there."
        ).format(id=case.id)
        ctx.reply(text)


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
