"""Residents' reports: /report in a group or a private chat, and the "me too" button."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from handlers import callbacks, incoming, notify, privacy, similar
from handlers import evidence as evidence_module
from handlers.callbacks import Act
from handlers.core import Context, log
from handlers.incoming import Message, User
from handlers.ports import Button
from handlers.render import clip, esc
from handlers.texts import N_
from storage.records import (
    Attachment,
    CalendarEvent,
    Case,
    Channel,
    Contact,
    Draft,
    Pin,
    Priority,
    Step,
)
from storage.records import Person as PersonRecord

MAX_BUILDING_BUTTONS = 24
# The text of a report that is only a voice message or a video.
MEDIA_TEXTS = {
    "voice": N_("(voice message)"),
    "audio": N_("(audio recording)"),
    "video": N_("(video)"),
    "video_note": N_("(video message)"),
}


@dataclass
class Evidence:
    """What came with a report besides its text."""

    photos: list[str] = field(default_factory=list)
    album: str | None = None
    pin: Pin | None = None
    attachment: Attachment | None = None


def _usage(ctx: Context) -> str:
    return ctx._(
        "To report a problem, write it after the command, for example:\n"
        "<code>/report The corridor light on floor 3 is broken</code>\n"
        "You can also send a photo with /report in its caption, or reply to a neighbour's "
        "message with /report to log it. <code>/report anon …</code> keeps your name out of "
        "the group; reports made to me privately are never named in groups."
    )


def _anon(args: str) -> tuple[bool, str]:
    """Whether the report asks not to be named in groups (`/report anon …`), and its text."""
    first, _, rest = args.strip().partition(" ")
    if "\n" in first:
        first, _, more = first.partition("\n")
        rest = more + (" " + rest if rest else "")
    if first.lower() in privacy.ANON_WORDS:
        return True, rest.strip()
    return False, args


def cmd_report(ctx: Context) -> None:
    """Log a case from the text, the photo caption, or the message replied to."""
    message = ctx.message
    assert message is not None
    if message.is_anonymous_admin or ctx.sender is None or ctx.sender.is_bot:
        ctx.reply(ctx._("Please report as yourself, not anonymously, so we can answer you."))
        return
    anonymous, text = _anon(ctx.args)
    photo = message.photo
    reporter, origin_id = ctx.sender, message.message_id
    location, media = message.location, message.media
    quoted = message.reply_to
    from_person = quoted is not None and quoted.sender is not None and not quoted.sender.is_bot
    if quoted is not None and from_person:
        # A pin, a voice message or a video replied to: the report's evidence.
        location, media = location or quoted.location, media or quoted.media
    if (
        not text
        and quoted is not None
        and from_person
        and (quoted.text or quoted.photo or quoted.media)
    ):
        text, photo = quoted.text, quoted.photo or photo
        origin_id = quoted.message_id
        reporter = quoted.sender  # type: ignore[assignment]
    if not text.strip() and media is not None:
        text = ctx._(MEDIA_TEXTS.get(media.kind, MEDIA_TEXTS["voice"]))
    if not text.strip():
        ctx.reply(_usage(ctx))
        return
    if not short_enough(ctx, text):
        return
    existing = ctx.svc.repo.case_by_origin(ctx.chat.id, origin_id)
    if existing is not None:
        # This very message again (Telegram delivered it twice): it was acknowledged with
        # its case, in the same transaction. A neighbour's message reported again is told.
        if origin_id != message.message_id:
            ctx.reply(ctx._("This message is already case #{id}.").format(id=existing.id))
        return
    if not _within_flood_limit(ctx):
        return
    album = message.media_group_id if photo is not None and photo == message.photo else None
    evidence = Evidence(
        photos=[photo] if photo else [],
        album=album,
        pin=evidence_module.pin_of(location),
        attachment=evidence_module.attachment_of(media),
    )
    if album is not None and photo is not None:
        # Photos of the album that came before the caption waited for it.
        waiting = ctx.svc.albums.take(ctx.chat.id, album, ctx.svc.clock())
        evidence.photos = evidence_module.in_order((message.message_id, photo), waiting)
    if ctx.chat.is_private:
        _ask_building(ctx, text.strip(), evidence)  # never named in groups
        return
    if ctx.group is None:
        ctx.reply(ctx._("Reports are taken in building groups and in a private chat with me."))
        return
    by_other = reporter.id != ctx.sender.id
    create_case(
        ctx,
        building_id=ctx.chat.id,
        channel=Channel.GROUP,
        text=text.strip(),
        photo=photo,
        reporter=reporter,
        origin=(ctx.chat.id, origin_id),
        logged_by=ctx.sender.name if by_other else None,
        # A neighbour whose message someone else logged did not choose to be named.
        anonymous=anonymous or by_other,
        evidence=evidence,
    )


def short_enough(ctx: Context, text: str) -> bool:
    """Whether a report's text is within the limit; if not, say how long it is."""
    limit = ctx.svc.settings.max_text
    if len(text) <= limit:
        return True
    ctx.reply(
        ctx._("That report is {n} characters long; {limit} at most, please.").format(
            n=ctx.t.number(len(text)), limit=ctx.t.number(limit)
        )
    )
    return False


def _within_flood_limit(ctx: Context) -> bool:
    """Slow down one person's stream of reports with one polite answer per window."""
    assert ctx.sender is not None
    svc, now = ctx.svc, ctx.svc.clock()
    if ctx.sender.id in svc.settings.admins or svc.report_gate.allow(ctx.sender.id, now):
        return True
    log.info("chat=%s action=report-limited user=%s", ctx.chat.id, ctx.sender.id)
    if svc.report_gate.first_refusal(ctx.sender.id, now):
        wait = svc.report_gate.retry_in(ctx.sender.id, now)
        ctx.reply(
            ctx._(
                "You have reported {n} problems in a short time; thank you! Please wait {wait} "
                "before the next one. If a neighbour already reported the same problem, press "
                "“me too” on their case instead."
            ).format(
                n=ctx.t.number(svc.settings.report_limit),
                wait=ctx.t.duration(max(wait, timedelta(minutes=1))),
            )
        )
    return False


def create_case(
    ctx: Context,
    *,
    building_id: int,
    channel: Channel,
    text: str,
    photo: str | None,
    reporter: User | None,
    origin: tuple[int, int] | None,
    logged_by: str | None = None,
    anonymous: bool = False,
    published: bool = True,
    evidence: Evidence | None = None,
    forum: tuple[CalendarEvent, datetime] | None = None,
    announce: bool = True,
    contact: Contact | None = None,
) -> Case:
    """Store a new case; acknowledge it in its thread and tell the staff chat (the messages
    are committed with the case). `forum`: the forum (and occurrence) an opinion was given
    at; `announce=False`: neither (an opinion answered on the spot)."""
    svc = ctx.svc
    now = svc.clock()
    case = Case(
        id=svc.repo.next_case_id(),
        building_id=building_id,
        channel=channel,
        text=text,
        created=now,
        answer_due=now + timedelta(hours=svc.settings.answer_hours),
        reporter_id=reporter.id if reporter else None,
        reporter_name=reporter.name if reporter else "",
        photo=photo,
        origin_chat_id=origin[0] if origin else building_id,
        origin_message_id=origin[1] if origin else None,
        anonymous=anonymous,
        published=published,
        contact=contact,
    )
    if evidence is not None:
        case.photos, case.album = list(evidence.photos), evidence.album
        case.pin, case.attachment = evidence.pin, evidence.attachment
        case.photo = case.photos[0] if case.photos else photo
    case.entrance, case.floor, case.flat = evidence_module.where(text)
    if forum is not None:
        case.forum_id, case.forum_at = forum[0].id, forum[1]
    # One problem, one case: a report that looks like an open case of the building is offered
    # to support that one instead (on its acknowledgement; staff see it on the card).
    lookalike = similar.lookalike(svc.repo, building_id, text)
    case.similar_to = lookalike.id if lookalike is not None else None
    case.timeline.append(
        Step(
            now,
            "report" if channel in (Channel.GROUP, Channel.PRIVATE) else "log",
            ctx.user_id,
            ctx.sender.name if ctx.sender else "",
            note=logged_by or "",
            code="logged-by" if logged_by else "",
        )
    )
    svc.repo.save_case(case)
    log.info("case=%s chat=%s action=report channel=%s", case.id, building_id, channel.value)
    if reporter is not None:
        _remember(ctx, reporter.id, reporter.name, building_id)
    if announce:
        notify.acknowledge(svc, case)
    notify.refresh_forum(svc, case)
    return case


def _remember(
    ctx: Context,
    user_id: int,
    name: str,
    building_id: int | None,
    *,
    username: str | None = None,
    private: bool = False,
) -> None:
    """What the bot keeps of a person: name, @username, the buildings they write in, and
    whether they have a private chat with it. Saved only when something changed."""
    repo = ctx.svc.repo
    known = repo.get_person(user_id)
    person = known or PersonRecord(id=user_id, name=name)
    changed = known is None or person.name != name
    person.name = name
    if building_id is not None and building_id not in person.buildings:
        person.buildings.append(building_id)
        changed = True
    if username is not None and person.username != username:
        person.username = username
        changed = True
    if private and person.private is not True:
        person.private = True
        changed = True
    if changed:
        repo.save_person(person)


def _ask_building(ctx: Context, text: str, evidence: Evidence) -> None:
    """In a private chat, ask which building the report is for (or use the only one)."""
    svc, message = ctx.svc, ctx.message
    assert message is not None and ctx.sender is not None
    person = svc.repo.get_person(ctx.sender.id)
    known = [g for b in (person.buildings if person else []) if (g := svc.repo.get_group(b))]
    candidates = [g for g in known if g.active and svc.is_building(g.chat_id)] or svc.buildings()
    if not candidates:
        ctx.reply(ctx._("I am not in any building group yet, so I cannot take a report here."))
        return
    draft = Draft(
        id=svc.repo.next_draft_id(),
        user_id=ctx.sender.id,
        text=text,
        chat_id=ctx.chat.id,
        message_id=message.message_id,
        created=svc.clock(),
        photo=evidence.photos[0] if evidence.photos else None,
        photos=list(evidence.photos),
        album=evidence.album,
        pin=evidence.pin,
        attachment=evidence.attachment,
    )
    if len(candidates) == 1 and known:
        _report_from_draft(ctx, draft, candidates[0].chat_id)
        return
    svc.repo.save_draft(draft)
    rows = tuple(
        (Button(clip(g.label, 40), callbacks.encode(Act.BUILDING, draft.id, g.chat_id)),)
        for g in candidates[:MAX_BUILDING_BUTTONS]
    )
    ctx.reply(ctx._("Which building is this about?"), keyboard=rows)


def _report_from_draft(ctx: Context, draft: Draft, building_id: int) -> None:
    assert ctx.sender is not None
    photos = list(draft.photos) or ([draft.photo] if draft.photo else [])
    if draft.album is not None and draft.photo is not None:
        # The album's other photos waited with the question.
        waiting = ctx.svc.albums.take(draft.chat_id, draft.album, ctx.svc.clock())
        photos += [f for _message, f in waiting if f not in photos]
    create_case(
        ctx,
        building_id=building_id,
        channel=Channel.PRIVATE,
        text=draft.text,
        photo=draft.photo,
        reporter=ctx.sender,
        origin=(draft.chat_id, draft.message_id),
        anonymous=True,
        evidence=Evidence(photos, draft.album, draft.pin, draft.attachment),
    )


def press_building(ctx: Context, cb: callbacks.Callback) -> None:
    """The resident picked the building for a private report."""
    draft_id, building_id = cb.int_arg(0), cb.int_arg(1)
    svc = ctx.svc
    group = svc.repo.get_group(building_id)
    if group is None or not svc.is_building(building_id):
        ctx.toast(ctx._("That building is not known."), alert=True)
        return
    draft = svc.repo.pop_draft(draft_id, ctx.user_id) if ctx.user_id is not None else None
    if draft is None:
        ctx.toast(ctx._("This question is no longer open."))
        return
    ctx.toast(group.label)
    if ctx.press is not None and ctx.press.message_id is not None:
        # The question becomes its answer: the buttons go, the chosen building stays.
        svc.post.edit(
            ctx.chat.id,
            ctx.press.message_id,
            ctx._("Building: {building}").format(building=esc(group.label)),
            priority=Priority.REPLY,
        )
    _remember(ctx, ctx.sender.id, ctx.sender.name, building_id)  # type: ignore[union-attr]
    _report_from_draft(ctx, draft, building_id)


def press_me_too(ctx: Context, cb: callbacks.Callback) -> None:
    """Count a neighbour who has the same problem, once per person."""
    svc = ctx.svc
    case = svc.repo.get_case(cb.int_arg(0))
    user_id = ctx.user_id
    if case is None or user_id is None:
        ctx.toast(ctx._("This case no longer exists."))
        return
    if user_id == case.reporter_id:
        ctx.toast(ctx._("This is your own report; we already count you."))
        return
    if user_id in case.supporters:
        ctx.toast(ctx._("You are already counted."))
        return
    if not case.is_open:
        ctx.toast(ctx._("This case is no longer open."))
        return
    case.supporters.append(user_id)
    case.timeline.append(
        Step(svc.clock(), "supporter", user_id, ctx.sender.name if ctx.sender else "")
    )
    svc.repo.save_case(case)
    ctx.toast(ctx._("Thank you, you are counted."))
    notify.changed(svc, case, card=True)


def press_hide_name(ctx: Context, cb: callbacks.Callback) -> None:
    """The reporter takes their name off every group message about the case."""
    svc = ctx.svc
    case = svc.repo.get_case(cb.int_arg(0))
    if case is None:
        ctx.toast(ctx._("This case no longer exists."))
        return
    if ctx.user_id is None or ctx.user_id != case.reporter_id:
        ctx.toast(
            ctx._("Only the resident who reported case #{id} can hide their name.").format(
                id=case.id
            ),
            alert=True,
        )
        return
    if not privacy.named_in_groups(case):
        ctx.toast(ctx._("Your name is not shown in groups."))
        return
    case.anonymous = True
    svc.repo.save_case(case)
    log.info("case=%s chat=%s action=hide-name", case.id, ctx.chat.id)
    ctx.toast(ctx._("Done: groups no longer see your name on case #{id}.").format(id=case.id))
    # The name goes from the acknowledgement at once, ahead of the group's other refreshes.
    svc.post.refresh(notify.thread_of(case), f"card:{case.id}", priority=Priority.REPLY)


def seen(ctx: Context, message: Message) -> None:
    """Remember which building a person writes in (for private reports), their @username
    (for /assign @name) and whether they write to the bot privately (so it may answer)."""
    sender = message.sender
    if sender is None or sender.is_bot or message.is_anonymous_admin:
        return
    if ctx.group is not None:
        building: int | None = ctx.group.chat_id
    elif ctx.chat.is_private:
        building = None
    elif sender.username is not None:
        building = None  # the staff chat: a command of someone who may be named
    else:
        return
    _remember(
        ctx,
        sender.id,
        sender.name,
        building,
        username=sender.username,
        private=ctx.chat.is_private,
    )


def join_album(ctx: Context, message: incoming.Message) -> bool:
    """A photo of an album without the command: join the case its captioned photo made, or
    wait for it. True if it was one."""
    album, photo = message.media_group_id, message.photo
    if album is None or photo is None:
        return False
    repo = ctx.svc.repo
    if ctx.chat.is_private:
        # Waiting for the building to be picked: the draft takes the album's photos then.
        ctx.svc.albums.add(ctx.chat.id, album, message.message_id, photo, ctx.svc.clock())
    for back in range(1, evidence_module.ALBUM_SIZE):
        case = repo.case_by_origin(ctx.chat.id, message.message_id - back)
        if case is not None and case.album == album:
            if photo not in case.photos:
                case.photos.append(photo)
                repo.save_case(case)
                notify.refresh_staff_card(ctx.svc, case)
            return True
    ctx.svc.albums.add(ctx.chat.id, album, message.message_id, photo, ctx.svc.clock())
    return True
