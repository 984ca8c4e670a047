"""End to end, on both frameworks: an offline resident's contact details kept from every group
and given to staff in the ledger and its CSV; /forgetme confirmed with its button (her photos,
pin and voice message go with her, the number of photos stays); and the runtime's retention
sweep, with time under the test's control."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from localapi import LocalBotAPI
from storage.tinydb_store import TinyRepository
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    HEAD_WANG,
    HEAD_ZHAO,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
    Harness,
)
from tests.fakes import FakeClock

SECRETS = ("王阿姨", "3-502", "13800000000")
# The bot's clock in these tests: a Friday in November 2026, 11:00 in Shanghai.
FRIDAY = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


async def edited(
    api: LocalBotAPI, chat_id: int, message_id: int, done: Callable[[str], bool]
) -> str:
    """The message's text once an edit made it so (refreshes go last: wait for it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while True:
        text = (api.message(chat_id, message_id) or {}).get("text", "")
        if done(text):
            return str(text)
        assert loop.time() < deadline, f"not edited: {text}"
        await asyncio.sleep(0.05)


def group_texts(api: LocalBotAPI) -> str:
    """Everything the bot ever wrote into a group, edits included."""
    return "\n".join(r.text or "" for r in api.sent if r.chat_id < 0)


async def test_contact_details_reach_staff_files_and_no_group(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    await start_bot(clock=FakeClock(FRIDAY))
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, HEAD_WANG, "大家好")
    h.say(B2, HEAD_ZHAO, "大家好")
    await h.settle()
    h.say(STAFF, WORKER_LIU, "/log 1号楼 走访 姓名=王阿姨 房号=3-502 电话=13800000000 楼道堆物")
    card = await h.reply(STAFF, "#1", "居民联系方式已登记")
    # Staff post it into its building group: the demand, never the resident's details.
    h.say(STAFF, WORKER_LIU, "/publish 1")
    await h.reply(B1, "#1", "楼道堆物")
    h.say(B1, WORKER_LIU, "/log 1号楼 热线 电话=13900000000 噪音扰民")
    await h.reply(B1, "仅限工作人员查看")
    h.say(STAFF, WORKER_LIU, "/export csv")
    sent = await h.reply(STAFF, "CSV", method="sendDocument")
    assert sent.document_name == "echowall-ledger-2026-11.csv"
    rows = list(csv.reader(io.StringIO((sent.document_bytes or b"").decode("utf-8-sig"))))
    assert rows[0][4:7] == ["反映人", "房号", "联系电话"]
    assert tuple(rows[1][4:7]) == SECRETS and rows[1][7] == "楼道堆物"
    h.say(WORKER_LIU, WORKER_LIU, "/case 1")
    private = await h.reply(WORKER_LIU, "#1")
    assert "居民：王阿姨 · 3-502 · 13800000000" in private.text
    await h.settle()
    everything = group_texts(api)
    assert "楼道堆物" in everything and card.text in everything
    assert not any(secret in everything for secret in SECRETS)
    assert "13900000000" not in everything  # refused, and not repeated either
    await start_bot.stop_all()
    repo = TinyRepository(h.data_dir)
    try:
        assert [c.id for c in repo.all_cases()] == [1]
    finally:
        repo.close()


async def test_forgetme_confirmed_with_its_button_unnames_the_resident(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    await start_bot(clock=FakeClock(FRIDAY))
    h = Harness(api, tmp_path / "data", framework)
    # Her report is an album of two photos that says where, and she reports a pin and a voice
    # message too: what came with them goes with her, the number of photos stays.
    caption = "/report 3单元5楼502室 楼道灯坏了"
    h.say(B1, AUNT_ZHANG, photo=True, caption=caption, media_group_id="z1")
    h.say(B1, AUNT_ZHANG, photo=True, media_group_id="z1")
    ack = await h.reply(B1, "#1", "张阿姨")
    card = await h.reply(STAFF, "#1", method="sendPhoto")
    h.say(B1, UNCLE_LI, "/report 电梯异响")
    await h.reply(B1, "#2")
    pin = h.say(B1, AUNT_ZHANG, venue=(31.2304, 121.4737, "小区东门", "林溪路1号"))
    h.say(B1, AUNT_ZHANG, "/report 东门路灯不亮", reply_to=pin["message_id"])
    await h.reply(B1, "#3")
    h.say(B1, AUNT_ZHANG, voice=True, caption="/report 听听这个噪音")
    await h.reply(B1, "#4")
    await h.settle()
    photos = api.message(STAFF, card.message_id)
    assert photos is not None and "📷 2 张照片" in photos["caption"]
    h.say(B1, AUNT_ZHANG, "/forgetme")
    await h.reply(B1, "私聊")
    h.say(AUNT_ZHANG, AUNT_ZHANG, "/forgetme")
    question = await h.reply(
        AUNT_ZHANG, "删除我保存的您的个人信息", "您反映的 3 件诉求", "照片、语音或视频、位置"
    )
    answer = await h.answer_to(h.press(question, AUNT_ZHANG, "删除我的信息"))
    assert answer["text"] == "已完成。"
    await h.settle()
    answered = api.message(AUNT_ZHANG, question.message_id)
    assert answered is not None and answered["text"].startswith("🗑 已删除")
    assert not answered.get("reply_markup")
    shown = await edited(api, B1, ack.message_id, lambda text: "张阿姨" not in text)
    assert "楼道灯坏了" in shown
    # The staff card is still the photo it was posted as: its caption still counts them.
    await h.settle()
    photos = api.message(STAFF, card.message_id)
    assert photos is not None and "📷 2 张照片" in photos["caption"]
    assert "张阿姨" not in photos["caption"]
    h.say(STAFF, WORKER_LIU, "/export")
    ledger = await h.reply(STAFF, "民情台账", method="sendDocument")
    rows = list(load_workbook(io.BytesIO(ledger.document_bytes or b"")).worksheets[0].values)
    header = rows[0]
    reporter, counted = header.index("反映人"), header.index("照片数")
    assert [(r[0], r[reporter], r[counted]) for r in rows[1:]] == [
        (1, "（已匿名）", 2),
        (2, "李大爷", 0),
        (3, "（已匿名）", 0),
        (4, "（已匿名）", 0),
    ]
    await start_bot.stop_all()
    repo = TinyRepository(h.data_dir)
    try:
        first = repo.get_case(1)
        assert first is not None and first.reporter_id is None and first.reporter_name == ""
        assert (first.photo, first.photos, first.photo_count) == (None, [], 2)
        assert (first.entrance, first.floor, first.flat) == ("3", "5", None)
        pinned, voiced = repo.get_case(3), repo.get_case(4)
        assert pinned is not None and pinned.pin is None
        assert voiced is not None and voiced.attachment is None
        assert repo.get_person(AUNT_ZHANG) is None and repo.cases_naming(AUNT_ZHANG) == []
    finally:
        repo.close()


async def test_forgetme_answered_no_keeps_everything_and_takes_no_name(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    await start_bot(clock=FakeClock(FRIDAY))
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    ack = await h.reply(B1, "#1", "张阿姨")
    # Only ever the sender's own data: a neighbour named after it is refused.
    h.say(AUNT_ZHANG, AUNT_ZHANG, f"/forgetme {UNCLE_LI}")
    refused = await h.reply(AUNT_ZHANG, "后面不要加任何内容")
    assert not refused.reply_markup
    h.say(AUNT_ZHANG, AUNT_ZHANG, "/forgetme")
    question = await h.reply(AUNT_ZHANG, "删除我保存的您的个人信息", "您反映的 1 件诉求")
    answer = await h.answer_to(h.press(question, AUNT_ZHANG, "不删除"))
    assert answer["text"] == "已完成。"
    await edited(api, AUNT_ZHANG, question.message_id, lambda text: text == "没有删除任何信息。")
    answered = api.message(AUNT_ZHANG, question.message_id)
    assert answered is not None and not answered.get("reply_markup")
    await h.settle()
    shown = api.message(B1, ack.message_id)
    assert shown is not None and "张阿姨" in shown["text"]
    await start_bot.stop_all()
    repo = TinyRepository(h.data_dir)
    try:
        first = repo.get_case(1)
        assert first is not None and first.reporter_name == "张阿姨"
        assert first.reporter_id == AUNT_ZHANG and repo.get_person(AUNT_ZHANG) is not None
        assert repo.get_person(UNCLE_LI) is None  # named, never seen: nothing of him was made
    finally:
        repo.close()


async def test_the_runtime_sweeps_for_retention_and_names_nobody_afterwards(
    api: LocalBotAPI, tmp_path: Path, framework: str, start_bot: Callable[..., Any]
) -> None:
    clock = FakeClock(FRIDAY)
    bot = await start_bot(clock=clock)
    assert "retention-sweep" in bot.runtime.scheduler.next_runs()
    h = Harness(api, tmp_path / "data", framework)
    h.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    ack = await h.reply(B1, "#1", "张阿姨")
    h.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
    await h.reply(B1, "#1", "换了灯泡")
    h.say(B1, HEAD_WANG, "/confirm 1")
    await h.reply(B1, "#1", "回音壁")
    await h.settle()
    clock.advance(days=365)
    assert (await bot.runtime.retention()).anonymised == 0
    clock.advance(days=400)
    result = await bot.runtime.retention()
    assert (result.anonymised, result.more) == (1, False)
    shown = await edited(api, B1, ack.message_id, lambda text: "张阿姨" not in text)
    assert "楼道灯坏了" in shown
    h.say(B1, HEAD_WANG, "/case 1")
    card = await h.reply(B1, "#1", "办理过程")
    assert "张阿姨" not in card.text and "王楼长" in card.text
    await start_bot.stop_all()
    repo = TinyRepository(h.data_dir)
    try:
        first = repo.get_case(1)
        assert first is not None and first.anonymised is not None
        assert first.anonymised == FRIDAY + timedelta(days=765)
    finally:
        repo.close()
