"""The table from provider kind to adapter class: a literal dict, nothing registers itself."""

from __future__ import annotations

from gateway.adapters.waldur import WaldurAdapter

ADAPTERS = {
    "waldur": WaldurAdapter,
}
