"""The postbox: messages a handler decided to send, written with the change that decided them.

A handler never waits for the network. It changes the store and puts the messages it wants
sent into the postbox, in the same transaction; the runtime then delivers them per chat, in
priority order and under Telegram's limits (`bot.delivery`), and `handlers.courier` makes
each call and records what came of it. So an update can be confirmed to Telegram as soon as
its transaction is committed: a `kill -9` afterwards loses no message, since the waiting
ones are delivered after the restart.

Priorities (`storage.records.Priority`): a reply to what a person just did goes first, echoes
of case changes next, broadcasts after them, and refreshes of views (the pinned wall, a case
card, an event's sign-up counts) last. A refresh names a *view* instead of a text: it is
rendered from the store when it goes out, so it shows the newest state, and a refresh asked
for while another of the same view still waits is the same refresh.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from handlers.ports import Button, Keyboard
from storage.records import Outgoing, OutKind, Priority
from storage.repository import Repository


def keyboard_doc(keyboard: Keyboard | None) -> list[list[list[str]]] | None:
    """A keyboard as the store keeps it: rows of [label, callback data]."""
    if keyboard is None:
        return None
    return [[[button.text, button.data] for button in row] for row in keyboard]


def keyboard_of(doc: list[list[list[str]]] | None) -> Keyboard | None:
    if doc is None:
        return None
    return tuple(tuple(Button(text, data) for text, data in row) for row in doc)


class Doorbell:
    """Rings for a chat when something new waits there; the runtime's delivery listens.

    It rings while the transaction that wrote the message is still open, which is safe:
    delivery runs on the same event loop, so it looks only after the handler has returned
    and the transaction has been committed (or undone: then it finds nothing).
    """

    def __init__(self) -> None:
        self._listeners: list[Callable[[int, Priority | None], None]] = []

    def listen(self, listener: Callable[[int, Priority | None], None]) -> None:
        self._listeners.append(listener)

    def ring(self, chat_id: int, priority: Priority | None = None) -> None:
        """Something new waits for the chat (`priority`: of what, if one message)."""
        for listener in self._listeners:
            listener(chat_id, priority)


class Postbox:
    """Puts messages into the store for delivery; one per running bot."""

    def __init__(
        self, repo: Repository, clock: Callable[[], datetime], doorbell: Doorbell | None = None
    ) -> None:
        self.repo = repo
        self.clock = clock
        self._doorbell = doorbell or Doorbell()
        # Messages being delivered right now: a refresh asked for meanwhile is a new one,
        # since the one under way may have been rendered before the latest change.
        self.flying: set[int] = set()

    def _put(self, message: Outgoing) -> None:
        self.repo.save_outgoing(message)
        self._doorbell.ring(message.chat_id, message.priority)

    def _new(self, chat_id: int, kind: OutKind, priority: Priority) -> Outgoing:
        return Outgoing(self.repo.next_outgoing_id(), chat_id, kind, priority, self.clock())

    def send(
        self,
        chat_id: int,
        text: str,
        *,
        priority: Priority,
        reply_to: int | None = None,
        keyboard: Keyboard | None = None,
        photo: str | None = None,
        merge: bool = False,
    ) -> None:
        """Send a message (HTML); `merge`: plain text that may go out together with others
        waiting in a group whose budget is short."""
        message = self._new(chat_id, OutKind.SEND, priority)
        message.text, message.reply_to, message.photo = text, reply_to, photo
        message.keyboard = keyboard_doc(keyboard)
        if merge and keyboard is None and photo is None:
            message.merge = "text"
        self._put(message)

    def edit(
        self,
        chat_id: int,
        message_id: int,
        text: str,
        *,
        priority: Priority,
        keyboard: Keyboard | None = None,
    ) -> None:
        """Replace the text (or caption) and keyboard of one of the bot's messages."""
        message = self._new(chat_id, OutKind.EDIT, priority)
        message.message_id, message.text = message_id, text
        message.keyboard = keyboard_doc(keyboard)
        self._put(message)

    def pin(self, chat_id: int, message_id: int, *, priority: Priority) -> None:
        message = self._new(chat_id, OutKind.PIN, priority)
        message.message_id = message_id
        self._put(message)

    def view(
        self,
        chat_id: int,
        view: str,
        *,
        kind: OutKind = OutKind.SEND,
        priority: Priority,
        reply_to: int | None = None,
        bind: str | None = None,
        merge: str | None = None,
        text: str = "",
    ) -> None:
        """A message rendered from the store when it goes out (a card, a file, a chart)."""
        message = self._new(chat_id, kind, priority)
        message.view, message.reply_to, message.bind, message.merge = view, reply_to, bind, merge
        message.text = text
        self._put(message)

    def refresh(
        self,
        chat_id: int,
        view: str,
        *,
        message_id: int | None = None,
        priority: Priority = Priority.REFRESH,
    ) -> None:
        """Bring a view up to date: an edit rendered when it goes out.

        One already waiting for the same view (and the same message) covers this one too.
        """
        candidates = self.repo.outgoing_ids(chat_id, Priority.REFRESH)
        if priority is not Priority.REFRESH:
            candidates += self.repo.outgoing_ids(chat_id, priority)
        for waiting in candidates:
            if waiting in self.flying:
                continue
            found = self.repo.get_outgoing(waiting)
            if (
                found is not None
                and found.kind is OutKind.EDIT
                and found.view == view
                and found.message_id == message_id
            ):
                if found.priority > priority:  # asked for sooner now: move it up
                    found.priority = priority
                    self._put(found)
                return
        message = self._new(chat_id, OutKind.EDIT, priority)
        message.view, message.message_id = view, message_id
        self._put(message)

    def touch(self, chat_id: int) -> None:
        """Messages of the chat changed outside the postbox (a group moved to a new id)."""
        self._doorbell.ring(chat_id)

    def waiting(self, chat_id: int) -> list[Outgoing]:
        """The chat's waiting messages, the one to go first first (to be read, not changed)."""
        return self.repo.waiting_outgoing(chat_id)
