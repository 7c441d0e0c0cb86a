"""The operation table: every endpoint's path, scope, parameters, body, answers and problems.

Names in ``parameters``, ``headers``, ``schemas`` and ``examples`` are those of the document's
``components``; ``problems`` are problem type slugs (``catalogue.py``). ``__init__.py`` turns
each row into an OpenAPI operation.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Answer:
    """One success answer of an operation (problems are added from ``Operation.problems``)."""

    status: int
    description: str
    schemas: tuple[str, ...] = ()  # none: no body; several: one of them
    headers: tuple[str, ...] = ()
    media_type: str = "application/json"
    example: str | None = None


@dataclass(frozen=True, slots=True)
class Body:
    """A request body: a JSON object of ``schema`` (any object when None)."""

    schema: str | None
    required: bool
    examples: tuple[str, ...] = ()
    multipart: bool = False  # also multipart/form-data (uploads)


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    operation_id: str
    tag: str
    summary: str
    description: str
    scope: str | None  # None: no key needed
    answers: tuple[Answer, ...]
    problems: tuple[str, ...]
    parameters: tuple[str, ...] = ()
    body: Body | None = None
    scope_note: str | None = None  # when ``scope`` is only the least the operation needs


# Problem slugs, grouped by what an operation does. The request limits (gateway/middleware/
# limits.py, gateway/server.py) answer the last three before any operation runs: every
# operation can answer them, so every operation documents them.
ANYONE = (
    "invalid-header",
    "not-authenticated",
    "rate-limited",
    "internal",
    "uri-too-long",
    "headers-too-large",
    "request-timeout",
)
KEYED = (*ANYONE, "missing-scope")
UPSTREAM = (
    "upstream-error",
    "upstream-auth",
    "upstream-unreachable",
    "upstream-bad-response",
    "upstream-timeout",
    "circuit-open",
)
READ_ONE = (*KEYED, "order-not-found", *UPSTREAM)
BODY = ("invalid-body", "payload-too-large", "unsupported-media-type", "validation-failed")
IDEMPOTENT = ("idempotency-key-reused", "request-in-progress", "store-unavailable")
ACTION = (*READ_ONE, *BODY, *IDEMPOTENT, "action-not-allowed", "unsupported-action")

# GET /orders takes exactly the parameters query.py parses (a test pins it).
LIST_PARAMETERS = (
    "limit",
    "cursor",
    "sort",
    "provider",
    "status",
    "provider_status",
    "customer",
    "service",
    "created_after",
    "created_before",
    "updated_after",
    "q",
    "require",
)

READ_HEADERS = ("ETag", "Cache-Control", "X-Cache", "Cache-Status")
NOT_MODIFIED = Answer(
    304, "The copy the caller holds (`If-None-Match`) is current; no body.", (), READ_HEADERS
)
WRITE_PARAMETERS = ("order_id", "Idempotency-Key")
FRESH_ORDER = Answer(200, "The order, read again after the action.", ("Order",), ("Idempotent-Replayed",))
LOOKUP = Answer(200, "The sub-resource, as the instance's kind shapes it.", ("ActionResult",))

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "get",
        "/orders",
        operation_id="listOrders",
        tag="orders",
        summary="List orders across every permitted instance",
        description=(
            "One page of orders merged from every instance the key may use, newest first by default; "
            "pass `next_cursor` back as `cursor` for the next page (also in `Link`). When some "
            "instances fail, the answer is still 200 with the others' orders, `X-Partial-Response: "
            "true` and the failure in `providers.<name>` (`require=all` makes it an error instead); "
            "when every instance fails, 502 (504 when all timed out)."
        ),
        scope="orders:read",
        answers=(
            Answer(
                200,
                "One page.",
                ("OrderPage",),
                (*READ_HEADERS, "Link", "X-Partial-Response"),
                example="order-page",
            ),
            NOT_MODIFIED,
        ),
        problems=(*KEYED, "invalid-query", "invalid-cursor", *UPSTREAM, "scan-limit", "all-upstreams-failed"),
        parameters=(*LIST_PARAMETERS, "If-None-Match", "Cache-Control"),
    ),
    Operation(
        "get",
        "/orders/export",
        operation_id="exportOrders",
        tag="orders",
        summary="Export every matching order as one NDJSON stream",
        description=(
            "The whole merged listing, streamed a page at a time, with the filters and sort of "
            "`GET /orders` (no `limit`; `require` can only be `all`: a failing instance ends the "
            "stream with a cursor to resume from, so nothing is skipped). Errors before the first "
            "order are ordinary problem answers."
        ),
        scope="orders:read",
        answers=(
            Answer(
                200, "The orders, one per line.", ("OrderStream",), ("Cache-Control",), "application/x-ndjson"
            ),
        ),
        problems=(*KEYED, "invalid-query", "invalid-cursor", *UPSTREAM, "scan-limit", "all-upstreams-failed"),
        parameters=(
            *("export_require" if name == "require" else name for name in LIST_PARAMETERS if name != "limit"),
            "Cache-Control",
        ),
    ),
    Operation(
        "get",
        "/orders/statuses",
        operation_id="listStatuses",
        tag="orders",
        summary="The normalised statuses and the upstream states behind them",
        description=(
            "Per upstream vocabulary, which of its states map to each normalised `status`, and the "
            "fallback for a state the gateway does not know."
        ),
        scope="orders:read",
        answers=(Answer(200, "The status catalogue.", ("StatusCatalogue",)),),
        problems=KEYED,
    ),
    Operation(
        "get",
        "/orders/{order_id}",
        operation_id="getOrder",
        tag="orders",
        summary="Read one order",
        description=(
            "Fresh or from the read cache (`X-Cache`, `Cache-Status`); `Cache-Control: no-cache` "
            "from a key with `orders:write` refetches. An order of an instance the key may not use "
            "is 404, never 403."
        ),
        scope="orders:read",
        answers=(Answer(200, "The order.", ("Order",), READ_HEADERS, example="order"), NOT_MODIFIED),
        problems=READ_ONE,
        parameters=("order_id", "If-None-Match", "Cache-Control"),
    ),
    Operation(
        "post",
        "/orders",
        operation_id="createOrder",
        tag="writes",
        summary="Create an order at one instance",
        description=(
            "The body is checked before any upstream call (422 with each field's path). With "
            "`Idempotency-Key`, the same key and body within 24 h replay the first answer and never "
            "create a second order. A create the upstream did not confirm in time is 504 with "
            '`"outcome": "uncertain"`: retry with the same key and the gateway looks the order up '
            "before creating another."
        ),
        scope="orders:write",
        answers=(
            Answer(201, "The new order.", ("Order",), ("Location", "Idempotent-Replayed"), example="order"),
        ),
        problems=(*KEYED, *BODY, *IDEMPOTENT, "unsupported-action", *UPSTREAM),
        parameters=("Idempotency-Key",),
        body=Body("CreateOrderBody", True, ("create-waldur", "create-ivcap", "create-arrow")),
    ),
    Operation(
        "post",
        "/orders/{order_id}/cancel",
        operation_id="cancelOrder",
        tag="writes",
        summary="Cancel an order",
        description=(
            "Where the upstream can cancel it in its current state (else 409 `action-not-allowed`; "
            "a kind that cannot cancel at all: 422 `unsupported-action`)."
        ),
        scope="orders:write",
        answers=(FRESH_ORDER,),
        problems=ACTION,
        parameters=WRITE_PARAMETERS,
        body=Body(None, False),
    ),
    Operation(
        "post",
        "/orders/{order_id}/approve",
        operation_id="approveOrder",
        tag="writes",
        summary="Approve an order (Waldur)",
        description='Waldur\'s approval by the consumer or the provider: `{"as": "consumer"|"provider"}`.',
        scope="orders:write",
        answers=(FRESH_ORDER,),
        problems=ACTION,
        parameters=WRITE_PARAMETERS,
        body=Body("ApprovePayload", False),
    ),
    Operation(
        "post",
        "/orders/{order_id}/reject",
        operation_id="rejectOrder",
        tag="writes",
        summary="Reject an order (Waldur)",
        description='Waldur\'s rejection by the consumer or the provider: `{"as": "consumer"|"provider", "comment": ...}`.',
        scope="orders:write",
        answers=(FRESH_ORDER,),
        problems=ACTION,
        parameters=WRITE_PARAMETERS,
        body=Body("RejectPayload", False),
    ),
    Operation(
        "delete",
        "/orders/{order_id}",
        operation_id="deleteOrder",
        tag="writes",
        summary="Delete an order",
        description="Only where the upstream allows it (Waldur orders pending approval).",
        scope="orders:write",
        answers=(Answer(204, "Deleted.", (), ("Idempotent-Replayed",)),),
        problems=ACTION,
        parameters=WRITE_PARAMETERS,
    ),
    Operation(
        "get",
        "/orders/{order_id}/offering",
        operation_id="getOrderOffering",
        tag="orders",
        summary="The offering or service an order is for",
        description="Waldur's offering or IVCAP's service details; other kinds: 422 `unsupported-action`.",
        scope="orders:read",
        answers=(LOOKUP,),
        problems=(*READ_ONE, "unsupported-action"),
        parameters=("order_id",),
    ),
    Operation(
        "get",
        "/orders/{order_id}/history",
        operation_id="getOrderHistory",
        tag="orders",
        summary="An order's history",
        description="Where the upstream keeps one (Arrow); other kinds: 422 `unsupported-action`.",
        scope="orders:read",
        answers=(LOOKUP,),
        problems=(*READ_ONE, "unsupported-action"),
        parameters=("order_id",),
    ),
    Operation(
        "post",
        "/orders/{order_id}/actions/{name}",
        operation_id="runOrderAction",
        tag="writes",
        summary="Run a provider-specific action",
        description=(
            "The names each instance offers are its `actions` in `GET /providers`; an order's own "
            "`actions` lists what this key may do to it now. The body is the action's JSON "
            "object, or a multipart form for uploads (`add_attachment`, `update_attachment`)."
        ),
        scope="orders:read",
        scope_note=(
            "Scope: `orders:read` for look-ups (metadata, products, attachments, history, "
            "offering), `orders:admin` for staff actions (unlink, set_state_*, set_backend_id), "
            "`orders:write` for the rest."
        ),
        answers=(
            Answer(
                200,
                "The fresh order, or a look-up's answer.",
                ("Order", "ActionResult"),
                ("Idempotent-Replayed",),
            ),
            Answer(204, "Done; the order is gone (e.g. `unlink`).", (), ("Idempotent-Replayed",)),
        ),
        problems=ACTION,
        parameters=(*WRITE_PARAMETERS, "action_name"),
        body=Body(None, False, multipart=True),
    ),
    Operation(
        "get",
        "/providers",
        operation_id="listProviders",
        tag="meta",
        summary="The instances this key may use",
        description="Each instance's kind, health (including its circuit breaker), capabilities and actions.",
        scope="orders:read",
        answers=(Answer(200, "The instances.", ("ProviderList",)),),
        problems=KEYED,
    ),
    Operation(
        "get",
        "/metrics",
        operation_id="getMetrics",
        tag="meta",
        summary="Metrics",
        description="Requests, upstream calls, cache reads, circuits and rate limits, for Prometheus.",
        scope="orders:admin",
        scope_note=(
            "Scope: `orders:admin`, unless the config's `telemetry.metrics_access` is `public` "
            "(no key needed) or `off` (404 `not-found`)."
        ),
        answers=(Answer(200, "The metrics.", ("MetricsText",), media_type="text/plain"),),
        problems=(*KEYED, "not-found"),
    ),
    Operation(
        "get",
        "/healthz",
        operation_id="getLiveness",
        tag="meta",
        summary="Liveness",
        description="The process answers.",
        scope=None,
        answers=(Answer(200, "Alive.", ("Liveness",)),),
        problems=ANYONE,
    ),
    Operation(
        "get",
        "/readyz",
        operation_id="getReadiness",
        tag="meta",
        summary="Readiness",
        description="Ready while at least one upstream answers; each instance's probe by its configured name.",
        scope=None,
        answers=(Answer(200, "Ready.", ("Readiness",)), Answer(503, "No upstream answers.", ("Readiness",))),
        problems=ANYONE,
    ),
    Operation(
        "get",
        "/openapi.json",
        operation_id="getOpenApi",
        tag="docs",
        summary="This document",
        description="OpenAPI 3.1, generated from the gateway's own models.",
        scope=None,
        answers=(Answer(200, "The document.", ("OpenApiDocument",), ("ETag", "Cache-Control")), NOT_MODIFIED),
        problems=ANYONE,
        parameters=("If-None-Match",),
    ),
    Operation(
        "get",
        "/docs",
        operation_id="getDocs",
        tag="docs",
        summary="This documentation as a web page",
        description="Renders `/openapi.json`; every asset is served by the gateway itself.",
        scope=None,
        answers=(
            Answer(200, "The page.", ("HtmlPage",), ("Content-Security-Policy",), media_type="text/html"),
        ),
        problems=ANYONE,
    ),
)
