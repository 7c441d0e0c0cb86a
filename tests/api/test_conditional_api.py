"""ETag and If-None-Match on reads (API.md §8): strong on an order, weak on a page."""

from __future__ import annotations

import pytest

from gateway.routes.rendering import etag_matches
from tests.api.conftest import Deployment
from tests.support.stack import auth


async def test_an_unchanged_order_answers_304_and_a_changed_one_200(deployment: Deployment) -> None:
    order = (await deployment.client.get("/orders", params={"limit": "1"}, headers=auth("reader"))).json()[
        "data"
    ][0]
    first = await deployment.client.get(f"/orders/{order['id']}", headers=auth("reader"))
    etag = first.headers["etag"]
    assert etag.startswith('"') and first.headers["cache-control"].startswith("private, max-age=")
    again = await deployment.client.get(
        f"/orders/{order['id']}", headers={**auth("reader"), "If-None-Match": etag}
    )
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert again.headers["x-request-id"]
    other = await deployment.client.get(
        f"/orders/{order['id']}", headers={**auth("reader"), "If-None-Match": '"0000"'}
    )
    assert other.status_code == 200 and other.json() == first.json()
    # Another key sees other actions, so another representation: its ETag differs.
    as_ops = await deployment.client.get(f"/orders/{order['id']}", headers=auth("ops"))
    if as_ops.json()["actions"]:
        assert as_ops.headers["etag"] != etag


async def test_a_page_has_a_weak_etag_stable_across_requests(deployment: Deployment) -> None:
    params = {"limit": "5", "provider": "waldur-eu"}
    first = await deployment.client.get("/orders", params=params, headers=auth("reader"))
    etag = first.headers["etag"]
    assert etag.startswith('W/"')
    second = await deployment.client.get("/orders", params=params, headers=auth("reader"))
    assert second.headers["etag"] == etag  # though timings and the cursor's stamp may differ
    cached = await deployment.client.get(
        "/orders", params=params, headers={**auth("reader"), "If-None-Match": etag}
    )
    assert cached.status_code == 304
    other_page = await deployment.client.get(
        "/orders", params={**params, "limit": "6"}, headers=auth("reader")
    )
    assert other_page.headers["etag"] != etag


@pytest.mark.parametrize(
    ("header", "etag", "matches"),
    [
        ('"abc"', '"abc"', True),
        ('W/"abc"', '"abc"', True),
        ('"x", W/"abc"', 'W/"abc"', True),
        ("*", '"abc"', True),
        ('"abd"', '"abc"', False),
        (None, '"abc"', False),
        ("", '"abc"', False),
    ],
)
def test_if_none_match_uses_weak_comparison(header: str | None, etag: str, matches: bool) -> None:
    assert etag_matches(header, etag) is matches
