"""Server CPU per request of kinbase's Kinto reads (docs/performance.md, "Kinto reads: CPU per
request"): one one-worker server per source tree, seeded as the suite seeds its Kinto workloads,
then N sequential keep-alive requests per workload; the server's CPU time (utime + stime from
``/proc``) divided by N. Trees alternate; the medians of the rounds are printed.

    .venv/bin/python benchmarks/kinto_cpu.py --engine sqlite --src after=. --src base=/tmp/before
    .venv/bin/python benchmarks/kinto_cpu.py --only kt-post,kt-writers   # the writes (one at a time)
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import kinto as workloads
from kinto_compare import drop_databases, kinbase_server

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its children."""
    pids = [pid]
    with contextlib.suppress(OSError):
        pids += [int(k) for k in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    total = 0.0
    for p in pids:
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def listening_pid(port: int) -> int:
    out = subprocess.run(["ss", "-ltnpH", f"sport = :{port}"], capture_output=True, text=True, check=True)
    found = re.search(r"pid=(\d+)", out.stdout)
    assert found, out.stdout
    return int(found.group(1))


def measure(port: int, load: Any, n: int, spy: Path | None) -> float:
    """Server CPU milliseconds per request of ``load`` over ``n`` requests."""
    pid = listening_pid(port)
    conn = http.client.HTTPConnection("127.0.0.1", port)
    paths = load.paths

    headers = {**load.headers, "Content-Type": "application/json"} if load.body else load.headers

    def send(i: int) -> None:
        body = load.body.replace("{i}", str(i)).encode() if load.body else None
        conn.request(load.method, paths[i % len(paths)], body, headers=headers)
        response = conn.getresponse()
        response.read()
        assert response.status in (200, 201), response.status

    for i in range(5):
        send(i)
    sampler = None
    if spy is not None:  # py-spy's raw (collapsed) stacks of the server during the loop
        command = [
            "py-spy",
            "record",
            "-r",
            "500",
            "-f",
            "raw",
            "-o",
            str(spy),
            "-p",
            str(pid),
            "--nonblocking",
        ]
        sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.5)
    before = tree_cpu(pid)
    for i in range(n):
        send(i)
    spent = tree_cpu(pid) - before
    if sampler is not None:
        sampler.send_signal(signal.SIGINT)
        sampler.wait()
    conn.close()
    return spent / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--engine", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--src", action="append", default=[], help="LABEL=PATH of a checkout (PATH/src)")
    parser.add_argument("-n", type=int, default=1000, help="requests per workload and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="kt-get,kt-list,kt-filter,kt-since")
    parser.add_argument("--spy", default="", help="a workload to sample with py-spy (on PATH)")
    args = parser.parse_args()
    work = Path(__file__).resolve().parent / ".work" / "kinto-cpu"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, list[float]]] = {}
    with contextlib.ExitStack() as stack:
        servers = []
        for spec in args.src or ["this=."]:
            label, _, path = spec.partition("=")
            url = stack.enter_context(
                kinbase_server(work, f"kinbase-{args.engine}@{label}", 1, False, Path(path).resolve())
            )
            port = int(url.rsplit(":", 1)[1].split("/")[0])
            servers.append((label, port, workloads.loads("/v1", workloads.seed(url))))
        for rnd in range(args.rounds):
            for key in args.only.split(","):
                for label, port, loads in servers[rnd % len(servers) :] + servers[: rnd % len(servers)]:
                    spy = work / f"{key}-{label}-{args.engine}.txt" if key == args.spy and rnd == 0 else None
                    ms = measure(port, loads[key], args.n, spy)
                    results.setdefault(key, {}).setdefault(label, []).append(ms)
                    print(f"round {rnd} {key:10} {label:8} {ms:7.3f} ms CPU/request", flush=True)
    drop_databases()
    print(
        f"{args.engine}: median server CPU ms per request (n={args.n}, rounds={args.rounds}), "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for key, by_label in results.items():
        medians = {label: sorted(v)[len(v) // 2] for label, v in by_label.items()}
        line = "  ".join(f"{label} {ms:.3f}" for label, ms in medians.items())
        if len(medians) == 2:
            (a, ma), (b, mb) = medians.items()
            line += f"  {a}/{b} {ma / mb:.2f}x"
        print(f"{key:10} {line}")


if __name__ == "__main__":
    main()
