"""Who may do what: residents, building heads (and group administrators), staff."""

from __future__ import annotations

from handlers.core import Context

ADMIN_STATUSES = frozenset({"creator", "administrator"})
MEMBER_STATUSES = ADMIN_STATUSES | {"member", "restricted"}


async def is_staff(ctx: Context) -> bool:
    """Staff are the admins listed in the config and the members of the staff chat."""
    user_id = ctx.user_id
    if user_id is None:
        return False
    settings = ctx.svc.settings
    if user_id in settings.admins:
        return True
    if settings.staff_chat is None:
        return False
    if ctx.chat.id == settings.staff_chat and ctx.message is not None:
        sender = ctx.sender
        return ctx.message.is_anonymous_admin or (sender is not None and not sender.is_bot)
    status = await ctx.svc.statuses.get(ctx.svc.messenger, settings.staff_chat, user_id)
    return status in MEMBER_STATUSES


async def is_head(ctx: Context, building_id: int) -> bool:
    """Heads are appointed with /sethead; the group's Telegram administrators count too."""
    if ctx.message is not None and ctx.message.is_anonymous_admin:
        return ctx.chat.id == building_id
    user_id = ctx.user_id
    if user_id is None:
        return False
    group = ctx.svc.repo.get_group(building_id)
    if group is not None and user_id in group.heads:
        return True
    status = await ctx.svc.statuses.get(ctx.svc.messenger, building_id, user_id)
    return status in ADMIN_STATUSES


async def may_manage(ctx: Context, building_id: int) -> bool:
    """Whether the sender may act on cases and settings of this building."""
    return await is_head(ctx, building_id) or await is_staff(ctx)
