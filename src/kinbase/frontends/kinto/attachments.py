"""The ``kinto-attachment`` plugin's endpoints: ``POST``/``DELETE
/buckets/{bid}/collections/{cid}/records/{rid}/attachment``, and the files at the capability's
``base_url`` (``/attachments/{app_key}/{location}`` when kinbase serves them).

The ``POST`` body is ``multipart/form-data``: the file in the part ``attachment``, and optionally
the parts ``data`` and ``permissions`` (JSON text) for the record. It is parsed as it arrives
(``multipart``'s push parser) and the file's bytes go straight to the byte store, never held whole
in memory; ``data`` and ``permissions`` must come before the file (as every client sends them).
The core is :mod:`kinbase.core.kinto.attachments`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from multipart import MultipartSegment, ParserError, PushMultipartParser

from kinbase import jsonutil
from kinbase.core.kinto.attachments import IncomingFile
from kinbase.core.kinto.model import Target
from kinbase.core.services import Core
from kinbase.errors import InvalidJSON
from kinbase.frontends.kinto.call import KintoCall, KintoResponse, json_response
from kinbase.frontends.kinto.errors import Errno, KintoError
from kinbase.http.limits import check_json_depth
from kinbase.http.ranges import ServedBytes, byte_response
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse
from kinbase.numerals import uint
from kinbase.storage.base import AppRecord

__all__ = ["FILES_PREFIX", "base_url", "delete_attachment", "post_attachment", "serve_file"]

FILES_PREFIX = "/attachments/"
"""Where kinbase serves attachment files: ``/attachments/{app_key}/{location}``."""
FILE_FIELD = "attachment"
_FIELDS = ("data", "permissions")
_MAX_FIELD_BYTES = 1024 * 1024


def base_url(origin: str, app: AppRecord, configured: str) -> str:
    """The capability's ``base_url`` (always ending with ``/``): the configured one, else kinbase's."""
    url = configured or f"{origin}{FILES_PREFIX}{quote(app.key, safe='')}/"
    return url if url.endswith("/") else url + "/"


def _posted(message: str) -> KintoError:
    return KintoError(Errno.INVALID_POSTED_DATA, message)


def _boundary(content_type: str | None) -> str:
    media, _, rest = (content_type or "").partition(";")
    if media.strip().lower() != "multipart/form-data":
        raise KintoError(Errno.INVALID_PARAMETERS, "Content-Type should be multipart/form-data")
    for option in rest.split(";"):
        name, _, value = option.strip().partition("=")
        if name.strip().lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"')
    raise KintoError(Errno.INVALID_PARAMETERS, "Content-Type multipart/form-data needs a boundary")


class _Form:
    """The multipart body of one request, parsed as it streams in."""

    def __init__(self, body: AsyncIterator[bytes], boundary: str) -> None:
        self.body = body
        self.parser = PushMultipartParser(boundary, max_header_size=8192, max_header_count=16)
        self.events: list[MultipartSegment | bytes | None] = []
        self.fields: dict[str, Any] = {}
        self.file: MultipartSegment | None = None

    async def _next(self) -> MultipartSegment | bytes | bool | None:
        """The next parser event; False once the body is over."""
        while not self.events:
            if self.parser.closed:
                return False
            chunk = await anext(self.body, b"")
            try:
                self.events.extend(self.parser.parse(chunk))
            except ParserError as exc:
                raise _posted(f"The multipart body is malformed: {exc}") from None
        return self.events.pop(0)

    async def until_file(self) -> MultipartSegment:
        """Read the form fields before the file; return the file's part.

        Raises:
            KintoError: 400/109 for an unknown or malformed field or a missing file.
        """
        while True:
            event = await self._next()
            if event is False:
                raise _posted("Attachment missing.")
            if not isinstance(event, MultipartSegment):
                continue
            if event.name == FILE_FIELD and event.filename is not None:
                self.file = event
                return event
            await self._field(event)

    async def _field(self, segment: MultipartSegment) -> None:
        name = segment.name or ""
        if name not in _FIELDS:
            raise _posted(f"body: {name!r} not in ('data', 'permissions')")
        if segment.filename is not None:
            raise _posted(f"body: {name!r} field should be passed as form data, not files")
        raw = bytearray()
        while True:
            event = await self._next()
            if event is None or event is False:
                break
            if isinstance(event, bytes):
                raw += event
                if len(raw) > _MAX_FIELD_BYTES:
                    raise _posted(f"body: {name} is larger than {_MAX_FIELD_BYTES} bytes")
        try:
            check_json_depth(bytes(raw))
            value = jsonutil.loads(bytes(raw))
        except InvalidJSON as exc:
            raise _posted(f"body: {name} is not valid JSON ({exc.message})") from None
        if jsonutil.has_nul(bytes(raw), value):
            raise _posted(f"body: {name} may not contain the character U+0000")
        if not isinstance(value, dict):
            raise _posted(f"body: {name} should be a JSON object")
        self.fields[name] = value

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """The file's bytes; then the rest of the body, which may hold nothing more."""
        while True:
            event = await self._next()
            if event is None or event is False:
                break
            if isinstance(event, bytes):
                yield event
        while True:
            event = await self._next()
            if event is False:
                return
            if isinstance(event, MultipartSegment):
                name = event.name or ""
                if name in _FIELDS:
                    raise _posted(f"body: send {name!r} before the file")
                raise _posted(f"body: {name!r} not in ('data', 'permissions')")


def _record_target(call: KintoCall, target: Target) -> str:
    assert target.id is not None
    path = "/".join(
        quote(part, safe="")
        for part in ("buckets", target.bucket, "collections", target.collection, "records", target.id)
    )
    return f"{call.request.base_url}/{path}"


async def post_attachment(call: KintoCall, target: Target) -> KintoResponse:
    """Store the file and set the record's ``attachment`` (creating the record if needed): 201."""
    http = call.request.http
    if http is None:
        raise KintoError(Errno.INVALID_PARAMETERS, "Attachments cannot be sent in a batch.")
    boundary = _boundary(call.header("content-type"))
    declared = call.header("content-length")
    hint = uint(declared) if declared is not None else None
    form = _Form(http.stream(), boundary)
    part = await form.until_file()
    incoming = IncomingFile(part.filename or "", part.content_type, form.file_chunks(), hint)
    data = form.fields.get("data")
    permissions = form.fields.get("permissions")
    result = await call.core.files.attachments.attach(call.ctx, target, incoming, data, permissions)
    return json_response(result.attachment, 201, {"Location": _record_target(call, target)})


async def delete_attachment(call: KintoCall, target: Target) -> KintoResponse:
    """Set the record's ``attachment`` to null and delete its file: 204."""
    await call.core.files.attachments.detach(call.ctx, target)
    return KintoResponse(204, b"", {})


async def serve_file(core: Core, app: AppRecord, request: HttpRequest, location: str) -> HttpResponse:
    """``GET``/``HEAD`` a file at ``base_url + location`` (no credentials, as from the plugin's CDN)."""
    service = core.files.attachments
    served = await service.served(app, location)
    etag = f'"{served.sha256}"' if served.sha256 else f'"{served.modified}"'
    return await byte_response(
        request,
        ServedBytes(served.size, served.content_type, etag, served.modified),
        lambda start, end: service.open(served, start, end),
        {"Cache-Control": "public, max-age=3600"},
    )
