"""The raw ASGI ceiling against kinbase trees, with the server's own CPU per request (issue 20).

Starts one kinbase server (SQLite, one worker) per source tree given, seeds each as the suite does
(10,000 items owned by one user), starts the suite's raw ASGI ceiling with the bytes and headers
of a kinbase GET by id, then runs wrk (-t2 -c32) on each in interleaved rounds, the order rotating.
Besides req/s it reports the server process's CPU time per request (``/proc/PID/stat`` around the
run: what the request costs on this stack, much less dependent on the machine's load than req/s)
and its context switches per request (voluntary: it waited for work; involuntary: it was
preempted). ``--profile NAME`` samples a server with py-spy for one more run of each workload.

    .venv/bin/python benchmarks/ceiling_gap.py cur=. before=/tmp/before [--kinto] [--rounds 3]
    .venv/bin/python benchmarks/ceiling_gap.py cur=. --rounds 0 --profile cur

A tree is ``NAME=DIR`` (DIR holds ``src/kinbase``); ``NAME=DIR,VAR=VALUE`` adds environment
variables to that server. Experiments of docs/performance.md (a tree whose server answers GET by id
with a constant, one without the head-deadline protocol) were run as such copies.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import kinto, kinvey, wrk
from harness.common import WORK, Server, call, drop_databases, expect
from harness.kinbase import create_app, create_store, start_ceiling, start_kinbase
from harness.profile import _py_spy

Target = tuple[str, Server, str, dict[str, wrk.Load]]


def switches(server: Server) -> tuple[int, int]:
    """Voluntary and involuntary context switches of the server's threads so far."""
    vol = invol = 0
    for pid in server.pids():
        for path in Path(f"/proc/{pid}/task").glob("*/status"):
            with contextlib.suppress(OSError):
                fields = dict(line.split(":\t", 1) for line in path.read_text().splitlines() if ":\t" in line)
                vol += int(fields["voluntary_ctxt_switches"])
                invol += int(fields["nonvoluntary_ctxt_switches"])
    return vol, invol


def start(stack: contextlib.ExitStack, spec: str, with_kinto: bool) -> Target:
    name, _, rest = spec.partition("=")
    src, *pairs = rest.split(",")
    extra = dict(pair.split("=", 1) for pair in pairs)
    store = create_store("sqlite", "gap-" + name, Path(src).resolve())
    base_env = store.env
    store.env = lambda: {**base_env(), **extra}  # type: ignore[method-assign]
    server, base = start_kinbase(store, "gap-" + name)
    stack.callback(server.stop)
    create_app(store)
    seeded = kinvey.seed_kinbase(store, base, 0)
    loads = {"kv-get": kinvey.kinbase_loads(store, seeded, 0)["kv-get"]}
    if with_kinto:
        expect(call("PUT", f"{base}/v1/accounts/bench", {"data": {"password": "bench"}}), 201)
        loads["kt-get"] = kinto.loads("/v1", kinto.seed(base + "/v1"))["kt-get"]
    print(f"{name}: started and seeded", flush=True)
    return name, server, base, loads


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("trees", nargs="+", help="NAME=DIR[,VAR=VALUE...]")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=4)
    parser.add_argument("--kinto", action="store_true", help="also the Kinto GET of one record")
    parser.add_argument("--profile", default="", help="NAME,...: py-spy of these servers (raw stacks)")
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        stack.callback(drop_databases)
        targets = [start(stack, spec, args.kinto) for spec in args.trees]
        load = targets[0][3]["kv-get"]
        request = urllib.request.Request(targets[0][2] + load.paths[0], headers=load.headers)
        with urllib.request.urlopen(request) as resp:  # nosec B310: a loopback URL of this run
            body, headers = resp.read(), {k.lower(): v for k, v in resp.headers.items()}
        server, base = start_ceiling(body, headers)
        stack.callback(server.stop)
        targets.insert(0, ("ceiling", server, base, {"kv-get": load}))
        for name, server, base, loads in targets:
            if name not in args.profile.split(","):
                continue
            for key, each in loads.items():
                out = WORK / f"gap-profile-{name}-{key}.txt"
                command = [str(_py_spy()), "record", "-p", str(server.process.pid), "-r", "200"]
                command += ["-d", str(int(args.duration) + 1), "-f", "raw", "-o", str(out)]
                spy = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                time.sleep(0.5)
                wrk.run(base, each, args.duration, 32, 2, WORK / "lua")
                spy.wait()
                print(f"profile of {name} {key}: {out}", flush=True)
        results: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for round_ in range(args.rounds):
            for key in ("kv-get", "kt-get"):
                present = [t for t in targets if key in t[3]]
                if not present:
                    continue
                shift = round_ % len(present)
                for name, server, base, loads in present[shift:] + present[:shift]:
                    server.wait_idle()
                    wrk.warm(base, loads[key], 32, 2, WORK / "lua")  # as the suite does
                    cpu0, (vol0, invol0) = server.cpu_seconds(), switches(server)
                    sample: dict[str, Any] = wrk.run(base, loads[key], args.duration, 32, 2, WORK / "lua")
                    cpu1, (vol1, invol1) = server.cpu_seconds(), switches(server)
                    n = max(1, sample["requests"])
                    us = (cpu1 - cpu0) / n * 1e6
                    results.setdefault((key, name), []).append((sample["rps"], us))
                    print(
                        f"round {round_ + 1} {key} {name:12s} {sample['rps']:9,.0f} req/s  "
                        f"server {us:6.1f} µs/req  {(cpu1 - cpu0) / args.duration:.2f} cores  "
                        f"switches/req {(vol1 - vol0) / n:.2f} vol {(invol1 - invol0) / n:.2f} invol  "
                        f"p50 {sample['p50_ms']:.2f} ms  wrk {sample['wrk_cpu']:.2f} cores  "
                        f"load {os.getloadavg()[0]:.1f}",
                        flush=True,
                    )
        if not results:
            return
        print("medians:")
        ceiling = statistics.median(r for r, _ in results[("kv-get", "ceiling")])
        for (key, name), samples in results.items():
            rps = statistics.median(r for r, _ in samples)
            us = statistics.median(u for _, u in samples)
            print(
                f"  {key} {name:12s} {rps:9,.0f} req/s ({rps / ceiling:.2f}x the ceiling)  {us:6.1f} µs/req"
            )


if __name__ == "__main__":
    main()
