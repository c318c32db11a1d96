"""Utility endpoints: the hello document, heartbeats, version, contribute.json, flush and
``GET /permissions``."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from kinbase import __version__
from kinbase.core.kinto.config import KintoConfig
from kinbase.errors import BaaSError
from kinbase.frontends.kinto.attachments import base_url
from kinbase.frontends.kinto.call import KintoCall, KintoResponse, json_response
from kinbase.frontends.kinto.errors import Errno, KintoError
from kinbase.frontends.kinto.querystring import kinto_querystring
from kinbase.kinto_admin import admin_dir, build_at
from kinbase.query.ast import SortKey
from kinbase.query.kinto import split_filter
from kinbase.query.kinto_querystring import page_token

__all__ = ["HTTP_API_VERSION", "flush", "heartbeat", "hello", "lbheartbeat", "permissions", "version"]

HTTP_API_VERSION = "1.23"
ATTACHMENT_PLUGIN_VERSION = "9.0.0"
"""The kinto-attachment release whose behaviour the attachment endpoints follow."""
_DOCS = "https://kinto.readthedocs.io/en/latest/"


def capabilities(call: KintoCall) -> dict[str, Any]:
    config = call.ctx.config
    caps: dict[str, Any] = {}
    if config.default_bucket:
        caps["default_bucket"] = {
            "description": "The default bucket is an alias for a personal bucket where collections are "
            "created implicitly.",
            "url": _DOCS + "api/1.x/buckets.html#personal-bucket-default",
        }
    if config.accounts:
        caps["accounts"] = {
            "description": "Manage user accounts.",
            "url": _DOCS + "api/1.x/accounts.html",
            "validation_enabled": False,
        }
    if config.history:
        caps["history"] = _history_capability(config)
    if config.permissions_endpoint:
        caps["permissions_endpoint"] = {
            "description": "The permissions endpoint can be used to list all user objects permissions.",
            "url": _DOCS + "configuration/settings.html#activating-the-permissions-endpoint",
        }
    if config.flush_endpoint:
        caps["flush_endpoint"] = {
            "description": "The __flush__ endpoint can be used to remove all data from all backends.",
            "url": _DOCS + "configuration/settings.html#activating-the-flush-endpoint",
        }
    caps["attachments"] = {
        "description": "Add file attachments to records",
        "url": "https://github.com/Kinto/kinto-attachment/",
        "version": ATTACHMENT_PLUGIN_VERSION,
        "base_url": base_url(call.request.origin, call.ctx.app, config.attachment_base_url),
    }
    admin = build_at(admin_dir(call.core.settings))
    if admin.present:
        caps["admin"] = {
            "description": "Serves the admin console.",
            "url": "https://github.com/Kinto/kinto-admin/",
            "version": admin.version,
        }
    if config.schema_validation:
        caps["schema"] = {
            "description": "Validates collection records with JSON schemas.",
            "url": _DOCS + "api/1.x/buckets.html#collection-json-schema",
        }
    return caps


def _history_capability(config: KintoConfig) -> dict[str, Any]:
    """Kinto's history capability, with the trim and exclusion settings that are set."""
    cap: dict[str, Any] = {"description": "Track changes on data.", "url": _DOCS + "api/1.x/history.html"}
    if config.history_auto_trim_max_count > 0:
        cap["auto_trim_max_count"] = config.history_auto_trim_max_count
    if config.history_auto_trim_user_ids:
        cap["auto_trim_user_ids"] = list(config.history_auto_trim_user_ids)
    if config.history_exclude_resources:
        cap["excluded_resources"] = [_uri_parts(uri) for uri in config.history_exclude_resources]
    return cap


def _uri_parts(uri: str) -> dict[str, str]:
    """``/buckets/b/collections/c`` as ``{"bucket": "b", "collection": "c"}``."""
    parts = uri.strip("/").split("/")
    names = {"buckets": "bucket", "collections": "collection", "groups": "group", "records": "record"}
    return {names[parts[i]]: parts[i + 1] for i in range(0, len(parts) - 1, 2)}


async def hello(call: KintoCall) -> KintoResponse:
    config = call.ctx.config
    body: dict[str, Any] = {
        "project_name": config.project_name,
        "project_version": __version__,
        "http_api_version": HTTP_API_VERSION,
        "project_docs": config.project_docs,
        "url": call.request.base_url + "/",
        "settings": {
            "batch_max_requests": config.batch_max_requests,
            "readonly": config.readonly,
            "explicit_permissions": config.explicit_permissions,
        },
        "capabilities": capabilities(call),
    }
    if config.eos:
        body["eos"] = config.eos
    if call.ctx.user_id is not None:
        user: dict[str, Any] = {
            "id": call.ctx.user_id,
            "principals": sorted(_kinto(p) for p in call.ctx.principals),
        }
        bucket = call.kinto.default_bucket_id(call.ctx)
        if bucket is not None:
            user["bucket"] = bucket
        body["user"] = user
    headers = {}
    if config.readonly:
        headers["Cache-Control"] = "max-age=86400"
    return json_response(body, headers=headers)


def _kinto(principal: str) -> str:
    from kinbase.core.kinto.model import to_kinto

    return to_kinto(principal)


async def heartbeat(call: KintoCall) -> KintoResponse:
    try:
        ok = await asyncio.wait_for(call.kinto.heartbeat(), timeout=10)
    except TimeoutError:
        ok = False
    files = await _byte_store_ok(call)
    body = {"storage": ok, "permission": ok, "cache": True, "attachments": files}
    return json_response(body, status=200 if ok and files else 503)


async def _byte_store_ok(call: KintoCall) -> bool:
    """Whether the byte store of the attachments answers (the plugin's ``attachments`` heartbeat)."""
    try:
        return await asyncio.wait_for(call.core.files.store.ping(), timeout=10)
    except (TimeoutError, BaaSError):
        return False


async def lbheartbeat(call: KintoCall) -> KintoResponse:
    return json_response({})


async def version(call: KintoCall) -> KintoResponse:
    return json_response(
        {
            "name": "kinbase",
            "version": __version__,
            "source": "https://github.com/kinbase/kinbase",
            "commit": "",
            "build": "",
        }
    )


async def contribute(call: KintoCall) -> KintoResponse:
    return json_response(
        {
            "name": "kinbase",
            "description": "A self-hosted backend speaking the Kinvey REST API and the Kinto HTTP API.",
            "keywords": ["backend", "kinto", "kinvey", "sync"],
        }
    )


async def flush(call: KintoCall) -> KintoResponse:
    if not call.ctx.config.flush_endpoint:
        raise KintoError(Errno.MISSING_RESOURCE)
    await call.kinto.flush(call.ctx)
    return json_response({}, status=202)


_BY_URI = SortKey(("uri",), True, "kinto")


def _without_stamps(query: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """Kinto drops filters on ``last_modified`` here: permission entries have none."""
    return [
        (k, v)
        for k, v in query
        if k not in ("_since", "_before", "_to")
        and (k.startswith("_") or split_filter(k)[1] != "last_modified")
    ]


async def permissions(call: KintoCall) -> KintoResponse:
    """The caller's permissions (default order ``-uri``, which also breaks ties)."""
    if not call.ctx.config.permissions_endpoint:
        raise KintoError(Errno.MISSING_RESOURCE)
    request = call.request
    qs = kinto_querystring(_without_stamps(request.query), default_sort=(_BY_URI,), tiebreaker=_BY_URI)
    cap = call.ctx.config.page_cap
    limit = min(qs.limit, cap) if qs.limit is not None else cap
    page = await call.kinto.permissions(call.ctx, qs, limit)
    if request.method == "HEAD":
        total = str(page.total)
        return KintoResponse(200, b"", {"Total-Objects": total, "Total-Records": total})
    headers = {}
    if page.more and page.entries:
        token = page_token(qs.sort, page.entries[-1], qs.offset + len(page.entries))
        params = [(k, v) for k, v in request.query if k not in ("_limit", "_token")]
        params += [("_limit", str(qs.limit if qs.limit is not None else limit)), ("_token", token)]
        headers["Next-Page"] = f"{request.base_url}{request.path}?{urlencode(params)}"
    return json_response({"data": page.entries}, headers=headers)
