"""``gateway orders``: CSV rows, the resume state file, the export walk and the client, offline."""

from __future__ import annotations

import ast
import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.__main__ import _parser
from gateway.cli.arguments import query_params
from gateway.cli.client import (
    GatewayClient,
    GatewayProblemError,
    GatewayUnreachableError,
    UsageError,
    api_key,
    gateway_url,
)
from gateway.cli.export import ResumeRefusedError, export_orders
from gateway.cli.resume import ExportState, load_state, save_state, state_path
from gateway.cli.rows import CSV_COLUMNS, csv_row, jsonl_lines
from tests.support.credentials import UNKNOWN_KEY

CLI_PACKAGE = Path(__file__).resolve().parents[2] / "gateway" / "cli"


def order(number: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f"arrow:XSPO{number}",
        "provider": "arrow",
        "provider_kind": "arrow",
        "native_id": f"XSPO{number}",
        "name": f"PO-{number}",
        "status": "completed",
        "provider_status": "Done",
        "created_at": f"2026-01-{number % 28 + 1:02d}T10:00:00Z",
        "updated_at": None,
        "completed_at": None,
        "customer": {"id": "XSP1", "name": "Acme, Inc."},
        "service": None,
        "items": [{"id": "p1", "name": "Seat", "quantity": 2, "status": None, "unit_price": None}],
        "total": {"amount": "10.50", "currency": "EUR"},
        "actions": ["cancel", "validate"],
        "links": {"self": f"https://gw.test/orders/arrow:XSPO{number}", "upstream": None},
        "extra": {"note": "multi\nline"},
    }
    body.update(overrides)
    return body


# --- rows ---------------------------------------------------------------------------------------


def test_csv_row_flattens_refs_money_and_lists_and_leaves_nulls_empty() -> None:
    row = dict(zip(CSV_COLUMNS, csv_row(order(7)), strict=True))
    assert row["id"] == "arrow:XSPO7"
    assert row["customer_id"] == "XSP1" and row["customer_name"] == "Acme, Inc."
    assert row["service_id"] == "" and row["service_name"] == ""
    assert row["total_amount"] == "10.50" and row["total_currency"] == "EUR"
    assert row["updated_at"] == "" and row["upstream_url"] == ""
    assert row["item_count"] == "1" and row["actions"] == "cancel validate"


def test_csv_row_of_an_order_without_customer_total_or_items() -> None:
    row = dict(
        zip(CSV_COLUMNS, csv_row(order(1, customer=None, total=None, items=[], actions=[])), strict=True)
    )
    assert row["customer_id"] == row["customer_name"] == row["total_amount"] == row["actions"] == ""
    assert row["item_count"] == "0"


def test_jsonl_writes_one_line_per_order_that_parses_back() -> None:
    orders = [order(1), order(2, name="Ünïcode\nname")]
    lines = jsonl_lines(orders).decode().splitlines()
    assert [json.loads(line) for line in lines] == orders


# --- resume state -------------------------------------------------------------------------------


def test_state_round_trips_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = state_path(tmp_path / "out.jsonl")
    assert path.name == "out.jsonl.resume"
    state = ExportState("jsonl", (("sort", "created_at"), ("status", "failed")), "c.2", 400, 123_456)
    save_state(path, state)
    assert load_state(path) == state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl.resume"]
    assert json.loads(path.read_text())["bytes"] == 123_456


def test_missing_state_is_none_and_a_damaged_one_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl.resume"
    assert load_state(path) is None
    path.write_text('{"version": 1, "format": "jsonl"')
    with pytest.raises(UsageError, match="--restart"):
        load_state(path)


# --- the export walk, against a fake gateway --------------------------------------------------------

EVERYTHING = [order(n) for n in range(1, 24)]


class FakeGateway:
    """``GET /orders`` over ``EVERYTHING``: the cursor is the index of the next order."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.fail_from_request: int | None = None
        self.refuse_cursors = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_from_request is not None and len(self.requests) >= self.fail_from_request:
            return problem(500, "internal", "boom")
        params = request.url.params
        assert params["require"] == "all"
        if self.refuse_cursors and "cursor" in params:
            return problem(400, "invalid-cursor", "The cursor has expired; start the listing again.")
        start = int(params.get("cursor", "0"))
        limit = int(params["limit"])
        data = EVERYTHING[start : start + limit]
        more = start + limit < len(EVERYTHING)
        return httpx.Response(
            200, json={"data": data, "next_cursor": str(start + limit) if more else None, "has_more": more}
        )


def problem(status: int, slug: str, detail: str) -> httpx.Response:
    body = {"type": f"https://errors.order-gateway.dev/{slug}", "title": slug, "status": status}
    return httpx.Response(status, json=body | {"detail": detail, "instance": "req-1"})


def client_for(fake: Callable[[httpx.Request], httpx.Response]) -> GatewayClient:
    return GatewayClient("http://gw.test", "k", transport=httpx.MockTransport(fake), sleep=lambda s: None)


def ids_in(path: Path) -> list[str]:
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


def test_export_walks_every_page_and_removes_its_state(tmp_path: Path) -> None:
    out = tmp_path / "orders.jsonl"
    pages: list[int] = []
    with client_for(FakeGateway()) as client:
        result = export_orders(
            client, [("status", "completed")], format="jsonl", output=out, page_size=5, on_page=pages.append
        )
    assert result.count == 23 and result.resumed_from is None
    assert ids_in(out) == [o["id"] for o in EVERYTHING]
    assert pages == [5, 10, 15, 20, 23]
    assert not state_path(out).exists()


def test_export_resumes_after_a_failure_dropping_a_torn_page(tmp_path: Path) -> None:
    out = tmp_path / "orders.jsonl"
    fake = FakeGateway()
    fake.fail_from_request = 3  # two pages land, the third fails
    with client_for(fake) as client, pytest.raises(GatewayProblemError):
        export_orders(client, [], format="jsonl", output=out, page_size=5)
    state = load_state(state_path(out))
    assert state is not None and state.count == 10 and state.cursor == "10"
    with out.open("ab") as file:  # a kill in the middle of writing the next page
        file.write(b'{"id": "arrow:XSPO11", "prov')
    fake.fail_from_request = None
    with client_for(fake) as client:
        result = export_orders(client, [], format="jsonl", output=out, page_size=7)
    assert result.resumed_from == 10 and result.count == 23
    assert ids_in(out) == [o["id"] for o in EVERYTHING]
    assert not state_path(out).exists()


def test_csv_export_resumes_without_a_second_header(tmp_path: Path) -> None:
    out = tmp_path / "orders.csv"
    fake = FakeGateway()
    fake.fail_from_request = 2
    with client_for(fake) as client, pytest.raises(GatewayProblemError):
        export_orders(client, [], format="csv", output=out, page_size=6)
    fake.fail_from_request = None
    with client_for(fake) as client:
        export_orders(client, [], format="csv", output=out, page_size=6)
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert rows[0] == list(CSV_COLUMNS)
    assert [r[0] for r in rows[1:]] == [o["id"] for o in EVERYTHING]


def test_a_state_of_other_filters_is_refused_unless_restarting(tmp_path: Path) -> None:
    out = tmp_path / "orders.jsonl"
    fake = FakeGateway()
    fake.fail_from_request = 2
    with client_for(fake) as client, pytest.raises(GatewayProblemError):
        export_orders(client, [("status", "failed")], format="jsonl", output=out, page_size=5)
    fake.fail_from_request = None
    with client_for(fake) as client:
        with pytest.raises(UsageError, match="other filters"):
            export_orders(client, [("status", "pending")], format="jsonl", output=out, page_size=5)
        with pytest.raises(UsageError):
            export_orders(client, [("status", "failed")], format="csv", output=out, page_size=5)
        result = export_orders(client, [("status", "pending")], format="jsonl", output=out, restart=True)
    assert result.resumed_from is None and ids_in(out) == [o["id"] for o in EVERYTHING]


def test_an_expired_saved_cursor_is_said_plainly(tmp_path: Path) -> None:
    out = tmp_path / "orders.jsonl"
    fake = FakeGateway()
    fake.fail_from_request = 2
    with client_for(fake) as client, pytest.raises(GatewayProblemError):
        export_orders(client, [], format="jsonl", output=out, page_size=5)
    fake.fail_from_request = None
    fake.refuse_cursors = True
    with client_for(fake) as client, pytest.raises(ResumeRefusedError) as caught:
        export_orders(client, [], format="jsonl", output=out, page_size=5)
    message = str(caught.value)
    assert "refused the saved cursor" in message and "expired" in message and "--restart" in message


# --- the client ---------------------------------------------------------------------------------


def test_a_problem_is_one_line_naming_status_type_detail_and_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return problem(404, "order-not-found", "No such order.")

    with client_for(handler) as client, pytest.raises(GatewayProblemError) as caught:
        client.get_order("arrow:XSPO1")
    assert str(caught.value) == "404 order-not-found: No such order. (request req-1)"
    assert caught.value.exit_code == 1


def test_busy_answers_are_retried_after_retry_after() -> None:
    answers = [problem(429, "rate-limited", "slow down"), problem(503, "circuit-open", "later")]
    slept: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if answers:
            response = answers.pop(0)
            response.headers["Retry-After"] = "2"
            return response
        assert request.url.raw_path == b"/orders/ivcap:urn:ivcap:order:1%2F2"
        return httpx.Response(200, json={"id": "x"})

    client = GatewayClient("http://gw.test", "k", transport=httpx.MockTransport(handler), sleep=slept.append)
    with client:
        assert client.get_order("ivcap:urn:ivcap:order:1/2") == {"id": "x"}
    assert slept == [2.0, 2.0]


def test_an_unreachable_gateway_is_reported_after_the_retries() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with client_for(handler) as client, pytest.raises(GatewayUnreachableError, match="cannot reach"):
        client.list_orders([])


def test_the_key_comes_from_the_environment_only(capsys: pytest.CaptureFixture[str]) -> None:
    assert api_key({"GATEWAY_API_KEY": f" {UNKNOWN_KEY} "}) == UNKNOWN_KEY
    with pytest.raises(UsageError) as caught:
        api_key({})
    assert caught.value.exit_code == 2
    help_text = "".join(subcommand_help(name, capsys) for name in ("list", "show", "export"))
    assert "GATEWAY_API_KEY" in help_text and "--key" not in help_text and "--api-key" not in help_text


def test_the_url_comes_from_the_flag_the_environment_or_the_default() -> None:
    assert gateway_url("http://gw:9/", {"GATEWAY_URL": "http://other"}) == "http://gw:9"
    assert gateway_url(None, {"GATEWAY_URL": "https://gw.example.org/api"}) == "https://gw.example.org/api"
    assert gateway_url(None, {}) == "http://127.0.0.1:8080"
    with pytest.raises(UsageError):
        gateway_url("ftp://gw", {})


def test_filter_options_become_query_parameters() -> None:
    args = _parser().parse_args(
        ["orders", "list", "--status", "pending,failed", "--provider", "arrow", "--provider", "ivcap",
         "--search", "vm", "--created-after", "2026-01-01T00:00:00Z", "--sort", "created_at"]
    )  # fmt: skip
    assert query_params(args) == [
        ("provider", "arrow"),
        ("provider", "ivcap"),
        ("status", "pending,failed"),
        ("created_after", "2026-01-01T00:00:00Z"),
        ("q", "vm"),
        ("sort", "created_at"),
    ]


def subcommand_help(name: str, capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit):
        _parser().parse_args(["orders", name, "--help"])
    return capsys.readouterr().out


def test_the_cli_imports_nothing_of_the_gateway_but_itself() -> None:
    # It is an HTTP client of a running gateway: never the service, the app or the core.
    for path in CLI_PACKAGE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gateway"):
                assert node.module.startswith("gateway.cli"), f"{path.name} imports {node.module}"
            if isinstance(node, ast.Import):
                assert not any(
                    a.name.startswith("gateway") and not a.name.startswith("gateway.cli") for a in node.names
                )
