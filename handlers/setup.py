"""Set-up from inside Telegram: the admins' link, /setup, /setstaff, /setescalation, /status,
and what the deep links `t.me/<bot>?start=…` promise.

Admins are the user ids of ECHOWALL_ADMINS and whoever opens the set-up link that
`echowall setup` prints on the server (its payload is derived from the token). An admin names
the staff chat and the escalation chat by typing /setstaff or /setescalation inside them; the
choice is stored as the group's role, so it follows a group's upgrade to a supergroup. A chat
named in the configuration wins over one named here (see `Services.staff_chat`).
"""

from __future__ import annotations

from datetime import timedelta

from handlers import rights
from handlers.core import Context, Services, log
from handlers.render import chunk, esc
from handlers.texts import N_, Translator
from storage.records import OPEN_STATES, Admission, Group, Person, Role

ROLE_NAMES = {Role.STAFF: N_("the staff chat"), Role.ESCALATION: N_("the escalation chat")}
CONFIGURED = {Role.STAFF: "ECHOWALL_STAFF_CHAT", Role.ESCALATION: "ECHOWALL_ESCALATION_CHAT"}
ADMINS_ONLY = N_(
    "Only the deployment's admins can do that: the user ids in ECHOWALL_ADMINS, and whoever "
    "opened the set-up link that `echowall setup` prints."
)


def _configured(svc: Services, role: Role) -> int | None:
    return svc.settings.staff_chat if role is Role.STAFF else svc.settings.escalation_chat


def _current(svc: Services, role: Role) -> int | None:
    return svc.staff_chat if role is Role.STAFF else svc.escalation_chat


def _name_chat(ctx: Context, role: Role) -> None:
    """/setstaff, /setescalation: this group becomes the staff or the escalation chat."""
    svc = ctx.svc
    if not rights.is_admin(ctx):
        ctx.reply(ctx._(ADMINS_ONLY))
        return
    if not ctx.chat.is_group:
        ctx.reply(ctx._("Send this inside the group chat it is about."))
        return
    configured = _configured(svc, role)
    current = _current(svc, role)
    if current == ctx.chat.id:
        ctx.reply(ctx._("This chat is {role} already.").format(role=ctx._(ROLE_NAMES[role])))
        return
    if configured is not None and current == configured:
        ctx.reply(
            ctx._(
                "The configuration names {role} ({variable}={id}), and the configuration wins: "
                "remove that setting and restart the bot to name it here."
            ).format(role=ctx._(ROLE_NAMES[role]), variable=CONFIGURED[role], id=configured)
        )
        return
    group = svc.repo.get_group(ctx.chat.id)
    if (
        group is not None
        and group.role is Role.BUILDING
        and group.admission is Admission.ADMITTED
        and svc.repo.case_ids(building_id=group.chat_id)
    ):
        ctx.reply(
            ctx._(
                "This group is a building with cases; retire it first (/buildings retire), "
                "or use another group."
            )
        )
        return
    for other in svc.repo.groups(active_only=False):
        if other.role is role and other.chat_id != ctx.chat.id:
            # The chat it replaces goes back to being a group staff may admit or refuse.
            other.role, other.admission, other.replaces = Role.BUILDING, Admission.PENDING, None
            svc.repo.save_group(other)
    group = group or Group(chat_id=ctx.chat.id, title=ctx.chat.title or str(ctx.chat.id))
    group.role, group.admission, group.active = role, Admission.ADMITTED, True
    group.title = ctx.chat.title or group.title
    svc.repo.save_group(group)
    svc.forget_roles()
    svc.menus_changed(("chat", ctx.chat.id, None))
    log.info("chat=%s action=set-%s by=%s", ctx.chat.id, role.value, ctx.user_id)
    from handlers.admin import escalation_welcome, staff_welcome

    done = ctx._("✅ This chat is now {role}.").format(role=ctx._(ROLE_NAMES[role]))
    welcome = (
        staff_welcome(ctx.t, svc.bot.username) if role is Role.STAFF else escalation_welcome(ctx.t)
    )
    ctx.reply(done + "\n\n" + welcome)


def cmd_setstaff(ctx: Context) -> None:
    """Make this group the community's staff chat (admins)."""
    _name_chat(ctx, Role.STAFF)


def cmd_setescalation(ctx: Context) -> None:
    """Make this group the chat that receives escalated cases (admins)."""
    _name_chat(ctx, Role.ESCALATION)


# --- what is configured ---------------------------------------------------------------------


def _chat_line(ctx: Context, role: Role) -> str:
    svc = ctx.svc
    chat = _current(svc, role)
    label = ctx._(ROLE_NAMES[role]).capitalize()
    if chat is None:
        command = "/setstaff" if role is Role.STAFF else "/setescalation"
        return ctx._("{label}: not named yet — an admin sends {command} inside it.").format(
            label=label, command=command
        )
    group = svc.repo.get_group(chat)
    title = esc(group.title) if group is not None else ""
    source = (
        ctx._("from the configuration")
        if chat == _configured(svc, role)
        else ctx._("named in Telegram")
    )
    return ctx._("{label}: {title} <code>{id}</code> ({source})").format(
        label=label, title=title, id=chat, source=source
    )


def status_lines(ctx: Context) -> list[str]:
    svc = ctx.svc
    _ = ctx._
    groups = [g for g in svc.repo.groups(active_only=False) if g.role is Role.BUILDING]
    admitted = [g for g in groups if g.admission is Admission.ADMITTED and g.active]
    pending = [g for g in groups if g.admission is Admission.PENDING and g.active]
    no_pin = [g for g in admitted if g.pin_warned]
    heads = sum(len(g.heads) for g in admitted)
    open_cases = sum(
        len(svc.repo.case_ids(building_id=g.chat_id, states=OPEN_STATES)) for g in admitted
    )
    lines = [
        _("⚙️ <b>echowall status</b> · @{bot}").format(bot=esc(svc.bot.username)),
        _chat_line(ctx, Role.STAFF),
        _chat_line(ctx, Role.ESCALATION),
        _("Buildings: {n} admitted, {pending} waiting (/buildings)").format(
            n=ctx.t.number(len(admitted)), pending=ctx.t.number(len(pending))
        ),
        _("Appointed heads: {n}; open cases: {open}").format(
            n=ctx.t.number(heads), open=ctx.t.number(open_cases)
        ),
    ]
    categories = svc.settings.categories
    lines.append(
        _("Categories: {accepted} accepted, {declined} not accepted, {referrals} referrals").format(
            accepted=ctx.t.number(len(categories.accepted)),
            declined=ctx.t.number(len(categories.not_accepted)),
            referrals=ctx.t.number(len(categories.referrals)),
        )
    )
    settings = svc.settings
    if settings.remind_before:
        lines.append(
            _("Reminders: {time} before each deadline, to the person responsible").format(
                time=ctx.t.duration(settings.remind_before)
            )
        )
    else:
        lines.append(_("Reminders before a deadline: off"))
    check = ctx.t.duration(timedelta(hours=settings.check_hours))
    if settings.rating_reminder:
        lines.append(
            _("A fix is checked within {check}; an unrated one is asked about after {time}").format(
                check=check, time=ctx.t.duration(settings.rating_reminder)
            )
        )
    else:
        lines.append(_("A fix is checked within {check}").format(check=check))
    if no_pin:
        lines.append(
            _("⚠️ No right to pin in: {names}").format(
                names=esc(", ".join(g.label for g in no_pin[:10]))
            )
        )
    if svc.bot.reads_all is True:
        lines.append(
            _(
                "⚠️ Privacy mode is off: I receive every message in groups. Turn it on in "
                "@BotFather (/setprivacy → Enable)."
            )
        )
    elif svc.bot.reads_all is False:
        lines.append(_("Privacy mode: on (as it should be)."))
    lines.append(
        _("Admins: {n} configured in ECHOWALL_ADMINS").format(
            n=ctx.t.number(len(svc.settings.admins))
        )
    )
    lines.append(
        _("Add me to a building group: {link}").format(link=svc.bot.link("building", group=True))
    )
    return lines


def cmd_status(ctx: Context) -> None:
    """What is configured: the staff and escalation chats, buildings, privacy mode."""
    for text in chunk(status_lines(ctx)):
        ctx.reply(text)


def setup_steps(svc: Services, t: Translator) -> list[str]:
    """The set-up walk-through, ticked where the store says a step is done."""
    _ = t.gettext
    staff, escalation = svc.staff_chat, svc.escalation_chat
    buildings = svc.buildings()

    def tick(done: bool) -> str:
        return "✅" if done else "⬜"

    privacy = svc.bot.reads_all is False
    return [
        _("🛠 <b>Setting up echowall</b>"),
        _(
            "{tick} 1. Privacy mode on: in @BotFather, /setprivacy → Enable. In groups I then "
            "receive only commands and replies to me."
        ).format(tick=tick(privacy)),
        _(
            "{tick} 2. The staff chat: add me to the community staff's group and send "
            "/setstaff there. Every member of it is staff."
        ).format(tick=tick(staff is not None)),
        _(
            "{tick} 3. The escalation chat (optional): add me to it and send /setescalation there."
        ).format(tick=tick(escalation is not None)),
        _(
            "{tick} 4. Buildings: add me to each building group as an administrator that may "
            "pin and delete messages — {link} — then admit it on the card in the staff chat."
        ).format(tick=tick(bool(buildings)), link=svc.bot.link("building", group=True)),
        _(
            "⬜ 5. Heads: in each building group, reply to the head's message with /sethead; "
            "the answer gives the head a link to start a private chat with me."
        ),
        _(
            "6. Then, in @BotFather, /setjoingroups → Disable, so that nobody else adds me to "
            "their groups. /status shows what is configured."
        ),
    ]


def cmd_setup(ctx: Context) -> None:
    """Walk an admin through setting the bot up (in a private chat)."""
    if not rights.is_admin(ctx):
        ctx.reply(ctx._(ADMINS_ONLY))
        return
    if not ctx.chat.is_private:
        ctx.reply(ctx._("Send /setup to me in a private chat."))
        return
    for text in chunk(setup_steps(ctx.svc, ctx.t)):
        ctx.reply(text)


# --- deep links ---------------------------------------------------------------------------


def start_payload(ctx: Context, payload: str) -> bool:
    """`/start <payload>` from a deep link: do what the link promised; False if unknown."""
    svc = ctx.svc
    if not ctx.chat.is_private:
        return False
    code = svc.settings.setup_code
    if code is not None and payload == code and ctx.sender is not None:
        person = svc.repo.get_person(ctx.sender.id) or Person(
            id=ctx.sender.id, name=ctx.sender.name
        )
        person.admin = True
        svc.repo.save_person(person)
        log.info("chat=%s action=admin-by-link user=%s", ctx.chat.id, ctx.sender.id)
        ctx.reply(ctx._("✅ You are an admin of this echowall now."))
        for text in chunk(setup_steps(svc, ctx.t)):
            ctx.reply(text)
        return True
    kind, _, argument = payload.partition("_")
    if payload[:1] == "c" and payload[1:].isdigit():
        # The form of case links sent before they were `case_17`.
        kind, argument = "case", payload[1:]
    if kind == "case" and argument.isdigit():
        from handlers.walls import cmd_case

        ctx.args = argument
        cmd_case(ctx)
        return True
    if kind == "head" and argument.lstrip("-").isdigit():
        group = svc.repo.get_group(int(argument))
        if group is None or ctx.user_id not in group.heads:
            ctx.reply(ctx._("This link was for a building head; you are not one (any more)."))
            return True
        ctx.reply(
            ctx._(
                "👋 Welcome, head of {building}. I will write to you here: when a case you "
                "accepted becomes overdue. /help lists your commands; /case 17 opens a case."
            ).format(building=esc(group.label))
        )
        return True
    return False
