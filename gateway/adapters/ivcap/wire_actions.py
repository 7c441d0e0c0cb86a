"""IVCAP's action requests and answers as pure functions (ivcap.md §4): aspects, products, services.

Resources never carry an upstream address: ``href``/``data-href``/``links`` are dropped and
aspect content is scrubbed of values pointing at the upstream (API.md §7).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.adapters.ivcap.actions import AddMetadataPayload
from gateway.adapters.ivcap.wire_common import IvcapContext, bad_response, classify_error, scrub
from gateway.adapters.ivcap.wire_current import IvcapLink, next_page
from gateway.errors import NotFoundError, OrderNotFoundError, ValidationFailedError
from gateway.models import format_timestamp

PAGE_LIMIT = 50  # `limit` is 1..50 on every list (§4, §5)
MAX_PAGES = 10  # a sub-list is read to its end, or to 500 entries


class _Wire(BaseModel):
    # hide_input_in_errors: errors chained into the log name fields, never upstream values.
    model_config = ConfigDict(
        extra="allow", frozen=True, strict=True, populate_by_name=True, hide_input_in_errors=True
    )


class _Aspect(_Wire):
    """One item of ``AspectListRT`` (§4)."""

    id: str
    schema_: str = Field(alias="schema")
    content_type: str = Field(alias="content-type")
    valid_from: datetime = Field(alias="valid-from")
    content: Any = None


class _AspectPage(_Wire):
    items: list[_Aspect]
    links: list[IvcapLink]


class _AspectId(_Wire):
    id: str


class _Product(_Wire):
    """``ProductListItemT`` (§3)."""

    id: str
    name: str | None = None
    status: str | None = None
    mime_type: str | None = Field(default=None, alias="mime-type")
    size: int | None = None


class _ProductPage(_Wire):
    items: list[_Product]
    links: list[IvcapLink]


class _Service(_Wire):
    """``XServiceStatusRT``, the answer of ``GET /1/services/{id}`` (``servicex_read``)."""

    id: str
    account: str
    status: str
    name: str | None = None
    description: str | None = None
    tags: list[str] | None = None
    parameters: list[dict[str, Any]]


class _LegacyProduct(_Wire):
    id: str
    name: str | None = None
    status: str | None = None
    mime_type: str | None = None
    size: int | None = None


class _LegacyAspect(_Wire):
    id: str
    schema_: str = Field(alias="schema")


class _LegacyRead(_Wire):
    """What a legacy read embeds (§9): products as a bare array, the aspects' ids and schemas."""

    products: list[_LegacyProduct] | None = None
    metadata: list[_LegacyAspect] | None = None


def _timestamp(value: datetime) -> str:
    return format_timestamp(value.replace(tzinfo=UTC) if value.tzinfo is None else value)


def page_params(first: list[tuple[str, str]], token: str | None) -> list[tuple[str, str]]:
    """A sub-list's query: ``first`` to start, then only ``limit`` and the token (§5)."""
    if token is None:
        return [*first, ("limit", str(PAGE_LIMIT))]
    return [("limit", str(PAGE_LIMIT)), ("page", token)]


def aspect_list_params(urn: str, token: str | None) -> list[tuple[str, str]]:
    """``GET /1/aspects`` for the aspects of order ``urn``, with their content (§4)."""
    return page_params([("entity", urn), ("include-content", "true")], token)


def parse_aspects(ctx: IvcapContext, status: int, content: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """One page of aspects as ``{id, schema, content_type, valid_from, content}``, and the next token."""
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        page = _AspectPage.model_validate_json(content)
    except ValidationError as exc:
        raise bad_response(ctx.instance, status, "metadata") from exc
    rows = []
    for aspect in page.items:
        row: dict[str, Any] = {
            "id": aspect.id,
            "schema": aspect.schema_,
            "content_type": aspect.content_type,
            "valid_from": _timestamp(aspect.valid_from),
        }
        if "content" in aspect.model_fields_set:
            row["content"] = scrub(ctx, {"content": aspect.content})["content"]
        rows.append(row)
    return rows, next_page(ctx.instance, status, page.links)


def aspect_create(urn: str, payload: AddMetadataPayload) -> tuple[list[tuple[str, str]], bytes]:
    """Query and body of ``POST /1/aspects`` as ``ivcap_client`` sends them (§4): the content
    with ``$schema`` and ``$entity`` set."""
    params = [("entity", urn), ("schema", payload.schema_)]
    if payload.policy is not None:
        params.append(("policy", payload.policy))
    return params, orjson.dumps(payload.content | {"$schema": payload.schema_, "$entity": urn})


_ASPECT_PARAMETER_LOCS: dict[str, list[str | int]] = {
    "schema": ["body", "schema"],
    "policy": ["body", "policy"],
}


def parse_aspect_id(ctx: IvcapContext, status: int, content: bytes) -> dict[str, str]:
    """``AspectIDRT`` as ``{id}``; a refused aspect (400, 422) is a bad payload."""
    if status in (400, 422):
        name = _parameter_name(content) if status == 422 else None
        loc = _ASPECT_PARAMETER_LOCS.get(name or "", ["body", "content"])
        raise ValidationFailedError(
            "The provider refused the metadata.", errors=[{"loc": loc, "msg": "refused by the provider"}]
        )
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        return {"id": _AspectId.model_validate_json(content).id}
    except ValidationError as exc:
        raise bad_response(ctx.instance, status, "answer to the metadata") from exc


def _parameter_name(content: bytes) -> str | None:
    """``InvalidParameterT.name`` (§7): which parameter was refused, to pick a path."""
    try:
        name = orjson.loads(content).get("name")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return name if isinstance(name, str) else None


def product_params(token: str | None) -> list[tuple[str, str]]:
    return page_params([], token)


def parse_products(ctx: IvcapContext, status: int, content: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """One page of ``.../products`` as ``{id, name, status, mime_type, size}``, and the next token."""
    if status == 404:
        raise OrderNotFoundError("No such order.")
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        page = _ProductPage.model_validate_json(content)
    except ValidationError as exc:
        raise bad_response(ctx.instance, status, "products") from exc
    return [_product(p) for p in page.items], next_page(ctx.instance, status, page.links)


def _product(p: _Product | _LegacyProduct) -> dict[str, Any]:
    return {"id": p.id, "name": p.name, "status": p.status, "mime_type": p.mime_type, "size": p.size}


def parse_service(ctx: IvcapContext, status: int, content: bytes) -> dict[str, Any]:
    """``XServiceStatusRT`` as ``{id, name, description, status, account, tags, parameters}``
    (parameter definitions as IVCAP states them, minus links)."""
    if status == 404:
        raise NotFoundError("The order's service is no longer known to the provider.")
    if status != 200:
        raise classify_error(ctx.instance, status, content)
    try:
        service = _Service.model_validate_json(content)
    except ValidationError as exc:
        raise bad_response(ctx.instance, status, "service") from exc
    return {
        "id": service.id,
        "name": service.name,
        "description": service.description,
        "status": service.status,
        "account": service.account,
        "tags": list(service.tags or ()),
        "parameters": [scrub(ctx, parameter) for parameter in service.parameters],
    }


def _legacy_read(ctx: IvcapContext, status: int, content: bytes) -> _LegacyRead:
    try:
        return _LegacyRead.model_validate_json(content)
    except ValidationError as exc:
        raise bad_response(ctx.instance, status, "order") from exc


def legacy_products(ctx: IvcapContext, status: int, content: bytes) -> list[dict[str, Any]]:
    """The products a legacy read embeds (call after the read parsed as an order)."""
    return [_product(p) for p in _legacy_read(ctx, status, content).products or ()]


def legacy_metadata(ctx: IvcapContext, status: int, content: bytes) -> list[dict[str, Any]]:
    """The aspects a legacy read lists: ids and schemas only (no content, type or time)."""
    return [
        {"id": a.id, "schema": a.schema_, "content_type": None, "valid_from": None}
        for a in _legacy_read(ctx, status, content).metadata or ()
    ]
