"""Case actions by heads and staff, the staff chat's buttons, and the reporter's rating."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from handlers import callbacks, notify, rights
from handlers.callbacks import Act
from handlers.core import Context, log
from handlers.parsing import BadTime, parse_case_id, parse_when
from handlers.ports import Button, Keyboard
from handlers.render import (
    CHANNEL_LABELS,
    CLASS_LABELS,
    LEVEL_LABELS,
    RATING_LABELS,
    STATE_LABELS,
    clip,
    esc,
)
from handlers.texts import N_, Translator
from storage.records import Case, CaseClass, Priority, Rating, State, Step

ANSWERABLE = frozenset({State.NEW, State.REOPENED})
WORKABLE = frozenset({State.NEW, State.ACCEPTED, State.REOPENED})
NOTE_LIMIT = 1000


@dataclass(frozen=True)
class Action:
    """A case action: which states it applies to and whether it needs a note."""

    name: str
    allowed: frozenset[State]
    needs_note: bool
    usage: str


ACTIONS = {
    "accept": Action(
        "accept", ANSWERABLE, False, N_("/accept <id> [easy|key|hard] [12h|2d|YYYY-MM-DD HH:MM]")
    ),
    "progress": Action("progress", WORKABLE, True, N_("/progress <id> <what was done>")),
    "fixed": Action("fixed", WORKABLE, True, N_("/fixed <id> <the measure taken>")),
    "confirm": Action("confirm", frozenset({State.FIXED}), False, N_("/confirm <id>")),
    "decline": Action("decline", ANSWERABLE, True, N_("/decline <id> <reason>")),
    "escalate": Action("escalate", WORKABLE, True, N_("/escalate <id> <note>")),
    "reopen": Action(
        "reopen",
        frozenset({State.FIXED, State.CLOSED, State.DECLINED}),
        True,
        N_("/reopen <id> <note>"),
    ),
}


def _refuse(ctx: Context, text: str) -> None:
    """Say no where the request came from: a reply to a command, an alert on a button."""
    if ctx.press is not None:
        ctx.toast(text, alert=True)
    else:
        ctx.reply(text)


def _checked(ctx: Context, action: Action, case_id: int) -> Case | None:
    """Find the case and check the sender's rights and the case's state."""
    case = ctx.svc.repo.get_case(case_id)
    if case is None:
        _refuse(ctx, ctx._("There is no case #{id}.").format(id=case_id))
        return None
    if not rights.may_manage(ctx, case.building_id):
        _refuse(
            ctx,
            ctx._(
                "Only the building's heads and community staff can do that for case #{id}."
            ).format(id=case.id),
        )
        return None
    if case.state not in action.allowed:
        _refuse(
            ctx,
            ctx._("Case #{id} is {state}; that action does not apply now.").format(
                id=case.id, state=ctx._(STATE_LABELS[case.state])
            ),
        )
        return None
    return case


def load_case(ctx: Context, action: Action, case_token: str) -> Case | None:
    """Read the case number typed after a command, then check it."""
    case_id = parse_case_id(case_token)
    if case_id is None:
        ctx.reply(ctx._("Usage: {usage}").format(usage=esc(ctx._(action.usage))))
        return None
    return _checked(ctx, action, case_id)


def _actor(ctx: Context) -> tuple[int | None, str]:
    if ctx.message is not None and ctx.message.is_anonymous_admin:
        return None, ctx.chat.title or ""
    return ctx.user_id, ctx.sender.name if ctx.sender else ""


def _step(ctx: Context, case: Case, action: str, note: str = "") -> None:
    if action in ("accept", "decline", "fixed", "escalate", "reopen", "confirm"):
        case.overdue_since = None  # a new deadline, or none: the overdue flag is answered
    actor_id, actor_name = _actor(ctx)
    case.timeline.append(Step(ctx.svc.clock(), action, actor_id, actor_name, note))
    log.info("case=%s chat=%s action=%s actor=%s", case.id, ctx.chat.id, action, actor_id)


def _announce(
    ctx: Context,
    case: Case,
    render: Callable[[Translator], str],
    keyboard_for: Callable[[Translator], Keyboard] | None = None,
) -> None:
    """Echo the change into the case's thread, and confirm it where the action was taken.

    One message where it can be: typed in the thread, the echo is the answer; pressed on
    the staff card, the toast answers and the card is edited; typed in the staff chat just
    below the card, the edited card is the answer; anywhere else a short confirmation.
    """
    svc = ctx.svc
    thread_chat = notify.thread_of(case)
    t = svc.texts_for(thread_chat)
    in_thread = ctx.message is not None and ctx.chat.id == thread_chat
    notify.echo(
        svc,
        case,
        render(t),
        keyboard=keyboard_for(t) if keyboard_for else None,
        priority=Priority.REPLY if in_thread else Priority.ECHO,
    )
    pressed_card = (
        ctx.press is not None
        and ctx.press.message_id is not None
        and ctx.press.message_id == case.staff_message_id
    )
    if pressed_card or notify.card_is_near(ctx, case):
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


def cmd_accept(ctx: Context) -> None:
    """Accept a case, optionally with its class and a promised time."""
    token, rest = _split(ctx.args)
    action = ACTIONS["accept"]
    tokens = rest.split()
    klass = ctx.svc.settings.default_class
    if tokens and tokens[0].lower() in {c.value for c in CaseClass}:
        klass = CaseClass(tokens.pop(0).lower())
    now = ctx.svc.clock()
    due: datetime | None = None
    if tokens:
        try:
            due, used = parse_when(tokens, now, ctx.svc.settings.timezone)
        except BadTime:
            ctx.reply(ctx._("Usage: {usage}").format(usage=esc(ctx._(action.usage))))
            return
        if used != len(tokens):
            ctx.reply(ctx._("Usage: {usage}").format(usage=esc(ctx._(action.usage))))
            return
        if due <= now:
            ctx.reply(ctx._("The promised time must be in the future."))
            return
    case = load_case(ctx, action, token)
    if case is None:
        return
    case.klass = klass
    case.due = due or ctx.svc.settings.class_due(klass, now)
    case.state = State.ACCEPTED
    case.answered_at = case.answered_at or now
    _step(ctx, case, "accept", ctx._(CLASS_LABELS[klass]))
    ctx.svc.repo.save_case(case)
    _announce(
        ctx,
        case,
        lambda t: t.gettext("🛠 Case #{id} is accepted as a {klass}; promised by {time}.").format(
            id=case.id,
            klass=t.gettext(CLASS_LABELS[klass]),
            time=t.datetime(case.due),  # type: ignore[arg-type]
        ),
    )


def _noted(ctx: Context, name: str) -> tuple[Case, str] | None:
    action = ACTIONS[name]
    token, note = _split(ctx.args)
    if action.needs_note and not note:
        ctx.reply(ctx._("Usage: {usage}").format(usage=esc(ctx._(action.usage))))
        return None
    if len(note) > NOTE_LIMIT:
        ctx.reply(
            ctx._("That note is too long: please keep it under {limit} characters.").format(
                limit=ctx.t.number(NOTE_LIMIT)
            )
        )
        return None
    case = load_case(ctx, action, token)
    return (case, note) if case is not None else None


def cmd_progress(ctx: Context) -> None:
    """Tell the resident what has been done so far."""
    found = _noted(ctx, "progress")
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
    found = _noted(ctx, "fixed")
    if found is None:
        return
    case, measure = found
    now = ctx.svc.clock()
    case.answered_at = case.answered_at or now
    case.state, case.measure, case.fixed_at, case.rating = State.FIXED, measure, now, None
    _step(ctx, case, "fixed", measure)
    ctx.svc.repo.save_case(case)

    def render(t: Translator) -> str:
        text = t.gettext("🔧 Case #{id} is fixed: {measure}").format(
            id=case.id, measure=esc(measure)
        )
        if case.reporter_id is not None:
            text += "\n" + t.gettext("Reporter, are you satisfied with the fix?")
        return text

    _announce(
        ctx,
        case,
        render,
        keyboard_for=(lambda t: rating_keyboard(case, t)) if case.reporter_id is not None else None,
    )


def cmd_confirm(ctx: Context) -> None:
    """Close a fixed case after the on-site check and post it to the echo wall."""
    found = _noted(ctx, "confirm")
    if found is None:
        return
    case, note = found
    case.state, case.closed_at = State.CLOSED, ctx.svc.clock()
    _step(ctx, case, "confirm", note)
    ctx.svc.repo.save_case(case)
    _announce(ctx, case, lambda t: echo_entry(ctx, case, t))


def echo_entry(ctx: Context, case: Case, t: Translator) -> str:
    """The echo-wall entry: source · content · measure · progress · satisfaction."""
    _ = t.gettext
    source = notify.building_label(ctx.svc, case) + " · " + _(CHANNEL_LABELS[case.channel])
    rating = _(RATING_LABELS[case.rating]) if case.rating else _("not rated yet")
    return "\n".join(
        [
            _("📣 <b>Echo wall · case #{id} closed</b>").format(id=case.id),
            _("Source: {source}").format(source=esc(source)),
            _("Problem: {text}").format(text=esc(clip(case.text, 800))),
            _("Measure: {measure}").format(measure=esc(clip(case.measure or "", 800))),
            _("Progress: closed {time}").format(time=t.datetime(case.closed_at or case.created)),
            _("Satisfaction: {rating}").format(rating=rating),
        ]
    )


def cmd_decline(ctx: Context) -> None:
    """Decline a case with a reason the resident can read."""
    found = _noted(ctx, "decline")
    if found is None:
        return
    case, reason = found
    now = ctx.svc.clock()
    case.state, case.answered_at, case.closed_at = State.DECLINED, case.answered_at or now, now
    _step(ctx, case, "decline", reason)
    ctx.svc.repo.save_case(case)
    _announce(
        ctx,
        case,
        lambda t: t.gettext("🚫 Case #{id} is declined: {reason}").format(
            id=case.id, reason=esc(reason)
        ),
    )


def escalate(ctx: Context, case: Case, note: str) -> bool:
    """Raise a case one level with a new due time; False at the top level."""
    higher = case.level.next()
    if higher is None:
        return False
    now = ctx.svc.clock()
    case.level = higher
    case.due = ctx.svc.settings.class_due(case.klass or ctx.svc.settings.default_class, now)
    _step(ctx, case, "escalate", note)
    ctx.svc.repo.save_case(case)
    _announce(
        ctx,
        case,
        lambda t: t.gettext(
            "⬆️ Case #{id} is escalated to the {level} level; promised by {time}."
        ).format(id=case.id, level=t.gettext(LEVEL_LABELS[higher]), time=t.datetime(case.due)),  # type: ignore[arg-type]
    )
    notify.tell_escalation_chat(ctx.svc, case, note)
    return True


def cmd_escalate(ctx: Context) -> None:
    """Raise a case to the next level (community, street office, district)."""
    found = _noted(ctx, "escalate")
    if found is None:
        return
    case, note = found
    if not escalate(ctx, case, note):
        ctx.reply(ctx._("Case #{id} is already at the highest level.").format(id=case.id))


def cmd_reopen(ctx: Context) -> None:
    """Reopen a fixed, closed or declined case."""
    found = _noted(ctx, "reopen")
    if found is None:
        return
    case, note = found
    reopen(ctx, case, note)
    _announce(
        ctx,
        case,
        lambda t: t.gettext("🔁 Case #{id} is reopened: {note}").format(id=case.id, note=esc(note)),
    )


def reopen(ctx: Context, case: Case, note: str) -> None:
    case.state, case.closed_at, case.fixed_at = State.REOPENED, None, None
    # A new answer window from now, as long as the first one (not the time since the report).
    case.answer_due = ctx.svc.clock() + timedelta(hours=ctx.svc.settings.answer_hours)
    _step(ctx, case, "reopen", note)
    ctx.svc.repo.save_case(case)


# --- buttons -----------------------------------------------------------------------------


def _press_case(ctx: Context, cb: callbacks.Callback, action: Action) -> Case | None:
    return _checked(ctx, action, cb.int_arg(0))


def press_accept(ctx: Context, cb: callbacks.Callback) -> None:
    """Accept from the staff card with the default class and deadline."""
    case = _press_case(ctx, cb, ACTIONS["accept"])
    if case is None:
        return
    ctx.args = str(case.id)
    ctx.toast(ctx._("Accepted."))
    cmd_accept(ctx)


def press_decline(ctx: Context, cb: callbacks.Callback) -> None:
    """A decline needs a reason the resident can read: explain how to give it."""
    case = _press_case(ctx, cb, ACTIONS["decline"])
    if case is None:
        return
    ctx.toast(ctx._("Send /decline {id} followed by the reason.").format(id=case.id), alert=True)


def press_escalate(ctx: Context, cb: callbacks.Callback) -> None:
    """Escalate from the staff card."""
    case = _press_case(ctx, cb, ACTIONS["escalate"])
    if case is None:
        return
    if escalate(ctx, case, ctx._("escalated from the staff chat")):
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
    if case.state not in (State.FIXED, State.CLOSED):
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
                id=case.id, measure=esc(case.measure or "")
            )
            + "\n"
            + t.gettext("Rated: {rating}").format(rating=t.gettext(RATING_LABELS[rating])),
            priority=Priority.REPLY,
        )
    record_rating(ctx, case, rating)


def record_rating(ctx: Context, case: Case, rating: Rating) -> None:
    """Store the resident's satisfaction; "unsatisfied" reopens the case and tells staff."""
    case.rating = rating
    _step(ctx, case, "rate", ctx._(RATING_LABELS[rating]))
    ctx.svc.repo.save_case(case)
    if rating is Rating.UNSATISFIED:
        reopen(ctx, case, ctx._("the resident is not satisfied"))
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
