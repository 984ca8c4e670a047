"""Only buildings the community admits: a new group waits for staff; /buildings for staff.

A group the bot is added to (or first hears from) is *pending*: it gets one polite message and
nothing else — no answers, no cases, no walls — and the staff chat gets a card naming the
group, who added the bot and how many members it has, with Admit / Refuse. Admitted, the group
is greeted as a building; refused, the bot leaves it. Staff list, rename, admit, refuse and
retire buildings with /buildings; a retired building is left, its cases stay in the ledger.

Groups stored before admission existed load as admitted (`Group.admission`'s default): the
bot was already serving them as buildings.

The card is a job in the staff chat's lane (`admission:<chat>`): when it goes out it counts
the group's members (a call, not a message) and sends the card, and later the same job edits
it. Leaving is a job in the group's own lane (`leave:<chat>`), after what still waits there.
"""

from __future__ import annotations

from handlers import callbacks, rights
from handlers.callbacks import Act
from handlers.core import Context, Services, log
from handlers.courier import Sender
from handlers.incoming import ChatRef, User
from handlers.parsing import parse_int, quoted
from handlers.ports import Button, DeliveryError, Keyboard
from handlers.render import chunk, clip, esc
from handlers.texts import N_, Translator
from storage.records import OPEN_STATES, Admission, Group, Priority, Role

MAX_NAME = 64


def waiting_note(t: Translator) -> str:
    return t.gettext(
        "👋 Hello! I am echowall, the community's problem wall and echo wall. Community staff "
        "will first confirm this group as one of the community's buildings; until then I stay "
        "quiet here."
    )


def arrive(svc: Services, chat: ChatRef, by: User | None, group: Group | None) -> Group:
    """A group the bot is new to (or was refused or retired in): it waits for staff."""
    if group is None:
        group = Group(chat_id=chat.id, title=chat.title or str(chat.id))
    group.title = chat.title or group.title
    group.admission, group.active, group.role = Admission.PENDING, True, Role.BUILDING
    group.added_by = by.name if by is not None and not by.is_bot else ""
    group.members, group.admission_message_id, group.decided_by = None, None, ""
    svc.repo.save_group(group)
    log.info("chat=%s action=pending", chat.id)
    svc.post.send(chat.id, waiting_note(svc.texts_for(chat.id)), priority=Priority.REPLY)
    if svc.staff_chat is not None:
        svc.post.view(svc.staff_chat, f"admission:{chat.id}", priority=Priority.ECHO)
    else:
        log.warning("chat=%s pending, and no staff chat to ask: see /buildings", chat.id)
    return group


# --- the staff's card -------------------------------------------------------------------------


DECIDED = {
    Admission.ADMITTED: N_("✅ Admitted as a building by {name}."),
    Admission.REFUSED: N_("🚫 Refused by {name}; I left the group."),
    Admission.RETIRED: N_("📦 Retired by {name}; I left the group."),
}


def card_text(group: Group, t: Translator) -> str:
    _ = t.gettext
    lines = [
        _("🏠 <b>A new group asks to be a building</b>"),
        _("Group: {title}").format(title=esc(clip(group.title, 128))),
    ]
    if group.added_by:
        lines.append(_("Added by: {name}").format(name=esc(group.added_by)))
    if group.members is not None:
        lines.append(_("Members: {n}").format(n=t.number(group.members)))
    if group.admission is Admission.PENDING:
        if group.active:
            lines.append(_("Admit it to take its residents' reports; refuse it and I leave."))
        else:
            lines.append(_("The group removed me before an answer."))
    else:
        lines.append(_(DECIDED[group.admission]).format(name=esc(group.decided_by or "—")))
    return "\n".join(lines)


def card_keyboard(group: Group, t: Translator) -> Keyboard | None:
    if group.admission is not Admission.PENDING or not group.active:
        return None
    return (
        (
            Button(t.gettext("✅ Admit"), callbacks.encode(Act.ADMIT, group.chat_id)),
            Button(t.gettext("🚫 Refuse"), callbacks.encode(Act.REFUSE, group.chat_id)),
        ),
    )


async def deliver_card(svc: Services, argument: str, sender: Sender) -> None:
    """Send the admission card of group `argument` to the staff chat, or bring it up to date."""
    group = svc.repo.get_group(int(argument))
    staff = svc.staff_chat
    if group is None or staff is None:
        return
    if group.members is None and group.admission is Admission.PENDING and group.active:
        try:
            members: int | None = await sender.member_count(group.chat_id)
        except DeliveryError as exc:
            log.info("chat=%s member count failed: %s", group.chat_id, exc)
            members = None
        with svc.repo.transaction(durable=False):
            fresh = svc.repo.get_group(group.chat_id)
            if fresh is not None:
                fresh.members = members
                svc.repo.save_group(fresh)
                group = fresh
    t = svc.texts_for(staff)
    text, keyboard = card_text(group, t), card_keyboard(group, t)
    if group.admission_message_id is not None:
        await sender.edit(staff, group.admission_message_id, text, keyboard=keyboard)
        return
    message_id = await sender.send(staff, text, keyboard=keyboard)
    with svc.repo.transaction(durable=False):
        fresh = svc.repo.get_group(group.chat_id)
        if fresh is not None:
            fresh.admission_message_id = message_id
            svc.repo.save_group(fresh)


async def deliver_leave(svc: Services, argument: str, sender: Sender) -> None:
    """Leave group `argument` (refused or retired); gone already is as good."""
    try:
        await sender.leave(int(argument))
    except DeliveryError as exc:
        log.info("chat=%s leave: %s", argument, exc)


# --- deciding -----------------------------------------------------------------------------------


def admit(ctx: Context, group: Group) -> None:
    """Make the group a building: greeted as one, its card says who admitted it."""
    from handlers.admin import welcome  # the greeting lives with the other greetings

    svc = ctx.svc
    group.admission, group.decided_by = Admission.ADMITTED, ctx.sender.name if ctx.sender else ""
    svc.repo.save_group(group)
    log.info("chat=%s action=admit by=%s", group.chat_id, ctx.user_id)
    if group.active:
        t = svc.texts_for(group.chat_id)
        svc.post.send(group.chat_id, welcome(t, svc.bot.username), priority=Priority.REPLY)
    _refresh_card(svc, group)


def send_away(ctx: Context, group: Group, admission: Admission) -> None:
    """Refuse or retire the group: the bot leaves it; its cases stay in the ledger."""
    svc = ctx.svc
    group.admission, group.decided_by = admission, ctx.sender.name if ctx.sender else ""
    svc.repo.save_group(group)
    log.info("chat=%s action=%s by=%s", group.chat_id, admission.value, ctx.user_id)
    if group.active:
        svc.post.view(group.chat_id, f"leave:{group.chat_id}", priority=Priority.REPLY)
    _refresh_card(svc, group)


def refresh(svc: Services, group: Group) -> None:
    """Bring the group's admission card up to date (it was removed, or re-added)."""
    _refresh_card(svc, group)


def _refresh_card(svc: Services, group: Group) -> None:
    staff = svc.staff_chat
    if staff is not None and group.admission_message_id is not None:
        svc.post.refresh(staff, f"admission:{group.chat_id}", priority=Priority.REPLY)


def _decide_by_button(ctx: Context, cb: callbacks.Callback, admission: Admission) -> None:
    if not rights.is_staff(ctx):
        ctx.toast(ctx._("Only community staff can do that."), alert=True)
        return
    group = ctx.svc.repo.get_group(cb.int_arg(0))
    if group is None or ctx.svc.is_official(group.chat_id):
        ctx.toast(ctx._("That group is not known."), alert=True)
        return
    if group.admission is not Admission.PENDING:
        ctx.toast(ctx._("Already decided: see /buildings."))
        return
    if admission is Admission.ADMITTED:
        admit(ctx, group)
        ctx.toast(ctx._("Admitted: {title} is a building now.").format(title=group.label))
    else:
        send_away(ctx, group, admission)
        ctx.toast(ctx._("Refused: I leave {title}.").format(title=group.label))


def press_admit(ctx: Context, cb: callbacks.Callback) -> None:
    """The admission card's Admit button."""
    _decide_by_button(ctx, cb, Admission.ADMITTED)


def press_refuse(ctx: Context, cb: callbacks.Callback) -> None:
    """The admission card's Refuse button."""
    _decide_by_button(ctx, cb, Admission.REFUSED)


# --- /buildings ---------------------------------------------------------------------------------

# What staff type after /buildings, in either language (the usage offers them).
ACTIONS = {
    "admit": "admit",
    "接入": "admit",
    "refuse": "refuse",
    "拒绝": "refuse",
    "rename": "rename",
    "改名": "rename",
    "retire": "retire",
    "撤出": "retire",
}


def _find(ctx: Context, token: str, states: tuple[Admission, ...]) -> Group | None:
    """A group in one of `states` by chat id, exact name, or a unique part of its name;
    answers when there is none or several."""
    official = (ctx.svc.staff_chat, ctx.svc.escalation_chat)
    groups = [
        g
        for g in ctx.svc.repo.groups(active_only=False)
        if g.admission in states and g.chat_id not in official and g.role is Role.BUILDING
    ]
    chat_id = parse_int(token)
    if chat_id is not None:
        found = [g for g in groups if g.chat_id == chat_id]
    else:
        wanted = token.replace(" ", "").lower()
        found = [g for g in groups if g.label.replace(" ", "").lower() == wanted] or [
            g for g in groups if wanted in g.label.replace(" ", "").lower()
        ]
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(g.label for g in found)
        ctx.reply(
            ctx._("Which building? “{name}” matches {names}.").format(
                name=esc(clip(token, 100)), names=esc(clip(names, 3000))
            )
        )
    else:
        ctx.reply(
            ctx._("There is no such group: “{name}”; /buildings lists them.").format(
                name=esc(clip(token, 100))
            )
        )
    return None


def _line(ctx: Context, group: Group) -> str:
    label = esc(group.label)
    if group.name and group.name != group.title:
        label += f" ({esc(group.title)})"
    parts = [f"• {label} <code>{group.chat_id}</code>"]
    if group.admission is Admission.ADMITTED:
        count = len(ctx.svc.repo.case_ids(building_id=group.chat_id, states=OPEN_STATES))
        parts.append(ctx._("{n} open").format(n=ctx.t.number(count)))
        if not group.active:
            parts.append(ctx._("the bot is not in it"))
        if group.pin_warned:
            parts.append(ctx._("cannot pin"))
    elif group.added_by:
        parts.append(ctx._("added by {name}").format(name=esc(group.added_by)))
    return " · ".join(parts)


def _list(ctx: Context) -> None:
    official = (ctx.svc.staff_chat, ctx.svc.escalation_chat)
    groups = [
        g
        for g in ctx.svc.repo.groups(active_only=False)
        if g.chat_id not in official and g.role is Role.BUILDING
    ]
    admitted = [g for g in groups if g.admission is Admission.ADMITTED]
    pending = [g for g in groups if g.admission is Admission.PENDING and g.active]
    gone = [g for g in groups if g.admission in (Admission.REFUSED, Admission.RETIRED)]
    lines = [
        ctx.t.ngettext(
            "🏠 <b>Buildings</b> ({n})", "🏠 <b>Buildings</b> ({n})", len(admitted)
        ).format(n=ctx.t.number(len(admitted)))
    ]
    lines += [_line(ctx, g) for g in sorted(admitted, key=lambda g: g.label)]
    if pending:
        lines += ["", ctx._("<b>Waiting for admission</b>")]
        lines += [_line(ctx, g) for g in pending]
    if gone:
        lines += [
            "",
            ctx._("Refused or retired: {names}").format(
                names=esc(clip(", ".join(g.label for g in gone), 1000))
            ),
        ]
    lines += [
        "",
        esc(
            ctx._(
                "/buildings admit|refuse <group> · /buildings rename <building> <name> · "
                "/buildings retire <building>"
            )
        ),
    ]
    for text in chunk(lines):
        ctx.reply(text)


def cmd_buildings(ctx: Context) -> None:
    """List the buildings and the groups waiting; admit, refuse, rename or retire one."""
    words = ctx.args.split(maxsplit=1)
    if not words:
        _list(ctx)
        return
    action = ACTIONS.get(words[0].lower())
    if action is None:
        ctx.usage(
            ctx._("“{word}” is not something I can do with a building.").format(
                word=quoted(words[0])
            )
        )
        return
    rest = words[1].strip() if len(words) > 1 else ""
    if not rest:
        ctx.usage(ctx._("Which building?"))
        return
    if action == "rename":
        _rename(ctx, rest)
        return
    if action in ("admit", "refuse"):
        group = _find(ctx, rest, (Admission.PENDING,))
        if group is None:
            return
        if action == "admit":
            admit(ctx, group)
            ctx.reply(ctx._("{title} is a building now.").format(title=esc(group.label)))
        else:
            send_away(ctx, group, Admission.REFUSED)
            ctx.reply(ctx._("{title} is refused; I leave it.").format(title=esc(group.label)))
        return
    group = _find(ctx, rest, (Admission.ADMITTED,))
    if group is None:
        return
    send_away(ctx, group, Admission.RETIRED)
    ctx.reply(
        ctx._("{title} is retired: I leave the group; its cases stay in the ledger.").format(
            title=esc(group.label)
        )
    )


def _rename(ctx: Context, rest: str) -> None:
    """`/buildings rename <building> <new name>`: the building is its id or a one-word name."""
    token, _, name = rest.partition(" ")
    name = " ".join(name.split())
    if not name:
        ctx.usage(ctx._("The new name is missing."))
        return
    if len(name) > MAX_NAME:
        ctx.usage(
            ctx._("That name is {n} characters long; {limit} at most, please.").format(
                n=ctx.t.number(len(name)), limit=ctx.t.number(MAX_NAME)
            )
        )
        return
    group = _find(ctx, token, (Admission.ADMITTED,))
    if group is None:
        return
    old = group.label
    group.name = name
    ctx.svc.repo.save_group(group)
    ctx.reply(ctx._("Building {old} is now called {name}.").format(old=esc(old), name=esc(name)))
