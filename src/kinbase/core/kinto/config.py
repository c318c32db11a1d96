"""The Kinto API's settings: the ``[kinto]`` section of the TOML file, overridable per app.

Every setting is declared once, as a field of :class:`KintoConfig` (``docs/settings.md`` lists them). The
server-wide values come from ``[kinto]``; an app may override any of them in its settings under the
key ``"kinto"`` (``kinbase apps`` or the storage API), so two apps of one server can run different
Kinto policies. Principal lists use Kinto's spelling (``account:admin``, ``system.Authenticated``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from kinbase.errors import ConfigurationError

__all__ = ["KINTO_SETTINGS", "KintoConfig", "KintoSetting", "markdown_table", "parse_config"]


@dataclass(frozen=True, slots=True)
class KintoSetting:
    """One documented Kinto setting, derived from a field of :class:`KintoConfig`."""

    name: str
    type: str  # "bool" | "int" | "str" | "principals" | "strings" | "map"
    default: Any
    help: str


def kinto_setting(default: Any, kind: str, help: str) -> Any:
    """Declare a field of :class:`KintoConfig` with its kind and documentation."""
    meta = {"kind": kind, "help": help}
    if isinstance(default, dict):
        return field(default_factory=dict, metadata=meta)
    return field(default=default, metadata=meta)


_ROOT_KEY = re.compile(r"^(bucket|collection|group|record|account)_([a-z]+(?::create)?)_principals$")


@dataclass(frozen=True, slots=True)
class KintoConfig:
    """The effective Kinto settings of one app. Each field is the single declaration of one setting
    (type, default, kind and the help row of ``docs/settings.md``); :data:`KINTO_SETTINGS` derives from it."""

    enabled: bool = kinto_setting(True, "bool", "Serve the Kinto HTTP API for this app.")
    auth_policies: tuple[str, ...] = kinto_setting(
        ("account",),
        "strings",
        "Authentication policies tried in order: 'account' (Basic auth against the accounts) and "
        "'basicauth' (Kinto's legacy policy: any user:password pair is a user whose id is an HMAC of "
        "both).",
    )
    accounts: bool = kinto_setting(True, "bool", "Serve /accounts (the accounts plugin).")
    account_create_principals: tuple[str, ...] = kinto_setting(
        ("system.Everyone",), "principals", "Who may create accounts."
    )
    account_write_principals: tuple[str, ...] = kinto_setting(
        (), "principals", "Account administrators: they may create, read, change and delete any account."
    )
    account_read_principals: tuple[str, ...] = kinto_setting((), "principals", "Who may read any account.")
    account_cache_ttl_seconds: int = kinto_setting(
        30, "int", "How long a verified Basic-auth password is trusted without running bcrypt again."
    )
    bcrypt_rounds: int = kinto_setting(
        12, "int", "bcrypt cost of new account passwords (Kinto uses 12; 4 to 31)."
    )
    bucket_create_principals: tuple[str, ...] = kinto_setting(
        ("system.Authenticated",), "principals", "Who may create buckets."
    )
    root_principals: Mapping[tuple[str, str], tuple[str, ...]] = kinto_setting(
        {},
        "map",
        "Extra root-level grants, Kinto's '<resource>_<perm>_principals' (e.g. "
        "{bucket_write_principals = ['account:admin']}): the permission on every object of that type.",
    )
    batch_max_requests: int = kinto_setting(25, "int", "Most sub-requests in one POST /batch.")
    paginate_by: int = kinto_setting(
        0, "int", "Largest page of a plural GET (0: only max_fetch_size caps it)."
    )
    max_fetch_size: int = kinto_setting(10000, "int", "Hard cap on the objects of one page.")
    readonly: bool = kinto_setting(False, "bool", "Refuse every write with 405.")
    explicit_permissions: bool = kinto_setting(True, "bool", "Give the creator (and each editor) write.")
    default_bucket: bool = kinto_setting(True, "bool", "Serve /buckets/default, the personal bucket.")
    default_bucket_hmac_secret: str = kinto_setting(
        "",
        "str",
        "Key of the personal bucket ids (empty: the server secret). Set it to the old server's "
        "'default_bucket_hmac_secret' (or 'userid_hmac_secret') to keep users' bucket ids on a move.",
    )
    userid_hmac_secret: str = kinto_setting(
        "",
        "str",
        "Key of 'basicauth' user ids (empty: the server secret); the old server's value keeps its ids.",
    )
    history: bool = kinto_setting(True, "bool", "Record changes in /buckets/{id}/history.")
    history_exclude_resources: tuple[str, ...] = kinto_setting(
        (),
        "strings",
        "Kinto's 'history.exclude_resources': URIs of buckets, collections, groups or records whose "
        "changes (and, for a bucket or collection, those of everything in it) get no history entry.",
    )
    history_exclude_user_ids: tuple[str, ...] = kinto_setting(
        (),
        "principals",
        "Kinto's 'history.exclude_user_ids': user ids (e.g. 'account:bot') whose changes get no "
        "history entry.",
    )
    history_auto_trim_max_count: int = kinto_setting(
        -1,
        "int",
        "Kinto's 'history.auto_trim_max_count': keep only this many entries per bucket and resource "
        "type, the oldest are deleted at each change (-1: keep everything).",
    )
    history_auto_trim_user_ids: tuple[str, ...] = kinto_setting(
        (),
        "principals",
        "Kinto's 'history.auto_trim_user_ids': trim only the entries of these users, counted per user"
        " (empty: trim every entry).",
    )
    permissions_endpoint: bool = kinto_setting(True, "bool", "Serve GET /permissions.")
    flush_endpoint: bool = kinto_setting(False, "bool", "Serve POST /__flush__ (wipes the app: tests only).")
    schema_validation: bool = kinto_setting(
        False, "bool", "Validate records against their collection's JSON schema."
    )
    backoff: int = kinto_setting(0, "int", "Seconds sent in a Backoff header (0: none).")
    backoff_percentage: int = kinto_setting(
        100, "int", "Percentage (0 to 100) of the responses, drawn at random, that carry the Backoff header."
    )
    retry_after_seconds: int = kinto_setting(30, "int", "Retry-After of 503, 409 and 429 answers.")
    eos: str = kinto_setting("", "str", "End-of-service date (YYYY-MM-DD); adds an Alert header.")
    eos_message: str = kinto_setting("", "str", "Message of the end-of-service Alert.")
    eos_url: str = kinto_setting("", "str", "URL of the end-of-service Alert.")
    cors_origins: str = kinto_setting("*", "str", "Access-Control-Allow-Origin of CORS answers.")
    cache_expires_seconds: int = kinto_setting(
        -1, "int", "Cache-Control max-age of anonymous GETs (-1: none)."
    )
    project_name: str = kinto_setting("kinto", "str", "project_name of the hello document.")
    project_docs: str = kinto_setting("https://kinto.readthedocs.io/", "str", "project_docs of the hello.")
    version_prefix_redirect: bool = kinto_setting(
        True, "bool", "307 from a path without /v1 to the same path under /v1."
    )
    trailing_slash_redirect: bool = kinto_setting(
        True, "bool", "307 from a path ending in / to the same without."
    )

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


KINTO_SETTINGS: tuple[KintoSetting, ...] = tuple(
    KintoSetting(
        f.name,
        f.metadata["kind"],
        {} if f.default is MISSING else f.default,
        f.metadata["help"],
    )
    for f in fields(KintoConfig)
)
"""Every Kinto setting, in declaration order (derived from :class:`KintoConfig`)."""


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


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if isinstance(value, dict):
        return "{}"
    return repr(value)


def markdown_table() -> str:
    """The ``[kinto]`` table of ``docs/settings.md``, generated from :data:`KINTO_SETTINGS`."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | `{_literal(s.default)}` | {s.help} |" for s in KINTO_SETTINGS]
    return "\n".join(rows) + "\n"
