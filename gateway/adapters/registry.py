"""The tables by provider kind (adapter classes, status vocabularies): literal dicts, nothing registers itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from gateway.adapters.arrow import ARROW_FALLBACK_STATUS, ARROW_STATES, ArrowAdapter
from gateway.adapters.base import ProviderAdapter
from gateway.adapters.ivcap import IVCAP_FALLBACK_STATUS, IVCAP_LEGACY_STATES, IVCAP_STATES, IvcapAdapter
from gateway.adapters.waldur import WALDUR_FALLBACK_STATUS, WALDUR_STATES, WaldurAdapter
from gateway.models import Status

# Each entry is called as (instance, settings, client, *, gateway_url=...).
AdapterFactory = Callable[..., ProviderAdapter]

ADAPTERS: dict[str, AdapterFactory] = {
    "waldur": WaldurAdapter,
    "ivcap": IvcapAdapter,
    "arrow": ArrowAdapter,
}


@dataclass(frozen=True, slots=True)
class StatusTable:
    """One vocabulary of upstream states: each state's normalised status, and the fallback."""

    states: Mapping[str, Status]
    fallback: Status


# The tables the adapters use, by vocabulary (IVCAP's two dialects speak two).
STATUS_TABLES: dict[str, StatusTable] = {
    "waldur": StatusTable(WALDUR_STATES, WALDUR_FALLBACK_STATUS),
    "ivcap": StatusTable(IVCAP_STATES, IVCAP_FALLBACK_STATUS),
    "ivcap-legacy": StatusTable(IVCAP_LEGACY_STATES, IVCAP_FALLBACK_STATUS),
    "arrow": StatusTable(ARROW_STATES, ARROW_FALLBACK_STATUS),
}
