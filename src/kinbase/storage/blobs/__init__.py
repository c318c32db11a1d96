"""Byte stores: where file contents live (``base`` is the interface; ``local`` and ``s3`` implement it)."""

from __future__ import annotations

from kinbase.settings import Settings
from kinbase.storage.blobs.base import (
    BlobExists,
    BlobInfo,
    BlobMissing,
    BlobReader,
    BlobStore,
    BlobStoreUnavailable,
    BlobTooLarge,
    InvalidBlobKey,
    OffsetMismatch,
    UploadBusy,
    UploadInfo,
    UploadMissing,
    check_key,
)

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
    "create_blob_store",
]


def create_blob_store(settings: Settings) -> BlobStore:
    """The byte store the settings name (not started)."""
    if settings.blob_store == "s3":
        from kinbase.storage.blobs.s3 import S3BlobStore

        return S3BlobStore(
            bucket=settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region,
            access_key=settings.s3_access_key or None,
            secret_key=settings.s3_secret_key or None,
            prefix=settings.s3_prefix,
            part_size=settings.s3_part_size_mb * 1024 * 1024,
        )
    from kinbase.storage.blobs.local import LocalBlobStore

    return LocalBlobStore(settings.resolved_blob_dir)
