"""Personal data: the retention sweep, `/forgetme`, and what each keeps.

A case is the community's record and its figures; the people in it are residents who may be
forgotten. Two things remove them, with the same effect on a case:

- **Retention.** `ECHOWALL_RETENTION_MONTHS` (24) after a case was closed or declined, the
  sweep (a job of the runtime, one transaction per run, `sweep`) removes every resident's name,
  Telegram id and contact details from it: the reporter, the name, flat and phone staff took
  down offline, the neighbours who pressed "me too" (still counted), and who took the
  residents' steps (reporting it, "me too", rating the fix). What came with the report goes
  with its reporter: the photos' Telegram file_ids (their number stays for the ledger), a voice
  message or video, the map pin and the flat; the entrance and floor stay (where in the
  building the problem is, like the text), and so does the fix's photo (staff's). One-off
  events that long past keep their sign-up counts without the names. The same sweep prunes the
  outbox: broadcasts that ended more than `ECHOWALL_OUTBOX_RETENTION_DAYS` (90) ago go with
  their delivery records, except an event's post while the event is still ahead or weekly (its
  reminders reply to it).
- **`/forgetme`.** A resident asks, in a private chat, and confirms with a button. Everything
  the bot keeps of that person goes: their name and id on the cases they reported (and the
  contact details staff took for them, and what came with the report as under retention; a
  private report's thread moves to its building, so they hear no more of it; a report merged
  into another case is one they reported, and they are among that case's supporters), on their
  "me too"s and on the steps they took as a resident; their sign-ups (withdrawn from events
  still ahead, where the waitlist moves up; kept as anonymous counts on past ones); the
  reminders they set in their private chat; their record (name, language, the buildings the bot
  saw them in) and their reports still waiting for a building.

An opinion staff log for a resident at a residents' forum (`/opinion`, `/log … forum`) is an
offline demand like any other `/log`: it has no reporter, the resident's name, flat and phone
only as staff took them down (for staff only), which the retention sweep removes as for
`/log`; who logged it stays, a step taken as staff.

What stays: the cases, their texts, measures, steps and figures (the anonymous record); steps
someone took as a building head or staff member, and the person responsible for a case (named
with /assign, who must be a head or staff: the community's record of who handled what; a head
stays a head until removed with /unsethead); messages in Telegram itself, which the bot
cannot delete (it edits its own acknowledgement and staff card so they name nobody). If the
person writes in a building group again, the bot notes that building again, as for everyone.
The person's record goes whole, @username and whether they may be written to privately
included: a head or staff member who asks is still found by @username for /assign once the
bot sees them again. Stored roles stay, as a head's does: an admin by the set-up link keeps a
record of their id and that role alone; a staff or escalation chat is a group's role, not a
person's. A case's flag that its reporter asked not to be named stays with it (a fact about
how it was reported, not about who: with the reporter gone it names nobody anyway), and so do
the names on a group's admission (who added the bot, who admitted it): the community's record
of an official act, like steps taken as staff.
"""

from __future__ import annotations

from calendar import monthrange
from dataclasses import dataclass
from datetime import datetime, tzinfo

from handlers import calendar, callbacks, notify
from handlers.callbacks import Act
from handlers.core import Context, Services, log
from handlers.ports import Button
from handlers.texts import Translator
from storage.records import Attendee, CalendarEvent, Case, Channel, Person, Priority, Step

# Cases anonymised and broadcasts pruned per run at most: a run is one transaction.
CASE_BATCH = 500
BROADCAST_BATCH = 500
# How long the /forgetme question may be answered.
QUESTION_MINUTES = 60
YES, NO = "y", "n"

# The steps a resident takes on a case: reporting it (or logging a neighbour's message),
# "me too", rating the fix and — by rating it unsatisfied — reopening it.
RESIDENT_STEPS = frozenset({"report", "supporter", "rate"})


def _residents(step: Step) -> bool:
    return step.action in RESIDENT_STEPS or (
        step.action == "reopen" and step.code == "not-satisfied"
    )


def _unnamed(step: Step) -> None:
    step.actor_id, step.actor_name = None, ""
    if step.code == "logged-by":  # the note holds the name of whoever logged it
        step.code, step.note = "", ""


def _without_evidence(case: Case) -> None:
    """What came with the report goes with its reporter: the photos' Telegram file_ids (their
    number stays, for the ledger), a voice message or video, the map pin and the flat. The
    entrance and floor stay (where in the building the problem is), as the text does; the
    fix's photo is staff's and stays."""
    case.erased_photos = case.photo_count
    case.photo, case.photos, case.album = None, [], None
    case.attachment, case.pin, case.flat = None, None, None


def has_evidence(case: Case) -> bool:
    """Whether the report came with anything that goes with its reporter."""
    return bool(case.photo or case.photos or case.attachment or case.pin or case.flat)


def _without_reporter(case: Case) -> None:
    """The reporter goes, with what came with the report; a private report's thread moves to
    its building's group."""
    _without_evidence(case)
    if case.channel is Channel.PRIVATE and case.origin_chat_id == case.reporter_id:
        case.origin_chat_id = case.building_id
        case.origin_message_id = None
        case.card_message_id = None
        case.card_with = []
    case.reporter_id, case.reporter_name = None, ""


def _refresh(svc: Services, case: Case, *, named: bool) -> None:
    """The bot's own messages about the case that named the person show it without them."""
    if named and case.card_message_id is not None:
        notify.refresh_card(svc, case)
    if case.staff_message_id is not None:
        notify.refresh_staff_card(svc, case)


def anonymise(svc: Services, case: Case, now: datetime) -> None:
    """Remove every resident's name, Telegram id and contact details from a case (retention)."""
    named = bool(case.reporter_name)
    _without_reporter(case)
    case.contact = None
    case.supporters = [0] * len(case.supporters)  # still counted, nobody named
    for step in case.timeline:
        if _residents(step):
            _unnamed(step)
    case.anonymised = now
    svc.repo.save_case(case)
    _refresh(svc, case, named=named)


def forget_on_case(svc: Services, case: Case, user_id: int) -> str | None:
    """Remove one person from a case: "reported", "supported", "acted" (steps only) or None
    when the case names them only on steps they took as a head or staff member."""
    role = None
    named = False
    if case.reporter_id == user_id:
        named = bool(case.reporter_name)
        _without_reporter(case)
        case.contact = None
        role = "reported"
    if user_id in case.supporters:
        case.supporters = [0 if s == user_id else s for s in case.supporters]
        role = role or "supported"
    for step in case.timeline:
        if step.actor_id == user_id and _residents(step):
            _unnamed(step)
            role = role or "acted"
    if role is not None:
        svc.repo.save_case(case)
        _refresh(svc, case, named=named)
    return role


def months_before(now: datetime, months: int, tz: tzinfo) -> datetime:
    """The same local day and time `months` calendar months earlier (the month's last day
    when it is shorter)."""
    local = now.astimezone(tz)
    year, month = divmod(local.year * 12 + local.month - 1 - months, 12)
    day = min(local.day, monthrange(year, month + 1)[1])
    return local.replace(year=year, month=month + 1, day=day)


def _ahead(event: CalendarEvent, now: datetime) -> bool:
    return event.cancelled is None and (event.weekly or (event.start or now) > now)


def _anonymous(attendees: list[Attendee]) -> list[Attendee]:
    return [Attendee(0, "", 0) for _ in attendees]


# --- the retention sweep ----------------------------------------------------------------------


@dataclass
class RetentionResult:
    """What one run of the sweep did; `more`: a batch was full, run again soon."""

    anonymised: int = 0
    events: int = 0
    broadcasts: int = 0
    deliveries: int = 0
    more: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.anonymised or self.events or self.broadcasts)


def sweep(svc: Services) -> RetentionResult:
    """One run of the retention sweep (in the caller's transaction)."""
    now = svc.clock()
    result = RetentionResult()
    months = svc.settings.retention_months
    if months:
        cutoff = months_before(now, months, svc.settings.timezone)
        cases = svc.repo.cases_to_anonymise(cutoff, CASE_BATCH)
        for case in cases:
            anonymise(svc, case, now)
        result.anonymised = len(cases)
        result.more = len(cases) >= CASE_BATCH
        for event in svc.repo.events(include_cancelled=True):
            past = event.start is not None and event.start < cutoff and not event.weekly
            if past and any(a.user_id for a in (*event.going, *event.waitlist)):
                event.going, event.waitlist = _anonymous(event.going), _anonymous(event.waitlist)
                event.declined = [0] * len(event.declined)
                svc.repo.save_event(event)
                result.events += 1
    before = now - svc.settings.outbox_retention
    for broadcast in svc.repo.finished_broadcasts(before):
        if result.broadcasts >= BROADCAST_BATCH:
            result.more = True
            break
        if _still_needed(svc, broadcast.key, before):
            continue
        result.deliveries += svc.repo.delete_broadcast(broadcast.id)
        result.broadcasts += 1
    return result


def _still_needed(svc: Services, key: str | None, before: datetime) -> bool:
    """An event's post is kept while the event is ahead or weekly: its reminders and its
    cancellation reply to it in each group."""
    if key is None or not key.startswith("post:") or not key[5:].isdigit():
        return False
    event = svc.repo.get_event(int(key[5:]))
    if event is None or event.cancelled is not None:
        return False
    return event.weekly or (event.start is not None and event.start >= before)


# --- /forgetme -------------------------------------------------------------------------------


@dataclass
class Held:
    """What the bot keeps of one person, counted."""

    reported: int = 0
    still_open: int = 0
    evidence: int = 0  # reported cases with photos, a voice message or video, a pin or a flat
    supported: int = 0
    events: int = 0
    reminders: int = 0
    admin: bool = False  # an admin by the set-up link: a role, which stays


def held(svc: Services, user_id: int) -> Held:
    found = Held()
    for case in svc.repo.cases_naming(user_id):
        if case.reporter_id == user_id:
            found.reported += 1
            found.still_open += case.is_open
            found.evidence += has_evidence(case)
        elif user_id in case.supporters:
            found.supported += 1
    found.events = len(_events_of(svc, user_id))
    found.reminders = len(_reminders_of(svc, user_id))
    person = svc.repo.get_person(user_id)
    found.admin = person is not None and person.admin
    return found


def _events_of(svc: Services, user_id: int) -> list[CalendarEvent]:
    return [
        event
        for event in svc.repo.events(include_cancelled=True)
        if user_id in event.declined
        or any(a.user_id == user_id for a in (*event.going, *event.waitlist))
    ]


def _reminders_of(svc: Services, user_id: int) -> list[int]:
    """The reminders set for the person's private chat (its id is theirs)."""
    return [r.id for r in svc.repo.reminders(include_cancelled=True) if r.chat_id == user_id]


def question(t: Translator, found: Held) -> str:
    """The /forgetme question: what would go, what stays."""
    n = t.number
    lines = [t.gettext("🗑 <b>Erase what I keep about you?</b>")]
    if found.reported:
        lines.append(
            t.ngettext(
                "• {n} case you reported: it stays on the ledger without your name.",
                "• {n} cases you reported: they stay on the ledger without your name.",
                found.reported,
            ).format(n=n(found.reported))
        )
    if found.still_open:
        lines.append(
            t.ngettext(
                "• Of them, {n} is still open: it goes on, but you will no longer hear about it.",
                "• Of them, {n} are still open: they go on, but you will no longer hear about "
                "them.",
                found.still_open,
            ).format(n=n(found.still_open))
        )
    if found.evidence:
        lines.append(
            t.gettext(
                "• What came with your reports — photos, a voice message or video, a map pin, "
                "your flat number: it goes (the number of photos stays)."
            )
        )
    if found.supported:
        lines.append(
            t.ngettext(
                "• Your “me too” on {n} case: still counted, without your name.",
                "• Your “me too” on {n} cases: still counted, without your name.",
                found.supported,
            ).format(n=n(found.supported))
        )
    if found.events:
        lines.append(
            t.ngettext(
                "• Your answer to {n} event: withdrawn if it is still ahead, else counted "
                "without your name.",
                "• Your answers to {n} events: withdrawn where they are still ahead, else "
                "counted without your name.",
                found.events,
            ).format(n=n(found.events))
        )
    if found.reminders:
        lines.append(
            t.ngettext(
                "• {n} reminder you set in this chat.",
                "• {n} reminders you set in this chat.",
                found.reminders,
            ).format(n=n(found.reminders))
        )
    lines.append(
        t.gettext(
            "• Your name, your language, the buildings I have seen you in and any report still "
            "waiting for its building."
        )
    )
    lines.append("")
    lines.append(
        t.gettext(
            "What stays: the cases and the figures, without your name; steps you took as a "
            "building head or staff member, and the cases you were made responsible for, as "
            "the community's record; and what you wrote in groups, which is Telegram's, not "
            "mine. This cannot be undone."
        )
    )
    if found.admin:
        lines.append(
            t.gettext(
                "You stay an admin of this bot: that is a role in the community, not a record "
                "about you."
            )
        )
    return "\n".join(lines)


def _minute(now: datetime) -> int:
    return int(now.timestamp() // 60)


def cmd_forgetme(ctx: Context) -> None:
    """Ask a resident to confirm that everything the bot keeps about them is erased."""
    sender = ctx.sender
    if not ctx.chat.is_private or sender is None or sender.is_bot:
        ctx.reply(ctx._("To erase what I keep about you, send /forgetme to me in a private chat."))
        return
    if ctx.args.strip():
        # Only ever the sender's own data: a name, an id or an @username after it is refused.
        ctx.reply(
            ctx._(
                "/forgetme erases what I keep about you, whoever sends it, and nobody else: "
                "send it without anything after it."
            )
        )
        return
    asked = _minute(ctx.svc.clock())
    keyboard = (
        (
            Button(ctx._("🗑 Erase my data"), callbacks.encode(Act.FORGET, asked, YES)),
            Button(ctx._("Keep it"), callbacks.encode(Act.FORGET, asked, NO)),
        ),
    )
    ctx.reply(question(ctx.t, held(ctx.svc, sender.id)), keyboard=keyboard)


def press_forget(ctx: Context, cb: callbacks.Callback) -> None:
    """The answer to the /forgetme question: erase, or keep."""
    sender, press = ctx.sender, ctx.press
    answer = cb.args[1]
    if (
        sender is None
        or press is None
        or not ctx.chat.is_private
        or ctx.chat.id != sender.id
        or answer not in (YES, NO)
    ):
        ctx.toast(ctx._("This button is no longer valid."))
        return
    now = ctx.svc.clock()
    if not 0 <= _minute(now) - cb.int_arg(0) <= QUESTION_MINUTES:
        ctx.toast(ctx._("This question has expired: send /forgetme again."), alert=True)
        return
    if answer == NO:
        text = ctx._("Nothing was erased.")
    else:
        forget(ctx.svc, sender.id)
        text = ctx._(
            "🗑 Erased. The cases and the figures stay, without your name. If you write in a "
            "building group again, I note that building again, as for everyone; /forgetme "
            "erases it any time."
        )
    ctx.toast(ctx._("Done."))
    if press.message_id is not None:
        # The question becomes its answer: the buttons go.
        ctx.svc.post.edit(ctx.chat.id, press.message_id, text, priority=Priority.REPLY)
    else:
        ctx.reply(text)


def forget(svc: Services, user_id: int) -> dict[str, int]:
    """Erase what the bot keeps about a person (see the module docstring); what it did."""
    now = svc.clock()
    counts = {"reported": 0, "supported": 0, "acted": 0, "withdrawn": 0, "kept": 0}
    for case in svc.repo.cases_naming(user_id):
        role = forget_on_case(svc, case, user_id)
        if role is not None:
            counts[role] += 1
    for event in _events_of(svc, user_id):
        if _ahead(event, now):
            _withdraw(svc, event, user_id)
            counts["withdrawn"] += 1
        else:
            for attendees in (event.going, event.waitlist):
                for index, attendee in enumerate(attendees):
                    if attendee.user_id == user_id:
                        attendees[index] = Attendee(0, "", 0)
            event.declined = [0 if d == user_id else d for d in event.declined]
            svc.repo.save_event(event)
            counts["kept"] += 1
    reminders = _reminders_of(svc, user_id)
    for reminder_id in reminders:
        reminder = svc.repo.get_reminder(reminder_id)
        if reminder is None:
            continue
        reminder.cancelled = reminder.cancelled or now
        reminder.text, reminder.created_by = "", None
        svc.repo.save_reminder(reminder)
    if reminders:
        svc.calendar_changed()
    person = svc.repo.get_person(user_id)
    svc.repo.forget_person(user_id)
    if person is not None and person.admin:
        # A stored role, like a head's: an admin by the set-up link stays one, by id alone.
        svc.repo.save_person(Person(user_id, "", admin=True))
    svc.data_erased()
    log.info(
        "action=forgetme reported=%s supported=%s steps=%s events=%s reminders=%s",
        counts["reported"],
        counts["supported"],
        counts["acted"],
        counts["withdrawn"] + counts["kept"],
        len(reminders),
    )
    return counts


def _withdraw(svc: Services, event: CalendarEvent, user_id: int) -> None:
    """Withdraw a sign-up from an event still ahead: the place goes to the waitlist."""
    was_going = any(a.user_id == user_id for a in event.going)
    event.going = [a for a in event.going if a.user_id != user_id]
    event.waitlist = [a for a in event.waitlist if a.user_id != user_id]
    event.declined = [d for d in event.declined if d != user_id]
    promoted = None
    room = event.capacity is None or len(event.going) < event.capacity
    if was_going and event.waitlist and room:
        promoted = event.waitlist.pop(0)
        event.going.append(promoted)
    svc.repo.save_event(event)
    calendar.refresh_posts(svc, event)
    if promoted is not None:
        calendar.tell_promoted(svc, event, promoted)
