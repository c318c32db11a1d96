"""Plural endpoints: ``GET`` (a page, with ``Next-Page``), ``HEAD`` (``Total-Objects``),
``DELETE`` (tombstones) and ``POST`` (create), for buckets, collections, groups, records and
accounts, and ``GET``/``DELETE`` of a bucket's history."""

from __future__ import annotations

import orjson

from kinbase import jsonutil
from kinbase.core.kinto.errors import ObjectChanged
from kinbase.core.kinto.listing import ListResult
from kinbase.core.kinto.model import Target
from kinbase.core.kinto.objects import Conditions
from kinbase.frontends.kinto.call import KintoCall, KintoResponse
from kinbase.frontends.kinto.objects import content_kind, parse_body, render_object
from kinbase.frontends.kinto.querystring import Page, next_page_url, parse_listing, project

__all__ = ["delete_history", "delete_plural", "get_plural", "head_plural", "post_plural"]


def _check_plural_preconditions(call: KintoCall, stamp: int) -> KintoResponse | None:
    if_match = call.precondition("If-Match")
    if_none_match = call.precondition("If-None-Match")
    if isinstance(if_match, int) and if_match != stamp:
        raise ObjectChanged(None, stamp)
    if isinstance(if_none_match, int) and if_none_match == stamp:
        return KintoResponse(304, b"", call.stamp_headers(stamp))
    return None


def _page_response(call: KintoCall, page: Page, result: ListResult, items: list[bytes]) -> KintoResponse:
    headers = call.stamp_headers(result.stamp, result.cache_expires)
    if result.more and result.texts:
        request = call.request
        last = orjson.loads(result.texts[-1])
        headers["Next-Page"] = next_page_url(
            request.base_url, request.path, request.query, page, last, len(result.texts)
        )
    if page.deprecated_to:
        headers["Alert"] = jsonutil.dumps_str(
            {"code": "soft-eol", "message": "_to is deprecated, use _before instead.", "url": ""}
        )
    # one copy of a long page (``b",".join`` of one item is that item)
    return KintoResponse(200, b"".join((b'{"data":[', b",".join(items), b"]}")), headers)


async def get_plural(call: KintoCall, plural: Target) -> KintoResponse:
    page = parse_listing(call.request.query, call.ctx.config)
    result = await call.kinto.listing.page(call.ctx, plural, page.listing, joined=page.fields is None)
    not_modified = _check_plural_preconditions(call, result.stamp)
    if not_modified is not None:
        return not_modified
    if result.joined is not None:  # a long page the database joined
        return _page_response(call, page, result, [result.joined.encode()] if result.joined else [])
    if page.fields is None:
        # the common case: splice the texts the database rendered, encoded once
        texts = result.texts
        return _page_response(call, page, result, [",".join(texts).encode()] if texts else [])
    fields = page.fields
    items = [jsonutil.dumps(project(orjson.loads(text), fields)) for text in result.texts]
    return _page_response(call, page, result, items)


async def head_plural(call: KintoCall, plural: Target) -> KintoResponse:
    page = parse_listing(call.request.query, call.ctx.config)
    total, stamp = await call.kinto.listing.count(call.ctx, plural, page.listing)
    not_modified = _check_plural_preconditions(call, stamp)
    if not_modified is not None:
        return not_modified
    headers = call.stamp_headers(stamp)
    headers["Total-Objects"] = headers["Total-Records"] = str(total)
    return KintoResponse(200, b"", headers)


async def delete_plural(call: KintoCall, plural: Target) -> KintoResponse:
    page = parse_listing(call.request.query, call.ctx.config)
    if call.precondition("If-Match") is not None:
        _check_plural_preconditions(call, await call.kinto.listing.stamp(call.ctx, plural))
    results, more = await call.kinto.listing.delete(call.ctx, plural, page.listing)
    stamp = await call.kinto.listing.stamp(call.ctx, plural)
    headers = call.stamp_headers(stamp)
    if more and results:
        last = results[-1]
        tomb = {"id": orjson.loads(last.data)["id"], "last_modified": last.stamp, "deleted": True}
        request = call.request
        headers["Next-Page"] = next_page_url(
            request.base_url, request.path, request.query, page, tomb, len(results)
        )
    return KintoResponse(200, b'{"data":[' + b",".join(r.data.encode() for r in results) + b"]}", headers)


async def post_plural(call: KintoCall, plural: Target) -> KintoResponse:
    content_kind(call)
    body = parse_body(call)
    if_match = call.precondition("If-Match")
    if isinstance(if_match, int):
        _check_plural_preconditions(call, await call.kinto.listing.stamp(call.ctx, plural))
    cond = Conditions(None, call.precondition("If-None-Match"))  # type: ignore[arg-type]
    result = await call.kinto.objects.post(call.ctx, plural, body, cond)
    return KintoResponse(
        201 if result.created else 200, render_object(result), call.stamp_headers(result.stamp)
    )


async def delete_history(call: KintoCall, plural: Target) -> KintoResponse:
    page = parse_listing(call.request.query, call.ctx.config)
    results = await call.kinto.delete_history(call.ctx, plural.bucket, page.listing)
    return KintoResponse(200, b'{"data":[' + b",".join(r.data.encode() for r in results) + b"]}")
