"""Values derived from an object, kept while that very object comes back.

What the read cache hands out is the same object on every hit (its decoded-entry memo), so
what is derived from it (an order narrowed for a caller, the bytes of an answer) need be
derived once. Keyed by identity, not equality: each kept entry holds its source, so the
source's id cannot pass to another object while the entry is kept.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from cachetools import LRUCache

V = TypeVar("V")


class PerObject(Generic[V]):
    """Least recently used first past ``maxsize``, each value counted by ``getsizeof`` (1)."""

    def __init__(self, maxsize: int, getsizeof: Callable[[V], int] | None = None) -> None:
        self._size: Callable[[V], int] = getsizeof or (lambda _value: 1)
        self._held: LRUCache[tuple[int, Hashable], tuple[object, V]] = LRUCache(
            maxsize=maxsize, getsizeof=lambda held: self._size(held[1])
        )

    def get(
        self, source: object, derive: Callable[[], V], *, variant: Hashable = None, keep: bool = True
    ) -> V:
        """The value derived from ``source`` (and ``variant``): kept, or ``derive()`` now, and
        kept unless ``keep`` is False or it alone is over the bound."""
        key = (id(source), variant)
        held = self._held.get(key)
        if held is not None and held[0] is source:
            return held[1]
        value = derive()
        if keep and self._size(value) <= self._held.maxsize:
            self._held[key] = (source, value)
        return value
