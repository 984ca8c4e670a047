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
its progress reading "merged into #17".

A rate whose denominator is zero has no value ("no data"), never 0 %.

The same figures are given overall, per building, per channel and per category (the
deployment's accepted and not-accepted categories, and the cases not categorised yet).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.categories import DEFAULTS, Categories
from handlers.render import CHANNEL_LABELS, CLASS_LABELS, LEVEL_LABELS, RATING_LABELS, STATE_LABELS
from handlers.texts import N_, Translator
from storage.records import OPEN_STATES, Case, Channel, Rating, State

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

LEDGER_HEADERS = (
    N_("Case no."),
    N_("Registered at"),
    N_("Channel"),
    N_("Building"),
    N_("Reporter"),
    N_("Problem"),
    N_("Category"),
    N_("Handling level"),
    N_("Case class"),
    N_("Responsible"),
    N_("Answered at"),
    N_("Answered in time"),
    N_("Promised by"),
    N_("Measure"),
    N_("Referred to"),
    N_("Progress"),
    N_("Closed at"),
    N_("Satisfaction"),
    N_("Photos"),
    N_("Fix photo"),
)
YES, NO = N_("yes"), N_("no")


def ledger_headers(t: Translator) -> list[str]:
    return [t.gettext(h) for h in LEDGER_HEADERS]


def ledger_row(
    case: Case, t: Translator, building: str, categories: Categories = DEFAULTS
) -> list[str | int]:
    """One case in the unified ledger format (日登记、周汇总、月上报 share it)."""
    _ = t.gettext

    def when(value: datetime | None) -> str:
        return t.datetime(value) if value is not None else ""

    answered = case.answered_at is not None
    return [
        case.id,
        when(case.created),
        _(CHANNEL_LABELS[case.channel]),
        building,
        case.reporter_name,
        case.text,
        categories.name(case.category, t) if case.category is not None else "",
        _(LEVEL_LABELS[case.level]),
        _(CLASS_LABELS[case.klass]) if case.klass is not None else "",
        case.assignee_name,
        when(case.answered_at),
        (_(YES) if answered_in_time(case) else _(NO)) if answered else "",
        when(case.due),
        case.measure or "",
        categories.referral_name(case.referral, t) if case.referral is not None else "",
        _("merged into #{id}").format(id=case.merged_into)
        if case.state is State.MERGED
        else _(STATE_LABELS[case.state]),
        # A declined case also carries a closing time, but it was never handled to the end.
        when(case.closed_at) if case.state is State.CLOSED else "",
        _(RATING_LABELS[case.rating]) if case.rating is not None else "",
        case.photo_count,
        _(YES) if case.fix_photo is not None else (_(NO) if case.fixed_at is not None else ""),
    ]


def ledger_rows(
    cases: Iterable[Case],
    t: Translator,
    labels: Mapping[int, str],
    period: Period | None = None,
    categories: Categories = DEFAULTS,
) -> list[list[str | int]]:
    """The ledger rows of the cases received in `period` (all when None), by case number."""
    chosen = received_in(cases, period or all_time())
    return [
        ledger_row(c, t, labels.get(c.building_id, str(c.building_id)), categories) for c in chosen
    ]
