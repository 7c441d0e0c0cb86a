"""API keys (API.md §1): only their sha256 digests are configured, and a presented key is
compared with every stored digest in constant time, whichever key (if any) it matches."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from gateway import auth
from gateway.auth import KeyRing
from gateway.settings import ApiKeySettings, ConfigError, settings_from_mapping
from tests.support.credentials import UNKNOWN_KEY, fresh_key

KEYS = [fresh_key() for _ in range(5)]
PLAINTEXT_KEY = fresh_key()  # a key written into the config in the clear: refused
PROVIDERS = {"w": {"kind": "waldur", "base_url": "http://w.test/api/", "token": "t"}}


def ring() -> KeyRing:
    return KeyRing(
        ApiKeySettings(name=f"k{n}", sha256=hashlib.sha256(key.encode()).hexdigest(), scopes=("orders:read",))
        for n, key in enumerate(KEYS)
    )


@pytest.mark.parametrize(
    "entry",
    [
        {"name": "plain", "key": PLAINTEXT_KEY, "scopes": ["orders:read"]},
        {"name": "plain", "sha256": PLAINTEXT_KEY, "scopes": ["orders:read"]},
        {"name": "upper", "sha256": "A" * 64, "scopes": ["orders:read"]},
        {"name": "short", "sha256": "a" * 63, "scopes": ["orders:read"]},
    ],
)
def test_only_sha256_hex_digests_are_accepted_in_the_config(entry: dict[str, object]) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping({"providers": PROVIDERS, "api_keys": [entry]}, env={})
    assert PLAINTEXT_KEY not in str(info.value)  # the message names the key, not the value


@pytest.mark.parametrize("presented", [KEYS[0], KEYS[-1], UNKNOWN_KEY], ids=["first", "last", "none"])
def test_every_stored_digest_is_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch, presented: str
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    compare = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return compare(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", counting)
    found = ring().find(presented)
    assert len(calls) == len(KEYS)  # no early exit on a match
    assert all(a == hashlib.sha256(presented.encode()).digest() for a, _ in calls)  # digests only
    assert (found is not None) == (presented in KEYS)


def test_a_principal_holds_no_key_material() -> None:
    principal = ring().find(KEYS[2])
    assert principal is not None and principal.name == "k2"
    assert KEYS[2] not in repr(principal) and hashlib.sha256(KEYS[2].encode()).hexdigest() not in repr(
        principal
    )
