"""Test doubles that implement ProviderAdapter (STYLE.md §6.12): no patching, same protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from gateway.adapters.base import Capabilities, ListChunk, ListRequest
from gateway.errors import OrderNotFoundError, UpstreamBadResponseError
from gateway.merge import matches
from gateway.models import Health, Order, OrderLinks, Ref, Status
from gateway.query import SortKey

T0 = datetime(2025, 1, 1, tzinfo=UTC)

FAKE_CAPABILITIES = Capabilities(
    filters=frozenset(
        {"status", "provider_status", "customer", "created_after", "created_before", "updated_after"}
    ),
    sorts=frozenset({SortKey.CREATED_ASC, SortKey.CREATED_DESC}),
    max_page_size=7,
    stable_paging=False,
    actions=frozenset(),
    can_create=False,
    can_delete=False,
)


def make_order(instance: str, n: int, *, seconds: float, status: Status = Status.PENDING, customer: str = "c1",
               updated_seconds: float | None = None, name: str | None = None) -> Order:  # fmt: skip
    native = f"o{n:05d}"
    return Order(
        id=f"{instance}:{native}",
        provider=instance,
        provider_kind="waldur",
        native_id=native,
        name=name if name is not None else f"order {n}",
        status=status,
        provider_status=status.value,
        created_at=T0 + timedelta(seconds=seconds),
        updated_at=None if updated_seconds is None else T0 + timedelta(seconds=updated_seconds),
        completed_at=None,
        customer=Ref(id=customer, name=f"Customer {customer}"),
        service=None,
        items=(),
        total=None,
        actions=(),
        links=OrderLinks(self=f"/orders/{instance}:{native}", upstream=None),
        extra={},
    )


@dataclass
class FakeAdapter:
    """An upstream that sorts by created time only (ties in insertion order) and pages by number."""

    kind: ClassVar[str] = "waldur"
    instance: str
    orders: list[Order]
    capabilities: Capabilities = FAKE_CAPABILITIES
    calls: list[ListRequest] = field(default_factory=list)
    fail: bool = False

    async def list_orders(self, request: ListRequest) -> ListChunk:
        self.calls.append(request)
        if self.fail:
            raise UpstreamBadResponseError(
                "The provider failed to answer.", provider=self.instance, upstream_status=500
            )
        assert request.page_size <= self.capabilities.max_page_size
        rows = [o for o in self.orders if matches(o, request.filters)]
        if request.sort in self.capabilities.sorts:
            # Ties come in the upstream's own order, here the opposite of ours (by id): the
            # worst case for a walk that resumed inside a run of equal timestamps.
            rows.sort(key=lambda o: o.id, reverse=not request.sort.descending)
            rows.sort(key=lambda o: o.created_at, reverse=request.sort.descending)
        page = int(request.position or 1)
        start = (page - 1) * request.page_size
        chunk = rows[start : start + request.page_size]
        more = start + request.page_size < len(rows)
        return ListChunk(orders=tuple(chunk), next_position=str(page + 1) if more else None)

    async def get_order(self, native_id: str) -> Order:
        for order in self.orders:
            if order.native_id == native_id:
                return order
        raise OrderNotFoundError("No such order.")

    async def check_health(self) -> Health:
        return (
            Health(status="error", ms=1, error="upstream-bad-response")
            if self.fail
            else Health(status="ok", ms=1)
        )
