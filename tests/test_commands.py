"""Each command described once (`handlers.commands`): what the description must hold, and
what comes of it — the menus, /help, the usage answered to a mistake, the words accepted.

The rights matrix (`tests/test_rights_matrix.py`) fails for a command without its row; the
fuzzers (`tests/test_fuzz.py`) draw their commands from the same description.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from handlers import admission
from handlers.actions import CLASS_WORDS
from handlers.admin import LANGUAGE_WORDS
from handlers.callbacks import Act
from handlers.commands import BUTTONS, BY_NAME, COMMANDS, STEP_LABELS, Who, help_lines
from handlers.intake import CHANNEL_WORDS, RATING_WORDS
from handlers.ledger import PERIOD_WORDS
from handlers.parsing import parse_command
from localapi import parse_html
from storage.records import CaseClass, Channel, Rating, State
from tests.conftest import AUNT_ZHANG, B1, HEAD_WANG, STAFF, WORKER_LIU
from tests.coreworld import CATALOGS, CoreWorld

ROOT = Path(__file__).resolve().parent.parent


def catalog(language: str) -> Catalog:
    with open(ROOT / "locales" / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        return read_po(handle)


CATALOGS_PO = {language: catalog(language) for language in ("zh", "en")}


# --- the description ---------------------------------------------------------------------


@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_each_command_is_described_in_full(command: object) -> None:
    """A name Telegram takes, a usage that starts with the command, a line for the menus and
    /help, and — for a command acting on a case — its states and its timeline label."""
    from handlers.commands import Command

    assert isinstance(command, Command)
    assert parse_command(f"/{command.name}", "echowall_bot") == (command.name, "")
    assert command.usage.startswith(f"/{command.name}")
    assert command.about and command.about[0].isupper()
    assert callable(command.handler)
    if command.case is not None:
        assert command.case.states and command.label is not None
    if command.label is not None:
        assert STEP_LABELS[command.name] == command.label


def test_names_are_unique_and_every_button_has_a_handler() -> None:
    assert len(BY_NAME) == len(COMMANDS)
    assert set(BUTTONS) == set(Act)
    for spec in BUTTONS.values():
        assert spec.command is None or spec.command in BY_NAME


@pytest.mark.parametrize("language", ["zh", "en"])
@pytest.mark.parametrize("command", COMMANDS, ids=[c.name for c in COMMANDS])
def test_each_commands_texts_are_translated(command: object, language: str) -> None:
    """Its usage, its line and its timeline label, in every catalog; the Chinese usage is
    still the command (the name stays, the placeholders are Chinese)."""
    from handlers.commands import Command

    assert isinstance(command, Command)
    po = CATALOGS_PO[language]
    for msgid in filter(None, (command.usage, command.about, command.label)):
        message = po.get(msgid)
        assert message is not None and message.string and not message.fuzzy, msgid
    usage = po.get(command.usage).string
    assert usage.startswith(f"/{command.name}")
    if language == "zh":
        assert po.get(command.about).string != command.about
        if "<" in command.usage:
            assert re.search(r"<[^>]*[\u4e00-\u9fff][^>]*>", usage), usage


# Which words each command's alternatives `[a|b]`, `<a|b>` or `a|b` stand for.
WORDS = {
    "accept": CLASS_WORDS,
    "rate": RATING_WORDS,
    "log": CHANNEL_WORDS,
    "stats": PERIOD_WORDS,
    "lang": LANGUAGE_WORDS,
    "buildings": admission.ACTIONS,
}
# Alternatives that are forms to fill in, not words: 12h, 2d, YYYY-MM, HH:MM …
FORM = re.compile(r"^(\d+[mhd]|[YMDH:\- ]+|HH:MM|YYYY-MM-DD HH:MM)$")


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_word_a_usage_offers_is_accepted(language: str) -> None:
    """What /help shows is what the command takes: `/accept 4 重点 3d` as much as `key`."""
    offered: dict[str, set[str]] = {}
    for command in COMMANDS:
        usage = CATALOGS.get(language).gettext(command.usage)
        for group in re.findall(r"[\[<]([^\]>]*\|[^\]>]*)[\]>]", usage) or re.findall(
            r" (\S+\|\S+)$", usage
        ):
            words = {w.strip() for w in group.split("|")} - {""}
            words = {w for w in words if not FORM.match(w)}
            if words:
                offered.setdefault(command.name, set()).update(words)
    assert set(offered) == set(WORDS), f"describe the words of {set(offered) ^ set(WORDS)}"
    for name, words in offered.items():
        assert words <= set(WORDS[name]), (name, words - set(WORDS[name]))


# --- what comes of it: menus and /help ------------------------------------------------------


async def test_the_menus_are_made_from_the_description(tmp_path: Path) -> None:
    """Each scope shows the commands its people may use there, in every language: residents
    everywhere, private chats without the group commands, groups' administrators the heads'
    commands, the staff chat the staff's (without a building's own settings)."""
    w = CoreWorld(tmp_path / "data")
    try:
        await w.router.register_menus()
        menus = w.messenger.menus

        def names(scope: str, language: str | None, chat: int | None = None) -> list[str]:
            return [c.command for c in menus[(scope, chat, None, language)]]

        listed = [c for c in COMMANDS if c.menu]
        residents = [c.name for c in listed if c.who is Who.EVERYONE]
        heads = [c.name for c in listed if c.who in (Who.EVERYONE, Who.MANAGERS)]
        for language in (None, "zh", "en"):
            assert names("default", language) == residents
            assert names("all_group_chats", language) == residents
            assert names("all_private_chats", language) == [n for n in residents if n != "heads"]
            assert names("chat_administrators", language) == heads
            staff = names("chat", language, STAFF)
            assert "stats" in staff and "buildings" in staff and "accept" in staff
            assert not {"sethead", "building", "heads"} & set(staff)
        assert "setup" not in residents and "setstaff" not in heads
        # Both features' commands, each in its scopes: /mine for everyone (heads and staff
        # read what they answer for); naming the person responsible and the category for
        # heads and staff; posting an offline demand and the buildings for staff only.
        for language in (None, "zh", "en"):
            for scope in ("default", "all_group_chats", "all_private_chats"):
                shown = names(scope, language)
                assert "mine" in shown and not {"assign", "category", "publish"} & set(shown)
            managing = names("chat_administrators", language)
            assert {"mine", "assign", "category", "accept", "decline"} <= set(managing)
            assert not {"publish", "buildings", "status"} & set(managing)
            staff = set(names("chat", language, STAFF))
            assert {"mine", "assign", "category", "publish", "buildings", "status"} <= staff
        zh_heads = {
            c.command: c.description for c in menus[("chat_administrators", None, None, "zh")]
        }
        assert zh_heads["assign"] != "Name who is responsible for a case", "translated"
        zh = {c.command: c.description for c in menus[("chat", STAFF, None, "zh")]}
        assert zh["accept"] == "受理诉求" and zh["stats"] == "工作人员：民情统计与“三率”"
        en = {c.command: c.description for c in menus[("chat", STAFF, None, "en")]}
        assert en["stats"] == "Staff: Case statistics and the three rates"
    finally:
        w.close()


def test_help_lists_each_command_the_person_may_use_with_its_usage() -> None:
    t = CATALOGS.get("en")
    resident = "\n".join(help_lines(t, manager=False, staff=False))
    head = "\n".join(help_lines(t, manager=True, staff=False))
    staff = "\n".join(help_lines(t, manager=True, staff=True))
    admin = "\n".join(help_lines(t, manager=True, staff=True, admin=True))
    for command in COMMANDS:
        assert command.usage in parse_html(admin)[0], command.name
        in_resident = command.usage in parse_html(resident)[0]
        assert in_resident == (command.who is Who.EVERYONE), command.name
        in_head = command.usage in parse_html(head)[0]
        assert in_head == (command.who in (Who.EVERYONE, Who.MANAGERS)), command.name
        assert (command.usage in parse_html(staff)[0]) == (command.who is not Who.ADMINS)


# --- the words people type ------------------------------------------------------------------


async def test_chinese_words_shown_in_help_are_taken(tmp_path: Path) -> None:
    """The Chinese /help offers 易办|重点|疑难, 满意|基本满意|不满意, 座谈会|信箱|走访|热线,
    本周|本月|全部 and 中文|英文: each is taken where it is offered."""
    w = CoreWorld(tmp_path / "data")
    try:
        for n in range(1, 5):
            await w.say(B1, AUNT_ZHANG, f"/report 问题{n}")
        await w.say(B1, HEAD_WANG, "/accept 1 重点 3d")
        await w.say(B1, HEAD_WANG, "/accept 2 重点件")
        await w.say(B1, HEAD_WANG, "/accept 3 易办")
        await w.say(B1, HEAD_WANG, "/accept 4 疑难件 2026-12-01 18:00")
        classes = [w.repo.get_case(i).klass for i in range(1, 5)]  # type: ignore[union-attr]
        assert classes == [CaseClass.KEY, CaseClass.KEY, CaseClass.EASY, CaseClass.HARD]
        first = w.repo.get_case(1)
        assert first is not None and first.due is not None
        assert (first.due - w.clock()).days == 3
        await w.say(STAFF, WORKER_LIU, "/log 1号楼 民情信箱 路灯不亮")
        await w.say(STAFF, WORKER_LIU, "/log 1号楼 入户走访 楼道堆物")
        offline = [w.repo.get_case(i) for i in (5, 6)]
        assert [c.channel for c in offline if c] == [Channel.MAILBOX, Channel.VISIT]
        await w.say(STAFF, WORKER_LIU, "/fixed 5 换了路灯")
        await w.say(STAFF, WORKER_LIU, "/rate 5 基本满意")
        fifth = w.repo.get_case(5)
        assert fifth is not None and fifth.rating is Rating.BASIC
        message = await w.say(STAFF, WORKER_LIU, "/stats 本月")
        assert w.replies_to(message)[0].startswith("📊 <b>民情统计</b> · 2026年11月")
        await w.say(AUNT_ZHANG, AUNT_ZHANG, "/lang 英文")
        person = w.repo.get_person(AUNT_ZHANG)
        assert person is not None and person.language == "en"
        assert w.messenger.sent[-1].text == "Language set to English."
        assert w.failures.describe() == [] and w.messenger.violations == []
    finally:
        w.close()


async def test_a_case_in_the_wrong_state_says_which_states_the_command_is_for(
    tmp_path: Path,
) -> None:
    w = CoreWorld(tmp_path / "data")
    try:
        await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
        message = await w.say(B1, HEAD_WANG, "/confirm 1")
        assert w.replies_to(message) == [
            "诉求 #1 当前为“待受理”：/confirm 只能用于以下状态的诉求：已解决，待确认。"
        ]
        case = w.repo.get_case(1)
        assert case is not None and case.state is State.NEW
    finally:
        w.close()


async def test_status_names_the_staff_chat_the_categories_and_the_chasing(
    tmp_path: Path,
) -> None:
    """/status in the staff chat: where the staff chat comes from (the one the cards, the
    reminders' staff notices and the admission cards go to), the categories, the chasing."""
    w = CoreWorld(tmp_path / "data")
    try:
        status = await w.say(STAFF, WORKER_LIU, "/status")
        text = parse_html(w.replies_to(status)[0])[0]
        assert "社区工作群" in text and "配置文件" in text
        assert "诉求类别：应受理 7 类，不受理 7 类；转介去向 7 个" in text
        assert "到期提醒：每个时限前2小时提醒负责人" in text
        assert "办结后2天内验收；居民未评价的，24小时后再请评价一次" in text
    finally:
        w.close()
