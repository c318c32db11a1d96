"""The Kinto API's settings: the ``[kinto]`` section of the TOML file, overridable per app.

Every setting is declared once in :data:`KINTO_SETTINGS` (``docs/settings.md`` lists them). The
server-wide values come from ``[kinto]``; an app may override any of them in its settings under the
key ``"kinto"`` (``kinbase apps`` or the storage API), so two apps of one server can run different
Kinto policies. Principal lists use Kinto's spelling (``account:admin``, ``system.Authenticated``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kinbase.errors import ConfigurationError

__all__ = ["KINTO_SETTINGS", "KintoConfig", "KintoSetting", "parse_config"]


@dataclass(frozen=True, slots=True)
class KintoSetting:
    """One documented Kinto setting."""

    name: str
    type: str  # "bool" | "int" | "str" | "principals" | "strings"
    default: Any
    help: str


KINTO_SETTINGS: tuple[KintoSetting, ...] = (
    KintoSetting("enabled", "bool", True, "Serve the Kinto HTTP API for this app."),
    KintoSetting(
        "auth_policies",
        "strings",
        ("account",),
        "Authentication policies tried in order: 'account' (Basic auth against the accounts) and "
        "'basicauth' (Kinto's legacy policy: any user:password pair is a user whose id is an HMAC of "
        "both).",
    ),
    KintoSetting("accounts", "bool", True, "Serve /accounts (the accounts plugin)."),
    KintoSetting("account_create_principals", "principals", ("system.Everyone",), "Who may create accounts."),
    KintoSetting(
        "account_write_principals",
        "principals",
        (),
        "Account administrators: they may create, read, change and delete any account.",
    ),
    KintoSetting("account_read_principals", "principals", (), "Who may read any account."),
    KintoSetting(
        "account_cache_ttl_seconds",
        "int",
        30,
        "How long a verified Basic-auth password is trusted without running bcrypt again.",
    ),
    KintoSetting(
        "bcrypt_rounds", "int", 12, "bcrypt cost of new account passwords (Kinto uses 12; 4 to 31)."
    ),
    KintoSetting(
        "bucket_create_principals", "principals", ("system.Authenticated",), "Who may create buckets."
    ),
    KintoSetting(
        "root_principals",
        "map",
        {},
        "Extra root-level grants, Kinto's '<resource>_<perm>_principals' (e.g. "
        "{bucket_write_principals = ['account:admin']}): the permission on every object of that type.",
    ),
    KintoSetting("batch_max_requests", "int", 25, "Most sub-requests in one POST /batch."),
    KintoSetting("paginate_by", "int", 0, "Largest page of a plural GET (0: only max_fetch_size caps it)."),
    KintoSetting("max_fetch_size", "int", 10000, "Hard cap on the objects of one page."),
    KintoSetting("readonly", "bool", False, "Refuse every write with 405."),
    KintoSetting("explicit_permissions", "bool", True, "Give the creator (and each editor) write."),
    KintoSetting("default_bucket", "bool", True, "Serve /buckets/default, the personal bucket."),
    KintoSetting(
        "default_bucket_hmac_secret",
        "str",
        "",
        "Key of the personal bucket ids (empty: the server secret). Set it to the old server's "
        "'default_bucket_hmac_secret' (or 'userid_hmac_secret') to keep users' bucket ids on a move.",
    ),
    KintoSetting(
        "userid_hmac_secret",
        "str",
        "",
        "Key of 'basicauth' user ids (empty: the server secret); the old server's value keeps its ids.",
    ),
    KintoSetting("history", "bool", True, "Record changes in /buckets/{id}/history."),
    KintoSetting(
        "history_exclude_resources",
        "strings",
        (),
        "Kinto's 'history.exclude_resources': URIs of buckets, collections, groups or records whose "
        "changes (and, for a bucket or collection, those of everything in it) get no history entry.",
    ),
    KintoSetting(
        "history_exclude_user_ids",
        "principals",
        (),
        "Kinto's 'history.exclude_user_ids': user ids (e.g. 'account:bot') whose changes get no "
        "history entry.",
    ),
    KintoSetting(
        "history_auto_trim_max_count",
        "int",
        -1,
        "Kinto's 'history.auto_trim_max_count': keep only this many entries per bucket and resource "
        "type, the oldest are deleted at each change (-1: keep everything).",
    ),
    KintoSetting(
        "history_auto_trim_user_ids",
        "principals",
        (),
        "Kinto's 'history.auto_trim_user_ids': trim only the entries of these users, counted per "
        "user (empty: trim every entry).",
    ),
    KintoSetting("permissions_endpoint", "bool", True, "Serve GET /permissions."),
    KintoSetting("flush_endpoint", "bool", False, "Serve POST /__flush__ (wipes the app: tests only)."),
    KintoSetting(
        "schema_validation", "bool", False, "Validate records against their collection's JSON schema."
    ),
    KintoSetting("backoff", "int", 0, "Seconds sent in a Backoff header (0: none)."),
    KintoSetting(
        "backoff_percentage",
        "int",
        100,
        "Percentage (0 to 100) of the responses, drawn at random, that carry the Backoff header.",
    ),
    KintoSetting("retry_after_seconds", "int", 30, "Retry-After of 503, 409 and 429 answers."),
    KintoSetting("eos", "str", "", "End-of-service date (YYYY-MM-DD); adds an Alert header."),
    KintoSetting("eos_message", "str", "", "Message of the end-of-service Alert."),
    KintoSetting("eos_url", "str", "", "URL of the end-of-service Alert."),
    KintoSetting("cors_origins", "str", "*", "Access-Control-Allow-Origin of CORS answers."),
    KintoSetting("cache_expires_seconds", "int", -1, "Cache-Control max-age of anonymous GETs (-1: none)."),
    KintoSetting("project_name", "str", "kinto", "project_name of the hello document."),
    KintoSetting("project_docs", "str", "https://kinto.readthedocs.io/", "project_docs of the hello."),
    KintoSetting(
        "version_prefix_redirect", "bool", True, "307 from a path without /v1 to the same path under /v1."
    ),
    KintoSetting("trailing_slash_redirect", "bool", True, "307 from a path ending in / to the same without."),
)

_ROOT_KEY = re.compile(r"^(bucket|collection|group|record|account)_([a-z]+(?::create)?)_principals$")


@dataclass(frozen=True, slots=True)
class KintoConfig:
    """The effective Kinto settings of one app."""

    enabled: bool = True
    auth_policies: tuple[str, ...] = ("account",)
    accounts: bool = True
    account_create_principals: tuple[str, ...] = ("system.Everyone",)
    account_write_principals: tuple[str, ...] = ()
    account_read_principals: tuple[str, ...] = ()
    account_cache_ttl_seconds: int = 30
    bcrypt_rounds: int = 12
    bucket_create_principals: tuple[str, ...] = ("system.Authenticated",)
    root_principals: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    batch_max_requests: int = 25
    paginate_by: int = 0
    max_fetch_size: int = 10000
    readonly: bool = False
    explicit_permissions: bool = True
    default_bucket: bool = True
    default_bucket_hmac_secret: str = ""
    userid_hmac_secret: str = ""
    history: bool = True
    history_exclude_resources: tuple[str, ...] = ()
    history_exclude_user_ids: tuple[str, ...] = ()
    history_auto_trim_max_count: int = -1
    history_auto_trim_user_ids: tuple[str, ...] = ()
    permissions_endpoint: bool = True
    flush_endpoint: bool = False
    schema_validation: bool = False
    backoff: int = 0
    backoff_percentage: int = 100
    retry_after_seconds: int = 30
    eos: str = ""
    eos_message: str = ""
    eos_url: str = ""
    cors_origins: str = "*"
    cache_expires_seconds: int = -1
    project_name: str = "kinto"
    project_docs: str = "https://kinto.readthedocs.io/"
    version_prefix_redirect: bool = True
    trailing_slash_redirect: bool = True

    def settings_principals(self, resource: str, perm: str) -> tuple[str, ...]:
        """The principals the settings grant ``perm`` on every object of type ``resource``."""
        if resource == "bucket" and perm == "create":
            return self.bucket_create_principals
        if resource == "account":
            if perm == "create":
                return self.account_create_principals
            if perm == "write":
                return self.account_write_principals
            if perm == "read":
                return self.account_read_principals
        return self.root_principals.get((resource, perm), ())

    @property
    def page_cap(self) -> int:
        """The largest page a plural GET may return."""
        if self.paginate_by > 0:
            return min(self.paginate_by, self.max_fetch_size)
        return self.max_fetch_size


_BY_NAME = {s.name: s for s in KINTO_SETTINGS}
_ALIASES = {
    f"history.{name}": f"history_{name}"
    for name in ("exclude_resources", "exclude_user_ids", "auto_trim_max_count", "auto_trim_user_ids")
}
"""Kinto's own spelling of the history settings (a quoted key in TOML)."""
_HISTORY_URI = re.compile(
    r"^/buckets/[^/]+(?:/(?:collections|groups)/[^/]+)?$|^/buckets/[^/]+/collections/[^/]+/records/[^/]+$"
)


def _convert(setting: KintoSetting, raw: Any, origin: str) -> Any:
    where = f"Kinto setting {setting.name!r} ({origin})"
    if setting.type == "bool":
        if not isinstance(raw, bool):
            raise ConfigurationError(f"{where}: expected true or false, got {raw!r}")
        return raw
    if setting.type == "int":
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigurationError(f"{where}: expected an integer, got {raw!r}")
        return raw
    if setting.type == "str":
        if not isinstance(raw, str):
            raise ConfigurationError(f"{where}: expected a string, got {raw!r}")
        return raw
    if setting.type == "map":
        if not isinstance(raw, Mapping):
            raise ConfigurationError(f"{where}: expected a table")
        result: dict[tuple[str, str], tuple[str, ...]] = {}
        for key, value in raw.items():
            match = _ROOT_KEY.match(str(key))
            if match is None:
                raise ConfigurationError(f"{where}: {key!r} is not '<resource>_<perm>_principals'")
            result[(match.group(1), match.group(2))] = _strings(value, f"{where}[{key}]")
        return result
    return _strings(raw, where)


def _strings(raw: Any, where: str) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [p.strip() for p in raw.replace(",", " ").split()]
    if not isinstance(raw, list | tuple) or not all(isinstance(p, str) for p in raw):
        raise ConfigurationError(f"{where}: expected a list of strings, got {raw!r}")
    return tuple(raw)


def parse_config(server: Mapping[str, Any], app: Mapping[str, Any] | None = None) -> KintoConfig:
    """The effective settings: defaults, then the server's ``[kinto]`` table, then the app's.

    Raises:
        ConfigurationError: an unknown key or a value of the wrong type.
    """
    values: dict[str, Any] = {}
    for origin, source in (("[kinto]", server), ("app settings", app or {})):
        for key, raw in source.items():
            key = _ALIASES.get(key, key)
            setting = _BY_NAME.get(key)
            if setting is None:
                raise ConfigurationError(f"unknown Kinto setting {key!r} in {origin}")
            values[key] = _convert(setting, raw, origin)
    policies = values.get("auth_policies", ())
    unknown = [p for p in policies if p not in ("account", "basicauth")]
    if unknown:
        raise ConfigurationError(f"unknown Kinto auth policy {unknown[0]!r}: use 'account' or 'basicauth'")
    rounds = values.get("bcrypt_rounds", 12)
    if not 4 <= rounds <= 31:
        raise ConfigurationError("Kinto setting 'bcrypt_rounds' must be between 4 and 31")
    if values.get("batch_max_requests", 25) < 1 or values.get("max_fetch_size", 1) < 1:
        raise ConfigurationError("Kinto settings 'batch_max_requests' and 'max_fetch_size' must be positive")
    if not 0 <= values.get("backoff_percentage", 100) <= 100:
        raise ConfigurationError("Kinto setting 'backoff_percentage' must be between 0 and 100")
    for uri in values.get("history_exclude_resources", ()):
        if not _HISTORY_URI.match(uri):
            raise ConfigurationError(
                f"Kinto setting 'history_exclude_resources': {uri!r} is not the URI of a bucket, "
                "collection, group or record"
            )
    return KintoConfig(**values)
