"""Waldur marketplace orders (``../shared/upstreams/waldur.md``): wire functions and async shell."""

from gateway.adapters.waldur.client import WALDUR_CAPABILITIES, WaldurAdapter
from gateway.adapters.waldur.states import WALDUR_FALLBACK_STATUS, WALDUR_STATES

__all__ = ["WALDUR_CAPABILITIES", "WALDUR_FALLBACK_STATUS", "WALDUR_STATES", "WaldurAdapter"]
