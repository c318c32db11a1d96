"""``/blob/:appKey[...]``: Kinvey file metadata (the Files API v3+) and the legacy ``*-loc``
endpoints, in Kinvey's envelope (credentials, ACLs as for entities).

The bytes travel through the signed URLs these answers carry (``_uploadURL``, ``_downloadURL``),
served by :mod:`.file_bytes`. The core is :mod:`kinbase.core.kinvey.files` and
:mod:`kinbase.core.kinvey.file_transfer`.
"""

from __future__ import annotations

from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.file_links import LinkOptions
from kinbase.core.kinvey.files import FilesApi
from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.frontends.kinvey.querystring import parse_query
from kinbase.http.response import HttpResponse, json_response, redirect

__all__ = [
    "download_loc",
    "file_delete",
    "file_get",
    "file_post",
    "file_put",
    "files_count",
    "files_find",
    "link_options",
    "remove_loc",
    "upload_loc",
]

_MAX_TTL = 10 * 365 * 86400


def _ttl(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10 or not 0 < int(raw) <= _MAX_TTL:
        raise KinveyError(
            "ParameterValueOutOfRange", f"{name} must be a number of seconds (1 to {_MAX_TTL})."
        )
    return int(raw)


def link_options(call: KinveyCall, ttl_name: str = "ttl_in_seconds", tls_name: str = "tls") -> LinkOptions:
    """Where links point and how long download links live (``ttl_in_seconds``, ``tls``).

    Raises:
        KinveyError: ParameterValueOutOfRange for a ttl that is not a positive number of seconds.
    """
    tls = call.query.get(tls_name, "true").lower() != "false"
    return LinkOptions(call.base_url(), _ttl(call.query.get(ttl_name), ttl_name), tls)


def _content_type(call: KinveyCall) -> str | None:
    value = call.request.headers.get("x-kinvey-content-type", "").strip()
    return value or None


def _location(call: KinveyCall, file_id: str) -> str:
    return call.url("blob", call.app.key, file_id)


async def file_post(call: KinveyCall) -> HttpResponse:
    """Create a file's metadata (201) with the URL to upload its bytes to."""
    body = await call.json_body()
    doc, _ = await call.core.files.kinvey.save(
        call.app,
        call.caller,
        body,
        file_id=None,
        content_type=_content_type(call),
        api=FilesApi(call.api_version),
        options=link_options(call),
    )
    return json_response(doc, 201, {"Location": _location(call, str(doc["_id"]))})


async def file_put(call: KinveyCall) -> HttpResponse:
    """Create (201) or replace (200) a file's metadata; a replaced file gets a new upload URL."""
    file_id = call.params["file_id"]
    body = await call.json_body()
    doc, created = await call.core.files.kinvey.save(
        call.app,
        call.caller,
        body,
        file_id=file_id,
        content_type=_content_type(call),
        api=FilesApi(call.api_version),
        options=link_options(call),
    )
    if created:
        return json_response(doc, 201, {"Location": _location(call, file_id)})
    return json_response(doc)


async def file_get(call: KinveyCall) -> HttpResponse:
    """The metadata with a signed ``_downloadURL`` (before API version 2: a 302 to it)."""
    doc = await call.core.files.kinvey.get(call.app, call.caller, call.params["file_id"], link_options(call))
    if FilesApi(call.api_version).redirects_downloads:
        return redirect(str(doc["_downloadURL"]), 302)
    return json_response(doc)


async def files_find(call: KinveyCall) -> HttpResponse:
    """The files matching ``query`` that the caller may read, each with its ``_downloadURL``."""
    query = parse_query(call.query)
    files = call.core.files.kinvey
    docs = await files.find(call.app, call.caller, query, link_options(call), api=FilesApi(call.api_version))
    headers: dict[str, str] = {}
    if call.flag("x-kinvey-include-items-count"):
        headers["X-Kinvey-Items-Count"] = str(await files.count(call.app, call.caller, query))
    return json_response(docs, headers=headers)


async def files_count(call: KinveyCall) -> HttpResponse:
    """How many files match ``query`` among those the caller may read."""
    count = await call.core.files.kinvey.count(call.app, call.caller, parse_query(call.query))
    return render.value({"count": count})


async def file_delete(call: KinveyCall) -> HttpResponse:
    """Delete the metadata and the bytes (``{"count": 1}``; 204 before API version 2)."""
    count = await call.core.files.kinvey.delete(call.app, call.caller, call.params["file_id"])
    if call.api_version < 2:
        return render.no_content()
    return render.value({"count": count})


# -- legacy endpoints (files named by their _filename) ------------------------------------------------
async def upload_loc(call: KinveyCall) -> HttpResponse:
    """``{"URI": <url>}``: where to PUT the whole file (a new file, or a new version of the
    caller's newest file of that name)."""
    url = await call.core.files.transfer.legacy_upload(
        call.app, call.caller, call.params["name"], FilesApi(call.api_version), link_options(call)
    )
    return render.value({"URI": url})


async def download_loc(call: KinveyCall) -> HttpResponse:
    """``{"URI": <url>}`` of the newest readable file of that name (before API version 2: a 302)."""
    url = await call.core.files.transfer.legacy_download(
        call.app, call.caller, call.params["name"], link_options(call)
    )
    if FilesApi(call.api_version).redirects_downloads:
        return redirect(url, 302)
    return render.value({"URI": url})


async def remove_loc(call: KinveyCall) -> HttpResponse:
    """``{"URI": <url>}``: a URL that deletes the file when sent a DELETE."""
    url = await call.core.files.transfer.legacy_remove(
        call.app, call.caller, call.params["name"], link_options(call)
    )
    return render.value({"URI": url})
