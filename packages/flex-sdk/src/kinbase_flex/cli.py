"""``kinbase-flex run my_module:flex --host 127.0.0.1 --port 10001``."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from kinbase_flex._service import VERSION, FlexService

__all__ = ["load_service", "main"]


def load_service(target: str) -> FlexService:
    """Import ``module:attribute`` (a :class:`FlexService`, or a function that returns one)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"kinbase-flex: expected MODULE:ATTRIBUTE, got {target!r}")
    module = importlib.import_module(module_name)
    value: object = module
    for part in attribute.split("."):
        try:
            value = getattr(value, part)
        except AttributeError:
            raise SystemExit(f"kinbase-flex: {module_name!r} has no attribute {attribute!r}") from None
    if not isinstance(value, FlexService) and callable(value):
        value = value()
    if not isinstance(value, FlexService):
        raise SystemExit(f"kinbase-flex: {target!r} is not a Flex service (kinbase_flex.service())")
    return value


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="kinbase-flex", description="Serve a kinbase-flex service.")
    parser.add_argument("--version", action="version", version=f"kinbase-flex {VERSION}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve MODULE:ATTRIBUTE with uvicorn")
    run.add_argument("target", help="e.g. my_module:flex")
    run.add_argument("--host", default=None, help="default: FLEX_HOST or 127.0.0.1")
    run.add_argument("--port", type=int, default=None, help="default: FLEX_PORT or 10001")
    run.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    run.add_argument("--app-dir", default=".", help="directory added to sys.path (default: .)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(args.app_dir).resolve()))
    flex = load_service(args.target)
    flex.run(host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":  # pragma: no cover
    main()
