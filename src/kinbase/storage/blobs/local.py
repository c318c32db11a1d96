"""Blobs on the local filesystem (the default, under the data directory).

Layout under the root::

    objects/<key>~/data        a committed blob (the key's segments are directories; the last
    objects/<key>~/meta.json   one carries a ``~``, a character keys never hold)
    uploads/<session>/data     an upload session
    uploads/<session>/meta.json
    tmp/<random>/              a ``put`` being written (same layout)
    trash/<random>/            blobs being deleted

A blob is published by renaming its finished session directory to ``objects/<key>~``: one
``rename(2)``, after the data, the metadata and the directory were flushed with ``fsync``, so a
crash or a kill never leaves a half-written blob visible, and a second writer of the same key
fails (the target exists). Deletion renames the directory into ``trash/`` first, so it disappears
at once; a reader that opened the file keeps reading it.

Blocking file calls run in worker threads, in blocks of at least :data:`WRITE_BLOCK` bytes, so a
slow disk never stalls the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
import shutil
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from kinbase.errors import InvalidRequest
from kinbase.storage.blobs.base import (
    BlobExists,
    BlobInfo,
    BlobMissing,
    BlobReader,
    BlobStore,
    BlobStoreUnavailable,
    BlobTooLarge,
    OffsetMismatch,
    UploadBusy,
    UploadInfo,
    UploadMissing,
    check_key,
    check_prefix,
    session_id,
)

__all__ = ["LocalBlobStore"]

WRITE_BLOCK = 1024 * 1024
"""Chunks are gathered to this size before a thread writes them."""
READ_BLOCK = 256 * 1024
_SUFFIX = "~"


@contextlib.contextmanager
def _io_errors() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        raise BlobStoreUnavailable("The file store failed; retry later.", original=exc) from exc


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _make_dirs(path: Path, stop: Path) -> None:
    """Create ``path`` and its missing parents below ``stop``, flushing each new entry."""
    missing: list[Path] = []
    current = path
    while current != stop and not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            directory.mkdir()
        _fsync_dir(directory.parent)


def _write_json(path: Path, value: Any) -> None:
    with path.open("wb") as fh:
        fh.write(orjson.dumps(value))
        fh.flush()
        os.fsync(fh.fileno())


def _read_json(path: Path) -> Any:
    return orjson.loads(path.read_bytes())


def _ms(seconds: float) -> int:
    return int(seconds * 1000)


class _LocalReader(BlobReader):
    def __init__(self, fh: BinaryIO, info: BlobInfo, start: int, end: int) -> None:
        self._fh: BinaryIO | None = fh
        self.info = info
        self.start = start
        self.end = end

    async def __aiter__(self) -> AsyncIterator[bytes]:
        position = self.start
        try:
            while position < self.end and self._fh is not None:
                size = min(READ_BLOCK, self.end - position)
                with _io_errors():
                    chunk = await asyncio.to_thread(os.pread, self._fh.fileno(), size, position)
                if not chunk:
                    break
                position += len(chunk)
                yield chunk
        finally:
            await self.aclose()

    async def aclose(self) -> None:
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()


class LocalBlobStore(BlobStore):
    """Blobs as files under ``root`` (see the module docstring for the layout)."""

    kind = "local"

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root).resolve()
        self._objects = self.root / "objects"
        self._uploads = self.root / "uploads"
        self._trash = self.root / "trash"
        self._tmp = self.root / "tmp"

    # -- paths ------------------------------------------------------------------------------------------
    def _blob_dir(self, key: str) -> Path:
        return self._objects / (check_key(key) + _SUFFIX)

    def _session_dir(self, key: str) -> Path:
        return self._uploads / session_id(check_key(key))

    # -- lifecycle ----------------------------------------------------------------------------------------
    async def start(self) -> None:
        def prepare() -> None:
            for directory in (self._objects, self._uploads, self._trash, self._tmp):
                directory.mkdir(parents=True, exist_ok=True)
            for leftover in self._trash.iterdir():  # deletions a crash interrupted
                shutil.rmtree(leftover, ignore_errors=True)

        with _io_errors():
            await asyncio.to_thread(prepare)

    async def stop(self) -> None:
        return None

    async def ping(self) -> bool:
        return await asyncio.to_thread(os.access, self._objects, os.W_OK)

    # -- whole blobs -------------------------------------------------------------------------------------
    async def put(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str, max_size: int | None = None
    ) -> BlobInfo:
        target = self._blob_dir(key)
        if await asyncio.to_thread(target.exists):
            raise BlobExists(f"The blob {key!r} exists already.")
        work = self._tmp / secrets.token_hex(16)
        with _io_errors():
            await asyncio.to_thread(self._new_session, work, key, content_type)
        try:
            digest = hashlib.sha256()
            size = await self._stream_into(work / "data", 0, chunks, max_size, digest)
            return await self._publish(work, key, content_type, size, digest.hexdigest())
        except BaseException:
            await asyncio.to_thread(shutil.rmtree, work, True)
            raise

    async def stat(self, key: str) -> BlobInfo | None:
        directory = self._blob_dir(key)
        with _io_errors():
            return await asyncio.to_thread(self._stat, directory)

    def _stat(self, directory: Path) -> BlobInfo | None:
        try:
            meta = _read_json(directory / "meta.json")
        except FileNotFoundError:
            return None
        return BlobInfo(meta["key"], meta["size"], meta["content_type"], meta["modified"], meta.get("sha256"))

    async def open(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        directory = self._blob_dir(key)

        def opened() -> tuple[BinaryIO, BlobInfo] | None:
            try:
                fh = (directory / "data").open("rb")
            except FileNotFoundError:
                return None
            # read the metadata after opening: a deletion in between would have moved both
            try:
                meta = _read_json(directory / "meta.json")
            except FileNotFoundError:
                fh.close()
                return None
            info = BlobInfo(
                meta["key"], meta["size"], meta["content_type"], meta["modified"], meta.get("sha256")
            )
            return fh, info

        with _io_errors():
            found = await asyncio.to_thread(opened)
        if found is None:
            raise BlobMissing(f"There is no blob {key!r}.")
        fh, info = found
        stop = info.size if end is None else min(end, info.size)
        if start < 0 or start > stop:
            fh.close()
            raise InvalidRequest(f"The range {start}-{end} is outside the blob ({info.size} bytes).")
        return _LocalReader(fh, info, start, stop)

    async def delete(self, key: str) -> None:
        directory = self._blob_dir(key)

        def remove() -> None:
            doomed = self._trash / secrets.token_hex(16)
            try:
                directory.rename(doomed)
            except FileNotFoundError:
                return
            _fsync_dir(directory.parent)
            shutil.rmtree(doomed, ignore_errors=True)

        with _io_errors():
            await asyncio.to_thread(remove)

    async def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        base = self._objects / check_prefix(prefix) if prefix else self._objects
        with _io_errors():
            directories = await asyncio.to_thread(self._walk, base)
        for directory in directories:
            with _io_errors():
                info = await asyncio.to_thread(self._stat, directory)
            if info is not None:
                yield info

    def _walk(self, base: Path) -> list[Path]:
        found: list[Path] = []
        if not base.is_dir():
            return found
        for current, subdirs, _files in os.walk(base):
            for name in sorted(subdirs):
                if name.endswith(_SUFFIX):
                    found.append(Path(current) / name)
            subdirs[:] = sorted(d for d in subdirs if not d.endswith(_SUFFIX))
        return sorted(found)

    # -- upload sessions ------------------------------------------------------------------------------------
    def _new_session(self, directory: Path, key: str, content_type: str) -> None:
        directory.mkdir()
        (directory / "data").touch()
        _write_json(
            directory / "meta.json", {"key": key, "content_type": content_type, "created": time.time()}
        )
        _fsync_dir(directory)
        _fsync_dir(directory.parent)

    def _session(self, directory: Path) -> UploadInfo | None:
        try:
            meta = _read_json(directory / "meta.json")
            stat = (directory / "data").stat()
        except FileNotFoundError:
            return None
        modified = max(stat.st_mtime, float(meta.get("created", 0)))
        return UploadInfo(meta["key"], stat.st_size, meta["content_type"], _ms(modified))

    async def create_upload(self, key: str, *, content_type: str) -> UploadInfo:
        directory = self._session_dir(key)
        target = self._blob_dir(key)

        def create() -> UploadInfo:
            if target.exists():
                raise BlobExists(f"The blob {key!r} exists already.")
            with contextlib.suppress(FileExistsError):
                self._new_session(directory, key, content_type)
            info = self._session(directory)
            assert info is not None
            return info

        with _io_errors():
            return await asyncio.to_thread(create)

    async def upload_info(self, key: str) -> UploadInfo | None:
        directory = self._session_dir(key)
        with _io_errors():
            return await asyncio.to_thread(self._session, directory)

    async def append(
        self, key: str, offset: int, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> int:
        directory = self._session_dir(key)
        if not await asyncio.to_thread((directory / "meta.json").exists):
            raise UploadMissing(f"No upload is open for {key!r}.")
        return await self._stream_into(directory / "data", offset, chunks, max_size, None)

    async def _stream_into(
        self,
        path: Path,
        offset: int,
        chunks: AsyncIterable[bytes],
        max_size: int | None,
        digest: Any,
    ) -> int:
        """Append ``chunks`` to ``path`` at ``offset`` (its current size); returns the size after.
        What was received is flushed to disk even when the stream or the limit stops it."""

        def open_at() -> BinaryIO:
            fh = path.open("r+b")
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:  # another request appends to it
                fh.close()
                raise UploadBusy() from None
            size = os.fstat(fh.fileno()).st_size
            if size != offset:
                fh.close()
                raise OffsetMismatch(size, offset)
            fh.seek(offset)
            return fh

        with _io_errors():
            fh = await asyncio.to_thread(open_at)
        size = offset
        pending: list[bytes] = []
        pending_size = 0

        def write(block: bytes) -> None:
            fh.write(block)

        try:
            async for chunk in chunks:
                if not chunk:
                    continue
                if max_size is not None and size + pending_size + len(chunk) > max_size:
                    room = max_size - size - pending_size
                    pending.append(chunk[:room])
                    pending_size += room
                    raise BlobTooLarge(max_size)
                if digest is not None:
                    digest.update(chunk)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= WRITE_BLOCK:
                    block = b"".join(pending)
                    pending, pending_size = [], 0
                    with _io_errors():
                        await asyncio.to_thread(write, block)
                    size += len(block)
        finally:
            block = b"".join(pending)

            def flush() -> int:
                try:
                    if block:
                        fh.write(block)
                    fh.flush()
                    os.fsync(fh.fileno())
                    return fh.tell()
                finally:
                    fh.close()

            with _io_errors():
                size = await asyncio.to_thread(flush)
        return size

    async def complete(self, key: str) -> BlobInfo:
        directory = self._session_dir(key)
        with _io_errors():
            info = await asyncio.to_thread(self._session, directory)
        if info is None:
            raise UploadMissing(f"No upload is open for {key!r}.")
        return await self._publish(directory, key, info.content_type, info.size, None)

    async def _publish(
        self, work: Path, key: str, content_type: str, size: int, sha256: str | None
    ) -> BlobInfo:
        target = self._blob_dir(key)
        modified = _ms(time.time())
        meta = {"key": key, "size": size, "content_type": content_type, "modified": modified}
        if sha256 is not None:
            meta["sha256"] = sha256

        def publish() -> None:
            _write_json(work / "meta.json", meta)
            _fsync_dir(work)
            _make_dirs(target.parent, self._objects)
            try:
                work.rename(target)
            except OSError as exc:
                if target.exists():
                    raise BlobExists(f"The blob {key!r} exists already.") from exc
                raise
            _fsync_dir(target.parent)
            _fsync_dir(work.parent)

        with _io_errors():
            await asyncio.to_thread(publish)
        return BlobInfo(key, size, content_type, modified, sha256)

    async def abort(self, key: str) -> None:
        directory = self._session_dir(key)

        def remove() -> None:
            doomed = self._trash / secrets.token_hex(16)
            try:
                directory.rename(doomed)
            except FileNotFoundError:
                return
            shutil.rmtree(doomed, ignore_errors=True)

        with _io_errors():
            await asyncio.to_thread(remove)

    async def list_uploads(self, prefix: str = "") -> AsyncIterator[UploadInfo]:
        check_prefix(prefix)

        def sessions() -> list[UploadInfo]:
            found = []
            for directory in sorted(self._uploads.iterdir()):
                info = self._session(directory)
                if info is not None and info.key.startswith(prefix):
                    found.append(info)
            return found

        with _io_errors():
            for info in await asyncio.to_thread(sessions):
                yield info

    async def sweep(self, before: int) -> int:
        def remove() -> int:
            count = 0
            for directory in self._tmp.iterdir():
                with contextlib.suppress(FileNotFoundError):
                    data = directory / "data"
                    touched = max(directory.stat().st_mtime, data.stat().st_mtime if data.exists() else 0)
                    if _ms(touched) < before:
                        shutil.rmtree(directory, ignore_errors=True)
                        count += 1
            return count

        with _io_errors():
            return await asyncio.to_thread(remove)
