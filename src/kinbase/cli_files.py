"""File commands of the ``kinbase`` CLI: collect orphaned bytes, show an app's usage."""

from __future__ import annotations

import asyncio

import click

from kinbase.core.files.collector import CollectReport
from kinbase.core.files.ledger import FileLimits
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.settings import Settings
from kinbase.storage.registry import create_storage

__all__ = ["register"]


def _run(settings: Settings, work: object) -> object:
    async def main() -> object:
        core = Core(settings, create_storage(settings))
        await core.start()
        try:
            return await work(core)  # type: ignore[operator]
        finally:
            await core.stop()

    try:
        return asyncio.run(main())
    except BaaSError as exc:
        raise click.ClickException(exc.message) from exc


def register(main: click.Group, settings_of: object) -> None:
    """Add the ``files`` commands to the ``kinbase`` group."""

    @main.group()
    def files() -> None:
        """File bytes (Kinvey files and Kinto attachments)."""

    @files.command("gc")
    @click.pass_context
    def gc(ctx: click.Context) -> None:
        """Delete bytes nobody owns and uploads abandoned past upload_session_seconds (safe while
        the server runs)."""
        settings: Settings = settings_of(ctx)  # type: ignore[operator]

        async def work(core: Core) -> CollectReport:
            return await core.files.collector.collect()

        report = _run(settings, work)
        assert isinstance(report, CollectReport)
        click.echo(
            f"{report.apps} apps: {report.blobs_deleted} orphaned files deleted, {report.uploads_aborted} "
            f"unfinished uploads aborted, {report.entries_dropped} abandoned uploads dropped, "
            f"{report.leftovers_swept} interrupted writes swept."
        )

    @files.command("usage")
    @click.argument("app_key")
    @click.pass_context
    def usage(ctx: click.Context, app_key: str) -> None:
        """Bytes of files APP_KEY stores, and its limits."""
        settings: Settings = settings_of(ctx)  # type: ignore[operator]

        async def work(core: Core) -> tuple[int, FileLimits]:
            app = await core.apps.require(app_key)
            return await core.files.ledger.usage(app.id), core.files.ledger.limits(app)

        result = _run(settings, work)
        assert isinstance(result, tuple)
        used, limits = result
        quota = f"{limits.quota_bytes} bytes" if limits.quota_bytes else "none"
        click.echo(f"used: {used} bytes; quota: {quota}; largest file: {limits.max_file_bytes} bytes")
