"""wrk as the load generator: a generated Lua script per load, the numbers read back from ``done``.

Every script ends with a ``done`` that prints one ``RESULT`` line: requests/s, p50 and p99 (ms),
the responses with a status of 400 or more (wrk's ``errors.status``), socket errors (connect,
read, write, timeout) and the request count. A load that ``captures`` ids keeps, per wrk thread,
the ids of its 2xx responses and writes them to a file in ``done`` (used to check that every
acknowledged write is stored). wrk's own CPU time (cores busy, from the children's rusage) tells
whether the generator is the limit.
"""

from __future__ import annotations

import json
import re
import resource
import secrets
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Load:
    """What wrk sends: paths rotate per request; ``body`` may contain ``{i}`` (a per-thread counter)."""

    method: str
    paths: tuple[str, ...]
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    capture: str | None = None
    """A Lua pattern with one capture: the id in a 2xx response body, collected for a check."""
    connections: int | None = None
    """Overrides the suite's connection count (the Kinto workloads use 16)."""


DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %.2f %.3f %.3f %d %d %d\\n", summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout, summary.requests))
  if capture_file then
    local f = io.open(capture_file, "w")
    for _, t in ipairs(threads) do
      local ids = t:get("ids")
      for _, id in ipairs(ids) do f:write(id, "\\n") end
    end
    f:close()
  end
end
"""


def lua(load: Load, capture_file: Path | None) -> str:
    lines = [f"wrk.method = {json.dumps(load.method)}"]
    for name, value in load.headers.items():
        lines.append(f"wrk.headers[{json.dumps(name)}] = {json.dumps(value)}")
    if load.body is not None:
        lines.append('wrk.headers["Content-Type"] = "application/json"')
    lines.append("local paths = {" + ",".join(json.dumps(p) for p in load.paths) + "}")
    lines.append(f"local body = {json.dumps(load.body) if load.body is not None else 'nil'}")
    lines.append("local i = 0")
    lines.append("threads = {}")
    lines.append("setup = function(thread) table.insert(threads, thread) end")
    lines.append("init = function(args) ids = {}; i = math.random(1, 1000000) * 1000 end")
    lines.append(
        "request = function()\n  i = i + 1\n  local b = body\n"
        '  if b then b = string.gsub(b, "{i}", tostring(i)) end\n'
        "  return wrk.format(nil, paths[(i % #paths) + 1], nil, b)\nend"
    )
    if load.capture is not None and capture_file is not None:
        lines.append(f"capture_file = {json.dumps(str(capture_file))}")
        lines.append(
            "response = function(status, headers, body)\n"
            "  if status >= 200 and status < 300 then\n"
            f"    local id = string.match(body, {json.dumps(load.capture)})\n"
            "    if id then ids[#ids + 1] = id end\n  end\nend"
        )
    return "\n".join(lines) + "\n" + DONE


def run(
    base: str, load: Load, duration: float, connections: int, threads: int, workdir: Path
) -> dict[str, Any]:
    """One wrk run; returns rps, p50_ms, p99_ms, non2xx, socket_errors, requests, wrk_cpu, ids."""
    token = secrets.token_hex(4)
    captured = workdir / f"ids-{token}.txt" if load.capture else None
    conns = load.connections or connections
    result = run_script(base, load.paths[0], lua(load, captured), duration, conns, threads, workdir)
    result["ids"] = []
    if captured is not None:
        result["ids"] = captured.read_text().split()
        captured.unlink()
    return result


WARM_SECONDS = 1.0
"""The unmeasured run before each measured one (:func:`warm`)."""


def warm(base: str, load: Load, connections: int, threads: int, workdir: Path) -> None:
    """An unmeasured :data:`WARM_SECONDS` of ``load`` with the measured run's connections, so that
    the sample starts from the state a steady client sees: a server's caches that expired while the
    other servers ran (kinbase's verified Kinto Basic credentials live ``account_cache_ttl_seconds``,
    30 s, after their last use; the next check is one bcrypt, ~200-350 ms, that every connection of
    the account waits for, and which wrk's coordinated-omission correction turns into ~1 % of the
    samples, the p99) are filled again, by every worker. Loads that ``capture`` ids are not warmed:
    their writes would be counted as stored without acknowledgement (their ``prepare`` resets the
    collection with the same credentials, which warms them)."""
    if load.capture is None:
        run_script(
            base,
            load.paths[0],
            lua(load, None),
            WARM_SECONDS,
            load.connections or connections,
            threads,
            workdir,
        )


def run_script(
    base: str, path: str, script_text: str, duration: float, connections: int, threads: int, workdir: Path
) -> dict[str, Any]:
    """wrk with a script ending in :data:`DONE`; returns its numbers and wrk's CPU (cores busy)."""
    workdir.mkdir(parents=True, exist_ok=True)
    script = workdir / f"load-{secrets.token_hex(4)}.lua"
    script.write_text(script_text)
    command = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(duration))}s",
        "--timeout",
        "30s",
    ]
    command += ["-s", str(script), base + path]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=duration + 120)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # Only wrk ends between the two readings, so the difference is its CPU time.
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    script.unlink()
    found = re.search(r"RESULT (\S+) (\S+) (\S+) (\d+) (\d+) (\d+)", out)
    if process.returncode != 0 or not found:
        raise RuntimeError(f"wrk failed ({process.returncode}): {out[-800:]} {err[-800:]}")
    rps, p50, p99, non2xx, socket_errors, requests = found.groups()
    return {
        "rps": float(rps),
        "p50_ms": float(p50),
        "p99_ms": float(p99),
        "non2xx": int(non2xx),
        "socket_errors": int(socket_errors),
        "requests": int(requests),
        "wrk_cpu": cpu / elapsed,
    }
