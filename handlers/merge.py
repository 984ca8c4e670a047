"""One problem, one case: merging duplicates, the "looks like #17" offer, and /find.

A burst pipe brings ten reports. Staff (or the building's heads) merge the duplicates into one
case: `/merge 18 17`, or "🔗 Merge into #17" on the staff card of a case that looks like an
open one. A reporter whose new case looks like an open case of the building is offered, on the
acknowledgement itself, to say "me too" on that case instead — the same merge, done by them.

A merge is one transaction: the duplicate's state becomes `merged` (no longer open, not counted
in the figures), its reporter and supporters become supporters of the case it was merged into,
the cases merged into the duplicate before follow it, and both timelines note it. From then on
every step of the case is told to the merged reporters too (`handlers.notify.echo`). There is
no unmerge: a merge made by mistake is corrected by reporting the problem again.
"""

from __future__ import annotations

from datetime import timedelta

from handlers import actions, callbacks, notify, privacy, rights, similar
from handlers.core import Context
from handlers.parsing import case_digits, quoted
from handlers.render import STATE_ICONS, STATE_LABELS, chunk, clip, esc
from handlers.rights import MANAGERS_ONLY
from handlers.texts import Translator
from storage.records import Case, Priority, State, Step

# /find lists at most this many cases, and closed ones of at most this many days ago.
FIND_LIMIT = 15
RECENT = timedelta(days=30)
# Words for every building after /find.
ALL_WORDS = frozenset({"all", "全部", "所有"})


def merge(ctx: Context, dup: Case, into: Case) -> None:
    """Merge `dup` into `into` (both checked): one transaction, no message of its own.

    The callers tell people: the duplicate's acknowledgement and both staff cards are
    refreshed here; an echo into the duplicate's thread is the caller's choice.
    """
    now = ctx.svc.clock()
    actor_id, actor_name = ctx.user_id, ctx.sender.name if ctx.sender else ""
    if ctx.message is not None and ctx.message.is_anonymous_admin:
        actor_id, actor_name = None, ctx.chat.title or ""
    for uid in (dup.reporter_id, *dup.supporters):
        if uid is not None and uid != into.reporter_id and uid not in into.supporters:
            into.supporters.append(uid)
    moved = [i for i in dup.merged if i != into.id]
    for earlier in moved:
        case = ctx.svc.repo.get_case(earlier)
        if case is not None:
            case.merged_into = into.id
            ctx.svc.repo.save_case(case)
    into.merged = [*into.merged, dup.id, *(i for i in moved if i not in into.merged)]
    dup.state, dup.merged_into, dup.merged = State.MERGED, into.id, []
    dup.similar_to, dup.overdue_since = None, None
    dup.timeline.append(Step(now, "merge", actor_id, actor_name, f"#{into.id}", "merged-into"))
    into.timeline.append(Step(now, "merge", actor_id, actor_name, f"#{dup.id}", "merged-from"))
    ctx.svc.repo.save_case(dup)
    ctx.svc.repo.save_case(into)
    notify.changed(ctx.svc, dup, card=True)
    notify.changed(ctx.svc, into, card=True)


def _target(ctx: Context, dup: Case, token: str) -> Case | None:
    """The case to merge into, checked: the sender's right, open, the same building."""
    digits = case_digits(token) if token else None
    if digits is None:
        ctx.usage(
            ctx._("“{word}” is not a case number: write it like 17 or #17.").format(
                word=quoted(token)
            )
            if token
            else ctx._("Into which case? Write its number after #{id}.").format(id=dup.id)
        )
        return None
    into = ctx.svc.repo.get_case(int(digits)) if len(digits) <= actions.MAX_CASE_DIGITS else None
    if into is None:
        ctx.reply(ctx._("There is no case #{id}.").format(id=quoted(digits)))
        return None
    return _compatible(ctx, dup, into)


def _compatible(ctx: Context, dup: Case, into: Case) -> Case | None:
    """`into` if `dup` may be merged into it; else say why (a reply or an alert)."""
    problem = None
    if into.id == dup.id:
        problem = ctx._("A case cannot be merged into itself.")
    elif into.building_id != dup.building_id:
        problem = ctx._(
            "Cases #{id} and #{into} are of different buildings; only cases of one building "
            "are merged."
        ).format(id=dup.id, into=into.id)
    elif not into.is_open:
        problem = ctx._("Case #{into} is {state}: only an open case takes others in.").format(
            into=into.id, state=ctx._(STATE_LABELS[into.state])
        )
    if problem is not None:
        if ctx.press is not None:
            ctx.toast(problem, alert=True)
        else:
            ctx.reply(problem)
        return None
    return into


def _tell_thread(ctx: Context, dup: Case, into: Case) -> None:
    """Tell the duplicate's reporter in their thread (the echo there is the answer when the
    command was typed in it); the staff card is edited where it was pressed or is near."""

    def render(t: Translator) -> str:
        if not into.published:
            # An offline demand its building has not been shown: its words stay out.
            return t.gettext(
                "🔗 Case #{id} is merged into case #{into}: the same problem. You are counted "
                "as its supporter, and every step of #{into} is told here."
            ).format(id=dup.id, into=into.id)
        return t.gettext(
            "🔗 Case #{id} is merged into case #{into}: the same problem ({text}). You are "
            "counted as its supporter, and every step of #{into} is told here."
        ).format(id=dup.id, into=into.id, text=esc(clip(into.text, 200)))

    actions._announce(ctx, dup, render)


def cmd_merge(ctx: Context) -> None:
    """Merge a duplicate into the case of the same problem."""
    token, rest = actions._split(ctx.args)
    dup = actions.load_case(ctx, token)
    if dup is None:
        return
    into = _target(ctx, dup, rest.split()[0] if rest.split() else "")
    if into is None:
        return
    if not rights.may_manage(ctx, into.building_id):
        ctx.reply(ctx._(MANAGERS_ONLY))
        return
    merge(ctx, dup, into)
    _tell_thread(ctx, dup, into)


def press_merge(ctx: Context, cb: callbacks.Callback) -> None:
    """ "🔗 Merge into #17" on the staff card."""
    dup = actions._checked(ctx, cb.int_arg(0))
    if dup is None:
        return
    into = ctx.svc.repo.get_case(cb.int_arg(1))
    if into is None:
        ctx.toast(ctx._("This case no longer exists."))
        return
    if _compatible(ctx, dup, into) is None:
        return
    ctx.toast(ctx._("Case #{id} merged into #{into}.").format(id=dup.id, into=into.id))
    merge(ctx, dup, into)
    _tell_thread(ctx, dup, into)


def _may_answer_offer(ctx: Context, case: Case) -> bool:
    """The reporter of the new case answers the offer; heads and staff may too."""
    if ctx.user_id is not None and ctx.user_id == case.reporter_id:
        return True
    if rights.may_manage(ctx, case.building_id):
        return True
    ctx.toast(
        ctx._("Only the resident who reported case #{id} can answer this.").format(id=case.id),
        alert=True,
    )
    return False


def press_same(ctx: Context, cb: callbacks.Callback) -> None:
    """The reporter says "me too" on the case theirs looks like: merged into it, told by the
    edited acknowledgement and a toast (no new message)."""
    case = ctx.svc.repo.get_case(cb.int_arg(0))
    if case is None:
        ctx.toast(ctx._("This case no longer exists."))
        return
    if not _may_answer_offer(ctx, case):
        return
    into = ctx.svc.repo.get_case(cb.int_arg(1))
    if case.state is State.MERGED:
        ctx.toast(ctx._("Case #{id} is merged already.").format(id=case.id))
        return
    if case.state is not State.NEW or into is None or case.building_id != into.building_id:
        ctx.toast(ctx._("This question is no longer open."))
        return
    if not into.is_open:
        ctx.toast(ctx._("Case #{into} is no longer open; yours stays a case.").format(into=into.id))
        case.similar_to = None
        ctx.svc.repo.save_case(case)
        notify.changed(ctx.svc, case, card=True)
        return
    ctx.toast(ctx._("Thank you: you are counted on case #{into}.").format(into=into.id))
    merge(ctx, case, into)
    # The acknowledgement pressed on becomes the answer at once.
    if ctx.press is not None and ctx.press.message_id == case.card_message_id:
        ctx.svc.post.refresh(notify.thread_of(case), f"card:{case.id}", priority=Priority.REPLY)


def press_not_same(ctx: Context, cb: callbacks.Callback) -> None:
    """No, a new problem: the offer goes from the acknowledgement, the case stays."""
    case = ctx.svc.repo.get_case(cb.int_arg(0))
    if case is None:
        ctx.toast(ctx._("This case no longer exists."))
        return
    if not _may_answer_offer(ctx, case):
        return
    if case.similar_to is None:
        ctx.toast(ctx._("This question is no longer open."))
        return
    ctx.toast(ctx._("Understood: case #{id} stays a case of its own.").format(id=case.id))
    case.similar_to = None
    ctx.svc.repo.save_case(case)
    priority = Priority.REPLY if ctx.press is not None else Priority.REFRESH
    ctx.svc.post.refresh(notify.thread_of(case), f"card:{case.id}", priority=priority)
    notify.refresh_staff_card(ctx.svc, case)


# --- /find ----------------------------------------------------------------------------------


def _scope(ctx: Context, everywhere: bool) -> list[int] | None:
    """The buildings /find searches: this group's (all with `all`, for staff), else every
    building for staff, the buildings a head heads; None when it may not be searched."""
    staff = rights.is_staff(ctx)
    if ctx.group is not None and ctx.svc.is_building(ctx.group.chat_id):
        if not (staff or rights.is_head(ctx, ctx.group.chat_id)):
            return None
        if everywhere and staff:
            return [g.chat_id for g in ctx.svc.buildings()]
        return [ctx.group.chat_id]
    if staff:
        return [g.chat_id for g in ctx.svc.buildings()]
    if not ctx.chat.is_private or ctx.user_id is None:
        return None
    person = ctx.svc.repo.get_person(ctx.user_id)
    seen = person.buildings if person is not None else []
    headed = [g.chat_id for g in ctx.svc.buildings() if ctx.user_id in g.heads]
    headed += [b for b in seen[:3] if b not in headed and rights.is_head(ctx, b)]
    return headed or None


def cmd_find(ctx: Context) -> None:
    """Open and recent cases whose text matches the words (this building's, or all)."""
    words = ctx.args.split()
    everywhere = bool(words) and words[0].lower() in ALL_WORDS
    if everywhere:
        words = words[1:]
    buildings = _scope(ctx, everywhere)
    if buildings is None:
        ctx.reply(ctx._(MANAGERS_ONLY))
        return
    if not words:
        ctx.usage(ctx._("What should I look for? Write a few words of the problem."))
        return
    query = " ".join(words)
    if len(query) > 200:
        ctx.usage(ctx._("Fewer words, please: 200 characters at most."))
        return
    grams = similar.grams(query)
    since = ctx.svc.clock() - RECENT
    found: list[tuple[float, Case]] = []
    for building in buildings:
        for case in ctx.svc.repo.cases(building_id=building):
            if not case.is_open and (case.closed_at or case.created) < since:
                continue
            if not privacy.shown_to(ctx, case):
                continue  # an offline demand not posted into the group this is asked in
            score = similar.matches(case, words, grams)
            if score > 0:
                found.append((score, case))
    if not found:
        ctx.reply(ctx._("🔍 No open or recent case matches “{words}”.").format(words=esc(query)))
        return
    found.sort(key=lambda sc: (not sc[1].is_open, -sc[0], -len(sc[1].supporters), -sc[1].id))
    many = len(buildings) > 1
    title = ctx.t.ngettext(
        "🔍 {n} case matches “{words}”", "🔍 {n} cases match “{words}”", len(found)
    ).format(n=ctx.t.number(len(found)), words=esc(query))
    lines = [title]
    for _score, case in found[:FIND_LIMIT]:
        lines.append(_find_line(ctx, case, with_building=many))
    if len(found) > FIND_LIMIT:
        lines.append(
            ctx._("… and {n} more: add words to narrow it down.").format(
                n=ctx.t.number(len(found) - FIND_LIMIT)
            )
        )
    for text in chunk(lines):
        ctx.reply(text)


def _find_line(ctx: Context, case: Case, *, with_building: bool) -> str:
    t = ctx.t
    state = t.gettext(STATE_LABELS[case.state])
    if case.state is State.MERGED and case.merged_into is not None:
        state = t.gettext("merged into #{id}").format(id=case.merged_into)
    parts = [f"{STATE_ICONS[case.state]} <b>#{case.id}</b>", state]
    if with_building:
        parts.append(esc(notify.building_label(ctx.svc, case)))
    if case.supporters:
        parts.append(f"👥{t.number(len(case.supporters))}")
    return " · ".join(parts) + "\n    " + esc(clip(case.text, 100))
