"""Messages about a case: the acknowledgement in its thread, echoes, the staff card, notices.

Everything here puts messages into the postbox (`handlers.postbox`); nothing waits for the
network. The acknowledgement and the staff card are *views*: rendered when they go out, and
refreshed in place later. When several of them wait in one group whose budget is short, they
go out as one message naming each case (`ack:17,18`, `staff:17,18`); the cases then share
that message, and a refresh of any of them re-renders all of it.

What a case's acknowledgement shows does not depend on its state (the thread below it tells
the steps), so it is edited only when its "me too" count changes: no message of the group's
budget goes to keeping it in step (a "me too" pressed on a closed case is answered with a
notice that it is closed). The staff card shows the state and the buttons for the next step.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from datetime import UTC, datetime

from handlers import callbacks, livewall, privacy
from handlers.callbacks import Act
from handlers.core import Context, Services
from handlers.courier import Rendered
from handlers.ports import Button, Keyboard
from handlers.render import (
    CAPTION_LIMIT,
    CHANNEL_LABELS,
    LABELLED,
    STATE_LABELS,
    case_card,
    clip,
    esc,
    visible_len,
)
from handlers.texts import N_, Translator
from storage.records import Case, Priority, State

# A staff command typed this close below the case's card is answered by editing the card:
# the card is still on the screen, and the group is spared a message.
NEAR_CARD = 6


def building_label(svc: Services, case: Case) -> str:
    group = svc.repo.get_group(case.building_id)
    return group.label if group is not None else str(case.building_id)


def thread_of(case: Case) -> int:
    """The chat where the case was reported, where every step is echoed."""
    return case.origin_chat_id if case.origin_chat_id is not None else case.building_id


def thread_reply_to(case: Case) -> int | None:
    """The message a step is echoed below: the report, or for an offline demand posted into
    its building, the bot's message that posted it."""
    return case.origin_message_id or case.card_message_id


def _case_ids(argument: str) -> list[int]:
    ids = []
    for part in argument.split(","):
        if part.isdigit():
            ids.append(int(part))
    return ids


def _cases(svc: Services, argument: str) -> list[Case]:
    return [c for i in _case_ids(argument) if (c := svc.repo.get_case(i)) is not None]


# --- the acknowledgement in the thread ------------------------------------------------------


def offer(svc: Services, case: Case) -> Case | None:
    """The open case a new case looks like, while its reporter may still say "me too" on it
    instead (none once the case was answered, merged, or the offer refused)."""
    if case.similar_to is None or case.state is not State.NEW or case.reporter_id is None:
        return None
    other = svc.repo.get_case(case.similar_to)
    return other if other is not None and other.is_open and other.published else None


def supporter_keyboard(case: Case, t: Translator, other: Case | None = None) -> Keyboard | None:
    """ "Me too" while the case is open; "hide my name" while a group reads the reporter;
    for a new case like an open one, "me too on #17 instead" and "no, a new problem"."""
    rows: list[tuple[Button, ...]] = []
    if case.is_open:
        label = t.gettext("👍 Me too ({n})").format(n=t.number(len(case.supporters)))
        rows.append((Button(label, callbacks.encode(Act.ME_TOO, case.id)),))
    if other is not None:
        rows.append(
            (
                Button(
                    t.gettext("👍 Me too on #{id} instead").format(id=other.id),
                    callbacks.encode(Act.SAME, case.id, other.id),
                ),
                Button(t.gettext("✖ No, a new problem"), callbacks.encode(Act.NOT_SAME, case.id)),
            )
        )
    if privacy.named_in_groups(case):
        rows.append((Button(t.gettext("🙈 Hide my name"), callbacks.encode(Act.HIDE, case.id)),))
    return tuple(rows) or None


def _supporters(case: Case, t: Translator) -> str | None:
    if not case.supporters:
        return None
    return t.ngettext(
        "👥 {n} neighbour has the same problem",
        "👥 {n} neighbours have the same problem",
        len(case.supporters),
    ).format(n=t.number(len(case.supporters)))


def ack_text(svc: Services, case: Case, t: Translator) -> str:
    """The acknowledgement of one case: its number, the promised answer, the problem; for a
    new case that looks like an open one, the offer to say "me too" on that one instead."""
    _ = t.gettext
    if case.state is State.MERGED and case.merged_into is not None:
        first = _(
            "🔗 Case #{id} is merged into case #{into}: the same problem. You are counted as "
            "its supporter, and every step of #{into} is told here."
        ).format(id=case.id, into=case.merged_into)
    elif case.reporter_id is None:
        # An offline demand staff posted into its building: no one here to thank.
        first = _(
            "📮 Case #{id}: a demand registered by the community ({channel}), now {state}. "
            "Every step is posted here."
        ).format(
            id=case.id,
            channel=_(CHANNEL_LABELS[case.channel]),
            state=_(STATE_LABELS[case.state]),
        )
    else:
        first = _(
            "✅ Thank you, your report is logged as case #{id}. We will answer by {time}; "
            "every step is posted here."
        ).format(id=case.id, time=t.datetime(case.answer_due))
    lines = [first, _("Building: {building}").format(building=esc(building_label(svc, case)))]
    if privacy.named_in_groups(case):
        lines.append(_("Reported by: {name}").format(name=esc(case.reporter_name)))
    lines.append(_("Problem: {text}").format(text=esc(clip(case.text, 1500))))
    if (supporters := _supporters(case, t)) is not None:
        lines.append(supporters)
    other = offer(svc, case) if case.reporter_id is not None else None
    if other is not None:
        lines.append(
            _(
                "🔎 This looks like case #{id}: {text}. If it is the same problem, press "
                "“me too” on it instead; else keep this one."
            ).format(id=other.id, text=esc(clip(other.text, 200)))
        )
    return "\n".join(lines)


def acks_text(svc: Services, cases: list[Case], t: Translator) -> str:
    """One acknowledgement for several reports that waited together."""
    _ = t.gettext
    latest = max(c.answer_due for c in cases)
    lines = [
        t.ngettext(
            "✅ Thank you: {n} report is logged, each answered by {time}.",
            "✅ Thank you: {n} reports are logged, each answered by {time}.",
            len(cases),
        ).format(n=t.number(len(cases)), time=t.datetime(latest))
    ]
    for case in cases:
        who = f" {esc(case.reporter_name)}" if privacy.named_in_groups(case) else ""
        count = f" 👥{t.number(len(case.supporters))}" if case.supporters else ""
        label = f"<b>#{case.id}</b>{who}"
        line = _(LABELLED).format(label=label, text=esc(clip(case.text, 120))) + count
        if case.state is State.MERGED and case.merged_into is not None:
            line += " " + _("→ merged into #{id}").format(id=case.merged_into)
        elif (other := offer(svc, case)) is not None and case.reporter_id is not None:
            line += " " + _("(looks like #{id})").format(id=other.id)
        lines.append(line)
    lines.append(_("Every step is posted in this thread."))
    return "\n".join(lines)


def _acks(svc: Services, cases: list[Case]) -> Rendered | None:
    if not cases:
        return None
    t = svc.texts_for(thread_of(cases[0]))
    if len(cases) == 1:
        case = cases[0]
        keyboard = supporter_keyboard(case, t, offer(svc, case))
        return Rendered(ack_text(svc, case, t), keyboard, case.card_message_id)
    rows = tuple(row for c in cases if (row := _ack_row(svc, c, t)))
    return Rendered(acks_text(svc, cases, t), rows or None, cases[0].card_message_id)


def _ack_row(svc: Services, case: Case, t: Translator) -> tuple[Button, ...]:
    """The buttons of one case on an acknowledgement of several: its number on each."""
    row = []
    if case.is_open:
        label = t.gettext("👍 #{id} me too ({n})").format(
            id=case.id, n=t.number(len(case.supporters))
        )
        row.append(Button(label, callbacks.encode(Act.ME_TOO, case.id)))
    if (other := offer(svc, case)) is not None:
        label = t.gettext("#{id} → me too on #{other}").format(id=case.id, other=other.id)
        row.append(Button(label, callbacks.encode(Act.SAME, case.id, other.id)))
    if privacy.named_in_groups(case):
        label = t.gettext("🙈 #{id} hide my name").format(id=case.id)
        row.append(Button(label, callbacks.encode(Act.HIDE, case.id)))
    return tuple(row)


async def view_ack(svc: Services, argument: str, chat_id: int) -> Rendered | None:
    """The acknowledgement of the cases `17` or `17,18`, as it is now."""
    return _acks(svc, _cases(svc, argument))


async def view_card(svc: Services, argument: str, chat_id: int) -> Rendered | None:
    """The message that acknowledged case `17` (with the cases it shares it with)."""
    case = svc.repo.get_case(int(argument)) if argument.isdigit() else None
    if case is None or case.card_message_id is None:
        return None
    together = [case.id, *case.card_with]
    return _acks(svc, [c for i in sorted(together) if (c := svc.repo.get_case(i)) is not None])


def bind_card(svc: Services, argument: str, message_id: int) -> None:
    """The acknowledgement of these cases went out as `message_id`."""
    ids = _case_ids(argument)
    for case in _cases(svc, argument):
        case.card_message_id = message_id
        case.card_with = [i for i in ids if i != case.id]
        svc.repo.save_case(case)


def acknowledge(svc: Services, case: Case) -> None:
    """Acknowledge a new case in its thread, tell the staff chat, bring the wall up to date.

    An offline demand not posted into its building has no thread yet: the staff card is all.
    """
    if case.published:
        svc.post.view(
            thread_of(case),
            f"ack:{case.id}",
            priority=Priority.REPLY,
            reply_to=case.origin_message_id,
            bind=f"card:{case.id}",
            merge="ack",
        )
    post_staff_card(svc, case)
    if case.published:
        livewall.changed(svc, case.building_id)


def publish(svc: Services, case: Case) -> None:
    """Post an offline demand into its building group: its thread starts there."""
    case.published = True
    svc.repo.save_case(case)
    svc.post.view(
        case.building_id, f"ack:{case.id}", priority=Priority.ECHO, bind=f"card:{case.id}"
    )
    changed(svc, case)


def refresh_card(svc: Services, case: Case) -> None:
    """The acknowledgement shows the "me too" count and, while open, the button."""
    svc.post.refresh(thread_of(case), f"card:{case.id}")


def changed(svc: Services, case: Case, *, card: bool = False) -> None:
    """A case changed: its staff card and its building's wall follow (refreshes, folded),
    and with `card` its acknowledgement too (the count or the button changed)."""
    if card:
        refresh_card(svc, case)
    refresh_staff_card(svc, case)
    livewall.changed(svc, case.building_id)
    refresh_forum(svc, case)


def forum_view(event_id: int, when: datetime) -> str:
    """The view of a forum's tally: `forum:3:202612011100` (its start, UTC)."""
    return f"forum:{event_id}:{when.astimezone(UTC).strftime('%Y%m%d%H%M')}"


def refresh_forum(svc: Services, case: Case) -> None:
    """An opinion of a forum changed: the forum's tally in the staff chat follows (once it
    went out; before, the refresh finds no message and costs nothing)."""
    staff = svc.settings.staff_chat
    if staff is not None and case.forum_id is not None and case.forum_at is not None:
        svc.post.refresh(staff, forum_view(case.forum_id, case.forum_at))


# --- echoes ---------------------------------------------------------------------------------


def echo(
    svc: Services,
    case: Case,
    text: str,
    *,
    keyboard: Keyboard | None = None,
    priority: Priority = Priority.ECHO,
    render: Callable[[Translator], str] | None = None,
    photo: str | None = None,
) -> None:
    """Post a step of the case into its thread, as a reply to the report (none for an
    offline demand not posted into its building, nor into a group that is not an admitted
    building: one staff retired, or the bot was added back to and waits for admission).

    The reporters of the cases merged into it get the step too: those who reported in the
    same group, as themselves, are named in it (a mention notifies them, and costs the group
    no message); those whose report is elsewhere (a private chat) get it there as a reply to
    their report. `render(t)` words the step for such a chat's language.
    """
    thread = thread_of(case)
    merged = [m for i in case.merged if (m := svc.repo.get_case(i)) is not None]
    if not case.published or (thread < 0 and not svc.is_building(thread)):
        _copy_to_merged(svc, merged, thread, text, render)
        return
    here = [m for m in merged if thread_of(m) == thread and privacy.named_in_groups(m)]
    if here:
        t = svc.texts_for(thread)
        names = ", ".join(
            f'<a href="tg://user?id={m.reporter_id}">{esc(clip(m.reporter_name, 40))}</a>'
            for m in here[: MENTIONS_IN_CAPTION if photo else MENTIONS]
        )
        text += "\n" + t.gettext("🔔 Also for: {names}").format(names=names)
    svc.post.send(
        thread,
        text,
        priority=priority,
        reply_to=thread_reply_to(case),
        keyboard=keyboard,
        photo=photo,
        merge=keyboard is None,
    )
    _copy_to_merged(svc, merged, thread, text, render)


def _copy_to_merged(
    svc: Services,
    merged: list[Case],
    thread: int,
    text: str,
    render: Callable[[Translator], str] | None,
) -> None:
    """A step of a case, to the reporters of cases merged into it whose report is in another
    chat than the case's thread (their private chat), as a reply to their report."""
    for other in merged:
        chat = thread_of(other)
        if chat == thread or (chat < 0 and not svc.is_building(chat)):
            continue
        copy = render(svc.texts_for(chat)) if render is not None else text
        svc.post.send(
            chat, copy, priority=Priority.ECHO, reply_to=thread_reply_to(other), merge=True
        )


# At most this many reporters of merged cases are named under an echo (a burst pipe's ten,
# with room to spare; Telegram notifies at most about fifty mentions in a message).
MENTIONS = 30
# Under a photo (a caption holds 1,024 characters), fewer.
MENTIONS_IN_CAPTION = 8


# --- the staff card -------------------------------------------------------------------------

# A row of category buttons holds at most this many, and labels of at most this display
# width together (a Chinese character counts two): four Chinese names, two English ones.
ROW_BUTTONS = 4
ROW_WIDTH = 30


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pack(buttons: list[Button]) -> tuple[tuple[Button, ...], ...]:
    """Buttons in rows as wide as a phone shows them."""
    rows: list[list[Button]] = []
    for button in buttons:
        row = rows[-1] if rows else None
        if (
            row is None
            or len(row) >= ROW_BUTTONS
            or sum(_width(b.text) + 2 for b in row) + _width(button.text) > ROW_WIDTH
        ):
            rows.append([button])
        else:
            row.append(button)
    return tuple(tuple(row) for row in rows)


def selected_category(svc: Services, case: Case) -> tuple[str | None, bool]:
    """The category the card marks: the one set, else the one the keywords suggest (and
    whether it is only suggested)."""
    if case.category is not None:
        return case.category, False
    guess = svc.settings.categories.suggest(case.text)
    return (guess.code, True) if guess is not None else (None, False)


def category_rows(svc: Services, case: Case, t: Translator) -> tuple[tuple[Button, ...], ...]:
    """The accepted categories, the set one marked ✅, a suggested one 💡."""
    chosen, suggested = selected_category(svc, case)
    buttons = []
    for category in svc.settings.categories.accepted:
        name = clip(category.name(t), 24)
        if category.code == chosen:
            name = ("💡 " if suggested else "✅ ") + name
        buttons.append(Button(name, callbacks.encode(Act.CATEGORY, case.id, category.code)))
    return _pack(buttons)


def not_accepted_rows(
    svc: Services, case: Case, t: Translator, *, numbered: bool = False
) -> tuple[tuple[Button, ...], ...]:
    """The not-accepted categories to decline under, and a way back to the card."""
    buttons = [
        Button(
            clip(category.name(t), 24),
            callbacks.encode(Act.NOT_ACCEPTED, case.id, category.code),
        )
        for category in svc.settings.categories.not_accepted
    ]
    back = t.gettext("↩ Back to #{id}") if numbered else t.gettext("↩ Back")
    return (
        *_pack(buttons),
        (Button(back.format(id=case.id), callbacks.encode(Act.CARD, case.id)),),
    )


def on_spot_row(case: Case, t: Translator) -> tuple[tuple[Button, ...], ...]:
    """A forum opinion still open: "answered on the spot" closes it in one press."""
    if case.forum_id is None:
        return ()
    label = t.gettext("✅ Answered on the spot")
    return ((Button(label, callbacks.encode(Act.ON_SPOT, case.id)),),)


def merge_data(case: Case, other: Case) -> str:
    return callbacks.encode(Act.MERGE, case.id, other.id)


def staff_keyboard(
    svc: Services, case: Case, t: Translator, *, declining: bool = False
) -> Keyboard | None:
    _ = t.gettext
    rows: list[tuple[Button, ...]] = []
    if case.state in (State.NEW, State.REOPENED):
        if declining:
            return not_accepted_rows(svc, case, t)
        other = offer(svc, case)
        rows.append(
            (
                Button(_("Accept"), callbacks.encode(Act.ACCEPT, case.id)),
                Button(_("Decline"), callbacks.encode(Act.DECLINE, case.id)),
                Button(_("Escalate"), callbacks.encode(Act.ESCALATE, case.id)),
            )
        )
        rows += on_spot_row(case, t)
        if other is not None:
            label = _("🔗 Merge into #{id}").format(id=other.id)
            rows.append((Button(label, merge_data(case, other)),))
        rows += category_rows(svc, case, t)
    elif case.state is State.ACCEPTED:
        rows.append((Button(_("Escalate"), callbacks.encode(Act.ESCALATE, case.id)),))
        rows += on_spot_row(case, t)
        rows += category_rows(svc, case, t)
    elif case.state is State.FIXED:
        rows += category_rows(svc, case, t)
    if not case.published:
        rows.append((Button(_("📢 Post in the building"), callbacks.encode(Act.PUBLISH, case.id)),))
    return tuple(rows) or None


def case_link(svc: Services, case: Case, t: Translator) -> str:
    """A deep link that opens the case, with its whole history, in a private chat."""
    url = svc.bot.link(f"case_{case.id}")
    return '<a href="{url}">{label}</a>'.format(
        url=url, label=t.gettext("🔗 Open case #{id} privately").format(id=case.id)
    )


def unpublished_note(t: Translator, case: Case) -> str | None:
    """What the staff card says of an offline demand its building has not been shown."""
    if case.published:
        return None
    return t.gettext("🔒 Not shown in the building group (/publish {id} posts it).").format(
        id=case.id
    )


def _card(svc: Services, case: Case, t: Translator, *, limit: int) -> str:
    text = case_card(
        case,
        t,
        building_label(svc, case),
        show_reporter=True,
        text_limit=limit,
        categories=svc.settings.categories,
        suggest=True,
    )
    other = offer(svc, case)
    if other is not None:
        text += "\n" + t.gettext("🔎 Looks like case #{id}: {text}").format(
            id=other.id, text=esc(clip(other.text, min(limit, 200)))
        )
    return text


def staff_card_text(svc: Services, case: Case, t: Translator, *, declining: bool = False) -> str:
    # A card posted with a photo is a caption, also once the photo's file_id was erased.
    limits = (600, 200, 50) if case.photo_count else (1500,)
    hint = t.gettext(DECLINE_HINT).format(id=case.id) if declining else ""
    note = unpublished_note(t, case)
    link = case_link(svc, case, t)
    # An offline resident's contact details are never shown in a group, the staff chat
    # included: the card says where staff find them.
    contact = "\n" + t.gettext(CONTACT_HINT) if case.contact is not None else ""
    for limit in limits:
        text = _card(svc, case, t, limit=limit) + contact
        if note is not None:
            text += "\n" + note
        if hint:
            text += "\n\n" + hint
        text += "\n" + link
        if visible_len(text) <= CAPTION_LIMIT:
            break
    return text


DECLINE_HINT = N_(
    "🚫 Why is case #{id} not accepted? Pick the category below: the resident is told, "
    "with where to turn instead. Or send /decline {id} with the category, where to turn "
    "and a reason."
)
CONTACT_HINT = N_(
    "📇 The resident's contact details are in the ledger and in /case in a private chat."
)


def _staff_rows(
    svc: Services, case: Case, t: Translator, *, declining: bool = False
) -> tuple[tuple[Button, ...], ...]:
    """The buttons of one case on a card of several: its number on each."""
    _ = t.gettext
    actions: tuple[tuple[Act, str], ...]
    if case.state in (State.NEW, State.REOPENED):
        if declining:
            return not_accepted_rows(svc, case, t, numbered=True)
        actions = (
            (Act.ACCEPT, _("Accept #{id}")),
            (Act.DECLINE, _("Decline #{id}")),
            (Act.ESCALATE, _("Escalate #{id}")),
        )
    elif case.state is State.ACCEPTED:
        actions = ((Act.ESCALATE, _("Escalate #{id}")),)
    else:
        actions = ()
    rows = [actions] if actions else []
    if not case.published:
        rows.append(((Act.PUBLISH, _("📢 Post #{id} in the building")),))
    buttons = [
        tuple(Button(label.format(id=case.id), callbacks.encode(a, case.id)) for a, label in row)
        for row in rows
    ]
    other = offer(svc, case)
    if other is not None:
        merge = _("🔗 Merge #{id} into #{other}").format(id=case.id, other=other.id)
        buttons.append((Button(merge, merge_data(case, other)),))
    return tuple(buttons)


def _staff(
    svc: Services, cases: list[Case], message_id: int | None, *, declining: int | None = None
) -> Rendered | None:
    """The staff card of one case or several; `declining`: the case whose not-accepted
    categories the card offers instead of its buttons."""
    staff = svc.staff_chat
    if not cases or staff is None:
        return None
    t = svc.texts_for(staff)
    if len(cases) == 1:
        case = cases[0]
        mode = declining == case.id
        return Rendered(
            staff_card_text(svc, case, t, declining=mode),
            staff_keyboard(svc, case, t, declining=mode),
            message_id,
            case.photo,
        )
    blocks = [
        t.ngettext("🆕 {n} case together", "🆕 {n} cases together", len(cases)).format(
            n=t.number(len(cases))
        )
    ]
    blocks += [
        "\n".join(filter(None, (_card(svc, c, t, limit=300), unpublished_note(t, c))))
        for c in cases
    ]
    if declining is not None:
        blocks.append(t.gettext(DECLINE_HINT).format(id=declining))
    rows = tuple(row for c in cases for row in _staff_rows(svc, c, t, declining=declining == c.id))
    return Rendered("\n\n".join(blocks), rows or None, message_id)


def staff_card_now(svc: Services, case: Case, *, declining: bool = False) -> Rendered | None:
    """The staff card that holds the case, as it is now (`declining`: offering the
    not-accepted categories for this case)."""
    if case.staff_message_id is None:
        return None
    together = sorted([case.id, *case.staff_with])
    cases = [c for i in together if (c := svc.repo.get_case(i)) is not None]
    return _staff(svc, cases, case.staff_message_id, declining=case.id if declining else None)


async def view_staff(svc: Services, argument: str, chat_id: int) -> Rendered | None:
    """The staff card of the cases `17` or `17,18`, as it is now."""
    cases = _cases(svc, argument)
    return _staff(svc, cases, cases[0].staff_message_id if cases else None)


async def view_staff_card(svc: Services, argument: str, chat_id: int) -> Rendered | None:
    """The staff chat's card of case `17` (with the cases it shares it with)."""
    case = svc.repo.get_case(int(argument)) if argument.isdigit() else None
    return staff_card_now(svc, case) if case is not None else None


def bind_staff(svc: Services, argument: str, message_id: int) -> None:
    """The staff card of these cases went out as `message_id`."""
    ids = _case_ids(argument)
    for case in _cases(svc, argument):
        case.staff_message_id = message_id
        case.staff_with = [i for i in ids if i != case.id]
        svc.repo.save_case(case)


def post_staff_card(svc: Services, case: Case) -> None:
    """Tell the staff chat about a new case, with buttons to answer it."""
    staff = svc.staff_chat
    if staff is None:
        return
    svc.post.view(
        staff,
        f"staff:{case.id}",
        priority=Priority.ECHO,
        bind=f"staff:{case.id}",
        # A card with a photo is a photo: it cannot share a message.
        merge=None if case.photo else "staff",
    )


def refresh_staff_card(svc: Services, case: Case, *, priority: Priority = Priority.REFRESH) -> None:
    staff = svc.staff_chat
    if staff is not None:
        svc.post.refresh(staff, f"staffcard:{case.id}", priority=priority)


def card_is_near(ctx: Context, case: Case) -> bool:
    """Whether the staff card is still on the screen below which the command was typed."""
    return (
        ctx.in_staff_chat
        and ctx.message is not None
        and case.staff_message_id is not None
        and 0 < ctx.message.message_id - case.staff_message_id <= NEAR_CARD
    )


# --- notices --------------------------------------------------------------------------------


def tell_escalation_chat(svc: Services, case: Case, note_for: Callable[[Translator], str]) -> None:
    """Tell the escalation chat; `note_for(t)` words the escalation's note (HTML, clipped to
    1000 characters, so that the note and the case's card always fit one message together)."""
    chat = svc.escalation_chat
    if chat is None:
        return
    t = svc.texts_for(chat)
    text = t.gettext("⬆️ Escalated to you: {note}").format(note=note_for(t)) + "\n\n"
    text += case_card(
        case,
        t,
        building_label(svc, case),
        show_reporter=True,
        categories=svc.settings.categories,
    )
    svc.post.send(chat, text, priority=Priority.ECHO)


def tell_staff(svc: Services, text_for: Callable[[Translator], str]) -> None:
    """Send a short notice to the staff chat; `text_for(t)` renders it in its language."""
    staff = svc.staff_chat
    if staff is None:
        return
    svc.post.send(staff, text_for(svc.texts_for(staff)), priority=Priority.ECHO, merge=True)


def card_context_text(ctx: Context, case: Case) -> str:
    """A card for /case: the reporter's name only where it is not shown to strangers
    (`handlers.privacy`); may ask for a member status."""
    show = privacy.may_see_reporter(ctx, case)
    return case_card(
        case,
        ctx.t,
        building_label(ctx.svc, case),
        show_reporter=show,
        categories=ctx.svc.settings.categories,
    )


# --- the person responsible -------------------------------------------------------------------


def responsible(case: Case) -> int | None:
    """Who answers for the case: the person named with /assign, else whoever accepted it
    last (cases accepted before anyone was named)."""
    if case.assignee_id is not None:
        return case.assignee_id
    for step in reversed(case.timeline):
        if step.action == "accept":
            return step.actor_id
    return None


def may_write_to(svc: Services, user_id: int) -> bool:
    """Whether a private message to the person may arrive: not when Telegram refused one."""
    person = svc.repo.get_person(user_id)
    return person is None or person.private is not False


def has_private_chat(svc: Services, user_id: int) -> bool:
    """Whether the person is known to have a private chat with the bot."""
    person = svc.repo.get_person(user_id)
    return person is not None and person.private is True


def start_link(svc: Services, case: Case) -> str:
    """The link that opens a private chat with the bot on this case (`/start case_17`): the
    same deep link as the staff card's."""
    return svc.bot.link(f"case_{case.id}")


def tell_privately(
    svc: Services, user_id: int, text_for: Callable[[Translator], str], *, case: Case | None = None
) -> bool:
    """A private message to a head or staff member; False when Telegram refused one to them
    before (then it is not tried). With `case`, its card follows the text."""
    if not may_write_to(svc, user_id):
        return False
    t = svc.texts_for(user_id)
    text = text_for(t)
    if case is not None:
        card = case_card(
            case,
            t,
            building_label(svc, case),
            show_reporter=True,
            text_limit=1000,
            categories=svc.settings.categories,
        )
        text += "\n\n" + card
    svc.post.send(user_id, text, priority=Priority.ECHO)
    return True
