"""Signed links: what a token covers, expiry and refusal of anything altered."""

from __future__ import annotations

import pytest

from kinbase.core.files.signing import LinkExpired, LinkInvalid, LinkSigner


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_link_covers_purpose_app_file_and_version() -> None:
    clock = Clock()
    signer = LinkSigner(lambda: b"k" * 32, clock)
    link = signer.sign("download", "kid_a", "file1", "v1", 60)
    assert link.expires == 1_000_060 and link.token.startswith("v1.1000060.")
    assert signer.verify("download", "kid_a", "file1", link.token).version == "v1"
    for purpose, app, file_id in (
        ("upload", "kid_a", "file1"),
        ("download", "kid_b", "file1"),
        ("download", "kid_a", "file2"),
    ):
        with pytest.raises(LinkInvalid):
            signer.verify(purpose, app, file_id, link.token)  # type: ignore[arg-type]
    other_secret = LinkSigner(lambda: b"x" * 32, clock)
    with pytest.raises(LinkInvalid):
        other_secret.verify("download", "kid_a", "file1", link.token)


def test_expiry_and_links_that_never_expire() -> None:
    clock = Clock()
    signer = LinkSigner(lambda: b"k" * 32, clock)
    short = signer.sign("download", "kid_a", "f", "v", 10)
    forever = signer.sign("download", "kid_a", "f", "v", None)
    assert forever.expires == 0
    clock.now += 10
    with pytest.raises(LinkExpired):
        signer.verify("download", "kid_a", "f", short.token)
    clock.now += 10 * 365 * 86400
    assert signer.verify("download", "kid_a", "f", forever.token).expires == 0


@pytest.mark.parametrize(
    "token", [None, "", "a.b.c", "v.1.short", "v.-1." + "A" * 43, "v 1." + "A" * 43, "v.1." + "A" * 44]
)
def test_malformed_tokens(token: str | None) -> None:
    with pytest.raises(LinkInvalid):
        LinkSigner(lambda: b"k" * 32).verify("download", "kid_a", "f", token)


def test_every_altered_field_is_refused() -> None:
    signer = LinkSigner(lambda: b"k" * 32)
    version, expires, signature = signer.sign("upload", "kid_a", "f", "v9", 60).token.split(".")
    flipped = signature[:5] + ("B" if signature[5] == "A" else "A") + signature[6:]
    for token in (
        f"{version}.{expires}.{flipped}",
        f"v8.{expires}.{signature}",
        f"{version}.{int(expires) + 1}.{signature}",
    ):
        with pytest.raises(LinkInvalid):
            signer.verify("upload", "kid_a", "f", token)
