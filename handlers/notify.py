"""Posting about a case: the echo in its thread, the staff card, the escalation chat."""

from __future__ import annotations

from collections.abc import Callable

from handlers import callbacks, livewall
from handlers.core import Context, Services, log
from handlers.ports import Button, ChatGone, DeliveryError, Keyboard
from handlers.render import CAPTION_LIMIT, case_card, clip, esc, visible_len
from handlers.texts import Translator
from storage.records import Case, State


def building_label(svc: Services, case: Case) -> str:
    group = svc.repo.get_group(case.building_id)
    return group.label if group is not None else str(case.building_id)


def supporter_keyboard(case: Case, t: Translator) -> Keyboard | None:
    if not case.is_open:
        return None
    label = t.gettext("👍 Me too ({n})").format(n=t.number(len(case.supporters)))
    return ((Button(label, callbacks.encode("too", case.id)),),)


def staff_keyboard(case: Case, t: Translator) -> Keyboard | None:
    _ = t.gettext
    if case.state in (State.NEW, State.REOPENED):
        return (
            (
                Button(_("Accept"), callbacks.encode("acc", case.id)),
                Button(_("Decline"), callbacks.encode("dec", case.id)),
                Button(_("Escalate"), callbacks.encode("esc", case.id)),
            ),
        )
    if case.state is State.ACCEPTED:
        return ((Button(_("Escalate"), callbacks.encode("esc", case.id)),),)
    return None


def group_card(svc: Services, case: Case, t: Translator) -> str:
    return case_card(case, t, building_label(svc, case), show_reporter=True)


async def safe(coro_name: str, coro: object) -> None:
    """Await a secondary post; its failure must not undo the case change already saved."""
    try:
        await coro  # type: ignore[misc]
    except ChatGone:
        log.warning("%s: chat gone", coro_name)
    except DeliveryError as exc:
        log.warning("%s failed: %s", coro_name, exc)


async def echo(
    svc: Services, case: Case, text: str, keyboard: Keyboard | None = None
) -> int | None:
    """Post an update about the case into the thread where it was reported."""
    chat_id = case.origin_chat_id if case.origin_chat_id is not None else case.building_id
    try:
        return await svc.messenger.send(
            chat_id, text, reply_to=case.origin_message_id, keyboard=keyboard
        )
    except DeliveryError as exc:
        log.warning("echo case=%s chat=%s failed: %s", case.id, chat_id, exc)
        return None


async def refresh_card(svc: Services, case: Case) -> None:
    """Bring the case card in its thread, and the building's pinned wall, up to date."""
    await livewall.changed(svc, case.building_id)
    if case.card_message_id is None or case.origin_chat_id is None:
        return
    t = svc.texts_for(case.origin_chat_id)
    await safe(
        "refresh card",
        svc.messenger.edit(
            case.origin_chat_id,
            case.card_message_id,
            group_card(svc, case, t),
            keyboard=supporter_keyboard(case, t),
        ),
    )


async def post_staff_card(svc: Services, case: Case) -> None:
    """Tell the staff chat about a new case, with buttons to answer it."""
    staff = svc.settings.staff_chat
    if staff is None:
        return
    t = svc.texts_for(staff)
    text = staff_card_text(svc, case, t)
    try:
        case.staff_message_id = await svc.messenger.send(
            staff, text, keyboard=staff_keyboard(case, t), photo=case.photo
        )
    except DeliveryError as exc:
        log.warning("staff card case=%s failed: %s", case.id, exc)
        return
    svc.repo.save_case(case, sync=False)  # where the card is; the case was durable before


def staff_card_text(svc: Services, case: Case, t: Translator) -> str:
    limits = (600, 200, 50) if case.photo else (1500,)
    for limit in limits:
        text = case_card(case, t, building_label(svc, case), show_reporter=True, text_limit=limit)
        if visible_len(text) <= CAPTION_LIMIT:
            break
    return text


async def refresh_staff_card(svc: Services, case: Case) -> None:
    staff = svc.settings.staff_chat
    if staff is None or case.staff_message_id is None:
        return
    t = svc.texts_for(staff)
    await safe(
        "refresh staff card",
        svc.messenger.edit(
            staff,
            case.staff_message_id,
            staff_card_text(svc, case, t),
            keyboard=staff_keyboard(case, t),
        ),
    )


async def tell_escalation_chat(svc: Services, case: Case, note: str) -> None:
    chat = svc.settings.escalation_chat
    if chat is None:
        return
    t = svc.texts_for(chat)
    # Clipped, so that the note and the case's card always fit one message together.
    text = t.gettext("⬆️ Escalated to you: {note}").format(note=esc(clip(note, 1000))) + "\n\n"
    text += case_card(case, t, building_label(svc, case), show_reporter=True)
    await safe("escalation chat", svc.messenger.send(chat, text))


async def tell_staff(svc: Services, text_for: Callable[[Translator], str]) -> None:
    """Send a short notice to the staff chat; `text_for(t)` renders it in its language."""
    staff = svc.settings.staff_chat
    if staff is None:
        return
    t = svc.texts_for(staff)
    await safe("staff notice", svc.messenger.send(staff, text_for(t)))


def card_context_text(ctx: Context, case: Case) -> str:
    """A card for /case: the reporter's name only where it is not shown to strangers."""
    show = ctx.chat.id in (case.building_id, ctx.svc.settings.staff_chat) or (
        ctx.user_id is not None and ctx.user_id == case.reporter_id
    )
    return case_card(case, ctx.t, building_label(ctx.svc, case), show_reporter=show)
