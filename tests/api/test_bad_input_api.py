"""Whatever a caller sends, the answer is a 2xx or a 4xx problem, never a 500."""

from __future__ import annotations

from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import Deployment
from tests.support.stack import auth

KEYS = ["limit", "status", "sort", "cursor", "created_after", "q", "provider", "customer", "x", "lim%69t", ""]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    pairs=st.lists(
        st.tuples(
            st.sampled_from(KEYS),
            st.one_of(st.text(max_size=30), st.binary(max_size=12).map(lambda b: b.hex())),
        ),
        max_size=4,
    ),
    raw=st.binary(max_size=40),
)
async def test_random_queries_never_cause_a_server_error(
    deployment: Deployment, pairs: list[tuple[str, str]], raw: bytes
) -> None:
    query = str(httpx.QueryParams(pairs))
    for url in (f"/orders?{query}", "/orders?" + "".join(f"%{b:02x}" for b in raw)):
        response = await deployment.client.get(url, headers=auth("reader"))
        assert response.status_code in (200, 400), (url, response.text)
        if response.status_code == 400:
            assert response.headers["content-type"] == "application/problem+json"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order_id=st.text(min_size=1, max_size=60))
async def test_random_order_ids_are_found_or_404(deployment: Deployment, order_id: str) -> None:
    response = await deployment.client.get("/orders/" + quote(order_id, safe=":"), headers=auth("reader"))
    assert response.status_code in (200, 404), (order_id, response.text)
    assert response.headers["content-type"] in ("application/json", "application/problem+json")


async def test_non_utf8_bytes_in_the_path_are_a_problem(deployment: Deployment) -> None:
    response = await deployment.client.get("/orders/waldur-eu%3A%ff%fe", headers=auth("reader"))
    assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
