"""HTML rendering of cases, and splitting long texts within Telegram's 4096 characters."""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping

from handlers.categories import DEFAULTS, Categories
from handlers.texts import N_, Translator
from storage.records import Case, CaseClass, Channel, Level, Pin, Rating, State, Step

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

STATE_LABELS = {
    State.NEW: N_("new"),
    State.ACCEPTED: N_("accepted"),
    State.FIXED: N_("fixed, awaiting check"),
    State.CLOSED: N_("closed"),
    State.DECLINED: N_("declined"),
    State.REOPENED: N_("reopened"),
    State.MERGED: N_("merged"),
}
STATE_ICONS = {
    State.NEW: "🆕",
    State.ACCEPTED: "🛠",
    State.FIXED: "🔧",
    State.CLOSED: "✅",
    State.DECLINED: "🚫",
    State.REOPENED: "🔁",
    State.MERGED: "🔗",
}
LEVEL_LABELS = {
    Level.BUILDING: N_("building"),
    Level.COMMUNITY: N_("community"),
    Level.STREET: N_("street office"),
    Level.DISTRICT: N_("district"),
}
CLASS_LABELS = {
    CaseClass.EASY: N_("easy case"),
    CaseClass.KEY: N_("key case"),
    CaseClass.HARD: N_("difficult case"),
}
CHANNEL_LABELS = {
    Channel.GROUP: N_("building group"),
    Channel.PRIVATE: N_("private chat"),
    Channel.FORUM: N_("residents' forum"),
    Channel.MAILBOX: N_("mailbox"),
    Channel.VISIT: N_("home visit"),
    Channel.HOTLINE: N_("hotline"),
}
RATING_LABELS = {
    Rating.SATISFIED: N_("satisfied"),
    Rating.BASIC: N_("basically satisfied"),
    Rating.UNSATISFIED: N_("unsatisfied"),
}
# What the bot notes on a step by itself, stored as a code (`Step.code`) and worded for each
# reader: the class a case was accepted as, the rating it got, why it was escalated or
# reopened, who logged it for a neighbour (`{name}`, kept in `Step.note`).
REASON_LABELS = {
    "not-satisfied": N_("the resident is not satisfied"),
    "staff-card": N_("escalated from the staff chat"),
    "overdue": N_("overdue: escalated automatically"),
    "logged-by": N_("logged by {name}"),
    # A merge, on both cases: the other case's number is the step's note ("#17").
    "merged-into": N_("merged into case {name}"),
    "merged-from": N_("case {name} merged into this one"),
}
NOTE_LABELS: dict[str, str] = {
    **{klass.value: label for klass, label in CLASS_LABELS.items()},
    **{rating.value: label for rating, label in RATING_LABELS.items()},
    **REASON_LABELS,
}
# The codes each step's bot-written notes may have: a step stored before codes existed holds
# one of their wordings instead, in the language of whoever acted.
LEGACY_NOTES = {
    "accept": tuple(klass.value for klass in CLASS_LABELS),
    "rate": tuple(rating.value for rating in RATING_LABELS),
    "report": ("logged-by",),
    "log": ("logged-by",),
    "escalate": ("staff-card", "overdue"),
    "reopen": ("not-satisfied",),
}
# A label and its text; Chinese puts a full-width colon between them.
LABELLED = N_("{label}: {text}")
# Where a resident's name was, once it was removed (retention, /forgetme).
ANONYMISED = N_("(anonymised)")


_TAG = re.compile(r"<[^>]*>")


def esc(text: str) -> str:
    """Escape user text for Telegram HTML."""
    return html.escape(text, quote=False)


def clip(text: str, limit: int) -> str:
    """Shorten text to `limit` characters as Telegram counts them, with an ellipsis."""
    text = " ".join(text.split()) if "\n" in text and limit < 200 else text
    if utf16_len(text) <= limit:
        return text
    used = 0
    for index, char in enumerate(text):
        used += 2 if ord(char) > 0xFFFF else 1
        if used > limit - 1:
            return text[:index] + "…"
    return text


def utf16_len(text: str) -> int:
    """Length as Telegram counts it."""
    return len(text.encode("utf-16-le")) // 2


def plain(text: str) -> str:
    """What Telegram shows of our HTML: tags dropped, entities decoded (user text is escaped)."""
    return html.unescape(_TAG.sub("", text))


def visible_len(text: str) -> int:
    """Length of our HTML as Telegram counts it against its limits: after entity parsing."""
    return utf16_len(plain(text))


def chunk(blocks: list[str], limit: int = MESSAGE_LIMIT) -> list[str]:
    """Join self-contained HTML blocks into as few messages as fit `limit` each."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        if visible_len(block) > limit:
            # Blocks are clipped before; this last guard keeps the HTML whole, as plain text.
            block = esc(clip(plain(block), limit))
        candidate = f"{current}\n{block}" if current else block
        # Measured with its markup, so a message joined of blocks is always short enough; a
        # single block is sent whole, its shown text being within the limit.
        if utf16_len(candidate) > limit and current:
            messages.append(current)
            current = block
        else:
            current = candidate
    if current:
        messages.append(current)
    return messages


def case_card(
    case: Case,
    t: Translator,
    building: str,
    *,
    show_reporter: bool,
    text_limit: int = 1500,
    categories: Categories = DEFAULTS,
    suggest: bool = False,
) -> str:
    """The case as a card: number, state, building, reporter, content, category, deadline.

    `suggest`: show the category the keywords suggest while none is set (the staff card).
    """
    _ = t.gettext
    lines = [
        _("{icon} <b>Case #{id}</b> · {state}").format(
            icon=STATE_ICONS[case.state], id=case.id, state=_(STATE_LABELS[case.state])
        ),
        _("Building: {building}").format(building=esc(building)),
    ]
    if show_reporter and case.reporter_name:
        lines.append(_("Reported by: {name}").format(name=esc(case.reporter_name)))
    lines.append(_("Problem: {text}").format(text=esc(clip(case.text, text_limit))))
    lines += evidence_lines(case, t, staff=show_reporter)
    if case.klass is not None or case.level is not Level.BUILDING:
        parts = []
        if case.klass is not None:
            parts.append(_(CLASS_LABELS[case.klass]))
        parts.append(_("handled at {level} level").format(level=_(LEVEL_LABELS[case.level])))
        lines.append(" · ".join(parts))
    lines += category_lines(case, t, categories, suggest=suggest)
    if case.assignee_name:
        lines.append(_("Responsible: {name}").format(name=esc(clip(case.assignee_name, 100))))
    if case.state in (State.NEW, State.REOPENED):
        answer_by = case.deadline() or case.answer_due
        lines.append(_("Answer due: {time}").format(time=t.datetime(answer_by)))
    elif case.state is State.FIXED and case.check_due is not None:
        lines.append(_("To be checked by: {time}").format(time=t.datetime(case.check_due)))
    elif case.is_open and case.due is not None and case.state is not State.FIXED:
        lines.append(_("Promised by: {time}").format(time=t.datetime(case.due)))
    if case.overdue_since is not None and case.is_open:
        lines.append(_("⚠️ Overdue"))
    if case.measure:
        measure = clip(case.measure, min(600, text_limit))
        lines.append(_("Measure: {measure}").format(measure=esc(measure)))
    if case.rating is not None:
        lines.append(_("Satisfaction: {rating}").format(rating=_(RATING_LABELS[case.rating])))
    if case.merged_into is not None:
        lines.append(_("🔗 Merged into case #{id}").format(id=case.merged_into))
    if case.merged:
        merged = ", ".join(f"#{i}" for i in case.merged[:20])
        lines.append(_("🔗 Merged into this case: {ids}").format(ids=merged))
    if case.supporters:
        lines.append(
            t.ngettext(
                "👥 {n} neighbour has the same problem",
                "👥 {n} neighbours have the same problem",
                len(case.supporters),
            ).format(n=t.number(len(case.supporters)))
        )
    return "\n".join(lines)


def category_lines(
    case: Case, t: Translator, categories: Categories, *, suggest: bool = False
) -> list[str]:
    """The case's category, and for a declined case where the resident was referred to."""
    _ = t.gettext
    if case.category is not None:
        name = esc(categories.name(case.category, t))
        if case.state is State.DECLINED:
            lines = [_("Not accepted: {category}").format(category=name)]
            if case.referral is not None:
                referral = esc(categories.referral_name(case.referral, t))
                lines.append(_("Referred to: {referral}").format(referral=referral))
            return lines
        return [_("Category: {category}").format(category=name)]
    if suggest and case.state is not State.DECLINED:
        guess = categories.suggest(case.text)
        if guess is not None:
            return [_("Category: {category} (suggested)").format(category=esc(guess.name(t)))]
    return []


class Notes:
    """Words a step's bot-written note in the reader's language, old steps included.

    A step stores the bot's own notes as codes (`Step.code`). Steps stored before that hold
    the note as it was worded then, in the actor's language (`重点件`, `satisfied`,
    `由刘社工代为登记`); they are recognised by comparing with each language's wording of the
    codes that step could have had, and worded again for the reader. A note a person typed is
    shown as typed.
    """

    def __init__(self, languages: Iterable[Translator], categories: Categories = DEFAULTS) -> None:
        self._categories = categories
        self._worded: dict[tuple[str, str], str] = {}  # (action, worded note) -> code
        self._named: list[tuple[str, re.Pattern[str], str]] = []  # (action, pattern, code)
        for t in languages:
            for action, codes in LEGACY_NOTES.items():
                for code in codes:
                    worded = t.gettext(NOTE_LABELS[code])
                    if "{name}" in worded:
                        pattern = re.escape(worded).replace(r"\{name\}", "(?P<name>.+)")
                        self._named.append((action, re.compile(pattern, re.S), code))
                    else:
                        self._worded.setdefault((action, worded), code)

    def code_of(self, step: Step) -> tuple[str, str]:
        """The step's code and its parameter: stored, or recognised in an old worded note."""
        if step.code:
            return step.code, step.note
        code = self._worded.get((step.action, step.note))
        if code is not None:
            return code, ""
        for action, pattern, named in self._named:
            found = pattern.fullmatch(step.note) if action == step.action else None
            if found is not None:
                return named, found["name"]
        return "", step.note

    def text(self, step: Step, t: Translator) -> str:
        """The note in the reader's language, as HTML (a typed note escaped and clipped)."""
        code, note = self.code_of(step)
        if code.startswith(CATEGORY_CODE):
            return category_note(t, self._categories, code, note)
        return note_text(t, code, note)


# A step that set a category: `cat:<category>`, and for a decline `cat:<category>:<referral>`;
# its note is what the person typed, if anything.
CATEGORY_CODE = "cat:"


def category_code(category: str, referral: str | None = None) -> str:
    return CATEGORY_CODE + category + (f":{referral}" if referral else "")


def category_note(t: Translator, categories: Categories, code: str, note: str) -> str:
    """A category step's note as HTML: the category, the referral, the typed note."""
    category, _sep, referral = code.removeprefix(CATEGORY_CODE).partition(":")
    text = esc(categories.name(category, t))
    if referral:
        text = t.gettext("{category}; referred to {referral}").format(
            category=text, referral=esc(categories.referral_name(referral, t))
        )
    if note:
        text = t.gettext("{text}; {note}").format(text=text, note=esc(clip(note, 300)))
    return text


def note_text(t: Translator, code: str, note: str, limit: int = 300) -> str:
    """A note as HTML: the bot's (`code`, with `note` its parameter) or a person's (`note`,
    clipped to `limit` characters)."""
    label = NOTE_LABELS.get(code) if code else None
    if label is None:
        return esc(clip(note, limit))
    return t.gettext(label).format(name=esc(clip(note, 100)))


def timeline(
    case: Case,
    t: Translator,
    *,
    show_names: bool,
    labels: Mapping[str, str],
    notes: Notes,
    unnamed: Iterable[int | None] = (),
) -> list[str]:
    """One line per step of the case's history; `labels` names each kind of step; the steps
    of the people in `unnamed` are shown without their name."""
    _ = t.gettext
    lines = []
    hidden = set(unnamed)
    for step in case.timeline:
        label = _(labels[step.action]) if step.action in labels else esc(step.action)
        if show_names and step.actor_name and step.actor_id not in hidden:
            label += f" · {esc(step.actor_name)}"
        note = notes.text(step, t)
        line = _(LABELLED).format(label=label, text=note) if note else label
        lines.append(f"• {t.datetime(step.at)} {line}")
    return lines


# --- evidence on cards ------------------------------------------------------------------------

ATTACHMENT_LABELS = {
    "voice": N_("🎙 With a voice message"),
    "audio": N_("🎙 With an audio recording"),
    "video": N_("🎬 With a video"),
    "video_note": N_("🎬 With a video message"),
}


def where_text(case: Case, t: Translator) -> str | None:
    """Entrance · floor · flat, as far as the report named them."""
    parts = []
    if case.entrance:
        parts.append(t.gettext("entrance {n}").format(n=esc(case.entrance)))
    if case.floor:
        parts.append(t.gettext("floor {n}").format(n=esc(case.floor)))
    if case.flat:
        parts.append(t.gettext("flat {n}").format(n=esc(case.flat)))
    return " · ".join(parts) if parts else None


def map_link(pin: Pin) -> str:
    """A link that opens the pin on a map (Amap, which residents in China use)."""
    return f"https://uri.amap.com/marker?position={pin.longitude:.6f},{pin.latitude:.6f}"


def evidence_lines(case: Case, t: Translator, *, staff: bool = False) -> list[str]:
    """Where the problem is and what came with the report (and, for staff, the fix's photo)."""
    _ = t.gettext
    lines = []
    place = where_text(case, t)
    if place is not None:
        lines.append(_("🏠 Where: {place}").format(place=place))
    if case.pin is not None:
        name = " ".join(x for x in (case.pin.title, case.pin.address) if x)
        shown = esc(name[:200]) if name else f"{case.pin.latitude:.5f}, {case.pin.longitude:.5f}"
        lines.append(
            _("📍 Location: {place}").format(place=f'<a href="{map_link(case.pin)}">{shown}</a>')
        )
    if case.photo_count > 1 or (staff and case.photo_count):
        lines.append(
            t.ngettext("📷 {n} photo", "📷 {n} photos", case.photo_count).format(
                n=t.number(case.photo_count)
            )
        )
    if case.attachment is not None:
        label = ATTACHMENT_LABELS.get(case.attachment.kind, ATTACHMENT_LABELS["voice"])
        lines.append(_(label))
    if staff and case.fix_photo is not None:
        lines.append(_("📷 The fix has a photo"))
    return lines
