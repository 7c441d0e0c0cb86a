"""Signed cursors: genuine ones round-trip, anything else is a 400 (API.md §5)."""

from __future__ import annotations

import base64

import pytest

from gateway.cursor import CursorSigner, CursorState
from gateway.errors import InvalidCursorError
from tests.support.credentials import CURSOR_SECRET, OTHER_CURSOR_SECRET

SECRET_ONE = CURSOR_SECRET.encode()
SECRET_TWO = OTHER_CURSOR_SECRET.encode()  # the secret after a rotation

STATE = CursorState(
    fingerprint="f" * 32,
    principal="ops",
    issued_at=1000,
    positions={"w": ["2025-01-01T00:00:00+00:00", "w:1"]},
)


def verify(signer: CursorSigner, token: str, **overrides: object) -> CursorState:
    args: dict[str, object] = {"fingerprint": "f" * 32, "principal": "ops", "now": 1010}
    args.update(overrides)
    return signer.verify(token, **args)  # type: ignore[arg-type]


def test_round_trip() -> None:
    signer = CursorSigner(SECRET_ONE, ttl_s=60)
    assert verify(signer, signer.sign(STATE)) == STATE


def test_previous_secret_still_verifies_after_rotation() -> None:
    old = CursorSigner(SECRET_ONE, ttl_s=60)
    rotated = CursorSigner(SECRET_TWO, [SECRET_ONE], ttl_s=60)
    assert verify(rotated, old.sign(STATE)).positions == STATE.positions
    with pytest.raises(InvalidCursorError):
        verify(CursorSigner(SECRET_TWO, ttl_s=60), old.sign(STATE))


def test_a_tampered_payload_is_rejected() -> None:
    signer = CursorSigner(SECRET_ONE, ttl_s=60)
    payload, mac = signer.sign(STATE).split(".")
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).replace(b"w:1", b"w:9")
    forged = base64.urlsafe_b64encode(data).rstrip(b"=").decode() + "." + mac
    with pytest.raises(InvalidCursorError, match="not issued"):
        verify(signer, forged)


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "!!!.???", "é.é", "x" * 5000])
def test_garbage_is_rejected(token: str) -> None:
    with pytest.raises(InvalidCursorError):
        verify(CursorSigner(b"k", ttl_s=60), token)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fingerprint": "0" * 32}, "different query"),
        ({"principal": "someone-else"}, "another API key"),
        ({"now": 1061}, "expired"),
        ({"now": 900}, "expired"),
    ],
)
def test_foreign_or_stale_cursors_are_rejected(overrides: dict[str, object], message: str) -> None:
    signer = CursorSigner(b"k", ttl_s=60)
    with pytest.raises(InvalidCursorError, match=message):
        verify(signer, signer.sign(STATE), **overrides)
