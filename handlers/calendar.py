"""The neighbourhood calendar: events with RSVP, reminders, and their schedule.

The truth lives in storage. A reminder *slot* is derived from an event (one occurrence, one
offset) or from a `/remind`; its key (`ev:3:202611221100:60`, `rm:5`) is also the key of the
broadcast that delivers it, so a slot goes out at most once, whoever asks: the scheduler's job,
the catch-up after a restart, or both. A slot whose event was cancelled or moved no longer
exists, so a job left behind for it finds nothing to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from handlers import callbacks, outbox, rights
from handlers.callbacks import RSVP_NO, RSVP_YES, Act
from handlers.core import Context, Services, log
from handlers.courier import Rendered
from handlers.intake import find_building
from handlers.outbox import Post
from handlers.parsing import BadTime, parse_when, quoted, time_problems
from handlers.ports import Button, Keyboard
from handlers.render import ANONYMISED, chunk, clip, esc
from handlers.rights import MANAGERS_ONLY
from handlers.texts import N_, Translator
from storage.records import (
    Attendee,
    Broadcast,
    BroadcastKind,
    CalendarEvent,
    EventKind,
    Group,
    Priority,
    Reminder,
)

KIND_TAGS = {
    "forum": EventKind.FORUM,
    "座谈会": EventKind.FORUM,
    "seminar": EventKind.SEMINAR,
    "讲座": EventKind.SEMINAR,
    "vaccination": EventKind.VACCINATION,
    "vaccine": EventKind.VACCINATION,
    "疫苗": EventKind.VACCINATION,
    "疫苗接种": EventKind.VACCINATION,
    "clinic": EventKind.CLINIC,
    "义诊": EventKind.CLINIC,
}
KIND_LABELS = {
    EventKind.GENERAL: ("📅", N_("event")),
    EventKind.FORUM: ("🪑", N_("forum")),
    EventKind.SEMINAR: ("🎓", N_("seminar")),
    EventKind.VACCINATION: ("💉", N_("vaccination drive")),
    EventKind.CLINIC: ("🩺", N_("health clinic")),
}
WEEKDAYS = {
    **{name: i for i, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{
        name: i
        for i, name in enumerate(
            ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
        )
    },
    **{f"周{c}": i for i, c in enumerate("一二三四五六日")},
    **{f"星期{c}": i for i, c in enumerate("一二三四五六日")},
    "周天": 6,
    "星期天": 6,
}
EVERY_WORDS = {"every", "每周", "weekly"}
DAY_WORDS = {"today": 0, "今天": 0, "tomorrow": 1, "明天": 1, "后天": 2}
PAST_DAY_WORDS = {"yesterday", "昨天", "前天"}
_DATE_LIKE = re.compile(r"\d{1,4}-\d{1,2}-\d{1,2}")
_HH_MM = re.compile(r"^([01]?\d|2[0-3])[:：]([0-5]\d)$")
_OPTION = re.compile(r"^(cap|名额|remind|提醒|to|楼栋)[=＝](.+)$", re.IGNORECASE)
_TAG = re.compile(r"[#＃](\w+)")
_PLACE = re.compile(r"(?:^|\s)[@＠]\s*")
_OFFSET = re.compile(r"^(\d{1,4})([mhd])$", re.IGNORECASE)
_UNIT_MINUTES = {"m": 1, "h": 60, "d": 24 * 60}
MAX_TITLE = 200
MAX_NOTES = 1500
MAX_REMINDER = 1000
MAX_CAPACITY = 100_000
# Weekly events: how far ahead reminder jobs are planned (replanned every few hours).
HORIZON = timedelta(days=8)
# A reminder counts as late, and says so, when it goes out this much after its time.
LATE_AFTER = timedelta(minutes=1)


class EventError(ValueError):
    """What was wrong with an /event command: each problem a text to translate and its
    parameters, the words as typed (quoted when shown)."""

    def __init__(self, *problems: tuple[str, dict[str, str]]) -> None:
        super().__init__("; ".join(text for text, _ in problems))
        self.problems = problems

    @classmethod
    def one(cls, text: str, **params: str) -> EventError:
        return cls((text, params))

    def words(self, t: Translator) -> str:
        """The problems in the reader's language, one per line."""
        lines = []
        for text, params in self.problems:
            shown = {key: quoted(word) for key, word in params.items()}
            lines.append(t.gettext(text).format(**shown))
        return "\n".join(lines)


# ------------------------------------------------------------------------------ parsing


@dataclass
class EventDraft:
    title: str
    kind: EventKind
    start: datetime | None
    weekday: int | None
    at: str | None
    place: str | None
    notes: str
    capacity: int | None
    reminders: list[int] | None
    buildings: list[str]


def parse_offsets(value: str) -> list[int]:
    """`1d,2h,30m` as minutes before an event; `none` for no reminders."""
    if value.lower() in ("none", "no", "0", "无", "不提醒"):
        return []
    minutes = []
    for part in re.split(r"[,，]", value):
        found = _OFFSET.match(part.strip())
        if not found or int(found[1]) == 0:
            raise EventError.one(
                N_("“{word}” is not a reminder: write remind=1d,1h or remind=none."),
                word=part.strip(),
            )
        minutes.append(int(found[1]) * _UNIT_MINUTES[found[2].lower()])
    if len(minutes) > 5 or max(minutes) > 60 * 24 * 60:
        raise EventError.one(N_("At most 5 reminders, each at most 60 days before."))
    return sorted(set(minutes), reverse=True)


# What is missing from the first line of an /event, by how many words it has.
_MISSING = (
    N_("The day, the time and the title are missing."),
    N_("The time and the title are missing."),
    N_("The title is missing."),
)


def _day(token: str, today: date) -> date | tuple[str, dict[str, str]]:
    """The day an event is on, or what is wrong with the word."""
    word = token.lower()
    if word in DAY_WORDS:
        return today + timedelta(days=DAY_WORDS[word])
    if word in PAST_DAY_WORDS:
        return N_("“{word}” has already passed: plan the event for today or later."), {
            "word": token
        }
    try:
        return date.fromisoformat(token)
    except ValueError:
        pass
    if _DATE_LIKE.fullmatch(token):
        return N_("“{word}” is not a date: write YYYY-MM-DD, e.g. 2026-12-01."), {"word": token}
    return N_("“{word}” is not a day: write YYYY-MM-DD, today or tomorrow."), {"word": token}


def parse_event(args: str, now: datetime, tz: tzinfo) -> EventDraft:
    """Read `/event` arguments; raise EventError naming what is wrong."""
    first, _, rest = args.partition("\n")
    tokens = first.split()
    weekly = bool(tokens) and tokens[0].lower() in EVERY_WORDS
    if weekly:
        tokens = tokens[1:]
        if not tokens:
            raise EventError.one(N_("The weekday, the time and the title are missing."))
    if len(tokens) < 3:
        raise EventError.one(_MISSING[len(tokens)])
    problems: list[tuple[str, dict[str, str]]] = []
    weekday = WEEKDAYS.get(tokens[0].lower()) if weekly else None
    if weekly and weekday is None:
        problems.append(
            (
                N_("“{word}” is not a weekday: use mon, tue, wed, thu, fri, sat or sun."),
                {"word": tokens[0]},
            )
        )
    day = None if weekly else _day(tokens[0], now.astimezone(tz).date())
    if isinstance(day, tuple):
        problems.append(day)
    found = _HH_MM.match(tokens[1])
    if not found:
        problems.append(
            (N_("“{word}” is not a time of day: write HH:MM, e.g. 19:00."), {"word": tokens[1]})
        )
    if problems:
        raise EventError(*problems)
    assert found is not None
    at = time(int(found[1]), int(found[2]))
    when, tokens = " ".join(tokens[:2]), tokens[2:]
    start: datetime | None = None
    if isinstance(day, date):
        start = datetime.combine(day, at, tzinfo=tz)
        if start <= now:
            raise EventError.one(N_("“{words}” has already passed."), words=when)
        if start > now + timedelta(days=366):
            raise EventError.one(
                N_("“{words}” is more than a year ahead: events are planned at most a year ahead."),
                words=when,
            )
    capacity: int | None = None
    reminders: list[int] | None = None
    buildings: list[str] = []
    words = []
    for token in tokens:
        option = _OPTION.match(token)
        if option is None:
            words.append(token)
            continue
        key, value = option[1].lower(), option[2]
        if key in ("cap", "名额"):
            if not (value.isascii() and value.isdigit()) or not 0 < int(value) <= MAX_CAPACITY:
                raise EventError.one(
                    N_("“{word}” is not a number of places: write a whole number, e.g. cap=30."),
                    word=value,
                )
            capacity = int(value)
        elif key in ("remind", "提醒"):
            reminders = parse_offsets(value)
        else:
            buildings += [b for b in re.split(r"[,，、]", value) if b.strip()]
    text = " ".join(words)
    title, _sep, place = (part.strip() for part in _split_place(text))
    kind = EventKind.GENERAL
    for tag in _TAG.findall(title):
        kind = KIND_TAGS.get(tag.lower(), kind)
    title = " ".join(
        _TAG.sub(lambda m: m[0] if m[1].lower() not in KIND_TAGS else "", title).split()
    )
    if not title:
        raise EventError.one(N_("The title is missing."))
    if len(title) > MAX_TITLE or len(place) > MAX_TITLE:
        raise EventError.one(N_("Please keep the title and the place under 200 characters."))
    notes = rest.strip()
    if len(notes) > MAX_NOTES:
        raise EventError.one(N_("Please keep the notes under 1500 characters."))
    return EventDraft(
        title=title,
        kind=kind,
        start=start,
        weekday=weekday,
        at=at.strftime("%H:%M") if weekday is not None else None,
        place=place or None,
        notes=notes,
        capacity=capacity,
        reminders=reminders,
        buildings=buildings,
    )


def _split_place(text: str) -> tuple[str, str, str]:
    found = _PLACE.search(text)
    if found is None:
        return text, "", ""
    return text[: found.start()], "@", text[found.end() :]


def parse_ref(token: str) -> tuple[str, int] | None:
    """`E3`, `3` or `#E3` as ("event", 3); `R5` as ("reminder", 5)."""
    token = token.strip().lstrip("#＃").upper()
    kind = "reminder" if token.startswith("R") else "event"
    digits = token[1:] if token[:1] in ("E", "R") else token
    if digits.isascii() and digits.isdigit() and 0 < len(digits) <= 9 and int(digits) > 0:
        return kind, int(digits)
    return None


# ------------------------------------------------------------------------------ time


def occurrences(
    svc: Services, event: CalendarEvent, start: datetime, end: datetime
) -> list[datetime]:
    """The times the event happens within [start, end]."""
    if event.start is not None:
        return [event.start] if start <= event.start <= end else []
    assert event.weekday is not None and event.at is not None
    tz = svc.settings.timezone
    hour, minute = map(int, event.at.split(":"))
    local = start.astimezone(tz).date()
    day = local + timedelta(days=(event.weekday - local.weekday()) % 7)
    found: list[datetime] = []
    while True:
        when = datetime.combine(day, time(hour, minute), tzinfo=tz)
        if when > end:
            return found
        if when >= start:
            found.append(when)
        day += timedelta(days=7)


def next_occurrence(svc: Services, event: CalendarEvent, now: datetime) -> datetime | None:
    found = occurrences(svc, event, now, now + timedelta(days=400 if event.start else 8))
    return found[0] if found else None


@dataclass(frozen=True)
class Slot:
    """One reminder due at one time."""

    key: str
    due: datetime
    event_id: int | None = None
    occurrence: datetime | None = None
    offset: int = 0
    reminder_id: int | None = None


def event_slots(svc: Services, event: CalendarEvent, start: datetime, end: datetime) -> list[Slot]:
    """Reminder slots of an event due within [start, end] (never before it was made)."""
    if event.cancelled is not None:
        return []
    offsets = event.reminders
    latest = max(offsets, default=0)
    slots = []
    for when in occurrences(svc, event, start, end + timedelta(minutes=latest)):
        for offset in offsets:
            due = when - timedelta(minutes=offset)
            if start <= due <= end and due >= event.created:
                key = f"ev:{event.id}:{when.astimezone(svc.settings.timezone):%Y%m%d%H%M}:{offset}"
                slots.append(Slot(key, due, event.id, when, offset))
    return slots


def reminder_key(reminder_id: int) -> str:
    return f"rm:{reminder_id}"


def reminder_slot(reminder: Reminder) -> Slot | None:
    if reminder.cancelled is not None:
        return None
    return Slot(reminder_key(reminder.id), reminder.due, reminder_id=reminder.id)


def _pending_reminders(svc: Services, since: datetime) -> list[Reminder]:
    """Reminders from `since` on whose slot has not gone out (those are not even read)."""
    return svc.repo.reminders_from(
        since, skip=lambda reminder_id: svc.repo.has_broadcast(reminder_key(reminder_id))
    )


def slots_between(svc: Services, start: datetime, end: datetime) -> list[Slot]:
    """Every reminder slot due within [start, end], earliest first."""
    found = [s for e in svc.repo.events_from(start) for s in event_slots(svc, e, start, end)]
    for reminder in _pending_reminders(svc, start):
        slot = reminder_slot(reminder)
        if slot is not None and start <= slot.due <= end:
            found.append(slot)
    return sorted(found, key=lambda s: (s.due, s.key))


def find_slot(svc: Services, key: str) -> Slot | None:
    """The slot with this key if it still exists as scheduled."""
    parts = key.split(":")
    try:
        if parts[0] == "rm" and len(parts) == 2:
            reminder = svc.repo.get_reminder(int(parts[1]))
            return reminder_slot(reminder) if reminder else None
        if parts[0] == "ev" and len(parts) == 4:
            event = svc.repo.get_event(int(parts[1]))
            if event is None:
                return None
            when = datetime.strptime(parts[2], "%Y%m%d%H%M").replace(tzinfo=svc.settings.timezone)
            due = when - timedelta(minutes=int(parts[3]))
            return next((s for s in event_slots(svc, event, due, due) if s.key == key), None)
    except ValueError:
        return None
    return None


class Jumps:
    """Stretches of time the bot's clock was moved over on purpose (the demo's `:later`).

    The bot was running through them: a slot that fell due within one would have gone out at
    its time, so it goes out as of its time, never late nor skipped. Only what fell due while
    the bot was really not running (before a start, or a machine asleep) is late. The runtime
    keeps them in memory: a restart is an outage, whatever the clock did before.
    """

    def __init__(self) -> None:
        self._spans: list[tuple[datetime, datetime]] = []

    def add(self, start: datetime, end: datetime) -> None:
        """The clock read `start`, and was then moved on to `end`."""
        if end > start:
            self._spans.append((start, end))

    def forget_before(self, moment: datetime) -> None:
        self._spans = [(start, end) for start, end in self._spans if end >= moment]

    def moment(self, due: datetime, now: datetime) -> datetime:
        """When a slot due at `due` counts as handled: at its time if a jump went over it."""
        if any(start <= due <= end for start, end in self._spans):
            return min(due, now)
        return now


def _handled_at(jumps: Jumps | None, due: datetime, now: datetime) -> datetime:
    return now if jumps is None else jumps.moment(due, now)


def fire(svc: Services, slot: Slot, now: datetime) -> str:
    """Hand a due slot to the outbox, late if within grace, else record it as skipped.

    `now` is when the slot is handled: the clock, or the slot's own time when the clock was
    moved over it on purpose (`Jumps`). Returns what happened: "sent", "late", "skipped" or
    "done" (it had gone out before).
    """
    if svc.repo.has_broadcast(slot.key):
        return "done"
    late = now - slot.due > LATE_AFTER
    too_late = now - slot.due > svc.settings.reminder_grace or (
        slot.occurrence is not None and slot.occurrence <= now
    )
    kind = BroadcastKind.NOTE if slot.reminder_id is not None else BroadcastKind.REMINDER
    if too_late:
        outbox.skip(svc, slot.key, kind)
        log.warning("action=reminder-skipped key=%s due=%s", slot.key, slot.due.isoformat())
        return "skipped"
    if slot.reminder_id is not None:
        reminder = svc.repo.get_reminder(slot.reminder_id)
        assert reminder is not None
        outbox.enqueue(
            svc,
            kind,
            [reminder.chat_id],
            {"reminder": str(reminder.id), "late": "1" if late else ""},
            key=slot.key,
        )
    else:
        assert slot.event_id is not None and slot.occurrence is not None
        event = svc.repo.get_event(slot.event_id)
        assert event is not None
        outbox.enqueue(
            svc,
            kind,
            event.groups,
            {
                "event": str(event.id),
                "occurrence": slot.occurrence.isoformat(),
                "offset": str(slot.offset),
                "late": "1" if late else "",
            },
            key=slot.key,
            # A reminder a day or more ahead is routine: it may wait for the morning.
            routine=slot.offset >= 24 * 60,
        )
    log.info("action=reminder key=%s late=%s", slot.key, late)
    return "late" if late else "sent"


def fire_key(svc: Services, key: str, jumps: Jumps | None = None) -> str | None:
    """The scheduler's job for one slot: fire it if it still exists and is due."""
    slot = find_slot(svc, key)
    now = svc.clock()
    if slot is None or slot.due > now:
        return None
    return fire(svc, slot, _handled_at(jumps, slot.due, now))


def catch_up(
    svc: Services, lookback: timedelta = timedelta(days=8), jumps: Jumps | None = None
) -> dict[str, int]:
    """Fire or skip every slot that fell due and has not gone out, earliest first.

    After a restart (or a missed job) a slot is late or skipped by how long ago it fell due;
    one the clock was moved over on purpose (`jumps`) goes out as it would have at its time.
    """
    now = svc.clock()
    counts: dict[str, int] = {}
    for event in svc.repo.events_from(now - lookback):
        if not svc.repo.has_broadcast(post_key(event)):
            # Saved just before a crash, never posted: its maker got no answer, so it goes
            # out now, reported to the staff chat if it came from there.
            from_staff = event.created_in == svc.staff_chat
            post_event(svc, event, report_to=event.created_in if from_staff else None)
            counts["posted"] = counts.get("posted", 0) + 1
    for slot in slots_between(svc, now - lookback, now):
        outcome = fire(svc, slot, _handled_at(jumps, slot.due, now))
        if outcome != "done":
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def upcoming(svc: Services, now: datetime) -> list[Slot]:
    """Slots to schedule: every one not sent yet of one-off events and reminders, weekly ones
    within the horizon. A slot that fell due moments ago is included (its job runs at once
    and decides, late or skipped), so none waits for the next catch-up."""
    start = now - svc.settings.reminder_grace
    found: list[Slot] = []
    for event in svc.repo.events_from(start):
        end = event.start if event.start is not None else now + HORIZON
        found += event_slots(svc, event, start, max(end, now))
    for reminder in _pending_reminders(svc, start):
        slot = reminder_slot(reminder)
        if slot is not None and slot.due > start:
            found.append(slot)
    return [s for s in found if not svc.repo.has_broadcast(s.key)]


# ------------------------------------------------------------------------------ rendering


def kind_label(t: Translator, kind: EventKind) -> str:
    icon, label = KIND_LABELS[kind]
    return f"{icon} {t.gettext(label)}"


def when_text(svc: Services, t: Translator, event: CalendarEvent) -> str:
    if event.start is not None:
        return t.datetime(event.start)
    assert event.weekday is not None
    day = date(2024, 1, 1) + timedelta(days=event.weekday)  # 2024-01-01 was a Monday
    return t.gettext("every {weekday} {time}").format(weekday=t.weekday(day), time=event.at)


def counts_text(t: Translator, event: CalendarEvent) -> str:
    text = t.ngettext("{n} signed up", "{n} signed up", len(event.going)).format(
        n=t.number(len(event.going))
    )
    if event.capacity is not None:
        text += " · " + t.gettext("{n} places").format(n=t.number(event.capacity))
    if event.waitlist:
        text += " · " + t.gettext("{n} on the waitlist").format(n=t.number(len(event.waitlist)))
    return text


def event_card(svc: Services, t: Translator, event: CalendarEvent) -> str:
    lines = [
        f"{kind_label(t, event.kind)} <b>E{event.id}</b> · <b>{esc(event.title)}</b>",
        "🕖 " + esc(when_text(svc, t, event)),
    ]
    if event.place:
        lines.append("📍 " + esc(event.place))
    if event.notes:
        heading = (
            t.gettext("What to know before your vaccination:")
            if event.kind is EventKind.VACCINATION
            else t.gettext("Notes:")
        )
        lines += ["", f"<b>{heading}</b>", esc(event.notes)]
    if event.cancelled is not None:
        lines.append("❌ " + t.gettext("Cancelled."))
    else:
        lines.append("✋ " + counts_text(t, event))
    return "\n".join(lines)


def rsvp_keyboard(t: Translator, event: CalendarEvent) -> Keyboard:
    come = t.gettext("✋ I'll come ({n})").format(n=t.number(len(event.going)))
    return (
        (
            Button(come, callbacks.encode(Act.RSVP, event.id, RSVP_YES)),
            Button(t.gettext("🙅 Can't come"), callbacks.encode(Act.RSVP, event.id, RSVP_NO)),
        ),
    )


def _event_of(svc: Services, broadcast: Broadcast) -> CalendarEvent | None:
    try:
        event = svc.repo.get_event(int(broadcast.payload.get("event", "")))
    except ValueError:
        return None
    return event if event is not None and event.cancelled is None else None


def render_event(svc: Services, broadcast: Broadcast, chat_id: int, t: Translator) -> Post | None:
    event = _event_of(svc, broadcast)
    if event is None:
        return None
    return Post(event_card(svc, t, event), rsvp_keyboard(t, event))


async def view_event(svc: Services, argument: str, chat_id: int) -> Rendered | None:
    """An event's post as it is now (the sign-up counts), for an edit of the post."""
    event = svc.repo.get_event(int(argument)) if argument.isdigit() else None
    if event is None:
        return None
    t = svc.texts_for(chat_id)
    keyboard = rsvp_keyboard(t, event) if event.cancelled is None else None
    return Rendered(event_card(svc, t, event), keyboard)


def _post_in(svc: Services, event: CalendarEvent, chat_id: int) -> int | None:
    post = svc.repo.broadcast_by_key(post_key(event))
    delivery = svc.repo.delivery(post.id, chat_id) if post is not None else None
    return delivery.message_id if delivery is not None else None


def post_key(event: CalendarEvent) -> str:
    return f"post:{event.id}"


def post_event(svc: Services, event: CalendarEvent, *, report_to: int | None) -> Broadcast:
    """Hand the event's post with its RSVP buttons to the outbox (once per event)."""
    return outbox.enqueue(
        svc,
        BroadcastKind.EVENT,
        event.groups,
        {"event": str(event.id), "label": f"E{event.id} {clip(event.title, 40)}"},
        key=post_key(event),
        report_to=report_to,
        routine=report_to is not None,
    )


def render_reminder(
    svc: Services, broadcast: Broadcast, chat_id: int, t: Translator
) -> Post | None:
    event = _event_of(svc, broadcast)
    if event is None:
        return None
    key = broadcast.key or ""
    if find_slot(svc, key) is None:
        return None  # the event was moved: this occurrence is not happening
    occurrence = datetime.fromisoformat(broadcast.payload["occurrence"])
    lines = [
        t.gettext("⏰ <b>Reminder</b>: {kind} <b>E{id}</b> · <b>{title}</b>").format(
            kind=kind_label(t, event.kind), id=event.id, title=esc(event.title)
        ),
        "🕖 "
        + t.gettext("{time} (in {left})").format(
            time=esc(t.datetime(occurrence)),
            left=esc(t.duration(timedelta(minutes=int(broadcast.payload["offset"])))),
        ),
    ]
    if event.place:
        lines.append("📍 " + esc(event.place))
    lines.append("✋ " + counts_text(t, event))
    if broadcast.payload.get("late"):
        lines.append(t.gettext("(Sent late: the bot was offline at the reminder's time.)"))
    # The reminder answers the event's post, whose buttons take the sign-ups.
    return Post("\n".join(lines), reply_to=_post_in(svc, event, chat_id))


def render_note(svc: Services, broadcast: Broadcast, chat_id: int, t: Translator) -> Post | None:
    try:
        reminder = svc.repo.get_reminder(int(broadcast.payload.get("reminder", "")))
    except ValueError:
        return None
    if reminder is None or reminder.cancelled is not None:
        return None
    text = t.gettext("⏰ <b>Reminder</b> R{id}: {text}").format(
        id=reminder.id, text=esc(reminder.text)
    )
    if broadcast.payload.get("late"):
        text += "\n" + t.gettext("(Sent late: it was due at {time}.)").format(
            time=esc(t.datetime(reminder.due))
        )
    return Post(text)


def render_cancel(svc: Services, broadcast: Broadcast, chat_id: int, t: Translator) -> Post:
    event = svc.repo.get_event(int(broadcast.payload["event"]))
    assert event is not None
    text = t.gettext("❌ Cancelled: {kind} <b>E{id}</b> · <b>{title}</b>, {time}.").format(
        kind=kind_label(t, event.kind),
        id=event.id,
        title=esc(event.title),
        time=esc(when_text(svc, t, event)),
    )
    return Post(text, reply_to=_post_in(svc, event, chat_id))


# ------------------------------------------------------------------------------ commands


def _origin(ctx: Context) -> str | None:
    return f"{ctx.chat.id}:{ctx.message.message_id}" if ctx.message else None


def may_post(ctx: Context) -> bool:
    """Whether the sender may plan events and announce from here; if not, say why.

    Checked before the arguments are read: who may not is told so, whatever they typed.
    """
    if ctx.in_staff_chat or (ctx.chat.is_private and rights.is_staff(ctx)):
        if not rights.is_staff(ctx):
            ctx.reply(ctx._("Only community staff can do that from here."))
            return False
        return True
    if ctx.group is None or not ctx.svc.is_building(ctx.chat.id):
        ctx.reply(ctx._("This command works in a building group or the staff chat."))
        return False
    if not rights.may_manage(ctx, ctx.group.chat_id):
        ctx.reply(ctx._(MANAGERS_ONLY))
        return False
    return True


def targets(ctx: Context, names: list[str]) -> list[Group] | None:
    """The groups an event or announcement from here goes to (`may_post` has said yes);
    None after a refusal."""
    if ctx.group is None or ctx.in_staff_chat:
        if not names:
            return ctx.svc.buildings()
        chosen = []
        for name in names:
            found = find_building(ctx, name.strip())
            if not isinstance(found, Group):
                ctx.reply(ctx._("There is no single building “{name}”.").format(name=quoted(name)))
                return None
            chosen.append(found)
        return list({g.chat_id: g for g in chosen}.values())
    if names:
        ctx.reply(ctx._("to=… works only from the staff chat; here it is this group."))
        return None
    return [ctx.group]


def cmd_event(ctx: Context) -> None:
    """Plan an event for this group, or from the staff chat for every (or some) building."""
    svc = ctx.svc
    if not may_post(ctx):
        return
    now = svc.clock()
    try:
        draft = parse_event(ctx.args, now, svc.settings.timezone)
    except EventError as exc:
        ctx.usage(exc.words(ctx.t))
        return
    origin = _origin(ctx)
    if origin is not None and svc.repo.event_by_origin(origin) is not None:
        return  # the same command delivered again after a crash: it was done
    groups = targets(ctx, draft.buildings)
    if groups is None:
        return
    if not groups:
        ctx.reply(ctx._("There are no building groups yet to invite."))
        return
    from_staff = ctx.in_staff_chat or ctx.chat.is_private
    event = CalendarEvent(
        id=svc.repo.next_event_id(),
        title=draft.title,
        kind=draft.kind,
        groups=[g.chat_id for g in groups],
        created=now,
        created_by=ctx.user_id,
        created_in=ctx.chat.id,
        start=draft.start,
        weekday=draft.weekday,
        at=draft.at,
        place=draft.place,
        notes=draft.notes,
        capacity=draft.capacity,
        origin=origin,
        reminders=(
            draft.reminders if draft.reminders is not None else list(svc.settings.event_reminders)
        ),
    )
    # The event first, then its post: after a crash in between, catch_up() posts it.
    svc.repo.save_event(event)
    post = post_event(svc, event, report_to=ctx.chat.id if from_staff else None)
    svc.calendar_changed()
    log.info("action=event event=%s groups=%s chat=%s", event.id, len(event.groups), ctx.chat.id)
    if from_staff:
        text = ctx.t.ngettext(
            "Event E{id} planned for {n} group: {title}, {time}.",
            "Event E{id} planned for {n} groups: {title}, {time}.",
            len(groups),
        ).format(
            id=event.id,
            n=ctx.t.number(len(groups)),
            title=esc(event.title),
            time=esc(when_text(svc, ctx.t, event)),
        )
        if post.not_before is not None:
            text += "\n" + ctx._("It goes out at {time}, after the quiet hours.").format(
                time=esc(ctx.t.datetime(post.not_before))
            )
        ctx.reply(text)


def cmd_events(ctx: Context) -> None:
    """Upcoming events here; `/events E3` shows one, with the names for heads and staff."""
    svc = ctx.svc
    if ctx.args.strip():
        typed = ctx.args.split()[0]
        ref = parse_ref(typed)
        if ref is None or ref[0] != "event":
            ctx.usage(
                ctx._("“{word}” is not an event number: write it like E3.").format(
                    word=quoted(typed)
                )
            )
            return
        _event_detail(ctx, ref[1])
        return
    now = svc.clock()
    visible = _visible_groups(ctx)
    found = []
    for event in svc.repo.events_from(now):
        when = next_occurrence(svc, event, now)
        if when is not None and (visible is None or set(event.groups) & visible):
            found.append((when, event))
    if not found:
        ctx.reply(ctx._("📅 No upcoming events."))
        return
    found.sort(key=lambda pair: (pair[0], pair[1].id))
    blocks = [ctx._("📅 <b>Upcoming events</b>")]
    for when, event in found:
        line = (
            f"{KIND_LABELS[event.kind][0]} <b>E{event.id}</b> · {esc(clip(event.title, 80))}"
            f" — {esc(ctx.t.datetime(when))}"
        )
        if event.weekly:
            line += " 🔁"
        if event.place:
            line += f" · 📍{esc(clip(event.place, 60))}"
        line += f" · ✋{ctx.t.number(len(event.going))}"
        blocks.append(line)
    for text in chunk(blocks):
        ctx.reply(text)


def _visible_groups(ctx: Context) -> set[int] | None:
    """Groups whose events this chat sees; None for all (staff)."""
    if ctx.in_staff_chat or (ctx.chat.is_private and rights.is_staff(ctx)):
        return None
    if ctx.chat.is_private:
        person = ctx.svc.repo.get_person(ctx.chat.id)
        return set(person.buildings) if person else set()
    return {ctx.chat.id}


def _event_detail(ctx: Context, event_id: int) -> None:
    svc = ctx.svc
    event = svc.repo.get_event(event_id)
    visible = _visible_groups(ctx)
    if event is None or (visible is not None and not set(event.groups) & visible):
        ctx.reply(ctx._("There is no event E{id} here.").format(id=event_id))
        return
    text = event_card(svc, ctx.t, event)
    if _may_see_names(ctx, event):
        # A sign-up kept without its name (the person asked to be forgotten) still counts.
        unnamed = ctx._(ANONYMISED)
        names = ", ".join(esc(a.name) or unnamed for a in event.going) or "—"
        text += "\n\n" + ctx._("<b>Signed up</b>: {names}").format(names=names)
        if event.waitlist:
            waiting = ", ".join(esc(a.name) or unnamed for a in event.waitlist)
            text += "\n" + ctx._("<b>Waitlist</b>: {names}").format(names=waiting)
    for part in chunk(text.split("\n")):
        ctx.reply(part)


def _may_see_names(ctx: Context, event: CalendarEvent) -> bool:
    if rights.is_staff(ctx):
        return True
    return (
        ctx.group is not None
        and ctx.group.chat_id in event.groups
        and (rights.is_head(ctx, ctx.group.chat_id))
    )


def _may_change(ctx: Context, groups: list[int], created_in: int) -> bool:
    """Staff may change anything; a head what was made in their own group."""
    if rights.is_staff(ctx):
        return True
    return (
        ctx.group is not None
        and created_in == ctx.group.chat_id
        and groups == [ctx.group.chat_id]
        and rights.is_head(ctx, ctx.group.chat_id)
    )


def cmd_cancel(ctx: Context) -> None:
    """Cancel an event (and tell its groups) or a reminder."""
    svc = ctx.svc
    typed = ctx.args.split()[0] if ctx.args.strip() else ""
    ref = parse_ref(typed) if typed else None
    if ref is None:
        if ctx.chat.is_group and not rights.could_manage(ctx):
            ctx.reply(ctx._(MANAGERS_ONLY))
        elif typed:
            ctx.usage(
                ctx._("“{word}” is neither an event (E3) nor a reminder (R5).").format(
                    word=quoted(typed)
                )
            )
        else:
            ctx.usage(ctx._("Which event or reminder?"))
        return
    kind, item_id = ref
    # In a group only heads and staff plan events and set reminders, so only they cancel
    # (and whoever set a reminder, should they no longer be a head): told before anything else.
    manager = not ctx.chat.is_group or rights.could_manage(ctx)
    if kind == "reminder":
        reminder = svc.repo.get_reminder(item_id)
        own = reminder is not None and reminder.created_by == ctx.user_id
        if not (manager or own):
            ctx.reply(ctx._(MANAGERS_ONLY))
            return
        if reminder is None or reminder.cancelled is not None or reminder.chat_id != ctx.chat.id:
            ctx.reply(ctx._("There is no reminder R{id} here.").format(id=item_id))
            return
        if not (reminder.created_by == ctx.user_id or _may_change(ctx, [ctx.chat.id], ctx.chat.id)):
            ctx.reply(ctx._("Only who set a reminder, heads and staff can cancel it."))
            return
        if svc.repo.has_broadcast(reminder_key(reminder.id)):
            ctx.reply(ctx._("Reminder R{id} has already gone out.").format(id=item_id))
            return
        reminder.cancelled = svc.clock()
        svc.repo.save_reminder(reminder)
        svc.calendar_changed()
        ctx.reply(ctx._("Reminder R{id} cancelled.").format(id=item_id))
        return
    if not manager:
        ctx.reply(ctx._(MANAGERS_ONLY))
        return
    event = svc.repo.get_event(item_id)
    visible = _visible_groups(ctx)
    if event is None or (visible is not None and not set(event.groups) & visible):
        ctx.reply(ctx._("There is no event E{id} here.").format(id=item_id))
        return
    if event.cancelled is not None:
        ctx.reply(ctx._("Event E{id} is already cancelled.").format(id=item_id))
        return
    if not _may_change(ctx, event.groups, event.created_in):
        ctx.reply(
            ctx._(
                "Only community staff, or the heads of the group it was planned in, can cancel it."
            )
        )
        return
    event.cancelled = svc.clock()
    svc.repo.save_event(event)
    svc.calendar_changed()
    outbox.enqueue(
        svc,
        BroadcastKind.CANCEL,
        event.groups,
        {"event": str(event.id), "label": f"E{event.id} {clip(event.title, 40)}"},
        key=f"cancel:{event.id}",
        report_to=ctx.chat.id if ctx.chat.id not in event.groups else None,
    )
    log.info("action=cancel event=%s chat=%s", event.id, ctx.chat.id)
    if ctx.chat.id not in event.groups:
        ctx.reply(ctx._("Event E{id} cancelled; its groups are being told.").format(id=event.id))


def cmd_remind(ctx: Context) -> None:
    """Set a reminder into this chat: heads and staff in groups, anyone privately."""
    svc = ctx.svc
    if ctx.chat.is_group:
        manager = rights.is_staff(ctx) or (
            ctx.group is not None and rights.is_head(ctx, ctx.group.chat_id)
        )
        if not manager:
            ctx.reply(ctx._(MANAGERS_ONLY))
            return
    now = svc.clock()
    tokens = ctx.args.split()
    try:
        due, used = _parse_remind_time(tokens, now, svc)
    except BadTime as bad:
        ctx.usage(time_problems(ctx.t, bad, REMIND_NO_TIME))
        return
    text = ctx.args.split(maxsplit=used)[used:] if len(tokens) > used else []
    body = text[0].strip() if text else ""
    if not body:
        ctx.usage(ctx._("What should I remind you of? Write it after the time."))
        return
    if len(body) > MAX_REMINDER:
        ctx.reply(
            ctx._("That reminder is {n} characters long; {limit} at most, please.").format(
                n=ctx.t.number(len(body)), limit=ctx.t.number(MAX_REMINDER)
            )
        )
        return
    when = quoted(" ".join(tokens[:used]))
    if due <= now:
        ctx.reply(ctx._("“{words}” has already passed.").format(words=when))
        return
    if due > now + timedelta(days=366):
        ctx.reply(
            ctx._(
                "“{words}” is more than a year ahead: reminders are set at most a year ahead."
            ).format(words=when)
        )
        return
    origin = _origin(ctx)
    if origin is not None and svc.repo.reminder_by_origin(origin) is not None:
        return  # the same command delivered again after a crash: it was done
    reminder = Reminder(
        origin=origin,
        id=svc.repo.next_reminder_id(),
        chat_id=ctx.chat.id,
        text=body,
        due=due,
        created=now,
        created_by=ctx.user_id,
    )
    svc.repo.save_reminder(reminder)
    svc.calendar_changed()
    log.info("action=remind reminder=%s chat=%s due=%s", reminder.id, ctx.chat.id, due.isoformat())
    ctx.reply(
        ctx._("⏰ Reminder R{id} set for {time}. /cancel R{id} cancels it.").format(
            id=reminder.id, time=esc(ctx.t.datetime(due))
        )
    )


REMIND_NO_TIME = N_("“{word}” is not a time: write 10m, 2h, 1d, HH:MM or YYYY-MM-DD HH:MM.")
_CLOCK_LIKE = re.compile(r"\d{1,2}[:：]\d{2}")


def _parse_remind_time(tokens: list[str], now: datetime, svc: Services) -> tuple[datetime, int]:
    """`HH:MM` (the next time it comes), `tomorrow HH:MM`, or what `parse_when` reads."""
    tz = svc.settings.timezone
    if tokens:
        found = _HH_MM.match(tokens[0])
        if found:
            local = now.astimezone(tz)
            at = datetime.combine(local.date(), time(int(found[1]), int(found[2])), tzinfo=tz)
            return (at if at > now else at + timedelta(days=1)), 1
        if _CLOCK_LIKE.fullmatch(tokens[0]):
            raise BadTime((tokens[0], "time"))
    if len(tokens) >= 2 and tokens[0].lower() in DAY_WORDS:
        found = _HH_MM.match(tokens[1])
        if found is None:
            raise BadTime((tokens[1], "time"))
        day = now.astimezone(tz).date() + timedelta(days=DAY_WORDS[tokens[0].lower()])
        return datetime.combine(day, time(int(found[1]), int(found[2])), tzinfo=tz), 2
    return parse_when(tokens, now, tz)


# ------------------------------------------------------------------------------ RSVP


def press_rsvp(ctx: Context, cb: callbacks.Callback) -> None:
    """'I'll come' / 'can't come' on an event post: counts edited in place."""
    svc = ctx.svc
    event = svc.repo.get_event(cb.int_arg(0))
    answer = cb.args[1]
    if event is None or answer not in (RSVP_YES, RSVP_NO) or ctx.sender is None:
        ctx.toast(ctx._("This button is no longer valid."))
        return
    if event.cancelled is not None:
        ctx.toast(ctx._("This event was cancelled."), alert=True)
        return
    if not ctx.chat.is_group or ctx.chat.id not in event.groups:
        # Event posts exist only in the event's groups: anything else is forged.
        ctx.toast(ctx._("This button is no longer valid."))
        return
    user = ctx.sender
    going = next((a for a in event.going if a.user_id == user.id), None)
    waiting = next((a for a in event.waitlist if a.user_id == user.id), None)
    promoted: Attendee | None = None
    if answer == RSVP_YES:
        if going is not None:
            ctx.toast(ctx._("You are already signed up."))
            return
        if waiting is not None:
            place = event.waitlist.index(waiting) + 1
            ctx.toast(ctx._("You are on the waitlist, number {n}.").format(n=ctx.t.number(place)))
            return
        person = Attendee(user.id, user.name, ctx.chat.id)
        if user.id in event.declined:
            event.declined.remove(user.id)
        if event.capacity is not None and len(event.going) >= event.capacity:
            event.waitlist.append(person)
            note = ctx._("The event is full: you are on the waitlist, number {n}.").format(
                n=ctx.t.number(len(event.waitlist))
            )
        else:
            event.going.append(person)
            note = ctx._("See you there! You are signed up for E{id}.").format(id=event.id)
    else:
        if going is None and waiting is None:
            if user.id not in event.declined:
                event.declined.append(user.id)
                svc.repo.save_event(event)
            ctx.toast(ctx._("Noted: you can't come."))
            return
        if going is not None:
            event.going.remove(going)
            if event.waitlist and (event.capacity is None or len(event.going) < event.capacity):
                promoted = event.waitlist.pop(0)
                event.going.append(promoted)
        if waiting is not None:
            event.waitlist.remove(waiting)
        event.declined.append(user.id)
        note = ctx._("Noted: you are no longer signed up for E{id}.").format(id=event.id)
    svc.repo.save_event(event)
    log.info("action=rsvp event=%s user=%s answer=%s", event.id, user.id, answer)
    ctx.toast(note)
    if ctx.press is not None and ctx.press.message_id is not None:
        # The counts on the post: a burst of presses folds into one edit with the newest.
        svc.post.refresh(ctx.chat.id, f"event:{event.id}", message_id=ctx.press.message_id)
    if promoted is not None:
        tell_promoted(svc, event, promoted)


def tell_promoted(svc: Services, event: CalendarEvent, promoted: Attendee) -> None:
    """Tell who moved up from the waitlist, in the chat they signed up from."""
    if not promoted.chat_id:
        return  # a sign-up kept without its person (they asked to be forgotten)
    t = svc.texts_for(promoted.chat_id)
    svc.post.send(
        promoted.chat_id,
        t.gettext(
            "🎉 {name}: a place came free, you are now signed up for E{id} · {title}."
        ).format(name=esc(promoted.name), id=event.id, title=esc(event.title)),
        priority=Priority.ECHO,
    )


def refresh_posts(svc: Services, event: CalendarEvent) -> None:
    """Bring the counts on the event's posts up to date, in every group it was posted in."""
    for chat_id in event.groups:
        message_id = _post_in(svc, event, chat_id)
        if message_id is not None:
            svc.post.refresh(chat_id, f"event:{event.id}", message_id=message_id)
