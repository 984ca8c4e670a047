"""One problem, one case: which open case a new report looks like, and /find's matching.

Texts are compared by their *grams*: pairs of neighbouring characters of each run of Chinese
(or other non-Latin) characters — Chinese has no spaces, and two characters carry most of a
word (楼道, 水管, 漏水) — and the lowercase words of Latin text, without a few very common
ones. Two texts look alike when at least two grams are shared and the shared ones are at least
half of the shorter text's (the overlap coefficient), so "水管爆了！" and "楼下水管爆裂，到处是水"
look alike, "楼道灯坏了" and "电梯坏了" do not. No library is needed for this; it is pure
Python, a few microseconds per pair once a text's grams are known (they are kept for the
texts seen last). A new report is compared with the newest `LOOKBACK` open cases of its
building: duplicates come in together (a burst pipe brings its ten reports within hours), and
a report costs the same in a building with a backlog of hundreds.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from storage.records import OPEN_STATES, Case
from storage.repository import Repository

# At least this share of the shorter text's grams, and this many, shared.
THRESHOLD = 0.5
MIN_SHARED = 2
# How many of the building's newest open cases a new report is compared with.
LOOKBACK = 20
# Words too common to say anything about a problem.
STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "my",
        "no",
        "not",
        "of",
        "on",
        "or",
        "our",
        "so",
        "the",
        "there",
        "this",
        "to",
        "too",
        "was",
        "we",
        "with",
    ]
)
_LATIN = re.compile(r"[0-9a-z]+")


def _runs(text: str) -> Iterable[tuple[bool, str]]:
    """The text in runs of Latin letters and digits (True) and of other letters (False);
    punctuation, symbols and spaces end a run."""
    run: list[str] = []
    latin: bool | None = None
    for char in unicodedata.normalize("NFKC", text).lower():
        category = unicodedata.category(char)
        if not (category.startswith("L") or category == "Nd"):
            if run:
                yield bool(latin), "".join(run)
            run, latin = [], None
            continue
        is_latin = char.isascii()
        if latin is not None and is_latin != latin:
            yield latin, "".join(run)
            run = []
        run.append(char)
        latin = is_latin
    if run:
        yield bool(latin), "".join(run)


@lru_cache(maxsize=4096)
def grams(text: str) -> frozenset[str]:
    """A text's grams: character pairs of its Chinese runs, its Latin words."""
    found: set[str] = set()
    for latin, run in _runs(text):
        if latin:
            found.update(w for w in _LATIN.findall(run) if w not in STOPWORDS)
        elif len(run) == 1:
            found.add(run)
        else:
            found.update(run[i : i + 2] for i in range(len(run) - 1))
    return frozenset(found)


def likeness(a: frozenset[str], b: frozenset[str]) -> float:
    """How alike two texts' grams are (0 to 1): shared ÷ the shorter's, 0 below MIN_SHARED."""
    if not a or not b:
        return 0.0
    shared = len(a & b)
    return shared / min(len(a), len(b)) if shared >= MIN_SHARED else 0.0


def lookalike(repo: Repository, building_id: int, text: str) -> Case | None:
    """The open case of the building, shown in its group, that a new report with this text
    looks most like."""
    mine = grams(text)
    best: tuple[float, int] | None = None
    found: int | None = None
    newest = repo.case_ids(building_id=building_id, states=OPEN_STATES)[-LOOKBACK:]
    for case_id, case_text, published, supporters in repo.case_texts(newest):
        if not published:
            continue  # an offline demand its building has not been shown: never quoted there
        score = likeness(mine, grams(case_text))
        # The most alike; of equals, the most supported, then the oldest (the first report).
        key = (score, supporters)
        if score >= THRESHOLD and (best is None or key > best):
            best, found = key, case_id
    return repo.get_case(found) if found is not None else None


def matches(case: Case, words: list[str], query: frozenset[str]) -> float:
    """How well a case matches /find's words: 1 when every word is in its text (or measure),
    else its likeness to the whole query (0 when below the threshold)."""
    haystack = unicodedata.normalize("NFKC", f"{case.text}\n{case.measure or ''}").lower()
    if words and all(unicodedata.normalize("NFKC", w).lower() in haystack for w in words):
        return 1.0
    score = likeness(query, grams(haystack))
    return score if score >= THRESHOLD else 0.0
