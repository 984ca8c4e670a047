"""Case actions by heads and staff, the staff chat's buttons, and the reporter's rating."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from handlers import callbacks, notify, rights
from handlers.callbacks import Act
from handlers.categories import Category, Referral
from handlers.core import Context, log
from handlers.parsing import BadTime, case_digits, parse_when, quoted, time_problems
from handlers.ports import Button, Keyboard
from handlers.render import (
    CHANNEL_LABELS,
    LABELLED,
    LEVEL_LABELS,
    RATING_LABELS,
    STATE_LABELS,
    category_code,
    clip,
    esc,
    note_text,
)
from handlers.rights import MANAGERS_ONLY
from handlers.texts import N_, Translator
from storage.records import Case, CaseClass, Priority, Rating, State, Step

# The languages whose words people may type (a category's name in Chinese or English).
LANGUAGES = ("zh", "en")

if TYPE_CHECKING:
    # The table of commands imports this module for its handlers.
    from handlers.commands import CaseRule

# The classes as staff and heads type them: the code, or the words /help shows for it.
CLASS_WORDS = {
    "easy": CaseClass.EASY,
    "易办": CaseClass.EASY,
    "易办件": CaseClass.EASY,
    "key": CaseClass.KEY,
    "重点": CaseClass.KEY,
    "重点件": CaseClass.KEY,
    "hard": CaseClass.HARD,
    "difficult": CaseClass.HARD,
    "疑难": CaseClass.HARD,
    "疑难件": CaseClass.HARD,
}
# Whole sentences per class: "an easy case", "a key case" (never pieced together).
ACCEPTED_TEXTS = {
    CaseClass.EASY: N_("🛠 Case #{id} is accepted as an easy case; promised by {time}."),
    CaseClass.KEY: N_("🛠 Case #{id} is accepted as a key case; promised by {time}."),
    CaseClass.HARD: N_("🛠 Case #{id} is accepted as a difficult case; promised by {time}."),
}
NOTE_LIMIT = 1000
# Larger numbers are no case of ours: answered "no such case" without asking the store.
MAX_CASE_DIGITS = 12


def _rule(ctx: Context) -> CaseRule:
    """The case rule of the command being handled (a button's: the command it stands for)."""
    assert ctx.command is not None and ctx.command.case is not None, "not a case command"
    return ctx.command.case


def _refuse(ctx: Context, text: str) -> None:
    """Say no where the request came from: a reply to a command, an alert on a button."""
    if ctx.press is not None:
        ctx.toast(text, alert=True)
    else:
        ctx.reply(text)


def _checked(ctx: Context, case_id: int) -> Case | None:
    """Find the case and check the sender's rights and the case's state."""
    case = ctx.svc.repo.get_case(case_id)
    if case is None:
        _refuse(ctx, ctx._("There is no case #{id}.").format(id=case_id))
        return None
    return _allowed(ctx, case)


def _allowed(ctx: Context, case: Case) -> Case | None:
    """The case if the sender may act on it and the action applies to its state now."""
    if not rights.may_manage(ctx, case.building_id):
        _refuse(
            ctx,
            ctx._(
                "Only the building's heads and community staff can do that for case #{id}."
            ).format(id=case.id),
        )
        return None
    states = _rule(ctx).states
    if case.state not in states:
        state = ctx._(STATE_LABELS[case.state])
        if ctx.press is not None or ctx.command is None:
            text = ctx._("Case #{id} is {state}; that action does not apply now.").format(
                id=case.id, state=state
            )
        else:
            wanted = " / ".join(ctx._(STATE_LABELS[s]) for s in State if s in states)
            text = ctx._(
                "Case #{id} is {state}: /{command} applies only to a case that is {states}."
            ).format(id=case.id, state=state, command=ctx.command.name, states=wanted)
        _refuse(ctx, text)
        return None
    return case


def load_case(ctx: Context, token: str) -> Case | None:
    """The case whose number was typed after the command, if the sender may act on it now.

    The right comes first: someone who may not use the command is told so whatever they
    typed, and nothing is written before (a right may need a member status looked up).
    """
    digits = case_digits(token)
    case = None
    if digits is not None and len(digits) <= MAX_CASE_DIGITS:
        case = ctx.svc.repo.get_case(int(digits))
    if case is not None:
        return _allowed(ctx, case)
    if not rights.could_manage(ctx):
        ctx.reply(ctx._(MANAGERS_ONLY))
    elif digits is not None:
        ctx.reply(ctx._("There is no case #{id}.").format(id=quoted(digits)))
    elif token.strip():
        ctx.usage(
            ctx._("“{word}” is not a case number: write it like 17 or #17.").format(
                word=quoted(token.strip())
            )
        )
    else:
        ctx.usage(ctx._("Which case? Write its number after the command."))
    return None


def _actor(ctx: Context) -> tuple[int | None, str]:
    if ctx.message is not None and ctx.message.is_anonymous_admin:
        return None, ctx.chat.title or ""
    return ctx.user_id, ctx.sender.name if ctx.sender else ""


def _step(ctx: Context, case: Case, action: str, note: str = "", code: str = "") -> None:
    """Add a step to the case's timeline: a person's `note`, or the bot's own as a `code`."""
    if ctx.command is not None and ctx.command.case is not None and ctx.command.case.answers:
        case.overdue_since = None  # a new deadline, or none: the overdue flag is answered
    actor_id, actor_name = _actor(ctx)
    case.timeline.append(Step(ctx.svc.clock(), action, actor_id, actor_name, note, code))
    log.info("case=%s chat=%s action=%s actor=%s", case.id, ctx.chat.id, action, actor_id)


def _announce(
    ctx: Context,
    case: Case,
    render: Callable[[Translator], str],
    keyboard_for: Callable[[Translator], Keyboard] | None = None,
    photo: str | None = None,
) -> None:
    """Echo the change into the case's thread, and confirm it where the action was taken.

    With `photo` the echo is that photo with the change as its caption (a fix's photo).

    One message where it can be: typed in the thread, the echo is the answer; pressed on
    the staff card, the toast answers and the card is edited; typed in the staff chat just
    below the card, the edited card is the answer; anywhere else a short confirmation.
    """
    svc = ctx.svc
    thread_chat = notify.thread_of(case)
    t = svc.texts_for(thread_chat)
    # An offline demand not yet posted into its building has no thread: nothing is echoed.
    in_thread = ctx.message is not None and ctx.chat.id == thread_chat and case.published
    notify.echo(
        svc,
        case,
        render(t),
        keyboard=keyboard_for(t) if keyboard_for else None,
        priority=Priority.REPLY if in_thread else Priority.ECHO,
        render=render,
        photo=photo,
    )
    pressed_card = (
        ctx.press is not None
        and ctx.press.message_id is not None
        and ctx.press.message_id == case.staff_message_id
    )
    # The card shows the state, not the note: a step nobody else is told of (an offline
    # demand not posted into its building) is confirmed in words.
    if pressed_card or (notify.card_is_near(ctx, case) and case.published):
        notify.refresh_staff_card(svc, case, priority=Priority.REPLY)
    elif ctx.message is not None and not in_thread:
        ctx.reply(render(ctx.t))
    notify.changed(svc, case)


def _split(args: str) -> tuple[str, str]:
    head, _, rest = args.strip().partition(" ")
    if "\n" in head:
        head, _, more = head.partition("\n")
        rest = more + (" " + rest if rest else "")
    return head, rest.strip()


def _languages(ctx: Context) -> list[Translator]:
    return [ctx.svc.texts(language) for language in LANGUAGES]


def _category_list(ctx: Context, *, accepted: bool) -> str:
    """The categories of one kind as people may type them: `env` (Environment …), …"""
    categories = ctx.svc.settings.categories
    items = categories.accepted if accepted else categories.not_accepted
    return ctx._(LIST_SEPARATOR).join(
        ctx._("{code} ({name})").format(code=c.code, name=esc(c.name(ctx.t))) for c in items
    )


def _category_help(ctx: Context) -> str:
    """The categories of both kinds and the referrals, as /category alone lists them."""
    categories = ctx.svc.settings.categories
    referrals = ctx._(LIST_SEPARATOR).join(
        ctx._("{code} ({name})").format(code=r.code, name=esc(r.name(ctx.t)))
        for r in categories.referrals
    )
    lines = [
        ctx._(LABELLED).format(
            label=ctx._("<b>Accepted matters</b>"), text=_category_list(ctx, accepted=True)
        ),
        ctx._(LABELLED).format(
            label=ctx._("<b>Matters not accepted</b>"), text=_category_list(ctx, accepted=False)
        ),
        ctx._(LABELLED).format(label=ctx._("<b>Where to turn</b>"), text=referrals),
        ctx._("Usage: {usage}").format(usage=esc(ctx._(ctx.command.usage)))
        if ctx.command is not None
        else "",
    ]
    return "\n".join(line for line in lines if line)


# Between the items of a list in a sentence ("env (…); facility (…)").
LIST_SEPARATOR = N_("; ")


def _set_category(ctx: Context, case: Case, category: Category) -> bool:
    """Give the case this category, noted on its timeline; False if it had it already."""
    if case.category == category.code:
        return False
    case.category = category.code
    _step(ctx, case, "category", code=category_code(category.code))
    return True


def _take_charge(ctx: Context, case: Case) -> None:
    """Whoever accepts or fixes a case nobody was named for answers for it from now on."""
    actor_id, actor_name = _actor(ctx)
    if case.assignee_id is None and actor_id is not None and ctx.user_id == actor_id:
        case.assignee_id, case.assignee_name = actor_id, actor_name


def cmd_accept(ctx: Context) -> None:
    """Accept a case, optionally with its category, its class and a promised time."""
    token, rest = _split(ctx.args)
    case = load_case(ctx, token)
    if case is None:
        return
    tokens = rest.split()
    categories = ctx.svc.settings.categories
    typed_class: CaseClass | None = None
    category: Category | None = None
    while tokens:
        word = tokens[0]
        if typed_class is None and word.lower() in CLASS_WORDS:
            typed_class = CLASS_WORDS[tokens.pop(0).lower()]
            continue
        found = categories.find(word, _languages(ctx)) if category is None else None
        if found is None:
            break
        if not found.accepted:
            ctx.usage(
                ctx._(
                    "“{word}” is a matter the community does not accept: "
                    "/decline {id} {code} says so to the resident."
                ).format(word=quoted(word), id=case.id, code=found.code)
            )
            return
        category = found
        tokens.pop(0)
    klass = typed_class or ctx.svc.settings.default_class
    now = ctx.svc.clock()
    due: datetime | None = None
    if tokens:
        try:
            due, used = parse_when(tokens, now, ctx.svc.settings.timezone)
        except BadTime as bad:
            # After the class only a time may follow; before it, a word is neither.
            unknown = ACCEPT_NO_TIME if typed_class is not None else ACCEPT_NEITHER
            ctx.usage(time_problems(ctx.t, bad, unknown))
            return
        if used != len(tokens):
            extra = " ".join(tokens[used:])
            ctx.usage(
                ctx._("I did not understand “{words}” after the time.").format(words=quoted(extra))
            )
            return
        if due <= now:
            ctx.usage(
                ctx._("The promised time “{words}” has already passed.").format(
                    words=quoted(" ".join(tokens[:used]))
                )
            )
            return
    case.klass = klass
    case.due = due or ctx.svc.settings.class_due(klass, now)
    case.state = State.ACCEPTED
    case.answered_at = case.answered_at or now
    _take_charge(ctx, case)
    _step(ctx, case, "accept", code=klass.value)
    # The category typed, else the one set before, else the one the keywords suggest.
    chosen = category or categories.get(case.category) or categories.suggest(case.text)
    if chosen is not None and chosen.accepted:
        _set_category(ctx, case, chosen)
    ctx.svc.repo.save_case(case)
    _announce(
        ctx,
        case,
        lambda t: t.gettext(ACCEPTED_TEXTS[klass]).format(
            id=case.id,
            time=t.datetime(case.due),  # type: ignore[arg-type]
        ),
    )


# What a word after the case number of /accept may be, when it is neither.
ACCEPT_NEITHER = N_(
    "“{word}” is neither a category, a class (easy, key, hard) nor a time like 12h, 2d or "
    "YYYY-MM-DD HH:MM."
)
ACCEPT_NO_TIME = N_("“{word}” is not a time: write 12h, 2d, 30m or YYYY-MM-DD HH:MM.")


def _noted(ctx: Context) -> tuple[Case, str] | None:
    """The case and the note after its number, for the command being handled."""
    token, note = _split(ctx.args)
    case = load_case(ctx, token)
    if case is None:
        return None
    if _rule(ctx).note and not note:
        ctx.usage(ctx._("The text after the case number is missing."))
        return None
    if len(note) > NOTE_LIMIT:
        ctx.reply(
            ctx._("That text is {n} characters long; {limit} at most, please.").format(
                n=ctx.t.number(len(note)), limit=ctx.t.number(NOTE_LIMIT)
            )
        )
        return None
    return case, note


def cmd_progress(ctx: Context) -> None:
    """Tell the resident what has been done so far."""
    found = _noted(ctx)
    if found is None:
        return
    case, note = found
    _step(ctx, case, "progress", note)
    ctx.svc.repo.save_case(case)
    _announce(
        ctx,
        case,
        lambda t: t.gettext("⏳ Case #{id}, progress: {note}").format(id=case.id, note=esc(note)),
    )


def rating_keyboard(case: Case, t: Translator) -> tuple[tuple[Button, ...], ...]:
    return (
        tuple(
            Button(t.gettext(RATING_LABELS[r]), callbacks.encode(Act.RATE, case.id, code))
            for r, code in callbacks.RATING_CODES.items()
        ),
    )


def cmd_fixed(ctx: Context) -> None:
    """Record the measure taken and ask the reporter to rate the fix."""
    found = _noted(ctx)
    if found is None:
        return
    case, measure = found
    now = ctx.svc.clock()
    # The photo of the fix: sent with /fixed as its caption, or replied to with /fixed.
    message = ctx.message
    photo = message.photo if message is not None else None
    if photo is None and message is not None and message.reply_to is not None:
        quoted = message.reply_to
        if quoted.sender is not None and not quoted.sender.is_bot:
            photo = quoted.photo
    case.answered_at = case.answered_at or now
    case.state, case.measure, case.fixed_at, case.rating = State.FIXED, measure, now, None
    case.fix_photo = photo
    # The check on site has a deadline of its own, and the reporter is asked to rate now.
    case.check_due = now + timedelta(hours=ctx.svc.settings.check_hours)
    case.rating_asked = now if case.reporter_id is not None else None
    case.rating_reminded = None
    _take_charge(ctx, case)
    _step(ctx, case, "fixed", measure)
    ctx.svc.repo.save_case(case)

    def render(t: Translator) -> str:
        # A caption holds 1,024 characters: with a photo the measure is shortened there.
        shown = clip(measure, FIX_CAPTION_MEASURE) if photo is not None else measure
        text = t.gettext("🔧 Case #{id} is fixed: {measure}").format(id=case.id, measure=esc(shown))
        if photo is not None and case.photo_count:
            text += "\n" + t.gettext("📷 Before: the photo of the report above; after: this one.")
        if case.reporter_id is not None:
            text += "\n" + t.gettext("Reporter, are you satisfied with the fix?")
        return text

    _announce(
        ctx,
        case,
        render,
        keyboard_for=(lambda t: rating_keyboard(case, t)) if case.reporter_id is not None else None,
        photo=photo,
    )


# The measure shown in the caption of a fix's photo (the case keeps it whole).
FIX_CAPTION_MEASURE = 500


def cmd_confirm(ctx: Context) -> None:
    """Close a fixed case after the on-site check and post it to the echo wall."""
    found = _noted(ctx)
    if found is None:
        return
    case, note = found
    case.state, case.closed_at = State.CLOSED, ctx.svc.clock()
    _step(ctx, case, "confirm", note)
    ctx.svc.repo.save_case(case)
    _announce(ctx, case, lambda t: echo_entry(ctx, case, t))


def echo_entry(ctx: Context, case: Case, t: Translator, *, listed: bool = False) -> str:
    """The echo-wall entry: source · content · measure · progress · satisfaction.

    `listed`: one of several under /echo's heading, so it does not repeat the heading.
    """
    _ = t.gettext
    source = notify.building_label(ctx.svc, case) + " · " + _(CHANNEL_LABELS[case.channel])
    rating = _(RATING_LABELS[case.rating]) if case.rating else _("not rated yet")
    closed = t.datetime(case.closed_at or case.created)
    if listed:
        lines = [_("✅ <b>Case #{id}</b>, closed {time}").format(id=case.id, time=closed)]
    else:
        lines = [_("📣 <b>Echo wall · case #{id} closed</b>").format(id=case.id)]
    lines += [
        _("Source: {source}").format(source=esc(source)),
        _("Problem: {text}").format(text=esc(clip(case.text, 800))),
        _("Measure: {measure}").format(measure=esc(clip(case.measure or "", 800))),
    ]
    if not listed:
        lines.append(_("Progress: closed {time}").format(time=closed))
    lines.append(_("Satisfaction: {rating}").format(rating=rating))
    return "\n".join(lines)


def _take_word(text: str) -> tuple[str, str]:
    """The first word of a text and the rest, as typed (its lines and spaces kept)."""
    text = text.lstrip()
    for index, char in enumerate(text):
        if char.isspace():
            return text[:index], text[index:].strip()
    return text, ""


def cmd_decline(ctx: Context) -> None:
    """Decline a case under a not-accepted category, say where to turn, give a reason."""
    token, rest = _split(ctx.args)
    case = load_case(ctx, token)
    if case is None:
        return
    categories = ctx.svc.settings.categories
    category: Category | None = None
    referral: Referral | None = None
    word, after = _take_word(rest)
    found = categories.find(word, _languages(ctx)) if word else None
    if found is not None:
        if found.accepted:
            ctx.usage(
                ctx._(
                    "“{word}” is a matter the community accepts. Not accepted are: {categories}."
                ).format(word=quoted(word), categories=_category_list(ctx, accepted=False))
            )
            return
        category, rest = found, after
        word, after = _take_word(rest)
    where = categories.find_referral(word, _languages(ctx)) if word else None
    if where is not None:
        referral, rest = where, after
    reason = rest.strip()
    category = category or categories.suggest(reason, accepted=False)
    if category is None:
        ctx.usage(
            ctx._(
                "Why is case #{id} not accepted? Name the category after the number: {categories}."
            ).format(id=case.id, categories=_category_list(ctx, accepted=False))
        )
        return
    if len(reason) > NOTE_LIMIT:
        ctx.reply(
            ctx._("That text is {n} characters long; {limit} at most, please.").format(
                n=ctx.t.number(len(reason)), limit=ctx.t.number(NOTE_LIMIT)
            )
        )
        return
    decline(ctx, case, category, referral or categories.referral(category.referral), reason)


def decline(
    ctx: Context, case: Case, category: Category, referral: Referral | None, reason: str
) -> None:
    """Decline the case under `category`, telling the resident where to turn instead."""
    now = ctx.svc.clock()
    case.state, case.answered_at, case.closed_at = State.DECLINED, case.answered_at or now, now
    case.category = category.code
    case.referral = referral.code if referral is not None else None
    _step(ctx, case, "decline", reason, category_code(category.code, case.referral))
    ctx.svc.repo.save_case(case)

    def render(t: Translator) -> str:
        lines = [
            t.gettext("🚫 Case #{id} is not accepted: {category}.").format(
                id=case.id, category=esc(category.name(t))
            )
        ]
        if reason:
            lines.append(t.gettext("Reason: {reason}").format(reason=esc(reason)))
        if referral is not None:
            contact = referral.contact_text(t)
            if contact:
                lines.append(
                    t.gettext("Please turn to {referral}: {contact}").format(
                        referral=esc(referral.name(t)), contact=esc(contact)
                    )
                )
            else:
                lines.append(
                    t.gettext("Please turn to {referral}.").format(referral=esc(referral.name(t)))
                )
        return "\n".join(lines)

    _announce(ctx, case, render)


def escalate(ctx: Context, case: Case, note: str = "", code: str = "") -> bool:
    """Raise a case one level with a new due time; False at the top level.

    The resident reads what the case waits for now, as its card shows it: a case not yet
    accepted gets an answer from the higher level by the new time, an accepted one is
    promised to be fixed by it.
    """
    higher = case.level.next()
    if higher is None:
        return False
    now = ctx.svc.clock()
    case.level = higher
    if case.state is State.FIXED:
        # A fix not checked in time: the higher level checks it, by a new time.
        case.check_due = now + timedelta(hours=ctx.svc.settings.check_hours)
    else:
        case.due = ctx.svc.settings.class_due(case.klass or ctx.svc.settings.default_class, now)
    _step(ctx, case, "escalate", note, code)
    ctx.svc.repo.save_case(case)
    deadline = case.deadline()
    assert deadline is not None  # escalated only while new, accepted or reopened
    text = ESCALATED_TEXTS[case.state]
    _announce(
        ctx,
        case,
        lambda t: t.gettext(text).format(
            id=case.id, level=t.gettext(LEVEL_LABELS[higher]), time=t.datetime(deadline)
        ),
    )
    notify.tell_escalation_chat(ctx.svc, case, lambda t: note_text(t, code, note, 1000))
    return True


# What an escalated case waits for, as its card says it: an answer from the higher level
# while it is new or reopened, the fix promised once it is accepted.
_ANSWER_BY = N_("⬆️ Case #{id} is escalated to the {level} level; it will be answered by {time}.")
ESCALATED_TEXTS = {
    State.NEW: _ANSWER_BY,
    State.REOPENED: _ANSWER_BY,
    State.ACCEPTED: N_("⬆️ Case #{id} is escalated to the {level} level; promised by {time}."),
    State.FIXED: N_(
        "⬆️ Case #{id} is escalated to the {level} level; the fix will be checked by {time}."
    ),
}


def cmd_escalate(ctx: Context) -> None:
    """Raise a case to the next level (community, street office, district)."""
    found = _noted(ctx)
    if found is None:
        return
    case, note = found
    if not escalate(ctx, case, note):
        ctx.reply(ctx._("Case #{id} is already at the highest level.").format(id=case.id))


def cmd_reopen(ctx: Context) -> None:
    """Reopen a fixed, closed or declined case."""
    found = _noted(ctx)
    if found is None:
        return
    case, note = found
    reopen(ctx, case, note)
    _announce(
        ctx,
        case,
        lambda t: t.gettext("🔁 Case #{id} is reopened: {note}").format(id=case.id, note=esc(note)),
    )


def reopen(ctx: Context, case: Case, note: str = "", code: str = "") -> None:
    """Open the case again: it waits for an answer anew (so it is not overdue)."""
    case.state, case.closed_at, case.fixed_at = State.REOPENED, None, None
    case.check_due = None
    if case.category is not None:
        category = ctx.svc.settings.categories.get(case.category)
        if category is None or not category.accepted:
            # Reopened after a decline: it is to be sorted again.
            case.category, case.referral = None, None
    # A new answer window from now, as long as the first one (not the time since the report).
    case.answer_due = ctx.svc.clock() + timedelta(hours=ctx.svc.settings.answer_hours)
    case.overdue_since = None
    _step(ctx, case, "reopen", note, code)
    ctx.svc.repo.save_case(case)


# --- buttons -----------------------------------------------------------------------------


def press_accept(ctx: Context, cb: callbacks.Callback) -> None:
    """Accept from the staff card with the default class and deadline."""
    case = _checked(ctx, cb.int_arg(0))
    if case is None:
        return
    ctx.args = str(case.id)
    ctx.toast(ctx._("Accepted."))
    cmd_accept(ctx)


def press_decline(ctx: Context, cb: callbacks.Callback) -> None:
    """A decline names why the matter is not accepted: the card offers the categories."""
    case = _checked(ctx, cb.int_arg(0))
    if case is None:
        return
    svc = ctx.svc
    pressed = ctx.press.message_id if ctx.press is not None else None
    if ctx.in_staff_chat and pressed is not None and pressed == case.staff_message_id:
        card = notify.staff_card_now(svc, case, declining=True)
        if card is not None:
            svc.post.edit(
                ctx.chat.id, pressed, card.text, keyboard=card.keyboard, priority=Priority.REPLY
            )
            ctx.toast(ctx._("Why is case #{id} not accepted? Pick below.").format(id=case.id))
            return
    ctx.toast(
        ctx._("Send /decline {id} followed by the category and the reason.").format(id=case.id),
        alert=True,
    )


def press_not_accepted(ctx: Context, cb: callbacks.Callback) -> None:
    """Decline from the staff card under the category pressed, with its usual referral."""
    case = _checked(ctx, cb.int_arg(0))
    if case is None:
        return
    categories = ctx.svc.settings.categories
    category = categories.get(str(cb.args[1]))
    if category is None or category.accepted:
        ctx.toast(ctx._("This button is no longer valid."))
        return
    referral = categories.referral(category.referral)
    ctx.toast(ctx._("Declined: {category}.").format(category=category.name(ctx.t)))
    decline(ctx, case, category, referral, "")


def press_card(ctx: Context, cb: callbacks.Callback) -> None:
    """Back from the not-accepted categories to the card's buttons."""
    case = ctx.svc.repo.get_case(cb.int_arg(0))
    if case is None:
        ctx.toast(ctx._("This case no longer exists."))
        return
    if not rights.may_manage(ctx, case.building_id):
        ctx.toast(
            ctx._(
                "Only the building's heads and community staff can do that for case #{id}."
            ).format(id=case.id),
            alert=True,
        )
        return
    ctx.toast(ctx._("Case #{id}").format(id=case.id))
    notify.refresh_staff_card(ctx.svc, case, priority=Priority.REPLY)


def press_category(ctx: Context, cb: callbacks.Callback) -> None:
    """Set the case's category from the row on its staff card: a toast and the card."""
    case = _checked(ctx, cb.int_arg(0))
    if case is None:
        return
    category = ctx.svc.settings.categories.get(str(cb.args[1]))
    if category is None or not category.accepted:
        ctx.toast(ctx._("This button is no longer valid."))
        return
    if case.state is State.DECLINED:
        ctx.toast(
            ctx._("Case #{id} is declined: it keeps the category it was declined under.").format(
                id=case.id
            ),
            alert=True,
        )
        return
    ctx.toast(ctx._("Case #{id}: {category}").format(id=case.id, category=category.name(ctx.t)))
    if _set_category(ctx, case, category):
        ctx.svc.repo.save_case(case)
    pressed = ctx.press is not None and ctx.press.message_id == case.staff_message_id
    priority = Priority.REPLY if pressed else Priority.REFRESH
    notify.refresh_staff_card(ctx.svc, case, priority=priority)


def cmd_category(ctx: Context) -> None:
    """Set or correct a case's category; alone, list the categories and referrals."""
    token, rest = _split(ctx.args)
    if not token:
        if not rights.could_manage(ctx):
            ctx.reply(ctx._(MANAGERS_ONLY))
            return
        ctx.reply(_category_help(ctx))
        return
    case = load_case(ctx, token)
    if case is None:
        return
    declined = case.state is State.DECLINED
    word = rest.strip()
    category = ctx.svc.settings.categories.find(word, _languages(ctx)) if word else None
    if category is None or category.accepted is declined:
        listed = _category_list(ctx, accepted=not declined)
        problem = (
            ctx._("Case #{id} is declined; it takes a category not accepted: {categories}.")
            if declined
            else ctx._("Which category? For case #{id}: {categories}.")
        ).format(id=case.id, categories=listed)
        if word and category is None:
            problem = (
                ctx._("“{word}” is not a category.").format(word=quoted(word)) + "\n" + problem
            )
        ctx.usage(problem)
        return
    if not _set_category(ctx, case, category):
        ctx.reply(
            ctx._("Case #{id} is already in the category {category}.").format(
                id=case.id, category=esc(category.name(ctx.t))
            )
        )
        return
    ctx.svc.repo.save_case(case)
    if notify.card_is_near(ctx, case):
        notify.refresh_staff_card(ctx.svc, case, priority=Priority.REPLY)
        return
    ctx.reply(
        ctx._("🏷 Case #{id}: category {category}.").format(
            id=case.id, category=esc(category.name(ctx.t))
        )
    )
    notify.refresh_staff_card(ctx.svc, case)


# --- the person responsible ------------------------------------------------------------------

# Words for the sender themself after /assign 17.
ME_WORDS = frozenset({"me", "myself", "我", "本人", "自己"})


def _whom(ctx: Context, case: Case, words: str) -> tuple[int, str] | str:
    """The person /assign names (id and name), or what is wrong (a translated problem)."""
    message = ctx.message
    assert message is not None
    typed = words.split()
    first = typed[0] if typed else ""
    if first.lower() in ME_WORDS:
        if ctx.sender is None or message.is_anonymous_admin:
            return ctx._("Anonymous administrators cannot take a case: name the person.")
        return ctx.sender.id, ctx.sender.name
    if message.mentions:
        person = message.mentions[0]
        if person.is_bot:
            return ctx._("A bot cannot be responsible for a case.")
        return person.id, person.name
    if first.startswith("@") and len(first) > 1:
        known = ctx.svc.repo.person_by_username(first[1:])
        if known is None:
            return ctx._(
                "I do not know {name} yet: reply to a message of theirs with /assign, "
                "or ask them to write in their building group first."
            ).format(name=quoted(first))
        return known.id, known.name
    if first:
        return ctx._("“{word}” is not a person: reply to their message, or write @name.").format(
            word=quoted(first)
        )
    quoted_message = message.reply_to
    if quoted_message is not None and quoted_message.sender is not None:
        if quoted_message.sender.is_bot:
            return ctx._("A bot cannot be responsible for a case.")
        return quoted_message.sender.id, quoted_message.sender.name
    return ctx._("Whom? Reply to the person's message with /assign {id}, or write @name.").format(
        id=case.id
    )


def cmd_assign(ctx: Context) -> None:
    """Name the person responsible for a case: they get it privately, and reminders."""
    token, rest = _split(ctx.args)
    case = load_case(ctx, token)
    if case is None:
        return
    whom = _whom(ctx, case, rest)
    if isinstance(whom, str):
        ctx.usage(whom)
        return
    user_id, name = whom
    building = notify.building_label(ctx.svc, case)
    if not rights.manages(ctx, user_id, case.building_id):
        ctx.reply(
            ctx._(
                "{name} is neither a head of {building} nor community staff: "
                "appoint them with /sethead first."
            ).format(name=esc(name), building=esc(building))
        )
        return
    if case.assignee_id == user_id:
        ctx.reply(
            ctx._("{name} is already responsible for case #{id}.").format(
                name=esc(name), id=case.id
            )
        )
        return
    case.assignee_id, case.assignee_name = user_id, name
    _step(ctx, case, "assign", name)
    ctx.svc.repo.save_case(case)
    svc = ctx.svc
    by = _actor(ctx)[1]
    told = user_id != ctx.user_id and notify.tell_privately(
        svc,
        user_id,
        lambda t: (
            t.gettext("📌 You are responsible for case #{id}, named by {name}.").format(
                id=case.id, name=esc(by)
            )
            if by
            else t.gettext("📌 You are responsible for case #{id}.").format(id=case.id)
        ),
        case=case,
    )
    lines = [ctx._("📌 Case #{id}: {name} is responsible now.").format(id=case.id, name=esc(name))]
    if user_id != ctx.user_id and not notify.has_private_chat(svc, user_id):
        # They may never have opened a private chat with the bot: Telegram would not let it
        # write to them. The link opens one on this case.
        lines.append(
            ctx._(
                "{name}, to get the case and its reminders privately, open {link} and press Start."
            ).format(name=esc(name), link=notify.start_link(svc, case))
        )
    elif not told and user_id != ctx.user_id:
        lines.append(
            ctx._(
                "I could not write to {name} privately; the staff chat gets the reminders."
            ).format(name=esc(name))
        )
    if notify.card_is_near(ctx, case) and len(lines) == 1:
        notify.refresh_staff_card(svc, case, priority=Priority.REPLY)
        return
    ctx.reply("\n".join(lines))
    notify.refresh_staff_card(svc, case)


def press_escalate(ctx: Context, cb: callbacks.Callback) -> None:
    """Escalate from the staff card."""
    case = _checked(ctx, cb.int_arg(0))
    if case is None:
        return
    if escalate(ctx, case, code="staff-card"):
        ctx.toast(ctx._("Escalated."))
    else:
        ctx.toast(ctx._("Case #{id} is already at the highest level.").format(id=case.id))


def press_rate(ctx: Context, cb: callbacks.Callback) -> None:
    """Only the reporter's rating counts; "unsatisfied" reopens the case."""
    case = ctx.svc.repo.get_case(cb.int_arg(0))
    rating = callbacks.RATINGS_BY_CODE.get(str(cb.args[1]))
    if case is None or rating is None:
        ctx.toast(ctx._("This case no longer exists."))
        return
    if ctx.user_id is None or ctx.user_id != case.reporter_id:
        ctx.toast(
            ctx._("Only the resident who reported case #{id} can rate it.").format(id=case.id),
            alert=True,
        )
        return
    if case.state not in _rule(ctx).states:
        ctx.toast(ctx._("Case #{id} is not waiting for a rating.").format(id=case.id))
        return
    if case.rating is rating:
        ctx.toast(ctx._("Thank you, your rating is recorded."))
        return
    ctx.toast(ctx._("Thank you, your rating is recorded."))
    if ctx.press is not None and ctx.press.message_id is not None:
        # The question becomes its answer: the buttons go, the rating shows.
        t = ctx.t
        ctx.svc.post.edit(
            ctx.chat.id,
            ctx.press.message_id,
            t.gettext("🔧 Case #{id} is fixed: {measure}").format(
                id=case.id,
                measure=esc(
                    clip(case.measure or "", FIX_CAPTION_MEASURE)
                    if case.fix_photo is not None
                    else case.measure or ""
                ),
            )
            + "\n"
            + t.gettext("Rated: {rating}").format(rating=t.gettext(RATING_LABELS[rating])),
            priority=Priority.REPLY,
        )
    record_rating(ctx, case, rating)


def record_rating(ctx: Context, case: Case, rating: Rating) -> None:
    """Store the resident's satisfaction; "unsatisfied" reopens the case and tells staff."""
    case.rating = rating
    _step(ctx, case, "rate", code=rating.value)
    ctx.svc.repo.save_case(case)
    if rating is Rating.UNSATISFIED:
        reopen(ctx, case, code="not-satisfied")
        _announce(
            ctx,
            case,
            lambda t: t.gettext(
                "🔁 Case #{id} is reopened: the resident is not satisfied with the fix."
            ).format(id=case.id),
        )
        notify.tell_staff(
            ctx.svc,
            lambda t: t.gettext("🔁 Case #{id} reopened: the resident is not satisfied.").format(
                id=case.id
            ),
        )
    else:
        notify.changed(ctx.svc, case)
