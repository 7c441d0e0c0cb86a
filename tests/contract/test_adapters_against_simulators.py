"""One contract suite for every adapter kind, run against its simulator over real HTTP.

Each kind's adapter must list, read, page to the end, apply each filter it declares, and
turn each kind of upstream failure into the right GatewayError.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.adapters.base import ListRequest, ProviderAdapter
from gateway.adapters.registry import ADAPTERS
from gateway.errors import (
    OrderNotFoundError,
    UpstreamAuthError,
    UpstreamBadResponseError,
    UpstreamTimeoutError,
    UpstreamUnreachableError,
)
from gateway.merge import matches
from gateway.models import Order
from gateway.query import Filters, SortKey
from gateway.settings import settings_from_mapping
from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.credentials import SIM_TOKEN as TOKEN
from tests.support.credentials import WRONG_TOKEN
from tests.support.servers import running_server

pytestmark = pytest.mark.e2e
ORDERS = 130
NO_FILTERS = Filters()


@dataclass(frozen=True)
class Kind:
    name: str
    simulator: Callable[[], Starlette]
    config: Callable[[str, str], dict[str, Any]]  # (simulator URL, credential) → instance config
    missing_id: str
    malformed_id: str


KINDS = [
    Kind(
        "waldur",
        lambda: create_waldur_sim(orders=ORDERS, seed=3, token=TOKEN),
        lambda url, token: {"kind": "waldur", "base_url": f"{url}/api/", "token": token, "timeout_s": 1},
        missing_id="0" * 32,
        malformed_id="not-a-uuid",
    ),
    *(
        Kind(
            f"ivcap-{dialect}",
            lambda dialect=dialect: create_ivcap_sim(orders=ORDERS, seed=3, token=TOKEN, dialect=dialect),
            lambda url, token, dialect=dialect: {
                "kind": "ivcap",
                "base_url": f"{url}/1/",
                "token": token,
                "timeout_s": 1,
                "dialect": dialect,
            },
            missing_id="urn:ivcap:order:00000000-0000-4000-8000-000000000000",
            malformed_id="not-a-urn",
        )
        for dialect in ("current", "legacy")
    ),
    Kind(
        "arrow",
        lambda: create_arrow_sim(orders=ORDERS, seed=3, token=TOKEN),
        lambda url, token: {
            "kind": "arrow",
            "base_url": f"{url}/index.php/api/",
            "api_key": token,
            "timeout_s": 1,
        },
        missing_id="XSPO999999999",
        malformed_id="ORDER-1",
    ),
]


@pytest.fixture(scope="module", params=KINDS, ids=lambda k: k.name)
def served(request: pytest.FixtureRequest) -> Iterator[tuple[Kind, str]]:
    kind: Kind = request.param
    with running_server(kind.simulator()) as url:
        yield kind, url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def make_adapter(kind: Kind, url: str, client: httpx.AsyncClient, token: str = TOKEN) -> ProviderAdapter:
    # No retries: each fault below must reach the adapter's own translation of it.
    config = kind.config(url, token) | {"retry": {"attempts": 1}}
    settings = settings_from_mapping({"providers": {"contract": config}}, env={})
    cfg = settings.providers["contract"]
    return ADAPTERS[cfg.kind]("contract", cfg, client)


async def walk(
    adapter: ProviderAdapter, filters: Filters = NO_FILTERS, sort: SortKey = SortKey.CREATED_DESC
) -> list[Order]:
    orders: list[Order] = []
    position = None
    size = min(adapter.capabilities.max_page_size, 40)
    for _ in range(100):
        chunk = await adapter.list_orders(
            ListRequest(filters=filters, sort=sort, page_size=size, position=position)
        )
        assert len(chunk.orders) <= size
        orders.extend(chunk.orders)
        position = chunk.next_position
        if position is None:
            return orders
    raise AssertionError("paging did not end")


async def fault(http: httpx.AsyncClient, url: str, **plan: object) -> None:
    response = await http.post(f"{url}/__sim__/faults", json=plan)
    assert response.status_code in (200, 201), response.text


async def test_paging_reaches_every_order_once(served: tuple[Kind, str], http: httpx.AsyncClient) -> None:
    kind, url = served
    orders = await walk(make_adapter(kind, url, http))
    assert len(orders) == ORDERS and len({o.id for o in orders}) == ORDERS
    assert all(o.provider == "contract" and o.provider_kind == kind.name.split("-")[0] for o in orders)


@pytest.mark.parametrize("sort", [SortKey.CREATED_ASC, SortKey.CREATED_DESC])
async def test_native_sorts_come_in_order(
    served: tuple[Kind, str], http: httpx.AsyncClient, sort: SortKey
) -> None:
    kind, url = served
    adapter = make_adapter(kind, url, http)
    if sort not in adapter.capabilities.sorts:
        return  # nothing to check: the gateway sorts itself (tested in tests/service)
    times = [o.created_at for o in await walk(adapter, sort=sort)]
    assert times == sorted(times, reverse=sort.descending)


async def test_read_returns_the_listed_order(served: tuple[Kind, str], http: httpx.AsyncClient) -> None:
    kind, url = served
    adapter = make_adapter(kind, url, http)
    listed = (await walk(adapter))[7]
    read = await adapter.get_order(listed.native_id)
    assert read.id == listed.id and read.status == listed.status and read.created_at == listed.created_at


def filter_cases(orders: list[Order]) -> dict[str, Filters]:
    """One value per filter, taken from the data so that it matches something."""
    sample = orders[len(orders) // 3]
    middle = sorted(o.created_at for o in orders)[len(orders) // 2]
    return {
        "status": Filters(statuses=frozenset({sample.status})),
        "provider_status": Filters(provider_statuses=frozenset({sample.provider_status})),
        "customer": Filters(customer=sample.customer.id if sample.customer else None),
        "service": Filters(service=sample.service.id if sample.service else None),
        "created_after": Filters(created_after=middle),
        "created_before": Filters(created_before=middle),
        "updated_after": Filters(updated_after=middle),
        "q": Filters(q=(sample.name or sample.native_id)[:5]),
    }


async def test_each_declared_filter_is_applied_by_the_upstream(
    served: tuple[Kind, str], http: httpx.AsyncClient
) -> None:
    kind, url = served
    adapter = make_adapter(kind, url, http)
    everything = await walk(adapter)
    caps = adapter.capabilities
    checked = 0
    for name, filters in filter_cases(everything).items():
        if name not in caps.filters:
            continue
        got = {o.id for o in await walk(adapter, filters=filters)}
        expected = {o.id for o in everything if matches(o, filters)}
        assert expected, name
        if name in caps.inexact_filters:
            assert expected <= got, name  # narrowed, not exact: the gateway re-applies it
        else:
            assert got == expected, name
        checked += 1
    assert checked == len(caps.filters)


async def test_unknown_and_malformed_ids_are_not_found(
    served: tuple[Kind, str], http: httpx.AsyncClient
) -> None:
    kind, url = served
    adapter = make_adapter(kind, url, http)
    for native_id in (kind.missing_id, kind.malformed_id):
        with pytest.raises(OrderNotFoundError):
            await adapter.get_order(native_id)


async def test_refused_credentials_are_upstream_auth(
    served: tuple[Kind, str], http: httpx.AsyncClient
) -> None:
    kind, url = served
    adapter = make_adapter(kind, url, http, token=WRONG_TOKEN)
    with pytest.raises(UpstreamAuthError):
        await adapter.list_orders(ListRequest(filters=Filters(), sort=SortKey.CREATED_DESC, page_size=5))
    assert (await adapter.check_health()).status == "error"


@pytest.mark.parametrize(
    ("plan", "error"),
    [
        ({"status": 500}, UpstreamBadResponseError),
        ({"status": 503, "retry_after": 1}, UpstreamBadResponseError),
        ({"malformed": True}, UpstreamBadResponseError),
        ({"drop": True}, UpstreamUnreachableError),
        ({"latency_ms": 1500}, UpstreamTimeoutError),
    ],
    ids=["500", "503", "malformed", "drop", "slow"],
)
async def test_upstream_failures_become_gateway_errors(
    served: tuple[Kind, str], http: httpx.AsyncClient, plan: dict[str, object], error: type[Exception]
) -> None:
    kind, url = served
    adapter = make_adapter(kind, url, http)
    sample = (await walk(adapter))[0]
    for call in (
        lambda: adapter.list_orders(ListRequest(filters=Filters(), sort=SortKey.CREATED_DESC, page_size=5)),
        lambda: adapter.get_order(sample.native_id),
    ):
        await fault(http, url, **plan, count=1)
        with pytest.raises(error) as info:
            await call()
        assert url.split("//")[1] not in str(info.value)  # no upstream address in our words
    await http.delete(f"{url}/__sim__/faults")


def test_every_registered_kind_is_in_this_suite() -> None:
    assert {k.name.split("-")[0] for k in KINDS} == set(ADAPTERS)
