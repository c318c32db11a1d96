"""Run the Flex test service (tests/core/flex) as a real process: written with kinbase-flex, or
with the official Node ``kinvey-flex-sdk`` (installed by ``npm ci`` on first use)."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.server import free_port

__all__ = ["FLEX_SECRET", "KINDS", "FlexProcess", "npm_ci"]

FLEX_DIR = Path(__file__).resolve().parent.parent / "core" / "flex"
NODE_DIR = FLEX_DIR / "node"
SDK_VERSION = "3.3.0"
FLEX_SECRET = "flex-test-secret"
KINDS = ("python", "node")


def npm_ci() -> None:
    """``npm ci`` once (under a file lock: every pytest-xdist worker may get here). A failed
    install fails the test that needs it."""
    modules = NODE_DIR / "node_modules"
    with (NODE_DIR / ".npm-ci.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            installed = modules / "kinvey-flex-sdk" / "package.json"
            finished = (modules / ".package-lock.json").exists() and installed.exists()
            if finished and json.loads(installed.read_text())["version"] == SDK_VERSION:
                return
            done = subprocess.run(
                ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                cwd=NODE_DIR,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class FlexProcess:
    """The test service of one kind on a port of its own; it can be killed and started again on
    the same port."""

    def __init__(
        self, kind: str, workdir: Path, *, port: int | None = None, secret: str = FLEX_SECRET
    ) -> None:
        self.kind = kind
        self.workdir = workdir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secret
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def _command(self) -> list[str]:
        if self.kind == "node":
            npm_ci()
            return ["node", str(NODE_DIR / "service.js")]
        return [
            sys.executable,
            "-m",
            "kinbase_flex",
            "run",
            "flex_test_service:flex",
            "--app-dir",
            str(FLEX_DIR / "services"),
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]

    def start(self, timeout: float = 60) -> FlexProcess:
        self.starts += 1
        log = (self.workdir / f"flex-{self.kind}-{self.port}-{self.starts}.log").open("wb")
        env = {**os.environ, "FLEX_PORT": str(self.port), "FLEX_SHARED_SECRET": self.secret}
        # The Node SDK writes an output.log into its working directory: keep it in workdir.
        self.process = subprocess.Popen(self._command(), cwd=self.workdir, env=env, stdout=log, stderr=log)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the {self.kind} Flex service exited:\n{self.log()}")
            try:
                reply = httpx.post(f"{self.url}/_command/discover", json={}, timeout=1)
                if "things" in reply.json()["dataLink"]["serviceObjects"]:
                    return self
            except (httpx.HTTPError, ValueError, KeyError, TypeError):
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the {self.kind} Flex service did not start:\n{self.log()}")

    def log(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.workdir.glob(f"flex-{self.kind}-*.log"))
        )

    def kill(self) -> None:
        """SIGKILL: the process ends without answering what it was doing."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(3)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
