from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import kinbase_flex
from kinbase_flex.testing import FlexTestClient

SECRET = "s3cret"


@pytest.fixture
def flex() -> kinbase_flex.FlexService:
    """A service with a shared secret and a short handler timeout."""
    return kinbase_flex.service(shared_secret=SECRET, handler_timeout=1.0, backend_timeout=1.0)


@pytest.fixture
def client(flex: kinbase_flex.FlexService, flex_client: Callable[..., FlexTestClient]) -> FlexTestClient:
    return flex_client(flex)


def reply(context: Any, complete: Any, modules: Any) -> None:
    """A handler that answers with its own context."""
    complete().setBody({"context": context}).ok().done()
