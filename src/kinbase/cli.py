"""The ``kinbase`` command: serve, manage apps, migrate, show settings.

Every command reads the same settings as the server (``--config``, ``--data-dir``,
``--database-url`` and the ``KINBASE_*`` environment) and works while the server runs.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from kinbase import __version__
from kinbase.cli_config import register as register_config
from kinbase.cli_files import register as register_files
from kinbase.cli_flex import register as register_flex
from kinbase.cli_kinvey import register as register_kinvey
from kinbase.core.apps import SERVER_APP_KEY
from kinbase.core.kinto.config import markdown_table as kinto_table
from kinbase.core.metrics import MULTIPROC_ENV
from kinbase.core.services import DEFAULT_APP_KEY, Core
from kinbase.errors import BaaSError, ConfigurationError
from kinbase.logs import configure_logging
from kinbase.settings import SETTINGS, Settings, load_settings
from kinbase.settings import markdown_table as settings_table
from kinbase.storage.base import AppRecord
from kinbase.storage.registry import create_storage

__all__ = ["main"]

T = TypeVar("T")

_INITIALIZED = "initialized"


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    root = ctx.find_root().obj or {}
    merged = {**root.get("overrides", {}), **{k: v for k, v in overrides.items() if v is not None}}
    try:
        return load_settings(root.get("config"), overrides=merged)
    except ConfigurationError as exc:
        raise click.ClickException(f"configuration error: {exc.message}") from exc


def _run(settings: Settings, work: Callable[[Core], Awaitable[T]]) -> T:
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
        raise click.ClickException(exc.message) from exc


def _print_app(app: AppRecord, *, secrets: bool) -> None:
    click.echo(f"name:          {app.name}")
    click.echo(f"app key:       {app.key}")
    if secrets:
        click.echo(f"app secret:    {app.app_secret}")
        click.echo(f"master secret: {app.master_secret}")


@click.group()
@click.version_option(__version__, prog_name="kinbase")
@click.option("--config", type=click.Path(dir_okay=False), help="TOML settings file (or $KINBASE_CONFIG).")
@click.option("--data-dir", help="Directory of the embedded SQLite database (or $KINBASE_DATA_DIR).")
@click.option("--database-url", help="sqlite:///path or postgresql://... (or $KINBASE_DATABASE_URL).")
@click.pass_context
def main(ctx: click.Context, config: str | None, data_dir: str | None, database_url: str | None) -> None:
    """kinbase: a self-hosted backend speaking the Kinvey REST API and the Kinto HTTP API."""
    ctx.obj = {"config": config, "overrides": {"data_dir": data_dir, "database_url": database_url}}


async def _first_start(core: Core) -> AppRecord | None:
    """On the very first start of a database, create the default app (returned once)."""
    async with core.storage.reader() as reader:
        if await reader.get_meta(_INITIALIZED) is not None:
            return None
        has_apps = bool([a for a in await reader.list_apps() if a.key != SERVER_APP_KEY])
    app = None if has_apps else await core.apps.create("Default")
    async with core.storage.writer() as writer:
        if await writer.get_meta(_INITIALIZED) is None:
            await writer.set_meta(_INITIALIZED, __version__)
            if app is not None:
                await writer.set_meta(DEFAULT_APP_KEY, app.key)
    return app


@main.command()
@click.option("--host", help="Interface to bind.")
@click.option("--port", type=int, help="TCP port.")
@click.option("--workers", type=int, help="Worker processes.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, workers: int | None) -> None:
    """Start the HTTP server."""
    settings = _settings(ctx, host=host, port=port, workers=workers)
    created = _run(settings, _first_start)
    if created is not None:
        click.echo("Created the default app. Its secrets are shown only this once:\n")
        _print_app(created, secrets=True)
        click.echo(
            f"\nTry: curl -u {created.key}:{created.app_secret} http://{settings.host}:{settings.port}/appdata/{created.key}\n"
        )
    for setting in SETTINGS:
        value = getattr(settings, setting.name)
        os.environ["KINBASE_" + setting.name.upper()] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    os.environ["KINBASE_DATA_DIR"] = settings.data_dir
    config_file = (ctx.find_root().obj or {}).get("config")
    if config_file:
        # Workers re-read the file for the sections that are not in the SETTINGS table ([kinto]).
        os.environ["KINBASE_CONFIG"] = str(Path(config_file).resolve())
    if settings.log_format == "json":
        configure_logging(settings.log_level, settings.log_format)
    click.echo(f"kinbase {__version__} on {settings.engine}, http://{settings.host}:{settings.port}")
    shared = None
    if settings.workers > 1 and settings.metrics_enabled:
        # The workers' metrics in one directory per server (prometheus_client's multiprocess
        # mode): the workers are spawned, so they read the variable when they import it.
        shared = tempfile.mkdtemp(prefix="kinbase-metrics-")
        os.environ[MULTIPROC_ENV] = shared
    try:
        _uvicorn(settings)
    finally:
        if shared is not None:
            shutil.rmtree(shared, ignore_errors=True)


def _uvicorn(settings: Settings) -> None:
    import uvicorn

    from kinbase.http import listener
    from kinbase.http.protocol import GuardedHttpToolsProtocol
    from kinbase.workers import run_workers

    options: dict[str, Any] = {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "loop": "uvloop",
        "http": functools.partial(GuardedHttpToolsProtocol, header_timeout=settings.header_timeout_seconds),
        "log_level": settings.log_level,
        "access_log": settings.access_log,
        "log_config": None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
        "lifespan": "on",
        "timeout_graceful_shutdown": 10,
    }
    app = "kinbase.app:create_app_from_environment"
    if settings.workers > 1:
        run_workers(app, **options)
    else:
        listener.run(uvicorn.Config(app, **options))


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Apply pending schema migrations and exit."""
    settings = _settings(ctx)

    async def work(core: Core) -> None:
        return None

    _run(settings, work)
    click.echo(f"The {settings.engine} database is up to date.")


DOC_BLOCKS = {"server settings": settings_table, "kinto settings": kinto_table}
"""The generated blocks of ``docs/settings.md``: ``<!-- generated: NAME -->`` ... ``<!-- end -->``."""


def render_settings_docs(text: str) -> str:
    """``text`` (``docs/settings.md``) with every generated block rewritten from the declarations."""
    for name, render in DOC_BLOCKS.items():
        begin, end = f"<!-- generated: {name} -->\n", "<!-- end -->"
        head, found, rest = text.partition(begin)
        if not found:
            raise click.ClickException(f"docs/settings.md has no '{begin.strip()}' marker")
        _, found, tail = rest.partition(end)
        if not found:
            raise click.ClickException(f"the {name} block of docs/settings.md has no end marker")
        text = head + begin + render() + end + tail
    return text


@main.command(name="settings")
@click.option(
    "--docs",
    "docs_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Rewrite the generated tables of this file (docs/settings.md) from the declarations.",
)
@click.pass_context
def show_settings(ctx: click.Context, docs_file: Path | None) -> None:
    """Print the effective settings (or, with --docs, regenerate their documentation)."""
    if docs_file is not None:
        docs_file.write_text(render_settings_docs(docs_file.read_text()))
        click.echo(f"Wrote {docs_file}.")
        return
    settings = _settings(ctx)
    for setting in SETTINGS:
        click.echo(f"{setting.name} = {getattr(settings, setting.name)!r}    # {setting.help}")


@main.group("kinto-admin")
def kinto_admin() -> None:
    """The Kinto Admin build served at /v1/admin/."""


@kinto_admin.command("install")
@click.option("--dir", "directory", type=click.Path(path_type=Path), help="Install there instead.")
@click.option("--if-missing", is_flag=True, help="Do nothing when a build is already there.")
@click.pass_context
def kinto_admin_install(ctx: click.Context, directory: Path | None, if_missing: bool) -> None:
    """Download the Kinto Admin build (from the PyPI wheel kinto==24.1.1) and install it."""
    from kinbase.kinto_admin import KINTO_REQUIREMENT, AdminBuild, admin_dir, install

    dest = directory if directory is not None else admin_dir(_settings(ctx))
    if if_missing and AdminBuild.load(dest).present:
        click.echo(f"The Kinto Admin is installed in {dest}.")
        return
    try:
        version = install(dest)
    except (RuntimeError, OSError) as exc:
        raise click.ClickException(f"Could not install the Kinto Admin: {exc}") from exc
    click.echo(f"Installed the Kinto Admin {version} (from {KINTO_REQUIREMENT}) in {dest}.")


@main.group()
def apps() -> None:
    """Manage apps (tenants)."""


@apps.command("create")
@click.argument("name")
@click.option("--app-key", help="Keep an existing app key (e.g. from Kinvey).")
@click.option("--app-secret", help="Keep an existing app secret.")
@click.option("--master-secret", help="Keep an existing master secret.")
@click.pass_context
def apps_create(
    ctx: click.Context, name: str, app_key: str | None, app_secret: str | None, master_secret: str | None
) -> None:
    """Create an app; credentials not given are generated and shown once."""
    settings = _settings(ctx)
    app = _run(
        settings,
        lambda core: core.apps.create(name, key=app_key, app_secret=app_secret, master_secret=master_secret),
    )
    _print_app(app, secrets=True)


@apps.command("list")
@click.pass_context
def apps_list(ctx: click.Context) -> None:
    """List the apps."""
    settings = _settings(ctx)
    found = _run(settings, lambda core: core.apps.list())
    for app in found:
        click.echo(f"{app.key}\t{app.name}")


@apps.command("show")
@click.argument("key")
@click.option("--secrets", is_flag=True, help="Also print the app secret and the master secret.")
@click.pass_context
def apps_show(ctx: click.Context, key: str, secrets: bool) -> None:
    """Show one app."""
    settings = _settings(ctx)
    app = _run(settings, lambda core: core.apps.require(key))
    _print_app(app, secrets=secrets)


@apps.command("default")
@click.argument("key")
@click.pass_context
def apps_default(ctx: click.Context, key: str) -> None:
    """Serve the app KEY at /v1/ (the Kinto API's unprefixed base URL); other apps stay at
    /kinto/KEY/v1/. A running server follows within app_cache_seconds."""
    settings = _settings(ctx)

    async def work(core: Core) -> AppRecord:
        app = await core.apps.require(key)
        await core.set_default_app(app.key)
        return app

    app = _run(settings, work)
    click.echo(f"{app.key} ({app.name}) is the default app, served at /v1/.")


@apps.command("delete")
@click.argument("key")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def apps_delete(ctx: click.Context, key: str, yes: bool) -> None:
    """Delete an app and everything it owns."""
    if not yes:
        click.confirm(f"Delete the app {key} and all its data?", abort=True)
    settings = _settings(ctx)
    deleted = _run(settings, lambda core: core.apps.delete(key))
    if not deleted:
        raise click.ClickException(f"There is no app {key!r}.")
    click.echo(f"Deleted {key}.")


register_kinvey(main, _settings)
register_files(main, _settings)
register_config(main, _settings)
register_flex(main, _settings)


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """A shared option given after the command name: it overrides the same option given before."""
    if value is None or param.name is None:
        return
    root = ctx.find_root()
    root.obj = root.obj or {"config": None, "overrides": {}}
    if param.name == "config":
        root.obj["config"] = value
    else:
        root.obj["overrides"][param.name] = value


def _share_options(group: click.Group) -> None:
    """Give every command the group's ``--config``, ``--data-dir`` and ``--database-url``, so that
    ``kinbase serve --data-dir D`` and ``kinbase --data-dir D serve`` mean the same."""
    shared = [
        p
        for p in main.params
        if isinstance(p, click.Option) and p.name in ("config", "data_dir", "database_url")
    ]
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _share_options(command)
            continue
        for option in shared:
            command.params.append(
                click.Option(
                    option.opts,
                    type=option.type,
                    help=option.help,
                    expose_value=False,
                    is_eager=False,
                    callback=_remember,
                )
            )


_share_options(main)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
