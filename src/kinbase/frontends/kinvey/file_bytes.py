"""The signed URLs of Kinvey files: ``/blob/:appKey/:id/_upload``, ``_download`` and ``_remove``.

The signed ``token`` is the credential (the SDKs send these requests without ``Authorization``).
Uploads speak the resumable protocol the SDKs use (Google Cloud Storage's): a ``PUT`` with
``Content-Range: bytes */N`` asks how much arrived, ``bytes a-b/N`` appends a chunk, a body
without ``Content-Range`` (``PUT`` or ``POST``) is the whole file. An incomplete upload answers
``308`` with ``Range: bytes=0-<last committed byte>``; a complete one ``200`` with the file's
metadata. Bodies are streamed into the byte store and downloads out of it, never held whole.
Errors are Kinvey's (rendered by the front-end).
"""

from __future__ import annotations

import re

from kinbase.core.files.errors import BadUploadRange
from kinbase.core.files.uploads import UploadProgress, UploadRange
from kinbase.core.services import Core
from kinbase.http.ranges import ServedBytes, byte_response
from kinbase.http.request import HttpRequest
from kinbase.http.response import HttpResponse, json_response

__all__ = ["download", "parse_content_range", "remove", "upload", "upload_post"]

_RANGE = re.compile(r"bytes\s+(?:(\d{1,18})-(\d{1,18})|\*)/(\d{1,18}|\*)", re.IGNORECASE)


def parse_content_range(header: str | None) -> UploadRange:
    """What an upload request's ``Content-Range`` says (none: the body is the whole file).

    Raises:
        BadUploadRange: a malformed header, a last byte before the first, or a range past the total.
    """
    if header is None or not header.strip():
        return UploadRange.whole_file()
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        raise BadUploadRange(f"Content-Range {header[:60]!r} is not 'bytes a-b/N', 'bytes */N' or '/*'.")
    first, last, total_text = found.groups()
    total = None if total_text == "*" else int(total_text)
    if first is None:
        return UploadRange.status(total)
    start, end = int(first), int(last)
    if end < start or (total is not None and end >= total):
        raise BadUploadRange(f"Content-Range {header[:60]!r} does not fit a file of {total_text} bytes.")
    return UploadRange(start, end, total)


def _progress(progress: UploadProgress) -> HttpResponse:
    if progress.complete:
        return json_response(progress.result)
    headers = {"Range": f"bytes=0-{progress.committed - 1}"} if progress.committed else {}
    return HttpResponse(308, b"", headers)


async def upload(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """``PUT``/``POST`` to an upload URL: a status query, a chunk or the whole file."""
    app = await core.apps.require(params["app_key"])
    where = parse_content_range(request.headers.get("content-range"))
    chunks = request.stream() if where.start is not None else None
    progress = await core.files.transfer.upload(
        app, params["file_id"], request.params.get("token"), where, chunks
    )
    return _progress(progress)


async def upload_post(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """``POST`` to an upload URL (the NativeScript SDK's single-shot upload): as ``PUT``."""
    return await upload(core, request, params)


async def download(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """``GET`` a download URL: the bytes (``Range``, ``ETag``, ``If-None-Match``)."""
    app = await core.apps.require(params["app_key"])
    transfer = core.files.transfer
    target = await transfer.download(app, params["file_id"], request.params.get("token"))
    served = ServedBytes(
        target.size, target.content_type, f'"{target.version}"', target.modified, target.filename
    )

    return await byte_response(
        request, served, lambda s, e: transfer.open(target, s, e), {"Cache-Control": "private, max-age=0"}
    )


async def remove(core: Core, request: HttpRequest, params: dict[str, str]) -> HttpResponse:
    """``DELETE`` a legacy remove URL: the file (metadata and bytes) is deleted; 204."""
    app = await core.apps.require(params["app_key"])
    await core.files.transfer.remove(app, params["file_id"], request.params.get("token"))
    return HttpResponse(204)
