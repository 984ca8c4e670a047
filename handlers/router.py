"""The core's entry point: one neutral event in, the matching handler run, errors contained."""

from __future__ import annotations

from collections import OrderedDict

from handlers import (
    admin,
    admission,
    announce,
    calendar,
    callbacks,
    commands,
    courier,
    digests,
    forum,
    livewall,
    notify,
    outbox,
    report,
    rights,
    stats,
)
from handlers.commands import BUTTONS, BY_NAME, Who
from handlers.core import Answer, Context, NeedStatus, Services, log
from handlers.incoming import ChatRef, Event, Membership, Message, Migration, Press
from handlers.parsing import parse_command
from handlers.ports import ChatGone, DeliveryError, Messenger
from storage.records import BroadcastKind, Priority

_RECENT_UPDATES = 2048
# Commands a group that is not an admitted building still answers: naming it the staff chat
# or the escalation chat.
UNMUTED = frozenset({"setstaff", "setescalation"})
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
            "forum": forum.view_forum,
            "ledgercsv": stats.view_ledger_csv,
        },
        jobs={
            "wall": livewall.deliver_wall,
            "weekly": digests.deliver_weekly,
            "admission": admission.deliver_card,
            "leave": admission.deliver_leave,
        },
        binders={
            "card": notify.bind_card,
            "staff": notify.bind_staff,
            "forum": forum.bind_forum,
        },
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


class Router:
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
        """Publish the command menus in every language: residents', private chats', groups',
        groups' administrators', and the staff chat's. An appointed head's menu in their
        group is published when they are appointed (`publish_menu`)."""
        for language in (None, *admin.LANGUAGES):
            t = self.svc.texts(language)
            for scope, _who, _where in commands.MENU_SCOPES:
                menu = commands.menu(t, scope)
                await self.messenger.set_commands(menu, language=language, scope=scope)
        if self.svc.staff_chat is not None:
            await self.publish_menu(("chat", self.svc.staff_chat, None))

    async def publish_menu(self, scope: tuple[str, int | None, int | None]) -> None:
        """Publish (or delete) the menu of one chat, or of one head in their group."""
        kind, chat_id, user_id = scope
        if kind == "chat":
            wanted = "staff" if chat_id == self.svc.staff_chat else None
        else:
            group = self.svc.repo.get_group(chat_id) if chat_id is not None else None
            wanted = "chat_member" if group is not None and user_id in group.heads else None
        for language in (None, *admin.LANGUAGES):
            menu = commands.menu(self.svc.texts(language), wanted) if wanted else []
            await self.messenger.set_commands(
                menu, language=language, scope=kind, chat_id=chat_id, user_id=user_id
            )

    async def _publish_menus(self) -> None:
        changes, self.svc.menu_changes = self.svc.menu_changes, []
        for scope in changes:
            try:
                await self.publish_menu(scope)
            except DeliveryError as exc:
                log.info("menu %s not published: %s", scope, exc)

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
            self.svc.menu_changes.clear()
            try:
                with self.svc.repo.transaction():
                    answer = self._decide(event)
                break
            except NeedStatus as need:
                self.svc.forget_roles()  # the undone transaction may have named a chat
                if _attempt == _LOOKUPS:
                    log.warning("update=%s gave up after %s lookups", event.update_id, _LOOKUPS)
                    return
                await self._look_up(need)
            except Exception:
                log.exception("update=%s failed", event.update_id)
                self.svc.forget_roles()
                self.svc.menu_changes.clear()
                answer = self._apologise(event)
                break
        self._remember(event.update_id)
        if self.svc.menu_changes:
            # Not messages: published after the commit, outside the handler (and anew at
            # every start, so one lost here is back at the next).
            await self._publish_menus()
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
        group = admin.register(svc, chat, event.sender) if chat.is_group else None
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
            # An album's other photos join the report its captioned photo made.
            report.join_album(ctx, message)
            return False
        name, ctx.args = parsed
        command = BY_NAME.get(name)
        if self._silent(ctx) and name not in UNMUTED:
            return False  # a group staff have not admitted: not a word until they do
        if command is None:
            if message.chat.is_private:
                ctx.reply(ctx._("I do not know that command. Send /help for the list."))
                return True
            return False
        ctx.command = command
        # The right before the arguments: a resident is told she may not, not how to write it.
        if command.who is Who.STAFF and not rights.is_staff(ctx):
            ctx.reply(ctx._("/{name} is for community staff only.").format(name=name))
            return True
        command.handler(ctx)
        return True

    def _silent(self, ctx: Context) -> bool:
        """A group that is neither an admitted building nor the staff or escalation chat."""
        return ctx.chat.is_group and ctx.group is None and not self.svc.is_official(ctx.chat.id)

    def _press(self, press: Press) -> Answer:
        chat = press.chat or ChatRef(press.sender.id, "private")
        ctx = self._context(chat, press)
        if self._silent(ctx):
            return Answer(press.callback_id, None)
        ctx.press = press
        cb = callbacks.decode(press.data)
        if cb is None:
            ctx.toast(ctx._("This button is no longer valid."))
        else:
            button = BUTTONS[cb.action]
            ctx.command = BY_NAME[button.command] if button.command else None
            button.handler(ctx, cb)
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
