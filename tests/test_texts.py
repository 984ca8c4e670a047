"""Texts in the reader's language: whole sentences from the catalog, codes stored and worded
when shown, Chinese punctuation and numbers as Chinese is written, one deadline everywhere.

Besides the catalog checks of `tests/test_boundaries.py` (every text translated, placeholders
matching): an English neighbourhood is driven through every step of every case class and
rating, and everything the bot says must be English, without an "a easy"-style article.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from handlers import overdue
from handlers.actions import ACCEPTED_TEXTS
from handlers.announce import render_announcement
from handlers.incoming import ChatRef, Membership, User
from handlers.notify import acks_text, staff_card_text
from handlers.render import CLASS_LABELS, Notes, timeline
from localapi import parse_html
from storage.records import Broadcast, BroadcastKind, Case, CaseClass, Channel, Step
from tests.conftest import (
    AUNT_ZHANG,
    B1,
    B2,
    ESCALATION,
    HEAD_WANG,
    HEAD_ZHAO,
    STAFF,
    UNCLE_LI,
    WORKER_LIU,
)
from tests.coreworld import CATALOGS, CHATS, CoreWorld

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]")
# "a easy", "a overdue" (not "a user", whose u sounds like "you"); "an key".
A_BEFORE_VOWEL = re.compile(r"\b[Aa] [aeioAEIO]\w")
AN_BEFORE_CONSONANT = re.compile(r"\b[Aa]n [b-df-hj-np-tv-zB-DF-HJ-NP-TV-Z]\w")
# An article written before a placeholder: the word it stands for decides a or an.
ARTICLE_BEFORE_PLACEHOLDER = re.compile(r"\b[Aa]n? \{")


def english_problems(text: str) -> list[str]:
    shown = parse_html(text)[0]
    problems = [f"Chinese: {m.group()!r}" for m in CJK.finditer(shown)]
    problems += [f"article: {m.group()!r}" for m in A_BEFORE_VOWEL.finditer(shown)]
    problems += [f"article: {m.group()!r}" for m in AN_BEFORE_CONSONANT.finditer(shown)]
    return problems


# --- the catalogs ----------------------------------------------------------------------------


def test_no_english_text_pieces_an_article_together_with_a_placeholder() -> None:
    """`a {klass}` gives "a easy case": each class, rating … needs a sentence of its own."""
    with open(ROOT / "locales" / "en" / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    offenders = []
    for message in catalog:
        for text in message.string if isinstance(message.string, tuple) else [message.string]:
            if ARTICLE_BEFORE_PLACEHOLDER.search(text) or CJK.search(text):
                offenders.append(text)
    assert offenders == []


# --- an English neighbourhood, through every step --------------------------------------------

ANN = User(AUNT_ZHANG, "Ann", language="en")
LEE = User(UNCLE_LI, "Lee", language="en")
WANG = User(HEAD_WANG, "Mr Wang", language="en")
ZHAO = User(HEAD_ZHAO, "Ms Zhao", language="en")
LIU = User(WORKER_LIU, "Liu", language="en")
EN_CHATS = {
    B1: ChatRef(B1, "group", "Linxi 1"),
    B2: ChatRef(B2, "group", "Linxi 2"),
    STAFF: ChatRef(STAFF, "group", "Staff"),
    ESCALATION: ChatRef(ESCALATION, "group", "Street office"),
}


class English:
    """The test neighbourhood with English names, chats and language."""

    def __init__(self, w: CoreWorld) -> None:
        self.w = w

    async def say(self, chat_id: int, who: User, text: str) -> None:
        chat = EN_CHATS.get(chat_id) or ChatRef(chat_id, "private")
        await self.w.handle(self.w.message(chat, who, text))

    async def press(self, chat_id: int, who: User, data: str) -> None:
        press = self.w.press_event(chat_id, who.id, data)
        press = replace(press, sender=who, chat=EN_CHATS.get(chat_id, press.chat))
        await self.w.handle(press)

    def texts(self) -> list[str]:
        m = self.w.messenger
        return [s.text for s in m.sent] + [e[2] for e in m.edits] + [a[1] or "" for a in m.answers]


async def sweep(w: CoreWorld) -> overdue.SweepResult:
    with w.repo.transaction():
        result = overdue.sweep(w.svc)
    await w.parts.deliver()
    return result


MISTAKES = [
    (B1, WANG, "/accept abc"),
    (B1, WANG, "/accept"),
    (B1, WANG, "/accept {new} soon"),
    (B1, WANG, "/accept {new} key 2026-02-30 25:99"),
    (B1, WANG, "/accept {new} key 2d extra"),
    (B1, WANG, "/accept {new} key 2020-01-01"),
    (B1, WANG, "/accept {new} 0h"),
    (B1, WANG, "/progress {accepted}"),
    (B1, WANG, "/confirm {accepted}"),
    (B1, WANG, "/fixed {accepted} " + "x" * 1001),
    (B1, WANG, "/case 99999999999999999999"),
    (B1, WANG, "/case x"),
    (B1, WANG, "/event 2026-13-45 25:99 Forum"),
    (B1, WANG, "/event yesterday 19:00 Forum"),
    (B1, WANG, "/event every funday 19:00 Forum"),
    (B1, WANG, "/event tomorrow 19:00 Forum cap=lots remind=soon"),
    (B1, WANG, "/event tomorrow"),
    (B1, WANG, "/remind soon pay the fee"),
    (B1, WANG, "/remind 25:99 pay the fee"),
    (B1, WANG, "/remind 2h"),
    (B1, WANG, "/cancel X9"),
    (B1, WANG, "/events x"),
    (B1, WANG, "/announce"),
    (B1, WANG, "/building"),
    (B1, WANG, "/building " + "x" * 65),
    (B1, WANG, "/unsethead abc"),
    (B1, WANG, "/unsethead"),
    (B1, WANG, "/sethead"),
    (B1, WANG, "/lang fr"),
    (B1, ANN, "/accept {new}"),
    (B1, ANN, "/stats"),
    (B1, ANN, "/report"),
    (B1, ANN, "/report " + "x" * 2001),
    (STAFF, LIU, "/stats yesterday"),
    (STAFF, LIU, "/stats week month"),
    (STAFF, LIU, "/log"),
    (STAFF, LIU, "/log Linxi fax broken"),
    (STAFF, LIU, "/log Nowhere visit broken"),
    (STAFF, LIU, "/rate 1 great"),
    (STAFF, LIU, "/rate 1"),
    (WORKER_LIU, LIU, "/export 2026-13"),
    (WORKER_LIU, LIU, "/export 1999-01"),
    (WORKER_LIU, LIU, "/frobnicate"),
]


async def test_english_readers_read_english_only_without_article_mistakes(tmp_path: Path) -> None:
    w = CoreWorld(tmp_path / "data", language="en", report_limit=0)
    en = English(w)
    try:
        for chat_id in (B1, B2, STAFF, ESCALATION):
            await w.handle(Membership(w._next_update(), EN_CHATS[chat_id], True))
        await en.say(B2, ZHAO, "hello")
        # A case of each class, fixed and rated each way; the unsatisfied one is reopened
        # and escalated from the staff chat.
        plan = [("easy", "s"), ("key", "b"), ("hard", "u"), ("重点", "s")]
        for number, (klass, rating) in enumerate(plan, start=1):
            await en.say(B1, ANN, f"/report The corridor light on floor {number} is broken")
            await en.say(B1, WANG, f"/accept {number} {klass} 2d")
            await en.say(B1, WANG, f"/progress {number} the electrician is called")
            await en.say(B1, WANG, f"/fixed {number} a new bulb")
            await en.press(B1, ANN, f"c1:rate:{number}:{rating}")
            if rating == "u":
                await en.say(STAFF, LIU, f"/escalate {number} needs the street office")
            else:
                await en.say(B1, WANG, f"/confirm {number}")
        # Escalated from the staff card, by itself when overdue, and an accepted one.
        await en.say(B1, LEE, "/report The lift is noisy")  # 5
        await en.press(STAFF, LIU, "c1:esc:5")
        await en.say(B1, LEE, "/report The door does not close")  # 6
        await en.say(B1, ANN, "/report The bins are full")  # 7
        await en.say(B1, WANG, "/accept {new} easy")
        await en.press(B1, LEE, "c1:too:7")
        w.clock.advance(hours=25)
        assert 6 in (await sweep(w)).flagged
        w.clock.advance(hours=25)
        assert 6 in (await sweep(w)).escalated
        # Offline, rated on the follow-up visit.
        await en.say(STAFF, LIU, "/log Linxi1 mailbox the street light is out")  # 8
        await en.say(STAFF, LIU, "/fixed 8 replaced")
        await en.say(STAFF, LIU, "/rate 8 basic")
        # Everything there is to read.
        for number in range(1, 9):
            await en.say(B1, ANN, f"/case {number}")
            await en.say(STAFF, LIU, f"/case {number}")
        for text in ("/mine", "/wall", "/echo", "/heads", "/help", "/start", "/events"):
            await en.say(B1, ANN, text)
        for text in ("/help", "/start", "/stats", "/wall", "/echo"):
            await en.say(STAFF, LIU, text)
        await en.say(B1, WANG, "/help")
        await en.say(WORKER_LIU, LIU, "/export")
        # Announcements, events, reminders.
        await en.say(STAFF, LIU, "/announce The water is off tomorrow morning")
        await en.say(B1, WANG, "/announce Meeting tonight")
        await en.say(STAFF, LIU, "/event tomorrow 19:00 Residents' forum #forum @ Square cap=1")
        await en.press(B1, ANN, "c1:go:1:y")
        await en.press(B1, LEE, "c1:go:1:y")
        await en.press(B1, ANN, "c1:go:1:n")
        await en.say(B1, WANG, "/remind 2h pay the fee")
        await en.say(STAFF, LIU, "/events E1")
        await en.say(STAFF, LIU, "/cancel E1")
        await en.say(B1, LEE, "/report The stairs are dark")
        await en.say(B1, LEE, "/report The gate is broken")
        accepted = max(c.id for c in w.repo.all_cases())
        await en.say(B1, WANG, f"/accept {accepted}")
        await en.say(B1, ANN, "/report The window is stuck")
        new = accepted + 1
        for chat_id, who, text in MISTAKES:
            await en.say(chat_id, who, text.format(new=new, accepted=accepted))
        await w.parts.deliver()
        assert w.failures.describe() == [] and w.messenger.violations == []
        texts = en.texts()
        problems = {text[:120]: english_problems(text) for text in texts}
        assert {k: v for k, v in problems.items() if v} == {}
        joined = "\n".join(parse_html(t)[0] for t in texts)
        for sentence in (
            "accepted as an easy case",
            "accepted as a key case",
            "accepted as a difficult case",
            "Announcement from Liu, community staff",
            "escalated from the staff chat",
            "overdue: escalated automatically",
            "rated · Ann: basically satisfied",
            "accepted · Mr Wang: key case",
            "logged by Liu",
            "No cases were received in 1/1999",
            "“25:99” is not a time of day",
            "“2026-02-30” is not a date",
        ):
            assert sentence in joined, sentence
    finally:
        w.close()


# --- stored codes, and the notes stored before them ------------------------------------------


def legacy_case() -> Case:
    """A case as an older version stored it: the bot's notes worded in Chinese."""
    at = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
    case = Case(1, B1, Channel.GROUP, "楼道灯坏了", at, at + timedelta(hours=24))
    case.timeline = [
        Step(at, "report", 102, "李大爷", "由李大爷代为登记"),
        Step(at, "accept", 201, "王楼长", "重点件"),
        Step(at, "escalate", None, "", "由社区工作群上报"),
        Step(at, "escalate", None, "", "超期未办，自动上报"),
        Step(at, "fixed", 201, "王楼长", "换了灯泡"),
        Step(at, "rate", 101, "张阿姨", "满意"),
        Step(at, "accept", 201, "Mr Wang", "easy case"),
        Step(at, "reopen", 101, "张阿姨", "居民不满意"),
        Step(at, "progress", 201, "王楼长", "满意"),  # typed by a person: shown as typed
    ]
    return case


def test_old_notes_stored_in_chinese_are_shown_in_the_readers_language() -> None:
    """Steps stored before codes hold the bot's notes as worded then; they are recognised
    against each language's wording of what that step could have noted, and worded again."""
    from handlers.commands import STEP_LABELS

    notes = Notes(CATALOGS.get(language) for language in ("zh", "en"))
    case = legacy_case()
    en = [
        parse_html(line)[0]
        for line in timeline(
            case, CATALOGS.get("en"), show_names=True, labels=STEP_LABELS, notes=notes
        )
    ]
    assert [line.split(" ", 5)[-1] for line in en] == [
        "reported · 李大爷: logged by 李大爷",
        "accepted · 王楼长: key case",
        "escalated: escalated from the staff chat",
        "escalated: overdue: escalated automatically",
        "fixed · 王楼长: 换了灯泡",
        "rated · 张阿姨: satisfied",
        "accepted · Mr Wang: easy case",
        "reopened · 张阿姨: the resident is not satisfied",
        "progress · 王楼长: 满意",
    ]
    zh = [
        parse_html(line)[0]
        for line in timeline(
            case, CATALOGS.get("zh"), show_names=True, labels=STEP_LABELS, notes=notes
        )
    ]
    assert zh[1].endswith("已受理 · 王楼长：重点件")
    assert zh[6].endswith("已受理 · Mr Wang：易办件")


async def test_notes_are_stored_as_codes_and_worded_for_each_reader(tmp_path: Path) -> None:
    w = CoreWorld(tmp_path / "data")
    try:
        await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
        await w.say(B1, HEAD_WANG, "/accept 1 重点")
        await w.say(B1, HEAD_WANG, "/fixed 1 换了灯泡")
        await w.press(B1, AUNT_ZHANG, "c1:rate:1:u")
        case = w.repo.get_case(1)
        assert case is not None
        assert [(s.action, s.code, s.note) for s in case.timeline] == [
            ("report", "", ""),
            ("accept", "key", ""),
            ("category", "cat:facility", ""),  # the keyword suggestion, taken on accepting
            ("fixed", "", "换了灯泡"),
            ("rate", "unsatisfied", ""),
            ("reopen", "not-satisfied", ""),
        ]
        zh = await w.say(B1, AUNT_ZHANG, "/case 1")
        shown = parse_html(w.replies_to(zh)[0])[0]
        assert "已受理 · 王楼长：重点件" in shown and "评价 · 张阿姨：不满意" in shown
        en = w.message(ChatRef(AUNT_ZHANG, "private"), ANN, "/case 1")
        await w.handle(en)
        shown = parse_html(w.replies_to(en)[0])[0]
        assert "accepted: key case" in shown and "rated: unsatisfied" in shown
        for typed in ("楼道灯坏了", "换了灯泡", "林溪苑1号楼", "王楼长", "张阿姨"):
            shown = shown.replace(typed, "")
        assert not CJK.search(shown), shown
    finally:
        w.close()


def test_an_announcement_names_its_sender_in_each_groups_language(tmp_path: Path) -> None:
    w = CoreWorld(tmp_path / "data")
    try:
        payload = {"text": "停水", "by": "刘社工", "role": "staff"}
        at = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
        staff = Broadcast(1, BroadcastKind.ANNOUNCE, [B1], at, payload=payload)
        old_payload = {"text": "停水", "by": "社区工作人员 刘社工"}
        old = Broadcast(2, BroadcastKind.ANNOUNCE, [B1], at, payload=old_payload)
        for language, expected in (
            ("zh", "（社区工作人员 刘社工）"),
            ("en", "from 刘社工, community staff"),
        ):
            post = render_announcement(w.svc, staff, B1, CATALOGS.get(language))
            assert expected in parse_html(post.text)[0]
            # Queued by an older version: its sender already worded, shown as it is.
            post = render_announcement(w.svc, old, B1, CATALOGS.get(language))
            assert "社区工作人员 刘社工" in parse_html(post.text)[0]
    finally:
        w.close()


# --- Chinese as Chinese is written -------------------------------------------------------------


def test_chinese_numbers_of_four_digits_have_no_separator() -> None:
    zh, en = CATALOGS.get("zh"), CATALOGS.get("en")
    assert [zh.number(n) for n in (7, 2000, 9999, 12345)] == ["7", "2000", "9999", "12,345"]
    assert en.number(2000) == "2,000"


async def test_chinese_answers_use_full_width_colons_and_plain_numbers(tmp_path: Path) -> None:
    w = CoreWorld(tmp_path / "data")
    try:
        long = await w.say(B1, AUNT_ZHANG, "/report " + "很" * 2345)
        assert w.replies_to(long) == ["内容太长了（2345 个字），请控制在 2000 个字以内。"]
        await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
        await w.say(B1, UNCLE_LI, "/report 电梯异响")
        t = CATALOGS.get("zh")
        cases = [c for i in (1, 2) if (c := w.repo.get_case(i)) is not None]
        together = parse_html(acks_text(w.svc, cases, t))[0]
        assert "#1 张阿姨：楼道灯坏了" in together and ": " not in together
        case = await w.say(B1, AUNT_ZHANG, "/case 1")
        lines = parse_html(w.replies_to(case)[0])[0]
        assert ": " not in lines
    finally:
        w.close()


async def test_the_echo_wall_says_its_heading_once(tmp_path: Path) -> None:
    w = CoreWorld(tmp_path / "data")
    try:
        for n in (1, 2):
            await w.say(B1, AUNT_ZHANG, f"/report 问题{n}")
            await w.say(B1, HEAD_WANG, f"/fixed {n} 已处理")
            await w.say(B1, HEAD_WANG, f"/confirm {n}")
        echo = await w.say(B1, AUNT_ZHANG, "/echo")
        (text,) = w.replies_to(echo)
        assert text.count("📣") == 1 and text.count("回音壁") == 1
        assert "✅ <b>诉求 #2</b>" in text and "✅ <b>诉求 #1</b>" in text
    finally:
        w.close()


async def test_staff_and_escalation_chats_are_welcomed_as_what_they_are(tmp_path: Path) -> None:
    w = CoreWorld(tmp_path / "data")
    try:
        for chat_id in (B1, STAFF, ESCALATION):
            await w.handle(Membership(w._next_update(), CHATS[chat_id], True))
        b1, staff, escalation = (w.messenger.texts_in(c)[-1] for c in (B1, STAFF, ESCALATION))
        assert b1.startswith("👋 大家好，我是社区的“问题墙”和“回音壁”")
        assert staff.startswith("👋 社区工作人员好") and "/log" in staff and "/report" not in staff
        assert escalation.startswith("👋 大家好！") and "上报" in escalation
        start = await w.say(STAFF, WORKER_LIU, "/start")
        assert w.replies_to(start)[0] == staff
    finally:
        w.close()


# --- one deadline, told the same everywhere ----------------------------------------------------


@pytest.mark.parametrize("accepted", [False, True])
async def test_an_escalation_tells_the_deadline_the_card_shows(
    tmp_path: Path, accepted: bool
) -> None:
    """Not yet accepted, the higher level owes an answer (the card: 答复时限); accepted, a
    fix is promised (the card: 承诺办结时间). The echo says the same, with the same time."""
    w = CoreWorld(tmp_path / "data")
    try:
        await w.say(B1, AUNT_ZHANG, "/report 楼顶漏水")
        if accepted:
            await w.say(B1, HEAD_WANG, "/accept 1 easy")
        w.clock.advance(days=3)
        await sweep(w)
        w.clock.advance(days=2)
        assert (await sweep(w)).escalated == [1]
        case = w.repo.get_case(1)
        assert case is not None and case.deadline() is not None
        when = CATALOGS.get("zh").datetime(case.deadline())  # type: ignore[arg-type]
        echo = w.messenger.texts_in(B1)[-1]
        card = parse_html(staff_card_text(w.svc, case, CATALOGS.get("zh")))[0]
        if accepted:
            assert echo.endswith(f"已上报至社区办理，承诺 {when} 前办结。")
            assert f"承诺办结时间：{when}" in card
        else:
            assert echo.endswith(f"已上报至社区办理，将在 {when} 前答复。")
            assert f"答复时限：{when}" in card and "承诺" not in card
    finally:
        w.close()


@pytest.mark.parametrize("language", ["zh", "en"])
def test_each_class_has_a_whole_sentence_of_its_own(language: str) -> None:
    t = CATALOGS.get(language)
    sentences = {
        klass: t.gettext(ACCEPTED_TEXTS[klass]).format(id=1, time="18 Nov") for klass in CaseClass
    }
    for klass, sentence in sentences.items():
        assert t.gettext(CLASS_LABELS[klass]) in sentence
        if language == "en":
            assert english_problems(sentence) == [], sentence
    assert len(set(sentences.values())) == len(CaseClass)
