"""Kill -9 a real server during a stream of acknowledged HTTP writes: after a restart every
acknowledged write is there (SQLite, the embedded default)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import httpx
import pytest

from tests.support.server import run_server

pytestmark = pytest.mark.slow


def _credentials(log: str) -> tuple[str, str]:
    key = re.search(r"^app key:\s+(\S+)$", log, re.M)
    master = re.search(r"^master secret:\s+(\S+)$", log, re.M)
    assert key and master, log
    return key.group(1), master.group(1)


def test_sigkill_server_loses_no_acknowledged_write(tmp_path: Path) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    acknowledged: list[str] = []
    errors: list[str] = []
    with run_server(*data, workdir=tmp_path) as server:
        key, master = _credentials(server.log())
        url = f"{server.url}/appdata/{key}/stream"

        def writer(worker: int) -> None:
            with httpx.Client(auth=(key, master), timeout=10) as http:
                for i in range(100_000):
                    try:
                        response = http.post(url, json={"worker": worker, "i": i, "pad": "x" * 100})
                    except httpx.TransportError:
                        return
                    if response.status_code != 201:
                        errors.append(f"{response.status_code} {response.text}")
                        return
                    acknowledged.append(response.json()["_id"])

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        while len(acknowledged) < 600 and all(t.is_alive() for t in threads):
            threading.Event().wait(0.01)
        server.kill()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors, errors[:3]
    assert len(acknowledged) >= 600
    stored: set[str] = set()
    with run_server(*data, workdir=tmp_path) as server, httpx.Client(auth=(key, master), timeout=30) as http:
        skip = 0
        while True:
            page = http.get(
                f"{server.url}/appdata/{key}/stream", params={"limit": 10000, "skip": skip, "fields": "_id"}
            )
            assert page.status_code == 200, page.text
            batch = [entity["_id"] for entity in page.json()]
            stored.update(batch)
            if len(batch) < 10000:
                break
            skip += len(batch)
    missing = [i for i in acknowledged if i not in stored]
    assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged writes lost: {missing[:5]}"
