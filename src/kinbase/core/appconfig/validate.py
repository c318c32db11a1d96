"""Read an app configuration (TOML text, or its stored JSON document) into an :class:`AppConfig`.

The whole file is checked before anything is applied: every problem found (an unknown or missing
key, a value of the wrong type or out of range, a reference to a Flex service the file does not
declare, a cron that does not parse) is reported, each with its key and line, and the file is
refused as a whole (:class:`AppConfigInvalid`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from croniter import croniter

from kinbase.core.appconfig.lines import KeyPath, key_lines, line_of
from kinbase.core.appconfig.model import (
    HOOKS,
    ApnsConfig,
    AppConfig,
    AuthConfig,
    CollectionConfig,
    DataLink,
    EndpointConfig,
    FcmConfig,
    FlexAuthRef,
    FlexServiceConfig,
    FunctionRef,
    PushConfig,
    ScheduleConfig,
    WebhookConfig,
)
from kinbase.core.kinvey.access import LEVELS
from kinbase.core.kinvey.entities import check_collection_name
from kinbase.errors import BaaSError, InvalidQuery, ValidationFailed
from kinbase.query.paths import parse_path

__all__ = ["AppConfigInvalid", "Problem", "from_document", "parse_toml"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_HANDLER = re.compile(r"^[^\x00-\x1f/?#]{1,200}$")
_TOP = ("flex_services", "collections", "endpoints", "auth", "schedules", "push")


@dataclass(frozen=True, slots=True)
class Problem:
    """One reason a configuration is refused."""

    key: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.key or '(file)'}: {self.message}"


class AppConfigInvalid(ValidationFailed):
    """The configuration was refused; ``problems`` says why, key by key."""

    code = "app_config_invalid"

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"The app configuration was refused ({len(problems)} problem"
            f"{'s' if len(problems) != 1 else ''}); nothing was applied:\n{lines}",
            details=[{"key": p.key, "line": p.line, "message": p.message} for p in problems],
        )


def parse_toml(text: str) -> AppConfig:
    """Parse and validate a configuration file.

    Raises:
        AppConfigInvalid: listing every problem, each with its key and line.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        raise AppConfigInvalid(
            [Problem("", int(match.group(1)) if match else None, f"not valid TOML: {exc}")]
        ) from None
    return _Validator(key_lines(text)).app(raw)


def from_document(document: Mapping[str, Any]) -> AppConfig:
    """The configuration of a stored JSON document (as :meth:`AppConfig.document` wrote it).

    Raises:
        AppConfigInvalid: if the document is not a valid configuration.
    """
    return _Validator({}).app(document)


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _dotted(path: KeyPath) -> str:
    parts: list[str] = []
    for key in path:
        if isinstance(key, int):
            parts[-1] += f"[{key}]"
        elif _NAME.fullmatch(key) and "." not in key:
            parts.append(key)
        else:
            parts.append('"' + key.replace('"', '\\"') + '"')
    return ".".join(parts)


class _Validator:
    def __init__(self, lines: dict[KeyPath, int]) -> None:
        self.lines = lines
        self.problems: list[Problem] = []

    def fail(self, path: KeyPath, message: str) -> None:
        self.problems.append(Problem(_dotted(path), line_of(self.lines, path), message))

    # -- generic checks --------------------------------------------------------------------
    def table(
        self, value: Any, path: KeyPath, required: tuple[str, ...], optional: tuple[str, ...]
    ) -> dict[str, Any] | None:
        """``value`` if it is a table with the required keys and no others (problems recorded)."""
        if not isinstance(value, dict):
            self.fail(path, f"expected a table, got {_kind(value)}")
            return None
        for key in value:
            if key not in required and key not in optional:
                allowed = ", ".join((*required, *optional))
                self.fail((*path, key), f"unknown key {key!r} (allowed here: {allowed})")
        for key in required:
            if key not in value:
                self.fail(path, f"missing required key {key!r}")
        return value

    def named(self, value: Any, path: KeyPath, what: str) -> dict[str, Any]:
        """A table of named items (``[flex_services.NAME]``...), with valid names."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"expected a table of {what}, got {_kind(value)}")
            return {}
        for name in value:
            if not _NAME.fullmatch(name):
                self.fail(
                    (*path, name), f"invalid name {name!r}: use up to 64 letters, digits, '_', '.' or '-'"
                )
        return value

    def string(
        self, t: Mapping[str, Any], key: str, path: KeyPath, *, pattern: re.Pattern[str] | None = None
    ) -> str | None:
        value = t.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail((*path, key), f"expected a string, got {_kind(value)}")
            return None
        if not value.strip():
            self.fail((*path, key), "must not be empty")
            return None
        if pattern is not None and not pattern.fullmatch(value):
            self.fail((*path, key), f"{value!r} is not a valid name")
            return None
        return value

    def boolean(self, t: Mapping[str, Any], key: str, path: KeyPath) -> bool | None:
        value = t.get(key)
        if value is not None and not isinstance(value, bool):
            self.fail((*path, key), f"expected true or false, got {_kind(value)}")
            return None
        return value

    def integer(self, t: Mapping[str, Any], key: str, path: KeyPath, low: int, high: int) -> int | None:
        value = t.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail((*path, key), f"expected an integer, got {_kind(value)}")
            return None
        if not low <= value <= high:
            self.fail((*path, key), f"must be between {low} and {high}, got {value}")
            return None
        return value

    def number(self, t: Mapping[str, Any], key: str, path: KeyPath, low: float, high: float) -> float | None:
        value = t.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail((*path, key), f"expected a number, got {_kind(value)}")
            return None
        if not low < value <= high:
            self.fail((*path, key), f"must be more than {low:g} and at most {high:g}, got {value}")
            return None
        return float(value)

    def url(self, t: Mapping[str, Any], key: str, path: KeyPath) -> str | None:
        value = self.string(t, key, path)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            self.fail((*path, key), f"{value!r} is not an http:// or https:// URL without query")
            return None
        return value.rstrip("/")

    # -- the file --------------------------------------------------------------------------
    def app(self, raw: Mapping[str, Any]) -> AppConfig:
        self.table(dict(raw), (), (), _TOP)
        services = {
            name: service
            for name, value in self.named(
                raw.get("flex_services"), ("flex_services",), "Flex services"
            ).items()
            if (service := self.service(value, ("flex_services", name))) is not None
        }
        collections: dict[str, CollectionConfig] = {}
        for name, value in self.named(raw.get("collections"), ("collections",), "collections").items():
            try:
                check_collection_name(name)
            except BaaSError as exc:
                self.fail(
                    ("collections", name),
                    f"invalid collection name: {getattr(exc, 'debug', '') or exc.message}",
                )
                continue
            collection = self.collection(value, ("collections", name))
            if collection is not None:
                collections[name] = collection
        endpoints = {
            name: EndpointConfig(ref.service, ref.function)
            for name, value in self.named(raw.get("endpoints"), ("endpoints",), "endpoints").items()
            if (ref := self.function_ref(value, ("endpoints", name))) is not None
        }
        auth = {
            name: entry
            for name, value in self.named(raw.get("auth"), ("auth",), "auth services").items()
            if (entry := self.auth(value, ("auth", name))) is not None
        }
        schedules = {
            name: scheduled
            for name, value in self.named(raw.get("schedules"), ("schedules",), "schedules").items()
            if (scheduled := self.schedule(value, ("schedules", name))) is not None
        }
        push = self.push(raw.get("push"), ("push",)) if "push" in raw else None
        self.references(raw)
        if self.problems:
            raise AppConfigInvalid(sorted(self.problems, key=lambda p: p.line or 0))
        return AppConfig(services, collections, endpoints, auth, schedules, push)

    def service(self, value: Any, path: KeyPath) -> FlexServiceConfig | None:
        t = self.table(value, path, ("url", "secret"), ("timeout_seconds", "max_concurrency"))
        if t is None:
            return None
        url, secret = self.url(t, "url", path), self.string(t, "secret", path)
        timeout = self.number(t, "timeout_seconds", path, 0, 300)
        concurrency = self.integer(t, "max_concurrency", path, 1, 1000)
        if url is None or secret is None:
            return None
        return FlexServiceConfig(url, secret, timeout, concurrency)

    def function_ref(self, value: Any, path: KeyPath, key: str = "function") -> FunctionRef | None:
        t = self.table(value, path, ("service", key), ())
        if t is None:
            return None
        service, function = self.string(t, "service", path), self.string(t, key, path, pattern=_HANDLER)
        return FunctionRef(service, function) if service and function else None

    def collection(self, value: Any, path: KeyPath) -> CollectionConfig | None:
        optional = (
            "delta_set",
            "deleted_ttl_days",
            "permissions",
            "data_link",
            "hooks",
            "indexes",
            "auto_index",
        )
        t = self.table(value, path, (), optional)
        if t is None:
            return None
        level = self.string(t, "permissions", path)
        if level is not None and level not in LEVELS:
            self.fail((*path, "permissions"), f"must be one of {', '.join(LEVELS)}, got {level!r}")
        link = None
        if "data_link" in t:
            ref = self.function_ref(t["data_link"], (*path, "data_link"), "service_object")
            link = DataLink(ref.service, ref.function) if ref is not None else None
            for key in ("delta_set", "indexes", "auto_index"):
                if t.get(key):
                    self.fail((*path, key), "a collection with a data_link keeps no data in kinbase")
        hooks: dict[str, FunctionRef] = {}
        if "hooks" in t:
            table = self.table(t["hooks"], (*path, "hooks"), (), HOOKS) or {}
            for hook, ref_value in table.items():
                if hook in HOOKS and (ref := self.function_ref(ref_value, (*path, "hooks", hook))):
                    hooks[hook] = ref
        return CollectionConfig(
            delta_set=self.boolean(t, "delta_set", path),
            deleted_ttl_days=self.integer(t, "deleted_ttl_days", path, 1, 3650),
            permissions=level if level in LEVELS else None,
            data_link=link,
            hooks=hooks,
            indexes=self.indexes(t.get("indexes"), (*path, "indexes")),
            auto_index=self.boolean(t, "auto_index", path),
        )

    def indexes(self, value: Any, path: KeyPath) -> tuple[tuple[str, ...], ...] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            self.fail(path, f'expected an array of field lists such as [["status", "n"]], got {_kind(value)}')
            return None
        out: list[tuple[str, ...]] = []
        for n, fields in enumerate(value):
            where = (*path, n)
            if not isinstance(fields, list) or not fields:
                self.fail(where, 'each index is a non-empty array of field names, e.g. ["owner.id"]')
                continue
            names: list[str] = []
            for m, name in enumerate(fields):
                if not isinstance(name, str):
                    self.fail((*where, m), f"expected a field name, got {_kind(name)}")
                    continue
                try:
                    parse_path(name)
                except InvalidQuery as exc:
                    self.fail((*where, m), exc.message)
                    continue
                names.append(name)
            if len(set(names)) != len(names):
                self.fail(where, "an index names the same field twice")
            elif tuple(names) in out:
                self.fail(where, "the same index is declared twice")
            elif len(names) == len(fields):
                out.append(tuple(names))
        return tuple(out)

    def auth(self, value: Any, path: KeyPath) -> AuthConfig | None:
        t = self.table(value, path, (), ("flex_auth", "user_store", "redirect_uris"))
        if t is None:
            return None
        flex = None
        if "flex_auth" in t:
            ref = self.function_ref(t["flex_auth"], (*path, "flex_auth"), "handler")
            flex = FlexAuthRef(ref.service, ref.function) if ref is not None else None
        user_store = self.boolean(t, "user_store", path)
        if ("flex_auth" in t) == bool(user_store):
            self.fail(
                path, "give exactly one identity source: flex_auth = {service, handler} or user_store = true"
            )
        uris: list[str] = []
        raw = t.get("redirect_uris", [])
        if not isinstance(raw, list):
            self.fail((*path, "redirect_uris"), f"expected an array of URIs, got {_kind(raw)}")
        else:
            for n, uri in enumerate(raw):
                parts = urlsplit(uri) if isinstance(uri, str) else None
                if (
                    parts is None
                    or not parts.scheme
                    or parts.fragment
                    or (parts.scheme in ("http", "https") and not parts.netloc)
                ):
                    self.fail((*path, "redirect_uris", n), f"{uri!r} is not an absolute URI without fragment")
                else:
                    uris.append(uri)
        return AuthConfig(flex, bool(user_store), tuple(uris))

    def schedule(self, value: Any, path: KeyPath) -> ScheduleConfig | None:
        t = self.table(value, path, ("service", "function", "cron"), ("body", "enabled"))
        if t is None:
            return None
        service = self.string(t, "service", path)
        function = self.string(t, "function", path, pattern=_HANDLER)
        cron = self.string(t, "cron", path)
        if cron is not None:
            fields = cron.split()
            if len(fields) not in (5, 6) or not croniter.is_valid(cron, second_at_beginning=len(fields) == 6):
                self.fail(
                    (*path, "cron"),
                    f"{cron!r} is not a cron expression: 5 fields (minute hour day month weekday), "
                    "or 6 with a leading seconds field",
                )
                cron = None
        body = t.get("body")
        if body is not None and not isinstance(body, dict):
            self.fail((*path, "body"), f"expected a table, got {_kind(body)}")
            body = None
        enabled = self.boolean(t, "enabled", path)
        if service is None or function is None or cron is None:
            return None
        return ScheduleConfig(service, function, " ".join(cron.split()), body, enabled)

    def push(self, value: Any, path: KeyPath) -> PushConfig | None:
        t = self.table(value, path, (), ("fcm", "apns", "webhook"))
        if t is None:
            return None
        fcm = apns = webhook = None
        if "fcm" in t:
            p = (*path, "fcm")
            f = self.table(
                t["fcm"], p, ("project_id", "client_email", "private_key"), ("token_uri", "endpoint")
            )
            if f is not None:
                project, email, key = (
                    self.string(f, k, p) for k in ("project_id", "client_email", "private_key")
                )
                token_uri, endpoint = self.url(f, "token_uri", p), self.url(f, "endpoint", p)
                if project and email and key:
                    fcm = FcmConfig(project, email, key, token_uri, endpoint)
        if "apns" in t:
            p = (*path, "apns")
            a = self.table(
                t["apns"], p, ("team_id", "key_id", "private_key", "topic"), ("sandbox", "endpoint")
            )
            if a is not None:
                team, key_id, key, topic = (
                    self.string(a, k, p) for k in ("team_id", "key_id", "private_key", "topic")
                )
                sandbox, endpoint = self.boolean(a, "sandbox", p), self.url(a, "endpoint", p)
                if team and key_id and key and topic:
                    apns = ApnsConfig(team, key_id, key, topic, sandbox, endpoint)
        if "webhook" in t:
            p = (*path, "webhook")
            w = self.table(t["webhook"], p, ("url", "secret"), ())
            if w is not None:
                url, secret = self.url(w, "url", p), self.string(w, "secret", p)
                if url and secret:
                    webhook = WebhookConfig(url, secret)
        return PushConfig(fcm, apns, webhook)

    def references(self, raw: Mapping[str, Any]) -> None:
        """Every ``service = "X"`` must name a service declared under ``[flex_services]``."""

        def tables(value: Any) -> list[tuple[str, dict[str, Any]]]:
            return (
                [(k, v) for k, v in value.items() if isinstance(v, dict)] if isinstance(value, dict) else []
            )

        declared = {name for name, _ in tables(raw.get("flex_services"))}
        refs: list[tuple[KeyPath, Any]] = []
        for top in ("endpoints", "schedules"):
            refs.extend(((top, name, "service"), t.get("service")) for name, t in tables(raw.get(top)))
        for name, t in tables(raw.get("auth")):
            if isinstance(t.get("flex_auth"), dict):
                refs.append((("auth", name, "flex_auth", "service"), t["flex_auth"].get("service")))
        for name, t in tables(raw.get("collections")):
            if isinstance(t.get("data_link"), dict):
                refs.append((("collections", name, "data_link", "service"), t["data_link"].get("service")))
            for hook, ref in tables(t.get("hooks")):
                refs.append((("collections", name, "hooks", hook, "service"), ref.get("service")))
        for path, service in refs:
            if isinstance(service, str) and service and service not in declared:
                known = ", ".join(sorted(declared)) or "none declared"
                self.fail(
                    path,
                    f"names the Flex service {service!r}, which [flex_services] does not declare ({known})",
                )
