"""Errors of the file services that both front-ends render (each in its protocol's format).

::

    BodyTooLarge (413)
      + FileTooLarge          a file above the app's (or the plugin's) size limit
    QuotaExceeded (507)       the app's files would pass its quota
    InvalidRequest (400)
      + BadUploadRange        a Content-Range that does not fit the upload
      + UploadStalled (408)   no byte arrived for ``upload_stall_seconds``
    NotFound (404)
      + FileNotFound          no such file, or no bytes for it (yet)
      + UploadGone            the upload was finished, replaced or collected
"""

from __future__ import annotations

from kinbase.errors import BaaSError, BodyTooLarge, InvalidRequest, NotFound

__all__ = ["BadUploadRange", "FileNotFound", "FileTooLarge", "QuotaExceeded", "UploadGone", "UploadStalled"]


class FileTooLarge(BodyTooLarge):
    code = "file_too_large"

    def __init__(self, limit: int, size: int | None = None) -> None:
        shown = f"{size} bytes" if size is not None else "The file"
        super().__init__(f"{shown} exceeds the limit of {limit} bytes.")
        self.limit = limit
        self.size = size


class QuotaExceeded(BaaSError):
    status_code = 507
    code = "quota_exceeded"

    def __init__(self, quota: int, used: int) -> None:
        super().__init__(f"The app's files would pass its quota of {quota} bytes ({used} bytes are used).")
        self.quota = quota
        self.used = used


class BadUploadRange(InvalidRequest):
    code = "bad_upload_range"
    default_message = "The Content-Range does not fit this upload."


class UploadStalled(InvalidRequest):
    status_code = 408
    code = "upload_stalled"
    default_message = "The upload sent nothing for too long; resume it from the committed size."


class FileNotFound(NotFound):
    code = "file_not_found"
    default_message = "This file was not found."


class UploadGone(NotFound):
    code = "upload_gone"
    default_message = "This upload is finished, replaced or expired; create the file again to upload."
