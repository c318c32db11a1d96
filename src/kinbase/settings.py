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

__all__ = ["SETTINGS", "Setting", "Settings", "load_settings"]


@dataclass(frozen=True, slots=True)
class Setting:
    """One documented setting."""

    name: str
    type: type
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None


SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "127.0.0.1", "Interface the HTTP server binds to."),
    Setting("port", int, 8080, "TCP port of the HTTP server.", minimum=0),
    Setting(
        "workers",
        int,
        1,
        "Server worker processes. With SQLite several workers share one file (one writer at a time); "
        "with PostgreSQL use one per core.",
        minimum=1,
    ),
    Setting("data_dir", str, "./data", "Directory for the embedded SQLite database and local files."),
    Setting(
        "database_url",
        str,
        "",
        "Storage engine: empty for SQLite in data_dir, sqlite:///path/to/file.db, or "
        "postgresql://user@host:port/dbname.",
    ),
    Setting(
        "sqlite_synchronous",
        str,
        "normal",
        "SQLite durability: 'normal' loses no committed write when the process is killed; 'full' also "
        "survives power loss, at a lower write rate.",
        choices=("normal", "full"),
    ),
    Setting("postgres_pool_min", int, 2, "Minimum open PostgreSQL connections per worker.", minimum=1),
    Setting("postgres_pool_max", int, 16, "Maximum open PostgreSQL connections per worker.", minimum=1),
    Setting("max_body_bytes", int, 16 * 1024 * 1024, "Largest accepted request body, in bytes.", minimum=1),
    Setting("log_level", str, "info", "Log level.", choices=("debug", "info", "warning", "error")),
    Setting("access_log", bool, False, "Log every request."),
    Setting(
        "public_url",
        str,
        "",
        "Externally visible base URL (scheme://host[:port]); by default taken from each request.",
    ),
    Setting("app_cache_seconds", int, 2, "How long a worker trusts its cached app credentials.", minimum=0),
    Setting(
        "smtp_host", str, "", "SMTP server for the Kinvey user mails (reset, verification); empty: no mail."
    ),
    Setting("smtp_port", int, 25, "SMTP server port.", minimum=1),
    Setting("smtp_username", str, "", "SMTP login (empty: no authentication)."),
    Setting("smtp_password", str, "", "SMTP password."),
    Setting(
        "smtp_security",
        str,
        "none",
        "SMTP transport security: none, starttls or tls (implicit TLS).",
        choices=("none", "starttls", "tls"),
    ),
    Setting("mail_from", str, "kinbase@localhost", "Sender address of the mails kinbase sends."),
    Setting(
        "password_hash_time_cost",
        int,
        3,
        "argon2id iterations for user passwords (higher: slower).",
        minimum=1,
    ),
    Setting("password_hash_memory_kib", int, 19456, "argon2id memory per password hash, in KiB.", minimum=8),
    Setting(
        "password_cache_seconds",
        int,
        300,
        "How long a verified password is remembered (HMAC only) so repeated logins and Basic "
        "authentication skip the slow hash.",
        minimum=0,
    ),
    Setting(
        "login_max_failures", int, 10, "Failed logins (per user or address) before a lockout.", minimum=1
    ),
    Setting("login_lockout_seconds", int, 300, "How long a login lockout lasts.", minimum=1),
    Setting("login_delay_after", int, 3, "Failed logins after which each attempt is slowed down.", minimum=1),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated settings. Build with :func:`load_settings`."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    data_dir: str = "./data"
    database_url: str = ""
    sqlite_synchronous: str = "normal"
    postgres_pool_min: int = 2
    postgres_pool_max: int = 16
    max_body_bytes: int = 16 * 1024 * 1024
    log_level: str = "info"
    access_log: bool = False
    public_url: str = ""
    app_cache_seconds: int = 2
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"
    mail_from: str = "kinbase@localhost"
    password_hash_time_cost: int = 2
    password_hash_memory_kib: int = 19456
    password_cache_seconds: int = 300
    login_max_failures: int = 10
    login_lockout_seconds: int = 300
    login_delay_after: int = 3
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Sections of the TOML file that belong to other components (e.g. ``[smtp]``)."""

    @property
    def resolved_database_url(self) -> str:
        """The database URL, with the SQLite default filled in from ``data_dir``."""
        if self.database_url:
            return self.database_url
        return "sqlite:///" + str(Path(self.data_dir).resolve() / "kinbase.db")

    @property
    def engine(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return engine_of(self.resolved_database_url)


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
        env_name = "KINBASE_" + setting.name.upper()
        if env_name in env:
            values[setting.name] = _convert(setting, env[env_name], f"${env_name}")
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
    return settings


def describe() -> list[tuple[str, str, str]]:
    """(name, default, help) for every setting, for ``kinbase settings`` and the docs test."""
    return [(s.name, repr(s.default), s.help) for s in SETTINGS]


def replace(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some fields changed (tests and the CLI use it)."""
    return dataclasses.replace(settings, **changes)
