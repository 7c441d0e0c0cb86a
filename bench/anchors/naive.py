"""A3, naive fan-out: call three upstreams with ``asyncio.gather``, concatenate their JSON.

No normalising, merging, cursors, cache, auth or middleware: the floor for a fan-out over the
same simulators, once over httpx's own connection pool and once over the aiohttp transport.

    python -m bench.anchors.naive --port 9101 --transport aiohttp --token T \
        --waldur=http://127.0.0.1:9001/api/ --ivcap=http://127.0.0.1:9002/1/ \
        --arrow=http://127.0.0.1:9003/index.php/api/
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx
import uvicorn
from httpx_aiohttp import AiohttpTransport
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.__main__ import _server_options  # the same settings as `gateway serve`


def create_app(transport: str, token: str, waldur: str, ivcap: str, arrow: str) -> Starlette:
    # What the gateway asks each upstream for the first page of `GET /orders` (limit 50).
    calls = [
        (f"{waldur}marketplace-orders/?page_size=51&o=-created", {"Authorization": f"Token {token}"}),
        (f"{ivcap}orders?limit=50&order-by=ordered-at&order-desc=true", {"Authorization": f"Bearer {token}"}),
        (f"{arrow}orders?per_page=51&sortBy=dateCreation&orderBy=desc", {"apiKey": token}),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)  # as the gateway's
        pool = AiohttpTransport(limits=limits, trust_env=False) if transport == "aiohttp" else None
        async with httpx.AsyncClient(transport=pool, limits=limits, trust_env=False) as client:
            app.state.client = client
            yield

    async def orders(request: Request) -> Response:
        client: httpx.AsyncClient = request.app.state.client
        answers = await asyncio.gather(*(client.get(url, headers=headers) for url, headers in calls))
        return Response(b"[" + b",".join(a.content for a in answers) + b"]", media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route("/orders", orders), Route("/healthz", healthz)], lifespan=lifespan)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--transport", choices=["httpx", "aiohttp"], required=True)
    parser.add_argument("--token", required=True)
    for kind in ("waldur", "ivcap", "arrow"):
        parser.add_argument(f"--{kind}", required=True, help=f"the {kind} API's base URL")
    args = parser.parse_args()
    app = create_app(args.transport, args.token, args.waldur, args.ivcap, args.arrow)
    uvicorn.run(app, host="127.0.0.1", port=args.port, **_server_options())


if __name__ == "__main__":
    main()
