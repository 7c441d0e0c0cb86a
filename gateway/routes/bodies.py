"""Reading request bodies: JSON objects and multipart forms, bounded, as clear 4xx problems."""

from __future__ import annotations

from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

from gateway.adapters.base import Upload
from gateway.errors import (
    InvalidBodyError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
    ValidationFailedError,
)

MAX_BODY_BYTES = 5 * 1024 * 1024  # the default of server.max_body_bytes (app.state.max_body_bytes)
# Nesting our bodies never need (the deepest, an IVCAP aspect's content, is the caller's own
# JSON); deeper would also pass what orjson serializes (254) on the way upstream.
MAX_JSON_DEPTH = 32
Model = TypeVar("Model", bound=BaseModel)


def body_limit(request: Request) -> int:
    limit: int = getattr(request.app.state, "max_body_bytes", MAX_BODY_BYTES)
    return limit


async def read_body(request: Request) -> bytes:
    """The raw body, refused with 413 past the limit (declared or actual)."""
    limit = body_limit(request)
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLargeError(f"The body may be at most {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLargeError(f"The body may be at most {limit} bytes.")
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise InvalidBodyError("The client went away before sending the whole body.") from exc
    raw = b"".join(chunks)
    # Starlette's own cache of the body: request.form() then parses these bytes again
    # instead of the (already consumed) stream.
    request._body = raw
    return raw


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def parse_json_object(raw: bytes, *, allow_empty: bool) -> dict[str, Any]:
    if not raw.strip():
        if allow_empty:
            return {}
        raise ValidationFailedError(
            "A JSON body is required.", errors=[{"loc": ["body"], "msg": "field required"}]
        )
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidBodyError("The body is not valid JSON (UTF-8, at most 1024 levels deep).") from exc
    if nested_deeper_than(value, MAX_JSON_DEPTH):
        raise InvalidBodyError(f"The body may nest objects and arrays at most {MAX_JSON_DEPTH} levels deep.")
    if not isinstance(value, dict):
        raise ValidationFailedError(
            "The body must be a JSON object.", errors=[{"loc": ["body"], "msg": "not an object"}]
        )
    return value


def nested_deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays in ``value`` nest more than ``limit`` levels (the outermost is 1)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def check_json_media_type(request: Request, raw: bytes) -> None:
    kind = media_type(request)
    if raw.strip() and kind != "application/json" and not kind.endswith("+json"):
        raise UnsupportedMediaTypeError("Send the body as application/json.")


def validate_body(model: type[Model], data: dict[str, Any]) -> Model:
    """``data`` as ``model``, or 422 listing each field path (under ``body``) and message."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError.from_pydantic(exc, "The body is not valid.") from None


async def read_form(request: Request) -> dict[str, Any]:
    """A multipart form as a payload: files become Uploads, other fields strings."""
    payload: dict[str, Any] = {}
    async with request.form(max_files=5, max_fields=50) as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                content = await value.read()
                if len(content) > body_limit(request):
                    raise PayloadTooLargeError(f"A file may be at most {body_limit(request)} bytes.")
                payload[name] = Upload(
                    filename=value.filename or name,
                    content_type=value.content_type or "application/octet-stream",
                    content=content,
                )
            else:
                payload[name] = value
    return payload
