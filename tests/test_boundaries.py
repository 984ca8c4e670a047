"""Architecture and catalog rules that keep the core framework-free and every text translated."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ("telegram", "aiogram")
PLACEHOLDER = re.compile(r"\{[a-z_]+\}")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", ["handlers", "storage"])
def test_core_packages_never_import_a_telegram_framework(package: str) -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & set(FRAMEWORKS))
        for p in (ROOT / package).rglob("*.py")
        if _imports(p) & set(FRAMEWORKS)
    }
    assert offenders == {}


def test_core_does_not_import_the_runtime() -> None:
    offenders = [
        str(p.relative_to(ROOT))
        for package in ("handlers", "storage")
        for p in (ROOT / package).rglob("*.py")
        if "bot" in _imports(p)
    ]
    assert offenders == []


def test_local_bot_api_imports_nothing_of_echowall() -> None:
    # localapi stands in for Telegram: it knows neither echowall nor the frameworks' clients.
    forbidden = {"bot", "handlers", "storage", "bench", "tests", *FRAMEWORKS}
    offenders = {
        str(p.relative_to(ROOT)): sorted(_imports(p) & forbidden)
        for p in (ROOT / "localapi").rglob("*.py")
        if _imports(p) & forbidden
    }
    assert offenders == {}


def _source_messages() -> set[str | tuple[str, ...]]:
    found: set[str | tuple[str, ...]] = set()
    for package in ("bot", "handlers", "storage"):
        keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
        for _, _, message, _, _ in extract_from_dir(ROOT / package, keywords=keywords):
            found.add(message if isinstance(message, str) else tuple(message))
    return found


@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_text_in_the_code_is_translated(language: str) -> None:
    with open(ROOT / "locales" / language / "LC_MESSAGES" / "messages.po", "rb") as handle:
        catalog = read_po(handle)
    translated = {}
    for message in catalog:
        if message.id:
            key = message.id if isinstance(message.id, str) else tuple(message.id)
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            if all(strings) and not message.fuzzy:
                translated[key] = strings
    missing = [m for m in _source_messages() if m not in translated]
    assert missing == []
    for key, strings in translated.items():
        source = key if isinstance(key, str) else key[0]
        for string in strings:
            assert set(PLACEHOLDER.findall(string)) == set(PLACEHOLDER.findall(source)), key


def test_no_fstring_inside_gettext() -> None:
    pattern = re.compile(r"""\b(?:_|gettext|N_)\(\s*f["']""")
    offenders = [
        str(p.relative_to(ROOT))
        for package in ("bot", "handlers", "storage")
        for p in (ROOT / package).rglob("*.py")
        if pattern.search(p.read_text("utf-8"))
    ]
    assert offenders == []
