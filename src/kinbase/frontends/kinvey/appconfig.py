"""``/appconfig/:appKey``: the app configuration and the schedules over HTTP, master secret only.

The same operations as ``kinbase apply``, ``kinbase config export`` and ``kinbase schedules
list|runs`` (``docs/app-config.md``): ``GET`` the configuration in force (JSON, or TOML with
``?format=toml`` or ``Accept: application/toml``), ``PUT`` a file (TOML, or the JSON document) to
apply it as a whole (``?dry_run=true``: the changes, nothing applied). A refused file answers
``BadRequest`` with every problem, each with its key and line, and changes nothing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kinbase import jsonutil
from kinbase.core.appconfig import AppConfig, AppConfigInvalid, ApplyResult, from_document, parse_toml
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.schedules.scheduler import next_tick
from kinbase.frontends.kinvey import render
from kinbase.frontends.kinvey.call import KinveyCall
from kinbase.http.limits import check_json_depth
from kinbase.http.response import HttpResponse
from kinbase.numerals import uint

__all__ = ["TOML_MEDIA_TYPE", "get", "put", "runs", "schedules"]

TOML_MEDIA_TYPE = "application/toml"
_TRUE = ("true", "1", "yes")
_MAX_RUNS = 1000


def _wants_toml(call: KinveyCall) -> bool:
    requested = call.query.get("format", "").lower()
    if requested in ("toml", "json"):
        return requested == "toml"
    if requested:
        raise KinveyError("BadRequest", "format must be 'toml' or 'json'.")
    accept = call.request.headers.get("accept", "").lower()
    return TOML_MEDIA_TYPE in accept and "application/json" not in accept


async def get(call: KinveyCall) -> HttpResponse:
    """The configuration in force (export): applying it back changes nothing."""
    if _wants_toml(call):
        text = await call.core.appconfig.export_toml(call.app)
        return HttpResponse(200, text.encode(), {"Content-Type": f"{TOML_MEDIA_TYPE}; charset=utf-8"})
    return render.value((await call.core.appconfig.export(call.app)).document())


def _refused(exc: AppConfigInvalid) -> KinveyError:
    return KinveyError("BadRequest", {"message": exc.message, "problems": exc.details})


async def _parse(call: KinveyCall) -> AppConfig:
    raw = await call.request.body(call.core.settings.max_body_bytes)
    media = call.request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if media == "application/json" or media.endswith("+json"):
            check_json_depth(raw)
            document = jsonutil.loads(raw) if raw.strip() else None
            if not isinstance(document, dict):
                raise KinveyError("BadRequest", "A JSON configuration is an object, as GET returns it.")
            return from_document(document)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise KinveyError("BadRequest", "The configuration file is not UTF-8 text.") from None
        return parse_toml(text)
    except AppConfigInvalid as exc:
        raise _refused(exc) from None


def _result(result: ApplyResult, dry_run: bool) -> dict[str, Any]:
    return {
        "applied": result.applied,
        "dryRun": dry_run,
        "changes": [str(change) for change in result.changes],
        "version": result.version,
        "indexesBuilt": result.indexes_built,
    }


async def put(call: KinveyCall) -> HttpResponse:
    """Apply a whole configuration file (TOML, or JSON with ``Content-Type: application/json``)."""
    dry_run = call.query.get("dry_run", call.query.get("dryRun", "")).lower() in _TRUE
    config = await _parse(call)
    result = await call.core.appconfig.apply(call.app, config, dry_run=dry_run)
    return render.value(_result(result, dry_run))


async def schedules(call: KinveyCall) -> HttpResponse:
    """The app's schedules with their next run (UTC)."""
    config = await call.core.appconfig.current(call.app)
    now = datetime.now(UTC)
    out = []
    for name, schedule in sorted(config.schedules.items()):
        upcoming = next_tick(schedule.cron, now).strftime("%Y-%m-%dT%H:%M:%SZ") if schedule.active else None
        out.append(
            {
                "name": name,
                "cron": schedule.cron,
                "service": schedule.service,
                "function": schedule.function,
                "enabled": schedule.active,
                "nextRun": upcoming,
            }
        )
    return render.value(out)


async def runs(call: KinveyCall) -> HttpResponse:
    """The latest runs, newest first: ``?schedule=NAME`` for one schedule, ``?limit=N`` (≤ 1000)."""
    raw_limit = call.query.get("limit", "20")
    limit = uint(raw_limit)
    if limit is None or not 1 <= limit <= _MAX_RUNS:
        raise KinveyError("BadRequest", f"limit must be an integer from 1 to {_MAX_RUNS}.")
    schedule = call.query.get("schedule") or None
    found = await call.core.schedules.runs.list(call.app, schedule, limit)
    return render.value([run.as_json() for run in found])
