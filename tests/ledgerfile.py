"""Reading a ledger file back as its readers do, and recounting its summary from its rows.

The workbook's summary sheet must say what a recount of its ledger rows says: whoever files it
upward (a street office, a district) may check one against the other. `recount` counts the
ledger's rows by the definitions in docs/product.md, in the words the file is written in, and
`summary_rows` reads the summary sheet (a case merged into another keeps its row and is
counted nowhere, as in the figures); the tests compare the two (test_ledger on the file as
openpyxl reads it, test_libreoffice on the file as LibreOffice opens it).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import load_workbook

from handlers.ledger import LEDGER_HEADERS
from handlers.render import RATING_LABELS, STATE_LABELS
from handlers.stats import SUMMARY_HEADERS
from handlers.texts import Translator
from storage.records import OPEN_STATES, Rating, State

# received … awaiting a rating, as the summary's columns name them
COUNTS = SUMMARY_HEADERS[2:-3]


def sheets(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet of a workbook, by name, as rows of values."""
    book = load_workbook(io.BytesIO(data))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def blank(value: Any) -> bool:
    return value is None or value == ""


def recount(rows: Sequence[Sequence[Any]], t: Translator) -> dict[tuple[str, str], list[Any]]:
    """Each scope's counts and three rates (part, whole) from the ledger sheet's rows (the
    header first), keyed like the summary: (scope, name)."""
    header, body = list(rows[0]), rows[1:]
    col = {msgid: header.index(t.gettext(msgid)) for msgid in LEDGER_HEADERS}
    word = t.gettext
    declined, closed = word(STATE_LABELS[State.DECLINED]), word(STATE_LABELS[State.CLOSED])
    still_open = {word(STATE_LABELS[s]) for s in OPEN_STATES}
    ratings = [word(RATING_LABELS[r]) for r in (Rating.SATISFIED, Rating.BASIC, Rating.UNSATISFIED)]
    to_rate = {word(STATE_LABELS[s]) for s in (State.FIXED, State.CLOSED)}
    uncategorised = word("not categorised yet")
    merged = word(STATE_LABELS[State.MERGED])
    found: dict[tuple[str, str], list[int]] = {}
    for row in body:
        state = row[col["State"]]
        if state == merged:
            # One problem, one case: a duplicate keeps its row and counts in no figure.
            continue
        answered = not blank(row[col["Answered at"]])
        rating = row[col["Satisfaction"]]
        counts = [
            1,
            answered,
            row[col["Answered in time"]] == word("yes"),
            answered and state != declined,
            state == declined,
            state == closed,
            state in still_open,
            row[col["Overdue now"]] == word("yes"),
            not blank(rating),
            rating == ratings[0],
            rating == ratings[1],
            rating == ratings[2],
            state in to_rate and blank(rating),
        ]
        scopes = [
            (word("Overall"), ""),
            (word("Building"), str(row[col["Building"]])),
            (word("Channel"), str(row[col["Channel"]])),
            (word("Category"), str(row[col["Category"]] or uncategorised)),
        ]
        for scope in scopes:
            total = found.setdefault(scope, [0] * len(counts))
            for index, value in enumerate(counts):
                total[index] += int(value)
    result: dict[tuple[str, str], list[Any]] = {}
    for scope, c in found.items():
        received, _a, in_time, accepted, _d, closed_n, _o, _ov, rated, pleased, basic, *_ = c
        rates = [(in_time, received), (closed_n, accepted), (pleased + basic, rated)]
        result[scope] = [*c, *rates]
    return result


def summary_rows(rows: Iterable[Sequence[Any]]) -> dict[tuple[str, str], list[Any]]:
    """The summary sheet's table (up to its first empty row), keyed by (scope, name)."""
    found: dict[tuple[str, str], list[Any]] = {}
    for row in list(rows)[1:]:
        if blank(row[0]):
            break
        found[(str(row[0]), "" if blank(row[1]) else str(row[1]))] = list(row[2:])
    return found


def rate_matches(written: Any, part: int, whole: int, t: Translator) -> bool:
    """A rate as the summary writes it: a share (a number, or text like 55.6%), or no data."""
    if whole == 0:
        return bool(written == t.gettext("no data"))
    if isinstance(written, str):
        return written.rstrip("%") == f"{100 * part / whole:.1f}"
    return abs(float(written) - part / whole) < 1e-9
