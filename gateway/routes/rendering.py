"""Turning service results into JSON responses (orjson, pydantic's serializer), with ETags."""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from gateway.memo import PerObject
from gateway.models import ReadOutcome

JSON_MEDIA_TYPE = "application/json"


def json_response(
    content: BaseModel | dict[str, Any], *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = content.model_dump_json().encode() if isinstance(content, BaseModel) else orjson.dumps(content)
    return Response(body, status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE)


# Authenticated data: only the caller's own cache may keep it; without a freshness lifetime
# from the read cache, it must revalidate (ETag) before reuse.
PRIVATE_REVALIDATE = "private, no-cache"
CACHE_NAME = "OrderGateway"  # our name in Cache-Status (RFC 9211)
X_CACHE = {"hit": "HIT", "stale": "STALE"}  # every other source: MISS


def cache_headers(outcome: ReadOutcome) -> dict[str, str]:
    """``X-Cache``, ``Cache-Status`` and ``Cache-Control`` for an answer read as ``outcome``."""
    ttl = int(outcome.ttl_left_s)
    status = {
        "hit": f"{CACHE_NAME}; hit; ttl={ttl}",
        "stale": f"{CACHE_NAME}; hit; ttl={min(ttl, -1)}; detail=stale-if-error",
        "miss": f"{CACHE_NAME}; fwd=uri-miss; stored; ttl={ttl}",
        "collapsed": f"{CACHE_NAME}; fwd=uri-miss; collapsed; ttl={ttl}",
        "refresh": f"{CACHE_NAME}; fwd=request; stored; ttl={ttl}",
        "bypass": f"{CACHE_NAME}; fwd=bypass",
    }[outcome.source]
    fresh = outcome.source != "stale" and ttl >= 1
    return {
        "X-Cache": X_CACHE.get(outcome.source, "MISS"),
        "Cache-Status": status,
        "Cache-Control": f"private, max-age={ttl}" if fresh else PRIVATE_REVALIDATE,
    }


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
    """200 with ``body``, or 304 when the caller already holds this representation.

    ``headers`` go on the 200; those about caching (``CACHE_HEADERS``) on the 304 as well."""
    all_headers = {"Cache-Control": PRIVATE_REVALIDATE, **(headers or {}), "ETag": etag}
    if etag_matches(request.headers.get("if-none-match"), etag):
        kept = {name: value for name, value in all_headers.items() if name in CACHE_HEADERS}
        return Response(status_code=304, headers=kept)
    return Response(body, headers=all_headers, media_type=JSON_MEDIA_TYPE)


CACHE_HEADERS = frozenset({"ETag", "Cache-Control", "X-Cache", "Cache-Status"})


# A kept rendering counts five times its bytes: the objects it keeps alive (its source) take
# about four times their JSON.
PINNED_PER_BYTE = 5


def rendered(*, max_bytes: int) -> PerObject[tuple[bytes, str]]:
    """Answers' bytes and ETags, kept per source object while that same object comes again."""
    return PerObject(max_bytes, getsizeof=lambda answer: PINNED_PER_BYTE * len(answer[0]))
