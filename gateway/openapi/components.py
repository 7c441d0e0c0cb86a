"""The document's reusable parts: parameters, response headers, security schemes and examples."""

from __future__ import annotations

from typing import Any

from gateway.middleware.request_id import SAFE_REQUEST_ID
from gateway.query import (
    DEFAULT_LIMIT,
    DEFAULT_SORT,
    MAX_LIMIT,
    MAX_TEXT_LENGTH,
    MAX_VALUES_PER_PARAMETER,
    SortKey,
)

SCHEMA_REF = "#/components/schemas/"
STRING: dict[str, Any] = {"type": "string"}
INTEGER: dict[str, Any] = {"type": "integer", "minimum": 0}
# query.py refuses control characters and empty values; repeatable values are split at commas.
TEXT: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_TEXT_LENGTH,
    "pattern": "^[^\\u0000-\\u001f]*$",
}
LIST_ITEM: dict[str, Any] = {**TEXT, "pattern": "^[^,\\u0000-\\u001f]+$"}
TIMESTAMP: dict[str, Any] = {"type": "string", "format": "date-time", "examples": ["2026-01-01T00:00:00Z"]}
# middleware/request_timeout.py: a positive decimal number of seconds.
SECONDS_PATTERN = "^(?:[0-9]{1,9}(?:\\.[0-9]{0,9})?|\\.[0-9]{1,9})$"
MAX_IDEMPOTENCY_KEY_LENGTH = 255  # routes/idempotent.py


def _query(
    name: str, description: str, schema: dict[str, Any], *, repeatable: bool = False
) -> dict[str, Any]:
    parameter: dict[str, Any] = {"name": name, "in": "query", "description": description, "schema": schema}
    if repeatable:
        parameter["description"] += f" Repeatable (`{name}=a&{name}=b`) or a comma list (`{name}=a,b`)."
        parameter["schema"] = {
            "type": "array",
            "items": schema,
            "minItems": 1,
            "maxItems": MAX_VALUES_PER_PARAMETER,
        }
        parameter |= {"style": "form", "explode": True}
    return parameter


def _header(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "header", "description": description, "schema": schema or STRING}


PARAMETERS: dict[str, dict[str, Any]] = {
    "limit": _query(
        "limit",
        "Orders per page.",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    ),
    "cursor": _query(
        "cursor",
        "`next_cursor` of the previous page: opaque and signed, bound to the same filters, sort "
        "and key, and expiring (a forged, stale or foreign one is 400 `invalid-cursor`).",
        {"type": "string", "minLength": 1},
    ),
    "sort": _query(
        "sort",
        "The order of the list; ties break on `id`, so the order is total.",
        {"type": "string", "enum": [key.value for key in SortKey], "default": DEFAULT_SORT.value},
    ),
    "provider": _query(
        "provider", "Only these instances (see `GET /providers`).", LIST_ITEM, repeatable=True
    ),
    "status": _query(
        "status", "Only these normalised statuses.", {"$ref": SCHEMA_REF + "Status"}, repeatable=True
    ),
    "provider_status": _query("provider_status", "Only these upstream states.", LIST_ITEM, repeatable=True),
    "customer": _query("customer", "Only orders of this customer id.", TEXT),
    "service": _query("service", "Only orders for this service id.", TEXT),
    "created_after": _query("created_after", "Created at or after this time (inclusive).", TIMESTAMP),
    "created_before": _query("created_before", "Created before this time (exclusive).", TIMESTAMP),
    "updated_after": _query("updated_after", "Last changed at or after this time (inclusive).", TIMESTAMP),
    "q": _query("q", "Free text over the name, the native id and the customer's name.", TEXT),
    "require": _query(
        "require",
        "`all`: any failing instance fails the request, instead of a partial page.",
        {"type": "string", "enum": ["any", "all"], "default": "any"},
    ),
    # The export's own: it always needs every instance, and refuses `require=any` (400).
    "export_require": _query(
        "require",
        "Always `all` (the default): a failing instance ends the stream with a cursor to resume from.",
        {"type": "string", "enum": ["all"], "default": "all"},
    ),
    "order_id": {
        "name": "order_id",
        "in": "path",
        "required": True,
        "description": "The global id `<instance>:<native id>`.",
        "schema": {"type": "string", "minLength": 3},
        "examples": {
            "waldur": {"value": "waldur-eu:0b9f3c2e5d6a4b7c8d9e0f1a2b3c4d5e"},
            "ivcap": {"value": "ivcap:urn:ivcap:order:3c1e2d4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"},
            "arrow": {"value": "arrow:XSPO123456"},
        },
    },
    "action_name": {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "An action the order's instance offers (`actions` in `GET /providers`).",
        "schema": {"type": "string", "minLength": 1},
        "examples": {name: {"value": name} for name in ("validate", "add_metadata", "set_backend_id")},
    },
    "Idempotency-Key": _header(
        "Idempotency-Key",
        "Makes the write safe to retry: the same key with the same request within 24 h replays "
        "the first answer (`Idempotent-Replayed: true`); with another request it is 422, while the "
        "first still runs 409. Scoped per API key.",
        {
            "type": "string",
            "minLength": 1,
            "maxLength": MAX_IDEMPOTENCY_KEY_LENGTH,
            "pattern": "^[\\x20-\\x7e]+$",
        },
    ),
    "If-None-Match": _header("If-None-Match", "An `ETag` the caller holds: 304 while it is current."),
    "Cache-Control": _header(
        "Cache-Control",
        "`no-cache` from a key with `orders:write` skips the read cache; from a read-only key it is ignored.",
    ),
    "Request-Timeout": _header(
        "Request-Timeout",
        "Seconds the whole request may take (`2`, `0.5`); at most the server's own limit.",
        # The pattern lets zero through (`0`, `0.0`, `.0`); the middleware refuses it (400).
        {"type": "string", "pattern": SECONDS_PATTERN, "not": {"pattern": "^[0.]*$"}},
    ),
    "X-Request-ID": _header(
        "X-Request-ID",
        "Any value is accepted: echoed back, and used as the problem `instance`, when it is a sane "
        f"token (`{SAFE_REQUEST_ID.pattern}`); otherwise a fresh id is minted in its place.",
    ),
}

RATE_LIMIT_HEADERS = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")
HEADERS: dict[str, dict[str, Any]] = {
    "X-Request-ID": {
        "description": "The request id: the caller's when it was a sane token, else a fresh one.",
        "required": True,
        "schema": STRING,
    },
    "RateLimit-Limit": {
        "description": "The key's bucket capacity (on every answer to a key).",
        "schema": INTEGER,
    },
    "RateLimit-Remaining": {"description": "Whole requests left in the key's bucket.", "schema": INTEGER},
    "RateLimit-Reset": {"description": "Seconds until the bucket is full again.", "schema": INTEGER},
    "RateLimit-Policy": {
        "description": "`<capacity>;w=<window seconds>` (draft-ietf-httpapi-ratelimit-headers).",
        "schema": {**STRING, "examples": ["600;w=60"]},
    },
    "Retry-After": {"description": "Seconds to wait before trying again.", "schema": INTEGER},
    "WWW-Authenticate": {"description": "How to authenticate: `Bearer`.", "schema": STRING},
    "ETag": {
        "description": "Strong for one order, weak for a page; send it in `If-None-Match`.",
        "schema": STRING,
    },
    "Link": {"description": '`<URL of the next page>; rel="next"` when there is one.', "schema": STRING},
    "X-Partial-Response": {
        "description": "`true` when some instance failed; see `providers`.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "X-Cache": {
        "description": "`HIT`, `MISS`, or `STALE` (served from the cache because the upstream failed).",
        "schema": {"type": "string", "enum": ["HIT", "MISS", "STALE"]},
    },
    "Cache-Status": {"description": "How the read cache answered (RFC 9211).", "schema": STRING},
    "Cache-Control": {
        "description": "`private, max-age=<freshness left>`, or `private, no-cache`.",
        "schema": STRING,
    },
    "Location": {"description": "The new order's URL.", "schema": STRING},
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored answer to an earlier request with this Idempotency-Key.",
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Content-Security-Policy": {
        "description": "The page loads only the gateway's own scripts, styles and data.",
        "schema": STRING,
    },
}

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <key>`. Scopes: `orders:read`, `orders:write`, `orders:admin`.",
    },
    "apiKeyAuth": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "`X-API-Key: <key>`, the same keys as `bearerAuth`.",
    },
}

# Bodies that are not JSON objects of ours.
DOCUMENT_SCHEMAS: dict[str, dict[str, Any]] = {
    "OpenApiDocument": {"type": "object", "description": "An OpenAPI 3.1 document (this one)."},
    "HtmlPage": {"type": "string", "description": "An HTML page."},
    "OrderStream": {
        "type": "string",
        "description": "Newline-delimited JSON: one `Order` per line. A failure after the first page "
        'ends the stream with a line `{"error": <Problem>, "next_cursor": <cursor to resume from>}`.',
    },
    "MetricsText": {"type": "string", "description": "Prometheus text exposition format 0.0.4."},
}
