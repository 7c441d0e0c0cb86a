"""The simulated ArrowSphere's fixed world: programs and their products, customers, the partner.

Plain tables, no randomness: the seeded history in `arrow_data` picks from them. Names and
identifier shapes follow ``shared/upstreams/arrow.md`` §2 and §6 (customers ``XSP<digits>``,
organisation units ``XSPOU<digits>``, SKUs ``<CLASS>||<vendor>||<code>||<hash>``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

CENT = Decimal("0.01")
# Fixed conversion from the catalogue's EUR prices into each customer's billing currency.
RATES = {"EUR": Decimal(1), "GBP": Decimal("0.86"), "USD": Decimal("1.08"), "AUD": Decimal("1.65")}


@dataclass(frozen=True, slots=True)
class Program:
    code: str  # program.legacyCode, the value of the `program` list filter
    name: str  # programName
    vendor: str  # vendorName


@dataclass(frozen=True, slots=True)
class CatalogueProduct:
    """One orderable offer: a SKU with its price band (term and periodicity)."""

    sku: str
    price_band_sku: str  # what CreateOrder's `arrowSpherePriceBandSku` names
    name: str
    classification: str
    program: Program
    vendor_sku: str
    sub_categories: tuple[str, ...]
    is_addon: bool
    periodicity: str
    periodicity_code: int
    term: str
    term_code: int
    buy_eur: Decimal
    sell_eur: Decimal
    quantities: tuple[int, ...]

    def buy(self, currency: str) -> Decimal:
        return (self.buy_eur * RATES[currency]).quantize(CENT)

    def sell(self, currency: str) -> Decimal:
        return (self.sell_eur * RATES[currency]).quantize(CENT)


@dataclass(frozen=True, slots=True)
class Customer:
    reference: str
    name: str
    currency: str
    domain: str


@dataclass(frozen=True, slots=True)
class Contact:
    email: str
    first_name: str
    last_name: str


MICROSOFT = Program("Microsoft", "Microsoft Cloud Solution Provider (CSP)", "Microsoft")
ADOBE = Program("Adobe", "Adobe VIP Marketplace", "Adobe")
GOOGLE = Program("Google", "Google Workspace", "Google")
ACRONIS = Program("Acronis", "Acronis Cyber Protect Cloud", "Acronis")
BITDEFENDER = Program("Bitdefender", "Bitdefender GravityZone", "Bitdefender")
PROGRAMS = (MICROSOFT, ADOBE, GOOGLE, ACRONIS, BITDEFENDER)
PROGRAM_WEIGHTS = (55, 15, 12, 10, 8)

MONTHLY = ("per Month", 720)
YEARLY = ("per Year", 8640)
ONE_MONTH = ("1 Month", 720)
ONE_YEAR = ("1 Year", 8640)
SEATS = (1, 2, 3, 5, 5, 10, 10, 15, 25, 50)


def _product(
    program: Program,
    code: str,
    digest: str,
    name: str,
    vendor_sku: str,
    buy: str,
    sell: str,
    *,
    classification: str = "SaaS",
    periodicity: tuple[str, int] = MONTHLY,
    term: tuple[str, int] = ONE_YEAR,
    sub_categories: tuple[str, ...] = (),
    is_addon: bool = False,
    quantities: tuple[int, ...] = SEATS,
) -> CatalogueProduct:
    term_short = {720: "1M", 8640: "1Y"}[term[1]]
    return CatalogueProduct(
        sku=f"{classification.upper()}||{program.vendor}||{code}||{digest}",
        price_band_sku=f"{code}_{digest}_{term_short}",
        name=name,
        classification=classification,
        program=program,
        vendor_sku=vendor_sku,
        sub_categories=sub_categories,
        is_addon=is_addon,
        periodicity=periodicity[0],
        periodicity_code=periodicity[1],
        term=term[0],
        term_code=term[1],
        buy_eur=Decimal(buy),
        sell_eur=Decimal(sell),
        quantities=quantities,
    )


NCE = ("nce",)
CATALOGUE = (
    _product(MICROSOFT, "MS-0A-O365-BASIC", "3B2F9A10", "Microsoft 365 Business Basic", "CFQ7TTC0LH18",
             "5.10", "6.00", sub_categories=NCE),
    _product(MICROSOFT, "MS-0A-O365-BUSINESS", "BD938F12", "Microsoft 365 Business Standard",
             "CFQ7TTC0LDPB", "10.50", "12.50", sub_categories=NCE),
    _product(MICROSOFT, "MS-0A-O365-PREMIUM", "7C41D2E3", "Microsoft 365 Business Premium", "CFQ7TTC0LCHC",
             "18.70", "22.00", sub_categories=NCE),
    _product(MICROSOFT, "MS-0B-O365-E3", "A0D51C77", "Office 365 E3", "CFQ7TTC0LF8Q", "19.55", "23.00",
             sub_categories=NCE, term=ONE_MONTH),
    _product(MICROSOFT, "MS-0ZH-VISIO", "B4D4B7F4", "Visio Plan 2", "CFQ7TTC0HD33", "12.75", "15.00",
             sub_categories=NCE, is_addon=True),
    _product(MICROSOFT, "MS-0D-DYN-COMMERCE", "79C103C3", "Dynamics 365 Commerce", "CFQ7TTC0LH1G",
             "153.00", "180.00", sub_categories=NCE, quantities=(1, 1, 2, 5)),
    _product(MICROSOFT, "MS-AZR-PLAN", "DZH318Z0", "Azure plan", "DZH318Z0BPS6", "0", "0",
             classification="IaaS", term=ONE_MONTH, quantities=(1,)),
    _product(ADOBE, "ADB-CCT-ALLAPPS", "65297750", "Creative Cloud All Apps", "65297750CA01A12",
             "659.88", "779.88", periodicity=YEARLY, quantities=(1, 2, 3, 5)),
    _product(ADOBE, "ADB-ACROBAT-PRO", "65324905", "Acrobat Pro", "65324905CA01A12", "179.88", "215.88",
             periodicity=YEARLY),
    _product(ADOBE, "ADB-PHOTOSHOP", "65297616", "Photoshop", "65297616CA01A12", "263.88", "311.88",
             periodicity=YEARLY, quantities=(1, 2, 3)),
    _product(GOOGLE, "GGL-WS-STARTER", "1010020027", "Google Workspace Business Starter",
             "1010020027", "5.20", "6.00", term=ONE_MONTH),
    _product(GOOGLE, "GGL-WS-STANDARD", "1010020028", "Google Workspace Business Standard",
             "1010020028", "10.40", "12.00"),
    _product(ACRONIS, "ACR-CPC-WORKLOAD", "C0A1B2D3", "Acronis Cyber Protect Cloud - Per Workload",
             "SP1AHBLOS", "4.20", "5.50", term=ONE_MONTH),
    _product(BITDEFENDER, "BD-GZ-BUSINESS", "E5F60718", "GravityZone Business Security", "GZBSB1",
             "1.90", "2.60", quantities=(10, 25, 50, 100)),
)  # fmt: skip
PRODUCTS_BY_SKU = {p.sku: p for p in CATALOGUE}
PRODUCTS_BY_PRICE_BAND = {p.price_band_sku: p for p in CATALOGUE}


def products_of(program: Program) -> tuple[CatalogueProduct, ...]:
    return tuple(p for p in CATALOGUE if p.program is program)


_CUSTOMER_NAMES = (
    ("Contoso Ltd", "GBP"), ("Fabrikam SAS", "EUR"), ("Northwind Traders", "USD"),
    ("Tailspin Toys", "USD"), ("Wide World Importers", "EUR"), ("Adatum Corporation", "EUR"),
    ("Litware Inc", "USD"), ("Proseware GmbH", "EUR"), ("Fourth Coffee", "GBP"),
    ("Alpine Ski House", "EUR"), ("Coho Winery", "AUD"), ("Blue Yonder Airlines", "USD"),
    ("Margie's Travel", "GBP"), ("Trey Research", "EUR"), ("Woodgrove Bank", "GBP"),
    ("Lamna Healthcare", "EUR"), ("Relecloud", "USD"), ("Graphic Design Institute", "AUD"),
    ("Humongous Insurance", "EUR"), ("VanArsdel Ltd", "GBP"), ("Wingtip Toys", "AUD"),
    ("Bellows College", "EUR"), ("Consolidated Messenger", "USD"), ("School of Fine Art", "EUR"),
)  # fmt: skip
CUSTOMERS = tuple(
    Customer(
        reference=f"XSP{17727 + 311 * index}",
        name=name,
        currency=currency,
        domain="".join(ch for ch in name.split()[0].lower() if ch.isalnum()),
    )
    for index, (name, currency) in enumerate(_CUSTOMER_NAMES)
)
CUSTOMERS_BY_REFERENCE = {c.reference: c for c in CUSTOMERS}

ORGANIZATION_UNITS = ("XSPOU20", "XSPOU28", "XSPOU31", "XSPOU44", "XSPOU57", "XSPOU63")

PARTNER_COMPANY = "Reseller Pty"
PARTNER_CONTACTS = (
    Contact("ops@reseller.example", "Ada", "Ng"),
    Contact("sales@reseller.example", "Marco", "Rossi"),
    Contact("j.dubois@reseller.example", "Julie", "Dubois"),
    Contact("k.tanaka@reseller.example", "Kenji", "Tanaka"),
)
API_USER = "api"
IMPERSONATORS = ("support@arrow.example", "l.martin@arrow.example")
CUSTOM_FIELD_LABELS = ("Cost centre", "Project code", "Requested by")
