"""PATCH flavours: Kinto's shallow merge, JSON merge patch (RFC 7396) and JSON patch (RFC 6902)."""

from __future__ import annotations

import copy
from typing import Any

from kinbase.core.kinto.errors import InvalidParameter
from kinbase.numerals import uint

__all__ = ["JsonPatchError", "apply_json_patch", "merge_patch"]


class JsonPatchError(Exception):
    """A JSON patch operation that cannot be applied."""


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: objects merge recursively, ``null`` removes a key, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise JsonPatchError(f"invalid pointer {path!r}")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, *, adding: bool) -> int:
    if adding and token == "-":
        return len(container)
    index = uint(token)
    if index is None or (token != "0" and token.startswith("0")):
        raise JsonPatchError(f"invalid array index {token[:40]!r}")
    if index > len(container) or (not adding and index == len(container)):
        raise JsonPatchError(f"array index {index} out of range")
    return index


def _parent(doc: Any, parts: list[str]) -> Any:
    node = doc
    for token in parts[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise JsonPatchError(f"member {token!r} not found")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, adding=False)]
        else:
            raise JsonPatchError(f"cannot descend into {token!r}")
    return node


def _get(doc: Any, parts: list[str]) -> Any:
    if not parts:
        return doc
    parent = _parent(doc, parts)
    token = parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise JsonPatchError(f"member {token!r} not found")
        return parent[token]
    if isinstance(parent, list):
        return parent[_index(parent, token, adding=False)]
    raise JsonPatchError(f"cannot read {token!r}")


def _remove(doc: Any, parts: list[str]) -> Any:
    if not parts:
        raise JsonPatchError("cannot remove the whole document")
    parent = _parent(doc, parts)
    token = parts[-1]
    if isinstance(parent, dict):
        if token not in parent:
            raise JsonPatchError(f"member {token!r} not found")
        return parent.pop(token)
    if isinstance(parent, list):
        return parent.pop(_index(parent, token, adding=False))
    raise JsonPatchError(f"cannot remove {token!r}")


def _add(doc: Any, parts: list[str], value: Any, *, replace: bool = False) -> Any:
    if not parts:
        return value
    parent = _parent(doc, parts)
    token = parts[-1]
    if isinstance(parent, dict):
        if replace and token not in parent:
            raise JsonPatchError(f"member {token!r} not found")
        parent[token] = value
    elif isinstance(parent, list):
        index = _index(parent, token, adding=not replace)
        if replace:
            parent[index] = value
        else:
            parent.insert(index, value)
    else:
        raise JsonPatchError(f"cannot set {token!r}")
    return doc


def _apply(doc: Any, op: dict[str, Any]) -> Any:
    name = op.get("op")
    path = op.get("path")
    if not isinstance(path, str):
        raise JsonPatchError("an operation needs a 'path'")
    parts = _pointer(path)
    if name in ("add", "replace", "test") and "value" not in op:
        raise JsonPatchError(f"'{name}' needs a 'value'")
    if name == "add":
        return _add(doc, parts, copy.deepcopy(op["value"]))
    if name == "replace":
        return _add(doc, parts, copy.deepcopy(op["value"]), replace=True)
    if name == "remove":
        _remove(doc, parts)
        return doc
    if name == "test":
        if _get(doc, parts) != op["value"]:
            raise JsonPatchError(f"test failed at {path!r}")
        return doc
    if name in ("move", "copy"):
        source = op.get("from")
        if not isinstance(source, str):
            raise JsonPatchError(f"'{name}' needs a 'from'")
        from_parts = _pointer(source)
        if name == "move":
            if parts[: len(from_parts)] == from_parts and parts != from_parts:
                raise JsonPatchError("cannot move a value into itself")
            value = _remove(doc, from_parts)
        else:
            value = copy.deepcopy(_get(doc, from_parts))
        return _add(doc, parts, value)
    raise JsonPatchError(f"unknown operation {name!r}")


def apply_json_patch(document: dict[str, Any], ops: Any) -> dict[str, Any]:
    """Apply RFC 6902 operations to a copy of ``document``.

    Kinto's extension: an ``add``/``remove`` on ``/permissions/read/<principal>`` or
    ``/permissions/write/<principal>`` needs no ``value`` (the principal is the last segment), and
    permission lists behave as sets.

    Raises:
        InvalidParameter: a malformed patch or an operation that fails.
    """
    if not isinstance(ops, list):
        raise InvalidParameter("body", "body", "JSON Patch operations must be a list")
    doc = copy.deepcopy(document)
    for op in ops:
        if not isinstance(op, dict):
            raise InvalidParameter("body", "body", "JSON Patch operations must be objects")
        try:
            doc = _apply_kinto(doc, op)
        except JsonPatchError as exc:
            raise InvalidParameter("body", "body", f"JSON Patch operation failed: {exc}") from None
    if not isinstance(doc, dict):
        raise InvalidParameter("body", "body", "JSON Patch operation failed: the result is not an object")
    return doc


def _apply_kinto(doc: Any, op: dict[str, Any]) -> Any:
    path = op.get("path")
    if isinstance(path, str) and path.startswith("/permissions/"):
        parts = _pointer(path)
        if len(parts) == 3 and op.get("op") in ("add", "remove"):
            perm, principal = parts[1], parts[2]
            if "value" not in op and perm not in ("read", "write"):
                raise JsonPatchError(f"'{op.get('op')}' on {path!r} needs a 'value'")
            value = op.get("value", principal)
            perms = doc.setdefault("permissions", {})
            current = perms.setdefault(perm, [])
            if not isinstance(current, list):
                raise JsonPatchError(f"permission {perm!r} is not a list")
            if op["op"] == "add" and value not in current:
                current.append(value)
            elif op["op"] == "remove" and value in current:
                current.remove(value)
            return doc
    return _apply(doc, op)
