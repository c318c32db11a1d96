"""Flex and schedule commands of the ``kinbase`` CLI: ``flex list|discover``, ``schedules list|runs``."""

from __future__ import annotations

from collections.abc import Callable

import click

from kinbase.cli_config import run_core
from kinbase.core.flex import Discovery
from kinbase.core.schedules import ScheduleRun
from kinbase.core.schedules.scheduler import next_tick
from kinbase.core.services import Core
from kinbase.settings import Settings

__all__ = ["register"]


def register(main: click.Group, settings_of: Callable[[click.Context], Settings]) -> None:
    """Add the commands to the ``kinbase`` group."""

    @main.group("flex")
    def flex() -> None:
        """The Flex services of an app."""

    @flex.command("list")
    @click.argument("app_key")
    @click.pass_context
    def flex_list(ctx: click.Context, app_key: str) -> None:
        """List the app's Flex services and whether each answers its health check."""

        async def work(core: Core) -> list[tuple[str, str, float, bool]]:
            app = await core.apps.require(app_key)
            config = await core.appconfig.current(app)
            rows = []
            for name in sorted(config.flex_services):
                service = await core.flex.service(app, name)
                rows.append((name, service.config.url, service.config.timeout, await service.healthy()))
            return rows

        rows = run_core(settings_of(ctx), work)
        if not rows:
            click.echo("No Flex services (declare them under [flex_services] and `kinbase apply`).")
        for name, url, timeout, healthy in rows:
            click.echo(f"{name}\t{url}\ttimeout {timeout:g} s\t{'healthy' if healthy else 'NOT ANSWERING'}")

    @flex.command("discover")
    @click.argument("app_key")
    @click.argument("name")
    @click.pass_context
    def flex_discover(ctx: click.Context, app_key: str, name: str) -> None:
        """Ask the service NAME what it offers (service objects, functions, auth handlers)."""

        async def work(core: Core) -> Discovery:
            return await (await core.flex.service(await core.apps.require(app_key), name)).discover()

        found = run_core(settings_of(ctx), work)
        for label, names in (
            ("service objects", found.service_objects),
            ("functions", found.functions),
            ("auth handlers", found.auth_handlers),
        ):
            click.echo(f"{label}: {', '.join(names) if names else '(none)'}")

    @main.group("schedules")
    def schedules() -> None:
        """The scheduled Flex functions of an app."""

    @schedules.command("list")
    @click.argument("app_key")
    @click.pass_context
    def schedules_list(ctx: click.Context, app_key: str) -> None:
        """List the app's schedules with their next run (UTC)."""
        from datetime import UTC, datetime

        async def work(core: Core) -> list[tuple[str, str, str, str, bool]]:
            config = await core.appconfig.current(await core.apps.require(app_key))
            return [
                (name, s.cron, s.service, s.function, s.active)
                for name, s in sorted(config.schedules.items())
            ]

        rows = run_core(settings_of(ctx), work)
        if not rows:
            click.echo("No schedules.")
        now = datetime.now(UTC)
        for name, cron, service, function, active in rows:
            when = next_tick(cron, now).strftime("%Y-%m-%dT%H:%M:%SZ") if active else "paused"
            click.echo(f"{name}\t{cron}\t{service}.{function}\tnext {when}")

    @schedules.command("runs")
    @click.argument("app_key")
    @click.argument("schedule", required=False)
    @click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
    @click.pass_context
    def schedules_runs(ctx: click.Context, app_key: str, schedule: str | None, limit: int) -> None:
        """Show the latest runs (of one SCHEDULE, or of all), newest first."""

        async def work(core: Core) -> list[ScheduleRun]:
            return await core.schedules.runs.list(await core.apps.require(app_key), schedule, limit)

        runs = run_core(settings_of(ctx), work)
        if not runs:
            click.echo("No runs.")
        for run in runs:
            shown = run.as_json()
            took = f"{shown['durationMs']} ms" if shown["durationMs"] is not None else "-"
            line = f"{run.schedule}\t{run.tick}\t{run.status}\t{took}\t{run.worker}"
            click.echo(line + (f"\t{run.error}" if run.error else ""))
