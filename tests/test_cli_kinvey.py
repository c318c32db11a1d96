"""``kinbase collections configure``, ``kinbase import`` and ``kinbase export``, also while serving."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
import pytest

from tests.support.server import kinbase_cli, run_server

pytestmark = pytest.mark.slow


def _creds(output: str) -> tuple[str, str]:
    found = dict(re.findall(r"^(app key|master secret):\s+(\S+)$", output, re.M))
    return found["app key"], found["master secret"]


def test_configure_import_export_while_serving(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    entities = [
        {
            "_id": "keep-1",
            "title": "Dune",
            "_acl": {"creator": "u1", "gr": False},
            "_kmd": {"ect": "2015-01-01T00:00:00.000Z", "lmt": "2016-01-01T00:00:00.000Z"},
        },
        {"title": "No id"},
    ]
    (tmp_path / "books.json").write_text(json.dumps(entities))
    (tmp_path / "more.csv").write_text('_id,title,year,_acl\ncsv-1,Emma,1815,"{""gr"":true}"\n')
    with run_server(*data, workdir=tmp_path) as server:
        key, master = _creds(server.log())
        done = kinbase_cli(
            *data, "collections", "configure", key, "books", "--delta-set", "--deleted-ttl-days", "7"
        )
        assert done.returncode == 0 and "delta set on (deleted TTL 7 days)" in done.stdout, done.stderr
        done = kinbase_cli(*data, "import", key, "books", str(tmp_path / "books.json"))
        assert done.returncode == 0 and "Imported 2 entities" in done.stdout, done.stderr
        done = kinbase_cli(*data, "import", key, "books", str(tmp_path / "more.csv"))
        assert done.returncode == 0 and "Imported 1 entities" in done.stdout, done.stderr
        with httpx.Client(auth=(key, master), base_url=server.url) as http:
            kept = http.get(f"/appdata/{key}/books/keep-1").json()
            assert kept["_acl"] == {"creator": "u1", "gr": False}
            assert kept["_kmd"] == entities[0]["_kmd"]
            emma = http.get(f"/appdata/{key}/books/csv-1").json()
            assert emma["year"] == 1815 and emma["_acl"]["gr"] is True
            assert http.get(f"/appdata/{key}/books/_count").json() == {"count": 3}
            settings = http.get(f"/appdata/{key}/books/_settings").json()
            assert settings["deltaSet"] == {"enabled": True, "deletedTtlDays": 7}
        done = kinbase_cli(*data, "export", key, "books", "-o", str(tmp_path / "out.json"))
        assert done.returncode == 0, done.stderr
    exported = json.loads((tmp_path / "out.json").read_text())
    assert exported[0]["_id"] == "keep-1" and len(exported) == 3
    assert exported[0]["_kmd"] == entities[0]["_kmd"]
    done = kinbase_cli(*data, "import", key, "books", str(tmp_path / "missing.json"))
    assert done.returncode != 0
    (tmp_path / "bad.json").write_text("{not json")
    done = kinbase_cli(*data, "import", key, "books", str(tmp_path / "bad.json"))
    assert done.returncode != 0 and "not JSON" in done.stderr


def test_collections_indexes_lists_declared_indexes(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    done = kinbase_cli(*data, "apps", "create", "Shop", "--app-key", "kid_shop", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    done = kinbase_cli(*data, "collections", "indexes", "kid_shop", "orders", cwd=tmp_path)
    assert done.returncode == 0 and done.stdout == "orders: no index.\n", done.stdout + done.stderr
    config = tmp_path / "app.toml"
    config.write_text('[collections.orders]\nindexes = [["status", "n"], ["owner.id"]]\n')
    done = kinbase_cli(*data, "apply", "kid_shop", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    done = kinbase_cli(*data, "collections", "indexes", "kid_shop", "orders", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert sorted(done.stdout.splitlines()) == ["(owner.id)  declared, ready", "(status, n)  declared, ready"]
