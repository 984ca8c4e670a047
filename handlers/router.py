"""The core's entry point: one neutral event in, the matching handler run, errors contained."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from handlers import actions, admin, announce, calendar, callbacks, intake, report, stats, walls
from handlers.core import Context, Services, log
from handlers.events import ChatRef, Event, Membership, Message, Migration, Press
from handlers.parsing import parse_command
from handlers.ports import BotCommand, ChatGone, ChatMigrated, DeliveryError
from handlers.texts import N_

CommandHandler = Callable[[Context], Awaitable[None]]
PressHandler = Callable[[Context, callbacks.Callback], Awaitable[None]]

# Commands that find out for themselves whether a redelivered update was handled already.
SELF_CHECKED = frozenset({"report"})

COMMANDS: dict[str, CommandHandler] = {
    "start": admin.cmd_start,
    "help": admin.cmd_help,
    "report": report.cmd_report,
    "mine": walls.cmd_mine,
    "case": walls.cmd_case,
    "wall": walls.cmd_wall,
    "echo": walls.cmd_echo,
    "accept": actions.cmd_accept,
    "progress": actions.cmd_progress,
    "fixed": actions.cmd_fixed,
    "confirm": actions.cmd_confirm,
    "decline": actions.cmd_decline,
    "escalate": actions.cmd_escalate,
    "reopen": actions.cmd_reopen,
    "sethead": admin.cmd_sethead,
    "unsethead": admin.cmd_unsethead,
    "heads": admin.cmd_heads,
    "building": admin.cmd_building,
    "lang": admin.cmd_lang,
    "log": intake.cmd_log,
    "rate": intake.cmd_rate,
    "stats": stats.cmd_stats,
    "export": stats.cmd_export,
    "event": calendar.cmd_event,
    "events": calendar.cmd_events,
    "cancel": calendar.cmd_cancel,
    "remind": calendar.cmd_remind,
    "announce": announce.cmd_announce,
}

PRESSES: dict[str, PressHandler] = {
    "too": report.press_me_too,
    "acc": actions.press_accept,
    "dec": actions.press_decline,
    "esc": actions.press_escalate,
    "rate": actions.press_rate,
    "bld": report.press_building,
    "go": calendar.press_rsvp,
}

RESIDENT_MENU = [
    ("report", N_("Report a problem")),
    ("mine", N_("My cases")),
    ("wall", N_("Open cases of this building")),
    ("echo", N_("Closed cases and their measures")),
    ("case", N_("One case with its history")),
    ("events", N_("Upcoming events")),
    ("help", N_("How to use echowall")),
    ("lang", N_("Language: zh or en")),
]
HEAD_MENU = [
    *RESIDENT_MENU,
    ("accept", N_("Accept a case")),
    ("progress", N_("Report progress on a case")),
    ("fixed", N_("Mark a case fixed with the measure")),
    ("confirm", N_("Close a fixed case after checking")),
    ("decline", N_("Decline a case with a reason")),
    ("escalate", N_("Escalate a case")),
    ("reopen", N_("Reopen a case")),
    ("sethead", N_("Appoint a building head (reply)")),
    ("heads", N_("List the building heads")),
    ("building", N_("Name this building")),
    ("event", N_("Plan an event with sign-up and reminders")),
    ("announce", N_("Post and pin an announcement")),
    ("remind", N_("Set a reminder in this chat")),
    ("cancel", N_("Cancel an event or a reminder")),
    # Staff commands: group administrators see them too, and the handlers refuse non-staff.
    ("stats", N_("Staff: case statistics and the three rates")),
    ("export", N_("Staff: the monthly ledger as a spreadsheet")),
    ("log", N_("Staff: register an offline demand")),
    ("rate", N_("Staff: record satisfaction from a follow-up visit")),
]

_RECENT_UPDATES = 2048


class Core:
    """Runs handlers for neutral events; one instance per running bot."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self._recent: OrderedDict[int, None] = OrderedDict()

    async def register_menus(self) -> None:
        """Publish the command menus in both languages."""
        for language in (None, "zh", "en"):
            t = self.svc.texts(language)
            for scope, menu in (("default", RESIDENT_MENU), ("chat_administrators", HEAD_MENU)):
                commands = [BotCommand(name, t.gettext(text)) for name, text in menu]
                await self.svc.messenger.set_commands(commands, language=language, scope=scope)

    def _duplicate(self, update_id: int) -> bool:
        # The same update can arrive twice after a crash before its offset was confirmed.
        if update_id in self._recent or self.svc.repo.was_handled(update_id):
            return True
        self._recent[update_id] = None
        if len(self._recent) > _RECENT_UPDATES:
            self._recent.popitem(last=False)
        return False

    async def handle(self, event: Event) -> None:
        """Handle one event; expected failures become replies, others are logged."""
        if self._duplicate(event.update_id):
            return
        try:
            if isinstance(event, Message):
                if await self._message(event):
                    # Commands are remembered across restarts: redelivered after a crash,
                    # a /progress or /announce must not run twice.
                    self.svc.repo.mark_handled(event.update_id)
            elif isinstance(event, Press):
                await self._press(event)
                self.svc.repo.mark_handled(event.update_id)
            elif isinstance(event, Membership):
                await admin.on_membership(self.svc, event)
            elif isinstance(event, Migration):
                admin.on_migration(self.svc, event)
        except ChatMigrated as exc:
            chat = getattr(event, "chat", None)
            if chat is not None:
                admin.on_migration(self.svc, Migration(event.update_id, chat.id, exc.new_chat_id))
        except ChatGone:
            chat = getattr(event, "chat", None)
            if chat is not None:
                admin.mark_gone(self.svc, chat.id)
        except DeliveryError as exc:
            log.warning("update=%s delivery failed: %s", event.update_id, exc)
        except Exception:
            log.exception("update=%s failed", event.update_id)
            await self._apologise(event)

    def _context(self, chat: ChatRef, event: Message | Press) -> Context:
        svc = self.svc
        group = admin.register(svc, chat) if chat.is_group else None
        sender = event.sender
        language = svc.chat_language(chat.id)
        if chat.is_private and sender is not None:
            person = svc.repo.get_person(sender.id)
            if (person is None or not person.language) and sender.language:
                code = sender.language.split("-")[0].lower()
                language = code if code in admin.LANGUAGES else language
        return Context(svc, chat, sender, svc.texts(language), group=group)

    async def _message(self, message: Message) -> bool:
        """Handle a message; True if it was a command of ours (answered or run) that must be
        remembered as handled."""
        if message.edited or message.chat.kind == "channel":
            return False
        ctx = self._context(message.chat, message)
        ctx.message = message
        report.seen(ctx, message)
        parsed = parse_command(message.text, self.svc.bot.username)
        if parsed is None:
            return False
        name, ctx.args = parsed
        handler = COMMANDS.get(name)
        if handler is None:
            if message.chat.is_private:
                await ctx.reply(ctx._("I do not know that command. Send /help for the list."))
                return True
            return False
        await handler(ctx)
        # A report has its own check by message (`case_by_origin`), which also finishes an
        # unsent acknowledgement: a mark would cost a second fsync and add nothing.
        return name not in SELF_CHECKED

    async def _press(self, press: Press) -> None:
        chat = press.chat or ChatRef(press.sender.id, "private")
        ctx = self._context(chat, press)
        ctx.press = press
        cb = callbacks.decode(press.data)
        handler = PRESSES.get(cb.action) if cb is not None else None
        if cb is None or handler is None:
            await ctx.toast(ctx._("This button is no longer valid."))
            return
        try:
            await handler(ctx, cb)
        finally:
            if not ctx.answered:
                ctx.answered = True
                await self.svc.messenger.answer(press.callback_id)

    async def _apologise(self, event: Event) -> None:
        try:
            if isinstance(event, Message) and not event.edited:
                t = self.svc.texts_for(event.chat.id)
                await self.svc.messenger.send(
                    event.chat.id,
                    t.gettext("Sorry, something went wrong. Please try again later."),
                    reply_to=event.message_id,
                )
            elif isinstance(event, Press):
                t = self.svc.texts_for(event.chat.id if event.chat else event.sender.id)
                await self.svc.messenger.answer(
                    event.callback_id, t.gettext("Sorry, something went wrong.")
                )
        except DeliveryError:
            log.warning("update=%s apology not delivered", event.update_id)
