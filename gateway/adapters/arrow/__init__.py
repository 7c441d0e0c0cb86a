"""ArrowSphere xSP orders (``../shared/upstreams/arrow.md``): wire functions and async shell."""

from gateway.adapters.arrow.client import ARROW_CAPABILITIES, ArrowAdapter
from gateway.adapters.arrow.states import (
    ARROW_FALLBACK_STATUS,
    ARROW_ITEM_FALLBACK_STATUS,
    ARROW_ITEM_STATES,
    ARROW_STATES,
)

__all__ = [
    "ARROW_CAPABILITIES",
    "ARROW_FALLBACK_STATUS",
    "ARROW_ITEM_FALLBACK_STATUS",
    "ARROW_ITEM_STATES",
    "ARROW_STATES",
    "ArrowAdapter",
]
