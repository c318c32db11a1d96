"""The byte-store contract, on the local filesystem and on a real S3-compatible server (SeaweedFS)."""

from kinbase.storage.blobs.testing import BlobStoreContract


class TestBlobStore(BlobStoreContract):
    pass
