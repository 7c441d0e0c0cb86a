"""The API's own documentation: ``/openapi.json``, and ``/docs`` rendering it with Swagger UI.

Swagger UI comes from a Python package (``swagger-ui-bundle-v2``) and is served by the gateway
itself: the page loads nothing from anywhere else, which its Content-Security-Policy enforces.
No key is needed for either (API.md §1).
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Route
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from gateway.errors import NotFoundError
from gateway.openapi import build_openapi
from gateway.routes.rendering import conditional_response, strong_etag

SWAGGER_UI = Path(str(swagger_ui_path))
# The only files of the bundle the page loads, and so the only ones served.
BUNDLE_FILES = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
}
ASSET_CACHE_CONTROL = "public, max-age=86400"

# URLs are relative to /docs, so the page also works under a path prefix.
PAGE = """\
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Order Gateway API</title>
<link rel="icon" type="image/png" href="docs/assets/favicon-32x32.png">
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/init.js"></script>
</body>
</html>
"""
# A file, not an inline script: the policy allows only the gateway's own scripts.
INIT_SCRIPT = """\
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
"""
# Swagger UI sets inline styles and embeds its icons as data: URLs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@functools.cache
def openapi_document() -> tuple[bytes, str]:
    """The document as served and its ETag, built once per process (on first use)."""
    body = orjson.dumps(build_openapi())
    return body, strong_etag(body)


async def openapi_json(request: Request) -> Response:
    body, etag = openapi_document()
    return conditional_response(request, body, etag, headers={"Cache-Control": "no-cache"})


async def docs_page(request: Request) -> Response:
    return Response(
        PAGE,
        media_type="text/html",
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY, "Cache-Control": "no-cache"},
    )


async def docs_asset(request: Request) -> Response:
    name = request.path_params["name"]
    headers = {"Cache-Control": ASSET_CACHE_CONTROL}
    if name == "init.js":
        return Response(INIT_SCRIPT, media_type="text/javascript", headers=headers)
    if name not in BUNDLE_FILES:
        raise NotFoundError("There is no such documentation asset.")
    return FileResponse(SWAGGER_UI / name, media_type=BUNDLE_FILES[name], headers=headers)


ROUTES = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
    Route("/docs/assets/{name}", docs_asset, methods=["GET"]),
]
