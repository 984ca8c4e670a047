"""Command, case id, due time and callback data parsing, with property tests of the codec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers import callbacks
from handlers.callbacks import Act
from handlers.parsing import BadTime, case_digits, parse_command, parse_when

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/report 楼道灯坏了", ("report", "楼道灯坏了")),
        ("/Report@EchoWall_Bot  灯", ("report", "灯")),
        ("/report@otherbot 灯", None),
        ("/report", ("report", "")),
        ("/report\n多行\n内容", ("report", "多行\n内容")),
        ("report 灯", None),
        ("/报告 灯", None),
        ("", None),
    ],
)
def test_parse_command(text: str, expected: tuple[str, str] | None) -> None:
    assert parse_command(text, "echowall_bot") == expected


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("17", "17"),
        ("#17", "17"),
        ("＃5", "5"),
        ("0", "0"),
        ("99999999999999999999", "99999999999999999999"),  # no such case, not a mistake
        ("-3", None),
        ("x", None),
        ("１７", None),
        ("#", None),
    ],
)
def test_case_digits(token: str, expected: str | None) -> None:
    assert case_digits(token) == expected


@pytest.mark.parametrize(
    ("tokens", "problems"),
    [
        (["2026-13-45", "25:99"], (("2026-13-45", "date"), ("25:99", "time"))),
        (["2026-02-30"], (("2026-02-30", "date"),)),
        (["2026-12-01", "25:99"], (("25:99", "time"),)),
        (["0h"], (("0h", "zero"),)),
        (["soon"], (("soon", "unknown"),)),
    ],
)
def test_parse_when_names_each_wrong_word(
    tokens: list[str], problems: tuple[tuple[str, str], ...]
) -> None:
    with pytest.raises(BadTime) as raised:
        parse_when(tokens, NOW, TZ)
    assert raised.value.problems == problems


def test_parse_when_relative_and_absolute() -> None:
    assert parse_when(["12h"], NOW, TZ) == (NOW + timedelta(hours=12), 1)
    assert parse_when(["2d", "x"], NOW, TZ) == (NOW + timedelta(days=2), 1)
    assert parse_when(["10m"], NOW, TZ) == (NOW + timedelta(minutes=10), 1)
    when, used = parse_when(["2026-11-23", "09:30"], NOW, TZ)
    assert used == 2 and when == datetime(2026, 11, 23, 9, 30, tzinfo=TZ)


@pytest.mark.parametrize("tokens", [["0h"], ["2026-13-01"], ["2026-11-23", "25:00"], ["soon"], []])
def test_parse_when_rejects_nonsense(tokens: list[str]) -> None:
    with pytest.raises(BadTime):
        parse_when(tokens, NOW, TZ)


@given(st.text(max_size=300))
def test_parse_command_never_crashes(text: str) -> None:
    parsed = parse_command(text, "echowall_bot")
    assert parsed is None or (parsed[0].isascii() and text.startswith("/"))


@given(st.integers(min_value=1, max_value=10**9), st.sampled_from(["s", "b", "u"]))
def test_callback_round_trip_within_64_bytes(case_id: int, rating: str) -> None:
    data = callbacks.encode(Act.RATE, case_id, rating)
    assert len(data.encode()) <= 64
    assert callbacks.decode(data) == callbacks.Callback(Act.RATE, (case_id, rating))


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=-(10**13), max_value=-1))
def test_building_choice_fits_with_supergroup_ids(draft: int, chat: int) -> None:
    data = callbacks.encode(Act.BUILDING, draft, chat)
    assert len(data.encode()) <= 64 and callbacks.decode(data) == callbacks.Callback(
        Act.BUILDING, (draft, chat)
    )


@given(
    st.integers(min_value=1, max_value=10**12),
    st.sampled_from([Act.CATEGORY, Act.NOT_ACCEPTED]),
    st.from_regex(r"[a-z]{1,8}", fullmatch=True),
)
def test_category_buttons_fit_with_any_case_and_code(case_id: int, act: Act, code: str) -> None:
    data = callbacks.encode(act, case_id, code)
    assert len(data.encode()) <= 64
    assert callbacks.decode(data) == callbacks.Callback(act, (case_id, code))


@given(st.text(max_size=200))
def test_decode_refuses_what_we_did_not_make(data: str) -> None:
    decoded = callbacks.decode(data)
    if decoded is not None:
        assert data.startswith("c1:") and callbacks.encode(decoded.action, *decoded.args) == data


# Buttons already posted in chats carry these: the wire format never changes.
POSTED = {
    "c1:too:17": (Act.ME_TOO, (17,)),
    "c1:acc:17": (Act.ACCEPT, (17,)),
    "c1:dec:17": (Act.DECLINE, (17,)),
    "c1:esc:17": (Act.ESCALATE, (17,)),
    "c1:rate:17:s": (Act.RATE, (17, "s")),
    "c1:rate:17:b": (Act.RATE, (17, "b")),
    "c1:rate:17:u": (Act.RATE, (17, "u")),
    "c1:bld:3:-1001234567890": (Act.BUILDING, (3, -1001234567890)),
    "c1:go:4:y": (Act.RSVP, (4, "y")),
    "c1:go:4:n": (Act.RSVP, (4, "n")),
    "c1:cat:17:env": (Act.CATEGORY, (17, "env")),
    "c1:nac:17:outside": (Act.NOT_ACCEPTED, (17, "outside")),
    "c1:card:17": (Act.CARD, (17,)),
    "c1:anon:17": (Act.HIDE, (17,)),
    "c1:pub:17": (Act.PUBLISH, (17,)),
    "c1:adm:-1001234567890": (Act.ADMIT, (-1001234567890,)),
    "c1:ref:-1001234567890": (Act.REFUSE, (-1001234567890,)),
    "c1:same:18:17": (Act.SAME, (18, 17)),
    "c1:diff:18": (Act.NOT_SAME, (18,)),
    "c1:mrg:18:17": (Act.MERGE, (18, 17)),
    "c1:spot:17": (Act.ON_SPOT, (17,)),
    "c1:fgt:29403120:y": (Act.FORGET, (29403120, "y")),
    "c1:fgt:29403120:n": (Act.FORGET, (29403120, "n")),
}


@pytest.mark.parametrize("data", sorted(POSTED))
def test_buttons_already_posted_keep_their_meaning(data: str) -> None:
    action, args = POSTED[data]
    assert callbacks.decode(data) == callbacks.Callback(action, args)
    assert callbacks.encode(action, *args) == data


def test_every_button_action_is_posted_somewhere_in_this_table() -> None:
    assert {action for action, _ in POSTED.values()} == set(Act)
    assert set(callbacks.ARGS) == set(Act)
