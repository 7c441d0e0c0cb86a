"""The GatewayError tree: every failure the gateway reports, with its problem type and status.

::

    GatewayError                      500 internal
    ├── ClientError
    │   ├── InvalidQueryError         400 invalid-query
    │   ├── InvalidCursorError        400 invalid-cursor
    │   ├── InvalidBodyError          400 invalid-body           (not JSON, too deep, bad Idempotency-Key)
    │   ├── InvalidHeaderError        400 invalid-header         (+ header: its name)
    │   ├── ClientTimeoutError        408 request-timeout        (headers or body sent too slowly)
    │   ├── PayloadTooLargeError      413 payload-too-large
    │   ├── UriTooLongError           414 uri-too-long
    │   ├── UnsupportedMediaTypeError 415 unsupported-media-type
    │   ├── HeadersTooLargeError      431 headers-too-large      (answered by the server, gateway/server.py)
    │   ├── ValidationFailedError     422 validation-failed      (+ errors: field list)
    │   ├── NotAuthenticatedError     401 not-authenticated
    │   ├── ForbiddenError            403 missing-scope
    │   ├── NotFoundError             404 not-found              (unknown route)
    │   │   └── OrderNotFoundError    404 order-not-found        (also: instance not allowed)
    │   ├── MethodNotAllowedError     405 method-not-allowed
    │   ├── ActionNotAllowedError     409 action-not-allowed
    │   ├── UnsupportedActionError    422 unsupported-action
    │   ├── IdempotencyConflictError  422 idempotency-key-reused
    │   │   └── RequestInProgressError    409 request-in-progress
    │   └── RateLimitedError          429 rate-limited           (+ Retry-After)
    ├── StoreUnavailableError         503 store-unavailable      (+ Retry-After; Redis unreachable)
    └── UpstreamError                 502 upstream-error         (+ provider, upstream_status)
        ├── UpstreamAuthError         502 upstream-auth          (never 401 to our caller)
        ├── UpstreamUnreachableError  502 upstream-unreachable   (refused, reset, dropped, TLS refused)
        ├── UpstreamBadResponseError  502 upstream-bad-response  (5xx, garbage, wrong shape, too large)
        ├── UpstreamTimeoutError      504 upstream-timeout
        │   └── OutcomeUncertainError 504 upstream-timeout       (+ outcome: "uncertain")
        ├── CircuitOpenError          503 circuit-open           (+ Retry-After)
        ├── ScanLimitError            502 scan-limit             (sort needs a longer upstream scan)
        └── AllUpstreamsFailedError   502 / 504

Each class declares its problem ``type`` (a slug under ``PROBLEM_BASE``), ``status`` and
``title``. The ``detail`` is always text we wrote: an upstream's own words, hostnames and
credentials go to the log through ``raise ... from exc``, never into a response.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from pydantic import ValidationError as PydanticValidationError

PROBLEM_BASE = "https://errors.order-gateway.dev/"


class GatewayError(Exception):
    """Base of every error the gateway renders as an ``application/problem+json`` answer."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "internal"
    title: ClassVar[str] = "Internal error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
    ) -> None:
        self.detail = detail or self.title
        self.headers: dict[str, str] = dict(headers or {})
        self.extensions: dict[str, Any] = dict(extensions or {})
        super().__init__(self.detail)

    @property
    def status_code(self) -> int:
        """The HTTP status of this instance (a few classes vary it per instance)."""
        return self.status

    @property
    def type_uri(self) -> str:
        return PROBLEM_BASE + self.type


class ClientError(GatewayError):
    """The request itself is wrong; retrying it unchanged will fail the same way."""

    status = 400
    type = "bad-request"
    title = "Bad request"


class InvalidQueryError(ClientError):
    """A query parameter is unknown or has a value we cannot use."""

    status = 400
    type = "invalid-query"
    title = "Invalid query parameter"

    def __init__(self, detail: str, *, parameter: str | None = None) -> None:
        extensions = {"errors": [{"loc": ["query", parameter], "msg": detail}]} if parameter else None
        super().__init__(detail, extensions=extensions)
        self.parameter = parameter


class InvalidCursorError(ClientError):
    """The cursor is forged, expired, or belongs to another query or caller."""

    status = 400
    type = "invalid-cursor"
    title = "Invalid cursor"


class InvalidBodyError(ClientError):
    """The request body (or a header that qualifies it) cannot be read at all."""

    status = 400
    type = "invalid-body"
    title = "Invalid request body"


class InvalidHeaderError(ClientError):
    """A request header has a value we cannot use; ``header`` names it (never echoes the value)."""

    status = 400
    type = "invalid-header"
    title = "Invalid header"

    def __init__(self, detail: str, *, header: str) -> None:
        super().__init__(detail, extensions={"header": header})
        self.header = header


class ClientTimeoutError(ClientError):
    """The caller sent its request's headers or body too slowly (``server.header_timeout_s``,
    ``server.body_timeout_s``); the connection is closed after the answer."""

    status = 408
    type = "request-timeout"
    title = "Request not received in time"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"Connection": "close"})


class PayloadTooLargeError(ClientError):
    """The body is larger than the gateway accepts."""

    status = 413
    type = "payload-too-large"
    title = "Payload too large"


class UriTooLongError(ClientError):
    """The request's path and query string are longer than the gateway reads (``server.max_url_bytes``)."""

    status = 414
    type = "uri-too-long"
    title = "URI too long"


class UnsupportedMediaTypeError(ClientError):
    """The body is not in a media type this endpoint reads."""

    status = 415
    type = "unsupported-media-type"
    title = "Unsupported media type"


class HeadersTooLargeError(ClientError):
    """The request's header block is larger than the server reads (``server.max_header_bytes``)."""

    status = 431
    type = "headers-too-large"
    title = "Request header fields too large"


class ValidationFailedError(ClientError):
    """A request body failed validation; ``errors`` lists each field path and message."""

    status = 422
    type = "validation-failed"
    title = "Validation failed"

    def __init__(self, detail: str, *, errors: Sequence[Mapping[str, Any]]) -> None:
        super().__init__(detail, extensions={"errors": [dict(e) for e in errors]})

    @classmethod
    def from_pydantic(
        cls, exc: PydanticValidationError, detail: str, prefix: Sequence[str | int] = ()
    ) -> ValidationFailedError:
        """Pydantic's errors as ours: each path under ``body`` (then ``prefix``), no input values."""
        errors = [
            {"loc": ["body", *prefix, *error["loc"]], "msg": error["msg"]}
            for error in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        return cls(detail, errors=errors)


class NotAuthenticatedError(ClientError):
    """No API key, or one we do not know."""

    status = 401
    type = "not-authenticated"
    title = "Not authenticated"

    def __init__(self, detail: str = "A valid API key is required.") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": 'Bearer realm="order-gateway"'})


class ForbiddenError(ClientError):
    """The key is valid but lacks the scope this operation needs."""

    status = 403
    type = "missing-scope"
    title = "Missing scope"


class NotFoundError(ClientError):
    """No such route or resource."""

    status = 404
    type = "not-found"
    title = "Not found"


class OrderNotFoundError(NotFoundError):
    """No such order — or it lives at an instance this caller may not see (never 403)."""

    status = 404
    type = "order-not-found"
    title = "Order not found"


class MethodNotAllowedError(ClientError):
    """The route exists but not with this HTTP method."""

    status = 405
    type = "method-not-allowed"
    title = "Method not allowed"


class ActionNotAllowedError(ClientError):
    """The action exists for this kind of order but not in the order's current state."""

    status = 409
    type = "action-not-allowed"
    title = "Action not allowed in this state"


class UnsupportedActionError(ClientError):
    """The action does not exist for this kind of provider or order."""

    status = 422
    type = "unsupported-action"
    title = "Unsupported action"


class IdempotencyConflictError(ClientError):
    """An ``Idempotency-Key`` was used before with another request (422)."""

    status = 422
    type = "idempotency-key-reused"
    title = "Idempotency key reused with another request"


class RequestInProgressError(IdempotencyConflictError):
    """The first request with this ``Idempotency-Key`` is still being processed (409)."""

    status = 409
    type = "request-in-progress"
    title = "Request in progress"


class RateLimitedError(ClientError):
    """The caller's key ran out of tokens."""

    status = 429
    type = "rate-limited"
    title = "Too many requests"

    def __init__(self, detail: str, *, retry_after: int) -> None:
        super().__init__(detail, headers={"Retry-After": str(max(1, retry_after))})


class StoreUnavailableError(GatewayError):
    """The shared state store (Redis) did not answer: a keyed write is refused, not risked twice."""

    status = 503
    type = "store-unavailable"
    title = "Shared state store unavailable"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"Retry-After": "1"})


class UpstreamError(GatewayError):
    """An upstream failed us; ``provider`` names the instance, ``upstream_status`` its status."""

    status = 502
    type = "upstream-error"
    title = "Upstream error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        provider: str | None = None,
        upstream_status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        extensions: dict[str, Any] = {}
        if provider is not None:
            extensions["provider"] = provider
        if upstream_status is not None:
            extensions["upstream_status"] = upstream_status
        super().__init__(detail, headers=headers, extensions=extensions)
        self.provider = provider
        self.upstream_status = upstream_status


class UpstreamAuthError(UpstreamError):
    """The upstream refused the gateway's own credentials: an operator problem, not the caller's."""

    status = 502
    type = "upstream-auth"
    title = "Upstream refused the gateway's credentials"


class UpstreamUnreachableError(UpstreamError):
    """We could not talk to the upstream: connection refused, reset or dropped mid-answer."""

    status = 502
    type = "upstream-unreachable"
    title = "Upstream unreachable"


class UpstreamBadResponseError(UpstreamError):
    """The upstream answered something we cannot use: 5xx, garbage, or the wrong shape."""

    status = 502
    type = "upstream-bad-response"
    title = "Upstream answered badly"


class UpstreamTimeoutError(UpstreamError):
    """The upstream did not answer within its budget."""

    status = 504
    type = "upstream-timeout"
    title = "Upstream timed out"


class OutcomeUncertainError(UpstreamTimeoutError):
    """A create timed out after the upstream may have accepted it: retry with the same
    Idempotency-Key, and the gateway looks the order up before creating again."""

    def __init__(self, detail: str, *, provider: str | None = None) -> None:
        super().__init__(detail, provider=provider)
        self.extensions["outcome"] = "uncertain"


class CircuitOpenError(UpstreamError):
    """The instance's circuit breaker is open; we did not call it."""

    status = 503
    type = "circuit-open"
    title = "Upstream circuit open"


class ScanLimitError(UpstreamError):
    """The sort asked for needs more upstream pages than one request may read at this instance."""

    status = 502
    type = "scan-limit"
    title = "Provider listing too large for this sort"


class AllUpstreamsFailedError(UpstreamError):
    """Every instance asked failed: 504 when they all timed out, else 502."""

    status = 502
    type = "all-upstreams-failed"
    title = "Every upstream failed"

    def __init__(self, detail: str, *, all_timed_out: bool) -> None:
        super().__init__(detail)
        self.all_timed_out = all_timed_out

    @property
    def status_code(self) -> int:
        return 504 if self.all_timed_out else 502


def all_error_classes() -> list[type[GatewayError]]:
    """Every class of the tree, root first (for completeness tests and the problem catalogue)."""
    found: list[type[GatewayError]] = []
    pending: list[type[GatewayError]] = [GatewayError]
    while pending:
        cls = pending.pop(0)
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found
