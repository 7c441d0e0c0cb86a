"""Opaque, signed list cursors: the query's fingerprint, the caller, and each instance's position."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gateway.errors import InvalidCursorError

VERSION = 1
MAX_CURSOR_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class CursorState:
    """What a cursor carries. ``positions`` maps instance → its resume point (opaque here)."""

    fingerprint: str
    principal: str
    issued_at: int
    positions: Mapping[str, Any]


class CursorSigner:
    """Signs with the current secret; verifies with it or the previous one (rotation)."""

    def __init__(self, secret: bytes, previous: Sequence[bytes] = (), *, ttl_s: int) -> None:
        self._secret = secret
        self._accepted = (secret, *previous)
        self._ttl_s = ttl_s

    def sign(self, state: CursorState) -> str:
        payload = orjson.dumps(
            {
                "v": VERSION,
                "q": state.fingerprint,
                "k": state.principal,
                "t": state.issued_at,
                "p": dict(state.positions),
            },
            option=orjson.OPT_SORT_KEYS,
        )
        mac = hmac.new(self._secret, payload, hashlib.sha256).digest()
        return _b64(payload) + "." + _b64(mac)

    def verify(self, token: str, *, fingerprint: str, principal: str, now: int) -> CursorState:
        """The state of a genuine, fresh cursor made for this query and caller; else 400."""
        if len(token) > MAX_CURSOR_LENGTH or token.count(".") != 1:
            raise InvalidCursorError("The cursor is malformed.")
        encoded_payload, encoded_mac = token.split(".")
        try:
            payload = _unb64(encoded_payload)
            mac = _unb64(encoded_mac)
        except ValueError:
            raise InvalidCursorError("The cursor is malformed.") from None
        if not any(
            hmac.compare_digest(mac, hmac.new(secret, payload, hashlib.sha256).digest())
            for secret in self._accepted
        ):
            raise InvalidCursorError("The cursor was not issued by this gateway.")
        try:
            data = orjson.loads(payload)
            state = CursorState(
                fingerprint=str(data["q"]),
                principal=str(data["k"]),
                issued_at=int(data["t"]),
                positions=dict(data["p"]),
            )
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            raise InvalidCursorError("The cursor is malformed.") from None
        if data.get("v") != VERSION:
            raise InvalidCursorError("The cursor is from an older gateway version; start again.")
        if state.fingerprint != fingerprint:
            raise InvalidCursorError("The cursor belongs to a different query; keep filters and sort.")
        if state.principal != principal:
            raise InvalidCursorError("The cursor was issued to another API key.")
        if not 0 <= now - state.issued_at <= self._ttl_s:
            raise InvalidCursorError("The cursor has expired; start the listing again.")
        return state


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64") from exc
