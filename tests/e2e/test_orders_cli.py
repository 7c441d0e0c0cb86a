"""``gateway orders`` as a subprocess against a real gateway and three simulators, vs an oracle."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.merge import matches, sort_orders
from gateway.models import Order
from gateway.query import parse_order_query
from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.servers import running_server
from tests.support.stack import KEYS, SIM_TOKEN, auth, gateway_settings, read_every_order

pytestmark = pytest.mark.e2e
GATEWAY = [sys.executable, "-m", "gateway"]
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a fixed clock: IVCAP's orders hold still


class Stack:
    def __init__(self, gateway: str, sims: dict[str, str], everything: list[Order]) -> None:
        self.gateway = gateway
        self.sims = sims  # kind → simulator root URL
        self.everything = everything

    def oracle(self, params: list[tuple[str, str]]) -> list[str]:
        """The brute-force answer: filter and sort the union of all upstream data."""
        query = parse_order_query(params)
        return [
            o.id for o in sort_orders((o for o in self.everything if matches(o, query.filters)), query.sort)
        ]

    def env(self, key: str = "reader") -> dict[str, str]:
        return {**os.environ, "GATEWAY_URL": self.gateway, "GATEWAY_API_KEY": KEYS[key][0]}

    def cli(self, *argv: str, key: str = "reader") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*GATEWAY, "orders", *argv], capture_output=True, text=True, env=self.env(key), timeout=60
        )


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with (
        running_server(create_waldur_sim(orders=300, seed=41, token=SIM_TOKEN, clock=lambda: NOW)) as waldur,
        running_server(create_ivcap_sim(orders=250, seed=42, token=SIM_TOKEN, clock=lambda: NOW)) as ivcap,
        running_server(create_arrow_sim(orders=250, seed=43, token=SIM_TOKEN, clock=lambda: NOW)) as arrow,
    ):
        providers = {
            "waldur": {"kind": "waldur", "base_url": f"{waldur}/api/", "token": SIM_TOKEN},
            "ivcap": {"kind": "ivcap", "base_url": f"{ivcap}/1/", "token": SIM_TOKEN},
            "arrow": {"kind": "arrow", "base_url": f"{arrow}/index.php/api/", "api_key": SIM_TOKEN},
        }
        with running_server(create_app(gateway_settings(providers))) as gateway:
            everything = asyncio.run(read_every_order(providers))
            yield Stack(gateway, {"waldur": waldur, "ivcap": ivcap, "arrow": arrow}, everything)


def ids_in(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()]


def test_export_jsonl_reproduces_the_oracle_and_the_export_endpoint(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "orders.jsonl"
    result = stack.cli("export", "--format", "jsonl", "--out", str(out))
    assert result.returncode == 0, result.stderr
    expected = stack.oracle([])
    assert len(expected) == 800
    assert ids_in(out) == expected
    assert f"exported 800 orders to {out}" in result.stderr
    assert not Path(f"{out}.resume").exists()
    # Every field, not just the ids: the same lines as the streaming endpoint sends.
    streamed = httpx.get(f"{stack.gateway}/orders/export", headers=auth("reader"), timeout=30)
    assert [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()] == [
        json.loads(line) for line in streamed.text.splitlines()
    ]


def test_export_killed_mid_walk_resumes_to_exactly_the_oracle(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "orders.jsonl"
    state = Path(f"{out}.resume")
    arrow = stack.sims["arrow"]
    assert httpx.post(f"{arrow}/__sim__/faults", json={"latency_ms": 150, "count": 10_000}).status_code == 200
    argv = [*GATEWAY, "orders", "export", "--out", str(out), "--page-size", "40"]
    process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=stack.env())
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if state.exists() and json.loads(state.read_text())["count"] >= 200:
                break
            assert process.poll() is None, "the export ended before it was killed"
            time.sleep(0.02)
        else:
            raise AssertionError("the export made no progress")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        httpx.delete(f"{arrow}/__sim__/faults")
        if process.poll() is None:
            process.kill()
        assert process.stderr is not None
        process.stderr.close()
    saved = json.loads(state.read_text())
    assert 200 <= saved["count"] < 800
    assert len(ids_in(out)) >= saved["count"]
    with out.open("ab") as file:  # as if killed halfway through writing a page
        file.write(b'{"id":"arrow:XSPO')

    result = stack.cli("export", "--out", str(out), "--page-size", "200")
    assert result.returncode == 0, result.stderr
    assert "resuming" in result.stderr
    ids = ids_in(out)
    assert ids == stack.oracle([])
    assert len(ids) == len(set(ids)) == 800
    assert not state.exists()


def test_export_csv_of_a_filtered_walk_matches_the_oracle(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "orders.csv"
    filters = [
        "--status",
        "completed,failed",
        "--sort",
        "created_at",
        "--created-after",
        "2025-06-01T00:00:00Z",
    ]
    result = stack.cli("export", "--format", "csv", "--out", str(out), "--page-size", "60", *filters)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))
    expected = stack.oracle(
        [("status", "completed,failed"), ("sort", "created_at"), ("created_after", "2025-06-01T00:00:00Z")]
    )
    assert expected and [row["id"] for row in rows] == expected
    assert {row["status"] for row in rows} <= {"completed", "failed"}


def test_list_and_show_read_the_gateway(stack: Stack) -> None:
    listing = stack.cli("list", "--limit", "5", "--provider", "arrow,ivcap", "--json")
    assert listing.returncode == 0, listing.stderr
    ids = [o["id"] for o in json.loads(listing.stdout)["data"]]
    assert ids == stack.oracle([("provider", "arrow,ivcap")])[:5]

    table = stack.cli("list", "--limit", "3")
    assert table.returncode == 0, table.stderr
    assert "PROVIDER" in table.stdout and "more: --cursor" in table.stderr

    shown = stack.cli("show", ids[0])
    assert shown.returncode == 0, shown.stderr
    assert ids[0].split(":", 1)[1] in shown.stdout


@pytest.mark.parametrize(
    ("argv", "key", "code", "says"),
    [
        (["show", "arrow:XSPO0000000"], "reader", 1, "404 order-not-found"),
        (["list", "--status", "lost"], "reader", 1, "400 invalid-query"),
        (["list"], "writer", 1, "403 missing-scope"),
        (["list", "--url", "ftp://nowhere"], "reader", 2, "gateway URL"),
    ],
)
def test_errors_are_one_line_on_stderr_with_an_exit_code(
    stack: Stack, argv: list[str], key: str, code: int, says: str
) -> None:
    result = stack.cli(*argv, key=key)
    assert result.returncode == code
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and lines[0].startswith("gateway orders: ")


def test_without_a_key_in_the_environment_it_exits_2(stack: Stack) -> None:
    env = {k: v for k, v in stack.env().items() if k != "GATEWAY_API_KEY"}
    result = subprocess.run([*GATEWAY, "orders", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 2 and "GATEWAY_API_KEY" in result.stderr
