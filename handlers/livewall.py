"""The live problem wall: one pinned message per building group, edited as its cases change.

A change asks for a refresh (`changed`); the runtime delivers it at the lowest priority and at
most once per `ECHOWALL_WALL_SECONDS`, rendering the wall as it is by then, so a burst of
reports becomes one edit. Posting and pinning happen when the building has no wall yet.
"""

from __future__ import annotations

import hashlib

from handlers.core import Services, log
from handlers.courier import Sender
from handlers.ports import NotModified, Rejected
from handlers.render import MESSAGE_LIMIT, STATE_ICONS, STATE_LABELS, clip, esc, utf16_len
from handlers.texts import N_, Translator
from storage.records import OPEN_STATES, Case, Priority

# Room left under Telegram's limit for the "and N more" line.
_RESERVE = 200
NO_OPEN = N_("🧱 Problem wall: no open cases. 🎉")
# Calls for one refresh of the wall before it waits for the next change.
ATTEMPTS = 4


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


def pinned_text(svc: Services, t: Translator, case_ids: list[int]) -> str:
    """The wall as one message: as many cases as fit, then a pointer to /wall.

    Only the cases shown are read: a building with thousands of open cases costs a refresh
    about thirty reads, not thousands. An offline demand staff have not posted into the
    building is not on its wall.
    """
    lines: list[str] = []
    used = utf16_len(wall_title(t, len(case_ids)))
    hidden = 0
    more = 0
    for shown, case_id in enumerate(case_ids):
        case = svc.repo.get_case(case_id)
        if case is None or not case.published:
            hidden += 1
            continue
        line = wall_line(svc, t, case)
        if used + utf16_len(line) + 1 > MESSAGE_LIMIT - _RESERVE:
            more = len(case_ids) - shown
            break
        lines.append(line)
        used += utf16_len(line) + 1
    count = len(case_ids) - hidden
    if not count:
        return t.gettext(NO_OPEN)
    text = "\n".join([wall_title(t, count), *lines])
    if more:
        more_text = t.gettext("… and {n} more: send /wall for all of them.")
        text += "\n" + more_text.format(n=t.number(more))
    return text


def changed(svc: Services, building_id: int) -> None:
    """A case of the building changed: its wall is brought up to date when the building's
    budget allows (a refresh, folded with any other that waits)."""
    svc.post.refresh(building_id, f"wall:{building_id}")


async def deliver_wall(svc: Services, argument: str, sender: Sender) -> None:
    """Bring the building's pinned wall up to date; post and pin it when it has none yet."""
    building_id = int(argument)
    group = svc.repo.get_group(building_id)
    if group is None or not group.active or not svc.is_building(building_id):
        return
    case_ids = svc.repo.case_ids(building_id=building_id, states=OPEN_STATES)
    if group.wall_message_id is None and not case_ids:
        return  # nothing to show: no need to post an empty wall into a quiet group
    t = svc.texts_for(building_id)
    text = pinned_text(svc, t, case_ids)
    if group.wall_message_id is None and text == t.gettext(NO_OPEN):
        return  # only cases the group is not shown: still nothing to post
    digest = hashlib.sha1(text.encode()).hexdigest()
    if digest == group.wall_digest and group.wall_message_id is not None:
        return  # unchanged: an edit would only earn "message is not modified"
    message_id = group.wall_message_id
    if message_id is not None:
        try:
            await sender.edit(building_id, message_id, text, attempts=ATTEMPTS)
        except NotModified:
            pass
        except Rejected as exc:
            if "not found" not in str(exc):
                raise
            message_id = None  # someone deleted it: post a new one
    posted = message_id is None
    if message_id is None:
        message_id = await sender.send(building_id, text, attempts=ATTEMPTS)
    with svc.repo.transaction(durable=False):
        fresh = svc.repo.get_group(building_id)
        if fresh is not None:
            fresh.wall_message_id, fresh.wall_digest = message_id, digest
            svc.repo.save_group(fresh)
    if not posted:
        return
    try:
        await sender.pin(building_id, message_id)
    except Rejected as exc:
        log.info("chat=%s action=pin refused: %s", building_id, exc)
        with svc.repo.transaction(durable=False):
            fresh = svc.repo.get_group(building_id)
            if fresh is not None and not fresh.pin_warned:
                fresh.pin_warned = True
                svc.repo.save_group(fresh)
                svc.post.send(
                    building_id,
                    t.gettext(
                        "I cannot pin the problem wall here. Give me the right to pin "
                        "messages to keep it on top; /wall works either way."
                    ),
                    priority=Priority.REFRESH,
                )
