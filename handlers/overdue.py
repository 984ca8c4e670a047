"""Overdue sweeps: flag cases past their deadline once, then escalate them after a grace period."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from handlers import actions, commands, notify
from handlers.core import Context, Services, log
from handlers.events import ChatRef
from handlers.render import esc
from handlers.texts import Translator
from storage.records import Case, Priority, State, Step

WAITING = (State.NEW, State.ACCEPTED, State.REOPENED)


@dataclass
class SweepResult:
    flagged: list[int] = field(default_factory=list)
    escalated: list[int] = field(default_factory=list)


def _system_context(svc: Services, case: Case) -> Context:
    """A context for changes the bot makes by itself, set in the case's own thread."""
    thread = case.origin_chat_id if case.origin_chat_id is not None else case.building_id
    chat = ChatRef(thread, "private" if thread > 0 else "group")
    return Context(svc, chat, None, svc.texts_for(thread), command=commands.BY_NAME["escalate"])


def _assignee(case: Case) -> int | None:
    """Who accepted the case last: they promised the due time."""
    for step in reversed(case.timeline):
        if step.action == "accept":
            return step.actor_id
    return None


def _tell_overdue(svc: Services, case: Case) -> None:
    deadline = case.deadline()
    assert deadline is not None
    building = notify.building_label(svc, case)

    def staff_text(t: Translator) -> str:
        return t.gettext("⚠️ Case #{id} ({building}) is overdue: it was due {time}.").format(
            id=case.id, building=esc(building), time=t.datetime(deadline)
        )

    notify.tell_staff(svc, staff_text)
    assignee = _assignee(case)
    if assignee is not None:
        t = svc.texts_for(assignee)
        text = t.gettext("⚠️ Case #{id} you accepted is overdue: it was due {time}.").format(
            id=case.id, time=t.datetime(deadline)
        )
        svc.post.send(assignee, text, priority=Priority.ECHO)


def sweep(svc: Services) -> SweepResult:
    """Flag newly overdue cases and escalate those overdue longer than the grace period."""
    now = svc.clock()
    grace = timedelta(hours=svc.settings.overdue_grace_hours)
    result = SweepResult()
    for case in svc.repo.cases(states=WAITING):
        deadline = case.deadline()
        if deadline is None or deadline > now:
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
    return result
