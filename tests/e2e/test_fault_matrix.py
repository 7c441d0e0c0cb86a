"""The fault matrix: every upstream kind × every kind of upstream failure × list, read, create
and an action, through the gateway's HTTP API, against simulators on real sockets and the
gateway's own upstream client (``app.build_client``: the production transport).

Each row checks the answer's status and problem ``type`` (API.md §5 and §7, the tree in
``gateway/errors.py``), the ``providers`` report of a listing where another instance still
answers, that nothing of the upstream leaks into the answer (address, credential, its error
body or page, a traceback), and the request's JSON log lines: the access line names the
instance, an error answer's warning names the problem type, and no line holds a secret.

Retries are off in the matrix (``retry.attempts: 1``) and reads are not cached
(``cache.ttl_s: 0``), so each fault meets the adapter's own translation of it; the retry
tests at the end count the attempts a retried row makes.
"""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import structlog
from starlette.applications import Starlette

from gateway.app import build_client
from gateway.logs import QUIET_LOGGERS, configure_logging
from gateway.settings import Settings
from gateway.sim.arrow import create_arrow_sim
from gateway.sim.faults import HTML_BODY
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import CONTROL_TOKEN, CURSOR_SECRET, SIM_TOKENS
from tests.support.servers import running_server
from tests.support.stack import KEYS, auth, gateway_client, gateway_settings

pytestmark = pytest.mark.e2e

BASE = "https://errors.order-gateway.dev/"
MAX_RESPONSE_BYTES = 1024 * 1024  # the huge answer (8 MiB) is eight times this
TIMEOUT_S = 0.3  # the instance's timeout in the timeout row; the fault waits 1.5 s
SLOW_MS = 1500


def unused_port() -> int:
    """A loopback port nobody listens on: connections to it are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


# --- the upstream kinds ----------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    name: str
    token: str
    build: Callable[[str], Starlette]  # token → simulator
    base_path: str
    credential_key: str  # where its instance config takes the credential
    action: str  # the action of the matrix: the first write that kind has
    list_path: str
    read_path: Callable[[str], str]  # native id → the path the read asks for
    create_path: str
    action_path: Callable[[str], str]  # native id → the path of the action's own call
    action_payload: dict[str, Any] = field(default_factory=dict)

    def config(self, origin: str) -> dict[str, Any]:
        return {"kind": self.name, "base_url": origin + self.base_path, self.credential_key: self.token}


KINDS = [
    Kind(
        "waldur",
        SIM_TOKENS["waldur"],
        lambda token: create_waldur_sim(orders=150, seed=81, token=token),
        "/api/",
        "token",
        "set_backend_id",  # a staff action every order allows (few are in a state to cancel)
        list_path="/api/marketplace-orders/",
        read_path=lambda native: f"/api/marketplace-orders/{native}/",
        create_path="/api/marketplace-orders/",
        action_path=lambda native: f"/api/marketplace-orders/{native}/set_backend_id/",
        action_payload={"backend_id": "fault-matrix-7"},
    ),
    Kind(
        "ivcap",
        SIM_TOKENS["ivcap"],
        lambda token: create_ivcap_sim(orders=60, seed=82, token=token),
        "/1/",
        "token",
        "add_metadata",
        list_path="/1/orders",
        read_path=lambda native: f"/1/orders/{native}",
        create_path="/1/orders",
        action_path=lambda native: "/1/aspects",  # after a read of the order
        action_payload={"schema": "urn:example:schema:check.1", "content": {"ok": True}},
    ),
    Kind(
        "arrow",
        SIM_TOKENS["arrow"],
        lambda token: create_arrow_sim(orders=150, seed=83, token=token),
        "/index.php/api/",
        "api_key",
        "cancel",
        list_path="/index.php/api/orders",
        read_path=lambda native: f"/index.php/api/orders/{native}",
        create_path="/index.php/api/orders",
        action_path=lambda native: f"/index.php/api/orders/{native}/cancel",
    ),
]
SECRETS = (CONTROL_TOKEN, CURSOR_SECRET, *(k.token for k in KINDS), *(key for key, _, _ in KEYS.values()))


# --- the faults ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    name: str
    plan: dict[str, Any] | None  # armed at the simulator (POST /__sim__/faults), count 1
    refused: bool = False  # the instance points at a port nobody listens on
    timeout_s: float = 5.0  # the instance's timeout_s


FAULTS = [
    Fault("timeout", {"latency_ms": SLOW_MS}, timeout_s=TIMEOUT_S),
    Fault("refused", None, refused=True),
    Fault("reset-mid-body", {"drop": True}),
    Fault("500", {"status": 500}),
    Fault("502-retry-after", {"status": 502, "retry_after": 1}),
    Fault("503-retry-after", {"status": 503, "retry_after": 1}),
    Fault("429", {"status": 429, "retry_after": 1}),
    Fault("malformed-json", {"malformed": True}),
    Fault("html-page", {"html": True}),  # a wrong content type with a body to match
    Fault("mislabelled-json", {"content_type": "text/plain"}),  # the real answer, wrong type
    Fault("wrong-shape", {"wrong_shape": True}),
    Fault("huge-body", {"huge_mb": 8}),
    Fault("401", {"status": 401}),
    Fault("403", {"status": 403}),
]
OPS = ("list", "read", "create", "action")


# --- what API.md §5 and §7 say each row answers --------------------------------------------


@dataclass(frozen=True)
class Expect:
    status: int
    type: str | None = None  # the problem type; None for a success
    upstream_status: int | None = None
    outcome: str | None = None  # "uncertain" on a create that may have happened


OK = Expect(200)
# A read of one order (API.md §7): the upstream's failure, translated.
READ: dict[str, Expect] = {
    "timeout": Expect(504, "upstream-timeout"),
    "refused": Expect(502, "upstream-unreachable"),
    "reset-mid-body": Expect(502, "upstream-unreachable"),
    "500": Expect(502, "upstream-bad-response", 500),
    "502-retry-after": Expect(502, "upstream-bad-response", 502),
    "503-retry-after": Expect(502, "upstream-bad-response", 503),
    # Not a 5xx: the upstream refused the gateway's request (its own rate limit), 502.
    "429": Expect(502, "upstream-error", 429),
    "malformed-json": Expect(502, "upstream-bad-response", 200),
    "html-page": Expect(502, "upstream-bad-response", 200),
    # The body is what the kind answers: the label alone does not make it unreadable.
    "mislabelled-json": OK,
    "wrong-shape": Expect(502, "upstream-bad-response", 200),
    "huge-body": Expect(502, "upstream-bad-response", 200),
    "401": Expect(502, "upstream-auth", 401),
    "403": Expect(502, "upstream-auth", 403),
}
# A create the upstream may have made (no answer in time, a connection that failed, a 2xx
# whose body cannot be read) is 504 with outcome "uncertain": a retry with the same
# Idempotency-Key looks before creating.
UNCERTAIN = Expect(504, "upstream-timeout", outcome="uncertain")
CREATE: dict[str, Expect] = {
    **READ,
    "timeout": UNCERTAIN,
    "refused": UNCERTAIN,  # the service cannot tell a refused connection from a dropped one
    "reset-mid-body": UNCERTAIN,
    "malformed-json": UNCERTAIN,
    "html-page": UNCERTAIN,
    "wrong-shape": UNCERTAIN,
    "huge-body": UNCERTAIN,
    "mislabelled-json": Expect(201),
}
# An action whose upstream answered 2xx succeeded, whatever the body: Waldur's and Arrow's
# actions do not read it (docs/decisions.md), and the order is read again for the answer.
ACTION: dict[str, dict[str, Expect]] = {
    "waldur": {**READ, "malformed-json": OK, "html-page": OK, "wrong-shape": OK},
    "ivcap": READ,  # add_metadata reads the new aspect's id from the answer
    "arrow": {**READ, "malformed-json": OK, "html-page": OK, "wrong-shape": OK},
}


def expected(kind: Kind, fault: Fault, op: str) -> Expect:
    if op == "create":
        return CREATE[fault.name]
    if op == "action":
        return ACTION[kind.name][fault.name]
    return READ[fault.name]  # for a listing: the report of the failed instance


def test_the_table_covers_every_row() -> None:
    for kind in KINDS:
        for table in (READ, CREATE, ACTION[kind.name]):
            assert set(table) == {f.name for f in FAULTS}


# --- the deployment --------------------------------------------------------------------------


@dataclass
class Served:
    kind: Kind
    sim: Starlette
    url: str
    samples: dict[str, Any] = field(default_factory=dict)  # filled once per kind


@pytest.fixture(scope="module")
def control_url() -> Iterator[str]:
    """A healthy second instance, so a listing can be partial."""
    with running_server(create_waldur_sim(orders=20, seed=80, token=CONTROL_TOKEN)) as url:
        yield url


@pytest.fixture(scope="module", params=KINDS, ids=lambda k: k.name)
def served(request: pytest.FixtureRequest) -> Iterator[Served]:
    kind: Kind = request.param
    sim = kind.build(kind.token)
    with running_server(sim) as url:
        yield Served(kind, sim, url)


def settings_for(served: Served, fault: Fault, control_url: str, **target: Any) -> Settings:
    origin = f"http://127.0.0.1:{unused_port()}" if fault.refused else served.url
    instance = served.kind.config(origin) | {
        "retry": {"attempts": 1},
        "cache": {"ttl_s": 0},
        "timeout_s": fault.timeout_s,
        "max_response_bytes": MAX_RESPONSE_BYTES,
        **target,
    }
    control = {
        "kind": "waldur",
        "base_url": f"{control_url}/api/",
        "token": CONTROL_TOKEN,
        "cache": {"ttl_s": 0},
    }
    return gateway_settings({"target": instance, "control": control}, server={"request_timeout_s": 5})


@asynccontextmanager
async def gateway(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The gateway in process, calling upstreams over loopback with its production client."""
    async with build_client(settings) as upstream, gateway_client(settings, upstream) as client:
        yield client


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    """Every log line of the process as ``gateway serve`` writes them (JSON), into a buffer."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, {n: logging.getLogger(n).level for n in QUIET_LOGGERS})
    buffer = io.StringIO()
    configure_logging("info", stream=buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in saved[2].items():
            logging.getLogger(name).setLevel(level)
        structlog.reset_defaults()


def lines_of(buffer: io.StringIO, request_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]
    return [line for line in lines if line.get("request_id") == request_id]


async def samples(served: Served, control_url: str) -> dict[str, Any]:
    """An order to read, orders to act on, and a valid create body, read once per kind."""
    if served.samples:
        return served.samples
    async with gateway(settings_for(served, FAULTS[3], control_url)) as client:
        listing = await client.get(
            "/orders", params={"provider": "target", "limit": "200"}, headers=auth("ops")
        )
        assert listing.status_code == 200, listing.text
        orders = listing.json()["data"]
    served.samples = {
        "read": orders[0],
        "actionable": [o for o in orders if served.kind.action in o["actions"]],
        "create": create_body(served.kind.name, orders),
    }
    return served.samples


def create_body(kind: str, orders: list[dict[str, Any]]) -> dict[str, Any]:
    """A create body the kind accepts, made from orders it already has (as tests/api do)."""
    if kind == "waldur":
        sample = next(o for o in orders if o["extra"].get("project_uuid") and o["extra"].get("plan_uuid"))
        return {
            "provider": "target",
            "name": "fault-matrix-vm",
            "service": sample["service"]["id"],
            "customer": sample["extra"]["project_uuid"],
            "items": [
                {"id": i["name"], "quantity": i["quantity"]} for i in sample["items"] if ":" in i["id"]
            ],
            "provider_options": {"plan": sample["extra"]["plan_uuid"]},
        }
    if kind == "ivcap":
        service = next(o for o in orders if o["service"])["service"]["id"]
        return {"provider": "target", "name": "fault matrix", "service": service, "parameters": {"x": "1"}}
    sample = next(o for o in orders if o["items"] and o["customer"])
    return {
        "provider": "target",
        "customer": sample["customer"]["id"],
        "items": [{"sku": sample["items"][0]["id"], "quantity": 1}],
    }


# --- the matrix ------------------------------------------------------------------------------


class Row:
    """One row's requests: arm the fault at the path the operation calls first, then ask."""

    def __init__(
        self, served: Served, fault: Fault, client: httpx.AsyncClient, http: httpx.AsyncClient
    ) -> None:
        self.served = served
        self.fault = fault
        self.client = client
        self.http = http
        self.sent = 0
        self.request_ids: list[str] = []

    async def arm(self, path: str) -> None:
        if self.fault.plan is not None:
            plan = {**self.fault.plan, "count": 1, "path": path}
            armed = await self.http.post(f"{self.served.url}/__sim__/faults", json=plan)
            assert armed.status_code == 200, armed.text

    async def consumed(self) -> bool:
        """Whether the armed fault met a request (the plan is disarmed after its count)."""
        state = (await self.http.get(f"{self.served.url}/__sim__/faults")).json()
        return state["plan"] is None

    async def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.sent += 1
        request_id = f"fm-{self.served.kind.name}-{self.fault.name}-{self.sent}"
        self.request_ids.append(request_id)
        headers = {**auth("ops"), "X-Request-ID": request_id}
        return await self.client.request(method, path, headers=headers, **kwargs)


def assert_problem(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == BASE + type_ and body["status"] == status and body["instance"]
    return body


def assert_translated(body: dict[str, Any], expect: Expect) -> None:
    assert body["type"] == BASE + str(expect.type), body
    assert body.get("provider", "target") == "target"
    if expect.upstream_status is not None:
        assert body["upstream_status"] == expect.upstream_status, body
    if expect.outcome is not None:
        assert body["outcome"] == expect.outcome


def assert_nothing_leaks(served: Served, response: httpx.Response) -> None:
    text = response.text
    port = served.url.rsplit(":", 1)[1]
    for leak in (
        "127.0.0.1",
        f":{port}",
        "Simulated failure",
        "Traceback",
        'File "',
        HTML_BODY.decode()[:20],
    ):
        assert leak not in text, (leak, text[:500])
    for secret in SECRETS:
        assert secret not in text and secret not in str(response.headers)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.name)
async def test_fault_matrix(
    served: Served, control_url: str, fault: Fault, op: str, json_log: io.StringIO
) -> None:
    kind = served.kind
    data = await samples(served, control_url)
    expect = expected(kind, fault, op)
    async with gateway(settings_for(served, fault, control_url)) as client, httpx.AsyncClient() as http:
        row = Row(served, fault, client, http)
        answers: list[httpx.Response] = []
        if op == "list":
            # Two instances, one failing: 200 with the other's orders, the failure in providers.
            await row.arm(kind.list_path)
            partial = await row.send("GET", "/orders", params={"limit": "20"})
            answers.append(partial)
            assert partial.status_code == 200, partial.text
            body = partial.json()
            report = body["providers"]["target"]
            assert body["providers"]["control"]["status"] == "ok"
            assert {o["provider"] for o in body["data"]} >= {"control"}
            if expect.type is None:
                assert report["status"] == "ok" and "x-partial-response" not in partial.headers
                assert {o["provider"] for o in body["data"]} == {"control", "target"}
            else:
                assert report["status"] == "error" and partial.headers["x-partial-response"] == "true"
                assert_translated(report["error"], expect)
                assert body["has_more"] and body["next_cursor"]  # the failed instance resumes
            # The failing instance alone: every instance failed, 502 (504 when it timed out).
            await row.arm(kind.list_path)
            alone = await row.send("GET", "/orders", params={"limit": "20", "provider": "target"})
            answers.append(alone)
            if expect.type is None:
                assert alone.status_code == 200, alone.text
            else:
                assert_problem(alone, 504 if expect.status == 504 else 502, "all-upstreams-failed")
        elif op == "read":
            native = data["read"]["native_id"]
            await row.arm(kind.read_path(native))
            answers.append(await row.send("GET", f"/orders/target:{native}"))
        elif op == "create":
            await row.arm(kind.create_path)
            answers.append(await row.send("POST", "/orders", json=data["create"]))
        else:
            order = data["actionable"].pop(0)
            native = order["native_id"]
            await row.arm(kind.action_path(native))
            path = f"/orders/target:{native}/{kind.action}"
            if kind.action not in ("cancel", "approve", "reject"):
                path = f"/orders/target:{native}/actions/{kind.action}"
            answers.append(await row.send("POST", path, json=kind.action_payload))

        if op != "list":
            answer = answers[0]
            if expect.type is None:
                assert answer.status_code == expect.status, answer.text
            else:
                assert_translated(assert_problem(answer, expect.status, expect.type), expect)
        if fault.plan is not None:
            assert await row.consumed(), "the fault never met a request: the row proves nothing"

    for answer in answers:
        assert_nothing_leaks(served, answer)
        assert answer.headers["x-content-type-options"] == "nosniff"
    # The log: one access line per request naming the instance; a warning naming the problem
    # type for each error answer; no secret, upstream address or upstream body anywhere.
    text = json_log.getvalue()
    for secret in (*SECRETS, "Simulated failure", HTML_BODY.decode()[:20]):
        assert secret not in text, secret
    for request_id, answer in zip(row.request_ids, answers, strict=True):
        lines = lines_of(json_log, request_id)
        access = [line for line in lines if line["logger"] == "gateway.access"]
        assert len(access) == 1 and access[0]["status"] == answer.status_code
        assert "target" in access[0]["instances"]
        if answer.status_code >= 500:
            problem_type = answer.json()["type"].removeprefix(BASE)
            warnings = [line for line in lines if line["level"] == "warning"]
            assert any(problem_type in line["event"] for line in warnings), lines


# --- reading no more than the limit ----------------------------------------------------------


@pytest.fixture(scope="module")
def waldur() -> Iterator[Served]:
    """One more Waldur simulator, for the tests below that need one kind only."""
    kind = KINDS[0]
    sim = kind.build(kind.token)
    with running_server(sim) as url:
        yield Served(kind, sim, url)


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_a_huge_answer_is_refused_having_read_little_more_than_the_limit(
    waldur: Served, control_url: str, transport: str
) -> None:
    fault = Fault("huge", {"huge_mb": 256})
    settings = settings_for(waldur, fault, control_url)
    settings = settings.model_copy(
        update={"server": settings.server.model_copy(update={"http_transport": transport})}
    )
    async with gateway(settings) as client, httpx.AsyncClient() as http:
        row = Row(waldur, fault, client, http)
        await row.arm(waldur.kind.list_path)
        response = await row.send("GET", "/orders", params={"provider": "target"})
        assert_problem(response, 502, "all-upstreams-failed")
    # 256 MiB were on offer; the gateway stopped after 1 MiB (plus what socket buffers held,
    # some 5 MiB on loopback).
    sent = waldur.sim.state.faults.huge_bytes_sent
    assert MAX_RESPONSE_BYTES <= sent < 32 * 1024 * 1024, sent


# --- retries, counted -----------------------------------------------------------------------

RETRY = {"attempts": 3, "base_delay_s": 0.01, "max_delay_s": 0.02, "retry_after_cap_s": 0.05}


async def requests_seen(http: httpx.AsyncClient, served: Served) -> dict[str, int]:
    counts: dict[str, int] = (await http.get(f"{served.url}/__sim__/requests")).json()["by_route"]
    return counts


async def test_retried_reads_are_counted_and_succeed_or_give_up_at_the_attempts(
    served: Served, control_url: str
) -> None:
    kind = served.kind
    data = await samples(served, control_url)
    native = data["read"]["native_id"]
    fault = Fault("503-then-ok", {"status": 503, "retry_after": 1})
    settings = settings_for(served, fault, control_url, retry=RETRY)
    async with gateway(settings) as client, httpx.AsyncClient() as http:
        row = Row(served, fault, client, http)
        # Two 503s, then the answer: the caller never sees them.
        await http.delete(f"{served.url}/__sim__/requests")
        plan = {"status": 503, "retry_after": 1, "count": 2, "path": kind.read_path(native)}
        await http.post(f"{served.url}/__sim__/faults", json=plan)
        read = await row.send("GET", f"/orders/target:{native}")
        assert read.status_code == 200, read.text
        assert (await requests_seen(http, served))[f"GET {kind.read_path(native)}"] == 3
        # More 429s than attempts: the listing reports the last, after exactly 3 requests.
        await http.delete(f"{served.url}/__sim__/requests")
        await http.post(
            f"{served.url}/__sim__/faults", json={"status": 429, "count": 10, "path": kind.list_path}
        )
        listing = await row.send("GET", "/orders", params={"limit": "5"})
        assert listing.status_code == 200 and listing.headers["x-partial-response"] == "true"
        assert_translated(listing.json()["providers"]["target"]["error"], Expect(502, "upstream-error", 429))
        assert (await requests_seen(http, served))[f"GET {kind.list_path}"] == 3
        await http.delete(f"{served.url}/__sim__/faults")


async def test_a_keyed_action_is_retried_after_503_and_an_unkeyed_one_never(
    served: Served, control_url: str
) -> None:
    kind = served.kind
    data = await samples(served, control_url)
    fault = Fault("503", {"status": 503, "retry_after": 1})
    settings = settings_for(served, fault, control_url, retry=RETRY)
    async with gateway(settings) as client, httpx.AsyncClient() as http:
        for keyed, status, attempts in ((True, 200, 2), (False, 502, 1)):
            native = data["actionable"].pop(0)["native_id"]
            path = kind.action_path(native)
            method = "PATCH" if kind.name == "arrow" else "POST"
            await http.delete(f"{served.url}/__sim__/requests")
            plan = {"status": 503, "retry_after": 1, "count": 1, "path": path}
            await http.post(f"{served.url}/__sim__/faults", json=plan)
            where = f"/orders/target:{native}/{kind.action}"
            if kind.action not in ("cancel", "approve", "reject"):
                where = f"/orders/target:{native}/actions/{kind.action}"
            headers = {"Idempotency-Key": f"fm-{kind.name}-{native}"} if keyed else {}
            answer = await client.post(where, json=kind.action_payload, headers={**auth("ops"), **headers})
            assert answer.status_code == status, answer.text
            assert (await requests_seen(http, served))[f"{method} {path}"] == attempts


# --- the log names the failed instance and its problem type -------------------------------------


async def test_a_partial_listing_logs_the_failed_instance_and_its_problem_type(
    waldur: Served, control_url: str, json_log: io.StringIO
) -> None:
    fault = Fault("500", {"status": 500})
    async with gateway(settings_for(waldur, fault, control_url)) as client, httpx.AsyncClient() as http:
        row = Row(waldur, fault, client, http)
        await row.arm(waldur.kind.list_path)
        partial = await row.send("GET", "/orders", params={"limit": "5"})
    assert partial.headers["x-partial-response"] == "true"
    lines = lines_of(json_log, row.request_ids[0])
    assert any(
        line["level"] in ("warning", "error")
        and line.get("instance") == "target"
        and "upstream-bad-response" in json.dumps(line)
        for line in lines
    ), lines
