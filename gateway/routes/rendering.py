"""Turning service results into JSON responses (orjson, pydantic's serializer)."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import BaseModel
from starlette.responses import Response

JSON_MEDIA_TYPE = "application/json"


def json_response(
    content: BaseModel | dict[str, Any], *, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    body = content.model_dump_json().encode() if isinstance(content, BaseModel) else orjson.dumps(content)
    return Response(body, status_code=status_code, headers=headers, media_type=JSON_MEDIA_TYPE)
