"""`/stats` and `/export`: the period's figures and the ledger file, for community staff only.

The figures come from `handlers.ledger`; this module words them (chat HTML or plain text for
the console) and lays the ledger out as an .xlsx workbook. The ledger names reporters, so it
goes only to staff, and only into a private chat or the staff chat.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from handlers.categories import DEFAULTS, Categories
from handlers.core import Context, Services
from handlers.courier import Rendered
from handlers.ledger import (
    MONTH_LIKE,
    Ledger,
    Period,
    Rate,
    Tally,
    ledger_headers,
    ledger_rows,
    month_of,
    parse_month,
    parse_period,
    tally,
)
from handlers.parsing import quoted
from handlers.render import CHANNEL_LABELS, LABELLED, chunk, esc
from handlers.texts import N_, Translator
from storage.records import Case, OutKind, Priority
from storage.repository import Repository

# openpyxl (and the numpy and PIL it pulls in: ~0.13 s, ~20 MB) is imported by the export
# alone, not by every start of the bot.
if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

NOT_A_MONTH = N_("“{word}” is not a month: write YYYY-MM, e.g. 2026-11.")

# Excel's limit for one cell's text.
_CELL_LIMIT = 32767
# Widths (in characters) the ledger's columns may grow to; long texts wrap instead.
_MAX_WIDTH = {5: 50, 12: 40}
_DEFAULT_MAX_WIDTH = 24


# --- wording -----------------------------------------------------------------------------


def period_label(period: Period, t: Translator) -> str:
    """The period as people say it: a week with its dates, a month, or all time."""
    if period.start is None or period.end is None:
        return t.gettext("all time")
    if period.kind == "week":
        year, week, _weekday = period.start.isocalendar()
        last = (period.end - timedelta(days=1)).date()
        return t.gettext("week {week} of {year} ({start} – {end})").format(
            week=week, year=year, start=period.start.date().isoformat(), end=last.isoformat()
        )
    return t.gettext("{month}/{year}").format(month=period.start.month, year=period.start.year)


def rate_text(rate: Rate, t: Translator) -> str:
    """A rate as a percentage with its parts, or "no data" when nothing can be divided."""
    if rate.value is None:
        return t.gettext("no data")
    return f"{t.percent(rate.value)} ({t.number(rate.part)}/{t.number(rate.whole)})"


def tally_lines(counts: Tally, t: Translator) -> list[str]:
    """The counts of one scope and its three rates, in three lines."""
    n = t.number
    return [
        t.gettext(
            "received {received} · answered {answered} ({in_time} in time) · "
            "accepted {accepted} · declined {declined}"
        ).format(
            received=n(counts.received),
            answered=n(counts.answered),
            in_time=n(counts.answered_in_time),
            accepted=n(counts.accepted),
            declined=n(counts.declined),
        ),
        t.gettext(
            "closed {closed} · open {open} · overdue {overdue} · rated {rated} · "
            "awaiting a rating {unrated}"
        ).format(
            closed=n(counts.closed),
            open=n(counts.open),
            overdue=n(counts.overdue),
            rated=n(counts.rated),
            unrated=n(counts.unrated),
        ),
        t.gettext(
            "response rate {response} · resolution rate {resolution} · "
            "satisfaction rate {satisfaction}"
        ).format(
            response=rate_text(counts.response_rate, t),
            resolution=rate_text(counts.resolution_rate, t),
            satisfaction=rate_text(counts.satisfaction_rate, t),
        ),
    ]


def _label(labels: Mapping[int, str], building_id: int) -> str:
    return labels.get(building_id, str(building_id))


def category_label(code: str | None, t: Translator, categories: Categories) -> str:
    """A category as the figures name it; the cases without one are "not categorised"."""
    if code is None:
        return t.gettext("not categorised yet")
    return categories.name(code, t)


def category_line(counts: Tally, t: Translator) -> str:
    """The counts of one category in a line: what came in and how it went."""
    n = t.number
    return t.gettext(
        "received {received} · closed {closed} · open {open} · overdue {overdue} · "
        "resolution rate {resolution} · satisfaction rate {satisfaction}"
    ).format(
        received=n(counts.received),
        closed=n(counts.closed),
        open=n(counts.open),
        overdue=n(counts.overdue),
        resolution=rate_text(counts.resolution_rate, t),
        satisfaction=rate_text(counts.satisfaction_rate, t),
    )


def category_blocks(
    ledger: Ledger, t: Translator, categories: Categories, *, html: bool = True
) -> list[str]:
    """The figures per category: accepted matters (and those not categorised yet) with how
    they went, matters not accepted with how many."""
    _ = t.gettext

    def bold(text: str) -> str:
        return f"<b>{text}</b>" if html else text

    def name(code: str | None) -> str:
        label = category_label(code, t, categories)
        return esc(label) if html else label

    blocks = ["\n" + bold(_("By category"))]
    declined = []
    for code, counts in ledger.by_category.items():
        category = categories.get(code)
        if category is not None and not category.accepted:
            declined.append((code, counts))
            continue
        blocks.append(
            _(LABELLED).format(label="▸ " + bold(name(code)), text=category_line(counts, t))
        )
    if declined:
        counted = [
            _(LABELLED).format(label=name(code), text=t.number(counts.received))
            for code, counts in declined
        ]
        blocks.append(
            _(LABELLED).format(label="▸ " + bold(_("Not accepted")), text=" · ".join(counted))
        )
    return blocks


def stats_blocks(
    ledger: Ledger,
    t: Translator,
    labels: Mapping[int, str],
    *,
    html: bool = True,
    heading: str | None = None,
    categories: Categories = DEFAULTS,
) -> list[str]:
    """The figures as self-contained blocks: HTML for a chat, plain text for the console.

    `heading` (already formatted) replaces "📊 Case statistics" in the first block, so the
    scheduled reports word the same figures under their own names.
    """
    _ = t.gettext

    def bold(text: str) -> str:
        return f"<b>{text}</b>" if html else text

    def name(text: str) -> str:
        return esc(text) if html else text

    if heading is None:
        heading = "📊 " + bold(_("Case statistics"))
    title = heading + " · " + period_label(ledger.period, t)
    blocks = [title + "\n" + _("as of {time}").format(time=t.datetime(ledger.now))]
    if not ledger.overall.received:
        blocks.append(_("No cases were received in this period."))
        return blocks
    blocks.append("\n".join([bold(_("Overall")), *tally_lines(ledger.overall, t)]))
    blocks.append("\n" + bold(_("By building")))
    buildings = sorted(ledger.by_building.items(), key=lambda kv: _label(labels, kv[0]))
    for building_id, counts in buildings:
        blocks.append(
            "\n".join(["▸ " + bold(name(_label(labels, building_id))), *tally_lines(counts, t)])
        )
    blocks.append("\n" + bold(_("By channel")))
    for channel, counts in ledger.by_channel.items():
        blocks.append("\n".join(["▸ " + bold(_(CHANNEL_LABELS[channel])), *tally_lines(counts, t)]))
    blocks += category_blocks(ledger, t, categories, html=html)
    return blocks


def stats_text(
    cases: Iterable[Case],
    labels: Mapping[int, str],
    t: Translator,
    period: Period,
    now: datetime,
    categories: Categories = DEFAULTS,
) -> str:
    """The figures as plain text, for the console."""
    ledger = tally(cases, period, now, categories)
    return "\n".join(stats_blocks(ledger, t, labels, html=False, categories=categories))


def building_labels(repo: Repository) -> dict[int, str]:
    """Every building's name, including groups the bot has left: old cases still name them."""
    return {g.chat_id: g.label for g in repo.groups(active_only=False)}


# --- the workbook ------------------------------------------------------------------------


def _cell(value: str | int | float) -> str | int | float:
    """A value safe for a cell: no control characters, no more than a cell can hold."""
    if isinstance(value, str):
        from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

        cleaned: str = ILLEGAL_CHARACTERS_RE.sub("", value)
        return cleaned[:_CELL_LIMIT]
    return value


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _append(sheet: Worksheet, values: Sequence[str | int | float]) -> None:
    sheet.append([_cell(v) for v in values])
    for cell in sheet[sheet.max_row]:
        # Residents' text is data: "=..." must never become a formula in the staff's Excel.
        if cell.data_type == "f":
            cell.data_type = "s"


def _style_table(sheet: Worksheet, *, wrap_from: dict[int, int]) -> None:
    """Bold, frozen header; columns as wide as their content, long text wrapped."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(sheet.iter_cols(), start=1):
        limit = wrap_from.get(index, _DEFAULT_MAX_WIDTH)
        widest = max((_width(str(c.value)) for c in column if c.value is not None), default=4)
        sheet.column_dimensions[get_column_letter(index)].width = min(widest, limit) + 2
        if widest > limit:
            for cell in column[1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")


def _summary_sheet(
    sheet: Worksheet,
    ledger: Ledger,
    t: Translator,
    labels: Mapping[int, str],
    categories: Categories,
) -> None:
    _ = t.gettext
    headers = [
        _("Scope"),
        _("Name"),
        _("Received"),
        _("Answered"),
        _("Answered in time"),
        _("Accepted"),
        _("Declined"),
        _("Closed"),
        _("Open"),
        _("Overdue"),
        _("Rated"),
        _("Satisfied"),
        _("Basically satisfied"),
        _("Unsatisfied"),
        _("Awaiting a rating"),
        _("Response rate"),
        _("Resolution rate"),
        _("Satisfaction rate"),
    ]
    _append(sheet, headers)
    # Buildings and channels get a column of their own, so a building named like a channel
    # can never be read as one.
    scopes: list[tuple[str, str, Tally]] = [(_("Overall"), "", ledger.overall)]
    scopes += sorted(
        ((_("Building"), _label(labels, b), c) for b, c in ledger.by_building.items()),
        key=lambda s: s[1],
    )
    scopes += [(_("Channel"), _(CHANNEL_LABELS[ch]), c) for ch, c in ledger.by_channel.items()]
    scopes += [
        (_("Category"), category_label(code, t, categories), c)
        for code, c in ledger.by_category.items()
    ]
    for scope, name, c in scopes:
        rates = (c.response_rate, c.resolution_rate, c.satisfaction_rate)
        _append(
            sheet,
            [
                scope,
                name,
                c.received,
                c.answered,
                c.answered_in_time,
                c.accepted,
                c.declined,
                c.closed,
                c.open,
                c.overdue,
                c.rated,
                c.satisfied,
                c.basic,
                c.unsatisfied,
                c.unrated,
                *(r.value if r.value is not None else _("no data") for r in rates),
            ],
        )
        for cell in sheet[sheet.max_row][-3:]:
            if isinstance(cell.value, float):
                cell.number_format = "0.0%"
    _style_table(sheet, wrap_from={})
    # The period and the time of counting, under the table, so the header stays on row 1.
    sheet.append([])
    sheet.append([_("Period"), period_label(ledger.period, t)])
    sheet.append([_("Counted at"), t.datetime(ledger.now)])


def export_workbook(
    cases: Iterable[Case],
    labels: Mapping[int, str],
    t: Translator,
    period: Period,
    now: datetime,
    categories: Categories = DEFAULTS,
) -> bytes:
    """The ledger of the cases received in `period` and a summary sheet, as .xlsx bytes."""
    from openpyxl import Workbook

    cases = list(cases)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = t.gettext("Ledger")[:31]
    _append(sheet, ledger_headers(t))
    for row in ledger_rows(cases, t, labels, period, categories):
        _append(sheet, row)
    _style_table(sheet, wrap_from=_MAX_WIDTH)
    if sheet.max_row > 1:
        sheet.auto_filter.ref = sheet.dimensions
    _summary_sheet(
        book.create_sheet(t.gettext("Summary")[:31]),
        tally(cases, period, now, categories),
        t,
        labels,
        categories,
    )
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export_filename(period: Period) -> str:
    # ASCII only: some clients mangle non-ASCII names of uploaded files.
    return f"echowall-ledger-{period.month_code}.xlsx"


# --- commands ----------------------------------------------------------------------------


def period_problem(t: Translator, words: list[str], *, months_only: bool) -> str:
    """What is wrong with the period typed after /stats (or the month after /export)."""
    if len(words) > 1:
        return t.gettext("“{words}”: one period only, please.").format(
            words=quoted(" ".join(words))
        )
    word = words[0] if words else ""
    if months_only or MONTH_LIKE.fullmatch(word):
        return t.gettext(NOT_A_MONTH).format(word=quoted(word))
    return t.gettext("“{word}” is not a period.").format(word=quoted(word))


def cmd_stats(ctx: Context) -> None:
    """Reply with the period's counts and the three rates, overall, by building and channel."""
    svc = ctx.svc
    now = svc.clock()
    words = ctx.args.split()
    period = parse_period(ctx.args, now, svc.settings.timezone) if len(words) <= 1 else None
    if period is None:
        ctx.usage(period_problem(ctx.t, words, months_only=False))
        return
    categories = svc.settings.categories
    ledger = tally(svc.repo.cases_received(period.start, period.end), period, now, categories)
    labels = building_labels(svc.repo)
    for text in chunk(stats_blocks(ledger, ctx.t, labels, categories=categories)):
        ctx.reply(text)


def cmd_export(ctx: Context) -> None:
    """Send the ledger of a month (default: this one) as an .xlsx file."""
    if not (ctx.chat.is_private or ctx.in_staff_chat):
        # The ledger names every reporter: never into a building group.
        ctx.reply(
            ctx._(
                "The ledger names residents: ask for it in a private chat with me "
                "or in the staff chat."
            )
        )
        return
    svc = ctx.svc
    now = svc.clock()
    words = ctx.args.split()
    tz = svc.settings.timezone
    period = month_of(now, tz) if not words else parse_month(words[0], tz)
    if period is None or len(words) > 1:
        ctx.usage(period_problem(ctx.t, words, months_only=True))
        return
    send_ledger(ctx.svc, ctx.chat.id, period, ctx.t, priority=Priority.REPLY, asked=True)


def send_ledger(
    svc: Services,
    chat_id: int,
    period: Period,
    t: Translator,
    *,
    priority: Priority,
    asked: bool = False,
) -> None:
    """Send a month's ledger file; it is made from the store when it goes out.

    `asked`: the answer to /export, which says in words that a month had no cases instead
    of sending an empty workbook (the monthly report files its ledger either way).
    """
    suffix = ":asked" if asked else ""
    svc.post.view(
        chat_id,
        f"ledger:{period.month_code}:{t.language}{suffix}",
        kind=OutKind.FILE,
        priority=priority,
    )


async def view_ledger(svc: Services, argument: str, chat_id: int) -> Rendered | None:
    """The ledger of month `2026-11:zh` as an .xlsx file, with a caption counting its cases
    (`2026-11:zh:asked`: /export's answer, in words when the month had none)."""
    month, _, rest = argument.partition(":")
    language, _, asked = rest.partition(":")
    period = parse_month(month, svc.settings.timezone)
    if period is None:
        return None
    t = svc.texts(language or None)
    now = svc.clock()
    cases = svc.repo.cases_received(period.start, period.end)
    if not cases and asked:
        text = t.gettext("📒 No cases were received in {period}: there is no ledger to send.")
        return Rendered(text.format(period=esc(period_label(period, t))))
    data = export_workbook(
        cases, building_labels(svc.repo), t, period, now, svc.settings.categories
    )
    caption = t.ngettext(
        "📒 Ledger for {period}: {n} case", "📒 Ledger for {period}: {n} cases", len(cases)
    ).format(period=esc(period_label(period, t)), n=t.number(len(cases)))
    return Rendered(caption, file=(export_filename(period), data))
