"""The ledger (民情台账) and the three rates, computed from case records alone.

Pure functions, no I/O: `/stats`, `/export`, the CLI and the scheduled reports all count the
same way. The definitions, for the cases *received* (created) in a period `[start, end)` in the
deployment's time zone, each counted by its state **now** — which is how communities publish
their figures ("36 received, 29 closed, 7 in progress"):

- received: created in the period;
- answered: accepted or declined at some time (`answered_at` set; a fix without a formal
  acceptance sets it too);
- answered in time: answered no later than the answer deadline the case was received with;
- declined: declined now;
- accepted: answered and not declined now, so received = not yet answered + declined + accepted;
- closed: closed now (checked on site after the fix); closed cases are always accepted ones;
- open: new, accepted, fixed-awaiting-check or reopened now;
- overdue: open and past the deadline it is waiting on now — the answer deadline while new or
  reopened, the promised time while accepted; a fixed case waits only for the check, so it is
  never overdue;
- rated: has a rating now (a new fix clears an old rating until the resident rates again);
- awaiting a rating: fixed or closed now and not rated (the reporter has not answered, or a
  visit is still to be made);
- response rate = answered in time ÷ received;
- resolution rate = closed ÷ accepted;
- satisfaction rate = (satisfied + basically satisfied) ÷ rated.

A case merged into another (one problem, one case) is in none of the counts: the case it was
merged into counts once, its reporter among that case's supporters. The ledger keeps its row,
its state "merged" and its progress reading "merged into #17".

A rate whose denominator is zero has no value ("no data"), never 0 %.

The same figures are given overall, per building, per channel and per category (the
deployment's accepted and not-accepted categories, and the cases not categorised yet).
The unified ledger format (`LEDGER_COLUMNS`) is one row per case: the columns communities
file upward, each with what it holds (text, a number, a local date and time), so that every
file format writes a date as a date and a duration as a number; `timeline_rows` is every
step of every case. `handlers.stats` writes both as files.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import TypeVar
from zoneinfo import ZoneInfo

from handlers.categories import DEFAULTS, Categories
from handlers.render import (
    ANONYMISED,
    CHANNEL_LABELS,
    CLASS_LABELS,
    LEVEL_LABELS,
    RATING_LABELS,
    STATE_LABELS,
)
from handlers.texts import N_, Translator
from storage.records import OPEN_STATES, Case, Channel, Rating, State, Step

K = TypeVar("K")

PERIOD_KINDS = ("week", "month", "all")
# The periods as typed: the kind, or the words /help shows for it.
PERIOD_WORDS = {
    **{kind: kind for kind in PERIOD_KINDS},
    "本周": "week",
    "本月": "month",
    "全部": "all",
}
_MONTH = re.compile(r"(\d{4})-(\d{1,2})")
# Written like a month, whether or not it is one (`2026-13`).
MONTH_LIKE = re.compile(r"\d{1,4}-\d{1,2}")


# --- periods -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A half-open interval `[start, end)` of local time; `None` ends are unbounded."""

    kind: str  # "day" (a daily register's span), "week", "month" or "all"
    start: datetime | None = None
    end: datetime | None = None

    def contains(self, when: datetime) -> bool:
        return (self.start is None or when >= self.start) and (self.end is None or when < self.end)

    @property
    def month_code(self) -> str:
        """`YYYY-MM` of a month period (for file names), else the kind."""
        if self.kind == "month" and self.start is not None:
            return f"{self.start.year:04d}-{self.start.month:02d}"
        return self.kind


def week_of(now: datetime, tz: ZoneInfo) -> Period:
    """The ISO week (Monday 00:00 to the next Monday 00:00, local time) that holds `now`."""
    local = now.astimezone(tz)
    monday = (local - timedelta(days=local.weekday())).date()
    following = monday + timedelta(days=7)
    return Period(
        "week",
        datetime(monday.year, monday.month, monday.day, tzinfo=tz),
        datetime(following.year, following.month, following.day, tzinfo=tz),
    )


def month_period(year: int, month: int, tz: ZoneInfo) -> Period:
    """A calendar month, from the 1st 00:00 local time to the next month's 1st."""
    after = (year + 1, 1) if month == 12 else (year, month + 1)
    return Period(
        "month", datetime(year, month, 1, tzinfo=tz), datetime(after[0], after[1], 1, tzinfo=tz)
    )


def month_of(now: datetime, tz: ZoneInfo) -> Period:
    """The calendar month that holds `now`."""
    local = now.astimezone(tz)
    return month_period(local.year, local.month, tz)


def all_time() -> Period:
    return Period("all")


def parse_month(text: str, tz: ZoneInfo) -> Period | None:
    """`YYYY-MM` (or `YYYY-M`) as a month period; None when it is not a real month."""
    found = _MONTH.fullmatch(text.strip())
    if found is None:
        return None
    year, month = int(found[1]), int(found[2])
    # Any real month is one (a month before the bot has no cases, and says so); before 1900
    # local midnight may not convert to UTC.
    if not (1 <= month <= 12 and 1900 <= year <= 9998):
        return None
    return month_period(year, month, tz)


def parse_period(text: str, now: datetime, tz: ZoneInfo, default: str = "month") -> Period | None:
    """`week`, `month`, `all` (or 本周, 本月, 全部) or `YYYY-MM`; empty text means `default`;
    None when unknown."""
    word = text.strip().lower() or default
    word = PERIOD_WORDS.get(word, word)
    if word == "week":
        return week_of(now, tz)
    if word == "month":
        return month_of(now, tz)
    if word == "all":
        return all_time()
    return parse_month(word, tz)


def received_in(cases: Iterable[Case], period: Period) -> list[Case]:
    """The cases created in the period, by number."""
    return sorted((c for c in cases if period.contains(c.created)), key=lambda c: c.id)


# --- per-case facts ----------------------------------------------------------------------


def first_answer_due(case: Case) -> datetime:
    """The answer deadline the case was received with.

    `handlers.actions.reopen` moves `answer_due` to `reopened + (answer_due - created)`, while
    `answered_at` keeps the first answer, which always comes before any reopening. Undoing those
    moves judges the first answer against the first deadline; otherwise a late answer would
    turn punctual the moment the case was reopened.
    """
    due = case.answer_due
    for step in case.timeline:
        if step.action == "reopen":
            due = due - step.at + case.created
    return due


def answered_in_time(case: Case) -> bool:
    return case.answered_at is not None and case.answered_at <= first_answer_due(case)


def is_accepted(case: Case) -> bool:
    """Answered and not declined now: taken on, whatever has happened since."""
    return case.answered_at is not None and case.state is not State.DECLINED


def is_unrated(case: Case) -> bool:
    """Fixed or closed, and no rating yet: a satisfaction still to be asked for."""
    return case.state in (State.FIXED, State.CLOSED) and case.rating is None


def is_overdue(case: Case, now: datetime) -> bool:
    """Past the deadline the case waits on now, the same test as the overdue sweep's."""
    deadline = case.deadline()
    return deadline is not None and deadline <= now


# --- counts and rates --------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    """A share with its parts; `value` is None when there is nothing to divide by."""

    part: int
    whole: int

    @property
    def value(self) -> float | None:
        return self.part / self.whole if self.whole else None


@dataclass
class Tally:
    """The counts of one scope (all cases, one building or one channel) in a period."""

    received: int = 0
    answered: int = 0
    answered_in_time: int = 0
    accepted: int = 0
    declined: int = 0
    closed: int = 0
    open: int = 0
    overdue: int = 0
    rated: int = 0
    satisfied: int = 0
    basic: int = 0
    unsatisfied: int = 0
    unrated: int = 0

    def add(self, case: Case, now: datetime) -> None:
        self.received += 1
        self.answered += case.answered_at is not None
        self.answered_in_time += answered_in_time(case)
        self.accepted += is_accepted(case)
        self.declined += case.state is State.DECLINED
        self.closed += case.state is State.CLOSED
        self.open += case.state in OPEN_STATES
        self.overdue += is_overdue(case, now)
        self.rated += case.rating is not None
        self.satisfied += case.rating is Rating.SATISFIED
        self.basic += case.rating is Rating.BASIC
        self.unsatisfied += case.rating is Rating.UNSATISFIED
        self.unrated += is_unrated(case)

    @property
    def response_rate(self) -> Rate:
        return Rate(self.answered_in_time, self.received)

    @property
    def resolution_rate(self) -> Rate:
        return Rate(self.closed, self.accepted)

    @property
    def satisfaction_rate(self) -> Rate:
        return Rate(self.satisfied + self.basic, self.rated)


@dataclass
class Ledger:
    """The figures of a period: overall, per building, per channel and per category (None:
    not categorised yet)."""

    period: Period
    now: datetime
    overall: Tally = field(default_factory=Tally)
    by_building: dict[int, Tally] = field(default_factory=dict)
    by_channel: dict[Channel, Tally] = field(default_factory=dict)
    by_category: dict[str | None, Tally] = field(default_factory=dict)


def tally(
    cases: Iterable[Case], period: Period, now: datetime, categories: Categories = DEFAULTS
) -> Ledger:
    """Count the cases received in `period` by their state at `now`."""
    ledger = Ledger(period, now)
    for case in received_in(cases, period):
        if case.state is State.MERGED:
            # One problem, one case: a duplicate counts in the case it was merged into.
            continue
        ledger.overall.add(case, now)
        ledger.by_building.setdefault(case.building_id, Tally()).add(case, now)
        ledger.by_channel.setdefault(case.channel, Tally()).add(case, now)
        ledger.by_category.setdefault(case.category, Tally()).add(case, now)
    # Channels in the contract's order, categories in the deployment's (a category no longer
    # configured after them, the cases not categorised last): reports always read alike.
    ledger.by_channel = {ch: ledger.by_channel[ch] for ch in Channel if ch in ledger.by_channel}
    order = {c.code: index for index, c in enumerate(categories.items)}
    ledger.by_category = dict(
        sorted(
            ledger.by_category.items(),
            key=lambda kv: (kv[0] is None, order.get(kv[0] or "", len(order)), kv[0] or ""),
        )
    )
    return ledger


# --- the unified ledger format -----------------------------------------------------------

# A ledger cell: text, a number (a case number, hours, days), a local date and time, or blank.
Cell = str | int | float | datetime | None


class Kind(StrEnum):
    """What a column holds, so that each file format writes it as what it is."""

    TEXT = "text"
    NUMBER = "number"  # a case number, or a duration in hours or days
    WHEN = "when"  # a date and time, local, with the year


@dataclass(frozen=True)
class Facts:
    """What a row is written with besides its case: the reader's language, the building's
    name, the time of counting and the deployment's time zone."""

    t: Translator
    building: str
    now: datetime
    tz: tzinfo
    categories: Categories = DEFAULTS

    def local(self, when: datetime | None) -> datetime | None:
        return when.astimezone(self.tz) if when is not None else None

    def word(self, msgid: str) -> str:
        return self.t.gettext(msgid)


@dataclass(frozen=True)
class Column:
    """One column of the ledger: its header (a msgid), what it holds, and its value."""

    header: str
    kind: Kind
    value: Callable[[Case, Facts], Cell]


YES, NO = N_("yes"), N_("no")


def _reporter(case: Case, facts: Facts) -> str:
    """Who made the demand: the Telegram name, or the name staff took down offline; for a
    reporter removed (retention, /forgetme), that they were."""
    if case.reporter_name:
        return case.reporter_name
    if case.contact is not None and case.contact.name:
        return case.contact.name
    online = case.channel in (Channel.GROUP, Channel.PRIVATE)  # always had a reporter
    return facts.word(ANONYMISED) if case.anonymised is not None or online else ""


def _hours(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() / 3600, 2) if end is not None else None


def _days(start: datetime, end: datetime | None) -> float | None:
    return round((end - start).total_seconds() / 86400, 2) if end is not None else None


def _closed_at(case: Case) -> datetime | None:
    # A declined case also carries a closing time, but it was never handled to the end.
    return case.closed_at if case.state is State.CLOSED else None


def stamp(when: datetime, tz: tzinfo) -> str:
    """A time inside a text cell, the same in every language: 2026-11-20 14:00."""
    return f"{when.astimezone(tz):%Y-%m-%d %H:%M}"


def progress_notes(case: Case, tz: tzinfo) -> str:
    """What `/progress` told the resident, one dated line per note, oldest first."""
    return "\n".join(
        f"{stamp(step.at, tz)} {step.note}" for step in case.timeline if step.action == "progress"
    )


def _progress(case: Case, facts: Facts) -> str:
    """The progress notes; a case merged into another says so first (its row stays)."""
    notes = progress_notes(case, facts.tz)
    if case.state is not State.MERGED:
        return notes
    merged = facts.word(N_("merged into #{id}")).format(id=case.merged_into)
    return f"{merged}\n{notes}" if notes else merged


def _fix_photo(case: Case, facts: Facts) -> str:
    """Whether the fix was reported with a photo (blank while there is no fix)."""
    if case.fix_photo is not None:
        return facts.word(YES)
    return facts.word(NO) if case.fixed_at is not None else ""


def _answered_in_time(case: Case, facts: Facts) -> str:
    if case.answered_at is None:
        return ""
    return facts.word(YES if answered_in_time(case) else NO)


def _label(labels: Mapping[K, str], key: K | None, facts: Facts) -> str:
    return facts.word(labels[key]) if key is not None else ""


def _category(case: Case, facts: Facts) -> str:
    if case.category is None:
        return ""
    return facts.categories.name(case.category, facts.t)


def _referral(case: Case, facts: Facts) -> str:
    if case.referral is None:
        return ""
    return facts.categories.referral_name(case.referral, facts.t)


def _contact(field_name: str) -> Callable[[Case, Facts], Cell]:
    return lambda case, facts: getattr(case.contact, field_name) if case.contact else ""


# The unified ledger format (日登记、周汇总、月上报 share it): the columns communities
# file upward, in their order, with the resident's flat and phone next to their name (offline
# demands; the ledger goes to staff only), the state next to the progress notes, the times it
# took as numbers, and whether the case is overdue now.
LEDGER_COLUMNS: tuple[Column, ...] = (
    Column(N_("Case no."), Kind.NUMBER, lambda c, f: c.id),
    Column(N_("Registered at"), Kind.WHEN, lambda c, f: f.local(c.created)),
    Column(N_("Channel"), Kind.TEXT, lambda c, f: f.word(CHANNEL_LABELS[c.channel])),
    Column(N_("Building"), Kind.TEXT, lambda c, f: f.building),
    Column(N_("Reporter"), Kind.TEXT, _reporter),
    Column(N_("Flat"), Kind.TEXT, _contact("flat")),
    Column(N_("Phone"), Kind.TEXT, _contact("phone")),
    Column(N_("Problem"), Kind.TEXT, lambda c, f: c.text),
    Column(N_("Category"), Kind.TEXT, _category),
    Column(N_("Handling level"), Kind.TEXT, lambda c, f: f.word(LEVEL_LABELS[c.level])),
    Column(N_("Case class"), Kind.TEXT, lambda c, f: _label(CLASS_LABELS, c.klass, f)),
    Column(N_("Responsible"), Kind.TEXT, lambda c, f: c.assignee_name),
    Column(N_("Answered at"), Kind.WHEN, lambda c, f: f.local(c.answered_at)),
    Column(N_("Answered in time"), Kind.TEXT, _answered_in_time),
    Column(N_("Hours to answer"), Kind.NUMBER, lambda c, f: _hours(c.created, c.answered_at)),
    Column(N_("Promised by"), Kind.WHEN, lambda c, f: f.local(c.due)),
    Column(N_("Measure"), Kind.TEXT, lambda c, f: c.measure or ""),
    Column(N_("Referred to"), Kind.TEXT, _referral),
    Column(N_("State"), Kind.TEXT, lambda c, f: f.word(STATE_LABELS[c.state])),
    Column(N_("Progress"), Kind.TEXT, _progress),
    Column(N_("Closed at"), Kind.WHEN, lambda c, f: f.local(_closed_at(c))),
    Column(N_("Days to close"), Kind.NUMBER, lambda c, f: _days(c.created, _closed_at(c))),
    Column(N_("Overdue now"), Kind.TEXT, lambda c, f: f.word(YES if is_overdue(c, f.now) else NO)),
    Column(N_("Satisfaction"), Kind.TEXT, lambda c, f: _label(RATING_LABELS, c.rating, f)),
    Column(N_("Photos"), Kind.NUMBER, lambda c, f: c.photo_count),
    Column(N_("Fix photo"), Kind.TEXT, _fix_photo),
)
LEDGER_HEADERS = tuple(column.header for column in LEDGER_COLUMNS)


def ledger_headers(t: Translator) -> list[str]:
    return [t.gettext(h) for h in LEDGER_HEADERS]


def ledger_row(case: Case, facts: Facts) -> list[Cell]:
    """One case in the unified ledger format."""
    return [column.value(case, facts) for column in LEDGER_COLUMNS]


def ledger_rows(
    cases: Iterable[Case],
    t: Translator,
    labels: Mapping[int, str],
    period: Period | None = None,
    categories: Categories = DEFAULTS,
    *,
    now: datetime,
    tz: tzinfo,
) -> list[list[Cell]]:
    """The ledger rows of the cases received in `period` (all when None), by case number."""
    chosen = received_in(cases, period or all_time())
    return [
        ledger_row(c, Facts(t, labels.get(c.building_id, str(c.building_id)), now, tz, categories))
        for c in chosen
    ]


# --- the timeline of every case ----------------------------------------------------------

TIMELINE_COLUMNS: tuple[tuple[str, Kind], ...] = (
    (N_("Case no."), Kind.NUMBER),
    (N_("Time"), Kind.WHEN),
    (N_("Step"), Kind.TEXT),
    (N_("By"), Kind.TEXT),
    (N_("Note"), Kind.TEXT),
)


def timeline_rows(
    cases: Iterable[Case],
    t: Translator,
    tz: tzinfo,
    *,
    steps: Mapping[str, str],
    note: Callable[[Step, Translator], str],
) -> list[list[Cell]]:
    """Every step of every case, in order: who did what when, with its note.

    `steps` names each kind of step (msgids, `handlers.commands.STEP_LABELS`); `note(step,
    t)` words a step's note as plain text in the reader's language.
    """
    rows: list[list[Cell]] = []
    for case in cases:
        for step in case.timeline:
            label = t.gettext(steps[step.action]) if step.action in steps else step.action
            rows.append([case.id, step.at.astimezone(tz), label, step.actor_name, note(step, t)])
    return rows
