"""The ProviderAdapter protocol, what an adapter declares it can do, and the httpx error table."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx

from gateway.adapters.retry import SAFE_METHODS, CallLimits, call_with_retries, retryable_response
from gateway.deadline import capped_remaining
from gateway.errors import (
    GatewayError,
    UpstreamBadResponseError,
    UpstreamError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from gateway.models import Health, Order
from gateway.query import Filters, SortKey
from gateway.telemetry import UpstreamHttp

FilterName = str


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What an upstream does itself; the gateway plans around it and never asks for more."""

    filters: frozenset[FilterName]  # applied by the upstream itself; the rest by the gateway
    sorts: frozenset[SortKey]  # orders the upstream can return natively
    max_page_size: int
    stable_paging: bool  # False: inserts between page fetches can shift items
    actions: frozenset[str]  # names usable at POST /orders/{id}/actions/{name}
    can_create: bool
    can_delete: bool
    # Pushed down only to narrow the answer (e.g. a date where we asked for a time): the
    # gateway applies these again itself.
    inexact_filters: frozenset[FilterName] = frozenset()
    # Of `actions`: those that need `orders:admin`, and those that only read (`orders:read`);
    # every other action needs `orders:write`.
    admin_actions: frozenset[str] = frozenset()
    read_actions: frozenset[str] = frozenset()


# The generic actions, reached at their own endpoints rather than /actions/{name}:
# POST /orders/{id}/cancel|approve|reject, DELETE /orders/{id}, GET /orders/{id}/offering|history.
GENERIC_ACTIONS = frozenset({"cancel", "approve", "reject", "delete", "offering", "history"})


@dataclass(frozen=True, slots=True)
class Upload:
    """A file a caller sent with an action (multipart part or base64 field)."""

    filename: str
    content_type: str
    content: bytes


@dataclass(frozen=True, slots=True)
class OrderDraft:
    """A validated ``POST /orders`` body (API.md §6), kind-neutral; each adapter maps and
    validates what it needs (ValidationFailedError with field paths) before any upstream call."""

    name: str | None
    service: str | None
    customer: str | None
    items: tuple[Mapping[str, Any], ...]
    parameters: Mapping[str, Any]
    provider_options: Mapping[str, Any]
    # A unique token the gateway asks the upstream to keep on the order (name, tag, slug or
    # PO number, per kind), so that after an uncertain create it can be found again.
    marker: str


@dataclass(frozen=True, slots=True)
class ActionOutcome:
    """What an action gives back: the order afterwards (None when it is gone), and/or the
    sub-resource a read-like action returns (history, metadata, offering...), JSON-able."""

    order: Order | None
    resource: Any = None


@dataclass(frozen=True, slots=True)
class ListRequest:
    """One upstream list call. ``filters`` holds only filters in ``capabilities.filters``."""

    filters: Filters
    sort: SortKey  # honoured when in capabilities.sorts; otherwise the upstream's default order
    page_size: int
    position: str | None = None  # the adapter's own continuation token, None to start


@dataclass(frozen=True, slots=True)
class ListChunk:
    """Orders of one upstream call, in the upstream's order, and how to ask for the next."""

    orders: tuple[Order, ...]
    next_position: str | None  # None when the upstream has nothing more


class ProviderAdapter(Protocol):
    """One provider instance. Every method returns a normalised value or raises GatewayError."""

    @property
    def kind(self) -> str:
        """The upstream kind: waldur, ivcap or arrow (a class attribute in each adapter)."""
        ...

    instance: str
    capabilities: Capabilities

    async def list_orders(self, request: ListRequest) -> ListChunk:
        """One chunk of orders matching ``request``."""
        ...

    async def get_order(self, native_id: str) -> Order:
        """One order by its native id; OrderNotFoundError when the upstream has none."""
        ...

    async def check_health(self) -> Health:
        """Whether the upstream answers with our credentials (never raises)."""
        ...

    async def create_order(self, draft: OrderDraft) -> Order:
        """Create one order; UnsupportedActionError where the kind cannot create."""
        ...

    async def find_created(self, draft: OrderDraft) -> Order | None:
        """The order an earlier, uncertain create of ``draft`` made, found by its marker."""
        ...

    async def perform(self, native_id: str, action: str, payload: Mapping[str, Any]) -> ActionOutcome:
        """Run a generic or provider-specific action. Wrong state → ActionNotAllowedError (409);
        impossible for this kind or order → UnsupportedActionError (422); bad payload →
        ValidationFailedError (422), raised before any upstream call."""
        ...


@contextmanager
def upstream_errors(instance: str) -> Iterator[None]:
    """Translate transport failures of one upstream call into GatewayErrors, most specific first.

    Mapped by what happened, not by the transport's label: the aiohttp transport reports a
    dropped or refused connection as ``httpx.ConnectTimeout``, so a "timeout" whose cause is
    not a timeout is a connection failure.
    """
    try:
        yield
    except GatewayError:
        raise
    except TimeoutError as exc:  # asyncio.timeout() of our own budget
        raise UpstreamTimeoutError("The provider did not answer in time.", provider=instance) from exc
    except httpx.TimeoutException as exc:
        if _is_connection_failure(exc):
            raise UpstreamUnreachableError("The provider could not be reached.", provider=instance) from exc
        raise UpstreamTimeoutError("The provider did not answer in time.", provider=instance) from exc
    except (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise UpstreamUnreachableError("The connection to the provider failed.", provider=instance) from exc
    except (httpx.DecodingError, httpx.TooManyRedirects) as exc:
        raise UpstreamBadResponseError("The provider answered badly.", provider=instance) from exc
    except httpx.HTTPError as exc:
        raise UpstreamError("The call to the provider failed.", provider=instance) from exc


class ResponseLimits(CallLimits, Protocol):
    """``CallLimits`` and the largest answer the instance may send (``max_response_bytes``)."""

    @property
    def max_response_bytes(self) -> int: ...


async def send_upstream(
    client: httpx.AsyncClient,
    instance: str,
    limits: ResponseLimits,
    method: str,
    url: str,
    *,
    retry: bool | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """One upstream call, every failure a GatewayError, retries included (``adapters/retry.py``).

    The whole call, all attempts, gets ``limits.timeout_s`` or the time left to the request's
    deadline, whichever is less; each attempt the rest of that. Safe methods (GET, HEAD,
    OPTIONS) are retried unless ``retry`` is False, others only when it is True. The last
    response is returned whatever its status, its body read: the adapter classifies it. A
    body larger than ``limits.max_response_bytes`` (decoded) is read no further and raises
    UpstreamBadResponseError. Each attempt is a client span whose ``traceparent`` goes
    upstream with it (``telemetry.py``).
    """
    budget = capped_remaining(limits.timeout_s)
    if budget <= 0:
        raise UpstreamTimeoutError(
            "The request's deadline passed before the provider was called.", provider=instance
        )
    end = time.monotonic() + budget
    http = UpstreamHttp(instance, method, url)

    async def attempt() -> httpx.Response:
        left = max(end - time.monotonic(), 0.001)
        timeout = httpx.Timeout(left, connect=min(limits.connect_timeout_s, left))
        with http.attempt() as sent:
            trace_headers = sent.trace_headers()
            headers = kwargs.get("headers")
            if trace_headers:
                headers = httpx.Headers(headers)
                headers.update(trace_headers)
            with upstream_errors(instance):
                request = client.build_request(method, url, timeout=timeout, **{**kwargs, "headers": headers})
                response = await client.send(request, stream=True)
                try:
                    await read_bounded(response, limits.max_response_bytes, instance)
                finally:
                    await response.aclose()
            sent.answered(response.status_code)
            return response

    retried = method.upper() in SAFE_METHODS if retry is None else retry
    with upstream_errors(instance):
        async with asyncio.timeout(budget):
            if not retried or limits.retry.attempts == 1:
                return await attempt()
            return await call_with_retries(
                attempt, limits.retry, end=end, instance=instance, retry_on=retryable_response
            )


async def read_bounded(response: httpx.Response, limit: int, instance: str) -> None:
    """Read a streamed ``response``'s body (decoded) into ``response.content``, refusing it
    once it passes ``limit`` bytes: the rest is never read (the connection is dropped)."""
    declared = response.headers.get("content-length", "")
    if response.request.method != "HEAD" and declared.isdigit() and int(declared) > limit:
        raise _too_large(instance, response.status_code)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:
            raise _too_large(instance, response.status_code)
        chunks.append(chunk)
    # What ``Response.aread()`` does, with the bound: ``content`` is now these bytes.
    response._content = b"".join(chunks)


def _too_large(instance: str, status: int) -> UpstreamBadResponseError:
    return UpstreamBadResponseError(
        "The provider's answer is larger than the gateway accepts.", provider=instance, upstream_status=status
    )


async def probe_health(
    call: Awaitable[httpx.Response],
    instance: str,
    classify: Callable[[str, int, bytes], GatewayError],
    healthy: Callable[[int], bool] = lambda status: status == 200,
) -> Health:
    """Run a cheap upstream call and report reachability; never raises."""
    watch = Stopwatch()
    try:
        response = await call
        if not healthy(response.status_code):
            raise classify(instance, response.status_code, b"")
    except GatewayError as exc:
        return Health(status="error", ms=watch.ms, error=exc.type)
    return Health(status="ok", ms=watch.ms)


def url_origin(url: str) -> str:
    """``scheme://host:port`` of a URL: values starting with it point into the upstream."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _is_connection_failure(exc: httpx.TimeoutException) -> bool:
    cause = exc.__cause__
    return (
        cause is not None
        and not isinstance(cause, TimeoutError | asyncio.TimeoutError)
        and type(cause).__module__.split(".")[0] == "aiohttp"
    )


class Stopwatch:
    """Milliseconds since construction, on the monotonic clock."""

    def __init__(self) -> None:
        self._start = time.perf_counter()

    @property
    def ms(self) -> int:
        return int((time.perf_counter() - self._start) * 1000)
