"""A2, the stack ceiling: a bare Starlette endpoint answering precomputed bytes.

Served with the gateway's own uvicorn settings (uvloop, httptools, no access log), so the
gap between this and the gateway is what the gateway itself costs.

    python -m bench.anchors.bare --port 9100 --body orders.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.__main__ import _server_options  # the same settings as `gateway serve`


def create_app(body: bytes) -> Starlette:
    async def orders(request: Request) -> Response:
        return Response(body, media_type="application/json")

    async def healthz(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route("/orders", orders), Route("/healthz", healthz)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True)
    args = parser.parse_args()
    uvicorn.run(create_app(args.body.read_bytes()), host="127.0.0.1", port=args.port, **_server_options())


if __name__ == "__main__":
    main()
