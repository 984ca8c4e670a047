"""The residents' forum (小板凳座谈会): opinions logged against it, its tally in the staff chat,
the agenda for the next one, and the minutes reminder.

An opinion is a case with channel `forum` that records the forum it was given at: the event
and the occurrence (`Case.forum_id`, `Case.forum_at`). `/opinion` (heads and staff) logs one
against the latest forum of the building — or the one named, `E3` — and `当场答复：…` (or
`answered: …`) after it records the answer given there: the case is closed at once as
answered on the spot (当场答复), in the same step. `/log <building> forum …` links the same way
when a forum was held in the last three days.

After a forum (`FORUM_LENGTH` after its start) the staff chat gets one message: the forum's
tally in the form communities publish ("386 opinions collected: 308 answered on the spot, 76
solved through coordination, 2 still in progress"), and the agenda for the next forum (the
open cases of its buildings, most supported first, difficult ones first at equal support). It
is a view (`forum:3:202612011100`), edited whenever one of its opinions changes. A day after
the forum, whoever planned it is reminded to log what remains.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from handlers import actions, calendar, callbacks, intake, notify, report, rights
from handlers.core import Context, Services, log
from handlers.courier import Rendered
from handlers.intake import find_building
from handlers.parsing import quoted
from handlers.render import CLASS_LABELS, clip, esc
from handlers.rights import MANAGERS_ONLY
from handlers.texts import N_, Translator
from storage.records import (
    OPEN_STATES,
    CalendarEvent,
    Case,
    CaseClass,
    Channel,
    Contact,
    EventKind,
    Group,
    Priority,
    State,
    Step,
)

# A forum is taken to last this long: its tally goes out then.
FORUM_LENGTH = timedelta(hours=2)
# Opinions are logged against a forum that started at most this long ago (or is about to).
LOOKBACK = timedelta(days=3)
EARLY = timedelta(minutes=30)
# Whoever planned the forum is reminded to log what remains this long after it started.
MINUTES_AFTER = timedelta(days=1)
# The agenda lists at most this many cases.
AGENDA_LIMIT = 10
# Typed after an opinion: the answer given on the spot (当场答复：已报修).
_ON_SPOT = re.compile(r"\s*(?:当场答复|当场回复|answered on the spot|answered)\s*[:：]\s*", re.I)
_EVENT = re.compile(r"[Ee](\d{1,9})")


def occurrence_key(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y%m%d%H%M")


def _forums(svc: Services) -> list[CalendarEvent]:
    return [e for e in svc.repo.events() if e.kind is EventKind.FORUM]


def latest(
    svc: Services, now: datetime, *, building_id: int | None, event: CalendarEvent | None = None
) -> tuple[CalendarEvent, datetime] | None:
    """The latest forum (of the building, or the one given) that has begun — or begins within
    half an hour — and began at most three days ago (a named one: thirty days)."""
    window = timedelta(days=30) if event is not None else LOOKBACK
    best: tuple[CalendarEvent, datetime] | None = None
    for candidate in [event] if event is not None else _forums(svc):
        if building_id is not None and building_id not in candidate.groups:
            continue
        for when in calendar.occurrences(svc, candidate, now - window, now + EARLY):
            if best is None or when > best[1]:
                best = (candidate, when)
    return best


def split_answer(text: str) -> tuple[str, str | None]:
    """The opinion and, after 当场答复：, the answer given on the spot."""
    parts = _ON_SPOT.split(text, maxsplit=1)
    if len(parts) == 1:
        return text.strip(), None
    return parts[0].strip(), parts[1].strip()


def log_opinion(
    ctx: Context,
    building: Group,
    text: str,
    forum: tuple[CalendarEvent, datetime] | None,
    *,
    contact: Contact | None = None,
) -> Case | None:
    """Register a forum opinion (linked to the forum when one is given); with an answer after
    `当场答复：` (or `answered:`) it is closed at once as answered on the spot. None when the
    text is wrong (answered with what is wrong). `contact`: the resident's name, flat and
    phone, as `/log` takes them (staff only)."""
    opinion, answer = split_answer(text)
    if not opinion:
        ctx.usage(ctx._("The opinion is missing."))
        return None
    if answer == "":
        ctx.usage(ctx._("What was answered on the spot? Write it after “answered:”."))
        return None
    if not report.short_enough(ctx, opinion) or not report.short_enough(ctx, answer or ""):
        return None
    svc = ctx.svc
    now = svc.clock()
    logged_by = ctx.sender.name if ctx.sender else None
    # Like any offline demand, staff decide when the building is shown it. Answered there, in
    # person, it gets no staff card: it is in the forum's tally and the ledger.
    case = report.create_case(
        ctx,
        building_id=building.chat_id,
        channel=Channel.FORUM,
        text=opinion,
        photo=None,
        reporter=None,
        origin=None,
        logged_by=logged_by,
        forum=forum,
        contact=contact,
        announce=answer is None,
        published=False,
    )
    if answer is None:
        return case
    case.state, case.klass, case.on_spot = State.CLOSED, CaseClass.EASY, True
    case.answered_at = case.fixed_at = case.closed_at = now
    case.measure = answer
    actor = ctx.sender.name if ctx.sender else ""
    case.timeline.append(Step(now, "onspot", ctx.user_id, actor, answer))
    svc.repo.save_case(case)
    notify.refresh_forum(svc, case)
    return case


def _event_ref(svc: Services, token: str) -> CalendarEvent | str | None:
    """The forum a token names (`E3`), None if it names none, or the problem as a msgid."""
    found = _EVENT.fullmatch(token)
    if found is None:
        return None
    event = svc.repo.get_event(int(found[1]))
    if event is None or event.cancelled is not None:
        return N_("There is no event {ref}.")
    if event.kind is not EventKind.FORUM:
        return N_("Event {ref} is no residents' forum (#forum).")
    return event


def cmd_opinion(ctx: Context) -> None:
    """Log an opinion given at a residents' forum, answered on the spot or to follow up."""
    if not rights.could_manage(ctx):
        ctx.reply(ctx._(MANAGERS_ONLY))
        return
    taken = intake.take_contact(ctx)  # the resident's contact details, as /log takes them
    if taken is None:
        return
    args, contact = taken
    svc = ctx.svc
    words = args.split(maxsplit=1)
    event: CalendarEvent | None = None
    if words:
        found = _event_ref(svc, words[0])
        if isinstance(found, str):
            ctx.usage(ctx._(found).format(ref=esc(words[0])))
            return
        if found is not None:
            event, words = found, words[1].split(maxsplit=1) if len(words) > 1 else []
    rest = " ".join(words)
    building: Group | None = None
    if ctx.group is not None and svc.is_building(ctx.group.chat_id):
        building = ctx.group
    elif event is not None and len(event.groups) == 1:
        building = svc.repo.get_group(event.groups[0])
    elif words:
        token, _, rest = rest.partition(" ")
        named = find_building(ctx, token)
        if not isinstance(named, Group):
            ctx.usage(ctx._("“{name}” is not one building.").format(name=quoted(token)))
            return
        building = named
    if building is None:
        ctx.usage(ctx._("Which building? Write its name before the opinion."))
        return
    if not rights.may_manage(ctx, building.chat_id):
        ctx.reply(ctx._(MANAGERS_ONLY))
        return
    if event is not None and building.chat_id not in event.groups:
        ctx.usage(
            ctx._("Forum E{id} is not held for {building}.").format(
                id=event.id, building=esc(building.label)
            )
        )
        return
    forum = latest(svc, svc.clock(), building_id=building.chat_id, event=event)
    if forum is None:
        ctx.usage(
            ctx._(
                "No residents' forum of {building} in the last three days: plan one with "
                "/event … #forum, or name it: /opinion E3 …"
            ).format(building=esc(building.label))
        )
        return
    case = log_opinion(ctx, building, rest.strip(), forum, contact=contact)
    if case is None:
        return
    # The contact details only in a private chat with staff (never in a group).
    details = "\n" + intake.contact_text(ctx.t, contact) if contact and ctx.chat.is_private else ""
    if case.on_spot:
        ctx.reply(
            ctx._("🪑 Opinion #{id} of forum E{event}: answered on the spot.").format(
                id=case.id, event=forum[0].id
            )
            + details
        )
    elif not ctx.in_staff_chat:  # there, its staff card is the answer
        ctx.reply(
            ctx._("🪑 Opinion #{id} of forum E{event} is logged for {building}.").format(
                id=case.id, event=forum[0].id, building=esc(building.label)
            )
            + details
        )


# --- answered on the spot, from the staff card -----------------------------------------------


ON_SPOT_MEASURE = N_("Answered on the spot at the residents' forum.")


def press_on_spot(ctx: Context, cb: callbacks.Callback) -> None:
    """ "✅ Answered on the spot" on a forum opinion's staff card: closed in one press; its
    thread gets the echo-wall entry, the forum's tally follows."""
    case = actions._checked(ctx, cb.int_arg(0))
    if case is None:
        return
    if case.forum_id is None:
        ctx.toast(ctx._("This button is no longer valid."))
        return
    now = ctx.svc.clock()
    case.state, case.on_spot = State.CLOSED, True
    case.klass = case.klass or CaseClass.EASY
    case.answered_at = case.answered_at or now
    case.fixed_at = case.closed_at = now
    case.measure = case.measure or ctx._(ON_SPOT_MEASURE)
    case.overdue_since = None
    actions._step(ctx, case, "onspot")
    ctx.svc.repo.save_case(case)
    ctx.toast(ctx._("Case #{id}: answered on the spot.").format(id=case.id))
    actions._announce(ctx, case, lambda t: actions.echo_entry(ctx, case, t))


# --- the tally and the agenda -------------------------------------------------------------------


@dataclass
class Tally:
    collected: int = 0
    on_spot: int = 0
    resolved: int = 0  # closed after coordination
    coordinating: int = 0  # accepted, fixed, reopened
    pending: int = 0  # not answered yet
    declined: int = 0

    @property
    def in_progress(self) -> int:
        return self.coordinating + self.pending


def opinions(svc: Services, event: CalendarEvent, when: datetime) -> list[Case]:
    """The opinions logged against one occurrence of a forum (merged duplicates aside)."""
    return [
        c
        for c in svc.repo.cases_received(when - EARLY, None)
        if c.forum_id == event.id
        and c.forum_at is not None
        and c.forum_at == when
        and c.state is not State.MERGED
    ]


def tally(cases: list[Case]) -> Tally:
    counts = Tally()
    for case in cases:
        counts.collected += 1
        if case.on_spot and case.state is State.CLOSED:
            counts.on_spot += 1
        elif case.state is State.CLOSED:
            counts.resolved += 1
        elif case.state is State.DECLINED:
            counts.declined += 1
        elif case.state is State.NEW:
            counts.pending += 1
        else:
            counts.coordinating += 1
    return counts


def tally_lines(svc: Services, t: Translator, event: CalendarEvent, when: datetime) -> list[str]:
    _ = t.gettext
    n = t.number
    counts = tally(opinions(svc, event, when))
    buildings = ", ".join(
        esc(g.label) for b in event.groups if (g := svc.repo.get_group(b)) is not None
    )
    lines = [
        _("🪑 <b>{title}</b> · {time} · {buildings}").format(
            title=esc(clip(event.title, 100)), time=t.datetime(when), buildings=clip(buildings, 300)
        ),
        t.ngettext(
            "{n} opinion collected: {spot} answered on the spot, {resolved} solved through "
            "coordination, {open} still in progress.",
            "{n} opinions collected: {spot} answered on the spot, {resolved} solved through "
            "coordination, {open} still in progress.",
            counts.collected,
        ).format(
            n=n(counts.collected),
            spot=n(counts.on_spot),
            resolved=n(counts.resolved),
            open=n(counts.in_progress),
        ),
    ]
    if counts.in_progress:
        lines.append(
            _("In progress: {coordinating} in coordination, {pending} awaiting an answer.").format(
                coordinating=n(counts.coordinating), pending=n(counts.pending)
            )
        )
    if counts.declined:
        lines.append(_("Not accepted, with where to turn: {n}.").format(n=n(counts.declined)))
    if not counts.collected:
        lines.append(
            esc(
                _("No opinion is logged yet: /opinion E{id} <opinion> [answered: <answer>].")
            ).format(id=event.id)
        )
    return lines


def agenda(svc: Services, event: CalendarEvent) -> list[Case]:
    """The open cases of the forum's buildings, most supported first; at equal support,
    difficult cases first, then the oldest."""
    cases = [c for b in event.groups for c in svc.repo.cases(building_id=b, states=OPEN_STATES)]
    cases.sort(key=lambda c: (-len(c.supporters), c.klass is not CaseClass.HARD, c.id))
    return cases


def agenda_lines(svc: Services, t: Translator, event: CalendarEvent) -> list[str]:
    _ = t.gettext
    cases = agenda(svc, event)
    if not cases:
        return [_("📋 <b>Agenda for the next forum</b>: no open case. 🎉")]
    lines = [
        t.ngettext(
            "📋 <b>Agenda for the next forum</b>: {n} open case",
            "📋 <b>Agenda for the next forum</b>: {n} open cases",
            len(cases),
        ).format(n=t.number(len(cases)))
    ]
    many = len(event.groups) > 1
    for case in cases[:AGENDA_LIMIT]:
        parts = [f"#{case.id}"]
        if many:
            parts.append(esc(notify.building_label(svc, case)))
        if case.klass is CaseClass.HARD:
            parts.append(_(CLASS_LABELS[CaseClass.HARD]))
        if case.supporters:
            parts.append(f"👥{t.number(len(case.supporters))}")
        lines.append("• " + " · ".join(parts) + " " + esc(clip(case.text, 80)))
    if len(cases) > AGENDA_LIMIT:
        lines.append(
            _("… and {n} more: /wall lists them all.").format(n=t.number(len(cases) - AGENDA_LIMIT))
        )
    return lines


def _parse_view(svc: Services, argument: str) -> tuple[CalendarEvent, datetime] | None:
    event_id, _, key = argument.partition(":")
    if not event_id.isdigit():
        return None
    event = svc.repo.get_event(int(event_id))
    try:
        when = datetime.strptime(key, "%Y%m%d%H%M").replace(tzinfo=UTC)
    except ValueError:
        return None
    return (event, when) if event is not None else None


async def view_forum(svc: Services, argument: str, chat_id: int) -> Rendered | None:
    """The tally of forum `3:202612011100` and the agenda for the next, as they are now."""
    found = _parse_view(svc, argument)
    if found is None:
        return None
    event, when = found
    t = svc.texts_for(chat_id)
    text = "\n".join([*tally_lines(svc, t, event, when), "", *agenda_lines(svc, t, event)])
    return Rendered(text, None, event.tallies.get(occurrence_key(when)))


def bind_forum(svc: Services, argument: str, message_id: int) -> None:
    found = _parse_view(svc, argument)
    if found is None:
        return
    event, when = found
    event.tallies[occurrence_key(when)] = message_id
    svc.repo.save_event(event)


# --- after the forum: the tally goes out, the organiser is reminded --------------------------


@dataclass
class ForumSweep:
    tallied: list[str] = field(default_factory=list)
    reminded: list[str] = field(default_factory=list)


def sweep(svc: Services) -> ForumSweep:
    """Post the tally of each forum that ended, remind the organiser a day after."""
    now = svc.clock()
    result = ForumSweep()
    staff = svc.settings.staff_chat
    for event in _forums(svc):
        changed = False
        for when in calendar.occurrences(svc, event, now - LOOKBACK, now):
            key = occurrence_key(when)
            if staff is not None and when + FORUM_LENGTH <= now and key not in event.tallied:
                event.tallied.append(key)
                changed = True
                svc.post.view(
                    staff,
                    notify.forum_view(event.id, when),
                    priority=Priority.ECHO,
                    bind=notify.forum_view(event.id, when),
                )
                result.tallied.append(f"{event.id}:{key}")
            if when + MINUTES_AFTER <= now and key not in event.minuted:
                event.minuted.append(key)
                changed = True
                _remind_minutes(svc, event, when)
                result.reminded.append(f"{event.id}:{key}")
        if changed:
            svc.repo.save_event(event)
    if result.tallied or result.reminded:
        log.info("action=forum-sweep tallied=%s reminded=%s", result.tallied, result.reminded)
    return result


def _remind_minutes(svc: Services, event: CalendarEvent, when: datetime) -> None:
    """Remind whoever planned the forum to log what remains (privately, else staff)."""
    counts = tally(opinions(svc, event, when))

    def text_for(t: Translator) -> str:
        lines = [
            t.gettext("🪑 Minutes of the forum “{title}” ({time}):").format(
                title=esc(clip(event.title, 100)), time=t.datetime(when)
            ),
            t.ngettext(
                "{n} opinion is logged, {open} still in progress.",
                "{n} opinions are logged, {open} still in progress.",
                counts.collected,
            ).format(n=t.number(counts.collected), open=t.number(counts.in_progress)),
            esc(
                t.gettext(
                    "Please log what remains: /opinion E{id} <opinion>, and “answered: <answer>” "
                    "after one that was answered there."
                )
            ).format(id=event.id),
        ]
        return "\n".join(lines)

    organiser = event.created_by
    if organiser is not None and notify.tell_privately(svc, organiser, text_for):
        return
    notify.tell_staff(svc, text_for)
