"""gettext catalogs from `locales/*.po`, with dates and numbers formatted by Babel.

The .po files are the only source: they are compiled in memory at start, so no binary
catalog is ever committed or hand-edited.
"""

from __future__ import annotations

import datetime as dt
import gettext
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_timedelta
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent

LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
LANGUAGES = ("zh", "en")
_BABEL_LOCALE = {"zh": "zh_Hans_CN", "en": "en_GB"}
_DATETIME_FORMAT = {"zh": "M月d日 EEE HH:mm", "en": "EEE d MMM HH:mm"}
_DATE_FORMAT = {"zh": "M月d日 EEE", "en": "EEE d MMM"}


class BabelTranslator:
    """One language's catalog and formats."""

    def __init__(self, language: str, catalog: gettext.NullTranslations, tz: ZoneInfo) -> None:
        self.language = language
        self._catalog = catalog
        self._tz = tz
        self._locale = Locale.parse(_BABEL_LOCALE[language])

    def gettext(self, message: str) -> str:
        return self._catalog.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self._catalog.ngettext(singular, plural, n)

    def datetime(self, value: datetime) -> str:
        return format_datetime(
            value, _DATETIME_FORMAT[self.language], tzinfo=self._tz, locale=self._locale
        )

    def date(self, value: dt.date) -> str:
        """Format a calendar day with its weekday, e.g. 11月20日 周五."""
        return format_date(value, _DATE_FORMAT[self.language], locale=self._locale)

    def weekday(self, value: dt.date) -> str:
        """Format the short name of the weekday, e.g. 周五 or Fri."""
        return format_date(value, "EEE", locale=self._locale)

    def duration(self, value: timedelta) -> str:
        return format_timedelta(value, threshold=1.1, locale=self._locale)

    def number(self, value: int) -> str:
        # Chinese writes a number of up to four digits without a separator (GB/T 15835):
        # "2000 个字", not "2,000 个字".
        if self.language == "zh" and abs(value) < 10_000:
            return str(value)
        return format_decimal(value, locale=self._locale)

    def percent(self, value: float) -> str:
        return format_percent(value, "#,##0.#%", locale=self._locale)


def _compile(po_path: Path) -> gettext.NullTranslations:
    with open(po_path, "rb") as handle:
        catalog = read_po(handle)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


class Catalogs:
    """All languages, loaded once at start; `get(lang)` is cheap."""

    def __init__(self, tz: ZoneInfo, default: str = "zh", root: Path = LOCALES_DIR) -> None:
        self.default = default
        self._translators: dict[str, BabelTranslator] = {}
        for language in LANGUAGES:
            po = root / language / "LC_MESSAGES" / "messages.po"
            catalog = _compile(po) if po.exists() else gettext.NullTranslations()
            self._translators[language] = BabelTranslator(language, catalog, tz)

    def get(self, language: str | None) -> BabelTranslator:
        """Return the translator for a language, or the default one."""
        return self._translators.get(language or self.default) or self._translators[self.default]
