"""``Backoff`` and ``backoff_percentage``: Kinto sends the header to a random share of responses."""

from __future__ import annotations

import itertools
import random

import pytest

from kinbase.core.kinto.config import KintoConfig, parse_config
from kinbase.errors import ConfigurationError
from kinbase.frontends.kinto import frontend
from kinbase.frontends.kinto.frontend import backoff

pytestmark = pytest.mark.anyio


async def test_backoff_on_every_response_at_100_percent(make_kinto) -> None:
    kinto = await make_kinto(backoff=30, backoff_percentage=100)
    for _ in range(20):
        r = await kinto.get("/buckets", "alice")
        assert r.headers["backoff"] == "30"
    r = await kinto.get("/buckets/missing/collections", "alice")
    assert r.status_code == 403 and r.headers["backoff"] == "30"


async def test_no_backoff_at_0_percent(make_kinto) -> None:
    kinto = await make_kinto(backoff=30, backoff_percentage=0)
    for _ in range(20):
        r = await kinto.get("/buckets", "alice")
        assert r.status_code == 200 and "backoff" not in r.headers


async def test_backoff_follows_the_random_draw(make_kinto, monkeypatch: pytest.MonkeyPatch) -> None:
    kinto = await make_kinto(backoff=10, backoff_percentage=50)
    draws = itertools.cycle([0.1, 0.49, 0.5, 0.9])
    monkeypatch.setattr(frontend, "_draw", lambda: next(draws))
    sent = ["backoff" in (await kinto.get("/", "alice")).headers for _ in range(8)]
    assert sent == [True, True, False, False] * 2


def test_backoff_share_with_a_seeded_source() -> None:
    config = KintoConfig(backoff=5, backoff_percentage=25)
    draw = random.Random(1234).random
    seeded = random.Random(1234)
    expected = [seeded.random() < 0.25 for _ in range(1000)]
    got = [backoff(config, draw) == "5" for _ in range(1000)]
    assert got == expected and 200 < sum(got) < 300
    assert backoff(KintoConfig(backoff=0, backoff_percentage=100), lambda: 0.0) is None
    assert backoff(KintoConfig(backoff=5, backoff_percentage=100), lambda: 0.999999) == "5"
    assert backoff(KintoConfig(backoff=5, backoff_percentage=0), lambda: 0.0) is None


def test_backoff_percentage_is_checked() -> None:
    assert parse_config({}).backoff_percentage == 100
    with pytest.raises(ConfigurationError, match="between 0 and 100"):
        parse_config({"backoff_percentage": 101})
