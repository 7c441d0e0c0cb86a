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

MAX_BODY_BYTES = 5 * 1024 * 1024  # attachments travel in bodies; orders are far smaller
Model = TypeVar("Model", bound=BaseModel)


async def read_body(request: Request) -> bytes:
    """The raw body, refused with 413 past the limit (declared or actual)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(f"The body may be at most {MAX_BODY_BYTES} bytes.")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                raise PayloadTooLargeError(f"The body may be at most {MAX_BODY_BYTES} bytes.")
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
        raise InvalidBodyError("The body is not valid JSON.") from exc
    if not isinstance(value, dict):
        raise ValidationFailedError(
            "The body must be a JSON object.", errors=[{"loc": ["body"], "msg": "not an object"}]
        )
    return value


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
                if len(content) > MAX_BODY_BYTES:
                    raise PayloadTooLargeError(f"A file may be at most {MAX_BODY_BYTES} bytes.")
                payload[name] = Upload(
                    filename=value.filename or name,
                    content_type=value.content_type or "application/octet-stream",
                    content=content,
                )
            else:
                payload[name] = value
    return payload
