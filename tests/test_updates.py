"""bot/updates.py: what a Telegram update becomes for the core (both adapters share it)."""

from __future__ import annotations

from typing import Any

import pytest
from telegram import Update

from bot import updates
from handlers import incoming


def update(chat_type: str, text: str = "/report 楼道灯坏了") -> Update:
    data: dict[str, Any] = {
        "update_id": 7,
        "message": {
            "message_id": 3,
            "date": 1_796_000_000,
            "chat": {"id": -100, "type": chat_type, "title": "1号楼"},
            "from": {"id": 11, "is_bot": False, "first_name": "张", "language_code": "zh"},
            "text": text,
        },
    }
    return Update.de_json(data, None)  # type: ignore[return-value]


@pytest.mark.parametrize("kind", ["private", "group", "supergroup", "channel"])
def test_every_chat_type_telegram_has_becomes_a_chat_kind(kind: str) -> None:
    event = updates.translate(update(kind))
    assert isinstance(event, incoming.Message)
    assert event.chat.kind == kind
    assert event.chat.is_group == (kind in ("group", "supergroup"))
    assert event.chat.is_private == (kind == "private")


def test_an_update_from_a_chat_type_telegram_adds_later_is_skipped_not_fatal(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert updates.translate(update("forum_space")) is None
    assert "forum_space" in caplog.text


def test_chat_kind_refuses_what_telegram_does_not_send() -> None:
    assert incoming.chat_kind("supergroup") == "supergroup"
    with pytest.raises(ValueError, match="unknown chat type"):
        incoming.chat_kind("Group")
