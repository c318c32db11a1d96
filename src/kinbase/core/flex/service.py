"""The Flex services of every app, and the typed calls kinbase makes to them.

:meth:`FlexService.service` gives a :class:`BoundService` for a service the app's configuration
declares; its methods are the calls of ``specs/flex-protocol.md``: FlexData (§3), FlexFunctions
(§4), FlexAuth (§5), discovery and health (§6). The HTTP clients (one per app and service) are
kept per worker and replaced when the service's configuration changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import quote

from kinbase.core.appconfig import AppConfigService
from kinbase.core.appconfig.model import FlexServiceConfig
from kinbase.core.flex import chain
from kinbase.core.flex.client import CallObserver, FlexHttpClient
from kinbase.core.flex.wire import (
    AuthResult,
    DataReply,
    Discovery,
    FlexContext,
    FunctionResult,
    FunctionTask,
    auth_result,
    discovery,
    function_result,
    malformed,
    task_headers,
)
from kinbase.core.kinvey.errors import KinveyError
from kinbase.settings import Settings
from kinbase.storage.base import AppRecord

__all__ = ["BoundService", "FlexService", "baas_url"]

DataMethod = Literal["GET", "POST", "PUT", "DELETE"]


def baas_url(settings: Settings, request_base: str | None = None) -> str:
    """kinbase's own URL as a Flex service must call it back (``baasUrl``): ``public_url`` if set,
    else the base URL of the request being served, else the address the server listens on."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if request_base:
        return request_base.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # nosec B104: compares the setting to wildcards; nothing binds here
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}"


def _segment(name: str) -> str:
    return quote(name, safe="")


class BoundService:
    """One declared Flex service of one app."""

    def __init__(
        self,
        name: str,
        config: FlexServiceConfig,
        client: FlexHttpClient,
        secret: Callable[[], bytes] | None = None,
    ) -> None:
        self.name = name
        self.config = config
        self._client = client
        self._secret = secret

    def _headers(self, context: FlexContext, link: str) -> dict[str, str]:
        """The task headers, with a ``baasUrl`` that carries the chain of Flex calls extended by
        ``link`` (``kinbase.core.flex.chain``).

        Raises:
            KinveyError: BLViolationError for a circular or too deep chain.
        """
        links = chain.extend(chain.links_of(context.original_headers), link)
        if self._secret is not None:
            base = chain.callback_base(context.baas_url, self._secret(), links)
            context = dataclasses.replace(context, baas_url=base)
        return task_headers(context, self.config.secret)

    async def data(
        self,
        context: FlexContext,
        service_object: str,
        method: DataMethod,
        *,
        entity_id: str | None = None,
        count: bool = False,
        query_string: str = "",
        body: Any = None,
    ) -> DataReply:
        """A FlexData request: ``METHOD /<so>[/<id>|/_count][?<query_string>]``. The client's query
        string is forwarded verbatim (an added parameter would turn ``onGetAll`` into
        ``onGetByQuery``). The service's status and body come back as they are, 404 included.

        Raises:
            KinveyError: BLTimeoutError, BLInternalError or BLRuntimeError.
        """
        path = f"/{_segment(service_object)}"
        if count:
            path += "/_count"
        elif entity_id is not None:
            path += f"/{_segment(entity_id)}"
        headers = self._headers(context, f"data {self.name}/{service_object}")
        reply = await self._client.request(method, path, headers=headers, body=body, query=query_string)
        return DataReply(reply.status, reply.body)

    async def function(self, context: FlexContext, name: str, task: FunctionTask) -> FunctionResult:
        """A FlexFunctions request (hook, custom endpoint or scheduled run).

        Raises:
            KinveyError: BLTimeoutError, BLInternalError or BLRuntimeError; BLViolationError for
                a circular request (this function, for this object and hook, is already running
                in the chain of callbacks the request belongs to).
        """
        link = f"function {self.name}/{name} ({task.hook_type} {task.object_name})"
        reply = await self._client.request(
            "POST",
            f"/_flexFunctions/{_segment(name)}",
            headers=self._headers(context, link),
            body=task.envelope(),
        )
        return function_result(self.name, reply.status, reply.body)

    async def authenticate(
        self,
        context: FlexContext,
        handler: str,
        username: str,
        password: str,
        options: dict[str, Any] | None = None,
    ) -> AuthResult:
        """A FlexAuth login: succeeded, or refused with the handler's OAuth-style error.

        Raises:
            KinveyError: BLTimeoutError, BLInternalError or BLRuntimeError.
        """
        body = {"username": username, "password": password, "options": options or {}}
        reply = await self.auth_raw(context, handler, body)
        return auth_result(self.name, reply.status, reply.body)

    async def auth_raw(self, context: FlexContext, handler: str, body: dict[str, Any]) -> DataReply:
        """``POST /_auth/<handler>`` with ``body``: the status and JSON body as they came.

        Raises:
            KinveyError: BLTimeoutError, BLInternalError or BLRuntimeError.
        """
        reply = await self._client.request(
            "POST",
            f"/_auth/{_segment(handler)}",
            headers=self._headers(context, f"auth {self.name}/{handler}"),
            body=body,
        )
        return DataReply(reply.status, reply.body)

    async def discover(self) -> Discovery:
        """What the service offers (``POST /_command/discover``; no secret needed).

        Raises:
            KinveyError: BLTimeoutError, BLInternalError or BLRuntimeError.
        """
        reply = await self._client.request(
            "POST", "/_command/discover", headers={"Content-Type": "application/json"}, body={}
        )
        if reply.status != 200:
            raise malformed(self.name, f"discovery answered {reply.status}")
        return discovery(self.name, reply.body)

    async def healthy(self) -> bool:
        """True if ``GET /healthcheck`` answers ``{"healthy": true}`` (False on any failure)."""
        try:
            reply = await self._client.request("GET", "/healthcheck", headers={})
        except KinveyError:
            return False
        return reply.status == 200 and isinstance(reply.body, dict) and reply.body.get("healthy") is True


class FlexService:
    """The Flex services declared by each app's configuration, with their HTTP clients."""

    def __init__(
        self,
        settings: Settings,
        appconfig: AppConfigService,
        *,
        on_call: CallObserver | None = None,
        secret: Callable[[], bytes] | None = None,
    ) -> None:
        """``secret``: the server secret that signs the callback chains (None: ``baasUrl`` is
        the plain base URL, as for the CLI, which serves no callbacks)."""
        self._settings = settings
        self._secret = secret
        self._appconfig = appconfig
        self._on_call = on_call
        self._clients: dict[tuple[int, str], FlexHttpClient] = {}

    def baas_url(self, request_base: str | None = None) -> str:
        """kinbase's URL as the services must call it back (see :func:`baas_url`)."""
        return baas_url(self._settings, request_base)

    async def service(self, app: AppRecord, name: str) -> BoundService:
        """The service ``name`` of ``app``.

        Raises:
            KinveyError: MissingConfiguration if the app's configuration declares no such service.
        """
        config = (await self._appconfig.current(app)).flex_services.get(name)
        if config is None:
            raise KinveyError("MissingConfiguration", f"The app declares no Flex service {name!r}.")
        return BoundService(name, config, self._client(app.id, name, config), self._secret)

    def _client(self, app_id: int, name: str, config: FlexServiceConfig) -> FlexHttpClient:
        key = (app_id, name)
        client = self._clients.get(key)
        if client is not None and client.config == config:
            return client
        if client is not None:
            client.retire()
        client = self._clients[key] = FlexHttpClient(name, config, self._on_call)
        return client

    async def close(self) -> None:
        """Close every client (the server stops)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()
