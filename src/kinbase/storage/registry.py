"""Build the storage engine named by the settings."""

from __future__ import annotations

from urllib.parse import unquote

from kinbase.errors import ConfigurationError
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend

__all__ = ["create_storage", "sqlite_path"]


def sqlite_path(url: str) -> str:
    """The file path of a SQLite URL: ``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``.

    Raises:
        ConfigurationError: if the URL names no file.
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        raise ConfigurationError(f"database_url {url!r}: use sqlite:///path (three slashes)")
    path = unquote(url[len(prefix) :])
    if not path or path.endswith("/"):
        raise ConfigurationError(f"database_url {url!r} does not name a database file")
    return path


def create_storage(settings: Settings) -> StorageBackend:
    """The engine for ``settings.resolved_database_url`` (not started)."""
    url = settings.resolved_database_url
    if settings.engine == "sqlite":
        from kinbase.storage.sqlite import SQLiteStorage

        return SQLiteStorage(
            sqlite_path(url),
            synchronous=settings.sqlite_synchronous,
            query_timeout=settings.query_timeout_seconds,
            group_commit=settings.sqlite_group_commit,
        )
    from kinbase.storage.postgresql import PostgreSQLStorage

    return PostgreSQLStorage(
        url,
        min_size=settings.postgres_pool_min,
        max_size=settings.postgres_pool_max,
        query_timeout=settings.query_timeout_seconds,
        group_commit=settings.postgres_group_commit,
    )
