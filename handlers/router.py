"""The core's entry point: one neutral event in, the matching handler run, errors contained."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

from handlers import (
    actions,
    admin,
    announce,
    calendar,
    callbacks,
    courier,
    digests,
    intake,
    livewall,
    notify,
    outbox,
    report,
    stats,
    walls,
)
from handlers.callbacks import Act
from handlers.core import Answer, Context, NeedStatus, Services, log
from handlers.events import ChatRef, Event, Membership, Message, Migration, Press
from handlers.parsing import parse_command
from handlers.ports import BotCommand, ChatGone, DeliveryError, Messenger
from handlers.texts import N_
from storage.records import BroadcastKind, Priority

CommandHandler = Callable[[Context], None]
PressHandler = Callable[[Context, callbacks.Callback], None]

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

PRESSES: dict[Act, PressHandler] = {
    Act.ME_TOO: report.press_me_too,
    Act.ACCEPT: actions.press_accept,
    Act.DECLINE: actions.press_decline,
    Act.ESCALATE: actions.press_escalate,
    Act.RATE: actions.press_rate,
    Act.BUILDING: report.press_building,
    Act.RSVP: calendar.press_rsvp,
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
# Member statuses looked up for one update before it is given up (each lookup is one chat).
_LOOKUPS = 4


def delivery_tables() -> courier.Tables:
    """The views, jobs and binders the courier delivers with."""
    return courier.Tables(
        views={
            "ack": notify.view_ack,
            "card": notify.view_card,
            "staff": notify.view_staff,
            "staffcard": notify.view_staff_card,
            "event": calendar.view_event,
            "ledger": stats.view_ledger,
        },
        jobs={"wall": livewall.deliver_wall, "weekly": digests.deliver_weekly},
        binders={"card": notify.bind_card, "staff": notify.bind_staff},
    )


def broadcast_renderers() -> outbox.Renderers:
    """What each kind of broadcast looks like in one of its chats."""
    return {
        BroadcastKind.ANNOUNCE: announce.render_announcement,
        BroadcastKind.EVENT: calendar.render_event,
        BroadcastKind.REMINDER: calendar.render_reminder,
        BroadcastKind.NOTE: calendar.render_note,
        BroadcastKind.CANCEL: calendar.render_cancel,
    }


class Core:
    """Runs handlers for neutral events; one instance per running bot.

    A handler is synchronous: it reads the store, decides, writes its changes and the
    messages it wants sent, all in one transaction, and never waits for the network. The only
    thing it may lack is a member status: it asks for one (`NeedStatus`), the transaction is
    undone, the status is looked up (other chats' updates go on meanwhile) and the update is
    handled again. Button presses are answered once the transaction is committed.
    """

    def __init__(self, svc: Services, messenger: Messenger) -> None:
        self.svc = svc
        self.messenger = messenger
        self._recent: OrderedDict[int, None] = OrderedDict()

    async def register_menus(self) -> None:
        """Publish the command menus in both languages."""
        for language in (None, "zh", "en"):
            t = self.svc.texts(language)
            for scope, menu in (("default", RESIDENT_MENU), ("chat_administrators", HEAD_MENU)):
                commands = [BotCommand(name, t.gettext(text)) for name, text in menu]
                await self.messenger.set_commands(commands, language=language, scope=scope)

    def _duplicate(self, update_id: int) -> bool:
        # The same update can arrive twice after a crash before its offset was confirmed.
        return update_id in self._recent or self.svc.repo.was_handled(update_id)

    def _remember(self, update_id: int) -> None:
        self._recent[update_id] = None
        if len(self._recent) > _RECENT_UPDATES:
            self._recent.popitem(last=False)

    async def handle(self, event: Event) -> None:
        """Handle one event; expected failures become replies, others are logged."""
        if self._duplicate(event.update_id):
            return
        answer: Answer | None = None
        for _attempt in range(_LOOKUPS + 1):
            try:
                with self.svc.repo.transaction():
                    answer = self._decide(event)
                break
            except NeedStatus as need:
                if _attempt == _LOOKUPS:
                    log.warning("update=%s gave up after %s lookups", event.update_id, _LOOKUPS)
                    return
                await self._look_up(need)
            except Exception:
                log.exception("update=%s failed", event.update_id)
                answer = self._apologise(event)
                break
        self._remember(event.update_id)
        if answer is not None:
            try:
                await self.messenger.answer(answer.callback_id, answer.text, alert=answer.alert)
            except DeliveryError as exc:
                log.info("update=%s press not answered: %s", event.update_id, exc)

    async def _look_up(self, need: NeedStatus) -> None:
        try:
            status = await self.messenger.member_status(need.chat_id, need.user_id)
        except ChatGone:
            status = None
        except DeliveryError as exc:
            # Unknown counts as no rights: the action is refused rather than allowed.
            log.info("member_status chat=%s user=%s failed: %s", need.chat_id, need.user_id, exc)
            status = None
        self.svc.statuses.put(need.chat_id, need.user_id, status)

    def _decide(self, event: Event) -> Answer | None:
        """Everything an update does to the store and says, in the open transaction."""
        if isinstance(event, Message):
            if self._message(event):
                # Commands are remembered across restarts: redelivered after a crash,
                # a /progress or /announce must not run twice.
                self.svc.repo.mark_handled(event.update_id)
            return None
        if isinstance(event, Press):
            answer = self._press(event)
            self.svc.repo.mark_handled(event.update_id)
            return answer
        if isinstance(event, Membership):
            admin.on_membership(self.svc, event)
        elif isinstance(event, Migration):
            admin.on_migration(self.svc, event)
        return None

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

    def _message(self, message: Message) -> bool:
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
                ctx.reply(ctx._("I do not know that command. Send /help for the list."))
                return True
            return False
        handler(ctx)
        return True

    def _press(self, press: Press) -> Answer:
        chat = press.chat or ChatRef(press.sender.id, "private")
        ctx = self._context(chat, press)
        ctx.press = press
        cb = callbacks.decode(press.data)
        if cb is None:
            ctx.toast(ctx._("This button is no longer valid."))
        else:
            PRESSES[cb.action](ctx, cb)
        return ctx.answer or Answer(press.callback_id, None)

    def _apologise(self, event: Event) -> Answer | None:
        """Say sorry for an update whose handling failed (its changes were undone)."""
        if isinstance(event, Press):
            t = self.svc.texts_for(event.chat.id if event.chat else event.sender.id)
            return Answer(event.callback_id, t.gettext("Sorry, something went wrong."))
        if isinstance(event, Message) and not event.edited:
            t = self.svc.texts_for(event.chat.id)
            try:
                with self.svc.repo.transaction():
                    self.svc.post.send(
                        event.chat.id,
                        t.gettext("Sorry, something went wrong. Please try again later."),
                        priority=Priority.REPLY,
                        reply_to=event.message_id,
                    )
            except Exception:
                log.exception("update=%s apology not queued", event.update_id)
        return None
