"""API keys: sha256 digests compared in constant time, the Principal they grant, scope checks,
and the middleware that authenticates each request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.authentication import AuthCredentials, AuthenticationError, UnauthenticatedUser
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import ForbiddenError, NotAuthenticatedError
from gateway.principal import Principal
from gateway.settings import ApiKeySettings

KEY_PREFIX = "ogw_"
MAX_KEY_LENGTH = 512

ErrorRenderer = Callable[[HTTPConnection, AuthenticationError], Response]


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid key grants: its principal, and its scopes as Starlette's credentials."""

    principal: Principal
    credentials: AuthCredentials


@dataclass(frozen=True, slots=True)
class _StoredKey:
    digest: bytes
    grant: Grant


class KeyRing:
    """The configured keys; looks a presented key up by its digest without early exit."""

    def __init__(self, keys: Iterable[ApiKeySettings]) -> None:
        self._keys = tuple(_stored(k) for k in keys)

    def grant(self, presented: str) -> Grant | None:
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found: Grant | None = None
        # Compare with every key so timing does not tell which (or whether an early) key matched.
        for stored in self._keys:
            if hmac.compare_digest(digest, stored.digest):
                found = stored.grant
        return found

    def find(self, presented: str) -> Principal | None:
        grant = self.grant(presented)
        return grant.principal if grant is not None else None


def _stored(key: ApiKeySettings) -> _StoredKey:
    principal = Principal(
        name=key.name,
        scopes=frozenset(key.scopes),
        providers=None if key.providers is None else frozenset(key.providers),
    )
    # Built once: Starlette's credentials list the scopes, sorted.
    grant = Grant(principal, AuthCredentials(sorted(principal.scopes)))
    return _StoredKey(bytes.fromhex(key.sha256), grant)


class ApiKeyMiddleware:
    """``Authorization: Bearer <key>`` or ``X-API-Key``: sets ``scope["user"]`` to the key's
    Principal (``UnauthenticatedUser`` without a key) and ``scope["auth"]`` to its scopes; a
    key that is malformed or unknown is answered by ``on_error`` (a 401 problem).

    What Starlette's ``AuthenticationMiddleware`` with a backend did, read straight off the raw
    headers: that one built a connection and its header map on every request."""

    def __init__(self, app: ASGIApp, *, ring: KeyRing, on_error: ErrorRenderer) -> None:
        self.app = app
        self._ring = ring
        self._on_error = on_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            grant = self._authenticate(scope)
        except AuthenticationError as exc:
            response = self._on_error(HTTPConnection(scope), exc)
            await response(scope, receive, send)
            return
        if grant is None:
            scope["auth"], scope["user"] = AuthCredentials(), UnauthenticatedUser()
        else:
            scope["auth"], scope["user"] = grant.credentials, grant.principal
        await self.app(scope, receive, send)

    def _authenticate(self, scope: Scope) -> Grant | None:
        """The grant of the request's key; None without a key. AuthenticationError for a
        malformed header or an unknown key."""
        presented = presented_key(*key_headers(scope["headers"]))
        if presented is None:
            return None
        grant = self._ring.grant(presented)
        if grant is None:
            raise AuthenticationError("The API key is not valid.")
        return grant


def key_headers(headers: Iterable[tuple[bytes, bytes]]) -> tuple[str | None, str | None]:
    """The first ``Authorization`` and ``X-API-Key`` values among raw ASGI headers."""
    authorization: str | None = None
    x_api_key: str | None = None
    for name, value in headers:
        if name == b"authorization":
            if authorization is None:
                authorization = value.decode("latin-1")
        elif name == b"x-api-key" and x_api_key is None:
            x_api_key = value.decode("latin-1")
    return authorization, x_api_key


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
