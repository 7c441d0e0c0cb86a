"""A real haproxy (Debian's) on a free loopback port, round-robin over gateway replicas.

Each answer carries ``X-Served-By: r<N>``, the index of the replica that served it, so a
test can tell which replica answered. Startup fails loudly: the config is checked first
(``haproxy -c``), and a process that exits or never answers raises with haproxy's own output.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.support.replicas import free_port

STARTUP_TIMEOUT_S = 10.0
SERVED_BY = "x-served-by"


def haproxy_binary() -> str:
    binary = shutil.which("haproxy") or ("/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None)
    if binary is None:
        raise RuntimeError("haproxy is not installed: `apt-get install haproxy` (make system-deps does)")
    return binary


def haproxy_config(port: int, backends: Sequence[str], *, health_path: str = "/healthz") -> str:
    """A config listening on ``127.0.0.1:port`` balancing over ``backends`` (base URLs)."""
    servers = []
    for index, url in enumerate(backends):
        parts = urlsplit(url)
        servers.append(f"    server r{index} {parts.hostname}:{parts.port} check inter 1s fall 3 rise 1")
    lines = [
        "global",
        "    maxconn 256",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 2s",
        "    timeout client 30s",
        "    timeout server 30s",
        "    timeout check 2s",
        "",
        "frontend gateway_in",
        f"    bind 127.0.0.1:{port}",
        "    default_backend gateway_replicas",
        "",
        "backend gateway_replicas",
        "    balance roundrobin",
        f"    option httpchk GET {health_path}",
        "    http-check expect status 200",
        "    http-response set-header X-Served-By %[srv_name]",
        *servers,
        "",
    ]
    return "\n".join(lines)


def check_config(path: Path) -> None:
    """``haproxy -c``: raise with haproxy's own words when the config is not valid."""
    checked = subprocess.run(
        [haproxy_binary(), "-c", "-f", str(path)], capture_output=True, text=True, timeout=30
    )
    if checked.returncode != 0:
        raise RuntimeError(f"haproxy -c rejected {path}:\n{checked.stdout}{checked.stderr}")


@contextmanager
def running_haproxy(
    backends: Sequence[str], workdir: Path, *, health_path: str = "/healthz"
) -> Iterator[str]:
    """Start haproxy in front of ``backends``; yield its ``http://127.0.0.1:PORT``; stop it after."""
    port = free_port()
    config = workdir / "haproxy.cfg"
    config.write_text(haproxy_config(port, backends, health_path=health_path))
    check_config(config)
    log_path = workdir / "haproxy.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [haproxy_binary(), "-db", "-f", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(process, url, health_path, log_path)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_serving(process: subprocess.Popen[bytes], url: str, path: str, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}{path}", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"haproxy did not serve {url}{path} in time:\n{log.read_text()}")
        time.sleep(0.05)
