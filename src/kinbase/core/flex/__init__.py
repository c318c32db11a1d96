"""Calling Flex services: the HTTP client per service, the wire of ``specs/flex-protocol.md``."""

from kinbase.core.flex.service import BoundService, FlexService, baas_url
from kinbase.core.flex.wire import (
    AuthResult,
    DataReply,
    Discovery,
    FlexContext,
    FunctionResult,
    FunctionTask,
)

__all__ = [
    "AuthResult",
    "BoundService",
    "DataReply",
    "Discovery",
    "FlexContext",
    "FlexService",
    "FunctionResult",
    "FunctionTask",
    "baas_url",
]
