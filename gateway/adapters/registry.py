"""The table from provider kind to adapter class: a literal dict, nothing registers itself."""

from __future__ import annotations

from collections.abc import Callable

from gateway.adapters.arrow import ArrowAdapter
from gateway.adapters.base import ProviderAdapter
from gateway.adapters.ivcap import IvcapAdapter
from gateway.adapters.waldur import WaldurAdapter

# Each entry is called as (instance, settings, client, *, gateway_url=...).
AdapterFactory = Callable[..., ProviderAdapter]

ADAPTERS: dict[str, AdapterFactory] = {
    "waldur": WaldurAdapter,
    "ivcap": IvcapAdapter,
    "arrow": ArrowAdapter,
}
