"""An offline demand's resident: name, flat and phone given with /log, for staff only.

They go into the ledger (which only staff get) and into /case asked privately by staff; no
group ever reads them — not the building group, not the staff chat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from handlers.intake import CONTACT_WORDS
from handlers.render import plain
from storage.records import Channel, Contact
from tests.conftest import B1, B2, ESCALATION, STAFF, WORKER_LIU
from tests.coreworld import CoreWorld
from tests.ledgerfile import sheets

SECRETS = ("王阿姨", "3-502", "13800000000")


@pytest.fixture
def w(tmp_path: Path) -> Iterator[CoreWorld]:
    world = CoreWorld(tmp_path / "data")
    yield world
    world.close()


async def meet_buildings(w: CoreWorld) -> None:
    for chat in (B1, B2):
        await w.say(chat, WORKER_LIU, "大家好")


def in_groups(w: CoreWorld) -> list[str]:
    """Everything the bot wrote into any group: building groups, staff and escalation chats."""
    texts = [s.text for s in w.messenger.sent if s.chat_id < 0]
    texts += [text for chat_id, _id, text, _keyboard in w.messenger.edits if chat_id < 0]
    return texts


async def test_log_takes_the_residents_name_flat_and_phone_and_no_group_reads_them(
    w: CoreWorld,
) -> None:
    await meet_buildings(w)
    await w.say(
        STAFF, WORKER_LIU, "/log 1号楼 走访 姓名=王阿姨 房号=3-502 电话=13800000000 楼道堆物"
    )
    case = w.repo.get_case(1)
    assert case is not None and case.channel is Channel.VISIT
    assert case.text == "楼道堆物" and case.contact == Contact(*SECRETS)
    assert case.reporter_name == "" and case.reporter_id is None
    staff_card = next(s.text for s in w.messenger.sent if s.chat_id == STAFF and "#1" in s.text)
    assert "居民联系方式已登记" in staff_card
    await w.say(STAFF, WORKER_LIU, "/case 1")
    await w.say(B1, WORKER_LIU, "/case 1")
    await w.say(STAFF, WORKER_LIU, "/fixed 1 已清理")
    await w.say(STAFF, WORKER_LIU, "/confirm 1")
    groups = "\n".join(in_groups(w))
    assert "楼道堆物" in groups and not any(secret in groups for secret in SECRETS)
    assert ESCALATION not in {s.chat_id for s in w.messenger.sent}

    # Staff read them privately, and in the ledger.
    message = await w.say(WORKER_LIU, WORKER_LIU, "/case 1")
    assert "居民：王阿姨 · 3-502 · 13800000000" in w.replies_to(message)[0]
    await w.say(WORKER_LIU, WORKER_LIU, "/export")
    ((_chat, _name, data),) = w.messenger.documents
    rows = sheets(data)["民情台账"]
    row = dict(zip(rows[0], rows[1], strict=True))
    assert (row["反映人"], row["房号"], row["联系电话"]) == SECRETS


async def test_contact_words_in_either_language_anywhere_on_the_first_line(w: CoreWorld) -> None:
    await meet_buildings(w)
    message = await w.say(
        WORKER_LIU,
        WORKER_LIU,
        '/log 1号楼 visit name="Wang Li" phone=+86-138-0000-0000 the stairs are blocked '
        "flat=3-502\nsince Monday, tel=5 boxes",
    )
    case = w.repo.get_case(1)
    assert case is not None
    assert case.contact == Contact("Wang Li", "3-502", "+86-138-0000-0000")
    # Only the first line holds options: the rest is the resident's words, as typed.
    assert case.text == "the stairs are blocked\nsince Monday, tel=5 boxes"
    # In a private chat the answer repeats them, so staff can check what they typed.
    assert w.replies_to(message) == [
        "已登记为诉求 #1（入户走访，林溪苑1号楼）。\n居民：Wang Li · 3-502 · +86-138-0000-0000\n"
        "该诉求暂不在楼栋群公开；发送 /publish 1 可公开到楼栋群。"
    ]
    await w.say(
        STAFF, WORKER_LIU, "/log 电话＝0371-12345678 2号楼 热线 联系人=“李 师傅” 下水道堵了"
    )
    second = w.repo.get_case(2)
    assert second is not None and second.building_id == B2
    assert second.contact == Contact("李 师傅", "", "0371-12345678")
    assert second.text == "下水道堵了"
    # Words that only look like options stay in the text; no option, no contact.
    await w.say(STAFF, WORKER_LIU, "/log 1号楼 信箱 电费=100元 太贵")
    third = w.repo.get_case(3)
    assert third is not None and third.contact is None and third.text == "电费=100元 太贵"
    assert {"name", "flat", "phone", "姓名", "房号", "电话"} <= set(CONTACT_WORDS)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ("电话=坏了", "“坏了”不是电话号码：请填写数字，例如 13800000000 或 0371-12345678。"),
        ("电话=1234", "“1234”不是电话号码"),
        ("姓名=王阿姨 name=王", "“name”填写了两次。"),
        ("房号=", "“房号=”：等号后面没有填写内容。"),
        ("姓名=" + "王" * 31, "太长了：最多 30 个字。"),
    ],
)
async def test_a_wrong_contact_detail_is_named_and_nothing_is_registered(
    w: CoreWorld, args: str, problem: str
) -> None:
    await meet_buildings(w)
    message = await w.say(WORKER_LIU, WORKER_LIU, f"/log 1号楼 走访 {args} 楼道堆物")
    (answer,) = w.replies_to(message)
    assert problem in answer and "用法：/log <楼栋> <座谈会|信箱|走访|热线>" in plain(answer)
    assert list(w.repo.all_cases()) == []


async def test_contact_details_typed_in_a_building_group_are_refused(w: CoreWorld) -> None:
    await meet_buildings(w)
    message = await w.say(B1, WORKER_LIU, "/log 1号楼 走访 电话=13800000000 楼道堆物")
    (answer,) = w.replies_to(message)
    assert "仅限工作人员查看" in answer and "13800000000" not in answer
    assert list(w.repo.all_cases()) == []
    # Without contact details /log works there as before.
    await w.say(B1, WORKER_LIU, "/log 1号楼 走访 楼道堆物")
    assert [c.id for c in w.repo.all_cases()] == [1]
