"""Gateway replicas as real processes (``python -m gateway serve``) sharing one config file."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

STARTUP_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_replicas(
    config: Mapping[str, Any], workdir: Path, *, env: Mapping[str, str] | None = None, count: int = 2
) -> Iterator[list[str]]:
    """Start ``count`` gateway processes on one config; yield their base URLs; stop them after.

    ``env`` is added to this process's environment (the config may name ``${VARS}`` from it).
    """
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(dict(config)))
    full_env = {**os.environ, **(env or {})}
    ports = [free_port() for _ in range(count)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "gateway", "serve", "--config", str(path), "--port", str(port)],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for port in ports
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        for url, process in zip(urls, processes, strict=True):
            while True:
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, "a gateway replica exited during startup"
                assert time.monotonic() < deadline, "a gateway replica did not start"
                time.sleep(0.1)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)
