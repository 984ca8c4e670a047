"""Personal data: what the repository finds for erasure (on every backend), the retention
sweep, the outbox's pruning, and /forgetme — what goes, and what stays."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path

import pytest

from handlers import calendar, erasure, ledger
from handlers.callbacks import Act, encode
from handlers.erasure import months_before
from handlers.incoming import Location, Media, Quoted
from handlers.stats import export_workbook, stats_text
from storage.documents import DocumentRepository
from storage.memory import MemoryRepository
from storage.records import (
    Attendee,
    Broadcast,
    BroadcastKind,
    BroadcastState,
    Case,
    Channel,
    Contact,
    Delivery,
    DeliveryState,
    Draft,
    Person,
    State,
    Step,
)
from storage.tinydb_store import TinyRepository
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    HEAD_WANG,
    MS_CHEN,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
)
from tests.coreworld import CATALOGS, PEOPLE, STRANGER, CoreWorld
from tests.ledgerfile import sheets

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
TZ = CATALOGS.get("zh")


# --- the repository, on every backend ----------------------------------------------------------


@pytest.fixture(params=["journal", "compacting", "memory"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentRepository]:
    opened: DocumentRepository
    if request.param == "memory":
        opened = MemoryRepository()
    else:
        every = 2 if request.param == "compacting" else None
        opened = TinyRepository(tmp_path, compact_every=every)
    yield opened
    opened.close()


def calendar_tz(w: CoreWorld) -> tzinfo:
    return w.settings.timezone


def a_case(
    repo: DocumentRepository, state: State, closed: datetime | None = None, **kw: object
) -> Case:
    case = Case(repo.next_case_id(), B1, Channel.GROUP, "问题", T0, T0, state=state, **kw)  # type: ignore[arg-type]
    case.closed_at = closed
    repo.save_case(case)
    return case


def test_the_cases_that_name_a_person_are_found(repo: DocumentRepository) -> None:
    reported = a_case(repo, State.NEW, reporter_id=7, reporter_name="张")
    supported = a_case(repo, State.NEW, supporters=[8, 7])
    acted = a_case(repo, State.NEW, timeline=[Step(T0, "accept", 7, "王")])
    a_case(repo, State.NEW, reporter_id=8, supporters=[0], timeline=[Step(T0, "report", 8)])
    assert [c.id for c in repo.cases_naming(7)] == [reported.id, supported.id, acted.id]
    assert repo.cases_naming(0) == [] and repo.cases_naming(9) == []
    supported.supporters = [8, 0]
    repo.save_case(supported)
    assert [c.id for c in repo.cases_naming(7)] == [reported.id, acted.id]


def test_the_cases_past_their_retention_are_found_until_anonymised(
    repo: DocumentRepository,
) -> None:
    old, day = T0 - timedelta(days=800), timedelta(days=1)
    closed = a_case(repo, State.CLOSED, old)
    declined = a_case(repo, State.DECLINED, old + day)
    a_case(repo, State.CLOSED, T0)  # closed recently
    a_case(repo, State.NEW, old)  # open: kept whatever its age
    reopened = a_case(repo, State.REOPENED, None)
    cutoff = T0 - timedelta(days=700)
    assert [c.id for c in repo.cases_to_anonymise(cutoff, 10)] == [closed.id, declined.id]
    assert [c.id for c in repo.cases_to_anonymise(cutoff, 1)] == [closed.id]
    assert [c.id for c in repo.cases_to_anonymise(old + day, 10)] == [closed.id]
    closed.anonymised = T0
    repo.save_case(closed)
    assert [c.id for c in repo.cases_to_anonymise(cutoff, 10)] == [declined.id]
    # Closed again after it was anonymised (reopened meanwhile): found again.
    closed.closed_at, closed.anonymised = old + 2 * day, old + day
    repo.save_case(closed)
    assert [c.id for c in repo.cases_to_anonymise(cutoff, 10)] == [closed.id, declined.id]
    assert reopened.id not in [c.id for c in repo.cases_to_anonymise(T0 + day, 10)]


def test_forgetting_a_person_deletes_their_record_and_waiting_reports(
    repo: DocumentRepository,
) -> None:
    repo.save_person(Person(7, "张", "zh", [B1]))
    repo.save_person(Person(8, "李"))
    for draft_id, user in ((1, 7), (2, 8), (3, 7)):
        repo.save_draft(Draft(draft_id, user, "灯坏了", user, draft_id, T0))
    repo.forget_person(7)
    assert repo.get_person(7) is None and repo.get_person(8) is not None
    assert repo.pop_draft(1, 7) is None and repo.pop_draft(3, 7) is None
    assert repo.pop_draft(2, 8) is not None
    repo.forget_person(9)  # nobody: nothing happens


def test_finished_broadcasts_are_found_by_their_end_and_deleted_with_their_deliveries(
    repo: DocumentRepository,
) -> None:
    def broadcast(key: str, done: datetime | None, **kw: object) -> Broadcast:
        state = BroadcastState.DONE if done else BroadcastState.ACTIVE
        kw.setdefault("reported", True)
        b = Broadcast(repo.next_broadcast_id(), BroadcastKind.ANNOUNCE, [B1, B2], T0, key, **kw)  # type: ignore[arg-type]
        b.state, b.done_at = state, done
        repo.save_broadcast(b)
        for chat in b.targets:
            repo.save_delivery(Delivery(0, b.id, chat, DeliveryState.SENT, T0, 5))
        return b

    old = T0 - timedelta(days=100)
    first = broadcast("ann:1", old)
    broadcast("ann:2", None)  # still delivering
    broadcast("ann:3", old, reported=False)  # its report not sent yet
    broadcast("ann:4", T0)  # recent
    newest = broadcast("ann:5", old)
    found = [b.id for b in repo.finished_broadcasts(T0 - timedelta(days=90))]
    assert found == [first.id]  # the newest is never among them
    assert repo.delete_broadcast(first.id) == 2
    assert repo.get_broadcast(first.id) is None and not repo.has_broadcast("ann:1")
    assert repo.deliveries(first.id) == {} and repo.delivery(first.id, B1) is None
    assert len(repo.deliveries(newest.id)) == 2
    assert list(repo.finished_broadcasts(T0 - timedelta(days=90))) == []


def test_months_before_keeps_the_local_day() -> None:
    tz = CATALOGS.get("zh")
    del tz
    from zoneinfo import ZoneInfo

    shanghai = ZoneInfo("Asia/Shanghai")
    assert months_before(datetime(2028, 11, 21, 2, tzinfo=UTC), 24, shanghai) == datetime(
        2026, 11, 21, 10, tzinfo=shanghai
    )
    assert months_before(datetime(2026, 3, 31, 4, tzinfo=shanghai), 1, shanghai) == datetime(
        2026, 2, 28, 4, tzinfo=shanghai
    )
    assert months_before(datetime(2026, 1, 15, tzinfo=shanghai), 13, shanghai).date() == (
        datetime(2024, 12, 15).date()
    )


# --- the neighbourhood -------------------------------------------------------------------------


@pytest.fixture
def w(tmp_path: Path) -> Iterator[CoreWorld]:
    world = CoreWorld(tmp_path / "data")
    yield world
    world.close()


async def meet(w: CoreWorld) -> None:
    for chat, person in ((B1, HEAD_WANG), (B2, MS_CHEN)):
        await w.say(chat, person, "大家好")


def groups_text(w: CoreWorld, since: int = 0) -> str:
    texts = [s.text for s in w.messenger.sent[since:] if s.chat_id < 0]
    return "\n".join(texts)


async def a_closed_month(w: CoreWorld) -> None:
    """#1 张阿姨's report, with 李大爷's "me too", rated and closed; #2 an offline demand with
    the resident's contact, closed; #3 declined; #4 陈女士's, still open."""
    await meet(w)
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.press(B1, UNCLE_LI, encode(Act.ME_TOO, 1))
    await w.say(B1, HEAD_WANG, "/accept 1")
    await w.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    await w.press(B1, AUNT_ZHANG, encode(Act.RATE, 1, "s"))
    await w.say(B1, HEAD_WANG, "/confirm 1")
    await w.say(STAFF, WORKER_LIU, "/log 1号楼 走访 姓名=王阿姨 房号=3-502 电话=13800000000 堆物")
    await w.say(STAFF, WORKER_LIU, "/fixed 2 已清理")
    await w.say(STAFF, WORKER_LIU, "/confirm 2")
    await w.say(B1, UNCLE_LI, "/report 想装秋千")
    await w.say(B1, HEAD_WANG, "/decline 3 不属于社区")
    await w.say(B2, MS_CHEN, "/report 电梯异响")


def figures(w: CoreWorld) -> str:
    cases = list(w.repo.all_cases())
    period = ledger.all_time()
    return stats_text(cases, {B1: "1号楼", B2: "2号楼"}, TZ, period, w.clock())


async def test_retention_removes_residents_from_closed_cases_and_keeps_the_record(
    w: CoreWorld,
) -> None:
    await a_closed_month(w)
    w.clock.advance(days=730)  # 2028-11-17: closed two years ago tomorrow, not yet
    with w.repo.transaction():
        assert erasure.sweep(w.svc).anonymised == 0
    w.clock.advance(days=2)
    sent, counted = len(w.messenger.sent), figures(w)
    with w.repo.transaction():
        result = erasure.sweep(w.svc)
    await w.parts.deliver()
    assert (result.anonymised, result.more) == (3, False)

    first = w.repo.get_case(1)
    assert first is not None and first.anonymised == w.clock()
    assert (first.reporter_id, first.reporter_name, first.supporters) == (None, "", [0])
    by_step = {s.action: (s.actor_id, s.actor_name) for s in first.timeline}
    assert by_step["report"] == by_step["supporter"] == by_step["rate"] == (None, "")
    assert by_step["accept"] == by_step["confirm"] == (HEAD_WANG, "王楼长")  # the office stays
    offline = w.repo.get_case(2)
    assert offline is not None and offline.contact is None
    declined = w.repo.get_case(3)
    assert declined is not None and declined.reporter_name == "" and declined.anonymised
    still_open = w.repo.get_case(4)
    assert still_open is not None and still_open.reporter_name == "陈女士"
    # The acknowledgement in the group no longer names her; the figures are as they were.
    ack = [text for chat, _m, text, _k in w.messenger.edits if chat == B1 and "#1" in text][-1]
    assert "楼道灯坏了" in ack and "张阿姨" not in ack
    assert figures(w) == counted
    assert "张阿姨" not in groups_text(w, sent)
    book = sheets(
        export_workbook(
            w.repo.all_cases(), {}, TZ, ledger.all_time(), w.clock(), tz=w.settings.timezone
        )
    )
    rows = book["民情台账"]
    assert [r[4] for r in rows[1:]] == ["（已匿名）", "（已匿名）", "（已匿名）", "陈女士"]
    assert all(r[5] is None and r[6] is None for r in rows[1:])
    assert not any("张阿姨" in str(v) or "李大爷" in str(v) for r in book["办理过程"] for v in r)
    # Once is enough.
    with w.repo.transaction():
        assert erasure.sweep(w.svc).anonymised == 0


async def test_retention_can_be_off(tmp_path: Path) -> None:
    w = CoreWorld(tmp_path / "data", retention_months=0)
    try:
        await a_closed_month(w)
        w.clock.advance(days=3650)
        with w.repo.transaction():
            assert erasure.sweep(w.svc).anonymised == 0
        first = w.repo.get_case(1)
        assert first is not None and first.reporter_name == "张阿姨"
    finally:
        w.close()


async def test_old_broadcasts_are_pruned_but_a_weekly_events_post_stays(w: CoreWorld) -> None:
    await meet(w)
    await w.say(STAFF, WORKER_LIU, "/announce 明天停水")
    await w.say(STAFF, WORKER_LIU, "/event every wed 19:00 小板凳座谈会")
    await w.say(STAFF, WORKER_LIU, "/event 2026-11-28 19:00 义诊")
    await w.outbox.pump()
    await w.say(STAFF, WORKER_LIU, "/announce 电梯检修")
    await w.outbox.pump()
    keys = ["ann:", "post:1", "post:2", "ann:"]
    made = [w.repo.get_broadcast(i) for i in range(1, 5)]
    assert [b.key[: len(k)] for b, k in zip(made, keys, strict=True) if b and b.key] == keys
    assert all(len(w.repo.deliveries(i)) == 2 for i in range(1, 5))
    w.clock.advance(days=89)
    with w.repo.transaction():
        assert erasure.sweep(w.svc).broadcasts == 0
    w.clock.advance(days=2)
    with w.repo.transaction():
        result = erasure.sweep(w.svc)
    assert (result.broadcasts, result.deliveries) == (1, 2)
    # The one-off event's post stays until the event, too, is that long past.
    assert [w.repo.get_broadcast(i) is not None for i in range(1, 5)] == [False, True, True, True]
    w.clock.advance(days=10)
    with w.repo.transaction():
        result = erasure.sweep(w.svc)
    assert (result.broadcasts, result.deliveries) == (1, 2)
    assert [w.repo.get_broadcast(i) is not None for i in range(1, 5)] == [False, True, False, True]
    # The weekly event is still posted once; its reminders still reply to its post.
    with w.repo.transaction():
        calendar.catch_up(w.svc)
    assert w.repo.broadcast_by_key("post:1") == made[1]
    assert calendar._post_in(w.svc, w.repo.get_event(1), B1) is not None  # type: ignore[arg-type]


async def test_a_year_of_weekly_reminders_leaves_the_outbox_no_bigger_than_its_window(
    w: CoreWorld,
) -> None:
    """Each reminder is a broadcast with a delivery record per group: without pruning the
    outbox grows every week; with it, it holds the window's worth and the event's post."""
    await meet(w)
    await w.say(
        STAFF, WORKER_LIU, "/event every wed 19:00 小板凳座谈会"
    )  # reminded 1d and 1h before
    await w.outbox.pump()
    wednesday = datetime(2026, 11, 18, 19, 0, tzinfo=calendar_tz(w))
    start = w.clock()
    held: list[tuple[int, int]] = []
    for week in range(52):
        meeting = wednesday + timedelta(weeks=week)
        for before in (timedelta(days=1), timedelta(hours=1)):
            due = (meeting - before + timedelta(minutes=5)).astimezone(UTC)
            if due < start:
                continue  # the first week's day-before reminder was due before the event was made
            w.clock.now = due
            with w.repo.transaction():
                calendar.catch_up(w.svc)
            await w.outbox.pump()
        w.clock.now = (meeting + timedelta(hours=8)).astimezone(UTC)
        with w.repo.transaction():
            erasure.sweep(w.svc)
        ids = [i for i in range(1, 200) if w.repo.get_broadcast(i) is not None]
        held.append((len(ids), sum(len(w.repo.deliveries(i)) for i in ids)))
    sent = [s for s in w.messenger.sent if "小板凳座谈会" in s.text and s.chat_id == B1]
    assert len(sent) >= 2 * 51  # every week's two reminders went out
    # 90 days hold 13 weeks of two reminders each, and the post: never more.
    window = 2 * 13 + 1
    assert max(n for n, _ in held) <= window + 2
    assert held[-1][0] == held[20][0] and held[-1][1] == 2 * held[-1][0]  # steady, two groups
    # The post is still there: the reminders of next week reply to it.
    assert w.repo.broadcast_by_key("post:1") is not None


# --- /forgetme --------------------------------------------------------------------------------


async def a_known_resident(w: CoreWorld) -> None:
    """张阿姨: case #1 (group, fixed and rated), "me too" on 李大爷's #2, a private report #3,
    signed up for E1 (ahead, one place, 李大爷 waiting) and E2 (past), a private reminder,
    her language set; 王楼长 acted on her case as head."""
    await meet(w)
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 电梯异响")
    await w.press(B1, AUNT_ZHANG, encode(Act.ME_TOO, 2))
    await w.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    await w.press(B1, AUNT_ZHANG, encode(Act.RATE, 1, "s"))
    await w.say(AUNT_ZHANG, AUNT_ZHANG, "/report 门禁坏了")
    await w.say(B1, HEAD_WANG, "/event 2026-12-01 19:00 小板凳座谈会 cap=1")
    await w.say(B1, HEAD_WANG, "/event 2026-11-18 15:00 义诊")
    await w.outbox.pump()
    for event in (1, 2):
        await w.press(B1, AUNT_ZHANG, encode(Act.RSVP, event, "y"))
    await w.press(B1, UNCLE_LI, encode(Act.RSVP, 1, "y"))
    await w.say(AUNT_ZHANG, AUNT_ZHANG, "/remind 1d 交物业费")
    await w.say(AUNT_ZHANG, AUNT_ZHANG, "/lang en")
    w.clock.advance(hours=8)  # E2 is over
    await w.parts.deliver()


def forget_buttons(w: CoreWorld) -> tuple[str, str]:
    keyboard = w.messenger.sent[-1].keyboard
    assert keyboard is not None
    ((erase, keep),) = keyboard
    return erase.data, keep.data


async def test_forgetme_asks_first_and_a_kept_answer_changes_nothing(w: CoreWorld) -> None:
    await a_known_resident(w)
    message = await w.say(B1, AUNT_ZHANG, "/forgetme")
    assert w.replies_to(message) == [
        "如需删除我保存的您的个人信息，请在与我的私聊中发送 /forgetme。"
    ]
    await w.say(AUNT_ZHANG, AUNT_ZHANG, "/lang zh")
    before = [w.repo.get_case(i) for i in (1, 2, 3)]
    message = await w.say(AUNT_ZHANG, AUNT_ZHANG, "/forgetme")
    (question,) = w.replies_to(message)
    assert "删除我保存的您的个人信息？" in question
    assert "您反映的 2 件诉求" in question and "其中 2 件仍在办理" in question
    assert "1 件诉求点的“我也遇到”" in question and "2 个活动" in question
    assert "1 条提醒" in question and "删除后无法恢复" in question
    erase, keep = forget_buttons(w)
    assert erase.endswith(":y") and keep.endswith(":n")
    await w.press(AUNT_ZHANG, AUNT_ZHANG, keep)
    assert [t for chat, _m, t, _k in w.messenger.edits if chat == AUNT_ZHANG] == [
        "没有删除任何信息。"
    ]
    assert [w.repo.get_case(i) for i in (1, 2, 3)] == before
    assert w.repo.get_person(AUNT_ZHANG) is not None
    # An old question, or one pressed where it was never asked, erases nothing.
    stale = encode(Act.FORGET, int((w.clock() - timedelta(hours=2)).timestamp() // 60), "y")
    press = await w.press(AUNT_ZHANG, AUNT_ZHANG, stale)
    assert w.answer_to(press) == ("此确认已过期，请重新发送 /forgetme。", True)
    press = await w.press(B1, AUNT_ZHANG, erase)
    assert w.answer_to(press) == ("这个按钮已失效。", False)
    assert [w.repo.get_case(i) for i in (1, 2, 3)] == before


async def test_forgetme_erases_the_person_and_keeps_the_record(w: CoreWorld) -> None:
    await a_known_resident(w)
    await w.say(AUNT_ZHANG, AUNT_ZHANG, "/forgetme")
    erase, _keep = forget_buttons(w)
    sent = len(w.messenger.sent)
    press = await w.press(AUNT_ZHANG, AUNT_ZHANG, erase)
    assert w.answer_to(press) == ("Done.", False)
    answer = [text for chat, _m, text, _k in w.messenger.edits if chat == AUNT_ZHANG][-1]
    assert answer.startswith("🗑 Erased.")

    first, second, private = (w.repo.get_case(i) for i in (1, 2, 3))
    assert first is not None and second is not None and private is not None
    assert (first.reporter_id, first.reporter_name) == (None, "")
    steps = {s.action: s.actor_name for s in first.timeline}
    assert steps["report"] == steps["rate"] == "" and steps["fixed"] == "王楼长"
    assert second.reporter_name == "李大爷" and second.supporters == [0]
    assert [s.actor_name for s in second.timeline] == ["李大爷", ""]
    # Her private report goes on in its building's thread, not in her chat.
    assert (private.origin_chat_id, private.origin_message_id) == (B1, None)
    assert w.repo.cases_naming(AUNT_ZHANG) == []
    # The group's acknowledgement of #1 names her no more.
    ack = [text for chat, _m, text, _k in w.messenger.edits if chat == B1 and "#1" in text][-1]
    assert "张阿姨" not in ack and "楼道灯坏了" in ack
    # E1 is ahead: her place goes to 李大爷, who is told; E2 is past: counted, unnamed.
    ahead, past = w.repo.get_event(1), w.repo.get_event(2)
    assert ahead is not None and [a.user_id for a in ahead.going] == [UNCLE_LI]
    assert ahead.waitlist == []
    assert any("李大爷" in s.text and "E1" in s.text for s in w.messenger.sent[sent:])
    assert past is not None and past.going == [Attendee(0, "", 0)]
    (reminder,) = w.repo.reminders(include_cancelled=True)
    assert reminder.cancelled is not None and reminder.text == ""
    assert w.repo.get_person(AUNT_ZHANG) is None
    assert "张阿姨" not in "\n".join(str(c) for c in w.repo.all_cases())
    # Heads and staff reading E2 see the count, not the name.
    message = await w.say(B1, HEAD_WANG, "/events E2")
    assert "（已匿名）" in w.replies_to(message)[0]
    # Writing in her building again, she is noted there again, as anyone.
    await w.say(B1, AUNT_ZHANG, "谢谢")
    again = w.repo.get_person(AUNT_ZHANG)
    assert again is not None and again.buildings == [B1] and again.language is None


async def test_help_names_forgetme_in_both_languages(w: CoreWorld) -> None:
    message = await w.say(AUNT_ZHANG, AUNT_ZHANG, "/help")
    assert (
        "/forgetme（请在与我的私聊中发送） — 删除机器人保存的您的个人信息"
        in w.replies_to(message)[0].splitlines()
    )
    await w.say(STRANGER, STRANGER, "/lang en")
    message = await w.say(STRANGER, STRANGER, "/help")
    assert (
        "/forgetme (in a private chat with me) — Erase what the bot keeps about you"
        in (w.replies_to(message)[0])
    )


async def test_bad_input_to_forgetme_is_answered_and_changes_nothing(w: CoreWorld) -> None:
    await a_known_resident(w)
    await w.say(AUNT_ZHANG, AUNT_ZHANG, "/lang zh")
    before = ([w.repo.get_case(i) for i in (1, 2, 3)], w.repo.get_person(AUNT_ZHANG))
    # Someone else's data, by id, @username or name: only ever the sender's own.
    for typed in (f"/forgetme {UNCLE_LI}", "/forgetme @lidaye", "/forgetme 李大爷"):
        message = await w.say(AUNT_ZHANG, AUNT_ZHANG, typed)
        assert w.replies_to(message) == [
            "/forgetme 只删除我保存的发送者本人的信息，不能删除其他人的："
            "请直接发送 /forgetme，后面不要加任何内容。"
        ]
        assert w.messenger.sent[-1].keyboard is None
    now = int(w.clock().timestamp() // 60)
    pressed = [
        (f"c1:fgt:{now}:x", "这个按钮已失效。", False),  # neither yes nor no
        (f"c1:fgt:{now + 5}:y", "此确认已过期，请重新发送 /forgetme。", True),  # from the future
        (f"c1:fgt:{now - 61}:y", "此确认已过期，请重新发送 /forgetme。", True),  # an hour old
    ]
    for data, answer, alert in pressed:
        press = await w.press(AUNT_ZHANG, AUNT_ZHANG, data)
        assert w.answer_to(press) == (answer, alert), data
    # Forged data (not a number where one belongs) is refused before any handler.
    press = await w.press(AUNT_ZHANG, AUNT_ZHANG, "c1:fgt:soon:y")
    assert w.answer_to(press) is not None
    # Pressed by someone else, in a group: erases nobody.
    press = await w.press(B1, UNCLE_LI, f"c1:fgt:{now}:y")
    assert w.answer_to(press) == ("这个按钮已失效。", False)
    assert ([w.repo.get_case(i) for i in (1, 2, 3)], w.repo.get_person(AUNT_ZHANG)) == before
    assert w.repo.get_person(UNCLE_LI) is not None


async def test_an_admin_who_is_forgotten_stays_an_admin_by_id_alone(w: CoreWorld) -> None:
    """A stored role stays, as a head's does: the admin's record keeps the id and the role."""
    await meet(w)
    await w.say(STRANGER, STRANGER, "/lang en")
    person = w.repo.get_person(STRANGER)
    assert person is not None
    person.admin, person.username = True, "stranger"
    w.repo.save_person(person)
    message = await w.say(STRANGER, STRANGER, "/forgetme")
    assert "You stay an admin of this bot" in w.replies_to(message)[0]
    erase, _keep = forget_buttons(w)
    await w.press(STRANGER, STRANGER, erase)
    assert w.repo.get_person(STRANGER) == Person(STRANGER, "", admin=True)
    assert w.repo.person_by_username("stranger") is None
    # Still an admin: staff commands work for them.
    message = await w.say(STRANGER, STRANGER, "/stats")
    assert "📊" in w.replies_to(message)[0]


async def test_forgetme_after_an_anonymous_report_leaves_its_flag_and_names_nobody(
    w: CoreWorld,
) -> None:
    await meet(w)
    await w.say(B1, AUNT_ZHANG, "/report anon 楼上漏水")
    case = w.repo.get_case(1)
    assert case is not None and case.anonymous and case.staff_message_id is not None
    staff_card = [s.text for s in w.messenger.sent if s.chat_id == STAFF and "#1" in s.text][-1]
    assert "张阿姨" in staff_card  # staff read the name where they act
    await w.say(AUNT_ZHANG, AUNT_ZHANG, "/forgetme")
    erase, _keep = forget_buttons(w)
    await w.press(AUNT_ZHANG, AUNT_ZHANG, erase)
    case = w.repo.get_case(1)
    assert case is not None and case.anonymous and case.reporter_id is None
    edited = [text for chat, _m, text, _k in w.messenger.edits if chat == STAFF and "#1" in text]
    assert edited and "张阿姨" not in edited[-1] and "楼上漏水" in edited[-1]
    assert "张阿姨" not in groups_text(w).replace(staff_card, "")


async def test_forgetme_of_someone_with_a_waiting_report(w: CoreWorld) -> None:
    await meet(w)
    await w.say(STRANGER, STRANGER, "/report the bins are full")
    await w.say(STRANGER, STRANGER, "/forgetme")
    erase, _keep = forget_buttons(w)
    draft = next(
        b.data
        for s in w.messenger.sent
        for row in s.keyboard or ()
        for b in row
        if b.data.startswith("c1:bld:")
    )
    await w.press(STRANGER, STRANGER, erase)
    press = await w.press(STRANGER, STRANGER, draft)
    assert w.answer_to(press) == ("This question is no longer open.", False)
    assert list(w.repo.all_cases()) == []


def test_a_case_without_its_reporter_is_anonymised_on_the_ledger() -> None:
    t = CATALOGS.get("en")
    erased = Case(1, B1, Channel.PRIVATE, "x", T0, T0)
    offline = replace(erased, id=2, channel=Channel.HOTLINE)
    named = replace(offline, id=3, contact=Contact("王", "", ""))
    rows = ledger.ledger_rows([erased, offline, named], t, {}, now=T0, tz=UTC)
    assert [r[4] for r in rows] == ["(anonymised)", "", "王"]


# --- evidence: what came with a report goes with its reporter ---------------------------------


def the_case(w: CoreWorld, case_id: int) -> Case:
    found = w.repo.get_case(case_id)
    assert found is not None
    return found


def evidence_columns(w: CoreWorld) -> list[tuple[object, object]]:
    """Each ledger row's 照片数 and 整改照片, found by their headers."""
    book = sheets(
        export_workbook(
            w.repo.all_cases(), {}, TZ, ledger.all_time(), w.clock(), tz=w.settings.timezone
        )
    )
    header, *rows = book["民情台账"]
    photos, fix = header.index("照片数"), header.index("整改照片")
    return [(r[photos], r[fix]) for r in rows]


async def evidence_of_zhang(w: CoreWorld) -> None:
    """张阿姨: #1 an album of three photos, where in the building, fixed with a photo; #2 a
    voice message; #3 a pin; 李大爷's #4 with a photo, and her #5 merged into it."""
    await meet(w)
    for index in range(3):
        text = "/report 3单元5楼502室 墙皮脱落" if index == 0 else ""
        await w.say(B1, AUNT_ZHANG, text, photo=f"zhang{index}", media_group_id="g1")
    await w.say(B1, HEAD_WANG, "/fixed 1 重新粉刷", photo="after")
    await w.say(B1, AUNT_ZHANG, "/report 听听这个噪音", media=Media("voice", "zhang-voice"))
    pin = await w.say(B1, AUNT_ZHANG, "", location=Location(31.2304, 121.4737, "小区东门", ""))
    await w.say(
        B1,
        AUNT_ZHANG,
        "/report 路灯不亮",
        reply_to=Quoted(pin.message_id, PEOPLE[AUNT_ZHANG], "", location=pin.location),
    )
    await w.say(B1, UNCLE_LI, "/report 电梯坏了", photo="li-photo")
    await w.say(B1, AUNT_ZHANG, "/report 电梯又停了", photo="zhang-lift")
    await w.say(STAFF, WORKER_LIU, "/merge 5 4")
    first = the_case(w, 1)
    assert (first.photos, first.entrance, first.floor, first.flat) == (
        ["zhang0", "zhang1", "zhang2"],
        "3",
        "5",
        "502",
    )
    assert the_case(w, 2).attachment is not None and the_case(w, 3).pin is not None
    merged = the_case(w, 5)
    assert merged.state is State.MERGED and AUNT_ZHANG in the_case(w, 4).supporters


async def test_forgetme_drops_the_evidence_of_her_reports_and_keeps_its_counts(
    w: CoreWorld,
) -> None:
    await evidence_of_zhang(w)
    await w.say(AUNT_ZHANG, AUNT_ZHANG, "/lang zh")
    message = await w.say(AUNT_ZHANG, AUNT_ZHANG, "/forgetme")
    (question,) = w.replies_to(message)
    assert "照片、语音或视频、位置和门牌号" in question
    erase, _keep = forget_buttons(w)
    await w.press(AUNT_ZHANG, AUNT_ZHANG, erase)

    first, voice, pinned, lis, merged = (the_case(w, i) for i in range(1, 6))
    # Her photos' file_ids go, their number stays; where in the building stays, not the flat.
    assert (first.photo, first.photos, first.album, first.photo_count) == (None, [], None, 3)
    assert (first.entrance, first.floor, first.flat) == ("3", "5", None)
    assert first.fix_photo == "after"  # the fix's photo is staff's
    assert voice.attachment is None and pinned.pin is None
    # Her report merged into 李大爷's: unnamed there, and her "me too" on his counts unnamed.
    assert (merged.reporter_id, merged.photo, merged.photo_count) == (None, None, 1)
    assert merged.state is State.MERGED and merged.merged_into == 4
    assert lis.photo == "li-photo" and lis.reporter_id == UNCLE_LI
    assert AUNT_ZHANG not in lis.supporters and len(lis.supporters) == 1
    stored = "\n".join(str(c) for c in w.repo.all_cases())
    for gone in ("zhang0", "zhang1", "zhang2", "zhang-voice", "zhang-lift", "小区东门", "张阿姨"):
        assert gone not in stored
    assert w.repo.cases_naming(AUNT_ZHANG) == []
    assert evidence_columns(w) == [(3, "是"), (0, None), (0, None), (1, None), (1, None)]
    # The staff card still counts the photos, and names no pin.
    await w.parts.deliver()
    card = [t for chat, _m, t, _k in w.messenger.edits if chat == STAFF and "#1" in t][-1]
    assert "3 张照片" in card and "张阿姨" not in card


async def test_retention_drops_a_closed_reports_evidence_and_a_forum_opinions_contact(
    w: CoreWorld,
) -> None:
    await meet(w)
    for index in range(2):
        text = "/report 3单元5楼502室 墙皮脱落" if index == 0 else ""
        await w.say(B1, AUNT_ZHANG, text, photo=f"zhang{index}", media_group_id="g1")
    await w.say(B1, HEAD_WANG, "/accept 1")
    await w.say(B1, HEAD_WANG, "/fixed 1 重新粉刷", photo="after")
    await w.say(B1, HEAD_WANG, "/confirm 1")
    # A forum opinion logged for a resident follows /log's rules: never in a group...
    refused = await w.say(B1, HEAD_WANG, "/opinion 姓名=王阿姨 电话=13800000000 加扶手")
    assert "居民的联系方式仅限工作人员查看" in w.replies_to(refused)[0]
    assert len(list(w.repo.all_cases())) == 1
    # ... kept for staff from the staff chat, and answered on the spot it is closed at once.
    await w.say(
        STAFF,
        WORKER_LIU,
        "/log 1号楼 座谈会 姓名=王阿姨 房号=3-502 电话=13800000000 希望加装扶手 当场答复：已安排",
    )
    opinion = the_case(w, 2)
    assert opinion.channel is Channel.FORUM and opinion.state is State.CLOSED
    assert opinion.contact is not None and opinion.contact.phone == "13800000000"
    assert "13800000000" not in groups_text(w)
    w.clock.advance(days=732)
    with w.repo.transaction():
        assert erasure.sweep(w.svc).anonymised == 2
    first, opinion = the_case(w, 1), the_case(w, 2)
    assert (first.photos, first.photo, first.photo_count, first.flat) == ([], None, 2, None)
    assert (first.entrance, first.fix_photo) == ("3", "after")
    assert opinion.contact is None
    # Who logged it stays, as for any /log: a step taken as staff.
    assert [s.actor_id for s in opinion.timeline if s.action == "log"] == [WORKER_LIU]
    assert evidence_columns(w) == [(2, "是"), (0, "否")]  # answered there: a fix, no photo
