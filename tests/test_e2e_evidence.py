"""End to end, on both frameworks: evidence before and after (issue part 3).

An album becomes one case with all its photos; a pin replied to with /report; a neighbour's
voice message logged by replying /report to it; a fix reported with a photo is echoed as the
after, a reply to the report that shows the before; the ledger counts the photos. Each step
also counts what it cost the building group.
"""

from __future__ import annotations

import io
from typing import Any

from openpyxl import load_workbook

from tests.conftest import AUNT_ZHANG, B1, HEAD_WANG, STAFF, UNCLE_LI, WORKER_LIU, Harness
from tests.test_e2e_cases import labels, no_bad_requests, sent_since, stored


async def test_an_album_a_pin_a_voice_and_a_fix_with_its_photo(
    harness: Harness, start_bot: Any
) -> None:
    h, api = harness, harness.api
    mark = api.last_seq
    # An album of three photos, the caption on the first: one case, one acknowledgement.
    first = h.say(B1, AUNT_ZHANG, photo=True, caption="/report 楼道墙皮脱落", media_group_id="a1")
    h.say(B1, AUNT_ZHANG, photo=True, media_group_id="a1")
    h.say(B1, AUNT_ZHANG, photo=True, media_group_id="a1")
    await h.reply(B1, "#1")
    card = await h.reply(STAFF, "#1", method="sendPhoto")
    await h.settle()
    now = api.message(STAFF, card.message_id)
    assert now is not None and "📷 3 张照片" in now["caption"]
    acks = [r for r in sent_since(h, B1, mark) if r.reply_to_message_id == first["message_id"]]
    assert len(acks) == 1

    # A pin shared, then /report replied to it: the case has its place.
    pin = h.say(B1, UNCLE_LI, venue=(31.2304, 121.4737, "小区东门", "林溪路1号"))
    h.say(B1, UNCLE_LI, "/report 东门路灯不亮", reply_to=pin["message_id"])
    await h.reply(B1, "#2")
    await h.reply(STAFF, "#2", "📍 位置：小区东门 林溪路1号")

    # A neighbour's voice message, logged by replying /report to it.
    voice = h.say(B1, UNCLE_LI, voice=True)
    h.say(B1, AUNT_ZHANG, "/report", reply_to=voice["message_id"])
    ack = await h.reply(B1, "#3", "（语音消息）")
    assert "李大爷" not in (ack.text or "")  # logged by a neighbour: unnamed in the group
    await h.reply(STAFF, "#3", "🎙 附有语音消息", "李大爷")
    await h.settle()

    # The fix with its photo: one message into the group, the after photo as a reply to the
    # report (whose photo Telegram shows above it), with the rating buttons.
    mark = api.last_seq
    after = h.say(B1, HEAD_WANG, photo=True, caption="/fixed 1 重新粉刷了墙面")
    echo = await h.reply(B1, "#1", "重新粉刷了墙面", method="sendPhoto")
    assert echo.reply_to_message_id == first["message_id"]
    sent = api.message(B1, echo.message_id)
    assert sent is not None
    assert sent["photo"][-1]["file_id"] == after["photo"][-1]["file_id"]
    assert "修复前" in echo.text and labels(echo) == ["满意", "基本满意", "不满意"]
    await h.settle()
    assert len(sent_since(h, B1, mark)) == 1
    # The reporter rates: the caption is edited, no new message.
    await h.answer_to(h.press(echo, AUNT_ZHANG, "满意"))
    await h.settle()
    rated = api.message(B1, echo.message_id)
    assert rated is not None and "评价：满意" in rated["caption"]
    assert len(sent_since(h, B1, mark)) == 1
    card_now = api.message(STAFF, card.message_id)
    assert card_now is not None and "📷 整改有照片" in card_now["caption"]

    # The ledger counts the photos and says whether the fix has one.
    h.say(STAFF, WORKER_LIU, "/export")
    book = await h.reply(STAFF, "民情台账", method="sendDocument")
    rows = list(load_workbook(io.BytesIO(book.document_bytes or b"")).worksheets[0].values)
    header = rows[0]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id[1][header.index("照片数")] == 3 and by_id[1][header.index("整改照片")] == "是"
    assert by_id[2][header.index("照片数")] == 0
    no_bad_requests(h)
    await start_bot.stop_all()
    kept = stored(h.data_dir, 1)
    assert len(kept.photos) == 3 and kept.fix_photo == after["photo"][-1]["file_id"]
    place = stored(h.data_dir, 2)
    assert place.pin is not None and place.pin.title == "小区东门"
    logged = stored(h.data_dir, 3)
    assert logged.reporter_id == UNCLE_LI and logged.attachment.kind == "voice"
