"""The shared delivery layer: pacing per group, retry_after, bounded retries, migrations, 403."""

from __future__ import annotations

import asyncio

import pytest

from bot.delivery import Limits, ReliableMessenger
from handlers.ports import ChatGone, ChatMigrated, NotModified, RetryLater, Transient
from tests.fakes import FakeMessenger


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
