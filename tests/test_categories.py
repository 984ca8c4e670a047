"""Categories (应受理 / 不受理) and referrals: the suggestion, the staff card's buttons,
/accept and /decline with a category, /category, the figures per category, the configuration.

Driven through the core against the recording messenger (`tests.coreworld`); the same
scenarios run end to end in `tests/test_e2e_cases.py`.
"""

from __future__ import annotations

import io
import re
from dataclasses import replace
from datetime import time, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from bot.config import ConfigError, load_config
from handlers import ledger
from handlers.categories import DEFAULTS, Categories, Category, CategoryError, Referral
from handlers.digests import daily_register
from handlers.ledger import Rate
from handlers.render import RATING_LABELS, STATE_LABELS, category_code
from handlers.stats import category_label, export_workbook, stats_text
from storage.records import Case, Channel, Rating, State, Step
from tests.conftest import AUNT_ZHANG, B1, B2, HEAD_WANG, MS_CHEN, STAFF, UNCLE_LI, WORKER_LIU
from tests.coreworld import CATALOGS, CoreWorld, shown
from tests.test_ledger import LABELS, NOVEMBER, NOW, TZ, case, case_sets, counted

ZH, EN = CATALOGS.get("zh"), CATALOGS.get("en")


def buttons(w: CoreWorld, chat_id: int, message_id: int) -> list[tuple[str, str]]:
    """The buttons a message of the bot shows now (after its latest edit)."""
    keyboard = None
    for sent in w.messenger.sent:
        if sent.chat_id == chat_id and sent.message_id == message_id:
            keyboard = sent.keyboard
    for chat, message, _text, edited in w.messenger.edits:
        if (chat, message) == (chat_id, message_id):
            keyboard = edited
    return [(b.text, b.data) for row in keyboard or () for b in row]


def card_text(w: CoreWorld, message_id: int) -> str:
    text = next(
        s.text for s in w.messenger.sent if (s.chat_id, s.message_id) == (STAFF, message_id)
    )
    for chat, message, edited, _keyboard in w.messenger.edits:
        if (chat, message) == (STAFF, message_id):
            text = edited
    return shown(text)


async def press_card(w: CoreWorld, user_id: int, data: str, case_id: int = 1) -> str | None:
    """Press a button on the case's staff card; the toast it got."""
    card = w.repo.get_case(case_id)
    assert card is not None and card.staff_message_id is not None
    press = replace(w.press_event(STAFF, user_id, data), message_id=card.staff_message_id)
    await w.handle(press)
    answer = w.answer_to(press)
    assert answer is not None
    return answer[0]


def sent_into(w: CoreWorld, chat_id: int) -> int:
    return sum(1 for s in w.messenger.sent if s.chat_id == chat_id)


# --- the suggestion -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("楼道灯坏了", "facility"),
        ("三楼垃圾好几天没人清，有异味", "env"),
        ("水管漏水，楼下天花板渗水", "property"),  # 漏水 水管 渗水 beat 楼下
        ("楼上装修噪音太吵", "dispute"),
        ("楼道里停满电动车，还有飞线充电", "safety"),
        ("独居老人需要助餐", "welfare"),
        ("The lift is broken again", "facility"),
        ("希望装个秋千", None),
    ],
)
def test_the_keywords_suggest_the_likely_category(text: str, code: str | None) -> None:
    guess = DEFAULTS.suggest(text)
    assert (guess.code if guess else None) == code


def test_the_defaults_are_seven_accepted_and_seven_not_each_with_a_referral() -> None:
    assert len(DEFAULTS.accepted) == len(DEFAULTS.not_accepted) == 7
    assert all(DEFAULTS.referral(c.referral) is not None for c in DEFAULTS.not_accepted)
    for t in (ZH, EN):
        names = [c.name(t) for c in DEFAULTS.items] + [r.name(t) for r in DEFAULTS.referrals]
        assert len(set(names)) == len(names)
    assert DEFAULTS.find("环境卫生", [ZH, EN]) is DEFAULTS.get("env")
    assert DEFAULTS.find("Outside this community", [ZH, EN]) is DEFAULTS.get("outside")
    assert DEFAULTS.find_referral("12345", [ZH]) is DEFAULTS.referral("hotline")
    assert DEFAULTS.find_referral("派出所", [ZH]) is DEFAULTS.referral("police")


# --- the staff card -------------------------------------------------------------------------


async def test_the_staff_card_preselects_the_suggestion_and_a_press_sets_the_category(
    w: CoreWorld,
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    case = w.repo.get_case(1)
    assert case is not None and case.category is None and case.staff_message_id is not None
    row = buttons(w, STAFF, case.staff_message_id)
    assert ("💡 公共设施", "c1:cat:1:facility") in row
    assert ("环境卫生", "c1:cat:1:env") in row
    assert "类别：公共设施（系统建议）" in card_text(w, case.staff_message_id)

    groups_before = {chat: sent_into(w, chat) for chat in (B1, STAFF)}
    toast = await press_card(w, WORKER_LIU, "c1:cat:1:env")
    assert toast == "诉求 #1：环境卫生"
    case = w.repo.get_case(1)
    assert case is not None and case.category == "env" and case.state is State.NEW
    assert case.timeline[-1].action == "category" and case.timeline[-1].code == "cat:env"
    # A toast and an edit of the card: no new message anywhere.
    assert {chat: sent_into(w, chat) for chat in (B1, STAFF)} == groups_before
    assert ("✅ 环境卫生", "c1:cat:1:env") in buttons(w, STAFF, case.staff_message_id)
    assert "类别：环境卫生" in card_text(w, case.staff_message_id)

    # Accept takes the category chosen, not the suggestion.
    await press_card(w, WORKER_LIU, "c1:acc:1")
    case = w.repo.get_case(1)
    assert case is not None and (case.state, case.category) == (State.ACCEPTED, "env")


async def test_accept_takes_the_suggestion_or_the_category_typed(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 希望装个秋千")
    await w.say(B1, HEAD_WANG, "/accept 1")
    await w.say(B1, HEAD_WANG, "/accept 2 服务 easy")
    first, second = w.repo.get_case(1), w.repo.get_case(2)
    assert first is not None and first.category == "facility"
    assert second is not None and second.category is None  # 服务 is no category, nor a time
    await w.say(B1, HEAD_WANG, "/accept 2 其他公共服务 easy 3d")
    second = w.repo.get_case(2)
    assert second is not None and (second.category, second.state) == ("service", State.ACCEPTED)


async def test_accept_refuses_a_category_that_is_not_accepted(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 隔壁小区的路灯不亮")
    message = await w.say(B1, HEAD_WANG, "/accept 1 outside")
    (answer,) = w.replies_to(message)
    assert "不受理事项" in shown(answer) and "/decline 1 outside" in shown(answer)
    case = w.repo.get_case(1)
    assert case is not None and case.state is State.NEW and case.category is None


# --- declining: the category and the referral ------------------------------------------------


async def test_decline_on_the_card_offers_the_categories_then_tells_the_resident_where_to_turn(
    w: CoreWorld,
) -> None:
    report = await w.say(B1, AUNT_ZHANG, "/report 我家和房东的租房合同纠纷")
    case = w.repo.get_case(1)
    assert case is not None and case.staff_message_id is not None
    in_b1 = sent_into(w, B1)
    toast = await press_card(w, WORKER_LIU, "c1:dec:1")
    assert toast is not None and "#1" in toast
    offered = buttons(w, STAFF, case.staff_message_id)
    assert [data for _label, data in offered][:7] == [
        f"c1:nac:1:{c.code}" for c in DEFAULTS.not_accepted
    ]
    assert offered[-1] == ("↩ 返回", "c1:card:1")
    assert "为什么不予受理" in card_text(w, case.staff_message_id)

    # Back: the card's own buttons again.
    await press_card(w, WORKER_LIU, "c1:card:1")
    assert buttons(w, STAFF, case.staff_message_id)[0] == ("受理", "c1:acc:1")

    await press_card(w, WORKER_LIU, "c1:dec:1")
    toast = await press_card(w, WORKER_LIU, "c1:nac:1:contract")
    assert toast == "已不予受理：私人合同纠纷。"
    case = w.repo.get_case(1)
    assert case is not None
    assert (case.state, case.category, case.referral) == (State.DECLINED, "contract", "mediate")
    # One echo in the thread, as a reply to the report: the category and where to turn.
    assert sent_into(w, B1) == in_b1 + 1
    (echo,) = w.replies_to(report)[-1:]
    assert shown(echo) == (
        "🚫 诉求 #1 不予受理，类别：私人合同纠纷。\n"
        "建议您向人民调解委员会反映：社区人民调解委员会可帮助双方调解"
    )
    assert buttons(w, STAFF, case.staff_message_id) == []  # declined: nothing more to press
    assert "不予受理：私人合同纠纷" in card_text(w, case.staff_message_id)
    assert "转介至：人民调解委员会" in card_text(w, case.staff_message_id)


async def test_decline_typed_names_category_referral_and_reason(w: CoreWorld) -> None:
    report = await w.say(B1, AUNT_ZHANG, "/report 小区门口马路的红绿灯坏了")
    await w.say(B1, HEAD_WANG, "/decline 1 agency 派出所 交通信号灯归交警管理")
    case = w.repo.get_case(1)
    assert case is not None
    assert (case.state, case.category, case.referral) == (State.DECLINED, "agency", "police")
    assert case.timeline[-1].code == "cat:agency:police"
    assert case.timeline[-1].note == "交通信号灯归交警管理"
    echo = shown(w.replies_to(report)[-1])
    assert echo.splitlines() == [
        "🚫 诉求 #1 不予受理，类别：属其他部门职责。",
        "理由：交通信号灯归交警管理",
        "建议您向辖区派出所反映：到辖区派出所反映；紧急情况请拨打 110",
    ]
    await w.say(STAFF, WORKER_LIU, "/case 1")
    timeline = shown(w.messenger.texts_in(STAFF)[-1])
    assert "不予受理 · 王楼长：属其他部门职责；转介至辖区派出所；交通信号灯归交警管理" in timeline


async def test_a_reason_alone_is_sorted_by_its_words(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 噪音")
    await w.say(B1, HEAD_WANG, "/decline 1 不属于社区")
    case = w.repo.get_case(1)
    assert case is not None and (case.category, case.referral) == ("outside", "hotline")


@pytest.mark.parametrize(
    ("typed", "needle"),
    [
        ("/decline 1", "请在编号后写明类别：court（已进入诉讼、仲裁程序）"),
        ("/decline 1 说不清楚", "请在编号后写明类别"),
        ("/decline 1 env 太远了", "“env”属于应受理事项"),
        ("/decline 1 outside " + "长" * 1001, "太长"),
        ("/category 1", "请写明类别。诉求 #1 可归入：env（环境卫生）"),
        ("/category 1 weird", "“weird”不是诉求类别"),
        ("/category 1 court", "请写明类别"),
    ],
)
async def test_a_bad_category_is_answered_and_changes_nothing(
    w: CoreWorld, typed: str, needle: str
) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 噪音")
    before = w.repo.get_case(1)
    message = await w.say(B1, HEAD_WANG, typed)
    answers = [shown(a) for a in w.replies_to(message)]
    assert any(needle in a for a in answers), answers
    assert w.repo.get_case(1) == before


async def test_a_declined_case_takes_only_a_category_not_accepted(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 噪音")
    await w.say(B1, HEAD_WANG, "/decline 1 outside")
    message = await w.say(STAFF, WORKER_LIU, "/category 1 env")
    assert "只能归入不受理类别" in shown(w.replies_to(message)[0])
    await w.say(STAFF, WORKER_LIU, "/category 1 agency")
    case = w.repo.get_case(1)
    assert case is not None and (case.category, case.referral) == ("agency", "hotline")
    # Reopened after the decline, it is to be sorted again.
    await w.say(STAFF, WORKER_LIU, "/reopen 1 居民补充了情况")
    case = w.repo.get_case(1)
    assert case is not None and case.category is None and case.referral is None


async def test_category_command_corrects_a_case_and_answers_once(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, HEAD_WANG, "/accept 1")
    in_b1 = sent_into(w, B1)
    message = await w.say(B1, HEAD_WANG, "/category 1 安全消防")
    assert [shown(a) for a in w.replies_to(message)] == ["🏷 诉求 #1：类别为“安全消防”。"]
    assert sent_into(w, B1) == in_b1 + 1  # the answer, nothing else into the group
    again = await w.say(B1, HEAD_WANG, "/category 1 safety")
    assert "已是“安全消防”" in shown(w.replies_to(again)[0])


# --- the figures per category ----------------------------------------------------------------


async def test_stats_and_the_daily_register_break_down_by_category(w: CoreWorld) -> None:
    await w.say(B1, AUNT_ZHANG, "/report 楼道灯坏了")
    await w.say(B1, UNCLE_LI, "/report 垃圾没清")
    await w.say(B2, MS_CHEN, "/report 希望装个秋千")
    await w.say(B1, HEAD_WANG, "/report 隔壁小区施工太吵")
    await w.say(B1, HEAD_WANG, "/accept 1")
    await w.say(B1, HEAD_WANG, "/accept 2")
    await w.say(B1, HEAD_WANG, "/fixed 2 已清理")
    await w.say(B1, HEAD_WANG, "/confirm 2")
    await w.say(B1, HEAD_WANG, "/decline 4 outside")
    message = await w.say(STAFF, WORKER_LIU, "/stats")
    text = "\n".join(shown(a) for a in w.replies_to(message))
    part = text[text.index("分类别") :]
    assert "▸ 环境卫生：收到 1 件 · 办结 1 件 · 办理中 0 件" in part
    assert "▸ 公共设施：收到 1 件 · 办结 0 件 · 办理中 1 件" in part
    assert "▸ 未分类：收到 1 件" in part
    assert "▸ 不予受理：不属本社区辖区：1" in part
    assert part.index("环境卫生") < part.index("公共设施") < part.index("未分类")

    daily_register(w.svc, w.clock().astimezone(w.settings.timezone).date(), closes_at=time(20))
    await w.parts.deliver()
    register = shown(w.messenger.texts_in(STAFF)[-1])
    assert "分类别：环境卫生 1 · 公共设施 1 · 不属本社区辖区 1 · 未分类 1" in register


def test_the_workbook_names_categories_and_sums_them() -> None:
    hour = timedelta(hours=1)
    cases = [
        case(1, B1, Channel.GROUP, NOW - 72 * hour, State.CLOSED, answered_after=hour,
             rating=Rating.SATISFIED),
        case(2, B1, Channel.GROUP, NOW - 48 * hour, State.DECLINED, answered_after=hour),
        case(3, B2, Channel.GROUP, NOW - 24 * hour),
    ]  # fmt: skip
    cases[0].category = "env"
    cases[0].assignee_name = "王楼长"
    cases[1].category, cases[1].referral = "outside", "hotline"
    cases[1].timeline = [
        Step(
            NOW - 47 * hour,
            "decline",
            201,
            "王楼长",
            "请拨打热线",
            category_code("outside", "hotline"),
        )
    ]
    data = export_workbook(cases, LABELS, ZH, NOVEMBER, NOW, tz=TZ)
    book = load_workbook(io.BytesIO(data))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    header = rows[0]
    col = {name: header.index(name) for name in ("类别", "责任人", "转介去向")}
    assert [r[col["类别"]] for r in rows[1:]] == ["环境卫生", "不属本社区辖区", None]
    assert rows[1][col["责任人"]] == "王楼长"
    assert rows[2][col["转介去向"]] == "12345 政务服务便民热线"
    summary = list(book.worksheets[2].iter_rows(values_only=True))
    scopes = {(r[0], r[1]): r for r in summary[1:] if r and r[0]}
    assert scopes[("类别", "环境卫生")][2] == 1
    assert scopes[("类别", "未分类")][2] == 1
    assert summary[0][summary[0].index("待评价")] == "待评价"
    # The timeline words the category step as /case does, in plain text.
    (step,) = book.worksheets[1].iter_rows(min_row=2, values_only=True)
    assert step[3:] == ("王楼长", "不属本社区辖区；转介至12345 政务服务便民热线；请拨打热线")


@st.composite
def categorised(draw: st.DrawFn) -> list[Case]:
    """Random cases, each declined one under a category not accepted, the others under an
    accepted one or none (as the handlers leave them)."""
    cases = draw(case_sets())
    for c in cases:
        kind = DEFAULTS.not_accepted if c.state is State.DECLINED else DEFAULTS.accepted
        options = [None, *(k.code for k in kind)] if c.state is not State.DECLINED else []
        options += [k.code for k in kind] if c.state is State.DECLINED else []
        c.category = draw(st.sampled_from(options))
    return cases


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=categorised(), language=st.sampled_from(["zh", "en"]))
def test_figures_per_category_equal_a_recount_from_the_exported_ledger(
    cases: list[Case], language: str
) -> None:
    """For each category (and the cases not categorised): received, declined, closed, open,
    rated, awaiting a rating and the three rates, recounted from the ledger's rows, are the
    figures /stats and the summary sheet give."""
    t = CATALOGS.get(language)
    book = load_workbook(io.BytesIO(export_workbook(cases, LABELS, t, NOVEMBER, NOW, tz=TZ)))
    rows = list(book.worksheets[0].iter_rows(values_only=True))
    header, body = rows[0], [[v if v is not None else "" for v in r] for r in rows[1:]]
    col = {name: header.index(t.gettext(name)) for name in ledger.LEDGER_HEADERS}
    body = counted(body, col["State"], t)  # a merged case counts in no figure
    state_of = {t.gettext(label): state for state, label in STATE_LABELS.items()}
    pleased = {t.gettext(RATING_LABELS[Rating.SATISFIED]), t.gettext(RATING_LABELS[Rating.BASIC])}
    summary = list(book.worksheets[2].iter_rows(values_only=True))
    sheet_header = summary[0]
    sheet = {r[1]: r for r in summary[1:] if r and r[0] == t.gettext("Category")}

    figures = ledger.tally(cases, NOVEMBER, NOW).by_category
    names = {category_label(code, t, DEFAULTS): counts for code, counts in figures.items()}
    # A row's category as the figures name it: the cell, or "not categorised yet" when empty.
    uncategorised = category_label(None, t, DEFAULTS)
    recounted: dict[str, list[list[object]]] = {}
    for row in body:
        recounted.setdefault(str(row[col["Category"]] or uncategorised), []).append(row)
    assert set(recounted) == set(names) == set(sheet)
    for name, mine in recounted.items():
        states = [state_of[r[col["State"]]] for r in mine]
        answered = [r for r in mine if r[col["Answered at"]] != ""]
        accepted = [r for r in answered if state_of[r[col["State"]]] is not State.DECLINED]
        rated = [r for r in mine if r[col["Satisfaction"]] != ""]
        closed = sum(s is State.CLOSED for s in states)
        counts = names[name]
        assert counts.received == len(mine)
        assert counts.declined == sum(s is State.DECLINED for s in states)
        assert counts.closed == closed
        assert counts.open == sum(s in (State.NEW, State.ACCEPTED, State.FIXED, State.REOPENED)
                                  for s in states)  # fmt: skip
        assert counts.rated == len(rated)
        assert counts.unrated == sum(
            s in (State.FIXED, State.CLOSED) and r[col["Satisfaction"]] == ""
            for s, r in zip(states, mine, strict=True)
        )
        assert counts.response_rate == Rate(
            sum(r[col["Answered in time"]] == t.gettext("yes") for r in mine), len(mine)
        )
        assert counts.resolution_rate == Rate(closed, len(accepted))
        assert counts.satisfaction_rate == Rate(
            sum(r[col["Satisfaction"]] in pleased for r in rated), len(rated)
        )
        row = sheet[name]
        assert row[sheet_header.index(t.gettext("Received"))] == len(mine)
        assert row[sheet_header.index(t.gettext("Awaiting a rating"))] == counts.unrated
    text = stats_text(cases, LABELS, t, NOVEMBER, NOW)
    if body:
        assert t.gettext("By category") in text


# --- the configuration ---------------------------------------------------------------------

TOML = """
[[categories]]
code = "green"
accepted = true
zh = "绿化养护"
en = "Greenery"
keywords = ["树", "草坪"]

[[categories]]
code = "far"
accepted = false
zh = "不属本社区"
en = "Not ours"
referral = "street"

[[referrals]]
code = "street"
zh = "街道办事处"
en = "the street office"
contact_zh = "街道便民服务中心，电话 12345678"
contact_en = "the street's service centre, phone 12345678"
aliases = ["街道"]
"""


def test_categories_and_referrals_come_from_the_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "echowall.toml").write_text(TOML, "utf-8")
    lists = load_config().settings().categories
    assert [c.code for c in lists.items] == ["green", "far"]
    assert lists.suggest("门口的树倒了") is lists.get("green")
    assert lists.name("far", ZH) == "不属本社区" and lists.name("far", EN) == "Not ours"
    street = lists.find_referral("街道", [ZH, EN])
    assert street is not None and street.name(ZH) == "街道办事处"
    assert street.contact_text(EN) == "the street's service centre, phone 12345678"


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        (TOML.replace('code = "green"', 'code = "Green1"'), "CATEGORIES_0_CODE"),
        (TOML.replace('referral = "street"', 'referral = "nowhere"'), "nowhere"),
        (TOML.replace("accepted = false", "accepted = true"), "not-accepted"),
        (TOML.replace('code = "far"', 'code = "green"'), "share a code"),
    ],
)
def test_a_bad_category_list_stops_the_start_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, toml: str, needle: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "echowall.toml").write_text(toml, "utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_config()


def test_the_lists_check_themselves() -> None:
    accepted = Category("a", True, "A")
    with pytest.raises(CategoryError):
        Categories((accepted,), ())
    with pytest.raises(CategoryError):
        Categories((accepted, Category("b", False, "B", referral="x")), ())
    ok = Categories((Category("b", False, "B"), accepted), (Referral("x", "X"),))
    assert [c.code for c in ok.items] == ["a", "b"]  # accepted ones first


def test_the_example_configuration_lists_exactly_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """echowall.example.toml shows the built-in lists, commented out: uncommented, they
    configure exactly what the bot uses without them."""
    example = (Path(__file__).resolve().parent.parent / "echowall.example.toml").read_text("utf-8")
    start = example.index("# [[categories]]")
    # The commented TOML, uncommented; the prose between the two lists stays out.
    toml = re.compile(r"# (\[\[|[a-z_]+ = |  |\])")
    lines = example[start:].splitlines()
    lists = "\n".join(line.removeprefix("# ") for line in lines if toml.match(line))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "echowall.toml").write_text(lists, "utf-8")
    configured = load_config().settings().categories
    assert [c.code for c in configured.items] == [c.code for c in DEFAULTS.items]
    for mine, default in zip(configured.items, DEFAULTS.items, strict=True):
        assert (mine.accepted, mine.keywords, mine.referral) == (
            default.accepted,
            default.keywords,
            default.referral,
        )
        assert [mine.name(t) for t in (ZH, EN)] == [default.name(t) for t in (ZH, EN)]
    for mine_r, default_r in zip(configured.referrals, DEFAULTS.referrals, strict=True):
        assert mine_r.code == default_r.code and mine_r.aliases == default_r.aliases
        for t in (ZH, EN):
            assert (mine_r.name(t), mine_r.contact_text(t)) == (
                default_r.name(t),
                default_r.contact_text(t),
            )
