"""Property tests of the merged listing against a brute-force oracle (API.md §5).

Random data at three upstreams (each walked by keyset, page tokens or a scan), random
filter combinations, every sort, page sizes 1..200, and random creates and deletes between
page fetches: every order that existed for the whole walk and matches appears exactly once,
in order, and nothing appears twice.
"""

from __future__ import annotations

import itertools
from datetime import timedelta

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.merge import matches, order_key, sort_orders
from gateway.models import Order, Status
from gateway.query import parse_order_query
from tests.service.fakes import T0, FakeAdapter, make_order
from tests.service.test_listing_walk import EVERYONE, VARIANTS, service

INSTANCES = ("alpha", "beta", "gamma")

rows = st.tuples(
    st.integers(min_value=0, max_value=60),  # created second: ties on purpose
    st.sampled_from(list(Status)),
    st.sampled_from(["c1", "c2", "c3"]),
    st.sampled_from(["blue vm", "red disk", "green net"]),
    st.one_of(st.none(), st.integers(min_value=0, max_value=90)),  # updated, seconds after created
)


def when(second: int) -> str:
    return (T0 + timedelta(seconds=second)).isoformat()


queries = st.fixed_dictionaries(
    {},
    optional={
        "status": st.lists(
            st.sampled_from([s.value for s in Status]), min_size=1, max_size=2, unique=True
        ).map(",".join),
        "provider_status": st.sampled_from(["pending", "completed"]),
        "customer": st.sampled_from(["c1", "c3"]),
        "created_after": st.integers(0, 60).map(when),
        "created_before": st.integers(0, 60).map(when),
        "updated_after": st.integers(0, 120).map(when),
        "q": st.sampled_from(["vm", "DISK", "customer c2", "o0001"]),
        "provider": st.lists(st.sampled_from(INSTANCES), min_size=1, max_size=2, unique=True).map(",".join),
    },
)

# Between two page fetches: how many orders to create at each instance, and which to delete.
mutations = st.lists(
    st.tuples(
        st.lists(st.integers(0, 2), min_size=3, max_size=3), st.lists(st.integers(0, 10_000), max_size=2)
    ),
    max_size=40,
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.lists(st.lists(rows, max_size=35), min_size=3, max_size=3),
    variants=st.lists(st.sampled_from(sorted(VARIANTS)), min_size=3, max_size=3),
    params=queries,
    sort=st.sampled_from(["created_at", "-created_at", "updated_at", "-updated_at"]),
    limit=st.one_of(st.integers(1, 12), st.integers(1, 200)),
    changes=mutations,
)
async def test_walk_with_creates_and_deletes_between_pages(  # type: ignore[no-untyped-def]
    data, variants, params, sort, limit, changes
) -> None:
    counter = itertools.count()
    adapters = [
        FakeAdapter(
            name,
            [
                make_order(
                    name,
                    next(counter),
                    seconds=sec,
                    status=status,
                    customer=cust,
                    name=label,
                    updated_seconds=None if upd is None else sec + upd,
                )
                for sec, status, cust, label, upd in instance_rows
            ],
            capabilities=VARIANTS[variant],
        )
        for name, instance_rows, variant in zip(INSTANCES, data, variants, strict=True)
    ]
    query_params: list[tuple[str, str]] = [*params.items(), ("sort", sort), ("limit", str(limit))]
    assume(
        not (
            "created_after" in params
            and "created_before" in params
            and params["created_after"] > params["created_before"]
        )
    )
    query = parse_order_query(query_params)
    initial: dict[str, Order] = {o.id: o for a in adapters for o in a.orders}
    deleted: set[str] = set()
    svc = service(*adapters)
    seen: list[Order] = []
    cursor: str | None = None
    steps = iter(changes)
    for step in range(400):
        page = await svc.list_orders(
            EVERYONE, parse_order_query(query_params + ([("cursor", cursor)] if cursor else []))
        )
        seen.extend(page.data)
        cursor = page.next_cursor
        if cursor is None:
            break
        creates, deletes = next(steps, ([0, 0, 0], []))
        for adapter, count in zip(adapters, creates, strict=True):
            adapter.orders.extend(
                make_order(adapter.instance, next(counter), seconds=1000 + step, status=Status.PENDING, customer="c1", name="new vm")
                for _ in range(count)
            )  # fmt: skip
        for pick in deletes:
            adapter = adapters[pick % 3]
            if adapter.orders:
                victim = adapter.orders.pop(pick % len(adapter.orders))
                deleted.add(victim.id)
    else:
        raise AssertionError("the walk did not end")

    ids = [o.id for o in seen]
    assert len(ids) == len(set(ids)), "an order appeared twice"
    allowed = set(query.providers) if query.providers else set(INSTANCES)
    stable = [
        o
        for o in initial.values()
        if o.id not in deleted and o.provider in allowed and matches(o, query.filters)
    ]
    expected = [o.id for o in sort_orders(stable, query.sort)]
    assert [i for i in ids if i in {o.id for o in stable}] == expected
    keys = [order_key(o, query.sort) for o in seen]
    assert keys == sorted(keys, reverse=query.sort.descending)
    assert all(matches(o, query.filters) for o in seen)
