"""The ``gateway`` command as a newcomer runs it: demo, serve with bad config, keys new, sim."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.credentials import fresh_token

pytestmark = pytest.mark.e2e
GATEWAY = [sys.executable, "-m", "gateway"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_until(process: subprocess.Popen[str], pattern: str, timeout: float = 30) -> re.Match[str]:
    deadline = time.monotonic() + timeout
    seen = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"never printed {pattern!r}; got {seen!r}")


def test_demo_serves_orders_with_the_printed_key() -> None:
    port = free_port()
    process = subprocess.Popen(
        [*GATEWAY, "demo", "--port", str(port), "--orders", "40"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        key = read_until(process, r"demo API key .*: (\S+)").group(1)
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        listing = httpx.get(
            f"{base}/orders", params={"limit": "5"}, headers={"Authorization": f"Bearer {key}"}
        )
        assert listing.status_code == 200
        body = listing.json()
        assert len(body["data"]) == 5
        assert {name: r["status"] for name, r in body["providers"].items()} == {
            "waldur": "ok",
            "ivcap": "ok",
            "arrow": "ok",
        }
        everything = httpx.get(
            f"{base}/orders", params={"limit": "200"}, headers={"Authorization": f"Bearer {key}"}
        ).json()
        assert {o["provider_kind"] for o in everything["data"]} == {"waldur", "ivcap", "arrow"}
        order = body["data"][0]
        read = httpx.get(f"{base}/orders/{order['id']}", headers={"X-API-Key": key}).json()
        # A read may carry more than a list row (IVCAP rows have no parameters or products).
        assert {k: read[k] for k in ("id", "status", "created_at", "links")} == {
            k: order[k] for k in ("id", "status", "created_at", "links")
        }
        assert order["links"]["self"] == f"{base}/orders/{order['id']}"
        assert httpx.get(f"{base}/orders").status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
        assert process.stdout is not None
        process.stdout.close()


@pytest.mark.parametrize(
    ("config", "named"),
    [
        (
            'providers:\n  w: {kind: waldur, base_url: "http://h/api/", token: "${OG_TEST_TOKEN}", colour: red}\n',
            "providers.w.colour",
        ),
        (
            'providers:\n  w: {kind: gopher, base_url: "http://h/api/", token: "${OG_TEST_TOKEN}"}\n',
            "providers.w.kind",
        ),
        (
            'providers:\n  w: {kind: waldur, base_url: "nope", token: "${OG_TEST_TOKEN}"}\n',
            "providers.w.base_url",
        ),
        (
            'providers:\n  w: {kind: waldur, base_url: "http://h/api/", token: "${OG_UNSET_VAR}"}\n',
            "OG_UNSET_VAR",
        ),
        (
            'providers:\n  w: {kind: waldur, base_url: "http://h/api/", token: "${OG_TEST_TOKEN}", timeout_s: "${OG_TEST_TOKEN}"}\n',
            "providers.w.timeout_s",
        ),
    ],
)
def test_serve_with_a_bad_config_exits_2_naming_the_key(tmp_path: Path, config: str, named: str) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(config)
    secret = fresh_token()
    env = {k: v for k, v in os.environ.items() if k != "OG_UNSET_VAR"} | {"OG_TEST_TOKEN": secret}
    result = subprocess.run(
        [*GATEWAY, "serve", "--config", str(path)], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0]
    assert secret not in result.stderr + result.stdout


def test_serve_reads_gateway_config_from_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text("providers: {}\n")
    env = {**os.environ, "GATEWAY_CONFIG": str(path)}
    result = subprocess.run([*GATEWAY, "serve"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "providers" in result.stderr


def test_keys_new_prints_a_key_and_its_stanza() -> None:
    result = subprocess.run(
        [*GATEWAY, "keys", "new", "--name", "frontend", "--scopes", "orders:read,orders:write", "--providers", "waldur"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    key = re.search(r"shown once.*: (\S+)", result.stdout)
    assert key is not None
    stanza = yaml.safe_load(result.stdout.split("Add to api_keys in the config:", 1)[1])
    assert stanza == [
        {
            "name": "frontend",
            "sha256": hashlib.sha256(key.group(1).encode()).hexdigest(),
            "scopes": ["orders:read", "orders:write"],
            "providers": ["waldur"],
        }
    ]
    bad = subprocess.run(
        [*GATEWAY, "keys", "new", "--name", "x", "--scopes", "orders:all"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2


@pytest.mark.parametrize(
    ("argv", "header", "path", "count"),
    [
        (
            ["waldur"],
            "Authorization: Token",
            "/api/marketplace-orders/",
            lambda r: int(r.headers["x-result-count"]),
        ),
        (["ivcap"], "Authorization: Bearer", "/1/orders?limit=50", lambda r: len(r.json()["items"])),
        (
            ["ivcap", "--dialect", "legacy"],
            "Authorization: Bearer",
            "/1/orders?limit=50",
            lambda r: len(r.json()["orders"]),
        ),
        (
            ["arrow"],
            "apiKey:",
            "/index.php/api/orders?per_page=50",
            lambda r: r.json()["pagination"]["total"],
        ),
    ],
    ids=["waldur", "ivcap", "ivcap-legacy", "arrow"],
)
def test_sim_prints_its_credential_and_speaks_its_api(
    argv: list[str], header: str, path: str, count: Callable[[httpx.Response], int]
) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*GATEWAY, "sim", *argv, "--port", str(port), "--orders", "12"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    try:
        token = read_until(process, re.escape(header) + r" (\S+)").group(1)
        read_until(process, rf"simulated {argv[0]} on")
        name, _, prefix = header.partition(":")
        headers = {name: f"{prefix.strip()} {token}".strip()}
        url = f"http://127.0.0.1:{port}{path}"
        for _ in range(100):
            try:
                response = httpx.get(url, headers=headers)
                break
            except httpx.TransportError:
                time.sleep(0.05)
        assert response.status_code == 200 and count(response) == 12
        assert httpx.get(url).status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
        assert process.stdout is not None
        process.stdout.close()


def test_dialect_is_refused_for_other_kinds() -> None:
    result = subprocess.run(
        [*GATEWAY, "sim", "waldur", "--port", "9", "--dialect", "legacy"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "ivcap" in result.stderr
