"""Apply, read and export app configurations.

Where it lives: the configuration record (Flex services, data links, hooks, endpoints, auth,
schedules, push) is one object of the private parent ``kinbase.app_config`` of the app; its stamp
is the configuration's version, copied into the app's settings (``config_version``) in the same
transaction. The collection settings of the file (delta set, permissions, indexes...) are kept by
the collections themselves, as the ``_settings`` API and ``kinbase collections configure`` keep
them, so there is one source of truth for each.

How workers see a change: every request already has the app record (cached for
``app_cache_seconds``); :meth:`AppConfigService.current` compares its ``config_version`` with the
version of the configuration it holds and reloads only when they differ. A change is seen at once
by the process that applied it and within ``app_cache_seconds`` by every other worker and machine,
with no extra read on the request path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from kinbase.core.appconfig.changes import Change, diff_collection_settings, diff_documents
from kinbase.core.appconfig.model import AppConfig, CollectionConfig
from kinbase.core.appconfig.render import render_toml
from kinbase.core.appconfig.validate import from_document
from kinbase.core.apps import AppService
from kinbase.core.kinvey.collections import CollectionService, declared_state, index_label
from kinbase.core.kinvey.entities import APPDATA
from kinbase.errors import Conflict
from kinbase.storage.base import AppRecord, NewVersion, StorageBackend, WriteContext, Writer
from kinbase.storage.stamps import now_ms

__all__ = ["CONFIG_PARENT", "CONFIG_VERSION", "AppConfigService", "ApplyResult", "logic_version"]

CONFIG_PARENT = "kinbase.app_config"
CONFIG_VERSION = "config_version"
"""The app setting that carries the version (stamp) of the app's configuration record."""
_RECORD = "current"
EMPTY = AppConfig()


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What :meth:`AppConfigService.apply` did (or, for a dry run, would do)."""

    changes: list[Change]
    version: int | None
    """The configuration version in force afterwards (None: never configured)."""
    applied: bool
    indexes_built: list[str]


def logic_version(declared: CollectionConfig | None) -> str:
    """A version of one collection's hooks and data link: what a form that edits them was rendered
    from, for :meth:`AppConfigService.set_collection_logic`'s ``if_version``."""
    shown: dict[str, Any] = {}
    if declared is not None:
        shown["hooks"] = {event: [ref.service, ref.function] for event, ref in declared.hooks.items()}
        if declared.data_link is not None:
            shown["data_link"] = [declared.data_link.service, declared.data_link.service_object]
    return hashlib.sha256(orjson.dumps(shown, option=orjson.OPT_SORT_KEYS)).hexdigest()[:20]


class AppConfigService:
    """The configuration of each app: cached per worker by version, applied as a whole."""

    def __init__(self, storage: StorageBackend, apps: AppService, collections: CollectionService) -> None:
        self._storage = storage
        self._apps = apps
        self._collections = collections
        self._cache: dict[int, tuple[int, AppConfig]] = {}

    async def current(self, app: AppRecord) -> AppConfig:
        """The configuration in force for ``app`` (a dict lookup when it did not change)."""
        version = app.settings.get(CONFIG_VERSION)
        if version is None:
            return EMPTY
        cached = self._cache.get(app.id)
        if cached is not None and cached[0] == version:
            return cached[1]
        document, stored_version = await self._load(app)
        config = from_document(document)
        if stored_version is not None:
            self._cache[app.id] = (stored_version, config)
        return config

    async def _load(self, app: AppRecord) -> tuple[dict[str, Any], int | None]:
        async with self._storage.reader() as reader:
            found = await reader.get_child(app.id, CONFIG_PARENT, "", _RECORD)
        if found is None:
            return {}, None
        record = orjson.loads(found.data)
        return dict(record["config"]), found.stamp

    async def _collection_states(self, app: AppRecord, names: list[str] | None) -> dict[str, dict[str, Any]]:
        """The explicit settings of the named collections (all collections when None)."""
        async with self._storage.reader() as reader:
            if names is None:
                parents = await reader.list_parents(app.id, APPDATA)
            else:
                found = [await reader.get_parent(app.id, APPDATA, name) for name in names]
                parents = [p for p in found if p is not None]
        return {p.name: declared_state(p.settings) for p in parents}

    async def plan(self, app: AppRecord, desired: AppConfig) -> list[Change]:
        """The changes :meth:`apply` would make."""
        document, _ = await self._load(app)
        return await self._changes(app, document, desired)

    async def _changes(self, app: AppRecord, document: Mapping[str, Any], desired: AppConfig) -> list[Change]:
        changes = diff_documents(document, desired.stored_document())
        wanted = desired.collection_settings()
        states = await self._collection_states(app, sorted(wanted))
        for name in sorted(wanted):
            changes.extend(diff_collection_settings(name, states.get(name, {}), wanted[name]))
        return changes

    async def apply(self, app: AppRecord, desired: AppConfig, *, dry_run: bool = False) -> ApplyResult:
        """Make ``desired`` the configuration of ``app`` in one transaction, then build any new
        index online. Applying the configuration in force changes nothing (not even the version).

        Raises:
            Conflict: if the configuration was changed by someone else meanwhile (nothing applied).
            KinveyError: if a collection setting is refused (nothing applied).
        """
        document, version = await self._load(app)
        return await self._apply(app, desired, document, version, dry_run=dry_run)

    async def _apply(
        self,
        app: AppRecord,
        desired: AppConfig,
        document: dict[str, Any],
        version: int | None,
        *,
        dry_run: bool = False,
    ) -> ApplyResult:
        """:meth:`apply` over the configuration ``document`` read at ``version`` (the write is
        refused with Conflict if the record is no longer at that version)."""
        changes = await self._changes(app, document, desired)
        wanted = desired.collection_settings()
        if dry_run:
            return ApplyResult(changes, version, False, [])
        new_document = desired.stored_document()
        if changes:
            async with self._storage.writer() as writer:
                if new_document != document:
                    version = await self._write(writer, app, version, new_document)
                changed = {c.key.split(".")[1] for c in changes if c.key.startswith("collections.")}
                for name in sorted(changed & set(wanted)):
                    settings = wanted[name]
                    await self._collections.configure_in(
                        writer,
                        app,
                        name,
                        delta_set=settings.get("delta_set"),
                        ttl_days=settings.get("deleted_ttl_days"),
                        level=settings.get("permissions"),
                        indexes=settings.get("indexes"),
                        auto_index=settings.get("auto_index"),
                    )
            await self._apps.changed(app.key)
            self._cache.pop(app.id, None)
        built: list[str] = []
        for name in sorted(wanted):  # also resumes a build a crash interrupted
            built.extend(
                f"{name}: {index_label(key)}" for key in await self._collections.build_indexes(app, name)
            )
        return ApplyResult(changes, version, bool(changes), built)

    async def set_collection_logic(
        self,
        app: AppRecord,
        collection: str,
        *,
        hooks: Mapping[str, Mapping[str, str]],
        data_link: Mapping[str, str] | None,
        if_version: str | None = None,
    ) -> ApplyResult:
        """Replace one collection's hooks and data link, keeping the rest of the configuration,
        validated and applied as :meth:`apply` does a whole file (``hooks`` maps an event to
        ``{"service", "function"}``, ``data_link`` is ``{"service", "service_object"}``). With
        ``if_version`` (a :func:`logic_version`), nothing changes unless the collection's hooks and
        data link are still those that version was taken from.

        Raises:
            AppConfigInvalid: if the result is not a valid configuration (nothing applied).
            Conflict: ``if_version`` is no longer the collection's, or the configuration changed
                while this was applied (nothing applied).
        """
        document, version = await self._load(app)
        if if_version is not None:
            declared = from_document(document).collections.get(collection) if document else None
            if logic_version(declared) != if_version:
                raise Conflict(
                    f"The business logic of {collection!r} was changed meanwhile: nothing was saved."
                )
        collections = {k: dict(v) for k, v in document.get("collections", {}).items()}
        entry = collections.pop(collection, {})
        entry.pop("hooks", None)
        entry.pop("data_link", None)
        if hooks:
            entry["hooks"] = {event: dict(ref) for event, ref in hooks.items()}
        if data_link is not None:
            entry["data_link"] = dict(data_link)
        if entry:
            collections[collection] = entry
        desired = (
            {**document, "collections": collections}
            if collections
            else {k: v for k, v in document.items() if k != "collections"}
        )
        return await self._apply(app, from_document(desired), document, version)

    async def collection_logic(self, app: AppRecord, collection: str) -> tuple[CollectionConfig | None, str]:
        """One collection's declaration as stored now (not the worker's cached configuration)
        and its :func:`logic_version`."""
        document, _ = await self._load(app)
        declared = from_document(document).collections.get(collection) if document else None
        return declared, logic_version(declared)

    async def _write(
        self, writer: Writer, app: AppRecord, based_on: int | None, document: dict[str, Any]
    ) -> int:
        parent = await writer.ensure_parent(app.id, CONFIG_PARENT, "")

        def build(ctx: WriteContext) -> NewVersion:
            current = ctx.current.stamp if ctx.current is not None else None
            if current != based_on:
                raise Conflict("The app configuration was changed meanwhile: apply again.")
            return NewVersion({"config": document, "applied": now_ms()})

        result = await writer.put(parent, _RECORD, build)
        fresh = await writer.get_app(app.key)
        settings = dict(fresh.settings if fresh is not None else app.settings)
        settings[CONFIG_VERSION] = result.object.stamp
        await writer.update_app(app.id, settings=settings)
        return int(result.object.stamp)

    async def export(self, app: AppRecord) -> AppConfig:
        """The configuration in force: the record, and the settings every collection keeps."""
        document, _ = await self._load(app)
        return await self._export(app, document)

    async def _export(self, app: AppRecord, document: dict[str, Any]) -> AppConfig:
        document = dict(document)
        collections: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in document.get("collections", {}).items()
        }
        for name, state in (await self._collection_states(app, None)).items():
            if state:
                collections[name] = {**collections.get(name, {}), **state}
        if collections:
            document["collections"] = collections
        return from_document(document)

    async def export_toml(self, app: AppRecord) -> str:
        """:meth:`export` as a TOML file."""
        return self._toml(app, await self.export(app))

    @staticmethod
    def _toml(app: AppRecord, config: AppConfig) -> str:
        header = (
            f"kinbase app configuration of {app.key} ({app.name})\nApply with: kinbase apply {app.key} FILE"
        )
        return render_toml(config, header=header)

    @staticmethod
    def version_of(toml: str) -> str:
        """A version of an exported configuration (:meth:`export_toml`): what a form that edits it
        was rendered from, for :meth:`replace`."""
        return hashlib.sha256(toml.encode()).hexdigest()[:20]

    async def replace(self, app: AppRecord, desired: AppConfig, *, if_version: str) -> ApplyResult:
        """:meth:`apply` if the configuration in force is still the one exported at ``if_version``
        (:meth:`version_of`); the record is written only if no one changed it since it was read.

        Raises:
            Conflict: the configuration changed meanwhile (nothing applied).
            KinveyError: if a collection setting is refused (nothing applied).
        """
        document, version = await self._load(app)
        if self.version_of(self._toml(app, await self._export(app, document))) != if_version:
            raise Conflict("The app configuration was changed meanwhile: nothing was applied.")
        return await self._apply(app, desired, document, version)
