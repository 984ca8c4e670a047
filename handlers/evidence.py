"""Evidence before and after: an album's photos, a map pin, where in the building, a voice
message or video with a report, and the photo of a fix.

Photos and media are kept as Telegram file_ids, never downloaded.

**An album.** Telegram delivers an album (a media group) as one update per photo, with one
`media_group_id`; the caption, `/report …`, is on one of them (the first, as apps send it).
The photo with the caption makes the case; each other photo of the album joins it in the
transaction of its own update: a photo that comes after the case finds it among the cases
reported by the messages just before it in the chat (an album is at most ten messages, in a
row); a photo that comes before the caption waits in memory (`AlbumBuffer`, two minutes) and
is taken by the case when it is made. In a private chat the photos wait with the question
which building the report is about. A bot restarted in the middle of an album keeps the photos
that had joined.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from datetime import datetime, timedelta

from handlers import incoming
from storage.records import Attachment, Pin

# An album holds at most ten photos; one waiting longer than this is forgotten.
ALBUM_SIZE = 10
ALBUM_WAIT = timedelta(minutes=2)
_BUFFERED = 1000


class AlbumBuffer:
    """Photos of albums whose captioned photo has not come yet, in memory."""

    def __init__(self) -> None:
        self._items: OrderedDict[tuple[int, str], list[tuple[datetime, int, str]]] = OrderedDict()

    def add(self, chat_id: int, album: str, message_id: int, file_id: str, now: datetime) -> None:
        items = self._items.setdefault((chat_id, album), [])
        if all(m != message_id for _at, m, _f in items):
            items.append((now, message_id, file_id))
        while len(self._items) > _BUFFERED:
            self._items.popitem(last=False)

    def take(self, chat_id: int, album: str, now: datetime) -> list[tuple[int, str]]:
        """The photos waiting for this album as (message id, file_id), then forgotten."""
        items = self._items.pop((chat_id, album), [])
        return sorted((m, f) for at, m, f in items if now - at <= ALBUM_WAIT)


def in_order(first: tuple[int, str] | None, waiting: list[tuple[int, str]]) -> list[str]:
    """An album's photos in the order they were sent, each once."""
    photos: list[str] = []
    for _message, file_id in sorted([*([first] if first else []), *waiting]):
        if file_id not in photos:
            photos.append(file_id)
    return photos


def pin_of(location: incoming.Location | None) -> Pin | None:
    if location is None:
        return None
    return Pin(location.latitude, location.longitude, location.title, location.address)


def attachment_of(media: incoming.Media | None) -> Attachment | None:
    return Attachment(media.kind, media.file_id) if media is not None else None


# --- where in the building ------------------------------------------------------------------

_ENTRANCE = re.compile(r"(\d{1,2})\s*(?:单元|门洞)|\bentrance\s*(\d{1,2})\b", re.I)
_FLOOR = re.compile(
    r"(?<![\d号#])(\d{1,2})\s*[楼层](?![号栋幢])"
    r"|\bfloor\s*(\d{1,2})\b|\b(\d{1,2})(?:st|nd|rd|th)\s+floor\b",
    re.I,
)
_FLAT = re.compile(
    r"(?<!\d)(\d{3,4})\s*(?:室|号房|房间)|\b(?:flat|room|apt\.?)\s*(\d{1,4}[a-z]?)\b", re.I
)


def _first(pattern: re.Pattern[str], text: str) -> str | None:
    found = pattern.search(text)
    if found is None:
        return None
    return next(g for g in found.groups() if g is not None)


def where(text: str) -> tuple[str | None, str | None, str | None]:
    """Entrance, floor and flat as a report names them: 3单元, 5楼 or 5层, 502室; entrance 3,
    floor 5 or 5th floor, flat 502. A building's number (1号楼) is not a floor."""
    return _first(_ENTRANCE, text), _first(_FLOOR, text), _first(_FLAT, text)
