"""Telegram's error answers: the exception a method raises and the envelope's fixed texts.

A :class:`TelegramError` becomes a non-ok answer whose HTTP status equals its ``error_code``;
the helpers build the common ones with Telegram's own English prefixes.
"""

from __future__ import annotations

# ResponseParameters: ``retry_after`` and ``migrate_to_chat_id`` are its only fields.
ResponseParameters = dict[str, int]

NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
UPGRADED = "group chat was upgraded to a supergroup chat"


class TelegramError(Exception):
    """A non-ok Bot API answer: HTTP status == error_code, plus optional parameters."""

    def __init__(
        self, code: int, description: str, parameters: ResponseParameters | None = None
    ) -> None:
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters


def bad_request(description: str, parameters: ResponseParameters | None = None) -> TelegramError:
    return TelegramError(400, f"Bad Request: {description}", parameters)


def forbidden(description: str) -> TelegramError:
    return TelegramError(403, f"Forbidden: {description}")


def too_many_requests(retry_after: int) -> TelegramError:
    return TelegramError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def migrated(to_chat_id: int) -> TelegramError:
    """A write to a group that became a supergroup, pointing at the supergroup."""
    return bad_request(UPGRADED, {"migrate_to_chat_id": to_chat_id})
