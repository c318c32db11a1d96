"""The typed model of an app's configuration (one TOML file per app, see ``docs/app-config.md``).

Every value here has been validated (:mod:`kinbase.core.appconfig.validate`); the model is frozen
and its :meth:`AppConfig.document` is the canonical JSON form kept in the database. Keys that were
not given are None (or empty) and are left out of the document, so a file, its stored document and
its export say the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "HOOKS",
    "ApnsConfig",
    "AppConfig",
    "AuthConfig",
    "CollectionConfig",
    "DataLink",
    "EndpointConfig",
    "FcmConfig",
    "FlexAuthRef",
    "FlexServiceConfig",
    "FunctionRef",
    "PushConfig",
    "ScheduleConfig",
    "WebhookConfig",
]

HOOKS = ("pre_save", "post_save", "pre_fetch", "post_fetch", "pre_delete", "post_delete")
"""The collection hooks, in the order they are documented and exported."""

COLLECTION_SETTINGS = ("delta_set", "deleted_ttl_days", "permissions", "indexes", "auto_index")
"""The keys of ``[collections.NAME]`` kept in the collection itself (they exist without the file
and can be changed by the ``_settings`` API): a key left out of the file keeps its value."""

_KEEP_EMPTY = frozenset({"indexes"})
"""Fields whose empty value means something (``indexes = []``: drop every declared index)."""

DEFAULT_TIMEOUT_SECONDS = 10.0
DEFAULT_MAX_CONCURRENCY = 16


@dataclass(frozen=True, slots=True)
class FlexServiceConfig:
    """A Flex service: where it listens, the shared secret it checks (``X-Auth-Key``), how long a
    call may take and how many calls may be in flight at once (per worker)."""

    url: str
    secret: str
    timeout_seconds: float | None = None
    max_concurrency: int | None = None

    @property
    def timeout(self) -> float:
        return self.timeout_seconds if self.timeout_seconds is not None else DEFAULT_TIMEOUT_SECONDS

    @property
    def concurrency(self) -> int:
        return self.max_concurrency if self.max_concurrency is not None else DEFAULT_MAX_CONCURRENCY


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """A FlexFunctions handler of a declared service."""

    service: str
    function: str


@dataclass(frozen=True, slots=True)
class DataLink:
    """A FlexData service object that holds a collection's data."""

    service: str
    service_object: str


@dataclass(frozen=True, slots=True)
class CollectionConfig:
    """One collection. A setting that is None is not managed by the file (it keeps its value)."""

    delta_set: bool | None = None
    deleted_ttl_days: int | None = None
    permissions: str | None = None
    data_link: DataLink | None = None
    hooks: Mapping[str, FunctionRef] = field(default_factory=dict)
    indexes: tuple[tuple[str, ...], ...] | None = None
    """Each index is a tuple of dotted field names (one for a single-field index)."""
    auto_index: bool | None = None


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    """A custom endpoint ``POST /rpc/APP_KEY/custom/NAME`` bound to a Flex function."""

    service: str
    function: str


@dataclass(frozen=True, slots=True)
class FlexAuthRef:
    """A FlexAuth handler of a declared service."""

    service: str
    handler: str


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """An auth service of the app (Mobile Identity Connect): where identities come from (a FlexAuth
    handler, or kinbase's own user store) and the redirect URIs it accepts."""

    flex_auth: FlexAuthRef | None = None
    user_store: bool = False
    redirect_uris: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ScheduleConfig:
    """A Flex function run on a cron schedule (UTC), with an optional JSON body."""

    service: str
    function: str
    cron: str
    body: Mapping[str, Any] | None = None
    enabled: bool | None = None

    @property
    def active(self) -> bool:
        return self.enabled is not False


@dataclass(frozen=True, slots=True)
class FcmConfig:
    """Firebase Cloud Messaging (HTTP v1) with a service account."""

    project_id: str
    client_email: str
    private_key: str
    token_uri: str | None = None
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class ApnsConfig:
    """Apple Push Notification service (HTTP/2) with a token-based (.p8) key."""

    team_id: str
    key_id: str
    private_key: str
    topic: str
    sandbox: bool | None = None
    endpoint: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    """Every message for a device no native provider serves is POSTed here, signed."""

    url: str
    secret: str


@dataclass(frozen=True, slots=True)
class PushConfig:
    fcm: FcmConfig | None = None
    apns: ApnsConfig | None = None
    webhook: WebhookConfig | None = None


@dataclass(frozen=True, slots=True)
class AppConfig:
    """The whole configuration of one app."""

    flex_services: Mapping[str, FlexServiceConfig] = field(default_factory=dict)
    collections: Mapping[str, CollectionConfig] = field(default_factory=dict)
    endpoints: Mapping[str, EndpointConfig] = field(default_factory=dict)
    auth: Mapping[str, AuthConfig] = field(default_factory=dict)
    schedules: Mapping[str, ScheduleConfig] = field(default_factory=dict)
    push: PushConfig | None = None

    def document(self) -> dict[str, Any]:
        """The canonical JSON form: sorted names, only the keys that were given."""
        doc: dict[str, Any] = {}
        for name, value in (
            ("flex_services", self.flex_services),
            ("collections", self.collections),
            ("endpoints", self.endpoints),
            ("auth", self.auth),
            ("schedules", self.schedules),
        ):
            if value:
                doc[name] = {key: _plain(value[key]) for key in sorted(value)}
        if self.push is not None:
            push = _plain(self.push)
            if push:
                doc["push"] = push
        return doc

    def stored_document(self) -> dict[str, Any]:
        """:meth:`document` without the :data:`COLLECTION_SETTINGS` (kept by the collections):
        what the configuration record holds."""
        doc = self.document()
        collections = {
            name: kept
            for name, entry in doc.pop("collections", {}).items()
            if (kept := {k: v for k, v in entry.items() if k not in COLLECTION_SETTINGS})
        }
        if collections:
            doc["collections"] = collections
        return {k: doc[k] for k in sorted(doc)}

    def collection_settings(self) -> dict[str, dict[str, Any]]:
        """The :data:`COLLECTION_SETTINGS` the file gives, per collection named in it."""
        return {
            name: {k: v for k, v in entry.items() if k in COLLECTION_SETTINGS}
            for name, entry in self.document().get("collections", {}).items()
        }


def _plain(value: Any) -> Any:
    """A model value as JSON: dataclasses become objects without their unset (None, empty or
    false ``user_store``) fields."""
    if hasattr(value, "__dataclass_fields__"):
        out: dict[str, Any] = {}
        for name in value.__dataclass_fields__:
            item = getattr(value, name)
            if item is None or (item is False and name == "user_store"):
                continue
            if isinstance(item, Mapping | tuple) and not item and name not in _KEEP_EMPTY:
                continue
            out[name] = _plain(item)
        return out
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items())}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value
