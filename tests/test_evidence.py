"""Evidence before and after: an album's photos in one case, a pin, where in the building, a
voice message replied to, the fix's photo echoed as the after to the report's before, and the
ledger's columns.

Driven through the core against the recording messenger (`tests.coreworld`); the same
scenarios run end to end in `tests/test_e2e_evidence.py`.
"""

from __future__ import annotations

import pytest

from handlers import ledger
from handlers.evidence import where
from handlers.incoming import Location, Media, Quoted
from storage.records import State
from tests.conftest import AUNT_ZHANG, B1, HEAD_WANG, STAFF, UNCLE_LI, WORKER_LIU
from tests.coreworld import CHATS, PEOPLE, STRANGER, CoreWorld, case_of, shown


def staff_card(w: CoreWorld, case_id: int) -> str:
    """The staff card of a case as it is now (after its latest edit)."""
    message_id = case_of(w, case_id).staff_message_id
    text = next(
        s.text for s in w.messenger.sent if (s.chat_id, s.message_id) == (STAFF, message_id)
    )
    for chat, message, edited, _keyboard in w.messenger.edits:
        if (chat, message) == (STAFF, message_id):
            text = edited
    return shown(text)


async def album(w: CoreWorld, chat: int, user: int, caption_at: int, count: int = 3) -> None:
    """An album of `count` photos, the caption `/report …` on photo number `caption_at`."""
    for index in range(count):
        text = "/report 楼道墙皮脱落" if index == caption_at else ""
        await w.say(chat, user, text, photo=f"p{index}", media_group_id="g1")


@pytest.mark.parametrize("caption_at", [0, 1, 2])
async def test_every_photo_of_an_album_goes_into_one_case(w: CoreWorld, caption_at: int) -> None:
    await album(w, B1, AUNT_ZHANG, caption_at)
    assert [c.id for c in w.repo.all_cases()] == [1]
    assert case_of(w, 1).photos == ["p0", "p1", "p2"] and case_of(w, 1).photo == "p0"
    # One acknowledgement in the group (besides the pinned wall); the staff card counts them.
    assert sum(1 for s in w.messenger.sent if s.chat_id == B1 and s.reply_to) == 1
    assert "📷 3 张照片" in staff_card(w, 1)


async def test_an_album_photo_redelivered_is_kept_once(w: CoreWorld) -> None:
    await album(w, B1, AUNT_ZHANG, 0, count=2)
    again = w.message(CHATS[B1], PEOPLE[AUNT_ZHANG], "", photo="p1", media_group_id="g1")
    again = type(again)(**{**{f: getattr(again, f) for f in again.__slots__}, "message_id": 2})
    await w.handle(again)
    assert case_of(w, 1).photos == ["p0", "p1"]


async def test_an_album_sent_privately_waits_with_the_building_question(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "大家好")
    await w.say(B1, UNCLE_LI, "大家好")
    await w.say(STRANGER, STRANGER, "", photo="a", media_group_id="g2")
    await w.say(STRANGER, STRANGER, "/report 楼道堆满杂物", photo="b", media_group_id="g2")
    await w.say(STRANGER, STRANGER, "", photo="c", media_group_id="g2")
    question = next(s for s in reversed(w.messenger.sent) if s.keyboard)
    pick = [b.data for row in question.keyboard or () for b in row if b.data.endswith(str(B1))]
    await w.press(STRANGER, STRANGER, pick[0])
    assert case_of(w, 1).photos == ["a", "b", "c"]


async def test_a_pin_replied_to_and_where_in_the_building_are_kept(w: CoreWorld) -> None:
    pin = await w.say(B1, AUNT_ZHANG, "", location=Location(31.2304, 121.4737, "小区东门", ""))
    await w.say(
        B1,
        AUNT_ZHANG,
        "/report 路灯不亮",
        reply_to=Quoted(pin.message_id, PEOPLE[AUNT_ZHANG], "", location=pin.location),
    )
    kept = case_of(w, 1)
    assert kept.pin is not None and (kept.pin.latitude, kept.pin.title) == (31.2304, "小区东门")
    assert kept.reporter_id == AUNT_ZHANG and kept.text == "路灯不亮"
    card = case_of(w, 1).staff_message_id
    raw = next(s.text for s in w.messenger.sent if (s.chat_id, s.message_id) == (STAFF, card))
    assert "📍 位置：小区东门" in shown(raw) and "uri.amap.com/marker?position=121.4737" in raw
    await w.say(B1, UNCLE_LI, "/report 3单元5楼502室门口漏水")
    indoor = case_of(w, 2)
    assert (indoor.entrance, indoor.floor, indoor.flat) == ("3", "5", "502")
    assert "🏠 位置：3单元 · 5楼 · 502室" in staff_card(w, 2)


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("3单元5楼502室 楼道灯坏了", ("3", "5", "502")),
        ("1号楼3楼楼道灯坏了", (None, "3", None)),
        ("2号楼 电梯坏了", (None, None, None)),
        ("12层漏水", (None, "12", None)),
        ("entrance 2, 5th floor, flat 502b: the lift", ("2", "5", "502b")),
    ],
)
def test_where_in_the_building_is_read_from_the_words(
    text: str, found: tuple[str | None, ...]
) -> None:
    assert where(text) == found


async def test_report_replied_to_a_voice_message_keeps_it_as_an_attachment(w: CoreWorld) -> None:
    voice = await w.say(B1, UNCLE_LI, "", media=Media("voice", "v1"))
    quoted = Quoted(voice.message_id, PEOPLE[UNCLE_LI], "", media=voice.media)
    await w.say(B1, AUNT_ZHANG, "/report", reply_to=quoted)
    logged = case_of(w, 1)
    assert logged.attachment is not None and logged.attachment.file_id == "v1"
    assert (logged.reporter_id, logged.text) == (UNCLE_LI, "（语音消息）")
    assert "🎙 附有语音消息" in staff_card(w, 1)
    # A voice message with the command as its caption, with words.
    await w.say(B1, AUNT_ZHANG, "/report 听听这个噪音", media=Media("voice", "v2"))
    assert case_of(w, 2).attachment is not None and case_of(w, 2).text == "听听这个噪音"


async def test_a_fix_with_a_photo_is_echoed_as_the_after_to_the_reports_before(
    w: CoreWorld,
) -> None:
    report = await w.say(B1, AUNT_ZHANG, "/report 楼道墙皮脱落", photo="before")
    await w.say(STAFF, WORKER_LIU, "/accept 1")
    before = len(w.messenger.sent)
    await w.say(B1, HEAD_WANG, "/fixed 1 重新粉刷了墙面", photo="after")
    echoes = [s for s in w.messenger.sent[before:] if s.chat_id == B1]
    # One message into the group: the after photo, a reply to the report with the before.
    assert len(echoes) == 1
    echo = echoes[0]
    assert echo.photo == "after" and echo.reply_to == report.message_id
    assert "📷 修复前：见上方反映的照片；修复后：本图。" in shown(echo.text)
    assert [b.text for row in echo.keyboard or () for b in row] == ["满意", "基本满意", "不满意"]
    assert case_of(w, 1).fix_photo == "after"
    assert "📷 整改有照片" in staff_card(w, 1)
    # The reporter's rating edits the caption.
    rate = w.press_event(B1, AUNT_ZHANG, "c1:rate:1:s", message_id=echo.message_id)
    await w.handle(rate)
    assert case_of(w, 1).rating is not None


async def test_a_fix_replied_to_a_photo_takes_that_photo(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 垃圾没人清")
    photo = await w.say(B1, HEAD_WANG, "", photo="clean")
    await w.say(
        B1,
        HEAD_WANG,
        "/fixed 1 已清运",
        reply_to=Quoted(photo.message_id, PEOPLE[HEAD_WANG], "", photo="clean"),
    )
    assert case_of(w, 1).fix_photo == "clean"
    echo = next(s for s in reversed(w.messenger.sent) if s.chat_id == B1)
    assert echo.photo == "clean"
    # No before photo: no before-and-after line.
    assert "修复前" not in shown(echo.text)


async def test_a_long_measure_with_a_photo_still_fits_the_caption(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 墙皮脱落", photo="before")
    await w.say(B1, HEAD_WANG, "/fixed 1 " + "重新粉刷" * 250, photo="after")
    assert case_of(w, 1).state is State.FIXED and len(case_of(w, 1).measure or "") == 1000
    # The checked messenger refuses a caption over 1,024 characters.
    assert w.messenger.violations == []


async def test_the_ledger_records_photos_and_whether_the_fix_has_one(w: CoreWorld) -> None:
    await album(w, B1, AUNT_ZHANG, 0)
    await w.say(B1, HEAD_WANG, "/fixed 1 修好了", photo="after")
    await w.say(B1, UNCLE_LI, "/report 电梯坏了")
    await w.say(B1, HEAD_WANG, "/fixed 2 修好了")
    await w.say(B1, UNCLE_LI, "/report 路灯坏了")
    t = w.svc.texts("zh")
    rows = ledger.ledger_rows(
        w.repo.all_cases(), t, {B1: "1号楼"}, now=w.clock(), tz=w.settings.timezone
    )
    headers = ledger.ledger_headers(t)
    photos, fix = headers.index("照片数"), headers.index("整改照片")
    assert [(r[photos], r[fix]) for r in rows] == [(3, "是"), (0, "否"), (0, "")]
