"""What every Flex call made for a Kinvey request shares: the service of the configuration, and
the :class:`~kinbase.core.flex.wire.FlexContext` built from the request (kinbase's ``baasUrl``,
the client's headers, the user id and name, the request id).

The user name (``X-Kinvey-Username``) is read from the users service here, so that requests
without business logic never pay for it; it is kept a few seconds per user, so a request that
runs a pre-hook, a data link and a post-hook reads it once.
"""

from __future__ import annotations

import time

import orjson

from kinbase.core.flex.service import BoundService, FlexService
from kinbase.core.flex.wire import FlexContext
from kinbase.core.kinvey.pipeline import KinveyRequest, Operation
from kinbase.core.kinvey.users import UserService
from kinbase.storage.base import AppRecord

__all__ = ["METHODS", "FlexCalls"]

METHODS = {
    Operation.LIST: "GET",
    Operation.GET: "GET",
    Operation.COUNT: "GET",
    Operation.GROUP: "POST",
    Operation.DELTASET: "GET",
    Operation.CREATE: "POST",
    Operation.INSERT_MANY: "POST",
    Operation.SAVE: "PUT",
    Operation.DELETE: "DELETE",
    Operation.DELETE_WHERE: "DELETE",
    Operation.CUSTOM: "POST",
}
"""The client's HTTP method of each operation (the ``method`` a Flex handler sees)."""

_NAME_SECONDS = 5.0
_NAME_ENTRIES = 10_000


class FlexCalls:
    """The Flex services of the apps, and the context of the calls made for a request."""

    def __init__(self, flex: FlexService, users: UserService) -> None:
        self.flex = flex
        self._users = users
        self._names: dict[tuple[int, str], tuple[float, str]] = {}

    async def service(self, app: AppRecord, name: str) -> BoundService:
        """Raises:
        KinveyError: MissingConfiguration if the app declares no such service.
        """
        return await self.flex.service(app, name)

    async def context(self, request: KinveyRequest) -> FlexContext:
        """The context of a call made on behalf of ``request``."""
        user_id = request.caller.user_id
        username = await self._username(request.app, user_id) if user_id is not None else None
        return FlexContext(
            app=request.app,
            baas_url=self.flex.baas_url(request.base_url),
            original_headers=request.headers,
            username=username,
            user_id=user_id,
            request_id=request.request_id,
        )

    async def _username(self, app: AppRecord, user_id: str) -> str:
        key = (app.id, user_id)
        now = time.monotonic()
        cached = self._names.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        stored = await self._users.stored(app, user_id)
        name = ""
        if stored is not None:
            found = orjson.loads(stored.data).get("username")
            name = found if isinstance(found, str) else ""
        if len(self._names) >= _NAME_ENTRIES:
            self._names.clear()
        self._names[key] = (now + _NAME_SECONDS, name)
        return name
