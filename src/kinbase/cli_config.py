"""App configuration commands of the ``kinbase`` CLI: ``apply``, ``config export``, ``config check``.

They open the database like the server does and work while it runs; a change is seen at once by
this process and within ``app_cache_seconds`` by every server worker (``docs/app-config.md``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kinbase.core.appconfig import AppConfigInvalid, ApplyResult, parse_toml
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.settings import Settings
from kinbase.storage.registry import create_storage

__all__ = ["register", "run_core"]

T = TypeVar("T")


def run_core(settings: Settings, work: Callable[[Core], Awaitable[T]]) -> T:
    """Start a core over the configured database, run ``work``, stop it. A :class:`BaaSError`
    becomes a one-line CLI error."""

    async def main() -> T:
        core = Core(settings, create_storage(settings))
        await core.start()
        try:
            return await work(core)
        finally:
            await core.stop()

    try:
        return asyncio.run(main())
    except BaaSError as exc:
        raise click.ClickException(str(getattr(exc, "debug", "") or exc.message)) from exc


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {file}: {exc}") from exc


def _parse(file: Path) -> Any:
    try:
        return parse_toml(_read(file))
    except AppConfigInvalid as exc:
        raise click.ClickException(f"{file}: {exc.message}") from exc


def register(main: click.Group, settings_of: Callable[[click.Context], Settings]) -> None:
    """Add the configuration commands to the ``kinbase`` group."""

    @main.command("apply")
    @click.argument("app_key")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--dry-run", is_flag=True, help="Print what would change; change nothing.")
    @click.pass_context
    def apply(ctx: click.Context, app_key: str, file: Path, dry_run: bool) -> None:
        """Make FILE (TOML) the configuration of the app APP_KEY. The whole file is checked first:
        a file with any problem is refused and nothing is applied. Applying twice changes nothing."""
        config = _parse(file)

        async def work(core: Core) -> ApplyResult:
            app = await core.apps.require(app_key)
            return await core.appconfig.apply(app, config, dry_run=dry_run)

        result = run_core(settings_of(ctx), work)
        for change in result.changes:
            click.echo(str(change))
        for built in result.indexes_built:
            click.echo(f"built index {built}")
        if not result.changes:
            click.echo("No changes.")
        elif dry_run:
            click.echo(f"Dry run: {len(result.changes)} change(s) not applied.")
        else:
            click.echo(f"Applied {len(result.changes)} change(s); configuration version {result.version}.")

    @main.group("config")
    def config() -> None:
        """App configuration files."""

    @config.command("export")
    @click.argument("app_key")
    @click.option(
        "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
    )
    @click.pass_context
    def export(ctx: click.Context, app_key: str, output: Path | None) -> None:
        """Write the configuration in force as TOML (applying it back changes nothing)."""

        async def work(core: Core) -> str:
            return await core.appconfig.export_toml(await core.apps.require(app_key))

        text = run_core(settings_of(ctx), work)
        if output is None:
            click.echo(text, nl=False)
        else:
            output.write_text(text, encoding="utf-8")
            click.echo(f"Wrote {output}.", err=True)

    @config.command("check")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    def check(file: Path) -> None:
        """Check FILE without applying it (no database needed)."""
        _parse(file)
        click.echo(f"{file}: OK")
