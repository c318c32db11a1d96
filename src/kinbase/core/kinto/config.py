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
    type: str  # "bool" | "int" | "str" | "principals" | "strings" | "map" | "resources"
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
        30,
        "int",
        "How long a verified Basic-auth password is trusted without running bcrypt again"
        " (each use extends it, as in Kinto).",
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
    attachment_base_url: str = kinto_setting(
        "",
        "str",
        "kinto-attachment's 'base_url': where attachment locations are served (empty: kinbase serves them "
        "at <public URL>/attachments/<app key>/; locations are written relative to it).",
    )
    attachment_extensions: str = kinto_setting(
        "default",
        "str",
        "Allowed file extensions, kinto-attachment's syntax: groups ('default', 'images', 'documents', "
        "'text', 'data', 'audio', 'video', 'archives', 'scripts', 'executables', 'any') and extensions "
        "joined with '+' (e.g. 'default+video' or 'images+pdf').",
    )
    attachment_mimetypes: str = kinto_setting(
        "",
        "str",
        "Media types forced per extension: '.ftl:application/vnd.fluent;.db:application/vnd.sqlite3'.",
    )
    attachment_max_size_bytes: int = kinto_setting(
        0, "int", "Largest attachment in bytes (0: only the server's file_max_bytes)."
    )
    attachment_keep_old_files: bool = kinto_setting(
        False, "bool", "Keep the file of a replaced or removed attachment, or of a deleted record."
    )
    attachment_randomize: bool = kinto_setting(
        True, "bool", "Store attachments under a random name (a UUID and the original extension)."
    )
    attachment_filename_pattern: str = kinto_setting(
        "",
        "str",
        "Pattern of stored names with {filename}, {datetime} and {rid} (e.g. '{datetime}-{rid}-{filename}').",
    )
    attachment_folder: str = kinto_setting(
        "",
        "str",
        "Folder of stored names, with {bucket_id} and {collection_id} (e.g. '{bucket_id}/{collection_id}').",
    )
    attachment_resources: Mapping[str, Mapping[str, Any]] = kinto_setting(
        {},
        "resources",
        "Per-bucket or per-collection overrides of randomize, keep_old_files, filename_pattern, folder and "
        "max_size_bytes, keyed 'bucket' or 'bucket/collection' (kinto-attachment's "
        "'attachment.resources.<bucket>[.<collection>].<name>').",
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
} | {
    f"attachment.{name}": f"attachment_{name}"
    for name in (
        "base_url",
        "extensions",
        "mimetypes",
        "max_size_bytes",
        "keep_old_files",
        "randomize",
        "filename_pattern",
        "folder",
    )
}
_ALIASES["attachment.extra.base_url"] = "attachment_base_url"
"""Kinto's own spelling of the history and attachment settings (a quoted key in TOML)."""
_RESOURCE_SETTINGS = {
    "randomize": bool,
    "keep_old_files": bool,
    "filename_pattern": str,
    "folder": str,
    "max_size_bytes": int,
}
_RESOURCE_KEY = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)?$")
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
    if setting.type == "resources":
        return _resources(raw, where)
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


def _resources(raw: Any, where: str) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f"{where}: expected a table keyed 'bucket' or 'bucket/collection'")
    result: dict[str, dict[str, Any]] = {}
    for key, values in raw.items():
        if not _RESOURCE_KEY.match(str(key)) or not isinstance(values, Mapping):
            raise ConfigurationError(f"{where}: {key!r} must be 'bucket' or 'bucket/collection' with a table")
        clean: dict[str, Any] = {}
        for name, value in values.items():
            kind = _RESOURCE_SETTINGS.get(str(name))
            if kind is None:
                raise ConfigurationError(
                    f"{where}[{key}]: {name!r} is not one of {', '.join(_RESOURCE_SETTINGS)}"
                )
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigurationError(f"{where}[{key}].{name}: expected {kind.__name__}, got {value!r}")
            clean[str(name)] = value
        result[str(key)] = clean
    return result


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
            if key.startswith("attachment.resources."):  # kinto-attachment's flat spelling
                *names, name = key.removeprefix("attachment.resources.").split(".")
                if len(names) not in (1, 2):
                    raise ConfigurationError(
                        f"Kinto setting {key!r} ({origin}): use attachment.resources.B[.C].NAME"
                    )
                merged = {k: dict(v) for k, v in values.get("attachment_resources", {}).items()}
                merged.setdefault("/".join(names), {})[name] = raw
                values["attachment_resources"] = _resources(merged, f"Kinto setting {key!r} ({origin})")
                continue
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
    if values.get("attachment_max_size_bytes", 0) < 0:
        raise ConfigurationError("Kinto setting 'attachment_max_size_bytes' must not be negative")
    for pair in filter(None, values.get("attachment_mimetypes", "").split(";")):
        extension, _, kind = pair.partition(":")
        if not extension.startswith(".") or "/" not in kind:
            raise ConfigurationError(
                f"Kinto setting 'attachment_mimetypes': {pair!r} is not '.extension:type/subtype'"
            )
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
