"""Who may do what: residents, building heads (and group administrators), staff.

The checks are synchronous: a Telegram member status the cache does not hold raises
`NeedStatus`, and the core looks it up and handles the update again (see `handlers.core`).
"""

from __future__ import annotations

from handlers.core import Context
from handlers.texts import N_

MANAGERS_ONLY = N_("Only the building's heads and community staff can do that.")
# Buildings whose member statuses `could_manage` may look up for one update (each a lookup,
# and the core gives an update up after a few).
_SEEN_LIMIT = 3

ADMIN_STATUSES = frozenset({"creator", "administrator"})
MEMBER_STATUSES = ADMIN_STATUSES | {"member", "restricted"}


def is_staff(ctx: Context) -> bool:
    """Staff are the admins listed in the config and the members of the staff chat."""
    user_id = ctx.user_id
    if user_id is None:
        return False
    if is_admin(ctx):
        return True
    staff_chat = ctx.svc.staff_chat
    if staff_chat is None:
        return False
    if ctx.chat.id == staff_chat and ctx.message is not None:
        sender = ctx.sender
        return ctx.message.is_anonymous_admin or (sender is not None and not sender.is_bot)
    return ctx.svc.statuses.get(staff_chat, user_id) in MEMBER_STATUSES


def is_admin(ctx: Context) -> bool:
    """The deployment's admins: ECHOWALL_ADMINS, and whoever opened the set-up link
    `echowall setup` printed (stored on their person)."""
    user_id = ctx.user_id
    if user_id is None or (ctx.sender is not None and ctx.sender.is_bot):
        return False
    if user_id in ctx.svc.settings.admins:
        return True
    person = ctx.svc.repo.get_person(user_id)
    return person is not None and person.admin


def is_head(ctx: Context, building_id: int) -> bool:
    """Heads are appointed with /sethead; the group's Telegram administrators count too."""
    if ctx.message is not None and ctx.message.is_anonymous_admin:
        return ctx.chat.id == building_id
    user_id = ctx.user_id
    if user_id is None:
        return False
    group = ctx.svc.repo.get_group(building_id)
    if group is not None and user_id in group.heads:
        return True
    return ctx.svc.statuses.get(building_id, user_id) in ADMIN_STATUSES


def may_manage(ctx: Context, building_id: int) -> bool:
    """Whether the sender may act on cases and settings of this building."""
    return is_head(ctx, building_id) or is_staff(ctx)


def could_manage(ctx: Context) -> bool:
    """Whether the sender may act on some building's cases from here, before it is known
    which case they mean (the number was mistyped, or names no case).

    Used to refuse someone who may not use a command, instead of explaining its arguments
    to them: staff; in a building group, its heads; in a private chat, a head appointed
    anywhere or an administrator of a group the bot has seen them in.
    """
    if is_staff(ctx):
        return True
    if ctx.chat.is_group:
        return ctx.svc.is_building(ctx.chat.id) and is_head(ctx, ctx.chat.id)
    user_id = ctx.user_id
    if user_id is None:
        return False
    if any(user_id in group.heads for group in ctx.svc.repo.groups()):
        return True
    person = ctx.svc.repo.get_person(user_id)
    seen = person.buildings[:_SEEN_LIMIT] if person is not None else []
    return any(is_head(ctx, building) for building in seen)


def manages(ctx: Context, user_id: int, building_id: int) -> bool:
    """Whether someone else (not the sender) is a head of this building or staff: who may be
    made responsible for its cases. Their member statuses are looked up like the sender's."""
    svc = ctx.svc
    if user_id in svc.settings.admins:
        return True
    person = svc.repo.get_person(user_id)
    if person is not None and person.admin:
        return True
    group = svc.repo.get_group(building_id)
    if group is not None and user_id in group.heads:
        return True
    if svc.statuses.get(building_id, user_id) in ADMIN_STATUSES:
        return True
    # The staff chat as /setstaff stored it (the configuration still wins).
    staff_chat = svc.staff_chat
    if staff_chat is None:
        return False
    return svc.statuses.get(staff_chat, user_id) in MEMBER_STATUSES
