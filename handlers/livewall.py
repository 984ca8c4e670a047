"""The live problem wall: one pinned message per building group, edited as its cases change."""

from __future__ import annotations

import hashlib

from handlers.core import Services, log
from handlers.ports import DeliveryError, Rejected
from handlers.render import MESSAGE_LIMIT, STATE_ICONS, STATE_LABELS, clip, esc, utf16_len
from handlers.texts import Translator
from storage.records import OPEN_STATES, Case

# Room left under Telegram's limit for the "and N more" line.
_RESERVE = 200


def wall_line(svc: Services, t: Translator, case: Case, *, building: str | None = None) -> str:
    """One case on a wall: number, content, state, overdue flag, neighbours with the same issue."""
    deadline = case.deadline()
    overdue = case.overdue_since is not None or (deadline is not None and deadline < svc.clock())
    where = f"[{esc(building)}] " if building else ""
    flag = " ⚠️" + t.gettext("overdue") if overdue else ""
    support = f" 👥{len(case.supporters)}" if case.supporters else ""
    return (
        f"{STATE_ICONS[case.state]} <b>#{case.id}</b> {where}{esc(clip(case.text, 120))}"
        f" · {t.gettext(STATE_LABELS[case.state])}{flag}{support}"
    )


def wall_title(t: Translator, count: int) -> str:
    return t.ngettext(
        "🧱 <b>Problem wall</b>: {n} open case", "🧱 <b>Problem wall</b>: {n} open cases", count
    ).format(n=t.number(count))


def pinned_text(svc: Services, t: Translator, cases: list[Case]) -> str:
    """The wall as one message: as many cases as fit, then a pointer to /wall."""
    if not cases:
        return t.gettext("🧱 Problem wall: no open cases. 🎉")
    text = wall_title(t, len(cases))
    for shown, case in enumerate(cases):
        line = wall_line(svc, t, case)
        if utf16_len(text) + utf16_len(line) + 1 > MESSAGE_LIMIT - _RESERVE:
            more = t.gettext("… and {n} more: send /wall for all of them.")
            return text + "\n" + more.format(n=t.number(len(cases) - shown))
        text += "\n" + line
    return text


async def changed(svc: Services, building_id: int) -> None:
    """A case of the building changed: its wall is refreshed by the runtime soon (coalesced,
    off the handler's path), or at once when nothing runs walls in the background."""
    if svc.wall_changed is not None:
        svc.wall_changed(building_id)
    else:
        await refresh_wall(svc, building_id)


async def refresh_wall(svc: Services, building_id: int) -> None:
    """Bring the building's pinned wall up to date; post and pin it when it has none yet."""
    group = svc.repo.get_group(building_id)
    if group is None or not group.active or not svc.is_building(building_id):
        return
    cases = svc.repo.cases(building_id=building_id, states=OPEN_STATES)
    if group.wall_message_id is None and not cases:
        return  # nothing to show: no need to post an empty wall into a quiet group
    t = svc.texts_for(building_id)
    text = pinned_text(svc, t, cases)
    digest = hashlib.sha1(text.encode()).hexdigest()
    if digest == group.wall_digest and group.wall_message_id is not None:
        return  # unchanged: an edit would only earn "message is not modified"
    try:
        if group.wall_message_id is not None:
            try:
                await svc.messenger.edit(building_id, group.wall_message_id, text)
            except Rejected as exc:
                if "not found" not in str(exc):
                    raise
                group.wall_message_id = None  # someone deleted it: post a new one
        if group.wall_message_id is None:
            group.wall_message_id = await svc.messenger.send(building_id, text)
            try:
                await svc.messenger.pin(building_id, group.wall_message_id)
            except Rejected as exc:
                log.info("chat=%s action=pin refused: %s", building_id, exc)
                if not group.pin_warned:
                    group.pin_warned = True
                    await svc.messenger.send(
                        building_id,
                        t.gettext(
                            "I cannot pin the problem wall here. Give me the right to pin "
                            "messages to keep it on top; /wall works either way."
                        ),
                    )
    except DeliveryError as exc:
        log.warning("chat=%s action=wall failed: %s", building_id, exc)
    group.wall_digest = digest
    svc.repo.save_group(group, sync=False)  # where the wall is and what it shows
