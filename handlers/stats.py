"""`/stats` and `/export`: the period's figures and the ledger file, for community staff only.

The figures come from `handlers.ledger`; this module words them (chat HTML or plain text for
the console) and lays the ledger out as files: an .xlsx workbook for people (the ledger, every
case's timeline, the summary) and CSV for other systems. The ledger names reporters and holds
the contact details of offline demands, so it goes only to staff, and only into a private chat
or the staff chat.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from handlers.categories import DEFAULTS, Categories
from handlers.core import Context, Services
from handlers.courier import Rendered
from handlers.ledger import (
    LEDGER_COLUMNS,
    MONTH_LIKE,
    PERIOD_WORDS,
    TIMELINE_COLUMNS,
    Cell,
    Kind,
    Ledger,
    Period,
    Rate,
    Tally,
    ledger_headers,
    ledger_rows,
    month_of,
    parse_month,
    parse_period,
    received_in,
    tally,
    timeline_rows,
)
from handlers.parsing import quoted
from handlers.render import (
    CATEGORY_CODE,
    CHANNEL_LABELS,
    LABELLED,
    NOTE_LABELS,
    Notes,
    chunk,
    esc,
)
from handlers.texts import N_, Translator
from storage.records import Case, OutKind, Priority, Step
from storage.repository import Repository

# openpyxl (and the numpy and PIL it pulls in: ~0.13 s, ~20 MB) is imported by the export
# alone, not by every start of the bot.
if TYPE_CHECKING:
    from openpyxl.worksheet.worksheet import Worksheet

NOT_A_MONTH = N_("“{word}” is not a month: write YYYY-MM, e.g. 2026-11.")


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

# Excel's limit for one cell's text.
_CELL_LIMIT = 32767
# Widths (in characters) the ledger's columns may grow to, by header; long texts wrap instead.
_MAX_WIDTH = {N_("Problem"): 50, N_("Measure"): 40, N_("Progress"): 40, N_("Note"): 50}
_DEFAULT_MAX_WIDTH = 24
# Date cells show the year and the minute, in every spreadsheet (Excel, LibreOffice, WPS);
# durations one decimal (the cell holds two).
DATE_FORMAT = "yyyy-mm-dd hh:mm"
DURATION_FORMAT = "0.0"
_DATE_WIDTH = 17


def _text(value: str) -> str:
    """Text safe for a cell: no control characters, no more than a cell can hold."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    cleaned: str = ILLEGAL_CHARACTERS_RE.sub("", value)
    return cleaned[:_CELL_LIMIT]


def _cell(value: Cell | float) -> Cell | float:
    if isinstance(value, str):
        return _text(value)
    if isinstance(value, datetime):
        # Spreadsheets have no time zones: the local time, as written on the ledger.
        return value.replace(tzinfo=None)
    return value


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _append(sheet: Worksheet, values: Sequence[Cell | float]) -> None:
    sheet.append([_cell(v) for v in values])
    for cell in sheet[sheet.max_row]:
        # Residents' text is data: "=..." must never become a formula in the staff's Excel.
        if cell.data_type == "f":
            cell.data_type = "s"
        if isinstance(cell.value, datetime):
            cell.number_format = DATE_FORMAT
        elif isinstance(cell.value, float):
            cell.number_format = DURATION_FORMAT


def _style_table(sheet: Worksheet, *, limits: Mapping[int, int], dates: set[int]) -> None:
    """Bold, frozen header; columns as wide as their content, long text wrapped."""
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for index, column in enumerate(sheet.iter_cols(), start=1):
        letter = get_column_letter(index)
        if index in dates:
            header = _width(str(column[0].value or ""))
            sheet.column_dimensions[letter].width = max(header, _DATE_WIDTH) + 2
            continue
        limit = limits.get(index, _DEFAULT_MAX_WIDTH)
        widest = max((_width(str(c.value)) for c in column if c.value is not None), default=4)
        sheet.column_dimensions[letter].width = min(widest, limit) + 2
        if widest > limit:
            for cell in column[1:]:
                cell.alignment = Alignment(wrap_text=True, vertical="top")
    if sheet.max_row > 1:
        sheet.auto_filter.ref = sheet.dimensions


def _table(
    sheet: Worksheet,
    t: Translator,
    columns: Sequence[tuple[str, Kind]],
    rows: Iterable[Sequence[Cell]],
) -> None:
    """A sheet of one table: translated headers, the rows, the styling."""
    _append(sheet, [t.gettext(header) for header, _kind in columns])
    for row in rows:
        _append(sheet, row)
    limits = {i: _MAX_WIDTH[h] for i, (h, _k) in enumerate(columns, start=1) if h in _MAX_WIDTH}
    dates = {i for i, (_h, kind) in enumerate(columns, start=1) if kind is Kind.WHEN}
    _style_table(sheet, limits=limits, dates=dates)


SUMMARY_HEADERS = (
    N_("Scope"),
    N_("Name"),
    N_("Received"),
    N_("Answered"),
    N_("Answered in time"),
    N_("Accepted"),
    N_("Declined"),
    N_("Closed"),
    N_("Open"),
    N_("Overdue"),
    N_("Rated"),
    N_("Satisfied"),
    N_("Basically satisfied"),
    N_("Unsatisfied"),
    N_("Awaiting a rating"),
    N_("Response rate"),
    N_("Resolution rate"),
    N_("Satisfaction rate"),
)


def _summary_sheet(
    sheet: Worksheet,
    ledger: Ledger,
    t: Translator,
    labels: Mapping[int, str],
    categories: Categories,
    tz: tzinfo,
) -> None:
    _ = t.gettext
    _append(sheet, [_(header) for header in SUMMARY_HEADERS])
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
    _style_table(sheet, limits={}, dates=set())
    sheet.auto_filter.ref = None
    # The period, the time of counting and the time zone of every time in the workbook, under
    # the table, so the header stays on row 1.
    sheet.append([])
    sheet.append([_("Period"), period_label(ledger.period, t)])
    _append(sheet, [_("Counted at"), ledger.now.astimezone(tz)])
    sheet.append([_("Time zone"), str(tz)])


def _step_note(notes: Notes, categories: Categories) -> Callable[[Step, Translator], str]:
    """A step's note as plain text in the reader's language: the bot's code worded (a
    category with its referral), or what the person typed, whole."""

    def note(step: Step, t: Translator) -> str:
        code, text = notes.code_of(step)
        if code.startswith(CATEGORY_CODE):
            category, _sep, referral = code.removeprefix(CATEGORY_CODE).partition(":")
            worded = categories.name(category, t)
            if referral:
                worded = t.gettext("{category}; referred to {referral}").format(
                    category=worded, referral=categories.referral_name(referral, t)
                )
            return t.gettext("{text}; {note}").format(text=worded, note=text) if text else worded
        label = NOTE_LABELS.get(code) if code else None
        return t.gettext(label).format(name=text) if label is not None else text

    return note


def export_workbook(
    cases: Iterable[Case],
    labels: Mapping[int, str],
    t: Translator,
    period: Period,
    now: datetime,
    categories: Categories = DEFAULTS,
    *,
    tz: tzinfo,
) -> bytes:
    """The ledger of the cases received in `period` as .xlsx bytes: the ledger, every case's
    timeline, and the summary of the figures (which a recount of the ledger's rows gives)."""
    # Imported here: the table of commands imports this module for its handlers.
    from openpyxl import Workbook

    from handlers.commands import STEP_LABELS

    chosen = received_in(cases, period)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = t.gettext("Ledger")[:31]
    columns = [(c.header, c.kind) for c in LEDGER_COLUMNS]
    rows = ledger_rows(chosen, t, labels, None, categories, now=now, tz=tz)
    _table(sheet, t, columns, rows)
    steps = timeline_rows(
        chosen, t, tz, steps=STEP_LABELS, note=_step_note(Notes([t], categories), categories)
    )
    _table(book.create_sheet(t.gettext("Timeline")[:31]), t, TIMELINE_COLUMNS, steps)
    summary = book.create_sheet(t.gettext("Summary")[:31])
    _summary_sheet(summary, tally(chosen, period, now, categories), t, labels, categories, tz)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# Characters that make a spreadsheet read a CSV field as a formula (OWASP's list); a field
# that is a plain number or phone number is safe as it is.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?[\d ()./-]*")


def _csv_field(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="minutes")  # local, with its offset: 2026-11-20T14:00+08:00
    if isinstance(value, (int, float)):
        return str(value)
    text = value.replace("\x00", "")
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def export_csv(
    cases: Iterable[Case],
    labels: Mapping[int, str],
    t: Translator,
    period: Period,
    now: datetime,
    categories: Categories = DEFAULTS,
    *,
    tz: tzinfo,
) -> bytes:
    """The ledger sheet as CSV for other systems: the same rows and columns, UTF-8 with a byte
    order mark (Excel and WPS then read the Chinese), CRLF lines (RFC 4180), times in ISO
    8601 with their offset, durations with a decimal point."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(ledger_headers(t))
    for row in ledger_rows(cases, t, labels, period, categories, now=now, tz=tz):
        writer.writerow([_csv_field(value) for value in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


class Format(StrEnum):
    """The ledger's file formats: the workbook for people, CSV for other systems."""

    XLSX = "xlsx"
    CSV = "csv"


FORMAT_WORDS = {"xlsx": Format.XLSX, "excel": Format.XLSX, "csv": Format.CSV}
EXPORTERS = {Format.XLSX: export_workbook, Format.CSV: export_csv}


def export_filename(period: Period, form: Format = Format.XLSX) -> str:
    # ASCII only: some clients mangle non-ASCII names of uploaded files.
    return f"echowall-ledger-{period.month_code}.{form.value}"


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


def parse_export(
    words: list[str], now: datetime, tz: ZoneInfo, t: Translator
) -> tuple[Period, Format] | str:
    """The month and the format after /export (either may be left out, in any order), or
    what is wrong with them."""
    months = [w for w in words if w.lower() not in FORMAT_WORDS]
    forms = [FORMAT_WORDS[w.lower()] for w in words if w.lower() in FORMAT_WORDS]
    if len(months) > 1 or len(forms) > 1:
        return t.gettext("“{words}”: one month and one format at most, please.").format(
            words=quoted(" ".join(words))
        )
    period = parse_month(months[0], tz) if months else month_of(now, tz)
    if period is None:
        word = months[0]
        if MONTH_LIKE.fullmatch(word) or word.lower() in PERIOD_WORDS:
            return t.gettext(NOT_A_MONTH).format(word=quoted(word))
        return t.gettext("“{word}” is neither a month (YYYY-MM) nor a format (xlsx, csv).").format(
            word=quoted(word)
        )
    return period, forms[0] if forms else Format.XLSX


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
    """Send the ledger of a month (default: this one) as an .xlsx file, or as CSV."""
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
    parsed = parse_export(ctx.args.split(), svc.clock(), svc.settings.timezone, ctx.t)
    if isinstance(parsed, str):
        ctx.usage(parsed)
        return
    period, form = parsed
    send_ledger(svc, ctx.chat.id, period, ctx.t, priority=Priority.REPLY, asked=True, form=form)


def send_ledger(
    svc: Services,
    chat_id: int,
    period: Period,
    t: Translator,
    *,
    priority: Priority,
    asked: bool = False,
    form: Format = Format.XLSX,
) -> None:
    """Send a month's ledger file; it is made from the store when it goes out.

    `asked`: the answer to /export, which says in words that a month had no cases instead
    of sending an empty file (the monthly report files its ledger either way).
    """
    suffix = ":asked" if asked else ""
    view = "ledger" if form is Format.XLSX else "ledgercsv"
    svc.post.view(
        chat_id,
        f"{view}:{period.month_code}:{t.language}{suffix}",
        kind=OutKind.FILE,
        priority=priority,
    )


async def _ledger_file(
    svc: Services, argument: str, form: Format, caption: Callable[[Translator, int], str]
) -> Rendered | None:
    month, _, rest = argument.partition(":")
    language, _, asked = rest.partition(":")
    tz = svc.settings.timezone
    period = parse_month(month, tz)
    if period is None:
        return None
    t = svc.texts(language or None)
    cases = svc.repo.cases_received(period.start, period.end)
    if not cases and asked:
        text = t.gettext("📒 No cases were received in {period}: there is no ledger to send.")
        return Rendered(text.format(period=esc(period_label(period, t))))
    labels = building_labels(svc.repo)
    categories = svc.settings.categories
    data = EXPORTERS[form](cases, labels, t, period, svc.clock(), categories, tz=tz)
    n = len(cases)
    text = caption(t, n).format(period=esc(period_label(period, t)), n=t.number(n))
    return Rendered(text, file=(export_filename(period, form), data))


async def view_ledger(svc: Services, argument: str, chat_id: int) -> Rendered | None:
    """The ledger of month `2026-11:zh` as an .xlsx file, with a caption counting its cases
    (`2026-11:zh:asked`: /export's answer, in words when the month had none)."""
    return await _ledger_file(
        svc,
        argument,
        Format.XLSX,
        lambda t, n: t.ngettext(
            "📒 Ledger for {period}: {n} case", "📒 Ledger for {period}: {n} cases", n
        ),
    )


async def view_ledger_csv(svc: Services, argument: str, chat_id: int) -> Rendered | None:
    """The same ledger as CSV, for other systems (`/export csv`)."""
    return await _ledger_file(
        svc,
        argument,
        Format.CSV,
        lambda t, n: t.ngettext(
            "📒 Ledger for {period} as CSV, for other systems: {n} case",
            "📒 Ledger for {period} as CSV, for other systems: {n} cases",
            n,
        ),
    )
