"""Bad input through HTTP (ASGI): oversized and slow bodies, deep JSON, wrong media types,
invalid UTF-8, header injection, path-traversal-like ids and overlong URLs — each a clear 4xx
problem, never a 500, and never an upstream call it should not make.
(Slow or oversized request *heads* are refused by the server: tests/e2e/test_slow_clients.py.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.routes.bodies import MAX_JSON_DEPTH
from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.stack import SIM_TOKEN, HostRouter, auth, gateway_client, gateway_settings

BASE = "https://errors.order-gateway.dev/"
MAX_BODY = 4096
MAX_URL = 1024
BODY_TIMEOUT_S = 0.2
HOSTS = {"waldur": "waldur.sim", "ivcap": "ivcap.sim", "arrow": "arrow.sim"}


@dataclass
class Limited:
    client: httpx.AsyncClient
    upstream: httpx.AsyncClient
    sims: dict[str, Starlette]
    ids: dict[str, str]  # a real order id per instance

    async def seen(self, host: str) -> dict[str, int]:
        counts: dict[str, int] = (await self.upstream.get(f"http://{host}/__sim__/requests")).json()[
            "by_route"
        ]
        return counts


@pytest.fixture
async def limited() -> AsyncIterator[Limited]:
    sims = {
        "waldur.sim": create_waldur_sim(orders=10, seed=91, token=SIM_TOKEN),
        "ivcap.sim": create_ivcap_sim(orders=10, seed=92, token=SIM_TOKEN),
        "arrow.sim": create_arrow_sim(orders=10, seed=93, token=SIM_TOKEN),
    }
    settings = gateway_settings(
        {
            "waldur": {"kind": "waldur", "base_url": "http://waldur.sim/api/", "token": SIM_TOKEN},
            "ivcap": {"kind": "ivcap", "base_url": "http://ivcap.sim/1/", "token": SIM_TOKEN},
            "arrow": {"kind": "arrow", "base_url": "http://arrow.sim/index.php/api/", "api_key": SIM_TOKEN},
        },
        server={"max_body_bytes": MAX_BODY, "max_url_bytes": MAX_URL, "body_timeout_s": BODY_TIMEOUT_S},
    )
    async with (
        httpx.AsyncClient(transport=HostRouter(sims)) as upstream,
        gateway_client(settings, upstream) as client,
    ):
        ids = {}
        for name in HOSTS:
            page = await client.get("/orders", params={"provider": name, "limit": "1"}, headers=auth("ops"))
            ids[name] = page.json()["data"][0]["id"]
        yield Limited(client, upstream, sims, ids)


def assert_problem(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == BASE + type_ and body["instance"] == response.headers["x-request-id"]
    return body


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def nested_text(depth: int) -> str:
    """``nested(depth)`` as JSON text, for depths ``json.dumps`` would refuse."""
    return '{"a": ' * depth + '"leaf"' + "}" * depth


# --- sizes -----------------------------------------------------------------------------------


async def test_a_body_over_the_configured_limit_is_413_declared_or_streamed(limited: Limited) -> None:
    big = json.dumps({"provider": "waldur", "name": "x" * MAX_BODY}).encode()
    declared = await limited.client.post(
        "/orders", content=big, headers={**auth("ops"), "Content-Type": "application/json"}
    )
    assert_problem(declared, 413, "payload-too-large")
    assert str(MAX_BODY) in declared.json()["detail"]

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it comes
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    streamed = await limited.client.post(
        f"/orders/{limited.ids['arrow']}/actions/update_po",
        content=chunks(),
        headers={**auth("ops"), "Content-Type": "application/json"},
    )
    assert_problem(streamed, 413, "payload-too-large")
    # Refused before anything else: no key needed to learn the limit, no upstream called.
    anonymous = await limited.client.post(
        "/orders", content=big, headers={"Content-Type": "application/json"}
    )
    assert_problem(anonymous, 413, "payload-too-large")
    assert "PATCH /index.php/api/orders/" not in str(await limited.seen("arrow.sim"))


async def test_a_body_within_the_limit_is_read(limited: Limited) -> None:
    body = {"provider": "waldur", "name": "x" * (MAX_BODY // 2)}
    response = await limited.client.post("/orders", json=body, headers=auth("ops"))
    assert_problem(response, 422, "validation-failed")  # read, and judged on its fields


async def test_an_overlong_url_is_414_and_one_within_the_limit_is_served(limited: Limited) -> None:
    long_query = await limited.client.get("/orders", params={"q": "x" * MAX_URL}, headers=auth("reader"))
    body = assert_problem(long_query, 414, "uri-too-long")
    assert str(MAX_URL) in body["detail"] and "xxxx" not in long_query.text  # the URL is not echoed
    long_path = await limited.client.get("/orders/waldur:" + "a" * MAX_URL, headers=auth("reader"))
    assert_problem(long_path, 414, "uri-too-long")
    params = [("q", "x" * 150), *[("status", "pending")] * 50]  # some 900 bytes
    fits = await limited.client.get("/orders", params=params, headers=auth("reader"))
    assert fits.status_code == 200, fits.text


# --- JSON ------------------------------------------------------------------------------------


async def test_deep_json_is_400_before_any_upstream_call(limited: Limited) -> None:
    order = limited.ids["ivcap"]
    # MAX_JSON_DEPTH under the body's own level; 1500: past orjson's own limit (1024).
    deep = [nested_text(MAX_JSON_DEPTH), nested_text(300), "[" * 1500 + "]" * 1500]
    for content in deep:
        raw = ('{"schema": "urn:example:schema:deep.1", "content": ' + content + "}").encode()
        response = await limited.client.post(
            f"/orders/{order}/actions/add_metadata",
            content=raw,
            headers={**auth("ops"), "Content-Type": "application/json"},
        )
        assert_problem(response, 400, "invalid-body")
    assert "POST /1/aspects" not in await limited.seen("ivcap.sim")
    # Exactly as deep as allowed (the body itself is the first level): read, and sent on.
    within = {"schema": "urn:example:schema:deep.1", "content": nested(MAX_JSON_DEPTH - 1)}
    accepted = await limited.client.post(
        f"/orders/{order}/actions/add_metadata", json=within, headers=auth("ops")
    )
    assert accepted.status_code == 200, accepted.text


@pytest.mark.parametrize(
    ("content_type", "status", "type_"),
    [
        ("text/plain", 415, "unsupported-media-type"),
        ("application/x-www-form-urlencoded", 415, "unsupported-media-type"),
        ("application/xml", 415, "unsupported-media-type"),
        (None, 415, "unsupported-media-type"),
        ("application/json; charset=utf-8", 422, "validation-failed"),
        ("application/merge-patch+json", 422, "validation-failed"),
    ],
)
async def test_media_types_other_than_json_are_415(
    limited: Limited, content_type: str | None, status: int, type_: str
) -> None:
    headers = {**auth("ops"), **({"Content-Type": content_type} if content_type else {})}
    response = await limited.client.post("/orders", content=b'{"provider": "waldur"}', headers=headers)
    assert_problem(response, status, type_)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"provider": "waldur", "name": "\xff\xfe"}',  # not UTF-8
        b'{"provider": "waldur", "name": "\xed\xa0\x80"}',  # a UTF-8-encoded surrogate
        b"\xef\xbb\xbf" + b"\xff",
        b'{"provider": "waldur"',  # truncated
    ],
)
async def test_bodies_that_are_not_utf8_json_are_400(limited: Limited, raw: bytes) -> None:
    response = await limited.client.post(
        "/orders", content=raw, headers={**auth("ops"), "Content-Type": "application/json"}
    )
    assert_problem(response, 400, "invalid-body")


# --- headers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given",
    [
        b"abc\r\nX-Injected: 1",
        b"abc\nSet-Cookie: a=b",
        b"abc%0d%0aX-Injected:%201",
        b"\xff\xfe\xfd",
        "caf\u00e9".encode(),
        b"x" * 129,
        b"",
        b"a b",
        b"<script>",
    ],
)
async def test_only_a_safe_request_id_is_echoed(limited: Limited, given: bytes) -> None:
    response = await limited.client.get(
        "/orders", headers=[(b"X-Request-ID", given), *auth("reader").items()]
    )
    assert response.status_code == 200
    echoed = response.headers["x-request-id"]
    assert echoed.encode() != given and len(echoed) == 32 and echoed.isalnum()
    assert "x-injected" not in response.headers and "set-cookie" not in response.headers


async def test_credentials_and_keys_in_bad_bytes_are_refused_cleanly(limited: Limited) -> None:
    bad_key = await limited.client.get("/orders", headers=[(b"Authorization", b"Bearer \xff\xfe-key")])
    assert_problem(bad_key, 401, "not-authenticated")
    bad_idempotency_key = await limited.client.post(
        "/orders",
        json={"provider": "waldur"},
        headers=[*auth("ops").items(), (b"Idempotency-Key", b"k\xff\x01")],
    )
    assert_problem(bad_idempotency_key, 400, "invalid-body")


# --- ids -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/orders/..%2F..%2Fetc%2Fpasswd",
        "/orders/waldur:..%2F..%2Fmarketplace-orders",
        "/orders/waldur:%2e%2e%2f%2e%2e%2fusers%2f",
        "/orders/ivcap:urn:ivcap:order:..%2F..%2Fservices",
        "/orders/ivcap:..%2Faspects",
        "/orders/arrow:XSPO1%2F..%2F..%2Fcustomers",
        "/orders/arrow:..%5C..%5Cwindows",
        "/orders/arrow:XSPO1%00",
        "/orders/waldur:0b9f3c1e6d2a4f5b8c7d9e0f1a2b3c4d%3Fpage_size%3D300",
        "/orders/%2e%2e/providers",
    ],
)
async def test_path_traversal_like_ids_are_404_and_reach_no_other_upstream_path(
    limited: Limited, path: str
) -> None:
    before = {host: await limited.seen(host) for host in HOSTS.values()}
    read = await limited.client.get(path, headers=auth("ops"))
    assert_problem(read, 404, read.json()["type"].removeprefix(BASE))
    for method, route in (("GET", path + "/offering"), ("POST", path + "/cancel")):
        response = await limited.client.request(method, route, headers=auth("ops"))
        # 404, or 422 where the kind has no such action at all (whatever the id).
        assert response.status_code in (404, 422), (route, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    for host, counts in before.items():
        after = await limited.seen(host)
        new = {route for route, n in after.items() if n > counts.get(route, 0)}
        # Whatever was asked upstream was a read of one order by a well-formed id, never
        # a path built out of the caller's dots and slashes.
        assert all(".." not in route and "passwd" not in route for route in new), new
        assert all(
            route.split(" ", 1)[1].startswith(
                ("/api/marketplace-orders/", "/1/orders/", "/index.php/api/orders/")
            )
            for route in new
        ), new


# --- slow bodies -----------------------------------------------------------------------------


async def test_a_body_that_stops_arriving_is_408_and_the_connection_is_closed(limited: Limited) -> None:
    async def stalls() -> AsyncIterator[bytes]:
        yield b'{"provider": '
        await asyncio.sleep(BODY_TIMEOUT_S * 3)
        yield b'"waldur"}'

    response = await limited.client.post(
        "/orders", content=stalls(), headers={**auth("ops"), "Content-Type": "application/json"}
    )
    assert_problem(response, 408, "request-timeout")
    assert response.headers["connection"] == "close"


async def test_a_slow_body_whose_parts_keep_coming_is_read(limited: Limited) -> None:
    async def trickles() -> AsyncIterator[bytes]:
        for part in (b'{"provider": ', b'"waldur", ', b'"name": "slow"}'):
            await asyncio.sleep(BODY_TIMEOUT_S / 2)
            yield part

    response = await limited.client.post(
        "/orders", content=trickles(), headers={**auth("ops"), "Content-Type": "application/json"}
    )
    assert_problem(response, 422, "validation-failed")  # read whole, then judged on its fields
