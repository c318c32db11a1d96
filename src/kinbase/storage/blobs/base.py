"""The byte-store interface: file contents behind one async API, on the local disk or in S3.

A store keeps **blobs** under string keys (``12/kinvey/fileid/gen``: segments of letters, digits,
``_``, ``.`` and ``-``, none starting with a dot). A key is written once: a blob is never
modified in place, only deleted, so a reader that opened it reads one consistent version and an
ETag derived from the key never lies.

Bytes arrive as an async iterator of chunks and are never held in memory whole. A blob becomes
visible atomically: either through :meth:`BlobStore.put` (one stream) or through an **upload
session** (:meth:`~BlobStore.create_upload`, :meth:`~BlobStore.append` at the committed offset,
:meth:`~BlobStore.complete`), which survives broken connections and process restarts so a client
can resume where the store says it stopped. Nothing half-written is ever returned by
:meth:`~BlobStore.open` or :meth:`~BlobStore.stat`.

Implementations must pass :class:`kinbase.storage.blobs.testing.BlobStoreContract`.

Note:
    Appends to one session must not run concurrently; the core serialises them (a lease on the
    upload in the database), the store only has to stay consistent for one writer at a time.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from types import TracebackType

from kinbase.errors import AlreadyExists, BackendUnavailable, BodyTooLarge, Conflict, InvalidRequest, NotFound

__all__ = [
    "BlobExists",
    "BlobInfo",
    "BlobMissing",
    "BlobReader",
    "BlobStore",
    "BlobStoreUnavailable",
    "BlobTooLarge",
    "InvalidBlobKey",
    "OffsetMismatch",
    "UploadBusy",
    "UploadInfo",
    "UploadMissing",
    "check_key",
    "session_id",
]

_SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")


# -- errors ----------------------------------------------------------------------------------------
class InvalidBlobKey(InvalidRequest):
    code = "invalid_blob_key"
    default_message = "The blob key is malformed."


class BlobMissing(NotFound):
    code = "blob_missing"
    default_message = "There is no blob with this key."


class UploadMissing(NotFound):
    code = "upload_missing"
    default_message = "There is no upload session for this key."


class BlobExists(AlreadyExists):
    code = "blob_exists"
    default_message = "A blob with this key exists already (keys are written once)."


class BlobTooLarge(BodyTooLarge):
    """More bytes than the limit given to the write; the bytes beyond it were not stored."""

    code = "blob_too_large"
    default_message = "The file is larger than allowed."

    def __init__(self, limit: int) -> None:
        super().__init__(f"The file is larger than the limit of {limit} bytes.")
        self.limit = limit


class OffsetMismatch(Conflict):
    """An append did not start at the committed size of the session."""

    code = "offset_mismatch"

    def __init__(self, committed: int, offset: int) -> None:
        super().__init__(f"The upload has {committed} bytes; an append must start there, not at {offset}.")
        self.committed = committed
        self.offset = offset


class UploadBusy(Conflict):
    """Another writer is appending to the same session right now."""

    code = "upload_busy"
    default_message = "Another request is writing to this upload; retry later."


class BlobStoreUnavailable(BackendUnavailable):
    """The byte store failed (disk, network, the object store). ``original`` keeps the cause."""

    code = "blob_store_unavailable"
    default_message = "The file store failed; retry later."

    def __init__(self, message: str | None = None, *, original: BaseException | None = None) -> None:
        super().__init__(message)
        self.original = original


# -- records ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A committed blob.

    Attributes:
        key: its key.
        size: its length in bytes.
        content_type: the media type it was written with.
        modified: when it was committed, in ms since the epoch.
        sha256: the hex SHA-256 of its bytes when the store knows it (always from :meth:`BlobStore.put`).
    """

    key: str
    size: int
    content_type: str
    modified: int
    sha256: str | None = None


@dataclass(frozen=True, slots=True)
class UploadInfo:
    """An unfinished upload session: ``size`` bytes committed, last written at ``modified`` (ms)."""

    key: str
    size: int
    content_type: str
    modified: int


def check_key(key: str) -> str:
    """The key, or InvalidBlobKey if a segment is empty, starts with a dot or holds another character."""
    segments = key.split("/")
    if not key or len(key) > 1024 or not all(_SEGMENT.fullmatch(s) for s in segments):
        raise InvalidBlobKey(f"Invalid blob key {key[:80]!r}.")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, or whole key segments followed by ``/``."""
    if prefix and not (prefix.endswith("/") and check_key(prefix[:-1])):
        raise InvalidBlobKey(f"Invalid blob prefix {prefix[:80]!r}: whole segments ending with '/'.")
    return prefix


def session_id(key: str) -> str:
    """A fixed-length name for the upload session of ``key`` (file and object names stay short)."""
    return hashlib.sha256(key.encode()).hexdigest()[:40]


class BlobReader(ABC):
    """An open range of a blob: iterate it for its bytes, then close it (or use ``async with``).

    Attributes:
        info: the blob.
        start: the first byte of the range.
        end: one past the last byte of the range.
    """

    info: BlobInfo
    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start

    @abstractmethod
    def __aiter__(self) -> AsyncIterator[bytes]:
        """The bytes of the range, in chunks."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the file or connection (idempotent)."""

    async def __aenter__(self) -> BlobReader:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class BlobStore(ABC):
    """Where file bytes live. One instance per server process, shared by every request."""

    kind: str
    """``"local"`` or ``"s3"``."""

    @abstractmethod
    async def start(self) -> None:
        """Prepare the store (create directories, open the client, check the bucket)."""

    @abstractmethod
    async def stop(self) -> None:
        """Release connections."""

    @abstractmethod
    async def ping(self) -> bool:
        """True if the store answers (health checks)."""

    # -- whole blobs --------------------------------------------------------------------------------
    @abstractmethod
    async def put(
        self, key: str, chunks: AsyncIterable[bytes], *, content_type: str, max_size: int | None = None
    ) -> BlobInfo:
        """Store a stream as a new blob, visible only once complete (its ``sha256`` is computed).

        Raises:
            BlobExists: if ``key`` is taken.
            BlobTooLarge: if the stream is longer than ``max_size``; nothing is stored.
            Exception: whatever the stream raises; nothing is stored.
        """

    @abstractmethod
    async def stat(self, key: str) -> BlobInfo | None:
        """The committed blob, or None (an unfinished upload does not count)."""

    @abstractmethod
    async def open(self, key: str, start: int = 0, end: int | None = None) -> BlobReader:
        """Open bytes ``[start, end)`` of a blob (``end`` None: to its end) for streaming.

        Raises:
            BlobMissing: if there is no committed blob under ``key``.
            InvalidRequest: if the range is not within the blob (``start`` past its end).
        """

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove a blob (no-op if absent). A reader already open may finish reading it."""

    @abstractmethod
    def list_blobs(self, prefix: str = "") -> AsyncIterator[BlobInfo]:
        """Committed blobs whose key starts with ``prefix`` (whole segments, ending with ``/``)."""

    # -- upload sessions ------------------------------------------------------------------------------
    @abstractmethod
    async def create_upload(self, key: str, *, content_type: str) -> UploadInfo:
        """Open an upload session for ``key`` (or return the one already open).

        Raises:
            BlobExists: if a blob is already committed under ``key``.
        """

    @abstractmethod
    async def upload_info(self, key: str) -> UploadInfo | None:
        """The open session of ``key`` with its committed size, or None."""

    @abstractmethod
    async def append(
        self, key: str, offset: int, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> int:
        """Add the stream at ``offset``; returns the committed size afterwards.

        Every byte received is committed, also when the stream fails midway: the exception then
        propagates and :meth:`upload_info` tells where to resume.

        Raises:
            UploadMissing: if no session is open for ``key``.
            UploadBusy: if another append to it is running (nothing written).
            OffsetMismatch: if ``offset`` is not the committed size (nothing written).
            BlobTooLarge: if the session would pass ``max_size`` bytes (what fits is kept).
        """

    @abstractmethod
    async def complete(self, key: str) -> BlobInfo:
        """Make the session's bytes the blob ``key``, atomically, and close the session.

        Raises:
            UploadMissing: if no session is open for ``key``.
        """

    @abstractmethod
    async def abort(self, key: str) -> None:
        """Drop a session and its bytes (no-op if none)."""

    @abstractmethod
    def list_uploads(self, prefix: str = "") -> AsyncIterator[UploadInfo]:
        """Open sessions whose key starts with ``prefix``."""

    @abstractmethod
    async def sweep(self, before: int) -> int:
        """Remove the leftovers of :meth:`put` calls that a crash interrupted before ``before`` (ms);
        returns how many. Sessions are not touched (the caller aborts those it abandons)."""

    # -- direct access ----------------------------------------------------------------------------------
    async def direct_url(
        self, key: str, *, expires_in: int, content_type: str | None = None, filename: str | None = None
    ) -> str | None:
        """A URL that serves the blob without kinbase for ``expires_in`` seconds, if the store has
        one (S3 presigned GET); None otherwise."""
        return None
