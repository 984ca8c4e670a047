"""The shared delivery layer: pacing per group, retry_after, bounded retries, migrations, 403,
and the lanes' order across chats (answers first)."""

from __future__ import annotations

import asyncio

import pytest

from bot.delivery import Dispatcher, Limits, ReliableMessenger
from bot.i18n import Catalogs
from handlers.core import BotIdentity, Services, Settings
from handlers.courier import Courier
from handlers.ports import ChatGone, ChatMigrated, NotModified, RetryLater, Transient
from handlers.postbox import Doorbell, Postbox
from handlers.router import delivery_tables
from storage.memory import MemoryRepository
from storage.records import Priority
from tests.fakes import FakeClock, FakeMessenger


class Flaky(FakeMessenger):
    """Fails the next sends with the given errors, then delivers."""

    def __init__(self, errors: list[Exception]) -> None:
        super().__init__()
        self.errors = errors
        self.attempts: list[tuple[int, float]] = []

    async def send(self, chat_id: int, text: str, **kw: object) -> int:  # type: ignore[override]
        self.attempts.append((chat_id, asyncio.get_running_loop().time()))
        if self.errors:
            raise self.errors.pop(0)
        return await super().send(chat_id, text, **kw)  # type: ignore[arg-type]

    async def edit(self, *args: object, **kw: object) -> None:
        self.edits.append(args)  # type: ignore[arg-type]
        raise NotModified("message is not modified")


def reliable(inner: FakeMessenger, **limits: float) -> tuple[ReliableMessenger, list, list]:
    migrated: list[tuple[int, int]] = []
    gone: list[int] = []
    limits.setdefault("backoff", 0.01)
    messenger = ReliableMessenger(
        inner,
        Limits(**limits),
        on_migrated=lambda a, b: migrated.append((a, b)),  # type: ignore[arg-type]
        on_gone=gone.append,
    )
    return messenger, migrated, gone


async def test_a_full_group_does_not_hold_up_other_chats() -> None:
    inner = FakeMessenger()
    messenger, _, _ = reliable(inner, per_second=1000, group_per_minute=3, group_window=0.5)
    busy = [asyncio.create_task(messenger.send(-1, f"a{i}")) for i in range(3)]
    await asyncio.sleep(0.05)
    await messenger.send(-2, "b")
    order = [s.text for s in inner.sent]
    assert order == ["a0", "a1", "b"], "the third message to -1 waits for its window"
    await asyncio.gather(*busy)
    assert [s.text for s in inner.sent][-1] == "a2"


async def test_retry_after_is_waited_out_before_the_next_call() -> None:
    inner = Flaky([RetryLater(0.2)])
    messenger, _, _ = reliable(inner, per_second=1000)
    await messenger.send(-1, "x")
    (_, first), (_, second) = inner.attempts
    assert second - first >= 0.2
    assert len(inner.sent) == 1


async def test_transient_failures_are_retried_a_bounded_number_of_times() -> None:
    inner = Flaky([Transient("502")] * 10)
    messenger, _, _ = reliable(inner, per_second=1000, attempts=3)
    with pytest.raises(Transient):
        await messenger.send(-1, "x")
    assert len(inner.attempts) == 3 and inner.sent == []


async def test_migration_is_followed_and_reported_once() -> None:
    inner = Flaky([ChatMigrated(-100200)])
    messenger, migrated, _ = reliable(inner, per_second=1000)
    await messenger.send(-5, "x", reply_to=7)
    assert migrated == [(-5, -100200)]
    assert inner.sent[0].chat_id == -100200 and inner.sent[0].reply_to is None


async def test_removed_from_group_is_reported_and_raised() -> None:
    inner = Flaky([ChatGone("kicked")])
    messenger, _, gone = reliable(inner, per_second=1000)
    with pytest.raises(ChatGone):
        await messenger.send(-5, "x")
    assert gone == [-5]


async def test_unchanged_edit_is_swallowed_without_a_retry() -> None:
    inner = Flaky([])
    messenger, _, gone = reliable(inner, per_second=1000)
    await messenger.edit(-5, 1, "same")
    assert len(inner.edits) == 1 and gone == []


class Held(FakeMessenger):
    """Records when each call starts and ends; sends into `held` wait until released."""

    def __init__(self, held: int) -> None:
        super().__init__()
        self.held = held
        self.release = asyncio.Event()
        self.log: list[str] = []

    async def send(self, chat_id: int, text: str, **kw: object) -> int:  # type: ignore[override]
        self.log.append(f"start {text}")
        if chat_id == self.held:
            await self.release.wait()
        else:
            await asyncio.sleep(0.01)  # a call takes a while, as over HTTP
        self.log.append(f"end {text}")
        return await super().send(chat_id, text, **kw)  # type: ignore[arg-type]


def lanes(inner: FakeMessenger, **limits: float) -> tuple[Postbox, Dispatcher, MemoryRepository]:
    """The runtime's delivery over a store in memory: a postbox whose doorbell wakes lanes."""
    repo = MemoryRepository()
    clock = FakeClock()
    bell = Doorbell()
    post = Postbox(repo, clock, bell)
    settings = Settings()
    texts = Catalogs(settings.timezone).get
    svc = Services(repo, settings, texts, clock, BotIdentity(99, "echowall_bot"), post)
    rules = Limits(per_second=1000, backoff=0.01, **limits)  # type: ignore[arg-type]
    messenger = ReliableMessenger(inner, rules, on_migrated=print, on_gone=print)
    return post, Dispatcher(Courier(svc, delivery_tables()), messenger, rules, bell), repo


async def test_an_answer_goes_out_before_other_chats_cards() -> None:
    """The staff card was decided first, the answer to the resident second: the answer's
    call is made, and finished, before the card's starts."""
    inner = Held(held=0)
    inner.release.set()
    post, dispatcher, repo = lanes(inner)
    with repo.transaction():
        post.send(-1000, "card", priority=Priority.ECHO)
        post.send(-1001, "wall", priority=Priority.REFRESH)
        post.send(-1002, "answer", priority=Priority.REPLY)
    assert await dispatcher.idle(5)
    assert inner.log.index("end answer") < inner.log.index("start card")
    assert inner.log.index("end answer") < inner.log.index("start wall")
    assert not repo.outgoing_chats()


async def test_a_stuck_answer_holds_other_chats_up_only_briefly() -> None:
    """An answer whose call does not come back lets the other chats go after
    `Limits.answers_first`; it still goes out when its call returns."""
    inner = Held(held=-1002)
    post, dispatcher, repo = lanes(inner, answers_first=0.05)
    with repo.transaction():
        post.send(-1002, "answer", priority=Priority.REPLY)
        post.send(-1000, "card", priority=Priority.ECHO)
    for _ in range(200):
        if "end card" in inner.log:
            break
        await asyncio.sleep(0.01)
    assert inner.log == ["start answer", "start card", "end card"]
    inner.release.set()
    assert await dispatcher.idle(5)
    assert inner.log[-1] == "end answer" and not repo.outgoing_chats()


async def test_a_chat_out_of_budget_holds_no_one_up_with_its_answer() -> None:
    """An answer that must wait for its group's minute is not under way: other chats' cards
    do not wait for it at all."""
    inner = Held(held=0)
    inner.release.set()
    post, dispatcher, repo = lanes(inner, group_per_minute=2, group_window=60, answers_first=30)
    with repo.transaction():
        for i in range(3):
            post.send(-1002, f"answer {i}", priority=Priority.REPLY)
    for _ in range(200):
        if "end answer 1" in inner.log:
            break
        await asyncio.sleep(0.01)
    with repo.transaction():
        post.send(-1000, "card", priority=Priority.ECHO)
    for _ in range(200):
        if "end card" in inner.log:
            break
        await asyncio.sleep(0.01)
    assert "end card" in inner.log and "start answer 2" not in inner.log
    await dispatcher.stop(0.1)
