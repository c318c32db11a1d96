"""The file services of one server process: the byte store, the ledger, links, uploads, Kinvey
files, Kinto attachments and the collector, wired together."""

from __future__ import annotations

from collections.abc import Callable

from kinbase.core.files.collector import FileCollector
from kinbase.core.files.ledger import BlobLedger
from kinbase.core.files.signing import LinkSigner
from kinbase.core.files.uploads import ResumableUploads
from kinbase.core.kinto.attachments import AttachmentService
from kinbase.core.kinto.service import KintoService
from kinbase.core.kinvey.file_links import FileLinks
from kinbase.core.kinvey.file_transfer import FileTransfer
from kinbase.core.kinvey.files import FileService
from kinbase.settings import Settings
from kinbase.storage.base import StorageBackend
from kinbase.storage.blobs import BlobStore

__all__ = ["FileServices"]


class FileServices:
    """Everything about file bytes. Front-ends use ``kinvey`` and ``transfer`` (Kinvey's Files
    API) and ``attachments`` (Kinto's)."""

    def __init__(
        self,
        settings: Settings,
        storage: StorageBackend,
        store: BlobStore,
        secret: Callable[[], bytes],
        kinto: KintoService,
    ) -> None:
        self.store = store
        self.signer = LinkSigner(secret)
        self.ledger = BlobLedger(settings, storage, store)
        self.uploads = ResumableUploads(settings, self.ledger, store)
        self.links = FileLinks(settings, self.signer, store)
        self.kinvey = FileService(storage, self.ledger, self.links)
        self.transfer = FileTransfer(
            storage, store, self.ledger, self.uploads, self.signer, self.links, self.kinvey
        )
        self.attachments = AttachmentService(
            settings, storage, kinto.objects, kinto.store, self.ledger, store
        )
        self.collector = FileCollector(settings, storage, store, self.ledger)
        self.collector.owners["kinvey"] = self.kinvey.referenced
        self.collector.owners["kinto"] = self.attachments.referenced

    async def start(self) -> None:
        """Open the byte store and start the periodic collection."""
        await self.store.start()
        self.collector.start()

    async def stop(self) -> None:
        await self.collector.stop()
        await self.ledger.close()
        await self.store.stop()
