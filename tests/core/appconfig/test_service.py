"""Applying app configurations, on SQLite and PostgreSQL: idempotence, dry run, export -> apply,
refusals that change nothing, declared indexes built online, and a change applied through one
worker seen by another."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from kinbase.core.appconfig import AppConfigInvalid, parse_toml
from kinbase.core.appconfig.service import CONFIG_VERSION
from kinbase.core.kinvey.entities import APPDATA
from kinbase.core.services import Core
from kinbase.errors import Conflict
from kinbase.query.ast import Eq, Query, SortKey
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend
from tests.core.appconfig.test_validate import EXAMPLE
from tests.support.workers import other_worker_storage

pytestmark = pytest.mark.anyio


async def _fresh(core: Core, app: AppRecord) -> AppRecord:
    await core.apps.changed(app.key)
    return await core.apps.require(app.key)


async def test_apply_twice_changes_nothing(core: Core, app: AppRecord) -> None:
    config = parse_toml(EXAMPLE)
    first = await core.appconfig.apply(app, config)
    assert first.applied and first.version is not None
    assert {str(c).split(" ")[1] for c in first.changes} >= {
        "flex_services.billing",
        "collections.orders.permissions",
        "collections.orders.indexes",
        "endpoints.checkout",
    }
    after_first = await _fresh(core, app)
    assert after_first.settings[CONFIG_VERSION] == first.version
    current = await core.appconfig.current(after_first)
    assert current.flex_services == config.flex_services
    assert current.collections["orders"].hooks == config.collections["orders"].hooks
    assert current.endpoints == config.endpoints and current.schedules == config.schedules
    second = await core.appconfig.apply(after_first, config)
    assert second.changes == [] and not second.applied and second.version == first.version
    after_second = await _fresh(core, app)
    assert after_second.version == after_first.version  # not even the app record was written


async def test_dry_run_changes_nothing(core: Core, app: AppRecord) -> None:
    planned = await core.appconfig.apply(app, parse_toml(EXAMPLE), dry_run=True)
    assert planned.changes and not planned.applied and planned.version is None
    fresh = await _fresh(core, app)
    assert CONFIG_VERSION not in fresh.settings
    assert (await core.appconfig.export(fresh)).flex_services == {}
    described = await core.kinvey.collections.describe(fresh, "orders")
    assert described["deltaSet"]["enabled"] is False and described["indexes"] == []
    untouched = await core.kinvey.collections.describe(fresh, "never-configured")
    assert described["permissions"] == untouched["permissions"]
    # ...and the real apply then makes exactly the planned changes.
    applied = await core.appconfig.apply(fresh, parse_toml(EXAMPLE))
    assert [str(c) for c in applied.changes] == [str(c) for c in planned.changes]


async def test_export_then_apply_is_a_noop(core: Core, app: AppRecord) -> None:
    await core.appconfig.apply(app, parse_toml(EXAMPLE))
    # Settings changed outside the file (the _settings API, the CLI) are part of the export.
    await core.kinvey.collections.configure(app, "books", level="private", delta_set=True, ttl_days=7)
    app = await _fresh(core, app)
    text = await core.appconfig.export_toml(app)
    assert "[collections.books]" in text and 'permissions = "private"' in text
    assert "deleted_ttl_days = 7" in text and 'secret = "s3cret"' in text
    exported = parse_toml(text)
    assert exported.collections["orders"].indexes == (("status", "n"), ("owner.id",))
    again = await core.appconfig.apply(app, exported)
    assert again.changes == [] and not again.applied
    assert await core.appconfig.export_toml(await _fresh(core, app)) == text


async def test_removed_items_and_changed_values(core: Core, app: AppRecord) -> None:
    await core.appconfig.apply(app, parse_toml(EXAMPLE))
    app = await _fresh(core, app)
    smaller = EXAMPLE.split("[endpoints.checkout]")[0].replace('"shared"', '"private"')
    smaller = smaller.replace("timeout_seconds = 10", "timeout_seconds = 3")
    result = await core.appconfig.apply(app, parse_toml(smaller))
    shown = sorted(str(c) for c in result.changes)
    assert shown == [
        "- auth.default",
        "- endpoints.checkout",
        "- schedules.nightly",
        '~ collections.orders.permissions: "shared" -> "private"',
        "~ flex_services.billing.timeout_seconds: 10.0 -> 3.0",
    ]
    current = await core.appconfig.current(await _fresh(core, app))
    assert current.endpoints == {} and current.flex_services["billing"].timeout == 3.0
    # A collection setting left out of the file keeps its value.
    left_out = smaller.replace('permissions = "private"\n', "")
    assert (await core.appconfig.apply(await _fresh(core, app), parse_toml(left_out))).changes == []
    assert (await core.kinvey.collections.describe(app, "orders"))["permissions"] == {"level": "private"}


async def test_a_refused_file_leaves_the_configuration_in_force(core: Core, app: AppRecord) -> None:
    await core.appconfig.apply(app, parse_toml(EXAMPLE))
    app = await _fresh(core, app)
    before = await core.appconfig.export_toml(app)
    with pytest.raises(AppConfigInvalid):
        parse_toml(
            EXAMPLE.replace('service = "billing"\nfunction = "checkout"', 'service = "gone"\nfunction = "x"')
        )
    assert await core.appconfig.export_toml(await _fresh(core, app)) == before


async def test_a_conflicting_apply_changes_nothing(core: Core, app: AppRecord, monkeypatch) -> None:
    """Two applies based on the same version: the second is refused as a whole (its collection
    settings are rolled back with its record)."""
    await core.appconfig.apply(app, parse_toml(EXAMPLE))
    app = await _fresh(core, app)
    stale = await core.appconfig._load(app)
    other = EXAMPLE.replace('"shared"', '"readonly"').replace("closeDay", "closeWeek")
    await core.appconfig.apply(app, parse_toml(EXAMPLE.replace("closeDay", "closeMonth")))
    before = await core.appconfig.export_toml(await _fresh(core, app))

    async def load(_app: AppRecord) -> object:
        return stale

    monkeypatch.setattr(core.appconfig, "_load", load)
    with pytest.raises(Conflict):
        await core.appconfig.apply(app, parse_toml(other))
    monkeypatch.undo()
    assert await core.appconfig.export_toml(await _fresh(core, app)) == before
    assert (await core.kinvey.collections.describe(app, "orders"))["permissions"] == {"level": "shared"}


async def test_declared_indexes_are_built_and_used(
    core: Core, app: AppRecord, storage: StorageBackend
) -> None:
    async with storage.writer() as w:
        parent = await w.ensure_parent(app.id, APPDATA, "orders")
        for i in range(50):
            doc = {
                "_id": f"o{i}",
                "status": "open" if i % 5 else "closed",
                "n": i,
                "owner": {"id": f"u{i % 3}"},
            }
            await w.put(parent, f"o{i}", lambda ctx, d=doc: NewVersion(d))
    result = await core.appconfig.apply(app, parse_toml(EXAMPLE))
    assert sorted(result.indexes_built) == ["orders: owner.id", "orders: status, n"]
    async with storage.reader() as r:
        parent = await r.get_parent(app.id, APPDATA, "orders")
        assert parent is not None
        assert sorted(i.fields for i in parent.ready_indexes) == [(("owner", "id"),), (("status",), ("n",))]
        closed = await r.find(parent, Query(filter=Eq(("status",), "closed")))
        top = await r.find(
            parent, Query(filter=Eq(("status",), "open"), sort=(SortKey(("n",), True),), limit=3)
        )
    assert sorted(o.id for o in closed) == sorted(f"o{i}" for i in range(0, 50, 5))
    assert [o.id for o in top] == ["o49", "o48", "o47"]
    assert (await core.kinvey.collections.describe(app, "orders"))["indexes"] == [
        ["status", "n"],
        ["owner.id"],
    ]
    fewer = EXAMPLE.replace('indexes = [["status", "n"], ["owner.id"]]', 'indexes = [["owner.id"]]')
    result = await core.appconfig.apply(await _fresh(core, app), parse_toml(fewer))
    assert [str(c) for c in result.changes] == [
        '~ collections.orders.indexes: [["status","n"],["owner.id"]] -> [["owner.id"]]'
    ]
    async with storage.reader() as r:
        parent = await r.get_parent(app.id, APPDATA, "orders")
    assert parent is not None and [i.path for i in parent.indexes] == [("owner", "id")]
    none = EXAMPLE.replace('indexes = [["status", "n"], ["owner.id"]]', "indexes = []")
    result = await core.appconfig.apply(await _fresh(core, app), parse_toml(none))
    assert [str(c) for c in result.changes] == ['~ collections.orders.indexes: [["owner.id"]] -> []']
    async with storage.reader() as r:
        parent = await r.get_parent(app.id, APPDATA, "orders")
    assert parent is not None and parent.indexes == ()
    assert (await core.kinvey.collections.describe(app, "orders"))["indexes"] == []


async def test_a_change_applied_through_one_worker_is_seen_by_another(
    storage: StorageBackend, app: AppRecord, tmp_path: Path
) -> None:
    settings = Settings(data_dir=str(tmp_path), app_cache_seconds=1)
    async with other_worker_storage(storage) as other:
        one, two = Core(settings, storage), Core(settings, other)
        await one.load_secret()
        await two.load_secret()
        assert (await two.appconfig.current(await two.apps.require(app.key))).endpoints == {}
        await one.appconfig.apply(await one.apps.require(app.key), parse_toml(EXAMPLE))
        assert "checkout" in (await one.appconfig.current(await one.apps.require(app.key))).endpoints
        started = time.monotonic()
        while "checkout" not in (await two.appconfig.current(await two.apps.require(app.key))).endpoints:
            assert time.monotonic() - started < settings.app_cache_seconds + 1.0, "not seen in time"
            await asyncio.sleep(0.05)
        # Collection settings live in the collection: seen by the next read, no cache involved.
        assert (await two.kinvey.collections.describe(app, "orders"))["deltaSet"]["enabled"] is True


async def test_an_empty_indexes_list_drops_every_declared_index(
    core: Core, app: AppRecord, storage: StorageBackend
) -> None:
    await core.appconfig.apply(app, parse_toml(EXAMPLE))
    none = EXAMPLE.replace('indexes = [["status", "n"], ["owner.id"]]', "indexes = []")
    assert parse_toml(none).collection_settings()["orders"]["indexes"] == []
    result = await core.appconfig.apply(await _fresh(core, app), parse_toml(none))
    assert [str(c) for c in result.changes] == [
        '~ collections.orders.indexes: [["status","n"],["owner.id"]] -> []'
    ]
    async with storage.reader() as r:
        parent = await r.get_parent(app.id, APPDATA, "orders")
    assert parent is not None and list(parent.indexes) == []
    assert (await core.kinvey.collections.describe(app, "orders"))["indexes"] == []
    exported = await core.appconfig.export_toml(await _fresh(core, app))
    assert "indexes = []" in exported
    again = await core.appconfig.apply(await _fresh(core, app), parse_toml(exported))
    assert again.changes == [] and not again.applied
