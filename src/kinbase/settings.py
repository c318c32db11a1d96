"""Server settings: one table, read from a TOML file and ``KINBASE_*`` environment variables.

Precedence, lowest first: the defaults in :data:`SETTINGS`, the TOML file (``--config`` or
``KINBASE_CONFIG``), the environment (``KINBASE_<NAME>``), then explicit overrides (command-line
flags). Every value is validated at start; a bad one stops the server with a message that names the
setting and where it came from.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kinbase.errors import ConfigurationError

__all__ = ["SETTINGS", "Setting", "Settings", "load_settings", "markdown_table"]


@dataclass(frozen=True, slots=True)
class Setting:
    """One documented setting, derived from a field of :class:`Settings`."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None

    @property
    def env(self) -> str:
        """The environment variable that sets it."""
        return "KINBASE_" + self.name.upper()


def setting(default: Any, help: str, *, choices: tuple[str, ...] = (), minimum: int | None = None) -> Any:
    """Declare a field of :class:`Settings`: its default, documentation and validation in one place."""
    return field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum})


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated settings. Build with :func:`load_settings`.

    Each field is the single declaration of one setting: its type (the annotation), default, help
    (the row of ``docs/settings.md``), allowed values and minimum. :data:`SETTINGS` is derived from it.
    """

    host: str = setting("127.0.0.1", "Interface the HTTP server binds to.")
    port: int = setting(8080, "TCP port of the HTTP server.", minimum=0)
    workers: int = setting(
        1,
        "Server worker processes, each accepting on a socket of its own (SO_REUSEPORT: the kernel "
        "spreads connections over them). With SQLite several workers share one file (one writer at a time); "
        "with PostgreSQL use one per core.",
        minimum=1,
    )
    data_dir: str = setting("./data", "Directory for the embedded SQLite database and local files.")
    database_url: str = setting(
        "",
        "Storage engine: empty for SQLite in data_dir, sqlite:///path/to/file.db, or "
        "postgresql://user@host:port/dbname.",
    )
    sqlite_synchronous: str = setting(
        "normal",
        "SQLite durability: 'normal' loses no committed write when the process is killed; 'full' also "
        "survives power loss, at a lower write rate.",
        choices=("normal", "full"),
    )
    redis_url: str = setting(
        "",
        "Redis (redis://host:port/db) through which workers and machines tell each other what changed "
        "(apps, memberships, login throttling); empty: through the database (PostgreSQL LISTEN/NOTIFY, "
        "or a log in the SQLite file).",
    )
    sqlite_group_commit: bool = setting(
        True,
        "Writers of one collection queued at the same time share one SQLite transaction (each in its own "
        "savepoint, each acknowledged after the shared commit).",
    )
    postgres_group_commit: bool = setting(
        False,
        "Writers of one collection queued at the same time share one PostgreSQL transaction (each in its "
        "own savepoint, each acknowledged after the shared commit). Off by default: measured slower "
        "(docs/performance.md), as the members' whole transactions run one after another on one connection.",
    )
    postgres_pool_min: int = setting(2, "Minimum open PostgreSQL connections per worker.", minimum=1)
    postgres_pool_max: int = setting(
        16,
        "Maximum open PostgreSQL connections per worker in its main pool. The compiled finds (lists, "
        "counts, Kinto pages) borrow from a second pool of at most half as many, and the index walks "
        "on checked generic plans from a third of at most half as many, both opened on first use "
        "(docs/storage.md): a worker opens at most twice this.",
        minimum=1,
    )
    max_body_bytes: int = setting(16 * 1024 * 1024, "Largest accepted request body, in bytes.", minimum=1)
    max_header_bytes: int = setting(
        16 * 1024,
        "Largest accepted request header block (names and values added up), in bytes; larger: 400.",
        minimum=1024,
    )
    header_timeout_seconds: int = setting(
        10,
        "A connection whose request line and headers take longer than this to arrive is closed (slowloris).",
        minimum=1,
    )
    body_timeout_seconds: int = setting(
        30,
        "A request body read whole (anything but a file upload) must arrive within this many seconds "
        "of the server starting to read it, plus one second per body_min_rate bytes received; "
        "slower: 408 and the connection is closed.",
        minimum=1,
    )
    body_min_rate: int = setting(
        10_000,
        "The rate, in bytes per second, that extends body_timeout_seconds for a large body.",
        minimum=1,
    )
    max_insert_entities: int = setting(
        1000,
        "Most entities one Kinvey multi-insert may carry (the SDKs send at most 100); more: 400.",
        minimum=1,
    )
    log_level: str = setting("info", "Log level.", choices=("debug", "info", "warning", "error"))
    access_log: bool = setting(False, "Log every request.")
    log_format: str = setting(
        "text",
        "Log lines as text, or as one JSON object per line (time, level, logger, message, request_id).",
        choices=("text", "json"),
    )
    kinto_admin_dir: str = setting(
        "",
        "Directory of the Kinto Admin build served at /v1/admin/ (empty: share/kinbase/kinto-admin in "
        "the Python environment, where 'kinbase kinto-admin install' and scripts/bootstrap put it).",
    )
    console_operator_secret: str = setting(
        "",
        "The operator's password for the web console at /console/ (sees and manages every app; "
        "empty: only an app's master secret logs in, to that app).",
    )
    console_session_seconds: int = setting(8 * 3600, "How long a console login lasts.", minimum=60)
    metrics_enabled: bool = setting(
        True,
        "Serve /metrics (Prometheus text format, no authentication: keep it off the public "
        "internet or turn it off).",
    )
    public_url: str = setting(
        "", "Externally visible base URL (scheme://host[:port]); by default taken from each request."
    )
    app_cache_seconds: int = setting(2, "How long a worker trusts its cached app credentials.", minimum=0)
    smtp_host: str = setting(
        "", "SMTP server for the Kinvey user mails (reset, verification); empty: no mail."
    )
    smtp_port: int = setting(25, "SMTP server port.", minimum=1)
    smtp_username: str = setting("", "SMTP login (empty: no authentication).")
    smtp_password: str = setting("", "SMTP password.")
    smtp_security: str = setting(
        "none",
        "SMTP transport security: none, starttls or tls (implicit TLS).",
        choices=("none", "starttls", "tls"),
    )
    mail_from: str = setting("kinbase@localhost", "Sender address of the mails kinbase sends.")
    password_hash_time_cost: int = setting(
        5,
        "argon2id iterations for user passwords (OWASP's equally strong pairs: 1 with 46 MiB, 2 with "
        "19 MiB, 3 with 12 MiB, 4 with 9 MiB, 5 with 7 MiB; higher: slower). A login rehashes a "
        "password stored with other parameters.",
        minimum=1,
    )
    password_hash_memory_kib: int = setting(7168, "argon2id memory per password hash, in KiB.", minimum=8)
    password_cache_seconds: int = setting(
        300,
        "How long a verified password is remembered (HMAC only) so repeated logins and Basic "
        "authentication skip the slow hash.",
        minimum=0,
    )
    auto_index_min_queries: int = setting(
        20,
        "Kinvey auto_index: how many reads of one query shape (per worker) before its index is created.",
        minimum=1,
    )
    auto_index_slow_ms: int = setting(
        10,
        "Kinvey auto_index: the average duration, in ms, from which a query shape needs an index.",
        minimum=0,
    )
    auto_index_idle_hours: int = setting(
        168, "Kinvey auto_index: an automatic index no query used for this long is dropped.", minimum=1
    )
    login_max_failures: int = setting(
        10,
        "Failed logins of one username (Kinvey users, Kinto accounts; counted across every worker and "
        "machine) before it is locked out.",
        minimum=1,
    )
    login_lockout_seconds: int = setting(300, "How long a login lockout lasts.", minimum=1)
    login_delay_after: int = setting(
        3,
        "Failed logins of one username after which it is refused for 1, 2, 4... s (at most 60 s) after "
        "each further failure.",
        minimum=1,
    )
    login_address_max_failures: int = setting(
        100,
        "Failed logins from one client address before the address is locked out (high enough for many "
        "users behind one NAT).",
        minimum=1,
    )
    query_timeout_seconds: int = setting(
        10,
        "Longest run of one database statement before it is cancelled (the client gets a 503): "
        "PostgreSQL statement_timeout, a SQLite progress handler. Reads never hold the event loop "
        "for more than 20 ms whatever this is.",
        minimum=1,
    )
    mfa_session_seconds: int = setting(
        300, "How long a user with MFA has to answer the challenge after its password login.", minimum=30
    )
    mfa_device_token_seconds: int = setting(
        30 * 86400, "How long a trusted device (an MFA device token) skips the second factor.", minimum=60
    )
    mfa_recovery_codes: int = setting(10, "Recovery codes issued to a user with MFA.", minimum=1)
    mic_code_seconds: int = setting(
        60, "How long an OAuth authorization code (Mobile Identity Connect) may be exchanged.", minimum=5
    )
    mic_access_token_seconds: int = setting(
        3600, "Lifetime of an OAuth access token (kinveyAuth social identity logins).", minimum=60
    )
    mic_refresh_token_seconds: int = setting(
        90 * 86400, "Lifetime of an OAuth refresh token (renewed each time it is used).", minimum=60
    )
    mic_login_page_seconds: int = setting(
        900, "How long a Mobile Identity Connect login page may be submitted.", minimum=30
    )
    blob_store: str = setting(
        "local",
        "Where file bytes live: 'local' (files under blob_dir) or 's3' (an S3-compatible object store, "
        "for several workers or machines).",
        choices=("local", "s3"),
    )
    blob_dir: str = setting("", "Directory of the local byte store (empty: data_dir/files).")
    s3_bucket: str = setting("kinbase", "S3 bucket of the byte store (created at start if missing).")
    s3_endpoint_url: str = setting("", "S3 endpoint (empty: AWS); e.g. http://127.0.0.1:8333 for SeaweedFS.")
    s3_region: str = setting("us-east-1", "S3 region.")
    s3_access_key: str = setting("", "S3 access key (empty: the AWS credential chain).")
    s3_secret_key: str = setting("", "S3 secret key.")
    s3_prefix: str = setting("", "Key prefix of every object kinbase writes in the bucket (ending with '/').")
    s3_part_size_mb: int = setting(
        8,
        "Part size of S3 multipart uploads, in MiB (S3's minimum is 5); one part per upload is buffered.",
        minimum=5,
    )
    s3_direct_downloads: bool = setting(
        False,
        "Kinvey _downloadURL of private files points at the object store (a presigned URL), not kinbase.",
    )
    file_max_bytes: int = setting(
        5 * 1024**3,
        "Largest file an app may store, in bytes (an app's files.max_file_bytes overrides it).",
        minimum=1,
    )
    file_quota_bytes: int = setting(
        0,
        "Bytes of files an app may keep in all (0: no quota; an app's files.quota_bytes overrides it).",
        minimum=0,
    )
    file_url_seconds: int = setting(
        3600, "Lifetime of a Kinvey _downloadURL when the request sets no ttl_in_seconds.", minimum=1
    )
    upload_session_seconds: int = setting(
        86400,
        "How long an unfinished upload stays resumable after its last write; then its bytes are collected.",
        minimum=60,
    )
    upload_stall_seconds: int = setting(
        60,
        "An upload that sends nothing for this long is cut off (what arrived is kept for a resume).",
        minimum=1,
    )
    file_gc_seconds: int = setting(
        3600,
        "Interval of the collection of orphaned bytes and abandoned uploads in each worker (0: only "
        "'kinbase files gc').",
        minimum=0,
    )
    schedules_enabled: bool = setting(
        True,
        "Run the apps' scheduled Flex functions in this server (every worker takes part; the "
        "database lets exactly one run each tick).",
    )
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Sections of the TOML file that belong to other components (e.g. ``[kinto]``); not a setting."""

    @property
    def resolved_database_url(self) -> str:
        """The database URL, with the SQLite default filled in from ``data_dir``."""
        if self.database_url:
            return self.database_url
        return "sqlite:///" + str(Path(self.data_dir).resolve() / "kinbase.db")

    @property
    def resolved_blob_dir(self) -> str:
        """The local byte store's directory, with the default filled in from ``data_dir``."""
        return self.blob_dir or str(Path(self.data_dir).resolve() / "files")

    @property
    def engine(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return engine_of(self.resolved_database_url)


_TYPES: dict[str, type] = {"str": str, "int": int, "bool": bool, "float": float}

SETTINGS: tuple[Setting, ...] = tuple(
    Setting(
        f.name,
        _TYPES[f.type] if isinstance(f.type, str) else f.type,
        f.default,
        f.metadata["help"],
        f.metadata["choices"],
        f.metadata["minimum"],
    )
    for f in dataclasses.fields(Settings)
    if "help" in f.metadata
)
"""Every setting, in declaration order (derived from :class:`Settings`)."""

_BY_NAME = {s.name: s for s in SETTINGS}


def engine_of(url: str) -> str:
    """Name the storage engine of a database URL.

    Raises:
        ConfigurationError: for an unsupported scheme.
    """
    if url.startswith("sqlite://"):
        return "sqlite"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql"
    raise ConfigurationError(
        f"database_url {url!r} is not supported: use sqlite:///path/to/file.db or postgresql://user@host/db"
    )


def _convert(setting: Setting, raw: Any, origin: str) -> Any:
    where = f"setting {setting.name!r} (from {origin})"
    value: Any
    if setting.type is bool:
        if isinstance(raw, bool):
            value = raw
        elif isinstance(raw, str) and raw.strip().lower() in ("1", "true", "yes", "on"):
            value = True
        elif isinstance(raw, str) and raw.strip().lower() in ("0", "false", "no", "off", ""):
            value = False
        else:
            raise ConfigurationError(f"{where}: expected true or false, got {raw!r}")
    elif setting.type is int:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ConfigurationError(f"{where}: expected an integer, got {raw!r}")
        try:
            value = int(raw)
        except ValueError:
            raise ConfigurationError(f"{where}: expected an integer, got {raw!r}") from None
        if setting.minimum is not None and value < setting.minimum:
            raise ConfigurationError(f"{where}: must be at least {setting.minimum}, got {value}")
    else:
        if not isinstance(raw, str):
            raise ConfigurationError(f"{where}: expected a string, got {raw!r}")
        value = raw.strip()
        if setting.choices:
            value = value.lower()
            if value not in setting.choices:
                raise ConfigurationError(f"{where}: must be one of {', '.join(setting.choices)}, got {raw!r}")
    return value


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read, merge and validate the settings.

    Args:
        config_file: a TOML file; ``KINBASE_CONFIG`` names one when this is None.
        environ: the environment to read ``KINBASE_*`` from (``os.environ`` by default).
        overrides: values from the command line; None values are ignored.

    Raises:
        ConfigurationError: a file that cannot be read, an unknown key, or a value of the wrong type.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    path = config_file if config_file is not None else env.get("KINBASE_CONFIG") or None
    if path is not None:
        try:
            with Path(path).open("rb") as fh:
                document = tomllib.load(fh)
        except OSError as exc:
            raise ConfigurationError(f"cannot read the config file {str(path)!r}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"the config file {str(path)!r} is not valid TOML: {exc}") from exc
        section = document.get("kinbase", document)
        for key, raw in section.items():
            if isinstance(raw, dict):
                extra[key] = raw
                continue
            setting = _BY_NAME.get(key)
            if setting is None:
                raise ConfigurationError(f"unknown setting {key!r} in {str(path)!r}")
            values[key] = _convert(setting, raw, str(path))
    for setting in SETTINGS:
        if setting.env in env:
            values[setting.name] = _convert(setting, env[setting.env], f"${setting.env}")
    for key, raw in (overrides or {}).items():
        if raw is None:
            continue
        setting = _BY_NAME.get(key)
        if setting is None:
            raise ConfigurationError(f"unknown setting {key!r}")
        values[key] = _convert(setting, raw, "the command line")
    settings = Settings(**values, extra=extra)
    engine_of(settings.resolved_database_url)
    if settings.postgres_pool_max < settings.postgres_pool_min:
        raise ConfigurationError("postgres_pool_max must be at least postgres_pool_min")
    if settings.redis_url and not settings.redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ConfigurationError(
            f"redis_url {settings.redis_url!r} is not supported: use redis://host:port/db, rediss:// or unix://"
        )
    return settings


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def markdown_table() -> str:
    """The settings table of ``docs/settings.md``, generated from :data:`SETTINGS`."""
    rows = ["| setting | environment | default | meaning |", "|---|---|---|---|"]
    for s in SETTINGS:
        meaning = s.help + (f" One of: {', '.join(s.choices)}." if s.choices else "")
        minimum = f" At least {s.minimum}." if s.minimum is not None and s.minimum > 0 else ""
        rows.append(f"| `{s.name}` | `{s.env}` | `{_literal(s.default)}` | {meaning}{minimum} |")
    return "\n".join(rows) + "\n"
