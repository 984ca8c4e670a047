"""Tests for localapi: the local Bot API server, driven by real HTTP clients.

Rules are checked with raw aiohttp calls (exact Telegram error codes and
descriptions); python-telegram-bot and aiogram are then pointed at the server to
prove their parsers accept everything it returns.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import telegram
from aiogram import Bot as AiogramBot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from aiogram.types import BufferedInputFile
from aiogram.types import InlineKeyboardButton as AioButton
from aiogram.types import InlineKeyboardMarkup as AioMarkup
from telegram.error import BadRequest, ChatMigrated, Forbidden, RetryAfter

from localapi import NOT_MODIFIED, LocalBotAPI, RateLimits, SentRecord, parse_html

TOKEN = "123456:TEST"
ALICE = 1001  # group creator
BOB = 1002  # group admin
CAROL = 1003  # plain member, never started the bot
GROUP = -500
SUPER = -1009876

Reply = tuple[int, dict[str, Any]]

KEYBOARD = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}


def populate(api: LocalBotAPI) -> None:
    api.add_user(ALICE, "Alice", username="alice", language_code="en")
    api.add_user(BOB, "Bob", last_name="Builder")
    api.add_user(CAROL, "Carol")
    api.add_chat(ALICE, "private")
    api.add_chat(BOB, "private")
    api.add_chat(
        GROUP, "group", title="Yard", members=[ALICE, BOB, CAROL], admins=[BOB], creator=ALICE
    )


@pytest_asyncio.fixture
async def server() -> AsyncIterator[LocalBotAPI]:
    api = LocalBotAPI(TOKEN)
    await api.start()
    populate(api)
    try:
        yield api
    finally:
        await api.stop()


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def call(http: aiohttp.ClientSession, api: LocalBotAPI, method: str, **params: Any) -> Reply:
    """POST a Bot API call as JSON; returns (HTTP status, envelope)."""
    async with http.post(f"{api.url}/bot{api.token}/{method}", json=params) as resp:
        return resp.status, await resp.json()


async def ok(http: aiohttp.ClientSession, api: LocalBotAPI, method: str, **params: Any) -> Any:
    status, body = await call(http, api, method, **params)
    assert status == 200 and body["ok"] is True, body
    return body["result"]


def assert_error(reply: Reply, code: int, description: str) -> dict[str, Any]:
    status, body = reply
    assert status == code, body
    assert body["ok"] is False
    assert body["error_code"] == code
    assert body["description"] == description
    return body


# ---------------------------------------------------------------------- protocol


@pytest.mark.asyncio
async def test_envelope_token_and_method_lookup(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/bot999:WRONG/getMe") as resp:
        assert resp.status == 401
        assert await resp.json() == {
            "ok": False,
            "error_code": 401,
            "description": "Unauthorized",
        }
    assert_error(await call(http, server, "sendTelepathy"), 404, "Not Found: method not found")
    # Method names are case-insensitive; GET with a query string works too.
    async with http.get(f"{server.url}/bot{TOKEN}/GETME?x=1") as resp:
        body = await resp.json()
    assert body["ok"] is True
    assert body["result"]["id"] == 123456 and body["result"]["is_bot"] is True
    assert body["result"]["username"] == "echowall_bot"
    assert ("getme", pytest.approx(time.monotonic(), abs=5)) in server.calls
    assert [e.code for e in server.errors] == [401, 404]
    assert await ok(http, server, "deleteWebhook", drop_pending_updates=True) is True
    info = await ok(http, server, "getWebhookInfo")
    assert info == {"url": "", "has_custom_certificate": False, "pending_update_count": 0}
    assert await ok(http, server, "logOut") is True
    assert await ok(http, server, "close") is True
    assert await ok(http, server, "setMyDescription", description="d") is True
    assert await ok(http, server, "setMyShortDescription", short_description="s") is True


@pytest.mark.asyncio
async def test_every_parameter_encoding(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    base = f"{server.url}/bot{TOKEN}/sendMessage"
    async with http.get(base, params={"chat_id": str(ALICE), "text": "query"}) as resp:
        assert (await resp.json())["ok"]
    form = {"chat_id": str(GROUP), "text": "form", "reply_markup": json.dumps(KEYBOARD)}
    async with http.post(base, data=form) as resp:
        assert (await resp.json())["result"]["reply_markup"] == KEYBOARD
    multipart = aiohttp.FormData()
    multipart.add_field("chat_id", str(GROUP))
    multipart.add_field("caption", "multi")
    multipart.add_field("document", b"abc", filename="a.csv", content_type="text/csv")
    async with http.post(f"{server.url}/bot{TOKEN}/sendDocument", data=multipart) as resp:
        document = (await resp.json())["result"]["document"]
    assert document["file_name"] == "a.csv" and document["file_size"] == 3
    await ok(http, server, "sendMessage", chat_id=ALICE, text="json", disable_notification=True)
    assert [(r.method, r.text) for r in server.sent] == [
        ("sendMessage", "query"),
        ("sendMessage", "form"),
        ("sendDocument", "multi"),
        ("sendMessage", "json"),
    ]
    assert server.sent[1].reply_markup == KEYBOARD
    assert server.sent[2].document_bytes == b"abc" and server.sent[2].document_name == "a.csv"
    # A known file_id can be sent again without uploading.
    again = await ok(http, server, "sendDocument", chat_id=ALICE, document=document["file_id"])
    assert again["document"]["file_id"] == document["file_id"]
    assert server.sent[-1].document_bytes == b"abc"
    assert_error(
        await call(http, server, "sendDocument", chat_id=ALICE, document="nonsense"),
        400,
        "Bad Request: wrong file identifier/HTTP URL specified",
    )
    assert_error(
        await call(http, server, "sendPhoto", chat_id=ALICE),
        400,
        "Bad Request: there is no photo in the request",
    )


# ---------------------------------------------------------------------- HTML


def test_html_is_parsed_into_entities() -> None:
    text, entities = parse_html(
        '<b>Hi</b> 😀<a href="https://e.x/?a=1&amp;b=2">link</a> &lt;3&#33;\n'
        '<pre><code class="language-python">x = 1</code></pre>'
        "<blockquote expandable>q</blockquote>"
        '<span class="tg-spoiler">s</span><tg-spoiler>t</tg-spoiler>'
        '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji><code>c</code><u>u</u>'
    )
    assert text == "Hi 😀link <3!\nx = 1qst👍cu"
    assert entities == [
        {"type": "bold", "offset": 0, "length": 2},
        {"type": "text_link", "offset": 5, "length": 4, "url": "https://e.x/?a=1&b=2"},
        {"type": "pre", "offset": 14, "length": 5, "language": "python"},
        {"type": "expandable_blockquote", "offset": 19, "length": 1},
        {"type": "spoiler", "offset": 20, "length": 1},
        {"type": "spoiler", "offset": 21, "length": 1},
        {
            "type": "custom_emoji",
            "offset": 22,
            "length": 2,
            "custom_emoji_id": "5368324170671202286",
        },
        {"type": "code", "offset": 24, "length": 1},
        {"type": "underline", "offset": 25, "length": 1},
    ]


def test_a_link_to_a_user_is_a_mention_of_them() -> None:
    text, entities = parse_html('Also for: <a href="tg://user?id=102">李大爷</a>')
    assert text == "Also for: 李大爷"
    assert entities == [
        {
            "type": "text_mention",
            "offset": 10,
            "length": 3,
            "user": {"id": 102, "is_bot": False, "first_name": ""},
        }
    ]
    # Anything else after tg:// stays a link.
    assert parse_html('<a href="tg://resolve?domain=x">x</a>')[1][0]["type"] == "text_link"


def test_lenient_ampersand_matches_real_telegram() -> None:
    assert parse_html("Tom & Jerry &copy;", strict_ampersand=False) == ("Tom & Jerry &copy;", [])


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("<x>hi</x>", 'Unsupported start tag "x" at byte offset 0'),
        ("<b>hi</i>", 'Unmatched end tag at byte offset 5, expected "</b>", found "</i>"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<b>hi", 'Can\'t find end tag corresponding to start tag "b"'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("ж <script>", 'Unsupported start tag "script" at byte offset 3'),
        ("a <b", "Unclosed start tag at byte offset 2"),
        ("hi</b>", "Unexpected end tag at byte offset 2"),
        ("<span>x</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("Tom & Jerry", 'Character "&" at byte offset 4 must be escaped as "&amp;"'),
        ("&nbsp;", 'Character "&" at byte offset 0 must be escaped as "&amp;"'),
    ],
)
@pytest.mark.asyncio
async def test_html_errors_are_rejected_like_telegram(
    server: LocalBotAPI, http: aiohttp.ClientSession, html: str, problem: str
) -> None:
    reply = await call(http, server, "sendMessage", chat_id=ALICE, text=html, parse_mode="HTML")
    assert_error(reply, 400, f"Bad Request: can't parse entities: {problem}")
    assert server.sent == []
    assert server.errors[-1].method == "sendMessage" and server.errors[-1].params["text"] == html


@pytest.mark.asyncio
async def test_plain_text_is_taken_as_is(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    msg = await ok(http, server, "sendMessage", chat_id=ALICE, text="1 < 2 & <b>")
    assert msg["text"] == "1 < 2 & <b>" and "entities" not in msg
    assert_error(
        await call(http, server, "sendMessage", chat_id=ALICE, text="x", parse_mode="BBCode"),
        400,
        "Bad Request: unsupported parse_mode",
    )


@pytest.mark.asyncio
async def test_lengths_are_measured_after_parsing_in_utf16(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    async def send(text: str | None, **extra: Any) -> Reply:
        params = {"chat_id": ALICE, **extra}
        if text is not None:
            params["text"] = text
        return await call(http, server, "sendMessage", **params)

    empty = "Bad Request: message text is empty"
    too_long = "Bad Request: message is too long"
    assert_error(await send(None), 400, empty)
    assert_error(await send("  \n "), 400, empty)
    assert_error(await send("<b></b>", parse_mode="HTML"), 400, empty)
    assert (await send("a" * 4096))[0] == 200
    assert_error(await send("a" * 4097), 400, too_long)
    assert (await send("😀" * 2048))[0] == 200  # 4096 UTF-16 code units
    assert_error(await send("😀" * 2049), 400, too_long)
    assert (await send("<b>" + "a" * 4096 + "</b>", parse_mode="HTML"))[0] == 200
    assert (await send("&amp;" * 4096, parse_mode="HTML"))[0] == 200

    async def document(caption: str) -> Reply:
        form = aiohttp.FormData()
        form.add_field("chat_id", str(ALICE))
        form.add_field("caption", caption)
        form.add_field("document", b"x", filename="x.txt")
        async with http.post(f"{server.url}/bot{TOKEN}/sendDocument", data=form) as resp:
            return resp.status, await resp.json()

    assert (await document("c" * 1024))[0] == 200
    assert_error(await document("c" * 1025), 400, "Bad Request: message caption is too long")


@pytest.mark.parametrize(
    ("button", "description"),
    [
        ({"text": "a", "callback_data": "x" * 65}, "Bad Request: BUTTON_DATA_INVALID"),
        ({"text": "a", "callback_data": "я" * 33}, "Bad Request: BUTTON_DATA_INVALID"),
        ({"text": "a", "callback_data": ""}, "Bad Request: BUTTON_DATA_INVALID"),
        (
            {"text": "a"},
            "Bad Request: can't parse inline keyboard button: "
            "Text buttons are unallowed in the inline keyboard",
        ),
        (
            {"text": "a", "callback_data": "x", "url": "https://e.x"},
            "Bad Request: can't parse inline keyboard button: "
            "exactly one of the optional fields must be used",
        ),
        (
            {"callback_data": "x"},
            'Bad Request: can\'t parse inline keyboard button: Field "text" must be of type String',
        ),
    ],
)
@pytest.mark.asyncio
async def test_inline_keyboard_rules(
    server: LocalBotAPI, http: aiohttp.ClientSession, button: dict[str, Any], description: str
) -> None:
    markup = {"inline_keyboard": [[button]]}
    reply = await call(http, server, "sendMessage", chat_id=ALICE, text="t", reply_markup=markup)
    assert_error(reply, 400, description)


@pytest.mark.asyncio
async def test_callback_data_limit_is_bytes(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    markup = {"inline_keyboard": [[{"text": "a", "callback_data": "я" * 32}]]}
    await ok(http, server, "sendMessage", chat_id=ALICE, text="t", reply_markup=markup)
    assert_error(
        await call(http, server, "sendMessage", chat_id=ALICE, text="t", reply_markup="{oops"),
        400,
        "Bad Request: can't parse reply keyboard markup JSON object",
    )


# ---------------------------------------------------------------------- edits, replies, pins


@pytest.mark.asyncio
async def test_edit_rules(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    not_modified = f"Bad Request: {NOT_MODIFIED}"
    sent = await ok(http, server, "sendMessage", chat_id=GROUP, text="v1", reply_markup=KEYBOARD)
    mid = sent["message_id"]
    same = {"chat_id": GROUP, "message_id": mid, "text": "v1", "reply_markup": KEYBOARD}
    assert_error(await call(http, server, "editMessageText", **same), 400, not_modified)
    # Formatting is content: the same letters in bold are a modification.
    bold = await ok(
        http, server, "editMessageText", **{**same, "text": "<b>v1</b>"}, parse_mode="HTML"
    )
    assert bold["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    assert bold["edit_date"] >= sent["date"]
    # Omitting reply_markup removes the keyboard, as on Telegram.
    await ok(http, server, "editMessageText", chat_id=GROUP, message_id=mid, text="v2")
    current = server.message(GROUP, mid)
    assert current is not None and current["text"] == "v2" and "reply_markup" not in current
    assert_error(
        await call(http, server, "editMessageReplyMarkup", chat_id=GROUP, message_id=mid),
        400,
        not_modified,
    )
    await ok(
        http, server, "editMessageReplyMarkup", chat_id=GROUP, message_id=mid, reply_markup=KEYBOARD
    )
    assert server.message(GROUP, mid)["reply_markup"] == KEYBOARD  # type: ignore[index]
    assert_error(
        await call(http, server, "editMessageText", chat_id=GROUP, message_id=999, text="x"),
        400,
        "Bad Request: message to edit not found",
    )
    theirs = server.user_message(GROUP, ALICE, "mine")
    assert_error(
        await call(
            http,
            server,
            "editMessageText",
            chat_id=GROUP,
            message_id=theirs["message_id"],
            text="x",
        ),
        400,
        "Bad Request: message can't be edited",
    )
    assert [r.method for r in server.sent] == [
        "sendMessage",
        "editMessageText",
        "editMessageText",
        "editMessageReplyMarkup",
    ]
    assert server.sent[2].reply_markup is None


@pytest.mark.asyncio
async def test_caption_edits(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    form = aiohttp.FormData()
    form.add_field("chat_id", str(ALICE))
    form.add_field("caption", "old")
    form.add_field("photo", b"\x89PNG", filename="p.png")
    async with http.post(f"{server.url}/bot{TOKEN}/sendPhoto", data=form) as resp:
        photo = (await resp.json())["result"]
    assert [p["width"] for p in photo["photo"]] == [90, 320, 800]
    assert server.sent[-1].photo is True and server.sent[-1].text == "old"
    # An uploaded photo is kept, so tests can check which image arrived.
    assert (server.sent[-1].document_name, server.sent[-1].document_bytes) == ("p.png", b"\x89PNG")
    mid = photo["message_id"]
    assert_error(
        await call(http, server, "editMessageText", chat_id=ALICE, message_id=mid, text="x"),
        400,
        "Bad Request: there is no text in the message to edit",
    )
    edited = await ok(
        http, server, "editMessageCaption", chat_id=ALICE, message_id=mid, caption="new"
    )
    assert edited["caption"] == "new"
    assert_error(
        await call(
            http, server, "editMessageCaption", chat_id=ALICE, message_id=mid, caption="new"
        ),
        400,
        f"Bad Request: {NOT_MODIFIED}",
    )


def test_a_user_names_someone_by_a_text_mention(server: LocalBotAPI) -> None:
    """Someone picked from the list (a user without a username) is a `text_mention` entity
    carrying the user; the offsets count UTF-16 units, like Telegram's."""
    message = server.user_message(GROUP, ALICE, "/assign 𝕏 Bob Builder", mentions=[BOB])
    command, mention = message["entities"]
    assert command == {"type": "bot_command", "offset": 0, "length": 7}
    assert mention["type"] == "text_mention" and mention["user"]["id"] == BOB
    assert (mention["offset"], mention["length"]) == (11, 11)
    with pytest.raises(ValueError):
        server.user_message(GROUP, ALICE, "/assign 17 somebody", mentions=[CAROL])


@pytest.mark.asyncio
async def test_reply_rules(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    first = server.user_message(GROUP, ALICE, "question")
    second = server.user_message(GROUP, BOB, "re: question", reply_to=first["message_id"])
    assert second["reply_to_message"]["message_id"] == first["message_id"]
    answer = await ok(
        http,
        server,
        "sendMessage",
        chat_id=GROUP,
        text="answer",
        reply_parameters={"message_id": second["message_id"]},
    )
    # Nested once only: the replied message loses its own reply_to_message.
    assert answer["reply_to_message"]["message_id"] == second["message_id"]
    assert "reply_to_message" not in answer["reply_to_message"]
    assert server.sent[-1].reply_to_message_id == second["message_id"]
    # Bot messages share the chat's message-id counter with user messages.
    assert answer["message_id"] == second["message_id"] + 1
    missing = "Bad Request: message to be replied not found"
    assert_error(
        await call(http, server, "sendMessage", chat_id=GROUP, text="x", reply_to_message_id=77),
        400,
        missing,
    )
    assert_error(
        await call(
            http,
            server,
            "sendMessage",
            chat_id=GROUP,
            text="x",
            reply_parameters={"message_id": 77},
        ),
        400,
        missing,
    )
    lenient = await ok(
        http,
        server,
        "sendMessage",
        chat_id=GROUP,
        text="x",
        reply_parameters={"message_id": 77, "allow_sending_without_reply": True},
    )
    assert "reply_to_message" not in lenient
    await ok(
        http,
        server,
        "sendMessage",
        chat_id=GROUP,
        text="x",
        reply_to_message_id=77,
        allow_sending_without_reply=True,
    )
    assert server.sent[-1].reply_to_message_id is None


@pytest.mark.asyncio
async def test_chat_access_rules(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    async def send(chat_id: Any) -> Reply:
        return await call(http, server, "sendMessage", chat_id=chat_id, text="hi")

    assert_error(await send(-42), 400, "Bad Request: chat not found")
    assert_error(await send("@nobody"), 400, "Bad Request: chat not found")
    assert_error(
        await call(http, server, "sendMessage", text="hi"), 400, "Bad Request: chat_id is empty"
    )
    # Carol exists but never started the bot.
    initiate = "Forbidden: bot can't initiate conversation with a user"
    assert_error(await send(CAROL), 403, initiate)
    server.add_user(2001, "Dave")
    server.add_chat(2001, "private", bot_status="left")
    assert_error(await send(2001), 403, initiate)
    server.add_user(2002, "Eve")
    server.add_chat(2002, "private", bot_status="kicked")
    assert_error(await send(2002), 403, "Forbidden: bot was blocked by the user")
    # Writing to the bot starts the private chat.
    server.user_message(CAROL, CAROL, "/start")
    assert (await send(CAROL))[0] == 200
    server.add_chat(-77, "supergroup", title="Elsewhere", members=[ALICE], bot_status="left")
    assert_error(await send(-77), 403, "Forbidden: bot is not a member of the supergroup chat")


@pytest.mark.asyncio
async def test_pin_rights(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    mid = (await ok(http, server, "sendMessage", chat_id=GROUP, text="rules"))["message_id"]
    server.set_bot_can_pin(GROUP, False)
    assert_error(
        await call(http, server, "pinChatMessage", chat_id=GROUP, message_id=mid),
        400,
        "Bad Request: not enough rights to manage pinned messages in the chat",
    )
    assert server.pinned(GROUP) is None
    server.set_bot_can_pin(GROUP, True)
    assert await ok(http, server, "pinChatMessage", chat_id=GROUP, message_id=mid) is True
    assert server.pinned(GROUP) == mid
    assert_error(
        await call(http, server, "pinChatMessage", chat_id=GROUP, message_id=999),
        400,
        "Bad Request: message to pin not found",
    )
    chat = await ok(http, server, "getChat", chat_id=GROUP)
    assert chat["pinned_message"]["message_id"] == mid
    assert await ok(http, server, "unpinChatMessage", chat_id=GROUP) is True
    assert server.pinned(GROUP) is None
    private = (await ok(http, server, "sendMessage", chat_id=ALICE, text="p"))["message_id"]
    await ok(http, server, "pinChatMessage", chat_id=ALICE, message_id=private)
    assert server.pinned(ALICE) == private


@pytest.mark.asyncio
async def test_delete_rules(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    own = (await ok(http, server, "sendMessage", chat_id=GROUP, text="x"))["message_id"]
    theirs = server.user_message(GROUP, ALICE, "y")["message_id"]
    assert_error(
        await call(http, server, "deleteMessage", chat_id=GROUP, message_id=theirs),
        400,
        "Bad Request: message can't be deleted",
    )
    await ok(http, server, "deleteMessage", chat_id=GROUP, message_id=own)
    assert server.message(GROUP, own) is None
    assert_error(
        await call(http, server, "deleteMessage", chat_id=GROUP, message_id=own),
        400,
        "Bad Request: message to delete not found",
    )
    server.set_admin(GROUP, server.bot_id)
    await ok(http, server, "deleteMessage", chat_id=GROUP, message_id=theirs)
    assert [m["message_id"] for m in server.messages(GROUP)] == []


@pytest.mark.asyncio
async def test_callback_queries(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    mid = (
        await ok(http, server, "sendMessage", chat_id=GROUP, text="vote", reply_markup=KEYBOARD)
    )["message_id"]
    query_id = server.press(GROUP, mid, BOB, "yes")
    updates = await ok(http, server, "getUpdates", timeout=0)
    query = updates[-1]["callback_query"]
    assert query["id"] == query_id and query["data"] == "yes" and query["from"]["id"] == BOB
    assert query["message"]["message_id"] == mid and query["chat_instance"]
    too_old = "Bad Request: query is too old and response timeout expired or query ID is invalid"
    assert_error(
        await call(http, server, "answerCallbackQuery", callback_query_id=query_id, text="x" * 201),
        400,
        "Bad Request: MESSAGE_TOO_LONG",
    )
    # A refused answer does not use up the query.
    assert_error(
        await call(http, server, "answerCallbackQuery", callback_query_id=query_id, cache_time="x"),
        400,
        "Bad Request: invalid cache_time specified",
    )
    assert query_id not in server.callback_answers
    await ok(
        http,
        server,
        "answerCallbackQuery",
        callback_query_id=query_id,
        text="Done",
        show_alert=True,
    )
    assert server.callback_answers[query_id]["text"] == "Done"
    assert server.callback_answers[query_id]["show_alert"] is True
    assert_error(
        await call(http, server, "answerCallbackQuery", callback_query_id=query_id), 400, too_old
    )
    assert_error(
        await call(http, server, "answerCallbackQuery", callback_query_id="123"), 400, too_old
    )


# ---------------------------------------------------------------------- updates


@pytest.mark.asyncio
async def test_long_polling_wakes_up_and_confirms(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(ok(http, server, "getUpdates", timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done()
    sent = server.user_message(GROUP, ALICE, "/report@echowall_bot leaking roof")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1.5
    assert len(updates) == 1
    message = updates[0]["message"]
    assert message == sent
    assert message["from"] == {
        "id": ALICE,
        "is_bot": False,
        "first_name": "Alice",
        "username": "alice",
        "language_code": "en",
    }
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 20}]
    assert message["chat"] == {"id": GROUP, "type": "group", "title": "Yard"}
    # Not confirmed yet: delivered again; confirmed by offset: gone.
    again = await ok(http, server, "getUpdates", timeout=0)
    assert [u["update_id"] for u in again] == [updates[0]["update_id"]]
    assert await ok(http, server, "getUpdates", offset=updates[0]["update_id"] + 1) == []
    assert server.pending_updates() == []
    # allowed_updates filters, and is remembered for later calls.
    server.user_message(GROUP, ALICE, "ignored")
    mid = (await ok(http, server, "sendMessage", chat_id=GROUP, text="b", reply_markup=KEYBOARD))[
        "message_id"
    ]
    server.press(GROUP, mid, ALICE, "yes")
    filtered = await ok(http, server, "getUpdates", allowed_updates=["callback_query"])
    assert [next(k for k in u if k != "update_id") for u in filtered] == ["callback_query"]
    server.edit_user_message(GROUP, sent["message_id"], "fixed")  # not an allowed type
    confirm = filtered[-1]["update_id"] + 1
    assert await ok(http, server, "getUpdates", offset=confirm) == []
    # An empty list restores the default set.
    server.user_message(GROUP, BOB, "visible again")
    restored = await ok(http, server, "getUpdates", allowed_updates=[])
    assert [u["message"]["text"] for u in restored] == ["visible again"]
    assert_error(
        await call(http, server, "getUpdates", allowed_updates=[{"message": True}]),
        400,
        "Bad Request: can't parse allowed updates JSON object",
    )
    assert server.internal_errors == []


@pytest.mark.asyncio
async def test_second_poller_terminates_the_first(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    first = asyncio.create_task(call(http, server, "getUpdates", timeout=3))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(call(http, server, "getUpdates", timeout=0))
    assert_error(
        await asyncio.wait_for(first, 2),
        409,
        "Conflict: terminated by other getUpdates request; "
        "make sure that only one bot instance is running",
    )
    assert (await second)[1]["result"] == []


@pytest.mark.asyncio
async def test_stop_releases_pending_long_polls(http: aiohttp.ClientSession) -> None:
    api = LocalBotAPI(TOKEN)
    await api.start()
    poll = asyncio.create_task(ok(http, api, "getUpdates", timeout=30))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    await api.stop()
    assert await asyncio.wait_for(poll, 2) == []
    assert time.monotonic() - started < 1.5
    with pytest.raises(RuntimeError):
        _ = api.url


@pytest.mark.asyncio
async def test_service_messages_and_user_photos(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    server.add_user(3001, "Newbie")
    joined = server.service_message(GROUP, ALICE, new_chat_members=[3001])
    assert joined["new_chat_members"][0]["first_name"] == "Newbie"
    member = await ok(http, server, "getChatMember", chat_id=GROUP, user_id=3001)
    assert member["status"] == "member"
    photo = server.user_message(GROUP, BOB, photo=True, caption="/report wall")
    assert photo["caption_entities"][0]["type"] == "bot_command" and len(photo["photo"]) == 3
    anonymous = server.user_message(GROUP, BOB, "anon", sender_chat_id=GROUP, message_thread_id=5)
    assert anonymous["sender_chat"]["id"] == GROUP and anonymous["from"]["is_bot"] is True
    kinds = [u["message"] for u in await ok(http, server, "getUpdates")]
    assert [m["message_id"] for m in kinds] == [
        joined["message_id"],
        photo["message_id"],
        anonymous["message_id"],
    ]


@pytest.mark.asyncio
async def test_users_send_albums_places_and_voice_messages(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    """An album is one message per photo with one media_group_id (the caption on one); a
    venue carries its location too; a voice message has a file_id the bot may send again."""
    first = server.user_message(GROUP, BOB, photo=True, caption="/report wall", media_group_id="7")
    second = server.user_message(GROUP, BOB, photo=True, media_group_id="7")
    assert first["media_group_id"] == second["media_group_id"] == "7"
    assert "caption" not in second and second["message_id"] == first["message_id"] + 1
    assert first["photo"][-1]["file_id"] != second["photo"][-1]["file_id"]
    pin = server.user_message(GROUP, BOB, location=(31.23, 121.47))
    assert pin["location"] == {"latitude": 31.23, "longitude": 121.47} and "text" not in pin
    venue = server.user_message(GROUP, BOB, venue=(31.2, 121.4, "小区东门", "林溪路 1 号"))
    assert venue["venue"]["title"] == "小区东门" and venue["location"]["latitude"] == 31.2
    voice = server.user_message(GROUP, BOB, voice=True, caption="/report 听听")
    assert voice["voice"]["mime_type"] == "audio/ogg" and voice["caption"] == "/report 听听"
    video = server.user_message(GROUP, BOB, video=True)
    assert video["video"]["duration"] == 3
    updates = [u["message"] for u in await ok(http, server, "getUpdates")]
    assert [m["message_id"] for m in updates] == [
        m["message_id"] for m in (first, second, pin, venue, voice, video)
    ]
    # The bot may send a user's photo again by its file_id, as a reply.
    again = await ok(
        http,
        server,
        "sendPhoto",
        chat_id=GROUP,
        photo=second["photo"][-1]["file_id"],
        caption="after",
        reply_parameters={"message_id": first["message_id"]},
    )
    assert again["photo"][0]["file_id"] == second["photo"][-1]["file_id"]
    assert again["reply_to_message"]["message_id"] == first["message_id"]
    with pytest.raises(ValueError):
        server.user_message(GROUP, BOB)


# ---------------------------------------------------------------------- membership


@pytest.mark.asyncio
async def test_kick_and_readd(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    server.remove_bot_from_chat(GROUP, ALICE)
    (update,) = await ok(http, server, "getUpdates")
    change = update["my_chat_member"]
    assert change["chat"]["id"] == GROUP and change["from"]["id"] == ALICE
    assert change["old_chat_member"]["status"] == "member"
    assert change["new_chat_member"] == {
        "status": "kicked",
        "user": server.bot_user,
        "until_date": 0,
    }
    assert_error(
        await call(http, server, "sendMessage", chat_id=GROUP, text="hello?"),
        403,
        "Forbidden: bot was kicked from the group chat",
    )
    # Messages in a chat the bot is not in are not delivered.
    server.user_message(GROUP, ALICE, "behind your back")
    server.add_bot_to_chat(GROUP, BOB, as_admin=True)
    updates = await ok(http, server, "getUpdates", offset=update["update_id"] + 1)
    assert updates[0]["my_chat_member"]["new_chat_member"]["status"] == "administrator"
    assert updates[1]["message"]["new_chat_members"] == [server.bot_user]
    assert len(updates) == 2
    await ok(http, server, "sendMessage", chat_id=GROUP, text="back")
    assert await ok(http, server, "leaveChat", chat_id=GROUP) is True
    assert_error(
        await call(http, server, "sendMessage", chat_id=GROUP, text="x"),
        403,
        "Forbidden: bot is not a member of the group chat",
    )


@pytest.mark.asyncio
async def test_migration_to_supergroup(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    server.set_admin(GROUP, server.bot_id)
    new_chat = server.migrate_to_supergroup(GROUP, SUPER)
    assert new_chat == {"id": SUPER, "type": "supergroup", "title": "Yard"}
    updates = await ok(http, server, "getUpdates")
    assert updates[0]["message"]["chat"]["id"] == GROUP
    assert updates[0]["message"]["migrate_to_chat_id"] == SUPER
    assert updates[1]["message"]["chat"] == new_chat
    assert updates[1]["message"]["migrate_from_chat_id"] == GROUP
    body = assert_error(
        await call(http, server, "sendMessage", chat_id=GROUP, text="x"),
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
    )
    assert body["parameters"] == {"migrate_to_chat_id": SUPER}
    await ok(http, server, "sendMessage", chat_id=SUPER, text="x")
    admin = await ok(http, server, "getChatMember", chat_id=SUPER, user_id=server.bot_id)
    assert admin["status"] == "administrator"


# ---------------------------------------------------------------------- flood control & faults


@pytest.mark.asyncio
async def test_group_rate_limit_and_violations(http: aiohttp.ClientSession) -> None:
    limits = RateLimits(per_second_global=100, per_minute_per_group=3, window_scale=1 / 60)
    async with LocalBotAPI(TOKEN, limits=limits) as api:
        populate(api)
        # A call refused for its parameters is not counted (and uses no message id).
        assert_error(
            await call(http, api, "sendMessage", chat_id=GROUP, text="m", message_thread_id="x"),
            400,
            "Bad Request: invalid message_thread_id specified",
        )
        for i in range(3):
            await ok(http, api, "sendMessage", chat_id=GROUP, text=f"m{i}")
        assert [m["text"] for m in api.messages(GROUP)] == ["m0", "m1", "m2"]
        assert [m["message_id"] for m in api.messages(GROUP)] == [1, 2, 3]
        body = assert_error(
            await call(http, api, "sendMessage", chat_id=GROUP, text="m3"),
            429,
            "Too Many Requests: retry after 1",
        )
        assert body["parameters"] == {"retry_after": 1}
        assert api.violations == 0
        # Private chats only count against the global limit.
        await ok(http, api, "sendMessage", chat_id=ALICE, text="dm")
        # Ignoring the announced window is a violation.
        assert (await call(http, api, "sendMessage", chat_id=GROUP, text="again"))[0] == 429
        assert api.violations == 1
        await asyncio.sleep(1.05)
        await ok(http, api, "sendMessage", chat_id=GROUP, text="after the window")
        assert api.violations == 1


@pytest.mark.asyncio
async def test_global_rate_limit(http: aiohttp.ClientSession) -> None:
    async with LocalBotAPI(TOKEN, limits=RateLimits(per_second_global=2)) as api:
        populate(api)
        await ok(http, api, "sendMessage", chat_id=ALICE, text="1")
        await ok(http, api, "sendMessage", chat_id=BOB, text="2")
        body = assert_error(
            await call(http, api, "sendMessage", chat_id=BOB, text="3"),
            429,
            "Too Many Requests: retry after 1",
        )
        assert body["parameters"]["retry_after"] == 1
        assert [r.text for r in api.sent] == ["1", "2"]


@pytest.mark.asyncio
async def test_fault_injection(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    async def send(text: str) -> Reply:
        return await call(http, server, "sendMessage", chat_id=ALICE, text=text)

    server.inject("sendMessage", kind="500")
    assert_error(await send("a"), 500, "Internal Server Error")
    server.inject("SENDMESSAGE", kind="502")
    assert_error(await send("b"), 502, "Bad Gateway")
    server.inject(None, kind="403")
    assert_error(await send("c"), 403, "Forbidden: bot was blocked by the user")
    server.inject("sendMessage", kind="migrate")
    migrated = assert_error(
        await send("d"), 400, "Bad Request: group chat was upgraded to a supergroup chat"
    )
    assert migrated["parameters"]["migrate_to_chat_id"] < 0
    assert server.sent == []
    server.inject("sendMessage", kind="reset")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await send("lost")
    assert server.sent == []
    server.inject("sendMessage", kind="timeout", delay=0.5)
    with pytest.raises(asyncio.TimeoutError):
        async with http.post(
            f"{server.url}/bot{TOKEN}/sendMessage",
            json={"chat_id": ALICE, "text": "slow"},
            timeout=aiohttp.ClientTimeout(total=0.2),
        ):
            pass
    assert [r.text for r in server.sent] == ["slow"]  # delivered although the client gave up
    server.inject("sendMessage", kind="429", retry_after=2)
    assert_error(await send("e"), 429, "Too Many Requests: retry after 2")
    assert_error(await send("f"), 429, "Too Many Requests: retry after 2")
    assert server.violations == 1
    assert [k for _, k in server.injected] == [
        "500",
        "502",
        "403",
        "migrate",
        "reset",
        "timeout",
        "429",
    ]
    server.fail_rate(1.0, kinds=["502"])
    assert (await call(http, server, "getChat", chat_id=ALICE))[0] == 502
    assert (await call(http, server, "getUpdates"))[0] == 200  # polling is spared by default
    server.fail_rate(0)
    assert (await call(http, server, "getChat", chat_id=ALICE))[0] == 200


# ---------------------------------------------------------------------- waiting helpers


@pytest.mark.asyncio
async def test_wait_for_and_wait_idle(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    await ok(http, server, "sendMessage", chat_id=ALICE, text="old news")
    mark = server.last_seq
    assert mark == 1

    async def later() -> None:
        await asyncio.sleep(0.1)
        await ok(http, server, "sendMessage", chat_id=ALICE, text="fresh news")

    task = asyncio.create_task(later())
    record = await server.wait_for(lambda r: "news" in (r.text or ""), after_seq=mark)
    assert isinstance(record, SentRecord) and record.text == "fresh news" and record.seq == 2
    await task
    assert (await server.wait_for(lambda r: r.text == "old news", timeout=0.1)).seq == 1
    with pytest.raises(TimeoutError, match="fresh news"):
        await server.wait_for(lambda r: r.text == "never", timeout=0.2)

    server.user_message(ALICE, ALICE, "undelivered")
    with pytest.raises(TimeoutError, match="1 update"):
        await server.wait_idle(quiet=0.05, timeout=0.3)
    await ok(http, server, "getUpdates")
    await server.wait_idle(quiet=0.1, timeout=1)


# ---------------------------------------------------------------------- chat info & commands


@pytest.mark.asyncio
async def test_chat_info_members_and_commands(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    chat = await ok(http, server, "getChat", chat_id=GROUP)
    assert chat["title"] == "Yard" and chat["type"] == "group" and "accepted_gift_types" in chat
    private = await ok(http, server, "getChat", chat_id=BOB)
    assert private["first_name"] == "Bob" and private["last_name"] == "Builder"
    server.add_user(4001, "Gone")
    server.set_member_status(GROUP, CAROL, "restricted")
    server.set_member_status(GROUP, 4001, "kicked")
    statuses = {
        uid: (await ok(http, server, "getChatMember", chat_id=GROUP, user_id=uid))["status"]
        for uid in (ALICE, BOB, CAROL, 4001, server.bot_id)
    }
    assert statuses == {
        ALICE: "creator",
        BOB: "administrator",
        CAROL: "restricted",
        4001: "kicked",
        server.bot_id: "member",
    }
    admins = await ok(http, server, "getChatAdministrators", chat_id=GROUP)
    assert [(a["user"]["id"], a["status"]) for a in admins] == [
        (ALICE, "creator"),
        (BOB, "administrator"),
    ]
    assert await ok(http, server, "getChatMemberCount", chat_id=GROUP) == 3  # Alice, Bob, bot
    assert_error(
        await call(http, server, "getChatMember", chat_id=GROUP, user_id=5555),
        400,
        "Bad Request: user not found",
    )
    assert await ok(http, server, "sendChatAction", chat_id=GROUP, action="typing") is True
    assert_error(
        await call(http, server, "sendChatAction", chat_id=GROUP, action="dancing"),
        400,
        "Bad Request: wrong parameter action in request",
    )

    commands = [{"command": "report", "description": "Report a problem"}]
    scope = {"type": "chat", "chat_id": str(GROUP)}
    await ok(http, server, "setMyCommands", commands=commands, scope=scope, language_code="zh")
    await ok(http, server, "setMyCommands", commands=commands)
    assert server.commands == {
        (f'{{"chat_id":{GROUP},"type":"chat"}}', "zh"): commands,
        ('{"type":"default"}', ""): commands,
    }
    got = await ok(http, server, "getMyCommands", scope=scope, language_code="zh")
    assert got == commands
    assert await ok(http, server, "getMyCommands", language_code="en") == []
    await ok(http, server, "deleteMyCommands")
    assert list(server.commands) == [(f'{{"chat_id":{GROUP},"type":"chat"}}', "zh")]
    assert_error(
        await call(
            http, server, "setMyCommands", commands=[{"command": "Bad One", "description": "x"}]
        ),
        400,
        "Bad Request: BOT_COMMAND_INVALID",
    )
    for user_id in (5555, "abc", None):
        member_scope = {"type": "chat_member", "chat_id": GROUP, "user_id": user_id}
        assert_error(
            await call(http, server, "setMyCommands", commands=commands, scope=member_scope),
            400,
            "Bad Request: user not found",
        )
    assert server.internal_errors == []


# ---------------------------------------------------------------------- control API over HTTP


@pytest.mark.asyncio
async def test_http_control_api(server: LocalBotAPI, http: aiohttp.ClientSession) -> None:
    async def control(name: str, **body: Any) -> Any:
        async with http.post(f"{server.url}/_control/{name}", json=body) as resp:
            reply = await resp.json()
        assert reply["ok"], reply
        return reply["result"]

    assert (await control("add_user", user_id=7001, first_name="Remote"))["id"] == 7001
    await control("add_chat", chat_id=-7000, type="supergroup", title="R", members=[7001])
    msg = await control("user_message", chat_id=-7000, user_id=7001, text="/start")
    assert msg["entities"][0]["type"] == "bot_command"
    sent = await ok(http, server, "sendMessage", chat_id=-7000, text="hi", reply_markup=KEYBOARD)
    query_id = await control(
        "press", chat_id=-7000, message_id=sent["message_id"], user_id=7001, data="yes"
    )
    assert query_id in server._queries
    await control(
        "add_chat", chat_id=-7100, type="group", title="G", members=[7001], bot_status="left"
    )
    await control("add_bot_to_chat", chat_id=-7100, by_user_id=7001)
    migrated = await control("migrate", chat_id=-7100, new_chat_id=-1007100)
    assert migrated["type"] == "supergroup"
    form = aiohttp.FormData()
    form.add_field("chat_id", "-7000")
    form.add_field("document", b"12345", filename="r.pdf")
    async with http.post(f"{server.url}/bot{TOKEN}/sendDocument", data=form) as resp:
        assert resp.status == 200
    async with http.get(f"{server.url}/_control/sent", params={"after": "1"}) as resp:
        records = (await resp.json())["result"]
    assert [r["method"] for r in records] == ["sendDocument"]
    assert records[0]["document_size"] == 5 and "document_bytes" not in records[0]
    async with http.get(f"{server.url}/_control/messages", params={"chat_id": "-7000"}) as resp:
        messages = (await resp.json())["result"]
    assert [m.get("text") for m in messages] == ["/start", "hi", None]
    async with http.post(f"{server.url}/_control/user_message", json={"chat_id": -1}) as resp:
        assert resp.status == 400
    bad_press = {"chat_id": -7000, "message_id": 99, "user_id": 7001, "data": "x"}
    async with http.post(f"{server.url}/_control/press", json=bad_press) as resp:
        assert resp.status == 400
        assert (await resp.json())["description"] == "message 99 not found in chat -7000"
    async with http.get(f"{server.url}/_control/nothing") as resp:
        assert resp.status == 404


# ---------------------------------------------------------------------- real clients


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
@pytest.mark.asyncio
async def test_python_telegram_bot_client(server: LocalBotAPI) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    bot = telegram.Bot(TOKEN, base_url=f"{server.url}/bot")
    async with bot:
        me = await bot.get_me()
        assert me.id == server.bot_id and me.username == "echowall_bot"
        keyboard = InlineKeyboardMarkup(
            [
                [InlineKeyboardButton("Accept", callback_data="accept:1")],
                [InlineKeyboardButton("Docs", url="https://example.com/docs")],
            ]
        )
        card = await bot.send_message(
            GROUP, "<b>Case #1</b>", parse_mode="HTML", reply_markup=keyboard
        )
        assert card.text == "Case #1" and card.entities[0].type == "bold"
        assert card.reply_markup == keyboard
        record = server.sent[-1]
        assert record.raw_text == "<b>Case #1</b>" and record.parse_mode == "HTML"
        assert record.reply_markup == keyboard.to_dict()

        edited = await bot.edit_message_text(
            "Case #1 (accepted)", chat_id=GROUP, message_id=card.message_id
        )
        assert isinstance(edited, telegram.Message)
        assert edited.edit_date is not None and edited.reply_markup is None
        with pytest.raises(BadRequest, match="not modified"):
            await bot.edit_message_text(
                "Case #1 (accepted)", chat_id=GROUP, message_id=card.message_id
            )
        assert await bot.pin_chat_message(GROUP, card.message_id)
        assert server.pinned(GROUP) == card.message_id

        server.user_message(GROUP, ALICE, "/report@echowall_bot leak", reply_to=card.message_id)
        query_id = server.press(GROUP, card.message_id, BOB, "accept:1")
        updates = await bot.get_updates(timeout=1)
        assert updates[0].message is not None
        assert updates[0].message.text == "/report@echowall_bot leak"
        assert updates[0].message.reply_to_message.message_id == card.message_id  # type: ignore[union-attr]
        assert updates[0].message.from_user.language_code == "en"  # type: ignore[union-attr]
        assert updates[1].callback_query is not None
        assert updates[1].callback_query.data == "accept:1"
        assert updates[1].callback_query.from_user.id == BOB
        assert await bot.answer_callback_query(query_id, text="Accepted")
        assert server.callback_answers[query_id]["text"] == "Accepted"

        doc = await bot.send_document(
            GROUP, document=b"id,text\n1,leak\n", filename="cases.csv", caption="Export"
        )
        assert doc.document is not None and doc.document.file_name == "cases.csv"
        assert server.sent[-1].document_bytes == b"id,text\n1,leak\n"
        assert server.sent[-1].text == "Export"

        admins = await bot.get_chat_administrators(GROUP)
        assert {a.user.id: a.status for a in admins} == {ALICE: "creator", BOB: "administrator"}
        chat = await bot.get_chat(GROUP)
        assert chat.title == "Yard"
        assert (await bot.get_chat_member(GROUP, CAROL)).status == "member"
        await bot.set_my_commands([("report", "Report a problem")])
        assert [c.command for c in await bot.get_my_commands()] == ["report"]

        server.remove_bot_from_chat(GROUP, ALICE)
        kicked = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=1)
        assert kicked[0].my_chat_member is not None
        assert kicked[0].my_chat_member.new_chat_member.status == "kicked"
        with pytest.raises(Forbidden, match="kicked"):
            await bot.send_message(GROUP, "still here?")

        server.add_chat(-600, "group", title="Old", members=[ALICE])
        server.migrate_to_supergroup(-600, -100600)
        with pytest.raises(ChatMigrated) as migrated:
            await bot.send_message(-600, "hello")
        assert migrated.value.new_chat_id == -100600

        server.inject("sendMessage", kind="429", retry_after=1)
        with pytest.raises(RetryAfter):
            await bot.send_message(ALICE, "flood")
    assert server.internal_errors == []


@pytest.mark.asyncio
async def test_aiogram_client(server: LocalBotAPI) -> None:
    from aiogram.types import (
        ChatMemberAdministrator,
        ChatMemberBanned,
        ChatMemberLeft,
        ChatMemberOwner,
        ChatMemberRestricted,
    )

    session = AiohttpSession(api=TelegramAPIServer.from_base(server.url))
    bot = AiogramBot(TOKEN, session=session)
    try:
        me = await bot.get_me()
        assert me.id == server.bot_id and me.is_bot
        keyboard = AioMarkup(inline_keyboard=[[AioButton(text="Done", callback_data="done:1")]])
        sent = await bot.send_message(
            GROUP, "Case <i>#2</i>", parse_mode="HTML", reply_markup=keyboard
        )
        assert sent.text == "Case #2" and sent.reply_markup is not None
        assert sent.reply_markup.model_dump() == keyboard.model_dump()
        assert server.sent[-1].reply_markup == {
            "inline_keyboard": [[{"text": "Done", "callback_data": "done:1"}]]
        }
        with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
            await bot.send_message(
                GROUP,
                "x",
                reply_markup=AioMarkup(
                    inline_keyboard=[[AioButton(text="x", callback_data="d" * 65)]]
                ),
            )

        server.user_message(ALICE, ALICE, "/start")
        server.press(GROUP, sent.message_id, BOB, "done:1")
        server.remove_bot_from_chat(GROUP, ALICE)
        updates = await bot.get_updates(timeout=1)
        assert updates[0].message is not None and updates[0].message.text == "/start"
        assert updates[1].callback_query is not None
        assert updates[1].callback_query.data == "done:1"
        assert updates[1].callback_query.message is not None
        assert updates[2].my_chat_member is not None
        assert isinstance(updates[2].my_chat_member.new_chat_member, ChatMemberBanned)
        with pytest.raises(TelegramForbiddenError):
            await bot.send_message(GROUP, "x")

        server.add_bot_to_chat(GROUP, ALICE, as_admin=True)
        server.add_user(4002, "Left")
        server.set_member_status(GROUP, CAROL, "restricted")
        members = {uid: await bot.get_chat_member(GROUP, uid) for uid in (ALICE, BOB, CAROL, 4002)}
        assert isinstance(members[ALICE], ChatMemberOwner)
        assert isinstance(members[BOB], ChatMemberAdministrator)
        assert isinstance(members[CAROL], ChatMemberRestricted)
        assert isinstance(members[4002], ChatMemberLeft)
        bot_member = await bot.get_chat_member(GROUP, server.bot_id)
        assert isinstance(bot_member, ChatMemberAdministrator) and bot_member.can_pin_messages
        full = await bot.get_chat(GROUP)
        assert full.title == "Yard"
        document = await bot.send_document(
            ALICE, BufferedInputFile(b"%PDF-1.4", filename="r.pdf"), caption="Report"
        )
        assert document.document is not None and document.document.file_name == "r.pdf"
        assert server.sent[-1].document_bytes == b"%PDF-1.4"
        assert await bot.pin_chat_message(GROUP, sent.message_id)
    finally:
        await bot.session.close()
    assert server.internal_errors == []


async def test_get_me_tells_the_privacy_mode_as_botfather_set_it(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    me = await ok(http, server, "getMe")
    assert me["can_read_all_group_messages"] is False  # privacy mode on, Telegram's default
    server.privacy_mode = False
    me = await ok(http, server, "getMe")
    assert me["can_read_all_group_messages"] is True


async def test_opening_a_deep_link_sends_start_with_its_payload(
    server: LocalBotAPI, http: aiohttp.ClientSession
) -> None:
    server.open_link(CAROL, "case_17")  # Carol never started the bot: the link starts it
    updates = await ok(http, server, "getUpdates")
    message = updates[-1]["message"]
    assert message["chat"] == {"id": CAROL, "type": "private", "first_name": "Carol"}
    assert message["text"] == "/start case_17"
    assert message["entities"][0] == {"type": "bot_command", "offset": 0, "length": 6}
