"""Files the world knows: photos and documents with their file_ids, for sending them again.

Every photo (a user's or the bot's) and every uploaded document gets a file_id here, so a bot
can send it once more by that id, as it would on Telegram.
"""

from __future__ import annotations

import itertools
import mimetypes
from dataclasses import dataclass
from typing import Literal

from localapi.model import JSON
from localapi.params import Upload


@dataclass
class StoredFile:
    """A known file: a PhotoSize or Document object, and a document's bytes."""

    kind: Literal["photo", "document", "voice", "video"]
    json: JSON
    data: bytes = b""


class FileStore:
    """file_id → file, and the making of new file_ids."""

    def __init__(self) -> None:
        self._files: dict[str, StoredFile] = {}
        self._ids = itertools.count(1)

    def get(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def _new_id(self, prefix: str) -> tuple[str, str]:
        n = next(self._ids)
        return f"{prefix}{n:08d}LocalBotAPIfile", f"AgAD{n:08d}"

    def photo_sizes(self, data: bytes) -> list[JSON]:
        """Three PhotoSize objects of a new photo (with sizes when its bytes are known)."""
        sizes = []
        for width in (90, 320, 800):
            file_id, unique_id = self._new_id("AgACAgIAAxk")
            size: JSON = {
                "file_id": file_id,
                "file_unique_id": unique_id,
                "width": width,
                "height": width,
            }
            if data:
                size["file_size"] = max(1, len(data) * width // 800)
            sizes.append(size)
            self._files[file_id] = StoredFile("photo", size)
        return sizes

    def media(self, kind: Literal["voice", "video"], mime: str) -> JSON:
        """A new voice message or video a user sends (three seconds long, no bytes)."""
        file_id, unique_id = self._new_id("AwACAgIAAxk" if kind == "voice" else "BAACAgIAAxk")
        item: JSON = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "duration": 3,
            "mime_type": mime,
        }
        if kind == "video":
            item.update(width=640, height=360)
        self._files[file_id] = StoredFile(kind, item)
        return item

    def document(self, upload: Upload) -> JSON:
        """The Document object of a new upload; its MIME type guessed from the name if unset."""
        file_id, unique_id = self._new_id("BQACAgIAAxk")
        mime = upload.content_type
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        document: JSON = {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": upload.filename,
            "mime_type": mime,
            "file_size": len(upload.data),
        }
        self._files[file_id] = StoredFile("document", document, upload.data)
        return document
