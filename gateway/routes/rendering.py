"""Turning service results into JSON responses (orjson, pydantic's serializer), with ETags."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


def json_response(
    content: BaseModel | dict[str, Any], *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = content.model_dump_json().encode() if isinstance(content, BaseModel) else orjson.dumps(content)
    return Response(body, status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE)


# Authenticated data: only the caller's own cache may keep it, and must revalidate (ETag)
# before reuse, until the read cache gives answers a freshness lifetime.
PRIVATE_REVALIDATE = "private, no-cache"


def strong_etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def weak_etag(body: bytes) -> str:
    return "W/" + strong_etag(body)


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison of each listed tag (or ``*``) with ours."""
    if not if_none_match:
        return False
    ours = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        tag = candidate.strip()
        if tag == "*" or tag.removeprefix("W/") == ours:
            return True
    return False


def conditional_response(
    request: Request, body: bytes, etag: str, *, headers: dict[str, str] | None = None
) -> Response:
    """200 with ``body``, or 304 when the caller already holds this representation."""
    all_headers = {**(headers or {}), "ETag": etag, "Cache-Control": PRIVATE_REVALIDATE}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers={"ETag": etag, "Cache-Control": PRIVATE_REVALIDATE})
    return Response(body, headers=all_headers, media_type=JSON_MEDIA_TYPE)
