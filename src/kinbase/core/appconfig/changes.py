"""What applying a configuration would change, key by key (``kinbase apply --dry-run``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

__all__ = ["Change", "diff_collection_settings", "diff_documents"]

_SECRET_KEYS = frozenset({"secret", "private_key"})


@dataclass(frozen=True, slots=True)
class Change:
    """One key added, removed or changed. Secrets are never shown."""

    action: Literal["add", "remove", "change"]
    key: str
    before: Any = None
    after: Any = None

    def __str__(self) -> str:
        if self.action == "add":
            return f"+ {self.key} = {_show(self.key, self.after)}"
        if self.action == "remove":
            return f"- {self.key}"
        if self.key.rsplit(".", 1)[-1] in _SECRET_KEYS:
            return f"~ {self.key}: (secret changed)"
        return f"~ {self.key}: {_show(self.key, self.before)} -> {_show(self.key, self.after)}"


def _masked(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: "(secret)" if k in _SECRET_KEYS else _masked(v) for k, v in value.items()}
    return value


def _show(key: str, value: Any) -> str:
    if key.rsplit(".", 1)[-1] in _SECRET_KEYS:
        return "(secret)"
    if value is None:
        return "(not set)"
    return orjson.dumps(_masked(value)).decode()


def _key(path: tuple[str, ...]) -> str:
    return ".".join(
        p if p.replace("_", "").replace("-", "").isalnum() else orjson.dumps(p).decode() for p in path
    )


def diff_documents(before: Mapping[str, Any], after: Mapping[str, Any], depth: int = 3) -> list[Change]:
    """The changes from one configuration document to another. Tables down to ``depth`` keys
    (``collections.NAME.hooks``) are compared key by key; deeper, a changed value is one change."""
    changes: list[Change] = []

    def walk(path: tuple[str, ...], old: Any, new: Any) -> None:
        if old == new:
            return
        if isinstance(old, Mapping) and isinstance(new, Mapping) and len(path) <= depth:
            for k in sorted(set(old) | set(new)):
                if not path and isinstance(old.get(k, {}), Mapping) and isinstance(new.get(k, {}), Mapping):
                    walk((k,), old.get(k, {}), new.get(k, {}))  # a section: list its items
                elif k not in new:
                    changes.append(Change("remove", _key((*path, k)), old[k], None))
                elif k not in old:
                    changes.append(Change("add", _key((*path, k)), None, new[k]))
                else:
                    walk((*path, k), old[k], new[k])
            return
        changes.append(Change("change", _key(path), old, new))

    walk((), before, after)
    return changes


def diff_collection_settings(
    name: str, current: Mapping[str, Any], wanted: Mapping[str, Any]
) -> list[Change]:
    """The changes to the settings kept in collection ``name``: only the keys the file gives."""
    changes = []
    for key, value in wanted.items():
        if current.get(key) != value:
            action: Literal["add", "change"] = "change" if key in current else "add"
            changes.append(Change(action, _key(("collections", name, key)), current.get(key), value))
    return changes
