"""FlexAuth calls for the MIC authorization server
(:class:`~kinbase.core.mic.identity.FlexAuthClient`): the raw answer of ``POST /_auth/<handler>``
of a service the app declares, through the app's pooled client."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kinbase.core.flex.service import FlexService
from kinbase.core.flex.wire import FlexContext
from kinbase.core.mic.identity import FlexAuthReply
from kinbase.storage.base import AppRecord

__all__ = ["FlexAuthCalls"]


class FlexAuthCalls:
    def __init__(self, flex: FlexService) -> None:
        self._flex = flex

    async def flex_auth(
        self, app: AppRecord, service: str, handler: str, body: Mapping[str, Any]
    ) -> FlexAuthReply:
        """Raises:
        KinveyError: MissingConfiguration (no such service), BLTimeoutError, BLInternalError,
            BLRuntimeError (see :mod:`kinbase.core.flex.client`).
        """
        bound = await self._flex.service(app, service)
        reply = await bound.auth_raw(FlexContext(app, self._flex.baas_url()), handler, dict(body))
        return FlexAuthReply(reply.status, reply.body)
