"""TLS to upstreams is verified by default, on both transports of the shared client
(``app.build_client``): an upstream whose certificate no trusted CA signed is unreachable
(502 ``upstream-unreachable``), never silently trusted. The same upstream answers a client
that trusts its CA, so the refusal is the verification and nothing else."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import trustme
import uvicorn

from gateway.app import build_client
from gateway.settings import Settings
from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.stack import auth, gateway_client, gateway_settings

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()  # a CA of this test alone: no trust store knows it


@pytest.fixture(scope="module")
def https_upstream(authority: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Waldur simulator over HTTPS on loopback, its certificate signed by ``authority``."""
    folder: Path = tmp_path_factory.mktemp("tls")
    issued = authority.issue_cert("127.0.0.1", "localhost")
    certfile, keyfile = folder / "cert.pem", folder / "key.pem"
    issued.cert_chain_pems[0].write_to_path(str(certfile))
    issued.private_key_pem.write_to_path(str(keyfile))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        create_waldur_sim(orders=5, seed=9, token=TOKEN),
        loop="asyncio",
        log_config=None,
        log_level="warning",
        access_log=False,
        ssl_certfile=str(certfile),
        ssl_keyfile=str(keyfile),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.005)
    assert server.started, "the HTTPS simulator did not start"
    try:
        yield f"https://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        listener.close()


def settings_for(url: str, transport: str) -> Settings:
    instance = {
        "kind": "waldur",
        "base_url": f"{url}/api/",
        "token": TOKEN,
        "retry": {"attempts": 1},
        "cache": {"ttl_s": 0},
    }
    return gateway_settings({"waldur-eu": instance}, server={"http_transport": transport})


@pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
async def test_an_upstream_certificate_no_trusted_ca_signed_is_refused(
    https_upstream: str, transport: str
) -> None:
    settings = settings_for(https_upstream, transport)
    async with build_client(settings) as upstream, gateway_client(settings, upstream) as client:
        read = await client.get("/orders/waldur-eu:" + "0" * 32, headers=auth("reader"))
        listing = await client.get("/orders", headers=auth("reader"))
    assert read.status_code == 502 and read.json()["type"].endswith("/upstream-unreachable"), read.text
    assert listing.status_code == 502 and listing.json()["type"].endswith("/all-upstreams-failed")
    for answer in (read, listing):
        assert "127.0.0.1" not in answer.text and "certificate" not in answer.text.lower()


async def test_the_same_upstream_answers_a_client_that_trusts_its_ca(
    https_upstream: str, authority: trustme.CA
) -> None:
    settings = settings_for(https_upstream, "httpx")
    trusting = ssl.create_default_context()
    authority.configure_trust(trusting)
    async with (
        httpx.AsyncClient(verify=trusting) as upstream,
        gateway_client(settings, upstream) as client,
    ):
        listing = await client.get("/orders", headers=auth("reader"))
    assert listing.status_code == 200 and len(listing.json()["data"]) == 5, listing.text
