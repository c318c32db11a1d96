"""kinto-attachment's settings for one collection, and how it names stored files.

The plugin's rules, kept: allowed extensions by group or name (``default`` = documents, text,
images and data), media types forced per extension, ``max_size_bytes`` (0: none), the stored name
made safe (ASCII letters, digits, ``_``, ``.``, ``-``), replaced by a UUID when ``randomize``, put
through ``filename_pattern`` and under ``folder``; a bucket's or a collection's overrides
(``attachment_resources``) win over the server's.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
import re
import unicodedata
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from kinbase.core.kinto.config import KintoConfig
from kinbase.core.kinto.errors import InvalidParameter

__all__ = ["EXTENSION_GROUPS", "AttachmentPolicy", "resolve_extensions", "safe_filename"]

EXTENSION_GROUPS: dict[str, tuple[str, ...]] = {
    "documents": ("pdf", "rtf", "odf", "ods", "gnumeric", "abw", "doc", "docx", "xls", "xlsx"),
    "text": ("txt",),
    "images": ("jpg", "jpe", "jpeg", "png", "gif", "svg", "bmp", "tiff"),
    "audio": ("wav", "mp3", "aac", "ogg", "oga", "flac"),
    "video": ("mpeg", "3gp", "avi", "divx", "dvr", "flv", "mp4", "wmv"),
    "data": ("csv", "ini", "json", "plist", "xml", "yaml", "yml"),
    "scripts": ("js", "php", "pl", "py", "rb", "sh"),
    "archives": ("gz", "bz2", "zip", "tar", "tgz", "txz", "7z"),
    "executables": ("so", "exe", "dll"),
}
EXTENSION_GROUPS["default"] = (
    EXTENSION_GROUPS["documents"]
    + EXTENSION_GROUPS["text"]
    + EXTENSION_GROUPS["images"]
    + EXTENSION_GROUPS["data"]
)
EXTENSION_GROUPS["any"] = ()
DEFAULT_MIMETYPES = {".pem": "application/x-pem-file", ".geojson": "application/geojson"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def resolve_extensions(spec: str) -> frozenset[str]:
    """The extensions ``spec`` allows (``"images+pdf"``); empty means any."""
    allowed: set[str] = set()
    for part in spec.split("+"):
        if part in EXTENSION_GROUPS:
            allowed.update(EXTENSION_GROUPS[part])
        else:
            allowed.update(e.lower() for e in part.split())
    return frozenset(allowed)


def safe_filename(name: str) -> str:
    """The plugin's ``secure_filename``: ASCII only, separators and spaces to ``_``, no leading or
    trailing dots and underscores."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    for separator in ("/", "\\"):
        ascii_name = ascii_name.replace(separator, " ")
    return _UNSAFE.sub("", "_".join(ascii_name.split())).strip("._")


@dataclass(frozen=True, slots=True)
class AttachmentPolicy:
    """The effective attachment settings of one collection."""

    extensions: frozenset[str]
    mimetypes: Mapping[str, str]
    max_size_bytes: int
    keep_old_files: bool
    randomize: bool
    filename_pattern: str
    folder: str

    @classmethod
    def of(cls, config: KintoConfig, bucket: str, collection: str) -> AttachmentPolicy:
        values: dict[str, Any] = {
            "randomize": config.attachment_randomize,
            "keep_old_files": config.attachment_keep_old_files,
            "filename_pattern": config.attachment_filename_pattern,
            "folder": config.attachment_folder,
            "max_size_bytes": config.attachment_max_size_bytes,
        }
        for scope in (bucket, f"{bucket}/{collection}"):
            values.update(config.attachment_resources.get(scope, {}))
        forced = dict(DEFAULT_MIMETYPES)
        for pair in filter(None, config.attachment_mimetypes.split(";")):
            extension, _, kind = pair.partition(":")
            forced[extension.strip()] = kind.strip()
        return cls(
            resolve_extensions(config.attachment_extensions),
            forced,
            int(values["max_size_bytes"]),
            bool(values["keep_old_files"]),
            bool(values["randomize"]),
            str(values["filename_pattern"]),
            str(values["folder"]),
        )

    def check_extension(self, filename: str) -> None:
        """Raises InvalidParameter (body) when the file's extension is not allowed."""
        if self.extensions and _suffix(filename).lstrip(".").lower() not in self.extensions:
            raise InvalidParameter("body", "attachment", "File extension is not allowed.")

    def mimetype(self, filename: str, given: str | None) -> str:
        """The stored media type: forced by the extension, else the one sent, else guessed."""
        extension = _suffix(filename)
        if extension in self.mimetypes:
            return self.mimetypes[extension]
        if given:
            return given
        return mimetypes.guess_type(filename)[0] or "application/octet-stream"

    def location(self, filename: str, bucket: str, collection: str, record: str) -> str:
        """The stored name (relative to the attachments' base URL), before collisions are resolved."""
        name = safe_filename(PurePosixPath(filename.replace("\\", "/")).name)
        if self.randomize or not name:
            name = str(uuid.uuid4()) + _suffix(name or filename).lower()
        if self.filename_pattern:
            now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
            name = self.filename_pattern.format(datetime=now, rid=record, filename=name)
        folder = (
            self.folder.format(bucket_id=bucket, collection_id=collection, id=record) if self.folder else ""
        )
        return f"{folder.strip('/')}/{name}" if folder.strip("/") else name


def _suffix(filename: str) -> str:
    """The extension of a client's file name (``".pdf"``), with its dot; empty if none."""
    return PurePosixPath(filename.replace("\\", "/")).suffix
