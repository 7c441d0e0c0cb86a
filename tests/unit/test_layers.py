"""Imports point down the layers (STYLE.md §1): parsed from every module's source."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "gateway"

# Rank of each module (or package prefix): a module may import only lower ranks, or modules
# of its own package. The simulators stand apart: they import only each other.
RANKS = {
    "gateway.errors": 0,
    "gateway.memo": 0,  # a per-object memo (cachetools only)
    "gateway.deadline": 0,
    "gateway.models": 1,
    "gateway.settings": 1,
    "gateway.principal": 1,
    "gateway.query": 2,
    "gateway.cursor": 2,
    "gateway.merge": 3,
    # Orchestration, but below adapters.base: send_upstream makes a client span per request.
    "gateway.metrics": 2,
    "gateway.telemetry": 3,
    # Below adapters.base, which builds send_upstream on it.
    "gateway.adapters.retry": 3,
    "gateway.adapters.base": 4,
    "gateway.adapters.waldur": 5,
    "gateway.adapters.arrow": 5,
    "gateway.adapters.ivcap": 5,
    "gateway.adapters.registry": 6,
    "gateway.fanout": 7,
    "gateway.walk": 7,
    "gateway.idempotency": 7,
    "gateway.ratelimit": 7,
    "gateway.cache": 7,
    "gateway.redis_client": 4,
    "gateway.cache_redis": 8,
    "gateway.stack": 8,
    "gateway.service": 8,
    "gateway.pages": 7.5,  # on the read cache, under the service that reuses its pages
    "gateway.middleware": 9,
    "gateway.auth": 9,
    "gateway.problems": 10,
    "gateway.logs": 10,
    # The OpenAPI document: built from the models, the error tree and the query parser.
    "gateway.openapi": 10,
    "gateway.routes": 11,
    "gateway.app": 12,
    # How `gateway serve` runs uvicorn: a protocol bounding request heads (renders problems).
    "gateway.server": 12,
    # A client of a running gateway over HTTP: it imports only itself (tests/unit/test_cli_orders.py).
    "gateway.cli": 12,
    "gateway.__main__": 13,
}
PURE_CORE = (
    "gateway.errors",
    "gateway.deadline",
    "gateway.models",
    "gateway.query",
    "gateway.cursor",
    "gateway.merge",
)
FRAMEWORKS = (
    "starlette",
    "httpx",
    "uvicorn",
    "aiohttp",
    "httpx_aiohttp",
    "redis",
    "cachetools",
    "opentelemetry",
    "prometheus_client",
    "structlog",
)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit_of(module: str) -> str | None:
    """The ranked unit a module belongs to (the longest matching prefix)."""
    best = None
    for unit in RANKS:
        if (module == unit or module.startswith(unit + ".")) and (best is None or len(unit) > len(best)):
            best = unit
    return best


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_rank_or_is_a_simulator() -> None:
    unranked = [
        module_name(p)
        for p in MODULES
        if unit_of(module_name(p)) is None
        and not module_name(p).startswith(("gateway.sim",))
        and module_name(p) not in ("gateway", "gateway.adapters")
    ]
    assert unranked == []


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_down_the_layers(path: Path) -> None:
    module = module_name(path)
    unit = unit_of(module)
    for imported in imports_of(path):
        if not imported.startswith("gateway"):
            continue
        if module.startswith("gateway.sim"):
            assert imported.startswith("gateway.sim"), f"{module} imports {imported}"
            continue
        if imported.startswith("gateway.sim"):
            assert module == "gateway.__main__", f"{module} imports a simulator"
            continue
        target = unit_of(imported)
        assert target is not None, f"{module} imports unknown {imported}"
        if unit is None or target == unit:
            continue  # the package root, or a module of the same package
        assert RANKS[target] < RANKS[unit], f"{module} imports {imported}: that points up or sideways"


@pytest.mark.parametrize("path", [p for p in MODULES if module_name(p).startswith(PURE_CORE)], ids=str)
def test_pure_core_imports_no_framework(path: Path) -> None:
    for imported in imports_of(path):
        assert imported.split(".")[0] not in FRAMEWORKS, f"{module_name(path)} imports {imported}"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if module_name(p) in ("gateway.service", "gateway.fanout")], ids=str
)
def test_orchestration_imports_neither_starlette_nor_httpx(path: Path) -> None:
    for imported in imports_of(path):
        assert imported.split(".")[0] not in ("starlette", "httpx"), imported


@pytest.mark.parametrize(
    "path", [p for p in MODULES if module_name(p).startswith("gateway.adapters")], ids=str
)
def test_adapters_import_no_starlette(path: Path) -> None:
    for imported in imports_of(path):
        assert imported.split(".")[0] != "starlette", imported


def test_a_module_importing_upwards_is_caught() -> None:
    # The checker itself must be able to fail: models importing service would point up.
    assert RANKS[unit_of("gateway.service")] > RANKS[unit_of("gateway.models")]  # type: ignore[index]
    assert unit_of("gateway.adapters.waldur.wire") == "gateway.adapters.waldur"
