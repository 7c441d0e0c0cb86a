"""The simulated IVCAP's ``GET /1/services/{id}``: one service as ``XServiceStatusRT``.

The path and shape are those ``ivcap_client.api.servicex.servicex_read`` (0.47) reads:
required ``id``, ``account``, ``links``, ``parameters`` (``ParameterDefT``: ``name``,
``type``, ``description`` required) and ``status`` (``active``/``inactive``/``error``);
optional ``name``, ``description``, ``tags``. The service list and the newer
``/1/services2`` API are not simulated.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from gateway.sim.ivcap_data import IvcapStore, Service
from gateway.sim.ivcap_http import base_url, json_response, link, not_found, path_segments


def render_service(service: Service, account: str, base: str) -> dict[str, Any]:
    """One ``XServiceStatusRT``: each parameter a string with the values it takes as options."""
    products = ", ".join(name for name, _, _ in service.products)
    return {
        "id": service.id,
        "name": service.name,
        "description": f"{service.name}: produces {products}.",
        "status": "active",
        "account": account,
        "tags": [],
        "parameters": [
            {
                "name": name,
                "type": "string",
                "label": name.replace("-", " ").capitalize(),
                "description": f"One of: {', '.join(values)}.",
                "options": [{"value": value} for value in values],
            }
            for name, values in service.parameters
        ],
        "links": [link("self", f"{base}/1/services/{service.id}")],
    }


class ServiceApi:
    """The service read over one store; every service is published by its first account."""

    def __init__(self, store: IvcapStore) -> None:
        self.store = store

    async def read_service(self, request: Request) -> Response:
        segments = path_segments(request, "/1/services/")
        service = self.store.service(segments[0]) if len(segments) == 1 else None
        if service is None:
            raise not_found(segments[0], "service not found")
        return json_response(render_service(service, self.store.accounts[0].id, base_url(request)))
