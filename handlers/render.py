"""HTML rendering of cases, and splitting long texts within Telegram's 4096 characters."""

from __future__ import annotations

import html
import re

from handlers.texts import N_, Translator
from storage.records import Case, Channel, Level, Rating, State

MESSAGE_LIMIT = 4096
CAPTION_LIMIT = 1024

STATE_LABELS = {
    State.NEW: N_("new"),
    State.ACCEPTED: N_("accepted"),
    State.FIXED: N_("fixed, awaiting check"),
    State.CLOSED: N_("closed"),
    State.DECLINED: N_("declined"),
    State.REOPENED: N_("reopened"),
}
STATE_ICONS = {
    State.NEW: "🆕",
    State.ACCEPTED: "🛠",
    State.FIXED: "🔧",
    State.CLOSED: "✅",
    State.DECLINED: "🚫",
    State.REOPENED: "🔁",
}
LEVEL_LABELS = {
    Level.BUILDING: N_("building"),
    Level.COMMUNITY: N_("community"),
    Level.STREET: N_("street office"),
    Level.DISTRICT: N_("district"),
}
CLASS_LABELS = {"easy": N_("easy case"), "key": N_("key case"), "hard": N_("difficult case")}
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
ACTION_LABELS = {
    "report": N_("reported"),
    "log": N_("registered"),
    "accept": N_("accepted"),
    "progress": N_("progress"),
    "fixed": N_("fixed"),
    "confirm": N_("checked and closed"),
    "decline": N_("declined"),
    "escalate": N_("escalated"),
    "reopen": N_("reopened"),
    "rate": N_("rated"),
    "supporter": N_("me too"),
    "overdue": N_("overdue"),
}


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
) -> str:
    """The case as a card: number, state, building, reporter, content, deadline."""
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
    if case.klass is not None or case.level is not Level.BUILDING:
        parts = []
        if case.klass is not None:
            parts.append(_(CLASS_LABELS[case.klass]))
        parts.append(_("handled at {level} level").format(level=_(LEVEL_LABELS[case.level])))
        lines.append(" · ".join(parts))
    if case.state in (State.NEW, State.REOPENED):
        answer_by = case.deadline() or case.answer_due
        lines.append(_("Answer due: {time}").format(time=t.datetime(answer_by)))
    elif case.is_open and case.due is not None and case.state is not State.FIXED:
        lines.append(_("Promised by: {time}").format(time=t.datetime(case.due)))
    if case.overdue_since is not None and case.is_open:
        lines.append(_("⚠️ Overdue"))
    if case.measure:
        measure = clip(case.measure, min(600, text_limit))
        lines.append(_("Measure: {measure}").format(measure=esc(measure)))
    if case.rating is not None:
        lines.append(_("Satisfaction: {rating}").format(rating=_(RATING_LABELS[case.rating])))
    if case.supporters:
        lines.append(
            t.ngettext(
                "👥 {n} neighbour has the same problem",
                "👥 {n} neighbours have the same problem",
                len(case.supporters),
            ).format(n=t.number(len(case.supporters)))
        )
    return "\n".join(lines)


def timeline(case: Case, t: Translator, *, show_names: bool) -> list[str]:
    """One line per step of the case's history."""
    _ = t.gettext
    lines = []
    for step in case.timeline:
        who = f" · {esc(step.actor_name)}" if show_names and step.actor_name else ""
        note = f": {esc(clip(step.note, 300))}" if step.note else ""
        label = ACTION_LABELS.get(step.action, step.action)
        lines.append(f"• {t.datetime(step.at)} {_(label)}{who}{note}")
    return lines
