"""The table of simulated upstreams: how to build each and where it serves (a literal dict)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.applications import Starlette

from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim


@dataclass(frozen=True, slots=True)
class SimulatorKind:
    build: Callable[..., Starlette]  # (orders=, seed=, token=, latency_ms=, [dialect=]) → app
    base_path: str  # the real API's base path, as in the instance's base_url
    credential: str  # how a client presents the token, with {token} in it


SIMULATORS = {
    "waldur": SimulatorKind(create_waldur_sim, "/api/", "Authorization: Token {token}"),
    "ivcap": SimulatorKind(create_ivcap_sim, "/1/", "Authorization: Bearer {token}"),
    "arrow": SimulatorKind(create_arrow_sim, "/index.php/api/", "apiKey: {token}"),
}
