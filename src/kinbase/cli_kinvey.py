"""Kinvey commands of the ``kinbase`` CLI: collection settings, bulk import and export.

They open the database like the server does and work while it runs (SQLite: the storage retries a
busy write lock; PostgreSQL: ordinary transactions).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from kinbase.core.kinvey.transfer import batches, export_texts, import_batch, read_csv, read_json
from kinbase.core.services import Core
from kinbase.errors import BaaSError
from kinbase.settings import Settings
from kinbase.storage.registry import create_storage

__all__ = ["register"]


def _run_core(settings: Settings, work: object) -> object:
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
        raise click.ClickException(getattr(exc, "debug", "") or exc.message) from exc


def register(main: click.Group, settings_of: object) -> None:
    """Add the Kinvey commands to the ``kinbase`` group."""

    @main.group()
    def collections() -> None:
        """Kinvey collections."""

    @collections.command("configure")
    @click.argument("app_key")
    @click.argument("collection")
    @click.option("--delta-set/--no-delta-set", default=None, help="Enable or disable delta set.")
    @click.option("--deleted-ttl-days", type=int, help="Days deleted entities are remembered (delta set).")
    @click.option(
        "--permissions",
        type=click.Choice(["private", "shared", "readonly", "full"]),
        help="The collection's permission level.",
    )
    @click.pass_context
    def configure(
        ctx: click.Context,
        app_key: str,
        collection: str,
        delta_set: bool | None,
        deleted_ttl_days: int | None,
        permissions: str | None,
    ) -> None:
        """Configure a collection (created if missing)."""
        settings: Settings = settings_of(ctx)  # type: ignore[operator]

        async def work(core: Core) -> dict[str, object]:
            app = await core.apps.require(app_key)
            return await core.kinvey.collections.configure(
                app, collection, delta_set=delta_set, ttl_days=deleted_ttl_days, level=permissions
            )

        described = _run_core(settings, work)
        assert isinstance(described, dict)
        delta = described["deltaSet"]
        assert isinstance(delta, dict)
        click.echo(
            f"{collection}: delta set {'on' if delta['enabled'] else 'off'} "
            f"(deleted TTL {delta['deletedTtlDays']} days), permissions {described['permissions']}"
        )

    @collections.command("indexes")
    @click.argument("app_key")
    @click.argument("collection")
    @click.pass_context
    def indexes(ctx: click.Context, app_key: str, collection: str) -> None:
        """List the indexes of a collection: declared and automatic, ready or building."""
        settings: Settings = settings_of(ctx)  # type: ignore[operator]

        async def work(core: Core) -> list[dict[str, object]]:
            app = await core.apps.require(app_key)
            return await core.kinvey.collections.indexes(app, collection)

        found = _run_core(settings, work)
        assert isinstance(found, list)
        if not found:
            click.echo(f"{collection}: no index.")
        for index in found:
            fields = ", ".join(index["fields"])
            line = f"({fields})  {index['origin']}, {index['state']}"
            if index["multikey"]:
                line += ", multikey"
            if "created" in index:
                line += f", created {index['created']}, last used {index['lastUsed']}"
            click.echo(line)

    @main.command("import")
    @click.argument("app_key")
    @click.argument("collection")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--batch-size", type=int, default=1000, show_default=True)
    @click.pass_context
    def import_(ctx: click.Context, app_key: str, collection: str, file: Path, batch_size: int) -> None:
        """Import FILE (a JSON array, JSON lines, or CSV) into COLLECTION, keeping _id, _acl, _kmd."""
        settings: Settings = settings_of(ctx)  # type: ignore[operator]
        data = file.read_bytes()

        async def work(core: Core) -> int:
            app = await core.apps.require(app_key)
            entities = read_csv(data) if file.suffix.lower() == ".csv" else read_json(data)
            done = 0
            columns = (
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
            )
            with Progress(*columns, transient=not sys.stderr.isatty()) as progress:
                task = progress.add_task(f"import {file.name}", total=len(entities))
                for batch in batches(entities, max(1, batch_size)):
                    done += await import_batch(core.storage, app, collection, batch)
                    progress.update(task, advance=len(batch))
            return done

        count = _run_core(settings, work)
        click.echo(f"Imported {count} entities into {collection}.")

    @main.command("export")
    @click.argument("app_key")
    @click.argument("collection")
    @click.option(
        "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="File (default: stdout)."
    )
    @click.pass_context
    def export(ctx: click.Context, app_key: str, collection: str, output: Path | None) -> None:
        """Export COLLECTION as a JSON array (with _id, _acl and _kmd), ready for `kinbase import`."""
        settings: Settings = settings_of(ctx)  # type: ignore[operator]

        async def work(core: Core) -> int:
            app = await core.apps.require(app_key)
            out = output.open("w", encoding="utf-8") if output is not None else sys.stdout
            count = 0
            try:
                out.write("[")
                async for text in export_texts(core.storage, app, collection):
                    out.write(("," if count else "") + "\n" + text)
                    count += 1
                out.write("\n]\n")
            finally:
                if output is not None:
                    out.close()
            return count

        count = _run_core(settings, work)
        if output is not None:
            click.echo(f"Exported {count} entities to {output}.")
