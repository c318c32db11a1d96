"""The storage contract, on SQLite and on PostgreSQL."""

from kinbase.storage.testing import StorageContract


class TestStorage(StorageContract):
    pass
