"""Kinvey success responses: outcomes of the pipeline and values, built from stored JSON text
(spliced, never re-encoded)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from kinbase import jsonutil
from kinbase.core.kinvey.pipeline import (
    Count,
    Deleted,
    Delta,
    Entities,
    Entity,
    Inserted,
    KinveyRequest,
    Outcome,
    Rendered,
    Value,
)
from kinbase.core.kinvey.reading import ReadResult
from kinbase.core.kinvey.wire import iso_of, join_array
from kinbase.frontends.kinvey.errors import item_error
from kinbase.frontends.kinvey.querystring import parse_query
from kinbase.http.response import JSON_MEDIA_TYPE, HttpResponse, json_bytes_response, json_response
from kinbase.query.ast import Query

__all__ = [
    "WIRE",
    "KinveyWire",
    "count",
    "created_or_ok",
    "entity",
    "listing",
    "no_content",
    "outcome",
    "texts",
    "value",
]

_JSON = {"Content-Type": JSON_MEDIA_TYPE}


def entity(text: str, status: int = 200, location: str | None = None) -> HttpResponse:
    headers = {"Location": location} if location else None
    return json_bytes_response(text.encode(), status=status, headers=headers)


def created_or_ok(text: str, created: bool, location: str) -> HttpResponse:
    """PUT's answer: 201 with ``Location`` when it created the entity, 200 when it replaced it."""
    return entity(text, 201 if created else 200, location if created else None)


def value(data: Any, status: int = 200) -> HttpResponse:
    return json_response(data, status=status)


def texts(items: Sequence[str]) -> HttpResponse:
    return json_bytes_response(join_array(items))


def no_content() -> HttpResponse:
    return HttpResponse(204)


def listing(result: ReadResult) -> HttpResponse:
    """A list read outside the pipeline (users)."""
    headers = _start(result.start)
    if result.count is not None:
        headers["X-Kinvey-Items-Count"] = str(result.count)
    return HttpResponse(200, join_array(result.texts), headers)


def count(result: ReadResult) -> HttpResponse:
    return HttpResponse(200, b'{"count":%d}' % (result.count or 0), _start(result.start))


_UNQUOTED = re.compile(r"[A-Za-z0-9_.~-]*")
"""What ``quote(s, safe="")`` leaves as it is."""


def _segment(text: str) -> str:
    return text if _UNQUOTED.fullmatch(text) else quote(text, safe="")


def _location(request: KinveyRequest, entity_id: str) -> str:
    key, collection = _segment(request.app.key), _segment(request.collection)
    return f"{request.base_url}/appdata/{key}/{collection}/{_segment(entity_id)}"


def _start(stamp: int) -> dict[str, str]:
    return {**_JSON, "X-Kinvey-Request-Start": iso_of(stamp)}


def _inserted(result: Inserted) -> bytes:
    items = ",".join("null" if text is None else text for text in result.entities)
    errors = jsonutil.dumps_str([item_error(e.index, e.error) for e in result.errors])
    return f'{{"entities":[{items}],"errors":{errors}}}'.encode()


def render(request: KinveyRequest, result: Outcome) -> Rendered:
    """``result`` as the client receives it."""
    if isinstance(result, Entity):
        if result.created:
            return Rendered(
                201, {**_JSON, "Location": _location(request, result.entity_id)}, result.text.encode()
            )
        return Rendered(200, _JSON, result.text.encode())
    if isinstance(result, Entities):
        headers = _start(result.start)
        if result.count is not None:
            headers["X-Kinvey-Items-Count"] = str(result.count)
        return Rendered(200, headers, join_array(result.texts))
    if isinstance(result, Count):
        return Rendered(200, _start(result.start), b'{"count":%d}' % result.count)
    if isinstance(result, Deleted):
        if request.api_version < 2:
            return Rendered(204, {}, b"")
        return Rendered(200, _JSON, b'{"count":%d}' % result.count)
    if isinstance(result, Inserted):
        return Rendered(207 if result.errors else 201, _JSON, _inserted(result))
    if isinstance(result, Delta):
        deleted = jsonutil.dumps_str([{"_id": i} for i in result.deleted])
        text = '{"changed":[' + ",".join(result.changed) + '],"deleted":' + deleted + "}"
        return Rendered(200, _start(result.start), text.encode())
    if isinstance(result, Value):
        return Rendered(result.status, _JSON, jsonutil.dumps(result.value))
    body = b"" if result.body is None else jsonutil.dumps(result.body)
    headers = {**_JSON, **result.headers} if body else dict(result.headers)
    return Rendered(result.status, headers, body)


def outcome(request: KinveyRequest, result: Outcome) -> HttpResponse:
    """The HTTP response of a pipeline outcome."""
    rendered = render(request, result)
    return HttpResponse(rendered.status, rendered.body, dict(rendered.headers))


class KinveyWire:
    """Kinvey's parsing and rendering, lent to the pipeline (:class:`~kinbase.core.kinvey.pipeline.Wire`)."""

    def parse_query(self, params: Mapping[str, str]) -> Query:
        return parse_query(params)

    def render(self, request: KinveyRequest, outcome: Outcome) -> Rendered:
        return render(request, outcome)


WIRE = KinveyWire()
