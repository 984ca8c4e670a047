"""The calendar and the outbox in the core: events, RSVP, reminder slots, quiet hours, recovery."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from handlers import calendar
from handlers.calendar import EventError, parse_event, parse_offsets
from handlers.core import QuietHours, Settings
from handlers.incoming import ChatRef, Message, Press, User
from handlers.outbox import DirectLanes
from storage.records import DeliveryState, EventKind, Group
from storage.tinydb_store import TinyRepository
from tests.fakes import FakeClock, FakeMessenger, Sent, assemble

TZ = ZoneInfo("Asia/Shanghai")
B1 = ChatRef(-501, "group", "林溪苑1号楼")
B2 = ChatRef(-502, "group", "林溪苑2号楼")
STAFF = ChatRef(-900, "group", "社区工作群")
ZHANG = User(1, "张阿姨", language="zh")
LI = User(2, "李大爷", language="zh")
CHEN = User(3, "陈女士", language="zh")
HEAD = User(10, "王楼长", language="zh")
WORKER = User(20, "刘社工", language="zh")
# Saturday 21 November 2026, 10:00 in Shanghai.
START = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


class World:
    def __init__(self, path: Path, **settings: object) -> None:
        self.path = path
        self.clock = FakeClock(START)
        self.messenger = FakeMessenger()
        self.messenger.statuses[(B1.id, HEAD.id)] = "administrator"
        self.messenger.statuses[(STAFF.id, WORKER.id)] = "member"
        self.settings = Settings(staff_chat=STAFF.id, timezone=TZ, **settings)  # type: ignore[arg-type]
        self.update = 0
        self.open()

    def open(self) -> None:
        """(Re)start the core on the same data directory, as after a restart."""
        self.repo = TinyRepository(self.path)
        for group in (B1, B2):  # the two buildings, admitted
            if self.repo.get_group(group.id) is None:
                self.repo.save_group(Group(chat_id=group.id, title=group.title or ""))
        self.parts = assemble(self.repo, self.settings, self.clock, self.messenger)
        self.svc = self.parts.svc
        self.router = self.parts.router
        self.outbox = self.parts.outbox

    def restart(self) -> None:
        self.repo.close()
        self.open()

    async def say(self, who: User, text: str, chat: ChatRef = B1) -> None:
        self.update += 1
        await self.router.handle(
            Message(self.update, chat, 1000 + self.update, who, text, datetime.now(UTC))
        )
        # Answers go out; broadcasts wait for the outbox's pump, as tests ask for it.
        await self.parts.courier.deliver_all(self.messenger)

    async def press(self, who: User, sent: Sent, label: str) -> None:
        assert sent.keyboard is not None
        data = next(b.data for row in sent.keyboard for b in row if label in b.text)
        self.update += 1
        chat = B1 if sent.chat_id == B1.id else ChatRef(sent.chat_id, "group", "x")
        await self.router.handle(
            Press(self.update, f"q{self.update}", who, data, chat, sent.message_id)
        )
        await self.parts.courier.deliver_all(self.messenger)

    async def tick(self) -> dict[str, int]:
        with self.repo.transaction():
            counts = calendar.catch_up(self.svc)
        await self.parts.deliver()
        return counts

    def texts(self, chat: ChatRef) -> list[str]:
        return self.messenger.texts_in(chat.id)

    def posts(self, chat: ChatRef, needle: str) -> list[Sent]:
        return [s for s in self.messenger.sent if s.chat_id == chat.id and needle in s.text]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path)
    yield w
    w.repo.close()


async def _with_groups(world: World) -> None:
    """Make the bot know both building groups, as it does once someone spoke there."""
    await world.say(ZHANG, "/help", B1)
    await world.say(CHEN, "/help", B2)


# ------------------------------------------------------------------------------ parsing


def test_parse_one_off_event_with_tag_place_options_and_notes() -> None:
    draft = parse_event(
        "2026-11-22 19:00 小板凳座谈会 #forum @ 林溪苑广场 cap=30 remind=2h\n请自带凳子",
        START,
        TZ,
    )
    assert draft.title == "小板凳座谈会" and draft.kind is EventKind.FORUM
    assert draft.place == "林溪苑广场" and draft.capacity == 30
    assert draft.start == datetime(2026, 11, 22, 19, 0, tzinfo=TZ)
    assert draft.reminders == [120] and draft.notes == "请自带凳子"


def test_parse_weekly_event_in_chinese() -> None:
    draft = parse_event("每周 周三 09:30 健康讲座 #讲座", START, TZ)
    assert draft.weekday == 2 and draft.at == "09:30" and draft.kind is EventKind.SEMINAR
    assert draft.start is None


def test_parse_keeps_unknown_tags_in_the_title() -> None:
    assert parse_event("tomorrow 10:00 义诊 #义诊 #三楼", START, TZ).title == "义诊 #三楼"


@pytest.mark.parametrize(
    "args",
    [
        "",
        "2026-11-22 19:00",
        "2026-11-22 25:00 标题",
        "2026-13-01 19:00 标题",
        "2026-11-20 19:00 已过去",
        "2028-01-01 19:00 太远",
        "every funday 19:00 标题",
        "2026-11-22 19:00 标题 cap=0",
        "2026-11-22 19:00 标题 remind=soon",
        "2026-11-22 19:00 #forum",
    ],
)
def test_parse_refuses_bad_events(args: str) -> None:
    with pytest.raises(EventError):
        parse_event(args, START, TZ)


def test_offsets() -> None:
    assert parse_offsets("1d,1h,30m") == [1440, 60, 30]
    assert parse_offsets("none") == []
    with pytest.raises(EventError):
        parse_offsets("1x")


def test_quiet_hours_span_midnight() -> None:
    quiet = QuietHours(time(22, 0), time(7, 0))
    late = datetime(2026, 11, 21, 23, 30, tzinfo=TZ)
    early = datetime(2026, 11, 22, 6, 0, tzinfo=TZ)
    noon = datetime(2026, 11, 22, 12, 0, tzinfo=TZ)
    assert quiet.release(late, TZ) == datetime(2026, 11, 22, 7, 0, tzinfo=TZ)
    assert quiet.release(early, TZ) == datetime(2026, 11, 22, 7, 0, tzinfo=TZ)
    assert quiet.release(noon, TZ) is None


# ------------------------------------------------------------------------------ events and RSVP


async def test_head_plans_event_in_group_with_rsvp_capacity_and_waitlist(world: World) -> None:
    await _with_groups(world)
    await world.say(HEAD, "/event 2026-11-22 19:00 小板凳座谈会 #forum @ 林溪苑广场 cap=1")
    await world.parts.deliver()
    (post,) = world.posts(B1, "E1")
    assert "🪑 座谈会" in post.text and "林溪苑广场" in post.text and post.keyboard
    assert not world.posts(B2, "E1")  # a head's event is for their own building

    await world.press(ZHANG, post, "参加")
    await world.press(LI, post, "参加")  # full: waitlist
    event = world.repo.get_event(1)
    assert event is not None
    assert [a.user_id for a in event.going] == [ZHANG.id]
    assert [a.user_id for a in event.waitlist] == [LI.id]
    edits = len(world.messenger.edits)
    assert "1 人报名" in world.messenger.edits[-1][2]

    await world.press(ZHANG, post, "参加")  # again: nothing changes, no edit
    assert len(world.messenger.edits) == edits

    await world.press(ZHANG, post, "来不了")  # a place comes free: Li is promoted
    event = world.repo.get_event(1)
    assert event is not None and [a.user_id for a in event.going] == [LI.id]
    assert not event.waitlist
    assert any("李大爷" in t and "E1" in t for t in world.texts(B1)[-1:])


async def test_resident_cannot_plan_announce_or_cancel(world: World) -> None:
    await _with_groups(world)
    await world.say(HEAD, "/event 2026-11-22 19:00 座谈会")
    before = len(world.repo.events())
    await world.say(ZHANG, "/event 2026-11-23 19:00 我的活动")
    await world.say(ZHANG, "/cancel E1")
    await world.say(ZHANG, "/announce 停水")
    await world.say(ZHANG, "/remind 10m 测试")
    assert len(world.repo.events()) == before and world.repo.get_event(1).cancelled is None  # type: ignore[union-attr]
    assert not world.repo.unfinished_broadcasts()[1:]  # only the event's post
    assert world.repo.reminders() == []
    refusals = [t for t in world.texts(B1) if "只有" in t]
    assert len(refusals) == 4


async def test_staff_event_reaches_every_group_with_a_delivery_report(world: World) -> None:
    await _with_groups(world)
    command = (
        "/event tomorrow 19:00 疫苗接种 #vaccination @ 社区卫生站\n对象：60岁以上老人\n携带：身份证"
    )
    await world.say(WORKER, command, STAFF)
    assert any("E1" in t and "2" in t for t in world.texts(STAFF))
    await world.parts.deliver()
    for chat in (B1, B2):
        (post,) = world.posts(chat, "E1")
        assert "接种须知" in post.text and "身份证" in post.text
    report = world.texts(STAFF)[-1]
    assert "送达" in report and "2" in report


async def test_staff_event_at_night_waits_for_the_morning(world: World) -> None:
    await _with_groups(world)
    world.clock.now = datetime(2026, 11, 21, 23, 0, tzinfo=TZ)
    await world.say(WORKER, "/event 2026-11-25 19:00 讲座 #seminar", STAFF)
    assert any("07:00" in t for t in world.texts(STAFF))
    await world.parts.deliver()
    assert not world.posts(B1, "E1")
    world.clock.now = datetime(2026, 11, 22, 7, 0, tzinfo=TZ)
    await world.parts.deliver()
    assert len(world.posts(B1, "E1")) == 1


async def test_events_list_and_detail_names_for_heads_only(world: World) -> None:
    await _with_groups(world)
    await world.say(HEAD, "/event 2026-11-22 19:00 座谈会 @ 广场")
    await world.say(HEAD, "/event every wed 09:30 健康讲座")
    await world.parts.deliver()
    await world.press(ZHANG, world.posts(B1, "E1")[0], "参加")
    await world.say(ZHANG, "/events")
    listing = world.texts(B1)[-1]
    assert listing.index("E1") < listing.index("E2")  # the one-off Sunday before Wednesday
    await world.say(ZHANG, "/events E1")
    assert "张阿姨" not in world.texts(B1)[-1]
    await world.say(HEAD, "/events E1")
    assert "张阿姨" in world.texts(B1)[-1]
    await world.say(CHEN, "/events", B2)
    assert "E1" not in world.texts(B2)[-1]


# ------------------------------------------------------------------------------ reminders


async def test_event_reminders_fire_once_a_day_and_an_hour_before(world: World) -> None:
    await _with_groups(world)
    await world.say(HEAD, "/event 2026-11-22 19:00 座谈会")
    await world.tick()
    (post,) = world.posts(B1, "E1")
    await world.press(ZHANG, post, "参加")
    world.clock.now = datetime(2026, 11, 21, 18, 59, tzinfo=TZ)
    await world.tick()
    assert not world.posts(B1, "提醒")
    world.clock.now = datetime(2026, 11, 21, 19, 0, tzinfo=TZ)
    await world.tick()
    await world.tick()
    (day_before,) = world.posts(B1, "提醒")
    assert "1 人报名" in day_before.text and day_before.reply_to == post.message_id
    world.clock.now = datetime(2026, 11, 22, 18, 0, 30, tzinfo=TZ)
    await world.tick()
    world.restart()
    await world.tick()
    reminders = world.posts(B1, "提醒")
    assert len(reminders) == 2 and "补发" not in reminders[1].text


async def test_reminder_missed_while_down_is_late_within_grace_and_skipped_after(
    world: World,
) -> None:
    await world.say(HEAD, "/remind 10m 开会")
    await world.say(HEAD, "/remind 20m 交表")
    world.restart()
    world.clock.advance(minutes=40)  # R1 30 min late, R2 20 min late: both within 2 hours
    counts = await world.tick()
    assert counts == {"late": 2}
    sent = [t for t in world.texts(B1) if "<b>提醒</b> R" in t]
    assert len(sent) == 2 and all("补发" in t for t in sent)
    await world.say(HEAD, "/remind 1h 很久以前")
    world.clock.advance(hours=4)
    assert await world.tick() == {"skipped": 1}
    assert not world.posts(B1, "很久以前")[1:]  # only the confirmation, never the reminder


async def test_a_jump_of_the_clock_is_not_an_outage(world: World) -> None:
    """What fell due while the clock was moved on purpose goes out as at its time; what fell
    due while the bot was down stays late (or skipped), jump or not."""
    await world.say(HEAD, "/remind 10m 开会")  # 10:10
    await world.say(HEAD, "/remind 1h 交表")  # 11:00
    world.restart()
    world.clock.advance(minutes=40)  # down from 10:00 to 10:40: R1 fell due meanwhile
    jumps = calendar.Jumps()
    before = world.clock.now
    world.clock.advance(hours=1)  # then moved on purpose to 11:40, over R2
    jumps.add(before, world.clock.now)
    with world.repo.transaction():
        counts = calendar.catch_up(world.svc, jumps=jumps)
    await world.parts.deliver()
    assert counts == {"late": 1, "sent": 1}
    (late,) = [t for t in world.texts(B1) if "R1：开会" in t]
    (on_time,) = [t for t in world.texts(B1) if "R2：交表" in t]
    assert "补发" in late and "补发" not in on_time

    # A jump far past the grace: what fell due within it is neither skipped nor late, and the
    # scheduler's job for it (were it left behind) finds it done.
    await world.say(HEAD, "/remind 1h 缴费")  # 12:40
    await world.say(HEAD, "/event 2026-11-21 18:00 座谈会 remind=1h")  # 17:00, event at 18:00
    before = world.clock.now
    world.clock.advance(hours=8)  # 19:40: both long due, the event over
    jumps.add(before, world.clock.now)
    with world.repo.transaction():
        assert calendar.catch_up(world.svc, jumps=jumps) == {"sent": 2}
        assert calendar.fire_key(world.svc, "rm:3", jumps) == "done"
    await world.parts.deliver()
    assert [t for t in world.texts(B1) if "R3：缴费" in t and "补发" not in t]
    (reminder,) = world.posts(B1, "提醒</b>：")
    assert "座谈会" in reminder.text and "补发" not in reminder.text

    # Without the jump recorded, the same hours are an outage: skipped, as before.
    await world.say(HEAD, "/remind 1h 不再提醒")
    world.clock.advance(hours=8)
    with world.repo.transaction():
        assert calendar.catch_up(world.svc, jumps=jumps) == {"skipped": 1}


async def test_weekly_event_reminds_every_week_and_cancel_stops_it(world: World) -> None:
    await _with_groups(world)
    await world.say(HEAD, "/event every sun 19:00 座谈会 remind=1h")
    await world.tick()
    for week in range(2):
        world.clock.now = datetime(2026, 11, 22, 18, 0, tzinfo=TZ) + timedelta(weeks=week)
        await world.tick()
    assert len(world.posts(B1, "提醒")) == 2
    await world.say(HEAD, "/cancel E1")
    await world.parts.deliver()
    assert world.posts(B1, "已取消")
    world.clock.now = datetime(2026, 12, 6, 18, 0, tzinfo=TZ)
    await world.tick()
    assert len(world.posts(B1, "提醒")) == 2


async def test_moved_slot_does_nothing(world: World) -> None:
    await world.say(HEAD, "/event 2026-11-22 19:00 座谈会 remind=1h")
    slot_key = calendar.upcoming(world.svc, world.clock.now)[0].key
    event = world.repo.get_event(1)
    assert event is not None
    event.start = datetime(2026, 11, 23, 19, 0, tzinfo=TZ)
    world.repo.save_event(event)
    world.clock.now = datetime(2026, 11, 22, 18, 0, tzinfo=TZ)
    assert calendar.fire_key(world.svc, slot_key) is None


async def test_remind_cancel_and_bad_times(world: World) -> None:
    await world.say(HEAD, "/remind 2h 交物业费")
    assert "R1" in world.texts(B1)[-1]
    await world.say(HEAD, "/remind soon 交物业费")
    await world.say(HEAD, "/remind 10m")
    await world.say(HEAD, "/remind 2020-01-01 10:00 过去")
    assert len(world.repo.reminders()) == 1
    await world.say(ZHANG, "/cancel R1")
    assert world.repo.get_reminder(1).cancelled is None  # type: ignore[union-attr]
    await world.say(HEAD, "/cancel R1")
    assert world.repo.get_reminder(1).cancelled is not None  # type: ignore[union-attr]
    world.clock.advance(hours=3)
    await world.tick()
    assert not world.posts(B1, "⏰ <b>")


# ------------------------------------------------------------------------------ the outbox


async def test_group_announcement_is_pinned(world: World) -> None:
    await world.say(HEAD, "/announce 明天停水 <8:00-12:00>")
    await world.parts.deliver()
    (post,) = world.posts(B1, "停水")
    assert "&lt;8:00-12:00&gt;" in post.text
    assert world.messenger.pins == [(B1.id, post.message_id)]


async def test_crash_mid_send_is_uncertain_and_never_resent(world: World) -> None:
    await _with_groups(world)
    await world.say(WORKER, "/announce 消防演练", STAFF)
    broadcast = world.repo.unfinished_broadcasts()[0]
    # As after kill -9 between the record before the call and the one after it.
    from storage.records import Delivery

    world.repo.save_delivery(
        Delivery(0, broadcast.id, B1.id, DeliveryState.SENDING, world.clock.now)
    )
    world.restart()
    await world.parts.deliver()
    assert world.posts(B1, "消防演练") == [] and len(world.posts(B2, "消防演练")) == 1
    states = {c: d.state for c, d in world.repo.deliveries(broadcast.id).items()}
    assert states == {B1.id: DeliveryState.UNCERTAIN, B2.id: DeliveryState.SENT}
    report = world.texts(STAFF)[-1]
    assert "1" in report and "林溪苑1号楼" in report and "不再补发" in report
    await world.parts.deliver()
    assert len(world.posts(B2, "消防演练")) == 1


async def test_stop_after_a_refused_attempt_leaves_it_pending_and_sends_it_later(
    world: World,
) -> None:
    await _with_groups(world)
    await world.say(WORKER, "/announce 周末停水", STAFF)
    outbox = world.outbox

    class RefusedThenStopped:
        """The first call is recorded, refused (as by a 429), then the bot stops."""

        async def send(self, chat_id: int, text: str, **kw: Any) -> int:
            kw["on_call"]()  # the attempt leaves: recorded as sending
            outbox.stop()
            kw["on_call"]()  # the retry after retry_after: the bot is stopping
            raise AssertionError("not reached")

        async def pin(self, chat_id: int, message_id: int) -> None:
            raise AssertionError("not reached")

    outbox.lanes = DirectLanes(RefusedThenStopped())  # type: ignore[arg-type]
    await outbox.pump()
    broadcast = world.repo.unfinished_broadcasts()[0]
    states = {d.state for d in world.repo.deliveries(broadcast.id).values()}
    assert states <= {DeliveryState.PENDING}
    world.restart()
    await world.parts.deliver()
    assert len(world.posts(B1, "周末停水")) == 1 and len(world.posts(B2, "周末停水")) == 1
    assert "2 个群中 2 个已送达" in world.texts(STAFF)[-1]
