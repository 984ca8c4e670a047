"""Groups and people: welcome and help, heads, building names, languages, migrations."""

from __future__ import annotations

from handlers import rights
from handlers.core import Context, Services, log
from handlers.events import ChatRef, Membership, Migration
from handlers.parsing import parse_int
from handlers.render import chunk, esc
from handlers.texts import N_, Translator
from storage.records import Group, Priority

LANGUAGES = ("zh", "en")
BUILDING_USAGE = N_("/building <name, up to 64 characters>")


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


def help_text(t: Translator, *, manager: bool, staff: bool) -> str:
    _ = t.gettext
    lines = [
        _("<b>echowall commands</b>"),
        _("/report &lt;problem&gt; — report a problem (also as a photo caption or a reply)"),
        _("/mine — your cases · /case &lt;id&gt; — one case with its history"),
        _("/wall — open cases · /echo — closed cases with their measure"),
        _("/events — upcoming events; sign up with the buttons under an event"),
        _("/lang zh|en — language"),
    ]
    if manager:
        lines += [
            "",
            _("<b>Building heads and staff</b>"),
            _("/accept &lt;id&gt; [easy|key|hard] [12h|2d|YYYY-MM-DD HH:MM]"),
            _(
                "/progress &lt;id&gt; &lt;note&gt; · /fixed &lt;id&gt; &lt;measure&gt; · "
                "/confirm &lt;id&gt;"
            ),
            _(
                "/decline &lt;id&gt; &lt;reason&gt; · /escalate &lt;id&gt; &lt;note&gt; · "
                "/reopen &lt;id&gt; &lt;note&gt;"
            ),
            _("/sethead (reply to a person) · /unsethead · /heads · /building &lt;name&gt;"),
            _(
                "/event YYYY-MM-DD HH:MM &lt;title&gt; [@ &lt;place&gt;] · "
                "/event every mon 19:00 &lt;title&gt; · /cancel E&lt;id&gt;"
            ),
            _("/announce &lt;text&gt; · /remind &lt;10m|2h|1d|HH:MM&gt; &lt;text&gt;"),
        ]
    if staff:
        lines += [
            "",
            _("Staff work in every building, from the staff chat or privately."),
            _(
                "/log &lt;building&gt; &lt;channel&gt; &lt;text&gt; · "
                "/rate &lt;id&gt; &lt;rating&gt;"
            ),
            _("/stats [week|month|all|YYYY-MM] · /export [YYYY-MM]"),
            _("From the staff chat, /event and /announce reach every building group."),
        ]
    return "\n".join(lines)


def register(svc: Services, chat: ChatRef) -> Group | None:
    """Remember a building group the first time the bot sees it."""
    if not chat.is_group or not svc.is_building(chat.id):
        return None
    group = svc.repo.get_group(chat.id)
    if group is None:
        group = Group(chat_id=chat.id, title=chat.title or str(chat.id))
        svc.repo.save_group(group)
        log.info("chat=%s action=register", chat.id)
    elif not group.active or (chat.title and chat.title != group.title):
        group.active = True
        group.title = chat.title or group.title
        svc.repo.save_group(group)
    return group


def on_membership(svc: Services, event: Membership) -> None:
    """Greet a group the bot was added to; mark it inactive when removed."""
    if event.joined:
        group = register(svc, event.chat)
        t = svc.texts_for(event.chat.id)
        if group is not None or event.chat.id == svc.settings.staff_chat:
            svc.post.send(event.chat.id, welcome(t, svc.bot.username), priority=Priority.REPLY)
        return
    group = svc.repo.get_group(event.chat.id)
    if group is not None and group.active:
        group.active = False
        svc.repo.save_group(group)
        log.info("chat=%s action=removed", event.chat.id)
    svc.statuses.forget(event.chat.id)


def on_migration(svc: Services, event: Migration) -> None:
    """Keep a group's cases and settings under its new supergroup id."""
    svc.repo.migrate_group(event.old_chat_id, event.new_chat_id)
    svc.post.touch(event.new_chat_id)  # its waiting messages moved along
    svc.statuses.forget(event.old_chat_id)
    log.info("chat=%s action=migrate to=%s", event.old_chat_id, event.new_chat_id)


def mark_gone(svc: Services, chat_id: int) -> None:
    """The bot can no longer post into this group (403)."""
    group = svc.repo.get_group(chat_id)
    if group is not None and group.active:
        group.active = False
        svc.repo.save_group(group)


def cmd_start(ctx: Context) -> None:
    """Greet and explain."""
    ctx.reply(welcome(ctx.t, ctx.svc.bot.username))


def cmd_help(ctx: Context) -> None:
    """List the commands this person may use."""
    staff = rights.is_staff(ctx)
    manager = staff or (ctx.group is not None and rights.is_head(ctx, ctx.group.chat_id))
    ctx.reply(help_text(ctx.t, manager=manager, staff=staff))


def _group_manager(ctx: Context) -> Group | None:
    if ctx.group is None:
        ctx.reply(ctx._("This command works in a building group."))
        return None
    if not rights.may_manage(ctx, ctx.group.chat_id):
        ctx.reply(ctx._("Only the building's heads and community staff can do that."))
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
    ctx.reply(
        ctx._("{name} is now a head of {building}.").format(
            name=esc(quoted.sender.name), building=esc(group.label)
        )
    )


def cmd_unsethead(ctx: Context) -> None:
    """Remove a head: reply to their message, or give their user id."""
    group = _group_manager(ctx)
    if group is None:
        return
    quoted = ctx.message.reply_to if ctx.message else None
    target: int | None = None
    if quoted is not None and quoted.sender is not None:
        target = quoted.sender.id
    else:
        target = parse_int(ctx.args)
    if target is None or target not in group.heads:
        ctx.reply(ctx._("Reply to a head's message with /unsethead (see /heads)."))
        return
    name = group.heads.pop(target)
    ctx.svc.repo.save_group(group)
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
    if not name or len(name) > 64:
        ctx.reply(ctx._("Usage: {usage}").format(usage=esc(ctx._(BUILDING_USAGE))))
        return
    group.name = name
    ctx.svc.repo.save_group(group)
    ctx.reply(ctx._("This group is now building {name}.").format(name=esc(name)))


def cmd_lang(ctx: Context) -> None:
    """Switch the language of this group (heads) or of your private chat."""
    choice = ctx.args.strip().lower()
    if choice not in LANGUAGES:
        ctx.reply(ctx._("Usage: {usage}").format(usage="/lang zh|en"))
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
        if not (rights.may_manage(ctx, ctx.chat.id)):
            ctx.reply(ctx._("Only the building's heads and community staff can do that."))
            return
        group = ctx.svc.repo.get_group(ctx.chat.id) or Group(
            chat_id=ctx.chat.id, title=ctx.chat.title or str(ctx.chat.id)
        )
        group.language = choice
        ctx.svc.repo.save_group(group)
    ctx.t = ctx.svc.texts(choice)
    ctx.reply(ctx._("Language set to English."))
