"""The Kinto Admin as Kinto's admin plugin serves it, over a build made here (the real one is
driven in a browser by tests/browser): the redirect, the page and its CSP, the assets and their
caching, the per-app prefix, the ``admin`` capability; without a build, a page that says how to
install it; ``kinbase kinto-admin install`` from a wheel."""

from __future__ import annotations

import zipfile
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from kinbase.app import create_app
from kinbase.cli import main
from kinbase.core.services import Core
from kinbase.frontends.kinto.admin import ADMIN_CSP
from kinbase.kinto_admin import AdminBuild, install
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord, StorageBackend

pytestmark = pytest.mark.anyio

INDEX = (
    '<!DOCTYPE html><html><head><script type="module" crossorigin src="/v1/admin/assets/index-A1.js">'
    '</script><link rel="stylesheet" href="/v1/admin/assets/index-B2.css"></head><body></body></html>'
)


def make_build(directory: Path) -> Path:
    (directory / "assets").mkdir(parents=True)
    (directory / "index.html").write_text(INDEX)
    (directory / "VERSION").write_text("6.1.1\n")
    (directory / "assets" / "index-A1.js").write_text("console.log('admin');")
    (directory / "assets" / "index-B2.css").write_text("body{}")
    return directory


async def _client(storage: StorageBackend, settings: Settings) -> tuple[Core, httpx.AsyncClient]:
    core = Core(settings, storage)
    await core.load_secret()
    transport = httpx.ASGITransport(app=create_app(settings, core))
    return core, httpx.AsyncClient(transport=transport, base_url="http://kinbase.test")


async def test_admin_pages(storage: StorageBackend, app: AppRecord, tmp_path: Path) -> None:
    build = make_build(tmp_path / "build")
    settings = Settings(data_dir=str(tmp_path / "data"), kinto_admin_dir=str(build))
    _, http = await _client(storage, settings)
    async with http:
        r = await http.get("/v1/admin")
        assert (r.status_code, r.headers["location"]) == (307, "/v1/admin/")
        r = await http.get("/v1/admin/")
        assert r.status_code == 200 and r.text == INDEX
        assert r.headers["content-security-policy"] == ADMIN_CSP
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        r = await http.get("/v1/admin/assets/index-A1.js")
        assert r.status_code == 200 and r.text == "console.log('admin');"
        assert r.headers["content-type"].startswith(("text/javascript", "application/javascript"))
        assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert (
            (await http.head("/v1/admin/assets/index-B2.css")).headers["content-type"].startswith("text/css")
        )
        # Under an app's own prefix the page names its assets there.
        base = f"/kinto/{app.key}/v1"
        r = await http.get(f"{base}/admin")
        assert (r.status_code, r.headers["location"]) == (307, f"{base}/admin/")
        r = await http.get(f"{base}/admin/")
        assert f'src="{base}/admin/assets/index-A1.js"' in r.text and '"/v1/admin/' not in r.text
        assert (await http.get(f"{base}/admin/assets/index-A1.js")).status_code == 200
        # Unknown files, paths that leave the build, other methods: Kinto errors.
        for path in (
            "/v1/admin/assets/nope.js",
            "/v1/admin/assets/..%2F..%2F..%2Fpyproject.toml",
            "/v1/admin/.hidden",
        ):
            r = await http.get(path)
            assert r.status_code == 404 and r.json()["errno"] == 111, path
        r = await http.post("/v1/admin/", json={})
        assert r.status_code == 405 and r.json()["errno"] == 115
        # The hello document announces it, as Kinto does.
        hello = (await http.get(f"{base}/")).json()
        assert hello["capabilities"]["admin"] == {
            "description": "Serves the admin console.",
            "url": "https://github.com/Kinto/kinto-admin/",
            "version": "6.1.1",
        }


async def test_without_a_build(
    storage: StorageBackend, app: AppRecord, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"), kinto_admin_dir=str(tmp_path / "none"))
    with caplog.at_level("WARNING", logger="kinbase.kinto"):
        _, http = await _client(storage, settings)
    assert any("Kinto Admin is not installed" in r.getMessage() for r in caplog.records)
    async with http:
        r = await http.get("/v1/admin/")
        assert r.status_code == 404 and "kinbase kinto-admin install" in r.text
        assert str(tmp_path / "none") in r.text
        assert "admin" not in (await http.get(f"/kinto/{app.key}/v1/")).json()["capabilities"]


def _wheel(path: Path) -> Path:
    wheel = path / "kinto-0.0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("kinto/plugins/admin/build/index.html", INDEX)
        z.writestr("kinto/plugins/admin/build/VERSION", "9.9.9\n")
        z.writestr("kinto/plugins/admin/build/assets/index-A1.js", "x")
        z.writestr("kinto/__init__.py", "")
        z.writestr("kinto-0.0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: kinto\nVersion: 0.0.1\n")
        z.writestr(
            "kinto-0.0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        )
        z.writestr("kinto-0.0.1.dist-info/RECORD", "")
    return wheel


def test_install_from_a_wheel(tmp_path: Path) -> None:
    dest = tmp_path / "share" / "admin"
    (dest / "old").mkdir(parents=True)
    assert install(dest, requirement=str(_wheel(tmp_path))) == "9.9.9"
    build = AdminBuild.load(dest)
    assert build.present and build.version == "9.9.9" and not (dest / "old").exists()
    assert build.asset("assets/index-A1.js") == (b"x", "text/javascript; charset=utf-8")
    with pytest.raises(RuntimeError, match="pip download"):
        install(tmp_path / "other", requirement=str(tmp_path / "missing-0.0.1-py3-none-any.whl"))


def test_install_command(tmp_path: Path) -> None:
    build = make_build(tmp_path / "build")
    runner = CliRunner()
    done = runner.invoke(main, ["kinto-admin", "install", "--dir", str(build), "--if-missing"])
    assert done.exit_code == 0 and "is installed in" in done.output
    done = runner.invoke(
        main,
        ["--data-dir", str(tmp_path), "kinto-admin", "install", "--dir", str(tmp_path / "x")],
        env={"KINBASE_KINTO_ADMIN_DIR": ""},
    )
    # (a real download: the registry answers, or the failure is reported as a click error)
    assert done.exit_code in (0, 1)
    if done.exit_code == 0:
        assert AdminBuild.load(tmp_path / "x").version == "6.1.1"
    else:
        assert "Could not install the Kinto Admin" in done.output
