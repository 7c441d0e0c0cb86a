"""Which order actions Waldur accepts now, from the order's state and offering type (waldur.md §6).

One row per upstream endpoint, as its validators check it; each gateway action maps to the
endpoints that carry it (``approve`` is ``approve_by_consumer`` or ``approve_by_provider``,
whichever the state allows). Choices where §6 is silent, after the newer mastermind
``OrderViewSet``: attachments can change in ``pending-project``/``-consumer``/``-provider``
(``delete_attachment`` only when there is one); ``set_backend_id`` and ``unlink`` have no
state rule, so they are always listed (``unlink`` still needs a staff token upstream);
``retry`` is for ``erred`` orders of any offering type.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

SLURM = "Marketplace.Slurm"
BASIC = "Marketplace.Basic"
SUPPORT = "Support.OfferingTemplate"
PENDING = frozenset({"pending-consumer", "pending-provider"})
ATTACHMENT_STATES = frozenset({"pending-project", "pending-consumer", "pending-provider"})


@dataclass(frozen=True, slots=True)
class EndpointRule:
    """An endpoint's validators: allowed states and offering types (None: any)."""

    states: frozenset[str] | None
    offering_types: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What the rules look at, read from an order body."""

    state: str
    offering_type: str | None
    has_attachment: bool = False
    consumer_reviewed: bool = False


WALDUR_ENDPOINT_RULES: dict[str, EndpointRule] = {
    "approve_by_consumer": EndpointRule(frozenset({"pending-consumer"}), None),
    "approve_by_provider": EndpointRule(frozenset({"pending-provider"}), None),
    "reject_by_consumer": EndpointRule(frozenset({"pending-consumer"}), None),
    "reject_by_provider": EndpointRule(frozenset({"pending-provider"}), None),
    "cancel": EndpointRule(PENDING | {"executing"}, frozenset({BASIC, SUPPORT})),
    "destroy": EndpointRule(PENDING, None),
    "set_state_executing": EndpointRule(PENDING | {"erred"}, frozenset({SLURM})),
    "set_state_done": EndpointRule(frozenset({"executing"}), frozenset({SLURM, BASIC, SUPPORT})),
    "set_state_erred": EndpointRule(None, frozenset({SLURM})),
    "set_backend_id": EndpointRule(None, None),
    "update_attachment": EndpointRule(ATTACHMENT_STATES, None),
    "delete_attachment": EndpointRule(ATTACHMENT_STATES, None),
    "unlink": EndpointRule(None, None),
    "retry": EndpointRule(frozenset({"erred"}), None),
}

# Gateway action → the endpoints that carry it, in the order of an order's `actions`.
WALDUR_ACTION_ENDPOINTS: dict[str, tuple[str, ...]] = {
    "approve": ("approve_by_consumer", "approve_by_provider"),
    "reject": ("reject_by_consumer", "reject_by_provider"),
    "cancel": ("cancel",),
    "delete": ("destroy",),
    "update_attachment": ("update_attachment",),
    "delete_attachment": ("delete_attachment",),
    "set_backend_id": ("set_backend_id",),
    "set_state_executing": ("set_state_executing",),
    "set_state_done": ("set_state_done",),
    "set_state_erred": ("set_state_erred",),
    "retry": ("retry",),
    "unlink": ("unlink",),
}


def endpoint_allows(endpoint: str, facts: OrderFacts) -> bool:
    """Whether ``endpoint`` would accept an order with these facts now."""
    rule = WALDUR_ENDPOINT_RULES[endpoint]
    if rule.states is not None and facts.state not in rule.states:
        return False
    if rule.offering_types is not None and facts.offering_type not in rule.offering_types:
        return False
    if endpoint == "reject_by_consumer" and facts.consumer_reviewed:
        return False  # 400 "Order is already reviewed by consumer."
    return not (endpoint == "delete_attachment" and not facts.has_attachment)  # a bare 404 upstream


def available_actions(facts: OrderFacts) -> tuple[str, ...]:
    """The gateway actions Waldur would accept for this order now (before scopes narrow them)."""
    return actions_for(facts.state, facts.offering_type, facts.has_attachment, facts.consumer_reviewed)


def actions_for(
    state: str, offering_type: str | None, has_attachment: bool, consumer_reviewed: bool
) -> tuple[str, ...]:
    """``available_actions`` from the facts themselves, read from a table built from the rules.

    The rules only ask whether a state or offering type is one they name, so every value they
    do not name is looked up as the same one (``""`` / None): the table stays small however
    many distinct values upstreams send.
    """
    return _actions_table(
        state if state in _RULE_STATES else "",
        offering_type if offering_type in _RULE_OFFERING_TYPES else None,
        has_attachment,
        consumer_reviewed,
    )


_RULE_STATES = frozenset().union(*(r.states for r in WALDUR_ENDPOINT_RULES.values() if r.states))
_RULE_OFFERING_TYPES = frozenset().union(
    *(r.offering_types for r in WALDUR_ENDPOINT_RULES.values() if r.offering_types)
)


@cache  # at most (states + 1) × (offering types + 1) × 4 entries, thanks to actions_for
def _actions_table(
    state: str, offering_type: str | None, has_attachment: bool, consumer_reviewed: bool
) -> tuple[str, ...]:
    facts = OrderFacts(state, offering_type, has_attachment, consumer_reviewed)
    return tuple(
        action
        for action, endpoints in WALDUR_ACTION_ENDPOINTS.items()
        if any(endpoint_allows(endpoint, facts) for endpoint in endpoints)
    )
