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

from tests.support.credentials import CHILD_ENV, digest

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

    The replicas' environment is this process's, with ``CHILD_ENV`` (the config may name
    ``${OG_SIM_TOKEN}`` and ``${OG_CURSOR_SECRET}``) and ``env`` added.
    """
    path = workdir / "gateway.yaml"
    path.write_text(yaml.safe_dump(dict(config)))
    full_env = {**os.environ, **CHILD_ENV, **(env or {})}
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
            wait_until_up(url, process, deadline)
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=15)


def wait_until_up(url: str, process: subprocess.Popen[Any], deadline: float) -> None:
    """Until the gateway at ``url`` answers ``/healthz``; fails if it exits or ``deadline``
    (``time.monotonic()``) passes first."""
    while True:
        try:
            if httpx.get(f"{url}/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, "a gateway exited during startup"
        assert time.monotonic() < deadline, "a gateway did not start"
        time.sleep(0.1)


def shared_config(
    providers: Mapping[str, Any], api_keys: list[dict[str, Any]], redis_url: str, **extra: Any
) -> dict[str, Any]:
    """A config for replicas sharing the Redis at ``redis_url``, their cursor secret from
    ``CHILD_ENV``; ``extra`` adds top-level settings."""
    return {
        "providers": dict(providers),
        "api_keys": api_keys,
        "cache": {"backend": "redis", "url": redis_url},
        "cursor": {"secret": "${OG_CURSOR_SECRET}"},
        **extra,
    }


def api_key(name: str, key: str, scopes: list[str], **options: Any) -> dict[str, Any]:
    """One ``api_keys`` entry: ``key``'s digest under ``name``."""
    return {"name": name, "sha256": digest(key), "scopes": scopes, **options}


def arrow_instance(sim_url: str, **options: Any) -> dict[str, Any]:
    """An Arrow instance at a simulator, its API key from ``CHILD_ENV``."""
    return {"kind": "arrow", "base_url": f"{sim_url}/index.php/api/", "api_key": "${OG_SIM_TOKEN}", **options}


def waldur_instance(sim_url: str, **options: Any) -> dict[str, Any]:
    """A Waldur instance at a simulator, its token from ``CHILD_ENV``."""
    return {"kind": "waldur", "base_url": f"{sim_url}/api/", "token": "${OG_SIM_TOKEN}", **options}
