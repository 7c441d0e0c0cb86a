"""The adapters' fast paths give exactly what the plain ways of computing the same thing give.

Each reference below is the simple implementation the fast path replaced: the Waldur action
rules evaluated per order, Waldur's ``extra`` read off a full JSON dump, Arrow's ``extra``
scrubbed with a regex per value, and IVCAP's URN link segment quoted by ``urllib``.
"""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC
from typing import Any
from urllib.parse import quote

import orjson
import pytest

from gateway.adapters.arrow import wire as arrow_wire
from gateway.adapters.ivcap.wire_common import quote_segment
from gateway.adapters.waldur import wire as waldur_wire
from gateway.adapters.waldur.transitions import (
    WALDUR_ACTION_ENDPOINTS,
    WALDUR_ENDPOINT_RULES,
    OrderFacts,
    available_actions,
    endpoint_allows,
)

UUID = "0123456789abcdef0123456789abcdef"


def rule_actions(facts: OrderFacts) -> tuple[str, ...]:
    return tuple(
        action
        for action, endpoints in WALDUR_ACTION_ENDPOINTS.items()
        if any(endpoint_allows(endpoint, facts) for endpoint in endpoints)
    )


def test_waldur_action_table_matches_the_rules_for_every_fact() -> None:
    named_states = {s for rule in WALDUR_ENDPOINT_RULES.values() for s in rule.states or ()}
    named_types = {t for rule in WALDUR_ENDPOINT_RULES.values() for t in rule.offering_types or ()}
    states = [*sorted(named_states), "done", "", "PENDING-CONSUMER", "brand-new"]
    types = [*sorted(named_types), None, "", "Marketplace.Other"]
    for state, offering_type, attached, reviewed in itertools.product(
        states, types, (False, True), (False, True)
    ):
        facts = OrderFacts(state, offering_type, attached, reviewed)
        assert available_actions(facts) == rule_actions(facts), facts


WALDUR_ORIGIN = "http://10.1.2.3:9001"
WALDUR_CTX = waldur_wire.WaldurContext("waldur-eu", "EUR", WALDUR_ORIGIN, None, "")


def waldur_extra_by_dump(row: waldur_wire.WaldurOrder) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for key, value in row.model_dump(mode="json").items():
        if key in waldur_wire._CONSUMED or key in waldur_wire._HIDDEN:
            continue
        if isinstance(value, str) and value.startswith(WALDUR_ORIGIN):
            continue
        extra[key] = value
    return extra


WALDUR_BODIES = [
    # Every declared field, upstream links among declared and extra values, nested values.
    json.dumps(
        {
            "uuid": UUID,
            "created": "2024-05-01T10:00:00Z",
            "state": "executing",
            "offering_type": "Marketplace.Basic",
            "plan_uuid": "p1",
            "plan_name": "Plan",
            "attributes": {"name": "vm", "nested": [1, 2.5, {"x": None}], "flag": True},
            "limits": {"cpu": 2, "ram": 4.5},
            "resource_name": "vm",
            "attachment": f"{WALDUR_ORIGIN}/media/a.pdf",
            "consumer_reviewed_by": "someone",
            "url": f"{WALDUR_ORIGIN}/api/marketplace-orders/{UUID}/",
            "project": f"{WALDUR_ORIGIN}/api/projects/1/",
            "project_name": "P",
            "fixed_price": 0.0,
            "huge": 10**30,
            "plugin_options": {},
            "list": [f"{WALDUR_ORIGIN}/x", "y"],
            "error_traceback": "Traceback...",
        }
    ).encode(),
    # Nothing but the required fields: the declared ones appear as nulls.
    orjson.dumps({"uuid": UUID, "created": "2024-05-01T10:00:00", "state": "done"}),
    # Non-finite numbers (pydantic reads NaN, Infinity and overflowing literals): untyped
    # values dump them as null, typed `limits` keep them.
    b'{"uuid": "' + UUID.encode() + b'", "created": "2024-05-01T10:00:00Z", "state": "erred",'
    b' "cost": NaN, "x": NaN, "y": [Infinity, 1.5, {"a": -Infinity}], "z": 1e400,'
    b' "limits": {"a": Infinity, "b": NaN, "c": 3}, "attributes": {"q": NaN, "r": [1e400]}}',
]


@pytest.mark.parametrize("body", WALDUR_BODIES)
def test_waldur_extra_is_the_json_dump_less_what_is_hidden(body: bytes) -> None:
    row = waldur_wire.WaldurOrder.model_validate_json(body)
    expected = waldur_extra_by_dump(row)
    extra = waldur_wire._extra(WALDUR_CTX, row)
    assert list(extra) == list(expected)  # the same keys in the same order
    assert repr(extra) == repr(expected)  # the same values and types (nan is not == nan)


ARROW_ORIGIN = "http://arrow.internal:8080"
ARROW_CTX = arrow_wire.ArrowContext("arrow-fr", UTC, ARROW_ORIGIN, None, "")
UPSTREAM_PATH = re.compile(r"^/?api/")


def arrow_points_upstream(value: Any) -> bool:
    return isinstance(value, str) and (
        value.startswith(ARROW_ORIGIN) or UPSTREAM_PATH.match(value) is not None
    )


def arrow_scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: arrow_scrub(v)
            for k, v in value.items()
            if k not in arrow_wire._HIDDEN_KEYS and not arrow_points_upstream(v)
        }
    if isinstance(value, list):
        return [arrow_scrub(v) for v in value if not arrow_points_upstream(v)]
    return value


def test_arrow_extra_is_the_order_scrubbed_at_every_depth() -> None:
    raw = {
        "reference": "XSPO1",
        "status": "Open",
        "customer": {"reference": "XSP1", "link": "/api/customers/XSP1"},
        "actions": {"cancel": "api/orders/XSPO1/cancel"},
        "link": "/api/orders/XSPO1",
        "links": ["x"],
        "self": f"{ARROW_ORIGIN}/index.php/api/orders/XSPO1",
        "path": "api/orders",
        "near_miss": ["apis/", "/apix", "x/api/", f"{ARROW_ORIGIN[:-1]}"],
        "partner": {"contact": {"email": "a@b", "links": {"self": "x"}}, "empty": {}},
        "products": [
            {
                "sku": "S1",
                "subscription": {"reference": "XSPS1", "link": "/api/subscriptions/XSPS1"},
                "prices": {"buy": 1.5, "currency": "EUR"},
                "tags": ["api/tag", "tag", 3, None, [f"{ARROW_ORIGIN}/a", {"link": "x"}]],
            }
        ],
        "numbers": [1, 2.5, True, None],
    }
    extra = arrow_wire._extra(ARROW_CTX, raw)
    expected = {
        key: arrow_scrub(value)
        for key, value in raw.items()
        if key not in arrow_wire._CONSUMED
        and key not in arrow_wire._HIDDEN_KEYS
        and not arrow_points_upstream(value)
    }
    assert list(extra) == list(expected)
    assert repr(extra) == repr(expected)


@pytest.mark.parametrize(
    "text",
    [
        "urn:ivcap:order:41b82617-b239-4aaa-ba48-1f8b486adfff",
        "URN:IVCAP:ORDER:X",
        "",
        "a/b:c",
        "a b",
        "50%:off",
        "é:x",
        "line\n:",
        "~_.-:",
    ],
)
def test_ivcap_urn_segment_is_quoted_as_urllib_quotes_it(text: str) -> None:
    assert quote_segment(text) == quote(text, safe="")
