"""IVCAP orders (``../shared/upstreams/ivcap.md``), both dialects: wire functions and async shell."""

from gateway.adapters.ivcap.client import IVCAP_CAPABILITIES, IVCAP_LEGACY_CAPABILITIES, IvcapAdapter
from gateway.adapters.ivcap.states import IVCAP_FALLBACK_STATUS, IVCAP_LEGACY_STATES, IVCAP_STATES

__all__ = [
    "IVCAP_CAPABILITIES",
    "IVCAP_FALLBACK_STATUS",
    "IVCAP_LEGACY_CAPABILITIES",
    "IVCAP_LEGACY_STATES",
    "IVCAP_STATES",
    "IvcapAdapter",
]
