"""Groups and people: welcome and help, heads, building names, languages, migrations."""

from __future__ import annotations

from handlers import admission, rights
from handlers.core import Context, Services, log
from handlers.incoming import ChatRef, Membership, Migration, User
from handlers.parsing import parse_int, quoted
from handlers.render import chunk, esc
from handlers.rights import MANAGERS_ONLY
from handlers.texts import Translator
from storage.records import Admission, Group, Priority, Role

LANGUAGES = ("zh", "en")
# The languages as typed: the code, or its name in either language.
LANGUAGE_WORDS = {
    **{word: "zh" for word in ("zh", "中文", "chinese")},
    **{word: "en" for word in ("en", "英文", "english")},
}
MAX_BUILDING_NAME = 64


def welcome(t: Translator, bot_username: str) -> str:
    return t.gettext(
        "👋 Hello, I am echowall, the neighbourhood's problem wall and echo wall.\n"
        "When residents call, we respond.\n\n"
        "• /report followed by the problem logs a case, e.g. "
        "<code>/report The corridor light is broken</code>\n"
        "• /wall shows open cases, /echo the ones solved\n"
        "• /mine lists your cases, /case 17 shows one\n"
        "You can also write to me privately: @{bot}"
    ).format(bot=esc(bot_username))


def staff_welcome(t: Translator, bot_username: str) -> str:
    return t.gettext(
        "👋 Hello, community staff. I am echowall: every case residents report in their "
        "building groups comes to this chat as a card.\n\n"
        "• Accept, Decline and Escalate are the card's buttons, or /accept, /decline, "
        "/escalate with the case number\n"
        "• The card's category row sorts the case; /assign names who is responsible, "
        "/mine lists yours\n"
        "• /log registers a demand made offline; /rate records a follow-up visit's rating\n"
        "• /stats shows the three rates, /export the month's ledger\n"
        "• /event and /announce here reach every building group\n"
        "• A group that adds me waits for your Admit on its card; /buildings lists them, "
        "/status shows what is configured\n"
        "/help lists everything. Residents find me as @{bot}"
    ).format(bot=esc(bot_username))


def escalation_welcome(t: Translator) -> str:
    return t.gettext(
        "👋 Hello. I am echowall: cases escalated beyond their building — by staff, or by "
        "themselves when overdue — are posted here with their card. /case followed by the "
        "number shows one with its history."
    )


def register(svc: Services, chat: ChatRef, by: User | None = None) -> Group | None:
    """The building group an update came from, remembered the first time the bot sees it.

    A group the bot is new to waits for staff to admit it (`handlers.admission`): until then,
    and in a refused or retired group, this is None and the bot says nothing there.
    """
    if not chat.is_group or svc.is_official(chat.id):
        return None
    group = svc.repo.get_group(chat.id)
    if group is None:
        admission.arrive(svc, chat, by, None)
        return None
    if group.role is not Role.BUILDING or group.admission is not Admission.ADMITTED:
        return None
    if not group.active or (chat.title and chat.title != group.title):
        group.active = True
        group.title = chat.title or group.title
        svc.repo.save_group(group)
    return group


def on_membership(svc: Services, event: Membership) -> None:
    """Greet a group the bot was added to (a new one waits for staff); mark it inactive when
    removed."""
    if event.joined:
        chat_id = event.chat.id
        t = svc.texts_for(chat_id)
        text = None
        group = svc.repo.get_group(chat_id)
        if chat_id == svc.staff_chat:
            text = staff_welcome(t, svc.bot.username)
        elif chat_id == svc.escalation_chat:
            text = escalation_welcome(t)
        elif group is None:
            register(svc, event.chat, event.by)  # waits for staff, and says so
        elif group.admission in (Admission.REFUSED, Admission.RETIRED):
            admission.arrive(svc, event.chat, event.by, group)  # asks again
        elif group.admission is Admission.PENDING:
            group.active = True
            svc.repo.save_group(group)
            text = admission.waiting_note(t)
            admission.refresh(svc, group)
        elif register(svc, event.chat) is not None:
            text = welcome(t, svc.bot.username)
        if text is not None:
            svc.post.send(chat_id, text, priority=Priority.REPLY)
        return
    group = svc.repo.get_group(event.chat.id)
    if group is not None and group.active:
        group.active = False
        svc.repo.save_group(group)
        log.info("chat=%s action=removed", event.chat.id)
        if group.admission is Admission.PENDING:
            admission.refresh(svc, group)  # the card says the group removed the bot
    svc.statuses.forget(event.chat.id)


def on_migration(svc: Services, event: Migration) -> None:
    """Keep a group's cases and settings under its new supergroup id; the staff chat and the
    escalation chat stay what they are (a configured one's new id is stored as replacing it)."""
    old, new = event.old_chat_id, event.new_chat_id
    was = {
        Role.STAFF: (svc.staff_chat, svc.settings.staff_chat),
        Role.ESCALATION: (svc.escalation_chat, svc.settings.escalation_chat),
    }
    svc.repo.migrate_group(old, new)
    for role, (chat, configured) in was.items():
        if chat != old:
            continue
        group = svc.repo.get_group(new) or Group(chat_id=new, title=event.title or str(new))
        group.role = role
        if configured == old:
            group.replaces = configured
        svc.repo.save_group(group)
        svc.menus_changed(("chat", new, None))
        log.info("chat=%s action=migrate role=%s to=%s", old, role.value, new)
    svc.forget_roles()
    svc.post.touch(event.new_chat_id)  # its waiting messages moved along
    svc.statuses.forget(event.old_chat_id)
    log.info("chat=%s action=migrate to=%s", event.old_chat_id, event.new_chat_id)


def mark_gone(svc: Services, chat_id: int) -> None:
    """The bot can no longer post into this group (403), or to this person: they never
    started a private chat with it, or blocked it."""
    if chat_id > 0:
        person = svc.repo.get_person(chat_id)
        if person is not None and person.private is not False:
            person.private = False
            svc.repo.save_person(person)
        return
    group = svc.repo.get_group(chat_id)
    if group is not None and group.active:
        group.active = False
        svc.repo.save_group(group)


def cmd_start(ctx: Context) -> None:
    """Greet and explain: staff in the staff chat as staff, everyone else as residents; with
    a deep link's payload (`/start case_17`), do what the link promised."""
    from handlers.setup import start_payload  # set-up imports the greetings from here

    payload = ctx.args.strip()
    if payload and start_payload(ctx, payload):
        return
    if ctx.in_staff_chat:
        ctx.reply(staff_welcome(ctx.t, ctx.svc.bot.username))
        return
    ctx.reply(welcome(ctx.t, ctx.svc.bot.username))


def _group_manager(ctx: Context) -> Group | None:
    """This building group, if the sender may change its settings (checked first)."""
    if ctx.group is None:
        ctx.reply(ctx._("This command works in a building group."))
        return None
    if not rights.may_manage(ctx, ctx.group.chat_id):
        ctx.reply(ctx._(MANAGERS_ONLY))
        return None
    return ctx.group


def cmd_sethead(ctx: Context) -> None:
    """Appoint the person replied to as a head of this building."""
    group = _group_manager(ctx)
    if group is None:
        return
    quoted = ctx.message.reply_to if ctx.message else None
    if quoted is None or quoted.sender is None or quoted.sender.is_bot:
        ctx.reply(ctx._("Reply to a message of the person with /sethead."))
        return
    group.heads[quoted.sender.id] = quoted.sender.name
    ctx.svc.repo.save_group(group)
    ctx.svc.menus_changed(("chat_member", group.chat_id, quoted.sender.id))
    link = ctx.svc.bot.link(f"head_{group.chat_id}")
    ctx.reply(
        ctx._("{name} is now a head of {building}.").format(
            name=esc(quoted.sender.name), building=esc(group.label)
        )
        + "\n"
        + ctx._(
            "Head, open {link} once, so that I may write to you privately (overdue cases)."
        ).format(link=link)
    )


def cmd_unsethead(ctx: Context) -> None:
    """Remove a head: reply to their message, or give their user id."""
    group = _group_manager(ctx)
    if group is None:
        return
    replied = ctx.message.reply_to if ctx.message else None
    typed = ctx.args.split()[0] if ctx.args.split() else ""
    target: int | None = None
    if replied is not None and replied.sender is not None:
        target = replied.sender.id
    elif typed:
        target = parse_int(typed)
        if target is None:
            ctx.usage(ctx._("“{word}” is not a user id.").format(word=quoted(typed)))
            return
    if target is None:
        ctx.usage(ctx._("Whom? Reply to a head's message with /unsethead (see /heads)."))
        return
    if target not in group.heads:
        ctx.reply(
            ctx._("{name} is not an appointed head here (see /heads).").format(
                name=esc(replied.sender.name) if replied and replied.sender else target
            )
        )
        return
    name = group.heads.pop(target)
    ctx.svc.repo.save_group(group)
    ctx.svc.menus_changed(("chat_member", group.chat_id, target))
    ctx.reply(ctx._("{name} is no longer a head here.").format(name=esc(name)))


def cmd_heads(ctx: Context) -> None:
    """List the heads of this building."""
    if ctx.group is None:
        ctx.reply(ctx._("This command works in a building group."))
        return
    lines = [ctx._("<b>Heads of {building}</b>").format(building=esc(ctx.group.label))]
    lines += [f"• {esc(name)} (<code>{uid}</code>)" for uid, name in ctx.group.heads.items()]
    if not ctx.group.heads:
        lines.append(ctx._("No heads appointed yet: a head replies to a person with /sethead."))
    lines.append(ctx._("The group's administrators count as heads too."))
    for text in chunk(lines):
        ctx.reply(text)


def cmd_building(ctx: Context) -> None:
    """Name this group's building, e.g. 林溪苑 3号楼."""
    group = _group_manager(ctx)
    if group is None:
        return
    name = " ".join(ctx.args.split())
    if not name:
        ctx.usage(ctx._("The name is missing."))
        return
    if len(name) > MAX_BUILDING_NAME:
        ctx.usage(
            ctx._("That name is {n} characters long; {limit} at most, please.").format(
                n=ctx.t.number(len(name)), limit=ctx.t.number(MAX_BUILDING_NAME)
            )
        )
        return
    group.name = name
    ctx.svc.repo.save_group(group)
    ctx.reply(ctx._("This group is now building {name}.").format(name=esc(name)))


def cmd_lang(ctx: Context) -> None:
    """Switch the language of this group (heads) or of your private chat."""
    if ctx.chat.is_group and not rights.may_manage(ctx, ctx.chat.id):
        # A group's language is its heads' to choose: said before anything about the words.
        ctx.reply(ctx._(MANAGERS_ONLY))
        return
    typed = ctx.args.strip()
    choice = LANGUAGE_WORDS.get(typed.lower())
    if choice is None:
        problem = (
            ctx._("“{word}” is not a language I speak.").format(word=quoted(typed))
            if typed
            else ctx._("Which language?")
        )
        ctx.usage(problem)
        return
    if ctx.chat.is_private and ctx.sender is not None:
        from storage.records import Person

        person = ctx.svc.repo.get_person(ctx.sender.id) or Person(
            id=ctx.sender.id, name=ctx.sender.name
        )
        person.language = choice
        ctx.svc.repo.save_person(person)
    else:
        if ctx.group is None and not ctx.chat.is_group:
            return
        group = ctx.svc.repo.get_group(ctx.chat.id) or Group(
            chat_id=ctx.chat.id, title=ctx.chat.title or str(ctx.chat.id)
        )
        group.language = choice
        ctx.svc.repo.save_group(group)
    ctx.t = ctx.svc.texts(choice)
    ctx.reply(ctx._("Language set to English."))
