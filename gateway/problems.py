"""Rendering every error as application/problem+json (RFC 9457): the registered handlers."""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response

from gateway.errors import (
    ClientError,
    GatewayError,
    MethodNotAllowedError,
    NotAuthenticatedError,
    NotFoundError,
)
from gateway.middleware.request_id import choose_request_id, request_id_of
from gateway.middleware.telemetry import trace_id_of

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("gateway.problems")


def problem_body(error: GatewayError, request_id: str, trace_id: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": error.type_uri,
        "title": error.title,
        "status": error.status_code,
        "detail": error.detail,
        "instance": request_id,
    }
    if trace_id is not None:
        body["trace_id"] = trace_id  # to find the request's spans and log lines
    body.update(error.extensions)
    return body


def problem_response(conn: HTTPConnection, error: GatewayError) -> Response:
    request_id = request_id_of(conn.scope) or choose_request_id(None)
    headers = dict(error.headers)
    headers["X-Request-ID"] = request_id
    return Response(
        orjson.dumps(problem_body(error, request_id, trace_id_of(conn.scope))),
        status_code=error.status_code,
        headers=headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


async def handle_gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    if not isinstance(exc, ClientError):
        log.warning("request failed: %s (%s)", exc.type, exc.detail, exc_info=exc.__cause__ is not None)
    return problem_response(request, exc)


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 (unknown route, wrong method) as problems."""
    assert isinstance(exc, HTTPException)
    error: GatewayError
    if exc.status_code == 404:
        error = NotFoundError(f"There is no resource at {request.url.path[:200]!r}.")
    elif exc.status_code == 405:
        error = MethodNotAllowedError(f"{request.method[:20]} is not allowed here.", headers=exc.headers)
    else:
        error = ClientError(str(exc.detail)[:200])
    return problem_response(request, error)


async def handle_unexpected(request: Request, exc: Exception) -> Response:
    """A bug: the traceback goes to the log, the caller gets a bare 500 problem."""
    ids = {"request_id": request_id_of(request.scope), "trace_id": trace_id_of(request.scope)}
    # Out here the request's context is gone: the ids are passed for the JSON log line.
    log.error("unhandled exception on %s %s", request.method, request.url.path, exc_info=exc, extra=ids)
    return problem_response(request, GatewayError("The gateway failed unexpectedly; see its logs."))


def authentication_failed(conn: HTTPConnection, exc: Exception) -> Response:
    """``on_error`` of auth.ApiKeyMiddleware: a 401 problem for a malformed or unknown key."""
    return problem_response(conn, NotAuthenticatedError(str(exc) or "The API key is not valid."))
