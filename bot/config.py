"""Typed configuration from the environment, a `.env` file or `echowall.toml`, validated once."""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import time, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from handlers.calendar import EventError, parse_offsets
from handlers.categories import DEFAULTS, Categories, Category, CategoryError, Referral
from handlers.core import QuietHours, Settings
from storage.records import CaseClass

TELEGRAM_API = "https://api.telegram.org"
_HH_MM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


class ConfigError(Exception):
    """The configuration cannot be used; the message says what to fix."""


class CategoryItem(BaseModel):
    """One category as configured: `[[categories]]` in echowall.toml."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z]{1,8}$")
    accepted: bool
    zh: str = Field(min_length=1, max_length=40)
    en: str = Field(min_length=1, max_length=60)
    keywords: list[str] = []
    referral: str | None = None


class ReferralItem(BaseModel):
    """One place to refer a declined demand to: `[[referrals]]` in echowall.toml."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(pattern=r"^[a-z]{1,8}$")
    zh: str = Field(min_length=1, max_length=60)
    en: str = Field(min_length=1, max_length=80)
    contact_zh: str = Field("", max_length=300)
    contact_en: str = Field("", max_length=300)
    aliases: list[str] = []


class Config(BaseSettings):
    """Everything the runtime reads from outside, once, at start."""

    model_config = SettingsConfigDict(
        env_prefix="ECHOWALL_",
        env_file=".env",
        extra="ignore",
        toml_file="echowall.toml",
        hide_input_in_errors=True,
    )

    token: SecretStr | None = None
    api_url: str = TELEGRAM_API
    framework: Literal["ptb", "aiogram"] = "ptb"
    data_dir: Path = Path("data")
    staff_chat: int | None = None
    escalation_chat: int | None = None
    admins: str = ""
    timezone: str = "Asia/Shanghai"
    language: Literal["zh", "en"] = "zh"
    answer_hours: float = Field(24, gt=0)
    easy_days: float = Field(1, gt=0)
    key_days: float = Field(2, gt=0)
    hard_days: float = Field(7, gt=0)
    default_class: CaseClass = CaseClass.KEY
    overdue_grace_hours: float = Field(24, gt=0)
    check_hours: float = Field(48, gt=0)
    remind_before_hours: float = Field(2, ge=0)
    rating_reminder_hours: float = Field(24, ge=0)
    # None: the built-in lists (handlers.categories); given, they replace them whole.
    categories: list[CategoryItem] | None = None
    referrals: list[ReferralItem] | None = None
    working_days: bool = False
    sweep_seconds: float = Field(300, gt=0)
    wall_seconds: float = Field(10, ge=0)
    reports: bool = True
    daily_at: time = time(20, 0)
    weekly_at: time = time(8, 30)
    monthly_at: time = time(9, 0)
    quiet_hours: str = "22:00-07:00"
    event_reminders: str = "1d,1h"
    reminder_grace_minutes: float = Field(120, ge=0)
    # Personal data: months after closing that a case keeps its residents' names (0: always),
    # and days that broadcasts and their delivery records are kept (past the calendar's
    # catch-up, which looks eight days back).
    retention_months: int = Field(24, ge=0)
    outbox_retention_days: float = Field(90, ge=14)
    report_limit: int = Field(5, ge=0)
    report_window_minutes: float = Field(10, gt=0)
    http_timeout: float = Field(10, gt=0)
    rate_per_second: float = Field(30, gt=0)
    rate_group_per_minute: float = Field(20, gt=0)
    # The length of a group's budget window: Telegram's minute (tests shrink it with the
    # local Bot API's, to see several windows pass quickly).
    rate_group_window: float = Field(60, gt=0)
    log_level: str = "INFO"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
        )

    @field_validator("api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("daily_at", "weekly_at", "monthly_at", mode="before")
    @classmethod
    def _clock_time(cls, value: object) -> time:
        # Only HH:MM: pydantic alone would also take seconds, offsets or a bare number.
        if isinstance(value, time) and not (value.second or value.microsecond or value.tzinfo):
            return value  # a TOML local time, e.g. daily_at = 20:00:00
        found = _HH_MM.fullmatch(value.strip()) if isinstance(value, str) else None
        if found is None:
            raise ValueError("must be a time of day as HH:MM, e.g. 20:00")
        return time(int(found[1]), int(found[2]))

    @field_validator("quiet_hours")
    @classmethod
    def _quiet(cls, value: str) -> str:
        if value.strip().lower() in ("", "off", "none"):
            return ""
        start, sep, end = value.partition("-")
        if not sep or not _HH_MM.fullmatch(start.strip()) or not _HH_MM.fullmatch(end.strip()):
            raise ValueError("must be two times of day as HH:MM-HH:MM, e.g. 22:00-07:00, or off")
        return value.strip()

    @field_validator("event_reminders")
    @classmethod
    def _reminders(cls, value: str) -> str:
        try:
            parse_offsets(value.strip() or "none")
        except EventError as exc:
            raise ValueError("must be like 1d,1h (d, h or m before the event) or none") from exc
        return value.strip() or "none"

    @field_validator("admins")
    @classmethod
    def _admins(cls, value: str) -> str:
        for item in filter(None, (v.strip() for v in value.split(","))):
            if not item.lstrip("-").isdigit():
                raise ValueError("must be comma-separated numeric user ids")
        return value

    def category_lists(self) -> Categories:
        """The categories and referrals: the configured ones, else the defaults."""
        if self.categories is None and self.referrals is None:
            return DEFAULTS
        items = (
            tuple(
                Category(
                    c.code,
                    c.accepted,
                    c.en,
                    names={"zh": c.zh, "en": c.en},
                    keywords=tuple(k for k in c.keywords if k.strip()),
                    referral=c.referral,
                )
                for c in self.categories
            )
            if self.categories is not None
            else DEFAULTS.items
        )
        referrals = (
            tuple(
                Referral(
                    r.code,
                    r.en,
                    r.contact_en,
                    names={"zh": r.zh, "en": r.en},
                    contacts={"zh": r.contact_zh, "en": r.contact_en},
                    aliases=tuple(a for a in r.aliases if a.strip()),
                )
                for r in self.referrals
            )
            if self.referrals is not None
            else DEFAULTS.referrals
        )
        return Categories(items, referrals)

    @property
    def admin_ids(self) -> frozenset[int]:
        return frozenset(int(v) for v in self.admins.split(",") if v.strip())

    def settings(self) -> Settings:
        """The core's policy derived from this configuration."""
        return Settings(
            staff_chat=self.staff_chat,
            escalation_chat=self.escalation_chat,
            admins=self.admin_ids,
            timezone=ZoneInfo(self.timezone),
            language=self.language,
            answer_hours=self.answer_hours,
            class_days={
                CaseClass.EASY: self.easy_days,
                CaseClass.KEY: self.key_days,
                CaseClass.HARD: self.hard_days,
            },
            default_class=self.default_class,
            overdue_grace_hours=self.overdue_grace_hours,
            working_days=self.working_days,
            quiet_hours=self._quiet_hours(),
            report_limit=self.report_limit,
            report_window=timedelta(minutes=self.report_window_minutes),
            event_reminders=tuple(parse_offsets(self.event_reminders)),
            reminder_grace=timedelta(minutes=self.reminder_grace_minutes),
            categories=self.category_lists(),
            check_hours=self.check_hours,
            remind_before=(
                timedelta(hours=self.remind_before_hours) if self.remind_before_hours else None
            ),
            rating_reminder=(
                timedelta(hours=self.rating_reminder_hours) if self.rating_reminder_hours else None
            ),
            setup_code=self.setup_code(),
            retention_months=self.retention_months,
            outbox_retention=timedelta(days=self.outbox_retention_days),
        )

    def setup_code(self) -> str | None:
        """The payload of the set-up link (`echowall setup`): derived from the token, so
        only who holds the token can give it out; None without a token."""
        if self.token is None or not self.token.get_secret_value().strip():
            return None
        secret = self.token.get_secret_value().strip().encode()
        return "setup_" + hmac.new(secret, b"echowall setup", hashlib.sha256).hexdigest()[:20]

    def _quiet_hours(self) -> QuietHours | None:
        if not self.quiet_hours:
            return None
        start, end = (v.strip() for v in self.quiet_hours.split("-"))
        return QuietHours(self._clock_time(start), self._clock_time(end))

    def require_token(self) -> str:
        if self.token is None or not self.token.get_secret_value().strip():
            raise ConfigError(
                "ECHOWALL_TOKEN is not set. Get a token from @BotFather, or try `echowall demo`."
            )
        return self.token.get_secret_value().strip()


def load_config(**overrides: Any) -> Config:
    """Read and validate the configuration, or raise ConfigError saying what is wrong."""
    try:
        config = Config(**{k: v for k, v in overrides.items() if v is not None})
        config.category_lists()  # the lists must fit together (codes, referrals, both kinds)
        return config
    except CategoryError as exc:
        raise ConfigError(
            f"invalid configuration: ECHOWALL_CATEGORIES or _REFERRALS: {exc}"
        ) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"ECHOWALL_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
