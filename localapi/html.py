"""Telegram's HTML dialect and UTF-16 lengths.

:func:`parse_html` turns Telegram-flavoured HTML into the visible text and its MessageEntity
objects, or raises :class:`EntityParseError` with Telegram's own description; :func:`utf16_len`
measures text in the unit Telegram uses for limits and entity offsets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NoReturn

from localapi.model import JSON


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for limits and entity offsets."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


class EntityParseError(ValueError):
    """Raised by :func:`parse_html`; carries Telegram's text after "can't parse entities: "."""


_HTML_SPACE = " \t\r\n\f\v"
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_SIMPLE_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}
_USER_LINK = re.compile(r"tg://user\?id=([1-9][0-9]{0,15})")
_SUPPORTED_TAGS = frozenset({*_SIMPLE_TAGS, "a", "code", "pre", "blockquote", "tg-emoji"})


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    utf16_offset: int
    text_index: int
    byte_offset: int


class _HtmlScanner:
    """Character-level scanner for Telegram's HTML subset.

    It follows the algorithm of Telegram's own parser (tags are matched against a
    stack, only a handful of tags/attributes exist, errors carry byte offsets)
    rather than a browser-style tokenizer: html.parser silently turns a stray
    ``<`` or a malformed tag into text, which is exactly what Telegram rejects.
    """

    def __init__(self, source: str, *, strict_ampersand: bool) -> None:
        self.src = source
        self.n = len(source)
        self.strict_ampersand = strict_ampersand
        self.out: list[str] = []
        self.utf16 = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSON] = []

    def fail(self, message: str) -> NoReturn:
        raise EntityParseError(message)

    def byte_offset(self, index: int) -> int:
        return len(self.src[:index].encode("utf-8", "surrogatepass"))

    def emit(self, text: str) -> None:
        self.out.append(text)
        self.utf16 += utf16_len(text)

    def name_end(self, i: int) -> int:
        """Where the tag name starting at ``i`` ends: at white space, ``>`` or the end."""
        while i < self.n and self.src[i] not in _HTML_SPACE and self.src[i] != ">":
            i += 1
        return i

    def skip_spaces(self, i: int) -> int:
        while i < self.n and self.src[i] in _HTML_SPACE:
            i += 1
        return i

    def decode_ref(self, i: int) -> tuple[str, int] | None:
        """Decode the character reference starting at ``src[i] == '&'``; None if invalid."""
        src, n = self.src, self.n
        j = i + 1
        if j < n and src[j] == "#":
            j += 1
            is_hex = j < n and src[j] in "xX"
            if is_hex:
                j += 1
            start = j
            digits = "0123456789abcdefABCDEF" if is_hex else "0123456789"
            while j < n and src[j] in digits:
                j += 1
            # Telegram caps numeric references at 10 bytes, which also keeps int() cheap.
            if j == start or j - i >= 10:
                return None
            code = int(src[start:j], 16 if is_hex else 10)
            if code == 0 or code >= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                return None
            char = chr(code)
        else:
            start = j
            while j < n and src[j].isascii() and src[j].isalpha():
                j += 1
            named = _NAMED_REFS.get(src[start:j])
            if named is None:
                return None
            char = named
        if j < n and src[j] == ";":
            j += 1
        return char, j

    def parse(self) -> tuple[str, list[JSON]]:
        i = 0
        while i < self.n:
            ch = self.src[i]
            if ch == "&":
                decoded = self.decode_ref(i)
                if decoded is not None:
                    self.emit(decoded[0])
                    i = decoded[1]
                    continue
                if self.strict_ampersand:
                    self.fail(
                        f'Character "&" at byte offset {self.byte_offset(i)} '
                        'must be escaped as "&amp;"'
                    )
                self.emit("&")
                i += 1
            elif ch == "<":
                if i + 1 < self.n and self.src[i + 1] == "/":
                    i = self.end_tag(i)
                else:
                    i = self.start_tag(i)
            else:
                # Emit the whole run of plain text at once.
                j = i + 1
                while j < self.n and self.src[j] not in "&<":
                    j += 1
                self.emit(self.src[i:j])
                i = j
        if self.stack:
            self.fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        for entity in self.entities:
            entity.pop("_language", None)
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.out), self.entities

    def start_tag(self, begin: int) -> int:
        src, n = self.src, self.n
        at = self.byte_offset(begin)
        j = self.name_end(begin + 1)
        if j >= n:
            self.fail(f"Unclosed start tag at byte offset {at}")
        name = src[begin + 1 : j].lower()
        if name not in _SUPPORTED_TAGS:
            self.fail(f'Unsupported start tag "{name}" at byte offset {at}')
        attrs: dict[str, str] = {}
        while True:
            j = self.skip_spaces(j)
            if j >= n:
                self.fail(f"Unclosed start tag at byte offset {at}")
            if src[j] == ">":
                break
            attr_begin = j
            while j < n and src[j] not in _HTML_SPACE and src[j] not in "=>":
                j += 1
            attr_name = src[attr_begin:j].lower()
            if not attr_name:
                self.fail(f'Empty attribute name in the tag "{name}" at byte offset {at}')
            j = self.skip_spaces(j)
            value = ""
            if j < n and src[j] == "=":
                j = self.skip_spaces(j + 1)
                if j >= n:
                    self.fail(f'Unclosed start tag "{name}" at byte offset {at}')
                if src[j] in "'\"":
                    value, j = self.quoted_value(j)
                else:
                    token_begin = j
                    while j < n and (src[j].isalnum() or src[j] in ".-"):
                        j += 1
                    if j < n and src[j] not in _HTML_SPACE and src[j] != ">":
                        self.fail(
                            f"Unexpected end of name token at byte offset "
                            f"{self.byte_offset(token_begin)}"
                        )
                    value = src[token_begin:j].lower()
            # A bare attribute (``<blockquote expandable>``) keeps the empty value.
            attrs[attr_name] = value
        if name == "span" and attrs.get("class") != "tg-spoiler":
            self.fail(f'Tag "span" must have class "tg-spoiler" at byte offset {at}')
        self.stack.append(_OpenTag(name, attrs, self.utf16, len(self.out), at))
        return j + 1

    def quoted_value(self, j: int) -> tuple[str, int]:
        quote = self.src[j]
        j += 1
        parts: list[str] = []
        while j < self.n and self.src[j] != quote:
            if self.src[j] == "&":
                decoded = self.decode_ref(j)
                if decoded is not None:
                    parts.append(decoded[0])
                    j = decoded[1]
                    continue
            # Unlike text, Telegram keeps an unknown '&' in attribute values (URLs) literally.
            parts.append(self.src[j])
            j += 1
        if j >= self.n:
            self.fail("Unclosed start tag at byte offset " + str(self.byte_offset(j)))
        return "".join(parts), j + 1

    def end_tag(self, begin: int) -> int:
        src, n = self.src, self.n
        at = self.byte_offset(begin)
        if not self.stack:
            self.fail(f"Unexpected end tag at byte offset {at}")
        j = self.name_end(begin + 2)
        end_name = src[begin + 2 : j].lower()
        j = self.skip_spaces(j)
        if j >= n or src[j] != ">":
            self.fail(f"Unclosed end tag at byte offset {at}")
        top = self.stack[-1]
        if end_name and end_name != top.name:
            self.fail(
                f'Unmatched end tag at byte offset {at}, expected "</{top.name}>", '
                f'found "</{end_name}>"'
            )
        self.stack.pop()
        self.close_entity(top)
        return j + 1

    def close_entity(self, tag: _OpenTag) -> None:
        length = self.utf16 - tag.utf16_offset
        if length <= 0:
            return  # Telegram drops empty entities
        base: JSON = {"offset": tag.utf16_offset, "length": length}
        name = tag.name
        if name in _SIMPLE_TAGS:
            self.entities.append({"type": _SIMPLE_TAGS[name], **base})
        elif name == "a":
            url = tag.attrs.get("href") or "".join(self.out[tag.text_index :])
            mention = _USER_LINK.fullmatch(url)
            if mention is not None:
                # Telegram makes a link to a user a mention of them, which notifies them.
                user = {"id": int(mention[1]), "is_bot": False, "first_name": ""}
                self.entities.append({"type": "text_mention", **base, "user": user})
            else:
                self.entities.append({"type": "text_link", **base, "url": url})
        elif name == "code":
            language = tag.attrs.get("class", "")
            entity: JSON = {"type": "code", **base}
            if language.startswith("language-") and len(language) > len("language-"):
                entity["_language"] = language[len("language-") :]
            self.entities.append(entity)
        elif name == "pre":
            pre: JSON = {"type": "pre", **base}
            last = self.entities[-1] if self.entities else None
            # <pre><code class="language-x">…</code></pre> is one pre entity with a language.
            if (
                last is not None
                and last["type"] == "code"
                and last["offset"] == base["offset"]
                and last["length"] == length
            ):
                self.entities.pop()
                if "_language" in last:
                    pre["language"] = last["_language"]
            self.entities.append(pre)
        elif name == "blockquote":
            kind = "expandable_blockquote" if "expandable" in tag.attrs else "blockquote"
            self.entities.append({"type": kind, **base})
        elif name == "tg-emoji":
            emoji_id = tag.attrs.get("emoji-id", "")
            if not emoji_id.isdigit() or int(emoji_id) == 0:
                self.fail("Invalid custom emoji identifier specified")
            self.entities.append({"type": "custom_emoji", **base, "custom_emoji_id": emoji_id})


def parse_html(text: str, *, strict_ampersand: bool = True) -> tuple[str, list[JSON]]:
    """Parse Telegram-flavoured HTML into (visible text, MessageEntity dicts).

    Offsets/lengths are in UTF-16 code units.  Raises :class:`EntityParseError`
    with Telegram's description.  ``strict_ampersand`` rejects an ``&`` that does
    not start ``&lt; &gt; &amp; &quot;`` or a numeric reference; real Telegram
    keeps such an ``&`` literally, the strict default catches missing escaping.
    """
    return _HtmlScanner(text, strict_ampersand=strict_ampersand).parse()
