"""The OpenAPI 3.1 document of the gateway: the operation table made into paths, plus components.

Schemas come from the models the code uses (``schemas.py``), problem types from the error
tree (``catalogue.py``); only the skeleton of paths and operations is written here, as data
(``operations.py``). ``build_openapi()`` is pure; the route that serves it builds it once.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

from gateway.openapi.catalogue import ProblemType, problem_types
from gateway.openapi.components import (
    DOCUMENT_SCHEMAS,
    HEADERS,
    PARAMETERS,
    RATE_LIMIT_HEADERS,
    SCHEMA_REF,
    SECURITY_SCHEMES,
)
from gateway.openapi.examples import examples
from gateway.openapi.operations import OPERATIONS, Answer, Body, Operation
from gateway.openapi.schemas import component_schemas

OPENAPI_VERSION = "3.1.0"
EVERY_REQUEST = ("Request-Timeout", "X-Request-ID")
TAGS = [
    {"name": "orders", "description": "Reading orders, merged across every instance the key may use."},
    {
        "name": "writes",
        "description": "Creating orders and acting on them; every POST takes an Idempotency-Key.",
    },
    {"name": "meta", "description": "Instances, liveness and readiness."},
    {"name": "docs", "description": "This document and its page."},
]
DESCRIPTION = """\
One normalised `/orders` API in front of Waldur, IVCAP and ArrowSphere order systems.

- **Keys**: `Authorization: Bearer <key>` or `X-API-Key: <key>` on every request except
  `/healthz`, `/readyz`, `/openapi.json` and `/docs`. Scopes: `orders:read`, `orders:write`,
  `orders:admin`. A missing or unknown key is 401, a missing scope 403; an order of an instance
  the key may not use is 404.
- **Ids**: `<instance>:<native id>`, opaque and stable.
- **Errors**: `application/problem+json` (RFC 9457); every `type` is listed in the `Problem` schema.
- **Every answer** carries `X-Request-ID`; every answer to a key `RateLimit-Limit`,
  `RateLimit-Remaining`, `RateLimit-Reset` and `RateLimit-Policy` (429 with `Retry-After` past it).
- **Listing**: cursor pagination (`next_cursor`, `Link: rel="next"`); a partial page when some
  instances fail (`X-Partial-Response: true`).
- **Reads** are cached per instance (`X-Cache`, `Cache-Status`) and carry an `ETag`
  (`If-None-Match` → 304).
- **Writes** take an `Idempotency-Key`: a retry with the same key and body replays the first answer.
"""


def build_openapi() -> dict[str, Any]:
    """The whole document, as a JSON-ready dict."""
    types = problem_types()
    problem_examples = {
        f"problem-{slug}": {"summary": problem.title, "value": problem.example()}
        for slug, problem in types.items()
    }
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": "Order Gateway", "version": _package_version(), "description": DESCRIPTION},
        "servers": [{"url": "/", "description": "This gateway"}],
        "tags": TAGS,
        "paths": _paths(types),
        "components": {
            "schemas": {**component_schemas(), **DOCUMENT_SCHEMAS},
            "parameters": PARAMETERS,
            "headers": HEADERS,
            "examples": {**examples(), **problem_examples},
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def _package_version() -> str:
    try:
        return version("order-gateway")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0"


def _paths(types: dict[str, ProblemType]) -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    for operation in OPERATIONS:
        paths.setdefault(operation.path, {})[operation.method] = _operation(operation, types)
    return paths


def _operation(op: Operation, types: dict[str, ProblemType]) -> dict[str, Any]:
    if op.scope is None:
        security: list[dict[str, list[str]]] = []
        note = "No API key needed."
    else:
        security = [{scheme: [op.scope]} for scheme in SECURITY_SCHEMES]
        note = op.scope_note or f"Scope: `{op.scope}`."
    operation: dict[str, Any] = {
        "operationId": op.operation_id,
        "tags": [op.tag],
        "summary": op.summary,
        "description": f"{op.description}\n\n{note}",
        "parameters": [_ref("parameters", name) for name in (*op.parameters, *EVERY_REQUEST)],
        "responses": _responses(op, types),
        "security": security,
    }
    if op.body is not None:
        operation["requestBody"] = _request_body(op.body)
    return operation


def _responses(op: Operation, types: dict[str, ProblemType]) -> dict[str, Any]:
    responses = {str(answer.status): _answer(answer) for answer in op.answers}
    by_status: dict[int, list[ProblemType]] = {}
    for slug in op.problems:
        for status in types[slug].statuses:
            by_status.setdefault(status, []).append(types[slug])
    for status, problems in sorted(by_status.items()):
        listed = "; ".join(f"`{p.slug}`: {p.title}" for p in problems)
        extra = ("WWW-Authenticate",) if status == 401 else ("Retry-After",) if status in (429, 503) else ()
        response = responses.setdefault(str(status), {"description": listed, "headers": _headers(extra)})
        if response["description"] != listed:
            response["description"] += f" Or a problem: {listed}"
            response["headers"].update(_headers(extra))
        response.setdefault("content", {})["application/problem+json"] = {
            "schema": _ref("schemas", "Problem"),
            "examples": {p.slug: _ref("examples", f"problem-{p.slug}") for p in problems},
        }
    return dict(sorted(responses.items()))


def _answer(answer: Answer) -> dict[str, Any]:
    response: dict[str, Any] = {"description": answer.description, "headers": _headers(answer.headers)}
    if answer.schemas:
        refs = [_ref("schemas", name) for name in answer.schemas]
        media: dict[str, Any] = {"schema": refs[0] if len(refs) == 1 else {"oneOf": refs}}
        if answer.example is not None:
            media["examples"] = {answer.example: _ref("examples", answer.example)}
        response["content"] = {answer.media_type: media}
    return response


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _ref("headers", name) for name in ("X-Request-ID", *names, *RATE_LIMIT_HEADERS)}


def _request_body(body: Body) -> dict[str, Any]:
    schema = _ref("schemas", body.schema) if body.schema else {"type": "object"}
    media: dict[str, Any] = {"schema": schema}
    if body.examples:
        media["examples"] = {name: _ref("examples", name) for name in body.examples}
    content = {"application/json": media}
    if body.multipart:
        content["multipart/form-data"] = {"schema": {"type": "object"}}
    description = "A JSON object." if body.required else "A JSON object; may be left out (the same as `{}`)."
    return {"required": body.required, "description": description, "content": content}


def _ref(section: str, name: str) -> dict[str, str]:
    if section == "schemas":
        return {"$ref": SCHEMA_REF + name}
    return {"$ref": f"#/components/{section}/{name}"}
