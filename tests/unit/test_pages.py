"""The page memo's rules: which pages may be reused, and when a remembered one is not."""

from __future__ import annotations

from gateway.cache import CacheEntry, MemoryReadCache
from gateway.memo import PerObject
from gateway.models import OrderPage, ReadOutcome
from gateway.pages import CachedRead, PageMemo, RememberedPage, cached_reads
from gateway.query import parse_order_query
from gateway.routes.orders import page_opening


def test_only_pages_whose_every_read_was_one_stored_entry_are_reusable() -> None:
    stored = ReadOutcome("hit", 1.0, 29.0, "k1", 100.0)
    assert cached_reads({"a": [stored], "b": [ReadOutcome("miss", 0, 30, "k2", 101.0)]}) == (
        CachedRead("a", "k1", 100.0),
        CachedRead("b", "k2", 101.0),
    )
    assert cached_reads({"a": [stored, ReadOutcome("stale", 90, -1, "k3", 10.0)]}) is None
    assert cached_reads({"a": [stored], "b": [ReadOutcome("bypass")]}) is None
    assert cached_reads({"a": [ReadOutcome("miss", 0, 30, None, 101.0)]}) is None  # put refused


async def test_a_remembered_page_lasts_as_long_as_the_very_entries_it_came_from() -> None:
    now = [1000.0]
    store = MemoryReadCache(clock=lambda: now[0])
    memo = PageMemo(store, lambda: now[0])
    query = parse_order_query([("limit", "5")])
    entry = CacheEntry(b"chunk", 1000.0, 1030.0, 1030.0)
    assert await store.put("k", entry, ("t",), await store.versions(("t",)))
    page = RememberedPage(
        data=(), positions=None, fingerprint="f", providers={}, reads=(CachedRead("a", "k", 1000.0),)
    )
    memo.remember("reader", query, page)
    assert await memo.recall("someone-else", query) is None
    now[0] = 1010.0
    recalled = await memo.recall("reader", query)
    assert recalled is not None and recalled[0] is page
    assert recalled[1] == [("a", ReadOutcome("hit", 10.0, 20.0, "k", 1000.0))]
    # Refilled (another request, another replica): the same key, a newer entry.
    refilled = CacheEntry(b"newer", 1011.0, 1041.0, 1041.0)
    assert await store.put("k", refilled, ("t",), await store.versions(("t",)))
    assert await memo.recall("reader", query) is None
    memo.remember("reader", query, RememberedPage((), None, "f", {}, (CachedRead("a", "k", 1011.0),)))
    now[0] = 1041.0  # past its freshness
    assert await memo.recall("reader", query) is None


def test_renderings_are_kept_per_object_not_per_value() -> None:
    rendered: PerObject[tuple[bytes, str]] = PerObject(1000, getsizeof=lambda answer: len(answer[0]))
    calls: list[str] = []

    def render(tag: str) -> tuple[bytes, str]:
        calls.append(tag)
        return tag.encode(), tag

    one, equal = ["x"], ["x"]
    assert rendered.get(one, lambda: render("a"), keep=True) == (b"a", "a")
    assert rendered.get(one, lambda: render("again"), keep=True) == (b"a", "a")
    assert rendered.get(equal, lambda: render("b"), keep=False) == (b"b", "b")
    assert rendered.get(equal, lambda: render("c"), keep=False) == (b"c", "c")  # nothing kept
    assert calls == ["a", "b", "c"]
    # A variant is another value of the same object (an order narrowed for other scopes).
    assert rendered.get(one, lambda: render("d"), variant="other") == (b"d", "d")
    assert rendered.get(one, lambda: render("e"), variant="other") == (b"d", "d")
    assert calls == ["a", "b", "c", "d"]


def test_empty_pages_differ_by_whether_more_follow() -> None:
    # Why the route never keeps the empty tuple's rendering: it is one object for every page.
    hit = ReadOutcome("hit", 1, 29)
    last = OrderPage(data=(), next_cursor=None, has_more=False, providers={}, cache=hit)
    more = OrderPage(data=(), next_cursor="c", has_more=True, providers={}, cache=hit)
    assert last.data is more.data and page_opening(last)[1] != page_opening(more)[1]
