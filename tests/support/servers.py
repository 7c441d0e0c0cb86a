"""Real uvicorn servers on loopback, run in a background thread for end-to-end tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT_S = 10.0
SHUTDOWN_TIMEOUT_S = 10.0


@contextmanager
def running_server(
    app: ASGIApp,
    *,
    lifespan: Literal["auto", "on", "off"] = "auto",
    log_level: str = "warning",
) -> Iterator[str]:
    """Serve ``app`` on a free ``127.0.0.1`` port; yield ``"http://127.0.0.1:PORT"``.

    The socket is bound before the server starts, so the port is known at once and never
    raced for; the context returns only after the server has stopped and its thread ended.
    """
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only then; without
    # it small answers stall ~40 ms on Nagle's algorithm and delayed ACKs.
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        loop="asyncio",
        lifespan=lifespan,
        log_level=log_level,
        log_config=None,  # leave logging alone; records propagate to pytest's capture
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name=f"uvicorn-{port}", daemon=True
    )
    try:
        thread.start()
        _wait_until_started(server, thread)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(SHUTDOWN_TIMEOUT_S)
        listener.close()
        if thread.is_alive():
            raise RuntimeError(f"uvicorn on port {port} did not stop")


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("uvicorn exited during startup (see the captured log)")
        if time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("uvicorn did not start in time")
        time.sleep(0.005)
