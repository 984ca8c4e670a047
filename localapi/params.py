"""One Bot API call's parameters, whatever transport encoding they arrived in.

:func:`read_params` decodes the query string and a JSON, url-encoded or multipart body into
:class:`Params`; its typed getters answer a malformed value as Telegram does.  ``Handler`` is
the shape of every Bot API method.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from localapi.errors import bad_request


@dataclass
class Upload:
    """A file uploaded with the request (multipart), or named by URL (then without bytes)."""

    filename: str
    content_type: str | None
    data: bytes


class Params:
    """Parameters of one Bot API call: plain values (JSON posts keep their types) and files."""

    def __init__(self, values: dict[str, object], files: dict[str, Upload]) -> None:
        self.values = values
        self.files = files

    def for_record(self) -> dict[str, object]:
        """The values, with uploads as short descriptions, for an ErrorRecord."""
        data = dict(self.values)
        for name, upload in self.files.items():
            data[name] = f"<file {upload.filename!r}, {len(upload.data)} bytes>"
        return data

    def get(self, name: str) -> object:
        """The raw value; an empty string counts as absent (None)."""
        value = self.values.get(name)
        return None if value is None or value == "" else value

    def get_str(self, name: str) -> str | None:
        value = self.get(name)
        return None if value is None else str(value)

    def get_int(self, name: str) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(f"invalid {name} specified") from None

    def get_float(self, name: str) -> float | None:
        value = self.get(name)
        if value is None:
            return None
        if not isinstance(value, (int, float, str)):
            raise bad_request(f"invalid {name} specified")
        try:
            return float(value)
        except ValueError:
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str) -> bool:
        value = self.get(name)
        if isinstance(value, bool):
            return value
        if value is None:
            return False
        return str(value).strip().lower() in ("true", "1")

    def get_json(self, name: str, error: str) -> object:
        """A complex field: JSON-encoded string in form posts, a real object in JSON posts."""
        value = self.get(name)
        if isinstance(value, str):
            try:
                decoded: object = json.loads(value)
            except ValueError:
                raise bad_request(error) from None
            return decoded
        return value

    def get_file(self, name: str) -> Upload | str | None:
        """An uploaded file (part named ``name`` or ``attach://x``) or a file_id/URL string."""
        if name in self.files:
            return self.files[name]
        value = self.get_str(name)
        if value is not None and value.startswith("attach://"):
            return self.files.get(value[len("attach://") :])
        return value


# A Bot API method: the call's parameters and its request (a long poll watches the connection).
Handler = Callable[[Params, web.Request], Awaitable[object]]


async def read_params(request: web.Request) -> Params:
    """The query string and body of a Bot API request; a broken JSON body is a Bad Request."""
    values: dict[str, object] = dict(request.query)
    files: dict[str, Upload] = {}
    if request.can_read_body:
        ctype = request.content_type
        if ctype == "application/json":
            raw = await request.text()
            if raw.strip():
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise bad_request("can't parse JSON encoded request body") from None
                if not isinstance(body, dict):
                    raise bad_request("can't parse JSON encoded request body")
                values.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = Upload(value.filename, value.content_type, value.file.read())
                elif isinstance(value, (bytes, bytearray)):
                    values[key] = bytes(value).decode("utf-8", "replace")
                else:
                    values[key] = value
    return Params(values, files)
