"""API keys: digests, header forms, scope checks."""

from __future__ import annotations

import hashlib

import pytest
from starlette.authentication import AuthenticationError

from gateway.auth import KeyRing, new_key, presented_key
from gateway.settings import ApiKeySettings
from tests.support.credentials import BASIC_CREDENTIALS, fresh_key

KEY_ONE, KEY_TWO, KEY_THREE = (fresh_key() for _ in range(3))


def ring(*keys: tuple[str, str, tuple[str, ...]]) -> KeyRing:
    return KeyRing(
        ApiKeySettings(name=name, sha256=hashlib.sha256(key.encode()).hexdigest(), scopes=scopes)  # type: ignore[arg-type]
        for name, key, scopes in keys
    )


def test_a_key_is_found_by_its_digest() -> None:
    keys = ring(("fe", KEY_ONE, ("orders:read",)), ("ops", KEY_TWO, ("orders:read", "orders:admin")))
    found = keys.find(KEY_TWO)
    assert found is not None and found.name == "ops" and "orders:admin" in found.scopes
    assert keys.find(KEY_THREE) is None
    assert keys.find("") is None


def test_new_keys_are_random_and_match_their_digest() -> None:
    (a, digest_a), (b, _) = new_key(), new_key()
    assert a != b and len(a) > 40
    assert hashlib.sha256(a.encode()).hexdigest() == digest_a


@pytest.mark.parametrize(
    ("authorization", "x_api_key", "expected"),
    [
        ("Bearer abc", None, "abc"),
        ("bearer   abc  ", None, "abc"),
        (None, "abc", "abc"),
        (None, None, None),
        ("Bearer abc", "other", "abc"),
    ],
)
def test_presented_key_forms(authorization: str | None, x_api_key: str | None, expected: str | None) -> None:
    assert presented_key(authorization, x_api_key) == expected


@pytest.mark.parametrize(
    ("authorization", "x_api_key"),
    [
        (f"Basic {BASIC_CREDENTIALS}", None),
        ("Bearer", None),
        ("Token abc", None),
        (None, " "),
        ("Bearer " + "x" * 600, None),
    ],
    ids=["basic", "bearer-alone", "token-scheme", "blank-x-api-key", "too-long"],
)
def test_malformed_credentials_are_authentication_errors(
    authorization: str | None, x_api_key: str | None
) -> None:
    with pytest.raises(AuthenticationError):
        presented_key(authorization, x_api_key)
