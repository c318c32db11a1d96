"""Write a configuration back as TOML, in the layout of ``docs/app-config.md`` (``kinbase config
export``). Applying the output changes nothing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tomlkit
from tomlkit.items import InlineTable, Table

from kinbase.core.appconfig.model import HOOKS, AppConfig

__all__ = ["render_toml"]

_SECTIONS = ("flex_services", "collections", "endpoints", "auth", "schedules", "push")
_KEY_ORDER = (
    "url",
    "secret",
    "timeout_seconds",
    "max_concurrency",
    "service",
    "function",
    "cron",
    "enabled",
    "body",
    "delta_set",
    "deleted_ttl_days",
    "permissions",
    "data_link",
    "indexes",
    "auto_index",
    "flex_auth",
    "user_store",
    "redirect_uris",
)


def _ordered(entry: Mapping[str, Any]) -> list[tuple[str, Any]]:
    def rank(key: str) -> tuple[int, str]:
        return (_KEY_ORDER.index(key) if key in _KEY_ORDER else len(_KEY_ORDER), key)

    return sorted(entry.items(), key=lambda kv: rank(kv[0]))


def _value(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        inline: InlineTable = tomlkit.inline_table()
        for k, v in _ordered(value):
            inline.append(k, _value(v))
        return inline
    if isinstance(value, list):
        return [_value(v) for v in value]
    return value


def _table(entry: Mapping[str, Any]) -> Table:
    table = tomlkit.table()
    for key, value in _ordered(entry):
        if key == "hooks":
            continue
        table.add(key, _value(value))
    hooks = entry.get("hooks")
    if hooks:
        sub = tomlkit.table()
        for hook in HOOKS:
            if hook in hooks:
                sub.add(hook, _value(hooks[hook]))
        table.add("hooks", sub)
    return table


def render_toml(config: AppConfig, *, header: str = "") -> str:
    """The configuration as a TOML file (``header`` becomes its first comment lines)."""
    document = tomlkit.document()
    for line in header.splitlines():
        document.add(tomlkit.comment(line))
    if header:
        document.add(tomlkit.nl())
    doc = config.document()
    for section in _SECTIONS:
        entries = doc.get(section)
        if not entries:
            continue
        outer = tomlkit.table(is_super_table=True)
        for name in sorted(entries):
            outer.add(name, _table(entries[name]))
        document.add(section, outer)
    return tomlkit.dumps(document)
