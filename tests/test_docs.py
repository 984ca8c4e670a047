"""The documentation's links: every relative link lands on a file of the repository, and every
`#anchor` into a markdown file on a heading (or an explicit anchor) that exists there. No link
leaves the repository: a clone must read as well as the tree it came from."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", ROOT / "bench" / "README.md", *(ROOT / "docs").glob("*.md")])

_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# [text](target) and ![alt](target), with an optional "title"; and [label]: target.
_INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)
_HTML_ANCHOR = re.compile(r"<a\s[^>]*(?:id|name)=\"([^\"]+)\"", re.IGNORECASE)
_EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # https:, mailto:, ...


def _prose(text: str) -> str:
    """The text as rendered prose: code blocks, code spans and comments hold no links."""
    return _CODE_SPAN.sub("", _FENCE.sub("", _COMMENT.sub("", text)))


def links(text: str) -> list[str]:
    prose = _prose(text)
    return [*_INLINE.findall(prose), *_REFERENCE.findall(prose)]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.strip().lower())
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor a markdown file offers: its headings' (numbered when repeated) and the
    explicit `<a id=...>` ones."""
    found: set[str] = set()
    seen: dict[str, int] = {}
    for _level, title in _HEADING.findall(_FENCE.sub("", text)):
        base = slug(title)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found.update(_HTML_ANCHOR.findall(text))
    return found


def check(doc: Path, target: str) -> str | None:
    """What is wrong with one link of a markdown file, or None."""
    if not target or _EXTERNAL.match(target):
        return None
    path_part, _, anchor = target.partition("#")
    if path_part.startswith("/"):
        return f"{target}: absolute; link relative to the file"
    dest = (doc.parent / unquote(path_part)).resolve() if path_part else doc
    if not dest.is_relative_to(ROOT):
        return f"{target}: leaves the repository"
    if not dest.exists():
        return f"{target}: no such file"
    if anchor and dest.suffix == ".md" and unquote(anchor) not in anchors(dest.read_text("utf-8")):
        return f"{target}: no heading or anchor #{anchor} in {dest.relative_to(ROOT)}"
    return None


def problems(doc: Path) -> list[str]:
    """What is wrong with the links of one markdown file, one line per link."""
    return [p for target in links(doc.read_text("utf-8")) if (p := check(doc, target))]


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_lands_on_a_file_and_heading_of_the_repository(doc: Path) -> None:
    assert problems(doc) == []


def test_the_readme_links_the_documentation() -> None:
    readme = set(links((ROOT / "README.md").read_text("utf-8")))
    wanted = {
        "docs/product.md",
        "docs/architecture.md",
        "docs/storage.md",
        "docs/reliability.md",
        "docs/contributing.md",
        "bench/README.md",
    }
    assert wanted <= readme


def test_the_link_checker_catches_what_it_must() -> None:
    # The checker itself: a link out of the repository, a missing file, a missing heading.
    assert "planned-not-built-yet" in anchors((ROOT / "docs" / "product.md").read_text("utf-8"))
    assert "busy" in anchors((ROOT / "bench" / "README.md").read_text("utf-8"))
    assert slug("When a call's fate is unknown") == "when-a-calls-fate-is-unknown"
    assert slug("`echowall` · 回音壁") == "echowall--回音壁"
    assert slug("Decide, commit, deliver") == "decide-commit-deliver"
    sample = (
        "[out](../shared/PRODUCT.md) [gone](docs/nothing.md) [head](README.md#no-such)\n"
        "`[code](../not-a-link.md)` [web](https://example.org) [ok](README.md#commands)\n"
        "```\n[fenced](../nor-this.md)\n```\n<!-- [hidden](../nor-that.md) -->\n"
    )
    targets = links(sample)
    assert targets == [
        "../shared/PRODUCT.md",
        "docs/nothing.md",
        "README.md#no-such",
        "https://example.org",
        "README.md#commands",
    ]
    readme = ROOT / "README.md"  # the sample read as if it were the README
    found = [problem for target in targets if (problem := check(readme, target))]
    assert [problem.split(": ")[1] for problem in found] == [
        "leaves the repository",
        "no such file",
        "no heading or anchor #no-such in README.md",
    ]
