"""Walking the cursor returns every matching order exactly once, in order (API.md §5)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.adapters.base import Capabilities
from gateway.cursor import CursorSigner
from gateway.errors import AllUpstreamsFailedError, InvalidCursorError, InvalidQueryError
from gateway.merge import matches, order_key, sort_orders
from gateway.models import Order, Status
from gateway.principal import Principal
from gateway.query import OrderQuery, parse_order_query
from gateway.service import OrderService
from gateway.walk import Mode, plan_for
from tests.service.fakes import FAKE_CAPABILITIES, FakeAdapter, make_order

# The same fake upstream, seen through the three ways of walking it.
KEYSET = FAKE_CAPABILITIES
PAGED = replace(FAKE_CAPABILITIES, filters=frozenset({"status", "customer"}))
SCAN = replace(FAKE_CAPABILITIES, sorts=frozenset())
VARIANTS = {"keyset": KEYSET, "paged": PAGED, "scan": SCAN}

EVERYONE = Principal(name="ops", scopes=frozenset({"orders:read"}), providers=None)
NOW = 1_750_000_000.0


def service(*adapters: FakeAdapter) -> OrderService:
    return OrderService(
        {a.instance: a for a in adapters},
        CursorSigner(b"k" * 32, ttl_s=3600),
        budget_s=5.0,
        clock=lambda: NOW,
    )


async def walk(
    svc: OrderService, params: list[tuple[str, str]], principal: Principal = EVERYONE
) -> list[Order]:
    seen: list[Order] = []
    cursor = None
    for _ in range(300):
        query = parse_order_query(params + ([("cursor", cursor)] if cursor else []))
        page = await svc.list_orders(principal, query)
        assert len(page.data) <= query.limit
        seen.extend(page.data)
        if not page.has_more:
            assert page.next_cursor is None
            return seen
        cursor = page.next_cursor
    raise AssertionError("the walk did not end")


def oracle(adapters: list[FakeAdapter], query: OrderQuery) -> list[Order]:
    union = [o for a in adapters for o in a.orders if matches(o, query.filters)]
    return sort_orders(union, query.sort)


order_sets = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=40),  # created second: many ties on purpose
        st.sampled_from(list(Status)),
        st.sampled_from(["c1", "c2"]),
        st.sampled_from(["alpha", "beta", "gamma"]),
    ),
    max_size=40,
)


@settings(max_examples=60, deadline=None)
@given(
    a=order_sets,
    b=order_sets,
    limit=st.integers(min_value=1, max_value=12),
    sort=st.sampled_from(["created_at", "-created_at", "updated_at", "-updated_at"]),
    status=st.sampled_from([None, "pending", "completed"]),
    q=st.sampled_from([None, "alp", "Customer C2"]),
    variant=st.sampled_from(sorted(VARIANTS)),
)
async def test_walk_matches_the_brute_force_oracle(a, b, limit, sort, status, q, variant) -> None:  # type: ignore[no-untyped-def]
    counter = itertools.count()
    adapters = [
        FakeAdapter(
            name,
            [
                make_order(
                    name,
                    next(counter),
                    seconds=sec,
                    status=st_,
                    customer=cust,
                    name=nm,
                    updated_seconds=sec + 5 if st_ is Status.COMPLETED else None,
                )
                for sec, st_, cust, nm in rows
            ],
            capabilities=VARIANTS[variant] if name == "alpha" else KEYSET,
        )
        for name, rows in (("alpha", a), ("beta", b))
    ]
    params = [("limit", str(limit)), ("sort", sort)]
    if status:
        params.append(("status", status))
    if q:
        params.append(("q", q))
    svc = service(*adapters)
    seen = await walk(svc, params)
    expected = oracle(adapters, parse_order_query(params))
    assert [o.id for o in seen] == [o.id for o in expected]


async def test_orders_created_mid_walk_cause_no_duplicate_or_skip() -> None:
    adapter = FakeAdapter("w", [make_order("w", n, seconds=n) for n in range(30)])
    svc = service(adapter)
    query = parse_order_query([("limit", "5"), ("sort", "-created_at")])
    first = await svc.list_orders(EVERYONE, query)
    # Newer orders arrive upstream: with page numbers they would shift everything by two.
    adapter.orders.extend(make_order("w", n, seconds=n) for n in (100, 101))
    rest = await walk(svc, [("limit", "5"), ("sort", "-created_at")])
    assert len(rest) == 32
    resumed: list[Order] = list(first.data)
    cursor = first.next_cursor
    while cursor:
        page = await svc.list_orders(
            EVERYONE, parse_order_query([("limit", "5"), ("sort", "-created_at"), ("cursor", cursor)])
        )
        resumed.extend(page.data)
        cursor = page.next_cursor
    assert [o.native_id for o in resumed] == [f"o{n:05d}" for n in range(29, -1, -1)]


async def test_resume_point_is_pushed_down_as_a_time_bound() -> None:
    adapter = FakeAdapter("w", [make_order("w", n, seconds=n) for n in range(20)])
    svc = service(adapter)
    first = await svc.list_orders(EVERYONE, parse_order_query([("limit", "3"), ("sort", "created_at")]))
    adapter.calls.clear()
    await svc.list_orders(
        EVERYONE,
        parse_order_query([("limit", "3"), ("sort", "created_at"), ("cursor", first.next_cursor or "")]),
    )
    assert adapter.calls[0].filters.created_after == first.data[-1].created_at
    assert adapter.calls[0].position is None  # never a bare page number


async def test_partial_failure_reports_and_resumes_the_failed_instance() -> None:
    good = FakeAdapter("good", [make_order("good", n, seconds=n) for n in range(4)])
    bad = FakeAdapter("bad", [make_order("bad", 100 + n, seconds=n) for n in range(3)], fail=True)
    svc = service(good, bad)
    params = [("limit", "10")]
    page = await svc.list_orders(EVERYONE, parse_order_query(params))
    assert [o.provider for o in page.data] == ["good"] * 4
    assert page.providers["bad"].status == "error"
    assert page.providers["bad"].error is not None and page.providers["bad"].error.status == 502
    assert page.has_more and page.next_cursor
    bad.fail = False
    resumed = await svc.list_orders(EVERYONE, parse_order_query([*params, ("cursor", page.next_cursor)]))
    assert [o.provider for o in resumed.data] == ["bad"] * 3
    assert not resumed.has_more


async def test_every_instance_failing_raises() -> None:
    svc = service(FakeAdapter("a", [], fail=True), FakeAdapter("b", [], fail=True))
    with pytest.raises(AllUpstreamsFailedError) as info:
        await svc.list_orders(EVERYONE, parse_order_query([]))
    assert info.value.status_code == 502


async def test_require_all_turns_a_partial_answer_into_an_error() -> None:
    svc = service(FakeAdapter("a", [make_order("a", 1, seconds=1)]), FakeAdapter("b", [], fail=True))
    with pytest.raises(Exception) as info:
        await svc.list_orders(EVERYONE, parse_order_query([("require", "all")]))
    assert getattr(info.value, "status_code", None) == 502


async def test_hidden_instances_are_neither_listed_nor_nameable() -> None:
    svc = service(
        FakeAdapter("a", [make_order("a", 1, seconds=1)]), FakeAdapter("b", [make_order("b", 2, seconds=2)])
    )
    only_a = Principal(name="fe", scopes=frozenset({"orders:read"}), providers=frozenset({"a"}))
    page = await svc.list_orders(only_a, parse_order_query([]))
    assert set(page.providers) == {"a"} and [o.provider for o in page.data] == ["a"]
    with pytest.raises(InvalidQueryError) as hidden:
        await svc.list_orders(only_a, parse_order_query([("provider", "b")]))
    with pytest.raises(InvalidQueryError) as unknown:
        await svc.list_orders(only_a, parse_order_query([("provider", "zz")]))
    assert hidden.value.detail.replace("'b'", "X") == unknown.value.detail.replace("'zz'", "X")


async def test_a_cursor_is_bound_to_its_query_and_its_caller() -> None:
    svc = service(FakeAdapter("a", [make_order("a", n, seconds=n) for n in range(5)]))
    page = await svc.list_orders(EVERYONE, parse_order_query([("limit", "2")]))
    assert page.next_cursor
    with pytest.raises(InvalidCursorError):
        await svc.list_orders(
            EVERYONE, parse_order_query([("limit", "2"), ("status", "pending"), ("cursor", page.next_cursor)])
        )
    other = Principal(name="other", scopes=frozenset({"orders:read"}), providers=None)
    with pytest.raises(InvalidCursorError):
        await svc.list_orders(other, parse_order_query([("limit", "2"), ("cursor", page.next_cursor)]))


def test_order_key_breaks_ties_on_id() -> None:
    from gateway.query import SortKey

    x, y = make_order("a", 1, seconds=5), make_order("a", 2, seconds=5)
    assert order_key(x, SortKey.CREATED_ASC) < order_key(y, SortKey.CREATED_ASC)


def test_each_variant_takes_its_walk() -> None:
    query = parse_order_query([])
    assert plan_for(FakeAdapter("a", [], capabilities=KEYSET), query).mode is Mode.KEYSET
    assert plan_for(FakeAdapter("a", [], capabilities=PAGED), query).mode is Mode.PAGED
    assert plan_for(FakeAdapter("a", [], capabilities=SCAN), query).mode is Mode.SCAN


@pytest.mark.parametrize("capabilities", [KEYSET, PAGED], ids=["keyset", "paged"])
async def test_inserts_and_deletions_between_pages_lose_nothing(capabilities: Capabilities) -> None:
    adapter = FakeAdapter("w", [make_order("w", n, seconds=n) for n in range(40)], capabilities=capabilities)
    svc = service(adapter)
    params = [("limit", "6"), ("sort", "-created_at")]
    page = await svc.list_orders(EVERYONE, parse_order_query(params))
    seen = [o.native_id for o in page.data]
    step = 0
    while page.next_cursor:
        step += 1
        # Between pages: two newer orders arrive, and one already-seen order is deleted.
        adapter.orders.extend(
            make_order("w", 1000 + 2 * step + k, seconds=100 + 2 * step + k) for k in range(2)
        )
        deleted = next(o for o in adapter.orders if o.native_id == seen[-1])
        adapter.orders.remove(deleted)
        page = await svc.list_orders(EVERYONE, parse_order_query([*params, ("cursor", page.next_cursor)]))
        seen.extend(o.native_id for o in page.data)
    assert seen == [f"o{n:05d}" for n in range(39, -1, -1)]


async def test_a_page_cut_short_by_the_call_limit_says_so_and_loses_nothing() -> None:
    # Only every 40th order matches a filter the upstream cannot apply: filling a page of 5
    # needs more upstream pages (of 7) than one request may read.
    orders = [make_order("w", n, seconds=n, name="needle" if n % 40 == 0 else "hay") for n in range(400)]
    adapter = FakeAdapter("w", orders)
    svc = service(adapter)
    params = [("limit", "5"), ("q", "needle"), ("sort", "created_at")]
    page = await svc.list_orders(EVERYONE, parse_order_query(params))
    assert len(page.data) < 5 and page.has_more
    assert page.providers["w"].call_limit_reached
    assert len(adapter.calls) == 5
    seen = list(page.data)
    while page.next_cursor:
        page = await svc.list_orders(EVERYONE, parse_order_query([*params, ("cursor", page.next_cursor)]))
        seen.extend(page.data)
    assert [o.native_id for o in seen] == [f"o{n:05d}" for n in range(0, 400, 40)]


@pytest.mark.parametrize("capabilities", [KEYSET, PAGED], ids=["keyset", "paged"])
async def test_page_500_costs_no_more_upstream_calls_than_page_2(capabilities: Capabilities) -> None:
    adapters = [
        FakeAdapter(
            name, [make_order(name, n, seconds=n * 3 + k) for n in range(1700)], capabilities=capabilities
        )
        for k, name in enumerate(("a", "b", "c"))
    ]
    svc = service(*adapters)
    params = [("limit", "10")]
    cursor: str | None = None
    calls_per_page: list[int] = []
    for _ in range(500):
        before = sum(len(a.calls) for a in adapters)
        page = await svc.list_orders(
            EVERYONE, parse_order_query(params + ([("cursor", cursor)] if cursor else []))
        )
        calls_per_page.append(sum(len(a.calls) for a in adapters) - before)
        cursor = page.next_cursor
        assert cursor is not None
    assert calls_per_page[499] <= calls_per_page[1]
    assert max(calls_per_page[1:]) <= calls_per_page[1]
