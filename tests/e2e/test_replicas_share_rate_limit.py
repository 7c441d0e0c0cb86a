"""Two gateway processes sharing one real Redis share each key's bucket (API.md §9)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from gateway.ratelimit import KEY_PREFIX
from gateway.sim.arrow import create_arrow_sim
from tests.support.credentials import API_KEYS, SIM_TOKEN
from tests.support.replicas import api_key, arrow_instance, running_replicas, shared_config
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e
# A key name of its own: the session's Redis is shared with other tests.
KEY_NAME = "e2e-rate-limit"
KEY = API_KEYS["replica"]


@pytest.fixture
def replicas(tmp_path: Path, redis_url: str) -> Iterator[list[str]]:
    sim = create_arrow_sim(orders=5, seed=52, token=SIM_TOKEN)
    with running_server(sim) as sim_url:
        config = shared_config(
            {"arrow": arrow_instance(sim_url)},
            [api_key(KEY_NAME, KEY, ["orders:read"])],
            redis_url,
            rate_limit={"requests": 10, "window_s": 60},
        )
        with redis.Redis.from_url(redis_url) as shared:
            shared.delete(KEY_PREFIX + KEY_NAME)  # a full bucket, whatever ran before
        with running_replicas(config, tmp_path) as urls:
            yield urls


def test_ten_requests_over_two_replicas_pass_and_the_eleventh_is_refused(replicas: list[str]) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(timeout=10) as client:
        answers = [client.get(f"{replicas[i % 2]}/healthz", headers=headers) for i in range(10)]
        assert [a.status_code for a in answers] == [200] * 10
        assert [a.headers["ratelimit-remaining"] for a in answers] == [str(n) for n in range(9, -1, -1)]
        for url in replicas:  # either replica now refuses
            refused = client.get(f"{url}/orders", headers=headers)
            assert refused.status_code == 429, refused.text
            assert refused.headers["ratelimit-remaining"] == "0"
            assert 1 <= int(refused.headers["retry-after"]) <= 6
            assert refused.json()["type"] == "https://errors.order-gateway.dev/rate-limited"
