"""API keys: sha256 digests compared in constant time, the Principal they grant, scope checks."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from starlette.authentication import AuthCredentials, AuthenticationBackend, AuthenticationError, BaseUser
from starlette.requests import HTTPConnection, Request

from gateway.errors import ForbiddenError, NotAuthenticatedError
from gateway.principal import Principal
from gateway.settings import ApiKeySettings

KEY_PREFIX = "ogw_"
MAX_KEY_LENGTH = 512


@dataclass(frozen=True, slots=True)
class _StoredKey:
    digest: bytes
    principal: Principal


class KeyRing:
    """The configured keys; looks a presented key up by its digest without early exit."""

    def __init__(self, keys: Iterable[ApiKeySettings]) -> None:
        self._keys = tuple(
            _StoredKey(
                digest=bytes.fromhex(k.sha256),
                principal=Principal(
                    name=k.name,
                    scopes=frozenset(k.scopes),
                    providers=None if k.providers is None else frozenset(k.providers),
                ),
            )
            for k in keys
        )

    def find(self, presented: str) -> Principal | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found: Principal | None = None
        # Compare with every key so timing does not tell which (or whether an early) key matched.
        for stored in self._keys:
            if hmac.compare_digest(digest, stored.digest):
                found = stored.principal
        return found


class ApiKeyBackend(AuthenticationBackend):
    """Starlette authentication backend: ``Authorization: Bearer <key>`` or ``X-API-Key``."""

    def __init__(self, ring: KeyRing) -> None:
        self._ring = ring

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, BaseUser] | None:
        presented = presented_key(conn.headers.get("authorization"), conn.headers.get("x-api-key"))
        if presented is None:
            return None
        principal = self._ring.find(presented)
        if principal is None:
            raise AuthenticationError("The API key is not valid.")
        # Principal is a structural BaseUser (is_authenticated, display_name), kept framework-free.
        return AuthCredentials(sorted(principal.scopes)), cast(BaseUser, principal)


def presented_key(authorization: str | None, x_api_key: str | None) -> str | None:
    """The key a request carries, None when it carries none; a malformed header is an error."""
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("Use 'Authorization: Bearer <key>' or 'X-API-Key: <key>'.")
        key = value.strip()
    elif x_api_key is not None:
        key = x_api_key.strip()
        if not key:
            raise AuthenticationError("The X-API-Key header is empty.")
    else:
        return None
    if len(key) > MAX_KEY_LENGTH:
        raise AuthenticationError("The API key is not valid.")
    return key


def require_scope(request: Request, scope: str) -> Principal:
    """The request's principal if it holds ``scope``: 401 without a key, 403 without the scope."""
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        raise NotAuthenticatedError()
    if scope not in user.scopes:
        raise ForbiddenError(f"This operation needs the '{scope}' scope.")
    return user


def new_key() -> tuple[str, str]:
    """A fresh random key and its sha256 hex digest."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    return key, hashlib.sha256(key.encode()).hexdigest()
