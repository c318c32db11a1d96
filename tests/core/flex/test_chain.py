"""The recursion guard of Flex callbacks: signed chains in the callback URL, circular and too deep
chains refused, the front-end's handling of ``/_flex/<token>/...`` (the chain header is never
taken from a client), and the skip of business logic a callback may ask for."""

from __future__ import annotations

from typing import Any

import pytest

from kinbase.core.flex import chain
from kinbase.core.flex.chain import CHAIN_HEADER, MAX_DEPTH
from kinbase.core.kinvey.access import Caller
from kinbase.core.kinvey.errors import KinveyError
from kinbase.core.kinvey.pipeline import KinveyRequest, Operation
from kinbase.core.services import Core
from kinbase.frontends.kinvey.render import WIRE
from kinbase.storage.base import AppRecord
from tests.frontends.kinvey.conftest import Kinvey, error_of

pytestmark = pytest.mark.anyio

SECRET = b"k" * 32


@pytest.fixture
def kv(client: Any, app: AppRecord) -> Kinvey:
    return Kinvey(client, app)


def test_tokens_are_signed_and_url_safe() -> None:
    links = ("function svc/hop (customEndpoint hopA)", "data svc/things", "é/ü ?#")
    token = chain.sign(SECRET, links)
    assert "/" not in token and "?" not in token and token.isascii()
    assert chain.verify(SECRET, token) == links
    assert chain.verify(b"x" * 32, token) is None
    payload, _, signature = token.partition(".")
    forged = chain.sign(SECRET, ("other",)).partition(".")[0]
    assert chain.verify(SECRET, f"{forged}.{signature}") is None
    for bad in ("", "nodot", payload, f"{payload}.", "a" * 5000):
        assert chain.verify(SECRET, bad) is None
    assert chain.callback_base("http://h:1/", SECRET, links) == f"http://h:1/_flex/{token}"
    assert chain.links_of({CHAIN_HEADER: chain.encode_header(links)}) == links
    assert chain.links_of({}) == () and chain.links_of({CHAIN_HEADER: "{bad"}) == ()
    assert chain.links_of({CHAIN_HEADER: '{"a": 1}'}) == ()


def test_circular_and_deep_chains_are_refused() -> None:
    links: tuple[str, ...] = ()
    for n in range(MAX_DEPTH):
        links = chain.extend(links, f"link {n}")
    with pytest.raises(KinveyError) as deep:
        chain.extend(links, "one more")
    assert deep.value.name == "BLViolationError" and "Too many nested" in str(deep.value.debug)
    with pytest.raises(KinveyError) as circular:
        chain.extend(links[:2], "link 0")
    assert circular.value.name == "BLViolationError" and "Circular request" in str(circular.value.debug)


def _request(app: AppRecord, caller: Caller, headers: dict[str, str]) -> KinveyRequest:
    return KinveyRequest(app, caller, Operation.LIST, "c", WIRE, headers=headers, skip_business_logic=True)


async def test_a_callback_may_skip_business_logic_with_user_credentials(app: AppRecord) -> None:
    other = Caller.app()  # not the master secret (a user's session behaves alike)
    assert _request(app, other, {}).business_logic is True  # a client's own request
    assert _request(app, other, {CHAIN_HEADER: "[]"}).business_logic is False  # a Flex callback
    assert _request(app, Caller.master(), {}).business_logic is False


async def test_the_front_end_serves_signed_callback_urls_only(kv: Kinvey, core: Core) -> None:
    created = await kv.post("/appdata/{k}/books", json={"_id": "b1"})
    assert created.status_code == 201
    token = chain.sign(core.secret, ("function svc/f (customEndpoint e)",))
    through = await kv.get(f"/_flex/{token}/appdata/{{k}}/books/b1")
    assert through.status_code == 200 and through.json()["_id"] == "b1"
    count = await kv.get(f"/_flex/{token}/appdata/{{k}}/books/_count")
    assert count.json() == {"count": 1}
    forged = chain.sign(b"not the server secret" * 2, ("x",))
    refused = await kv.get(f"/_flex/{forged}/appdata/{{k}}/books/b1")
    assert refused.status_code == 400 and error_of(refused) == "BadRequest"
    assert "not issued by this server" in refused.json()["debug"]
    nothing = await kv.get(f"/_flex/{token}")
    assert nothing.status_code == 404 and error_of(nothing) == "EntityNotFound"
    unknown = await kv.get(f"/_flex/{token}/appdata/{{k}}/books/b1/deeper")
    assert error_of(unknown) == "EntityNotFound"


async def test_the_chain_header_is_never_taken_from_a_client(kv: Kinvey, core: Core) -> None:
    seen: list[dict[str, str]] = []
    original = core.kinvey.pipeline.run

    async def spy(request: KinveyRequest) -> Any:
        seen.append(dict(request.headers))
        return await original(request)

    core.kinvey.pipeline.run = spy  # type: ignore[method-assign]
    try:
        await kv.get("/appdata/{k}/books", headers={CHAIN_HEADER: '["forged"]'})
        token = chain.sign(core.secret, ("real",))
        await kv.get(f"/_flex/{token}/appdata/{{k}}/books", headers={CHAIN_HEADER: '["forged"]'})
    finally:
        core.kinvey.pipeline.run = original  # type: ignore[method-assign]
    assert CHAIN_HEADER not in seen[0]
    assert seen[1][CHAIN_HEADER] == '["real"]'
