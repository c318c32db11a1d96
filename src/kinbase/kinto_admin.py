"""The Kinto Admin build kinbase serves at ``/v1/admin/``: where it lives, how it is installed.

The Kinto Admin's release build is not on npm; the PyPI wheel ``kinto==24.1.1`` carries a
single-server build (Kinto Admin 6.1.1) under ``kinto/plugins/admin/build/``. ``kinbase
kinto-admin install`` (run by ``scripts/bootstrap``) downloads that wheel with pip and extracts
the directory into :func:`admin_dir`; it is never committed. Without it, ``/v1/admin/`` answers a
page saying how to install it, and the server logs it once.
"""

from __future__ import annotations

import mimetypes
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path, PurePosixPath

from kinbase.settings import Settings

__all__ = ["KINTO_REQUIREMENT", "AdminBuild", "admin_dir", "build_at", "install"]

KINTO_REQUIREMENT = "kinto==24.1.1"
"""The wheel the build comes from."""

_PREFIX = "kinto/plugins/admin/build/"


def admin_dir(settings: Settings) -> Path:
    """The directory of the build: ``kinto_admin_dir``, else ``share/kinbase/kinto-admin`` in the
    Python environment kinbase runs in."""
    if settings.kinto_admin_dir:
        return Path(settings.kinto_admin_dir)
    return Path(sys.prefix) / "share" / "kinbase" / "kinto-admin"


def install(dest: Path, *, requirement: str = KINTO_REQUIREMENT) -> str:
    """Download ``requirement`` with pip (no dependencies) and extract the admin build into
    ``dest`` (replacing what was there). Returns the Kinto Admin version.

    Raises:
        RuntimeError: pip failed, or the wheel holds no admin build.
    """
    with tempfile.TemporaryDirectory(prefix="kinbase-kinto-admin-") as tmp:
        done = subprocess.run(  # nosec B603: a fixed argument list, no shell
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "-q",
                "-d",
                tmp,
                requirement,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        wheels = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not wheels:
            raise RuntimeError(f"pip download {requirement} failed: {done.stderr.strip()[-500:]}")
        staging = Path(tmp) / "build"
        with zipfile.ZipFile(wheels[0]) as wheel:
            names = [n for n in wheel.namelist() if n.startswith(_PREFIX) and not n.endswith("/")]
            if not any(n == _PREFIX + "index.html" for n in names):
                raise RuntimeError(f"{wheels[0].name} holds no {_PREFIX}index.html")
            for name in names:
                relative = PurePosixPath(name[len(_PREFIX) :])
                if ".." in relative.parts or relative.is_absolute():
                    continue
                target = staging.joinpath(*relative.parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(wheel.read(name))
        version = (staging / "VERSION").read_text().strip() if (staging / "VERSION").exists() else "?"
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(staging, dest)
    return version


@dataclass
class AdminBuild:
    """The files of one build, read once and kept in memory (about 2.7 MB)."""

    directory: Path
    version: str | None = None
    index: str | None = None
    _assets: dict[str, tuple[bytes, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, directory: Path) -> AdminBuild:
        build = cls(directory)
        index = directory / "index.html"
        if index.is_file():
            build.index = index.read_text(encoding="utf-8")
            version = directory / "VERSION"
            build.version = version.read_text().strip() if version.is_file() else "unknown"
        return build

    @property
    def present(self) -> bool:
        return self.index is not None

    def page(self, prefix: str) -> str:
        """``index.html`` for the API prefix ``prefix`` (``/v1`` or ``/kinto/{app_key}/v1``): the
        build names its assets under ``/v1/admin/``."""
        assert self.index is not None
        return self.index if prefix == "/v1" else self.index.replace('"/v1/admin/', f'"{prefix}/admin/')

    def asset(self, subpath: str) -> tuple[bytes, str] | None:
        """The bytes and media type of a file of the build (``assets/index-x.js``), or None."""
        cached = self._assets.get(subpath)
        if cached is not None:
            return cached
        parts = PurePosixPath(subpath).parts
        if not parts or any(p in ("..", ".", "") or p.startswith(".") for p in parts):
            return None
        path = self.directory.joinpath(*parts)
        try:
            path.resolve().relative_to(self.directory.resolve())
        except ValueError:
            return None
        if not path.is_file():
            return None
        media = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if media.startswith("text/") or media in ("application/javascript", "text/javascript"):
            media += "; charset=utf-8"
        found = self._assets[subpath] = (path.read_bytes(), media)
        return found


@lru_cache(maxsize=8)
def build_at(directory: Path) -> AdminBuild:
    """The build in ``directory``, loaded once per process (a server restart sees a new one)."""
    return AdminBuild.load(directory)
