"""Every server one benchmark session runs: simulators, gateways, anchors, nginx — started together.

Servers start in parallel (each is its own process, apart from wrk) and the session waits for
all of them at once; the ``Fleet`` stops them all when it closes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import yaml

from bench.processes import PYTHON, STARTUP_TIMEOUT_S, Server, free_port, tail
from tests.support.credentials import API_KEYS, CURSOR_SECRET, SIM_TOKEN

# Made at random per run (tests/support/credentials.py, as bench/session.py already imports
# tests.support); children get them by ``--token`` and the ${BENCH_*} variables of their config.
READ_KEY = API_KEYS["bench-read"]
WRITE_KEY = API_KEYS["bench-write"]
KINDS = ("waldur", "ivcap", "arrow")
BASE_PATHS = {"waldur": "/api/", "ivcap": "/1/", "arrow": "/index.php/api/"}
CREDENTIAL_KEYS = {"waldur": "token", "ivcap": "token", "arrow": "api_key"}
SIM_READY_PATH = "/__sim__/requests"
# Rate limits out of the way: the settings' largest bucket, refilled every second.
NO_RATE_LIMIT = {"requests": 1_000_000, "window_s": 1}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Fleet:
    """Servers started now and awaited together (``wait``); ``close`` stops every one."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._pending: list[tuple[Server, str]] = []
        self.servers: list[Server] = []

    def start(
        self,
        name: str,
        args: Sequence[str],
        url: str,
        *,
        ready_path: str = "/",
        env: Mapping[str, str] | None = None,
    ) -> Server:
        log = self.workdir / f"{name}.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(
                list(args), env={**os.environ, **(env or {})}, stdout=sink, stderr=subprocess.STDOUT
            )
        server = Server(name, url, process, log)
        self.servers.append(server)
        self._pending.append((server, ready_path))
        return server

    def wait(self) -> None:
        """Return once every server started so far answers its ready path below 500."""
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        with httpx.Client(timeout=2) as client:
            while self._pending:
                server, path = self._pending[0]
                if server.process.poll() is not None:
                    raise RuntimeError(f"{server.name} exited during startup:\n{tail(server.log)}")
                try:
                    if client.get(f"{server.url}{path}").status_code < 500:
                        self._pending.pop(0)
                        continue
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{server.name} did not answer {path} in time:\n{tail(server.log)}")
                time.sleep(0.05)

    def close(self) -> None:
        for server in self.servers:
            if server.process.poll() is None:
                server.process.terminate()
        for server in self.servers:
            try:
                server.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.process.kill()
                server.process.wait(timeout=15)

    # -- what the scenarios run ---------------------------------------------------------------

    def sims(
        self, tag: str, *, orders: int, latency_ms: int = 0, kinds: Sequence[str] = KINDS
    ) -> dict[str, Server]:
        """One simulator per kind; each Server's url is its API's base URL."""
        started = {}
        for seed, kind in enumerate(kinds, start=1):
            port = free_port()
            args = [PYTHON, "-m", "gateway", "sim", kind, "--port", str(port), f"--token={SIM_TOKEN}"]
            args += ["--orders", str(orders), "--seed", str(seed), "--latency-ms", str(latency_ms)]
            root = f"http://127.0.0.1:{port}"
            server = self.start(f"sim-{tag}-{kind}", args, root, ready_path=SIM_READY_PATH)
            started[kind] = Server(server.name, root + BASE_PATHS[kind], server.process, server.log)
        return started

    def gateway(self, name: str, config: Mapping[str, Any]) -> Server:
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump(dict(config)))
        port = free_port()
        args = [PYTHON, "-m", "gateway", "serve", "--config", str(path), "--port", str(port)]
        env = {"BENCH_SIM_TOKEN": SIM_TOKEN, "BENCH_CURSOR_SECRET": CURSOR_SECRET}
        return self.start(name, args, f"http://127.0.0.1:{port}", ready_path="/healthz", env=env)

    def bare_starlette(self, body_path: Path) -> Server:
        port = free_port()
        args = [PYTHON, "-m", "bench.anchors.bare", "--port", str(port), "--body", str(body_path)]
        return self.start("a2-bare-starlette", args, f"http://127.0.0.1:{port}", ready_path="/healthz")

    def naive_proxy(self, transport: str, sims: Mapping[str, Server]) -> Server:
        port = free_port()
        args = [PYTHON, "-m", "bench.anchors.naive", "--port", str(port), "--transport", transport]
        args += [f"--token={SIM_TOKEN}", *(f"--{kind}={sims[kind].url}" for kind in KINDS)]
        return self.start(f"a3-naive-{transport}", args, f"http://127.0.0.1:{port}", ready_path="/healthz")

    def nginx(self, body: bytes) -> Server:
        """nginx (one worker) serving ``body`` at ``/orders`` as a static file."""
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            raise RuntimeError("nginx is not installed: `make bench` installs it (apt-get install nginx)")
        root = self.workdir / "nginx"
        (root / "www").mkdir(parents=True, exist_ok=True)
        (root / "www" / "orders.json").write_bytes(body)
        for path in (root, root / "www", root / "www" / "orders.json"):
            path.chmod(0o755 if path.is_dir() else 0o644)  # its worker may run as nobody
        port = free_port()
        conf = root / "nginx.conf"
        conf.write_text(nginx_config(root, port))
        args = [binary, "-p", str(root), "-c", str(conf), "-e", str(root / "error.log")]
        return self.start("a1-nginx", args, f"http://127.0.0.1:{port}", ready_path="/orders")


def nginx_config(root: Path, port: int) -> str:
    temp = " ".join(
        f"{kind}_temp_path {root}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""
worker_processes 1;
daemon off;
master_process on;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    {temp}
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    server {{
        listen 127.0.0.1:{port};
        root {root}/www;
        location = /orders {{ default_type application/json; try_files /orders.json =404; }}
    }}
}}
"""


def gateway_config(
    sims: Mapping[str, Server],
    *,
    ttl_s: float,
    redis_url: str | None = None,
    max_bytes: int | None = None,
) -> dict[str, Any]:
    """A gateway on ``sims``: every read cached ``ttl_s`` (0: not cached), rate limits out of
    the way, one cursor secret (so replicas read each other's cursors)."""
    providers = {
        kind: {
            "kind": kind,
            "base_url": server.url,
            CREDENTIAL_KEYS[kind]: "${BENCH_SIM_TOKEN}",
            "cache": {"ttl_s": ttl_s},
        }
        for kind, server in sims.items()
    }
    cache: dict[str, Any] = {"backend": "memory"}
    if redis_url is not None:
        cache = {"backend": "redis", "url": redis_url}
    if max_bytes is not None:
        cache["max_bytes"] = max_bytes
    return {
        "providers": providers,
        "api_keys": [
            {
                "name": "reader",
                "sha256": hashlib.sha256(READ_KEY.encode()).hexdigest(),
                "scopes": ["orders:read"],
                "rate_limit": NO_RATE_LIMIT,
            },
            {
                "name": "writer",
                "sha256": hashlib.sha256(WRITE_KEY.encode()).hexdigest(),
                "scopes": ["orders:read", "orders:write"],
                "rate_limit": NO_RATE_LIMIT,
            },
        ],
        "cache": cache,
        "cursor": {"secret": "${BENCH_CURSOR_SECRET}"},
    }
