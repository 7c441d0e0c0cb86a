"""The simulated ArrowSphere's ``POST /orders``: the CreateOrder body (§6) and the order it makes.

Choices on points the wire notes leave open (also in ``docs/decisions.md``):

- Unknown keys are refused (the body is ``extra="forbid"`` at every level), so a client
  sending ``poNumber`` instead of ``ponumber`` hears about it.
- Any ``XSP<digits>`` customer is accepted; one the simulator does not know is billed in EUR.
- ``sku`` / ``arrowSpherePriceBandSku`` must name a product of the simulated catalogue.
- A ``quoteRef`` without ``products`` orders one catalogue product chosen by the quote.
- A new order is ``Scheduled Order`` when ``scheduledDate`` is after today, else ``Open``.
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, StrictStr, model_validator

from gateway.sim.arrow_actions import CustomField, RefusedError, StrictBody, parse_body
from gateway.sim.arrow_catalogue import (
    API_USER,
    CATALOGUE,
    CUSTOMERS_BY_REFERENCE,
    PARTNER_CONTACTS,
    PRODUCTS_BY_PRICE_BAND,
    PRODUCTS_BY_SKU,
    CatalogueProduct,
    Customer,
)
from gateway.sim.arrow_data import ArrowOrder, ArrowProduct, ArrowStore, HistoryEntry

DATE = r"^\d{4}-\d{2}-\d{2}$"


class _CreateCustomer(StrictBody):
    reference: Annotated[StrictStr, Field(pattern=r"^XSP\d{1,12}$")]
    ponumber: StrictStr | None = None
    endCustomerPONumber: StrictStr | None = None


class _Reference(StrictBody):
    reference: StrictStr


class _CreateProduct(StrictBody):
    """One product line; only ``quantity`` and one of the SKUs matter to the simulator."""

    sku: StrictStr | None = None
    arrowSpherePriceBandSku: StrictStr | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=100_000)]
    subscription: _Reference | None = None
    parentLicenseId: StrictStr | None = None
    parentSku: StrictStr | None = None
    periodicity: StrictStr | StrictInt | None = None
    term: StrictStr | StrictInt | None = None
    discount: float | None = None
    uplift: float | None = None
    autoRenew: bool | None = None
    effectiveStartDate: StrictStr | None = None
    effectiveEndDate: StrictStr | None = None
    friendlyName: StrictStr | None = None
    comment1: StrictStr | None = None
    comment2: StrictStr | None = None
    promotionId: StrictStr | None = None
    coterminosityDate: StrictStr | None = None
    coterminositySubscriptionRef: StrictStr | None = None
    price: dict[str, Any] | None = None
    eavs: list[Any] | dict[str, Any] | None = None

    @model_validator(mode="after")
    def _names_a_sku(self) -> _CreateProduct:
        if not self.sku and not self.arrowSpherePriceBandSku:
            raise ValueError("one of sku and arrowSpherePriceBandSku is required")
        return self


class _ExtraInformation(StrictBody):
    programs: dict[str, dict[str, Any]]


class CreateOrderBody(StrictBody):
    """The CreateOrder body of §6."""

    customer: _CreateCustomer
    products: list[_CreateProduct] | None = None
    scenario: Literal["injection", "reconciliation", "provision", "default"] | None = None
    scheduledDate: Annotated[StrictStr, Field(pattern=DATE)] | None = None
    extraInformation: _ExtraInformation | None = None
    organizationUnitRef: StrictStr | None = None
    quoteRef: Annotated[StrictStr, Field(min_length=1)] | None = None
    customFields: list[CustomField] | None = None

    @model_validator(mode="after")
    def _has_products(self) -> CreateOrderBody:
        if not self.products and self.quoteRef is None:
            raise ValueError("products is required unless quoteRef is given")
        return self


def create_order(store: ArrowStore, body: bytes, *, now: datetime) -> ArrowOrder:
    """Validate a CreateOrder body and add the order it makes, or raise `RefusedError` (400)."""
    request = parse_body(CreateOrderBody, body)
    scheduled = _scheduled_date(request.scheduledDate)
    customer = CUSTOMERS_BY_REFERENCE.get(request.customer.reference) or Customer(
        reference=request.customer.reference,
        name=request.customer.reference,
        currency="EUR",
        domain=request.customer.reference.lower(),
    )
    lines = [
        (_offer_of(product, index), product.quantity) for index, product in enumerate(request.products or ())
    ]
    if not lines and request.quoteRef is not None:
        digest = hashlib.sha256(request.quoteRef.encode()).digest()
        lines = [(CATALOGUE[digest[0] % len(CATALOGUE)], 1 + digest[1] % 5)]
    reference, number = store.next_reference()
    status = "Scheduled Order" if scheduled is not None and scheduled > now.date() else "Open"
    extra = request.extraInformation.model_dump() if request.extraInformation else {"programs": {}}
    order = ArrowOrder(
        reference=reference,
        number=number,
        status=status,
        date_status=now,
        date_creation=now,
        order_reference=f"O_ARWS-V7-{hashlib.sha256(reference.encode()).hexdigest()[:8]}-{number:06d}",
        customer=customer,
        contact=PARTNER_CONTACTS[0],
        products=[_product(store, offer, quantity, customer, now) for offer, quantity in lines],
        ponumber=request.customer.ponumber,
        end_customer_po=request.customer.endCustomerPONumber,
        created_by=API_USER,
        scheduled_date=scheduled,
        extra_information=extra,
        organization_unit=request.organizationUnitRef,
        custom_fields=[field.model_dump() for field in request.customFields or ()],
    )
    order.history.append(HistoryEntry("create", "Order created", API_USER, now))
    return store.add(order)


def _scheduled_date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise RefusedError(400, "Bad Request", ["scheduledDate: not a date"]) from exc


def _offer_of(product: _CreateProduct, index: int) -> CatalogueProduct:
    offer = PRODUCTS_BY_SKU.get(product.sku or "") or PRODUCTS_BY_PRICE_BAND.get(
        product.arrowSpherePriceBandSku or ""
    )
    if offer is None:
        raise RefusedError(400, "Bad Request", [f"products.{index}: unknown sku"])
    return offer


def _product(
    store: ArrowStore, offer: CatalogueProduct, quantity: int, customer: Customer, now: datetime
) -> ArrowProduct:
    return ArrowProduct(
        offer=offer,
        quantity=quantity,
        currency=customer.currency,
        buy=offer.buy(customer.currency),
        sell=offer.sell(customer.currency),
        status="Pending",
        date_status=now,
        detailed_status="Pending",
        is_trial=False,
        subscription=store.next_subscription(),
        license=None,
    )
