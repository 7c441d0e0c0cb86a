"""The simulated Waldur's order creation: an ``OrderCreateRequest`` checked as the server would (§4).

`create_order` validates every field as DRF does (all field errors of one body reported
together in one field map), then the cross-field rules, then builds the new order in
``pending-consumer``. Hyperlinks are resolved by path only (the host is ignored, as DRF's
``HyperlinkedRelatedField`` does); each must name its own view:

- ``offering``: ``/api/marketplace-public-offerings/<uuid>/`` (``marketplace-public-offering-detail``);
- ``project``: ``/api/projects/<uuid>/`` (``project-detail``);
- ``plan``: ``/api/marketplace-public-offerings/<uuid>/plans/<plan_uuid>/``
  (``marketplace-public-offering-plan-detail``, looked up by ``plan_uuid`` alone, then
  checked against the offering).

``type`` and unknown keys are ignored. A missing ``attributes`` counts as ``{}`` (the
2024-10 server fails with a 500 there). ``slug`` defaults to the resource name's slug plus
four characters of the order's uuid, as in the seeded data.
"""

from __future__ import annotations

import random
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import unquote, urlsplit

from gateway.sim.waldur_actions import RefusedError, drf_string, not_a_dict
from gateway.sim.waldur_catalogue import Offering, Plan, Project, User, WaldurCatalogue
from gateway.sim.waldur_data import CENT, WaldurOrder, WaldurStore

OFFERING_PATH = re.compile(r"^/api/marketplace-public-offerings/(?P<uuid>[^/.]+)/$")
PROJECT_PATH = re.compile(r"^/api/projects/(?P<uuid>[^/.]+)/$")
PLAN_PATH = re.compile(r"^/api/marketplace-public-offerings/(?P<uuid>[^/.]+)/plans/(?P<plan_uuid>[^/.]+)/$")
ORDER_PATH = re.compile(r"^/api/marketplace-orders/(?:[^/.]+/)?$")
KNOWN_PATHS = (OFFERING_PATH, PROJECT_PATH, PLAN_PATH, ORDER_PATH)
SLUG = re.compile(r"^[-a-zA-Z0-9_]+\Z")
URL = re.compile(r"^https?://[^\s/?#]+[^\s]*\Z", re.IGNORECASE)
TRUE_VALUES = frozenset({True, "true", "True", "TRUE", "1", "yes", "on", "y", "t"})
FALSE_VALUES = frozenset({False, "false", "False", "FALSE", "0", "no", "off", "n", "f"})

DOES_NOT_EXIST = "Invalid hyperlink - Object does not exist."
INVALID_INTEGER = "A valid integer is required."


@dataclass(frozen=True, slots=True)
class _Fields:
    offering: Offering
    project: Project
    plan: Plan | None
    attributes: dict[str, Any]
    limits: dict[str, int]
    callback_url: str | None
    request_comment: str | None
    start_date: date | None
    slug: str | None


def create_order(
    data: Any, *, store: WaldurStore, now: datetime, user: User, rng: random.Random
) -> WaldurOrder:
    """The new order for a create body (not yet added to ``store``), or `RefusedError` (400)."""
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else type(data).__name__
        raise RefusedError(
            400, {"non_field_errors": [f"Invalid data. Expected a dictionary, but got {kind}."]}
        )
    fields = _validate(data, store.catalogue)
    order_uuid = _new_uuid(rng, store)
    name = fields.attributes.get("name")
    resource_name = name if isinstance(name, str) else ""
    return WaldurOrder(
        uuid=order_uuid,
        slug=fields.slug or f"{_slugify(resource_name or fields.offering.slug)}-{order_uuid[:4]}",
        created=now,
        modified=now,
        state="pending-consumer",
        type="Create",
        offering=fields.offering,
        project=fields.project,
        plan=fields.plan,
        resource_uuid=_new_uuid(rng, store),
        resource_name=resource_name,
        created_by=user,
        attributes=fields.attributes,
        limits=fields.limits,
        cost=_cost(fields.offering, fields.plan, fields.limits),
        start_date=fields.start_date,
        request_comment=fields.request_comment,
        callback_url=fields.callback_url,
    )


def _validate(data: dict[str, Any], catalogue: WaldurCatalogue) -> _Fields:
    errors: dict[str, Any] = {}

    def check(name: str, parse: Any, *, required: bool = False) -> Any:
        if name not in data:
            if required:
                errors[name] = ["This field is required."]
            return None
        if data[name] is None and name not in ("callback_url", "request_comment", "start_date"):
            errors[name] = ["This field may not be null."]
            return None
        if data[name] is None:
            return None
        try:
            return parse(data[name])
        except _FieldError as exc:
            errors[name] = exc.detail
            return None

    offerings = {o.uuid: o for o in catalogue.offerings}
    projects = {p.uuid: p for p in catalogue.projects}
    plans = {plan.uuid: plan for o in catalogue.offerings for plan in o.plans}
    offering = check("offering", lambda v: _resolve(v, OFFERING_PATH, "uuid", offerings), required=True)
    project = check("project", lambda v: _resolve(v, PROJECT_PATH, "uuid", projects), required=True)
    plan = check("plan", lambda v: _resolve(v, PLAN_PATH, "plan_uuid", plans))
    attributes = check("attributes", _attributes)
    limits = check("limits", _limits)
    check("accepting_terms_of_service", _boolean)
    callback_url = check("callback_url", _url)
    request_comment = check("request_comment", _text)
    start_date = check("start_date", _date)
    slug = check("slug", _slug)
    if errors:
        raise RefusedError(400, errors)
    # BaseItemSerializer.validate, then validate_limits (mastermind marketplace utils).
    if plan is not None and plan not in offering.plans:
        raise RefusedError(400, {"plan": ["This plan is not available for selected offering."]})
    limits = limits or {}
    invalid = sorted(set(limits) - {c.type for c in offering.components})
    if invalid:
        raise RefusedError(400, {"limits": [f"Invalid types: {', '.join(invalid)}"]})
    return _Fields(
        offering=offering,
        project=project,
        plan=plan,
        attributes=attributes or {},
        limits=limits,
        callback_url=callback_url,
        request_comment=request_comment,
        start_date=start_date,
        slug=slug,
    )


class _FieldError(Exception):
    def __init__(self, detail: Any) -> None:
        super().__init__(detail)
        self.detail = detail


def _resolve(value: Any, view: re.Pattern[str], kwarg: str, objects: dict[str, Any]) -> Any:
    """DRF ``HyperlinkedRelatedField.to_internal_value`` over the simulator's routes."""
    if not isinstance(value, str):
        raise _FieldError([f"Incorrect type. Expected URL string, received {type(value).__name__}."])
    path = unquote(urlsplit(value).path if value.startswith(("http:", "https:")) else value)
    match = view.match(path)
    if match is None:
        known = any(pattern.match(path) for pattern in KNOWN_PATHS)
        raise _FieldError([f"Invalid hyperlink - {'Incorrect URL match' if known else 'No URL match'}."])
    try:
        key = uuid.UUID(match[kwarg]).hex
    except ValueError:
        raise _FieldError([DOES_NOT_EXIST]) from None
    found = objects.get(key)
    if found is None:
        raise _FieldError([DOES_NOT_EXIST])
    return found


def _attributes(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _FieldError([not_a_dict(value)])
    return dict(value)


def _limits(value: Any) -> dict[str, int]:
    """``DictField(child=IntegerField())``: integral numbers and numeric strings, no booleans."""
    if not isinstance(value, dict):
        raise _FieldError([not_a_dict(value)])
    parsed: dict[str, int] = {}
    problems: dict[str, list[str]] = {}
    for key, amount in value.items():
        number = _integer(amount)
        if number is None:
            problems[key] = [INVALID_INTEGER]
        else:
            parsed[key] = number
    if problems:
        raise _FieldError(problems)
    return parsed


def _integer(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and re.fullmatch(r"\s*[-+]?\d+(\.0*)?\s*", value):
        return int(value.strip().split(".")[0])
    return None


def _boolean(value: Any) -> bool:
    """DRF ``BooleanField``: true/false and their usual spellings (1 and 0 equal True and False)."""
    if isinstance(value, list | dict):
        raise _FieldError(["Must be a valid boolean."])
    if value in TRUE_VALUES:
        return True
    if value in FALSE_VALUES:
        return False
    raise _FieldError(["Must be a valid boolean."])


def _url(value: Any) -> str:
    text = drf_string(value)
    if text is None or not URL.match(text.strip()):
        raise _FieldError(["Enter a valid URL."])
    return text.strip()


def _text(value: Any) -> str:
    text = drf_string(value)
    if text is None:
        raise _FieldError(["Not a valid string."])
    return text.strip()


def _date(value: Any) -> date:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise _FieldError(["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."])


def _slug(value: Any) -> str:
    text = drf_string(value)
    if text is None or not SLUG.match(text.strip()):
        raise _FieldError(["Enter a valid “slug” consisting of letters, numbers, underscores or hyphens."])
    return text.strip()


def _new_uuid(rng: random.Random, store: WaldurStore) -> str:
    while True:
        candidate = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        if store.get(candidate) is None:
            return candidate


def _slugify(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split()) or "order"


def _cost(offering: Offering, plan: Plan | None, limits: dict[str, int]) -> Decimal:
    prices = {c.type: c.unit_price for c in offering.components}
    total = sum((Decimal(amount) * prices[name] for name, amount in limits.items()), Decimal(0))
    if plan is not None:
        total = total * plan.price_factor + Decimal(str(plan.fixed_price))
    return total.quantize(CENT)
