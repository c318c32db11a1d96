"""kinto.js (npm ``kinto``, run with Node) against a real kinbase server: two clients of one user
sync, converge and resolve a conflict. Node and npm are required: a missing one fails the test."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

JS = Path(__file__).parent / "js"


@pytest.fixture(scope="session")
def node_modules() -> Path:
    """``npm ci`` once per session (when the lock changed or node_modules is missing)."""
    npm = shutil.which("npm")
    assert npm is not None, "npm is required (Node.js 20)"
    lock = JS / "package-lock.json"
    marker = JS / "node_modules" / ".package-lock.json"
    if not marker.exists() or marker.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=JS,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
    return JS / "node_modules"


def test_two_clients_sync_converge_and_resolve_a_conflict(kinto_server: str, node_modules: Path) -> None:
    node = shutil.which("node")
    assert node is not None, "node is required (Node.js 20)"
    user = f"js-{secrets.token_hex(4)}"
    response = requests.put(f"{kinto_server}/accounts/{user}", json={"data": {"password": "pw"}}, timeout=30)
    assert response.status_code == 201
    done = subprocess.run(
        [node, "sync_scenario.mjs", kinto_server, user, "pw"],
        cwd=JS,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip().endswith("OK"), done.stdout + done.stderr
