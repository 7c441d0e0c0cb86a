"""Slow and oversized clients against the server as ``gateway serve`` runs it (uvicorn with
``gateway.server.server_options``), over raw sockets: a request head that comes too slowly
is 408, one too large 431, a body that stops arriving 408 (each a problem, then the
connection closes); a connection that sends nothing, or idles after an answer, is closed."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from gateway.app import create_app
from gateway.server import server_options
from tests.support.stack import KEYS, gateway_settings, waldur_instance

pytestmark = pytest.mark.e2e
HEADER_TIMEOUT_S = 0.6
BODY_TIMEOUT_S = 0.4
KEEP_ALIVE_S = 1
MAX_HEADER_BYTES = 4096
SLACK_S = 0.5  # scheduling on a busy machine


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    settings = gateway_settings(
        {"waldur-eu": waldur_instance("127.0.0.1:9", retry={"attempts": 1})},
        server={
            "header_timeout_s": HEADER_TIMEOUT_S,
            "body_timeout_s": BODY_TIMEOUT_S,
            "keep_alive_s": KEEP_ALIVE_S,
            "max_header_bytes": MAX_HEADER_BYTES,
        },
    )
    options = server_options(settings.server) | {"loop": "asyncio"}  # uvloop would be process-wide
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server.started
    try:
        yield listener.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def connect(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port))
    conn.settimeout(5)
    return conn


def read_until_closed(conn: socket.socket) -> bytes:
    data = b""
    while True:
        try:
            part = conn.recv(65536)
        except ConnectionResetError:
            break
        if not part:
            break
        data += part
    return data


def read_response(conn: socket.socket) -> bytes:
    """One whole answer (head and a Content-Length body), leaving the connection open."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(parse(head + b"\r\n\r\n")[1].get("content-length", "0"))
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


def parse(raw: bytes) -> tuple[int, dict[str, str], Any]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split(" ")[1]), headers, json.loads(body) if body.strip() else None


def assert_problem(raw: bytes, status: int, type_: str) -> dict[str, str]:
    got, headers, body = parse(raw)
    assert got == status, raw[:300]
    assert headers["content-type"] == "application/problem+json" and headers["connection"] == "close"
    assert headers["x-content-type-options"] == "nosniff" and headers["cache-control"] == "no-store"
    assert body["type"].endswith("/" + type_) and body["instance"] == headers["x-request-id"]
    return headers


def test_headers_sent_too_slowly_are_408_within_the_timeout(port: int) -> None:
    with connect(port) as conn:
        start = time.monotonic()
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
        for _ in range(20):  # one header every 0.1 s: it would never end
            try:
                conn.sendall(b"X-Slow: 1\r\n")
            except OSError:
                break
            time.sleep(0.1)
        raw = read_until_closed(conn)
        elapsed = time.monotonic() - start
    assert_problem(raw, 408, "request-timeout")
    assert HEADER_TIMEOUT_S - 0.05 <= elapsed <= HEADER_TIMEOUT_S + SLACK_S + 0.1, elapsed


def test_a_connection_that_sends_nothing_is_closed_without_an_answer(port: int) -> None:
    with connect(port) as conn:
        start = time.monotonic()
        assert read_until_closed(conn) == b""  # nothing of a request came: nothing to answer
        assert time.monotonic() - start <= HEADER_TIMEOUT_S + SLACK_S


def test_a_head_larger_than_the_limit_is_431(port: int) -> None:
    with connect(port) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nX-Big: " + b"a" * MAX_HEADER_BYTES + b"\r\n\r\n")
        assert_problem(read_until_closed(conn), 431, "headers-too-large")
    # The same in many small headers over several reads is counted all the same.
    with connect(port) as conn:
        try:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n")
            for _ in range(MAX_HEADER_BYTES // 512 + 1):
                conn.sendall(b"X-Part: " + b"b" * 500 + b"\r\n")
                time.sleep(0.01)
        except OSError:
            pass  # closed on us mid-way: what is tested
        assert_problem(read_until_closed(conn), 431, "headers-too-large")


def test_a_body_that_stops_arriving_is_408_and_closes(port: int) -> None:
    key = KEYS["ops"][0]
    with connect(port) as conn:
        conn.sendall(
            b"POST /orders HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + key.encode() + b"\r\nContent-Length: 100\r\n\r\n{"
        )
        start = time.monotonic()
        raw = read_until_closed(conn)
        assert_problem(raw, 408, "request-timeout")
        assert time.monotonic() - start <= BODY_TIMEOUT_S + SLACK_S


def test_requests_sent_at_a_normal_pace_are_served_and_an_idle_connection_is_closed(port: int) -> None:
    # Two requests on one connection, the second after a pause shorter than both timeouts;
    # a large body arriving with the head is not counted as head.
    body = json.dumps({"provider": "waldur-eu", "name": "x" * 20000}).encode()
    with connect(port) as conn:
        conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert parse(read_response(conn))[0] == 200
        time.sleep(HEADER_TIMEOUT_S / 2)
        conn.sendall(
            b"POST /orders HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )
        assert parse(read_response(conn))[0] == 401  # a whole request, refused: no key
        start = time.monotonic()
        assert read_until_closed(conn) == b""  # idle after the answer: closed by keep-alive
        assert KEEP_ALIVE_S - 0.1 <= time.monotonic() - start <= KEEP_ALIVE_S + SLACK_S
