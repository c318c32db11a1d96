"""``kinbase apply``, ``config export|check``, ``flex list|discover`` and ``schedules list|runs``
against a running server: the configuration applied through the CLI takes effect in the server
without a restart (its scheduler runs the new schedule)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import database_args
from tests.support.flex_services import FLEX_SECRET, FlexProcess
from tests.support.server import kinbase_cli, run_server

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[str]]:
    yield from database_args(request.param, tmp_path)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[FlexProcess]:
    process = FlexProcess("python", tmp_path).start()
    yield process
    process.stop()


def _config(url: str) -> str:
    return f"""\
[flex_services.svc]
url = "{url}"
secret = "{FLEX_SECRET}"
timeout_seconds = 5

[collections.orders]
delta_set = true
permissions = "private"
indexes = [["status"]]

[collections.orders.hooks]
pre_save = {{ service = "svc", function = "preSave" }}

[endpoints.checkout]
service = "svc"
function = "echo"

[schedules.tick]
service = "svc"
function = "tally"
cron = "* * * * * *"
"""


def test_apply_export_and_schedules_while_serving(
    tmp_path: Path, database: list[str], service: FlexProcess
) -> None:
    config = tmp_path / "app.toml"
    config.write_text(_config(service.url))
    with run_server(*database, workdir=tmp_path, env={"KINBASE_APP_CACHE_SECONDS": "1"}) as server:
        key = re.search(r"^app key:\s+(\S+)$", server.log(), re.M)
        assert key is not None
        app = key.group(1)

        def cli(*args: str) -> tuple[int, str]:
            done = kinbase_cli(*database, *args, cwd=tmp_path)
            return done.returncode, done.stdout + done.stderr

        assert cli("config", "check", str(config)) == (0, f"{config}: OK\n")
        code, out = cli("apply", app, str(config), "--dry-run")
        assert code == 0 and "+ flex_services.svc = " in out and '"secret":"(secret)"' in out
        assert FLEX_SECRET not in out and "Dry run: 7 change(s) not applied." in out
        code, out = cli("apply", app, str(config))
        assert code == 0 and "Applied 7 change(s)" in out and "built index orders: status" in out, out
        assert cli("apply", app, str(config)) == (0, "No changes.\n")
        exported = tmp_path / "exported.toml"
        assert cli("config", "export", app, "-o", str(exported))[0] == 0
        assert 'permissions = "private"' in exported.read_text()
        assert cli("apply", app, str(exported)) == (0, "No changes.\n")
        broken = tmp_path / "broken.toml"
        broken.write_text(
            _config(service.url).replace('service = "svc"\nfunction = "echo"', 'service = "nope"')
        )
        code, out = cli("apply", app, str(broken))
        assert code == 1 and "nothing was applied" in out
        assert "line 14: endpoints.checkout: missing required key 'function'" in out
        assert "line 15: endpoints.checkout.service: names the Flex service 'nope'" in out
        assert cli("config", "export", app)[1] == exported.read_text()

        code, out = cli("flex", "list", app)
        assert code == 0 and out.startswith(f"svc\t{service.url}\ttimeout 5 s\thealthy"), out
        code, out = cli("flex", "discover", app, "svc")
        assert code == 0 and "service objects: things" in out and "tally" in out
        code, out = cli("flex", "discover", app, "missing")
        assert code == 1 and "declares no Flex service 'missing'" in out
        code, out = cli("schedules", "list", app)
        assert code == 0 and out.startswith("tick\t* * * * * *\tsvc.tally\tnext "), out

        # The server's scheduler picked the schedule up without a restart.
        deadline = time.monotonic() + 20
        while True:
            code, out = cli("schedules", "runs", app, "tick")
            succeeded = [line for line in out.splitlines() if "\tsucceeded\t" in line]
            if len(succeeded) >= 2:
                break
            assert time.monotonic() < deadline, out + server.log()
            time.sleep(0.5)
        assert all(f":{server.process.pid}:" in line for line in succeeded)
