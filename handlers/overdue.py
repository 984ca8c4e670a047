"""Chasing cases: a reminder before a deadline, the overdue flag at it, escalation after a
grace period, and a reporter who has not rated a fix asked once more.

What a case waits for has a deadline (`Case.deadline`): the answer while new or reopened,
the promised fix while accepted, the check on site while fixed. The sweep, every
`ECHOWALL_SWEEP_SECONDS`:

- `remind_before` a deadline, tells the person responsible privately; a case nobody answers
  for (or whose person the bot cannot write to) is listed in one notice to the staff chat.
  Never into a building group: a reminder is for those who act, not the residents.
- At the deadline, flags the case overdue once (staff chat, the person responsible).
- `overdue_grace_hours` later, escalates it one level (building, community, street, district).
- `rating_reminder` after a fix, asks a reporter who has not rated once more: privately if
  they have a private chat with the bot, else in the case's thread (not in quiet hours).

Only cases of admitted buildings are chased: a building staff retired (or a group waiting
for admission, or refused) gets no message, and its open cases wait in the ledger. Nothing the
sweep posts into a group names the reporter (`handlers.privacy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handlers import actions, commands, notify
from handlers.core import Context, Services, log
from handlers.incoming import ChatRef
from handlers.render import clip, esc
from handlers.texts import N_, Translator
from storage.records import Case, Priority, State, Step

WAITING = (State.NEW, State.ACCEPTED, State.REOPENED, State.FIXED)
# A fix is asked about once more only within this time after the reminder fell due (a case
# fixed long before this version, or while the bot was down for days, is left alone).
RATING_WINDOW = timedelta(days=3)
# What each state waits for, as a reminder words it.
WAITS_FOR = {
    State.NEW: N_("⏰ Case #{id} ({building}) is to be answered by {time}, in {left}."),
    State.REOPENED: N_("⏰ Case #{id} ({building}) is to be answered by {time}, in {left}."),
    State.ACCEPTED: N_("⏰ Case #{id} ({building}) is promised to be fixed by {time}, in {left}."),
    State.FIXED: N_("⏰ The fix of case #{id} ({building}) is to be checked by {time}, in {left}."),
}


@dataclass
class SweepResult:
    flagged: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)
    reminded: list[int] = field(default_factory=list)  # before their deadline
    asked_to_rate: list[int] = field(default_factory=list)


def _system_context(svc: Services, case: Case) -> Context:
    """A context for changes the bot makes by itself, set in the case's own thread."""
    thread = case.origin_chat_id if case.origin_chat_id is not None else case.building_id
    chat = ChatRef(thread, "private" if thread > 0 else "group")
    return Context(svc, chat, None, svc.texts_for(thread), command=commands.BY_NAME["escalate"])


def _tell_overdue(svc: Services, case: Case) -> None:
    deadline = case.deadline()
    assert deadline is not None
    building = notify.building_label(svc, case)

    def staff_text(t: Translator) -> str:
        return t.gettext("⚠️ Case #{id} ({building}) is overdue: it was due {time}.").format(
            id=case.id, building=esc(building), time=t.datetime(deadline)
        )

    notify.tell_staff(svc, staff_text)
    person = notify.responsible(case)
    if person is not None and notify.may_write_to(svc, person):
        t = svc.texts_for(person)
        text = t.gettext("⚠️ Case #{id} you are responsible for is overdue: it was due {time}.")
        svc.post.send(
            person, text.format(id=case.id, time=t.datetime(deadline)), priority=Priority.ECHO
        )


def _reminder(svc: Services, case: Case, deadline: datetime, t: Translator) -> str:
    return t.gettext(WAITS_FOR[case.state]).format(
        id=case.id,
        building=esc(notify.building_label(svc, case)),
        time=t.datetime(deadline),
        left=t.duration(max(deadline - svc.clock(), timedelta(minutes=1))),
    )


def _remind(svc: Services, due_soon: list[tuple[Case, datetime]]) -> None:
    """Remind the people responsible privately; list the others in one staff notice."""
    for_staff: list[tuple[Case, datetime]] = []
    for case, deadline in due_soon:
        person = notify.responsible(case)
        if person is not None and notify.may_write_to(svc, person):
            t = svc.texts_for(person)
            text = _reminder(svc, case, deadline, t) + "\n" + esc(clip(case.text, 200))
            svc.post.send(person, text, priority=Priority.ECHO)
        else:
            for_staff.append((case, deadline))
    if not for_staff:
        return

    def staff_text(t: Translator) -> str:
        lines = [_reminder(svc, case, deadline, t) for case, deadline in for_staff[:30]]
        if len(for_staff) > 30:
            lines.append(
                t.gettext("… and {n} more due soon: /wall lists them.").format(
                    n=t.number(len(for_staff) - 30)
                )
            )
        return "\n".join(lines)

    notify.tell_staff(svc, staff_text)


def _quiet(svc: Services, now: datetime) -> bool:
    quiet = svc.settings.quiet_hours
    return quiet is not None and quiet.release(now, svc.settings.timezone) is not None


def _ask_again(svc: Services, case: Case) -> None:
    """Ask the reporter once more how the fix was, with the rating buttons: privately, or in
    the thread like every step (where the question names nobody)."""
    assert case.reporter_id is not None
    privately = notify.has_private_chat(svc, case.reporter_id)
    chat = case.reporter_id if privately else notify.thread_of(case)
    t = svc.texts_for(chat)
    fixed = case.fixed_at or case.created
    text = t.gettext(
        "🔔 Case #{id} was fixed on {time}: {measure}\n"
        "We have not heard from you yet: are you satisfied with the fix?"
    ).format(id=case.id, time=t.datetime(fixed), measure=esc(clip(case.measure or "", 500)))
    keyboard = actions.rating_keyboard(case, t)
    if privately:
        svc.post.send(chat, text, priority=Priority.POST, keyboard=keyboard)
    else:
        notify.echo(svc, case, text, keyboard=keyboard, priority=Priority.POST)


def _unrated(svc: Services, case: Case, now: datetime) -> bool:
    """Whether the reporter is to be asked once more now how the fix was."""
    wait = svc.settings.rating_reminder
    if wait is None or case.reporter_id is None or case.rating is not None:
        return False
    if case.state not in (State.FIXED, State.CLOSED) or case.rating_asked is None:
        return False
    if case.rating_reminded is not None:
        return False
    due = case.rating_asked + wait
    return due <= now < due + RATING_WINDOW


def sweep(svc: Services) -> SweepResult:
    """Remind before deadlines, flag newly overdue cases, escalate those overdue longer than
    the grace period, and ask reporters who have not rated once more."""
    now = svc.clock()
    grace = timedelta(hours=svc.settings.overdue_grace_hours)
    before = svc.settings.remind_before
    result = SweepResult()
    due_soon: list[tuple[Case, datetime]] = []
    # A building staff retired, or a group that is not (or no longer) admitted: not chased.
    waiting = [c for c in svc.repo.cases(states=WAITING) if svc.is_building(c.building_id)]
    for case in waiting:
        deadline = case.deadline()
        if deadline is None:
            continue
        if deadline > now:
            if before is not None and deadline - before <= now and case.reminded_for != deadline:
                case.reminded_for = deadline
                svc.repo.save_case(case)
                log.info("case=%s chat=%s action=due-soon", case.id, case.building_id)
                due_soon.append((case, deadline))
                result.reminded.append(case.id)
            continue
        if case.overdue_since is None:
            case.overdue_since = now
            case.timeline.append(Step(now, "overdue"))
            svc.repo.save_case(case)
            log.info("case=%s chat=%s action=overdue", case.id, case.building_id)
            result.flagged.append(case.id)
            _tell_overdue(svc, case)
            notify.changed(svc, case)
        elif now >= case.overdue_since + grace and case.level.next() is not None:
            ctx = _system_context(svc, case)
            if actions.escalate(ctx, case, code="overdue"):
                result.escalated.append(case.id)
    if due_soon:
        _remind(svc, due_soon)
    if svc.settings.rating_reminder is not None and not _quiet(svc, now):
        _ask_to_rate(svc, now, [c for c in waiting if c.state is State.FIXED], result)
    return result


def _ask_to_rate(svc: Services, now: datetime, fixed: list[Case], result: SweepResult) -> None:
    wait = svc.settings.rating_reminder
    assert wait is not None
    # Closed cases whose fix was asked about within the window: they closed since.
    since = now - wait - RATING_WINDOW
    closed = [
        c
        for c in svc.repo.cases_active(since, now + timedelta(days=1))
        if c.state is State.CLOSED and svc.is_building(c.building_id)
    ]
    for case in [*fixed, *closed]:
        if not _unrated(svc, case, now):
            continue
        case.rating_reminded = now
        svc.repo.save_case(case)
        log.info("case=%s chat=%s action=rating-asked-again", case.id, case.building_id)
        _ask_again(svc, case)
        result.asked_to_rate.append(case.id)
