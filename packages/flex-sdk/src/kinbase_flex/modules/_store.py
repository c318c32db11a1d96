"""What the modules that call back into the backend share: options, URLs, credentials, errors."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kinbase_flex._calls import CallRuntime, Pending
from kinbase_flex.errors import ModuleError
from kinbase_flex.modules.query import Query

__all__ = ["BackendEnv", "BaseStore", "StoreOptions", "basic", "split_callback"]

_MISSING: Any = object()


@dataclass(frozen=True)
class BackendEnv:
    """The facts of one task that the modules need to call back into the backend."""

    runtime: CallRuntime
    app_metadata: dict[str, Any]
    """``X-Kinvey-App-Metadata`` with ``baasUrl`` resolved (falls back to the original ``host``)."""
    authorization: str | None
    """The original request's ``Authorization`` header (for ``useUserContext``)."""
    api_version: str
    user_id: Any
    object_name: Any
    hook_type: Any

    @property
    def app_key(self) -> str:
        return str(self.app_metadata.get("_id") or "")

    @property
    def baas_url(self) -> str | None:
        url = self.app_metadata.get("baasUrl")
        return str(url).rstrip("/") if url else None


def basic(user: Any, password: Any) -> str:
    """``Basic base64(user:password)``."""
    raw = f"{user if user is not None else ''}:{password if password is not None else ''}"
    return "Basic " + base64.b64encode(raw.encode()).decode()


def split_callback(first: Any, callback: Any) -> tuple[Any, Any]:
    """``find(callback)`` as well as ``find(query, callback)``: a callable first argument is the callback."""
    if callback is None and callable(first) and not isinstance(first, Query):
        return None, first
    return first, callback


def _flag(options: dict[str, Any], *names: str) -> Any:
    for name in names:
        if name in options:
            return options[name]
    return _MISSING


@dataclass(frozen=True)
class StoreOptions:
    """``useBl``, ``useUserContext`` and ``apiVersion`` (the deprecated ``skipBl`` and
    ``useMasterSecret`` are honoured when the new option is not given)."""

    use_bl: bool = False
    use_user_context: bool = False
    api_version: str | None = None

    @classmethod
    def parse(cls, options: dict[str, Any] | None, kwargs: dict[str, Any]) -> StoreOptions:
        merged = {**(options or {}), **kwargs}
        use_bl = _flag(merged, "useBl", "use_bl")
        if use_bl is _MISSING:
            skip_bl = _flag(merged, "skipBl", "skip_bl")
            use_bl = False if skip_bl is _MISSING else not skip_bl
        use_user_context = _flag(merged, "useUserContext", "use_user_context")
        if use_user_context is _MISSING:
            use_master = _flag(merged, "useMasterSecret", "use_master_secret")
            use_user_context = False if use_master is _MISSING else not use_master
        api_version = _flag(merged, "apiVersion", "api_version")
        return cls(
            use_bl=use_bl is True,
            use_user_context=use_user_context is True,
            api_version=None if api_version is _MISSING or api_version is None else str(api_version),
        )


class BaseStore:
    """Builds Kinvey REST requests to ``<baasUrl>/<route>/<appKey>/...`` and sends them."""

    ROUTE = ""
    ERROR = "StoreError"

    def __init__(self, env: BackendEnv, options: StoreOptions) -> None:
        self._env = env
        self._options = options
        self._api_version = options.api_version or env.api_version

    def _fail(self, description: str, debug: str, callback: Any) -> Pending[Any]:
        error = ModuleError(self.ERROR, description, debug)

        async def raise_error() -> Any:
            raise error

        return self._env.runtime.submit(raise_error, callback)

    def _url(self, collection: str | None = None, suffix: str = "") -> str:
        url = f"{self._env.baas_url}/{self.ROUTE}/{self._env.app_key}/"
        if collection is not None:
            url += f"{collection}/"
        return url + suffix

    def _headers(
        self, *, use_app_secret: bool = False, use_user_context: bool | None = None
    ) -> dict[str, str]:
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Kinvey-API-Version": self._api_version,
        }
        if not self._options.use_bl:
            headers["x-kinvey-skip-business-logic"] = "true"
        metadata = self._env.app_metadata
        user_context = self._options.use_user_context if use_user_context is None else use_user_context
        if use_app_secret:
            headers["Authorization"] = basic(metadata.get("_id"), metadata.get("appsecret"))
        elif user_context:
            if self._env.authorization:
                headers["Authorization"] = self._env.authorization
        else:
            headers["Authorization"] = basic(metadata.get("_id"), metadata.get("mastersecret"))
        return headers

    def _send(
        self,
        method: str,
        url: str,
        callback: Any,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        body: Any = _MISSING,
        refuse: Callable[[], str | None] | None = None,
    ) -> Pending[Any]:
        """Send the request on the event loop, unless ``refuse()`` names a reason not to."""
        if not self._env.baas_url:
            return self._fail(
                "Bad Request", "No baasUrl: X-Kinvey-App-Metadata must carry the backend's baasUrl", callback
            )
        reason = refuse() if refuse is not None else None
        if reason is not None:
            return self._fail("Not Allowed", reason, callback)
        request_headers = headers if headers is not None else self._headers()
        runtime = self._env.runtime

        def call() -> Awaitable[Any]:
            if body is _MISSING:
                return runtime.request(method, url, headers=request_headers, params=params)
            return runtime.request(method, url, headers=request_headers, params=params, body=body)

        return runtime.submit(call, callback)

    @staticmethod
    def _query_params(query: Any) -> dict[str, str] | None:
        if query is None:
            return None
        if isinstance(query, Query):
            return query.toQueryString()
        if isinstance(query, dict):
            return Query({"filter": query}).toQueryString()
        raise TypeError("query must be a modules.Query (or a filter dict)")
