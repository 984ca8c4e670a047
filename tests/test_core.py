"""The core without a framework: handlers against a recording messenger and a fake clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from handlers.core import Settings
from handlers.incoming import ChatRef, Message, Press, User
from storage.records import CaseClass, Group, State
from storage.tinydb_store import TinyRepository
from tests.fakes import FakeClock, FakeMessenger, assemble

GROUP = ChatRef(-500, "group", "林溪苑5号楼")
STAFF = -900
RESIDENT = User(1, "张阿姨", language="zh")
NEIGHBOUR = User(2, "李大爷", language="zh")
HEAD = User(3, "王楼长", language="zh")


class World:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = FakeClock()
        self.messenger = FakeMessenger()
        self.messenger.statuses[(GROUP.id, HEAD.id)] = "administrator"
        self.repo = TinyRepository(tmp_path)
        self.repo.save_group(Group(chat_id=GROUP.id, title=GROUP.title or ""))  # admitted
        settings = Settings(staff_chat=STAFF, timezone=ZoneInfo("Asia/Shanghai"))
        self.parts = assemble(self.repo, settings, self.clock, self.messenger)
        self.svc = self.parts.svc
        self.router = self.parts.router
        self.update = 0
        self.message_id = 0

    async def say(self, who: User, text: str, chat: ChatRef = GROUP, **kw: object) -> Message:
        self.update += 1
        self.message_id += 1
        message = Message(
            self.update,
            chat,
            self.message_id,
            who,
            text,
            datetime.now(UTC),
            **kw,  # type: ignore[arg-type]
        )
        await self.router.handle(message)
        await self.parts.deliver()
        return message

    async def press(self, who: User, data: str, message_id: int = 1) -> Press:
        self.update += 1
        press = Press(self.update, f"q{self.update}", who, data, GROUP, message_id)
        await self.router.handle(press)
        await self.parts.deliver()
        return press


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = World(tmp_path)
    yield w  # type: ignore[misc]
    w.repo.close()


async def test_report_stores_case_with_answer_deadline(world: World) -> None:
    await world.say(RESIDENT, "/report 楼道灯坏了")
    case = world.repo.get_case(1)
    assert case is not None
    assert case.text == "楼道灯坏了" and case.state is State.NEW
    assert (case.answer_due - case.created).total_seconds() == 24 * 3600
    assert any("#1" in t for t in world.messenger.texts_in(GROUP.id))
    assert any("#1" in t for t in world.messenger.texts_in(STAFF))


async def test_accept_uses_class_default_due_and_explicit_due_wins(world: World) -> None:
    await world.say(RESIDENT, "/report 电梯坏了")
    await world.say(RESIDENT, "/report 水管漏了")
    await world.say(HEAD, "/accept 1 hard")
    await world.say(HEAD, "/accept 2 easy 12h")
    first, second = world.repo.get_case(1), world.repo.get_case(2)
    assert first is not None and second is not None
    assert first.klass is CaseClass.HARD
    assert (first.due - world.clock.now).days == 7  # type: ignore[operator]
    assert (second.due - world.clock.now).total_seconds() == 12 * 3600  # type: ignore[operator]


async def test_accept_with_past_due_is_refused_and_changes_nothing(world: World) -> None:
    await world.say(RESIDENT, "/report 门坏了")
    await world.say(HEAD, "/accept 1 key 2020-01-01 10:00")
    case = world.repo.get_case(1)
    assert case is not None and case.state is State.NEW
    assert world.messenger.sent[-1].text.startswith("承诺时间“2020-01-01 10:00”已经过去了。")


async def test_resident_cannot_act_on_cases(world: World) -> None:
    await world.say(RESIDENT, "/report 噪音")
    for command in (
        "/accept 1",
        "/fixed 1 好了",
        "/decline 1 不管",
        "/escalate 1 上报",
        "/confirm 1",
    ):
        await world.say(NEIGHBOUR, command)
    case = world.repo.get_case(1)
    assert case is not None and case.state is State.NEW and len(case.timeline) == 1


async def test_forged_staff_button_from_resident_changes_nothing(world: World) -> None:
    await world.say(RESIDENT, "/report 垃圾")
    await world.press(NEIGHBOUR, "c1:acc:1")
    await world.press(NEIGHBOUR, "c1:esc:1")
    case = world.repo.get_case(1)
    assert case is not None and case.state is State.NEW and case.level.value == "building"
    assert all(alert for _, _, alert in world.messenger.answers)


@pytest.mark.parametrize(
    "data", ["", "x", "c1:acc", "c1:acc:abc", "c2:acc:1", "c1:zz:1", "c1:rate:1:q"]
)
async def test_malformed_callback_is_answered_and_ignored(world: World, data: str) -> None:
    await world.say(RESIDENT, "/report 灯")
    before = world.repo.get_case(1)
    await world.press(RESIDENT, data)
    assert world.messenger.answers, "every press gets an answer"
    assert world.repo.get_case(1) == before


async def test_fixed_then_unsatisfied_reopens_and_rating_is_reporters_only(world: World) -> None:
    await world.say(RESIDENT, "/report 漏水")
    await world.say(HEAD, "/accept 1")
    await world.say(HEAD, "/fixed 1 换了水管")
    await world.press(NEIGHBOUR, "c1:rate:1:s")
    case = world.repo.get_case(1)
    assert case is not None and case.rating is None
    await world.press(RESIDENT, "c1:rate:1:u")
    case = world.repo.get_case(1)
    assert case is not None and case.state is State.REOPENED
    assert any("不满意" in t for t in world.messenger.texts_in(STAFF))


async def test_same_update_twice_makes_one_case(world: World) -> None:
    message = await world.say(RESIDENT, "/report 重复")
    world.router._recent.clear()  # as after a restart
    await world.router.handle(message)
    await world.parts.deliver()
    assert len(list(world.repo.all_cases())) == 1
    acks = [t for t in world.messenger.texts_in(GROUP.id) if "已登记为诉求 #1" in t]
    assert len(acks) == 1


async def test_overlong_report_is_refused_politely(world: World) -> None:
    await world.say(RESIDENT, "/report " + "很" * 5000)
    assert world.repo.get_case(1) is None
    assert "太长" in world.messenger.sent[-1].text


async def test_anonymous_admin_counts_as_head_of_that_group(world: World) -> None:
    await world.say(RESIDENT, "/report 路灯")
    anonymous = User(1087968824, "Group", is_bot=True)
    await world.say(anonymous, "/accept 1", sender_chat_id=GROUP.id)
    case = world.repo.get_case(1)
    assert case is not None and case.state is State.ACCEPTED


async def test_menus_published_in_both_languages(world: World) -> None:
    await world.router.register_menus()
    languages = {language for language, _, _ in world.messenger.commands}
    assert languages == {None, "zh", "en"}
    en = next(
        c for lang, scope, c in world.messenger.commands if lang == "en" and scope == "default"
    )
    assert next(c.description for c in en if c.command == "report") == "Report a problem"


async def test_report_as_reply_to_the_bots_own_message_only_explains_usage(world: World) -> None:
    from handlers.incoming import Quoted

    bot_message = Quoted(500, User(99, "echowall", is_bot=True), "欢迎使用")
    await world.say(NEIGHBOUR, "/report", reply_to=bot_message)
    assert list(world.repo.all_cases()) == []
    assert "/report" in world.messenger.sent[-1].text


async def test_flood_of_reports_is_slowed_politely_once(world: World) -> None:
    for n in range(7):
        await world.say(RESIDENT, f"/report 问题{n}")
    assert [c.text for c in world.repo.all_cases()] == [f"问题{n}" for n in range(5)]
    polite = [t for t in world.messenger.texts_in(GROUP.id) if "短时间内" in t]
    assert len(polite) == 1 and "我也遇到" in polite[0]
    await world.say(NEIGHBOUR, "/report 邻居的问题")  # others are not held up
    world.clock.advance(minutes=11)
    await world.say(RESIDENT, "/report 过了十分钟")
    assert [c.text for c in world.repo.all_cases()][-2:] == ["邻居的问题", "过了十分钟"]


async def test_every_reopening_owes_an_answer_within_the_answer_window(world: World) -> None:
    await world.say(RESIDENT, "/report 楼道灯坏了")
    await world.say(HEAD, "/fixed 1 换了灯泡")
    world.clock.advance(hours=50)
    await world.say(HEAD, "/reopen 1 又坏了")
    case = world.repo.get_case(1)
    assert case is not None
    assert case.answer_due - world.clock.now == timedelta(hours=24)
    await world.say(HEAD, "/fixed 1 又换了")
    world.clock.advance(hours=100)
    await world.say(HEAD, "/reopen 1 还是坏")
    case = world.repo.get_case(1)
    assert case is not None
    assert case.answer_due - world.clock.now == timedelta(hours=24)  # not 24 h + 150 h


async def test_a_view_that_fails_to_render_is_dropped_and_the_chat_goes_on(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: object) -> None:
        raise RuntimeError("a bug in a view")

    monkeypatch.setitem(world.parts.courier.tables.views, "ack", broken)  # type: ignore[arg-type]
    await world.say(RESIDENT, "/report 楼道灯坏了")
    await world.say(RESIDENT, "/wall")
    assert world.repo.outgoing_chats() == set()  # nothing stuck in the postbox
    assert any("问题墙" in t for t in world.messenger.texts_in(GROUP.id))  # the next went
