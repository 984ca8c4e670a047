"""Announcements: pinned in one group by its heads, or broadcast by staff to every building."""

from __future__ import annotations

from handlers import outbox
from handlers.calendar import may_post, targets
from handlers.core import Context, Services, log
from handlers.outbox import Post
from handlers.render import clip, esc
from handlers.texts import Translator
from storage.records import Broadcast, BroadcastKind

MAX_ANNOUNCEMENT = 3500
# Who an announcement is from, when it is not just a name: worded in each group's language.
STAFF_ROLE = "staff"


def sender_text(payload: dict[str, str], t: Translator) -> str:
    """Who the announcement is from, in the reader's language.

    The payload keeps the name and the role as a code (`role`). Announcements queued before
    roles were kept hold `by` already worded in the sender's language: shown as they are.
    """
    name = payload.get("by", "")
    if payload.get("role") != STAFF_ROLE:
        return name
    if not name:
        return t.gettext("community staff")
    return t.gettext("{name}, community staff").format(name=name)


def render_announcement(svc: Services, broadcast: Broadcast, chat_id: int, t: Translator) -> Post:
    payload = broadcast.payload
    by = sender_text(payload, t)
    head = t.gettext("📢 <b>Announcement</b> from {name}").format(name=esc(by))
    return Post(f"{head}\n\n{esc(payload['text'])}")


def cmd_announce(ctx: Context) -> None:
    """Post and pin an announcement here, or from the staff chat send it to every group."""
    if not may_post(ctx):
        return
    text = ctx.args.strip()
    if not text:
        ctx.usage(ctx._("What should I announce? Write it after the command."))
        return
    if len(text) > MAX_ANNOUNCEMENT:
        ctx.reply(
            ctx._("That announcement is {n} characters long; {limit} at most, please.").format(
                n=ctx.t.number(len(text)), limit=ctx.t.number(MAX_ANNOUNCEMENT)
            )
        )
        return
    groups = targets(ctx, [])
    if groups is None:
        return
    if not groups:
        ctx.reply(ctx._("There are no building groups yet to invite."))
        return
    # One message, one broadcast: a redelivery after a crash finds it and stops here.
    key = f"ann:{ctx.chat.id}:{ctx.message.message_id}" if ctx.message else None
    if key is not None and ctx.svc.repo.has_broadcast(key):
        return
    # From the staff chat or privately, `targets` has checked the sender is staff.
    broadcasting = ctx.in_staff_chat or ctx.chat.is_private
    anonymous = ctx.message is not None and ctx.message.is_anonymous_admin
    if ctx.group is not None and not broadcasting:
        by = ctx.group.label if anonymous or ctx.sender is None else ctx.sender.name
    else:
        by = ctx.sender.name if ctx.sender else ""
    payload = {"text": text, "by": by, "label": clip(text, 40)}
    if broadcasting:
        payload["role"] = STAFF_ROLE
    broadcast = outbox.enqueue(
        ctx.svc,
        BroadcastKind.ANNOUNCE,
        [g.chat_id for g in groups],
        payload,
        key=key,
        report_to=ctx.chat.id if broadcasting else None,
        # One group's announcement is pinned there; a broadcast to every group is not, so it
        # does not push each building's pinned problem wall aside.
        pin=not broadcasting,
    )
    log.info(
        "action=announce broadcast=%s groups=%s chat=%s", broadcast.id, len(groups), ctx.chat.id
    )
    if broadcasting:
        ctx.reply(
            ctx.t.ngettext(
                "📢 Sending to {n} group; a delivery report follows.",
                "📢 Sending to {n} groups; a delivery report follows.",
                len(groups),
            ).format(n=ctx.t.number(len(groups)))
        )
