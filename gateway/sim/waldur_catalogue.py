"""The simulated Waldur's catalogue: organisations, projects, users, offerings and plans.

Fixed names from the tables below, uuids and the project/plan picks from the caller's
seeded ``random.Random``.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Organisation:
    uuid: str
    name: str
    slug: str
    description: str


@dataclass(frozen=True, slots=True)
class Project:
    uuid: str
    name: str
    slug: str
    description: str
    customer: Organisation


@dataclass(frozen=True, slots=True)
class User:
    uuid: str
    username: str
    full_name: str
    email: str
    organisation: Organisation


@dataclass(frozen=True, slots=True)
class Category:
    uuid: str
    title: str


@dataclass(frozen=True, slots=True)
class Component:
    type: str
    amounts: tuple[int, ...]
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class Plan:
    uuid: str
    name: str
    unit: str
    description: str
    price_factor: Decimal
    fixed_price: float
    activation_price: float


@dataclass(frozen=True, slots=True)
class Offering:
    uuid: str
    name: str
    slug: str
    type: str
    description: str
    shared: bool
    billable: bool
    provider: Organisation
    category: Category
    plans: tuple[Plan, ...]
    components: tuple[Component, ...]
    needs_provider_review: bool
    resource_prefix: str


@dataclass(frozen=True, slots=True)
class WaldurCatalogue:
    customers: tuple[Organisation, ...]
    projects: tuple[Project, ...]
    providers: tuple[Organisation, ...]
    categories: tuple[Category, ...]
    offerings: tuple[Offering, ...]
    users: tuple[User, ...]

    def users_of(self, organisation: Organisation) -> tuple[User, ...]:
        return tuple(user for user in self.users if user.organisation.uuid == organisation.uuid)


CUSTOMERS = (
    ("University of Tartu", ("Genomics Pipeline", "Language Corpora", "Particle Physics")),
    ("Baltic Climate Lab", ("Climate Models", "Sea Ice Forecast", "Coastal Erosion")),
    ("City Hospital Research", ("Imaging AI", "Clinical Trials Data", "Pathogen Watch")),
    ("Northern Robotics OÜ", ("Swarm Simulation", "Vision Training", "Digital Twin")),
)
PROVIDERS = (
    ("HPC Centre North", "Supercomputing for research."),
    ("Cloud Provider Ltd", "Virtual machines and storage."),
    ("Data Services Co", "Consulting and data curation."),
)
CATEGORIES = ("HPC", "Virtual machines", "Storage", "Consulting")
# name, type, provider index, category index, provider review, resource prefix, components
OFFERINGS: tuple[tuple[str, str, int, int, bool, str, tuple[Component, ...]], ...] = (
    (
        "Vega Slurm cluster",
        "Marketplace.Slurm",
        0,
        0,
        False,
        "alloc",
        (
            Component("cpu_k_hours", (10, 50, 100, 500), Decimal("1.20")),
            Component("gpu_hours", (0, 100, 500), Decimal("0.85")),
            Component("storage_gb", (100, 1000, 5000), Decimal("0.02")),
        ),
    ),
    (
        "GPU partition",
        "Marketplace.Slurm",
        0,
        0,
        True,
        "gpu",
        (Component("gpu_hours", (50, 200, 1000), Decimal("1.10")),),
    ),
    (
        "Small VM",
        "Marketplace.Basic",
        1,
        1,
        True,
        "vm",
        (
            Component("cpu", (1, 2, 4, 8), Decimal("6.50")),
            Component("ram", (2048, 4096, 8192), Decimal("0.0015")),
            Component("disk", (20, 50, 100), Decimal("0.04")),
        ),
    ),
    (
        "Object storage",
        "Marketplace.Basic",
        1,
        2,
        False,
        "bucket",
        (Component("storage_gb", (100, 500, 2000), Decimal("0.018")),),
    ),
    (
        "Consulting hours",
        "Support.OfferingTemplate",
        2,
        3,
        True,
        "ticket",
        (Component("hours", (2, 5, 10, 20), Decimal("95.00")),),
    ),
    ("Data curation request", "Support.OfferingTemplate", 2, 3, True, "curation", ()),
)
PLANS = (
    ("Standard", "month", Decimal("1.00"), 0.0, 0.0),
    ("Academic", "month", Decimal("0.60"), 0.0, 25.0),
    ("Pay as you go", "hour", Decimal("1.25"), 0.0, 0.0),
    ("Quarterly commitment", "quarter", Decimal("0.90"), 150.0, 0.0),
    ("One-off", "quantity", Decimal("1.00"), 400.0, 0.0),
)
FIRST_NAMES = ("Alice", "Bob", "Carmen", "Dmitri", "Eva", "Farid", "Greta", "Hiro", "Ines")
LAST_NAMES = ("Tamm", "Ots", "Kask", "Rebane", "Mets", "Lepp", "Saar", "Koppel", "Ilves")


def new_uuid(rng: random.Random) -> str:
    return uuid.UUID(int=rng.getrandbits(128), version=4).hex


def _slugify(name: str) -> str:
    return "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())


def generate_catalogue(rng: random.Random) -> WaldurCatalogue:
    customers: list[Organisation] = []
    projects: list[Project] = []
    for name, project_names in CUSTOMERS:
        customer = Organisation(new_uuid(rng), name, _slugify(name), f"{name}, a consumer.")
        customers.append(customer)
        for project_name in project_names[: rng.randint(1, 3)]:
            projects.append(
                Project(
                    new_uuid(rng),
                    project_name,
                    _slugify(project_name),
                    f"{project_name} project of {name}.",
                    customer,
                )
            )
    providers = [Organisation(new_uuid(rng), n, _slugify(n), d) for n, d in PROVIDERS]
    categories = [Category(new_uuid(rng), title) for title in CATEGORIES]
    offerings = []
    for name, kind, provider, category, review, prefix, components in OFFERINGS:
        plan_specs = rng.sample(PLANS, rng.randint(1, 3))
        plans = tuple(
            Plan(new_uuid(rng), p_name, unit, f"{p_name} plan of {name}.", factor, fixed, act)
            for p_name, unit, factor, fixed, act in plan_specs
        )
        offerings.append(
            Offering(
                new_uuid(rng),
                name,
                _slugify(name),
                kind,
                f"{name} by {PROVIDERS[provider][0]}.",
                True,
                kind != "Support.OfferingTemplate" or rng.random() < 0.5,
                providers[provider],
                categories[category],
                plans,
                components,
                review,
                prefix,
            )
        )
    users = []
    for organisation in (*customers, *providers):
        for _ in range(2):
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            username = f"{first}.{last}{rng.randint(1, 99)}".lower()
            users.append(
                User(
                    new_uuid(rng),
                    username,
                    f"{first} {last}",
                    f"{username}@{organisation.slug}.example",
                    organisation,
                )
            )
    return WaldurCatalogue(
        tuple(customers),
        tuple(projects),
        tuple(providers),
        tuple(categories),
        tuple(offerings),
        tuple(users),
    )
