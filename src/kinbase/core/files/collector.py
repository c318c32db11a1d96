"""The collector of orphaned bytes: what a crash, a kill or an abandoned client leaves behind.

Run periodically by every worker (``file_gc_seconds``) and by ``kinbase files gc``; every step is
idempotent, so workers running it together only repeat each other. For each app, in key order:

1. the store is listed first, the ledger read after: bytes the ledger does not hold (a deleted
   file whose deletion did not finish, an app that was deleted) are deleted, and so are unfinished
   upload sessions nobody owns; a short grace period covers stores that list lazily;
2. uploads that got no byte for ``upload_session_seconds`` are dropped with their bytes (the
   quota they reserved comes back);
3. stored entries whose owner no longer points at them (a metadata change that bypassed the
   services) are dropped, as each owner's validator says (an unfinished upload's owner may not
   point at it yet: step 2 decides its fate);
4. leftovers of interrupted ``put`` calls are swept, and ledger tombstones older than a day purged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from kinbase.core.files.ledger import LEDGER, BlobLedger, LedgerEntry
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, Reader, StorageBackend
from kinbase.storage.blobs import BlobInfo, BlobStore, UploadInfo
from kinbase.storage.stamps import now_ms

# A private generator: jitter and sampling never touch the global `random` state (hypothesis
# checks it around every draw, and the tests run the server in the same process).
_RANDOM = random.Random()

__all__ = ["CollectReport", "FileCollector", "OwnerCheck"]

logger = logging.getLogger("kinbase.files")

OwnerCheck = Callable[[Reader, AppRecord, Sequence[LedgerEntry]], Awaitable[set[str]]]
"""Given live entries of one owner area, the keys their owners still reference."""

GRACE_MS = 60_000
TOMBSTONE_MS = 86_400_000


@dataclass(slots=True)
class CollectReport:
    """What one collection did."""

    blobs_deleted: int = 0
    uploads_aborted: int = 0
    entries_dropped: int = 0
    leftovers_swept: int = 0
    apps: int = 0
    errors: list[str] = field(default_factory=list)


async def _grouped(
    items: AsyncIterator[BlobInfo] | AsyncIterator[UploadInfo],
) -> dict[str, list[tuple[str, int]]]:
    """Keys and modification times, by app id (the first segment of every key)."""
    groups: dict[str, list[tuple[str, int]]] = {}
    async for item in items:
        groups.setdefault(item.key.split("/", 1)[0], []).append((item.key, item.modified))
    return groups


class FileCollector:
    """Delete what nobody owns; see the module docstring."""

    def __init__(
        self, settings: Settings, storage: StorageBackend, store: BlobStore, ledger: BlobLedger
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.store = store
        self.ledger = ledger
        self.owners: dict[str, OwnerCheck] = {}
        self._task: asyncio.Task[None] | None = None

    async def collect(self) -> CollectReport:
        report = CollectReport()
        started = now_ms()
        async with self.storage.reader() as reader:
            apps = {str(a.id): a for a in await reader.list_apps()}
        # the store first, the ledger after: bytes exist only once their entry was committed
        blobs = await _grouped(self.store.list_blobs(""))
        uploads = await _grouped(self.store.list_uploads(""))
        for app_id in sorted(set(blobs) | set(uploads) | set(apps), key=str):
            app = apps.get(app_id)
            live = await self._settle(app, report) if app is not None else {}
            if app is not None:
                report.apps += 1
            recent = started - GRACE_MS
            for key, modified in blobs.get(app_id, []):
                if key not in live and modified < recent:
                    await self.store.delete(key)
                    report.blobs_deleted += 1
            for key, modified in uploads.get(app_id, []):
                if (key not in live and modified < recent) or (key in live and live[key].stored):
                    await self.store.abort(key)
                    report.uploads_aborted += 1
        report.leftovers_swept = await self.store.sweep(started - self.settings.upload_session_seconds * 1000)
        return report

    async def _settle(self, app: AppRecord, report: CollectReport) -> dict[str, LedgerEntry]:
        """The app's live entries after dropping abandoned uploads and disowned entries."""
        async with self.storage.reader() as reader:
            entries = await self.ledger.entries(reader, app.id)
            doomed: list[str] = []
            cutoff = now_ms() - self.settings.upload_session_seconds * 1000
            for entry in entries:
                leased = bool(entry.lease) and int((entry.lease or {}).get("until", 0)) > now_ms()
                if not entry.stored and entry.touched < cutoff and not leased:
                    doomed.append(entry.key)
            areas: dict[str, list[LedgerEntry]] = {}
            for entry in entries:
                # an upload's owner may not point at it yet (a Kinto record is written with the
                # completion): unfinished uploads go by the rule above, not by their owner
                if entry.stored and not entry.owner.get("kept"):
                    areas.setdefault(str(entry.owner.get("area", "")), []).append(entry)
            for area, owned in areas.items():
                check = self.owners.get(area)
                if check is not None:
                    referenced = await check(reader, app, owned)
                    doomed += [e.key for e in owned if e.key not in referenced]
        if doomed:
            async with self.storage.writer() as writer:
                dropped = await self.ledger.drop(writer, app, sorted(set(doomed)))
            report.entries_dropped += len(dropped)
            await self.ledger.discard(app.id, dropped)
        await self._purge(app)
        gone = set(doomed)
        return {e.key: e for e in entries if e.key not in gone}

    async def _purge(self, app: AppRecord) -> None:
        async with self.storage.writer() as writer:
            parent = await writer.get_parent(app.id, LEDGER, "")
            if parent is not None:
                await writer.purge_tombstones(parent, now_ms() - TOMBSTONE_MS)

    # -- the periodic run ---------------------------------------------------------------------------------
    def start(self) -> None:
        """Run :meth:`collect` every ``file_gc_seconds`` (jittered) in the background."""
        if self.settings.file_gc_seconds > 0 and self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def _loop(self) -> None:
        interval = self.settings.file_gc_seconds
        while True:
            await asyncio.sleep(interval * _RANDOM.uniform(0.5, 1.5))
            try:
                report = await self.collect()
            except Exception:
                logger.exception("the collection of orphaned files failed")
                continue
            if report.blobs_deleted or report.uploads_aborted or report.entries_dropped:
                logger.info("files collected: %s", report)

    async def stop(self) -> None:
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
