"""The scheduled reports to the staff chat: 日登记、周汇总、月上报.

- The daily register (日登记) lists every case registered in one day: number, building,
  channel, content and state now, with counts. With a closing time (`ECHOWALL_DAILY_AT`, 20:00
  by default) the register of day D covers the 24 hours up to D at that time, so a case
  reported after the evening register is in the next day's — never in none.
- The weekly summary (周汇总) has the last ISO week's counts and three rates, overall, by
  building and by channel, as the caption of a chart of cases received and closed per day and
  building; what does not fit in a caption follows as text.
- The monthly report (月上报) has the previous month's figures and its ledger as an .xlsx file.

All of them count exactly as `/stats` and `/export` do (`handlers.ledger`, `handlers.stats`):
the cases received in the period, each by its state at the time of the report. They speak the
staff chat's language; the runtime's scheduler decides when, and which day, week or month is
due (`register_day`, `previous_week`, `previous_month`, from its clock).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from handlers import chart
from handlers.categories import DEFAULTS, Categories
from handlers.core import Services, log
from handlers.courier import Sender
from handlers.ledger import (
    Ledger,
    Period,
    month_period,
    received_in,
    tally,
    week_of,
)
from handlers.ports import ChatGone, DeliveryError
from handlers.render import (
    CAPTION_LIMIT,
    CHANNEL_LABELS,
    STATE_ICONS,
    STATE_LABELS,
    chunk,
    clip,
    esc,
    utf16_len,
)
from handlers.stats import (
    building_labels,
    category_label,
    period_label,
    send_ledger,
    stats_blocks,
)
from handlers.texts import N_, Translator
from storage.records import Case, Channel, Priority, State

DAILY_TITLE = N_("Daily register")
WEEKLY_TITLE = N_("Weekly summary")
MONTHLY_TITLE = N_("Monthly report")

# Characters of a case's content in the register: enough to know the case, short enough
# that a busy day stays readable (the full text is one /case away).
REGISTER_TEXT = 200
# Buildings drawn one panel each, busiest first; the others share one panel.
MAX_PANELS = 8

K = TypeVar("K")


# --- which day, week and month --------------------------------------------------------------


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def register_window(day: date, tz: ZoneInfo, closes_at: time | None = None) -> Period:
    """Return the span of `day`'s register: the calendar day, or the 24 hours to `closes_at`."""
    if closes_at is None:
        return Period("day", _midnight(day, tz), _midnight(day + timedelta(days=1), tz))
    return Period(
        "day",
        datetime.combine(day - timedelta(days=1), closes_at, tzinfo=tz),
        datetime.combine(day, closes_at, tzinfo=tz),
    )


def register_day(now: datetime, tz: ZoneInfo, closes_at: time) -> date:
    """Return the day whose register closed last at `now` (today once `closes_at` passed)."""
    local = now.astimezone(tz)
    # A run delayed past midnight still closes the day it was meant for.
    return local.date() if local.time() >= closes_at else local.date() - timedelta(days=1)


def previous_week(now: datetime, tz: ZoneInfo) -> date:
    """Return the Monday of the ISO week before the one that holds `now`."""
    start = week_of(now, tz).start
    assert start is not None
    return start.date() - timedelta(days=7)


def previous_month(now: datetime, tz: ZoneInfo) -> date:
    """Return the 1st of the calendar month before the one that holds `now`."""
    first = now.astimezone(tz).date().replace(day=1)
    return (first - timedelta(days=1)).replace(day=1)


# --- the daily register ---------------------------------------------------------------------


def _counted(items: Iterable[tuple[str, int]]) -> str:
    return " · ".join(f"{name} {count}" for name, count in items)


def _count_by(cases: Sequence[Case], key: Callable[[Case], K]) -> dict[K, int]:
    counts: dict[K, int] = {}
    for case in cases:
        counts[key(case)] = counts.get(key(case), 0) + 1
    return counts


def register_blocks(
    cases: Sequence[Case],
    day: date,
    window: Period,
    t: Translator,
    labels: Mapping[int, str],
    categories: Categories = DEFAULTS,
) -> list[str]:
    """Word the register of `day` as self-contained HTML blocks: heading, counts, cases."""
    _ = t.gettext
    assert window.start is not None and window.end is not None

    def label(case: Case) -> str:
        return labels.get(case.building_id, str(case.building_id))

    heading = "\n".join(
        [
            f"📋 <b>{_(DAILY_TITLE)}</b> · {t.date(day)}",
            _("Registered {start} – {end}").format(
                start=t.datetime(window.start), end=t.datetime(window.end)
            ),
        ]
    )
    if not cases:
        return [heading, _("No new cases today.")]
    by_building = sorted(_count_by(cases, label).items())
    by_channel = _count_by(cases, lambda c: c.channel)
    by_state = _count_by(cases, lambda c: c.state)
    by_category = _count_by(cases, lambda c: c.category)
    order = [c.code for c in categories.items]
    listed: list[str | None] = [code for code in order if code in by_category]
    listed += sorted(code for code in by_category if code is not None and code not in order)
    listed += [None] if None in by_category else []
    counts = "\n".join(
        [
            t.ngettext("{n} new case", "{n} new cases", len(cases)).format(n=t.number(len(cases))),
            _("By building: {counts}").format(
                counts=_counted((esc(name), n) for name, n in by_building)
            ),
            _("By channel: {counts}").format(
                counts=_counted(
                    (_(CHANNEL_LABELS[ch]), by_channel[ch]) for ch in Channel if ch in by_channel
                )
            ),
            _("By state: {counts}").format(
                counts=_counted(
                    (_(STATE_LABELS[st]), by_state[st]) for st in State if st in by_state
                )
            ),
            _("By category: {counts}").format(
                counts=_counted(
                    (esc(category_label(code, t, categories)), by_category[code]) for code in listed
                )
            ),
        ]
    )
    blocks = [heading, counts]
    for number, case in enumerate(cases):
        head = " · ".join(
            [
                f"<b>#{case.id}</b>",
                esc(label(case)),
                _(CHANNEL_LABELS[case.channel]),
                f"{STATE_ICONS[case.state]} {_(STATE_LABELS[case.state])}",
            ]
        )
        # A blank line before the first case sets the list off from the counts.
        lead = "\n" if number == 0 else ""
        blocks.append(f"{lead}{head}\n{esc(clip(case.text, REGISTER_TEXT))}")
    return blocks


def daily_register(svc: Services, day: date, *, closes_at: time | None = None) -> list[int]:
    """Send the staff chat the register of `day`; return the numbers of the cases listed."""
    staff = svc.staff_chat
    if staff is None:
        return []
    window = register_window(day, svc.settings.timezone, closes_at)
    cases = received_in(svc.repo.cases_received(window.start, window.end), window)
    t = svc.texts_for(staff)
    labels = building_labels(svc.repo)
    blocks = register_blocks(cases, day, window, t, labels, svc.settings.categories)
    for text in chunk(blocks):
        svc.post.send(staff, text, priority=Priority.ECHO)
    return [c.id for c in cases]


# --- the weekly summary ---------------------------------------------------------------------


@dataclass
class Activity:
    """What happened in one building on each day of a week."""

    received: list[int] = field(default_factory=lambda: [0] * 7)
    closed: list[int] = field(default_factory=lambda: [0] * 7)

    @property
    def total(self) -> int:
        return sum(self.received) + sum(self.closed)


def week_activity(cases: Iterable[Case], monday: date, tz: ZoneInfo) -> dict[int, Activity]:
    """Count the cases received and closed on each day of the week, per building with any."""
    activity: dict[int, Activity] = {}

    def day_of(when: datetime) -> int | None:
        offset = (when.astimezone(tz).date() - monday).days
        return offset if 0 <= offset < 7 else None

    for case in cases:
        if case.state is State.MERGED:
            continue  # counted once, in the case it was merged into
        received = day_of(case.created)
        # Only a case closed now counts as closed; a declined one also has a closing time.
        closed = (
            day_of(case.closed_at)
            if case.state is State.CLOSED and case.closed_at is not None
            else None
        )
        if received is None and closed is None:
            continue
        building = activity.setdefault(case.building_id, Activity())
        if received is not None:
            building.received[received] += 1
        if closed is not None:
            building.closed[closed] += 1
    return activity


def _chart_safe(label: str) -> bool:
    # The default font (DejaVu Sans) has every ASCII glyph, and no Chinese ones.
    return label.isascii() and label.isprintable()


def week_panels(
    activity: Mapping[int, Activity],
    labels: Mapping[int, str],
    t: Translator,
    *,
    cjk: bool,
) -> tuple[list[chart.Panel], list[tuple[str, str]]]:
    """Lay out the chart's panels; return them and the key of buildings drawn as codes."""
    _ = t.gettext
    order = sorted(activity.items(), key=lambda kv: (-kv[1].total, labels.get(kv[0], str(kv[0]))))
    shown, others = order[:MAX_PANELS], order[MAX_PANELS:]
    if len(others) == 1:  # a panel of "other buildings" for one building would hide its name
        shown, others = order, []
    panels: list[chart.Panel] = []
    key: list[tuple[str, str]] = []
    if len(activity) > 1:
        panels.append(_sum_panel(_("All buildings"), activity.values()))
    for building, counts in shown:
        name = labels.get(building, str(building))
        if not (cjk or _chart_safe(name)):
            code = f"B{len(key) + 1}"
            key.append((code, name))
            name = code
        panels.append(chart.Panel(name, counts.received, counts.closed))
    if others:
        panels.append(_sum_panel(_("Other buildings"), (counts for _b, counts in others)))
    return panels, key


def _sum_panel(label: str, parts: Iterable[Activity]) -> chart.Panel:
    total = Activity()
    for part in parts:
        for day in range(7):
            total.received[day] += part.received[day]
            total.closed[day] += part.closed[day]
    return chart.Panel(label, total.received, total.closed)


async def _week_chart(
    svc: Services,
    t: Translator,
    period: Period,
    activity: Mapping[int, Activity],
    labels: Mapping[int, str],
) -> tuple[bytes, list[tuple[str, str]]] | None:
    """Draw the week's chart as PNG and return it with its key; None when it cannot be drawn."""
    assert period.start is not None
    try:
        family = await asyncio.to_thread(chart.cjk_family)
        # Without a CJK font, Chinese words would be drawn as boxes: the chart speaks English.
        words = t if family is not None else svc.texts("en")
        panels, key = week_panels(activity, labels, words, cjk=family is not None)
        monday = period.start.date()
        days = [monday + timedelta(days=i) for i in range(7)]
        texts = chart.ChartTexts(
            title=words.gettext("Cases received and closed per day · {period}").format(
                period=period_label(period, words)
            ),
            received=words.gettext("Received"),
            closed=words.gettext("Closed"),
        )
        day_labels = [f"{words.weekday(d)}\n{d:%m-%d}" for d in days]
        png = await asyncio.to_thread(chart.render_week, day_labels, panels, texts, family=family)
    except Exception:
        # The figures still go out as text; a broken chart must not cost the summary.
        log.exception("weekly chart failed")
        return None
    return png, key


def split_caption(blocks: Sequence[str], limit: int = CAPTION_LIMIT) -> tuple[str, list[str]]:
    """Split the blocks into a caption of the leading ones that fit, and the rest.

    Measured on the HTML source, which is never shorter than the text Telegram counts.
    """
    caption = ""
    for index, block in enumerate(blocks):
        candidate = f"{caption}\n{block}" if caption else block
        if utf16_len(candidate) > limit:
            return caption, list(blocks[index:])
        caption = candidate
    return caption, []


def weekly_summary(svc: Services, week_start: date) -> Ledger | None:
    """Send the staff chat the figures and chart of the ISO week from Monday `week_start`.

    The figures are counted now; the summary itself (chart and text) is made when it goes
    out, from the same store (`deliver_weekly`).
    """
    staff = svc.staff_chat
    if staff is None:
        return None
    tz = svc.settings.timezone
    period = week_of(_midnight(week_start, tz), tz)
    categories = svc.settings.categories
    ledger = tally(svc.repo.cases_active(period.start, period.end), period, svc.clock(), categories)
    svc.post.view(staff, f"weekly:{week_start.isoformat()}", priority=Priority.ECHO)
    return ledger


async def deliver_weekly(svc: Services, argument: str, sender: Sender) -> None:
    """Send the week's summary: its chart with the leading figures as caption, then the rest."""
    staff = svc.staff_chat
    if staff is None:
        return
    week_start = date.fromisoformat(argument)
    tz = svc.settings.timezone
    period = week_of(_midnight(week_start, tz), tz)
    # The week's figures count the cases received in it, its chart those received or closed.
    cases = svc.repo.cases_active(period.start, period.end)
    categories = svc.settings.categories
    ledger = tally(cases, period, svc.clock(), categories)
    labels = building_labels(svc.repo)
    t = svc.texts_for(staff)
    heading = f"📈 <b>{t.gettext(WEEKLY_TITLE)}</b>"
    blocks = stats_blocks(ledger, t, labels, heading=heading, categories=categories)
    activity = week_activity(cases, week_start, tz)
    drawn = await _week_chart(svc, t, period, activity, labels) if activity else None
    if drawn is not None:
        png, key = drawn
        if key:
            # Next to the figures, so the codes on the chart are explained in its caption.
            legend = t.gettext("Chart key: {key}").format(
                key=" · ".join(f"{code} = {esc(name)}" for code, name in key)
            )
            blocks.insert(min(2, len(blocks)), legend)
        caption, blocks = split_caption(blocks)
        year, week, _weekday = week_start.isocalendar()
        try:
            await sender.send_picture(
                staff, f"echowall-week-{year}-W{week:02d}.png", png, caption=caption or None
            )
        except ChatGone:
            raise
        except DeliveryError as exc:
            log.warning("weekly chart not sent (%s); the summary goes out as text", exc)
            blocks = [caption, *blocks] if caption else blocks
    for text in chunk(blocks):
        await sender.send(staff, text)


# --- the monthly report ---------------------------------------------------------------------


def monthly_report(svc: Services, month: date) -> Ledger | None:
    """Send the staff chat the figures of the month that holds `month`, and its ledger file."""
    staff = svc.staff_chat
    if staff is None:
        return None
    period = month_period(month.year, month.month, svc.settings.timezone)
    now = svc.clock()
    cases = svc.repo.cases_received(period.start, period.end)
    categories = svc.settings.categories
    ledger = tally(cases, period, now, categories)
    labels = building_labels(svc.repo)
    t = svc.texts_for(staff)
    heading = f"🗓 <b>{t.gettext(MONTHLY_TITLE)}</b>"
    for text in chunk(stats_blocks(ledger, t, labels, heading=heading, categories=categories)):
        svc.post.send(staff, text, priority=Priority.ECHO)
    send_ledger(svc, staff, period, t, priority=Priority.ECHO)
    return ledger
