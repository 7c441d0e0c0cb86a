"""Where a gateway's time goes under load: py-spy samples of the live process, summarised.

``py-spy record --format raw`` gives collapsed stacks (``frame;frame;... count``), sampled
without pausing the process. The summary groups the leaf frames (self time) by the package
that owns them, and lists the gateway's own functions by inclusive time.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from bench.wrk import Load, run_wrk

SAMPLE_RATE = 200  # per second
# Leaf frames by the file they are in: first match wins.
AREAS = (
    ("gateway/middleware/", "gateway middleware"),
    ("gateway/routes/", "gateway routes and rendering"),
    ("gateway/adapters/", "gateway adapters (upstream parsing)"),
    ("gateway/models.py", "gateway models (timestamp and money serialisers)"),
    ("gateway/", "gateway core (service, walk, merge, cache, stack)"),
    ("pydantic", "pydantic (validation, serialisation)"),
    ("opentelemetry", "opentelemetry"),
    ("prometheus_client", "prometheus_client"),
    ("structlog", "logging"),
    ("logging/", "logging"),
    ("starlette", "starlette"),
    ("uvicorn", "uvicorn"),
    ("httpx_aiohttp", "httpx / aiohttp client"),
    ("aiohttp", "httpx / aiohttp client"),
    ("httpx", "httpx / aiohttp client"),
    ("httpcore", "httpx / aiohttp client"),
    ("h11", "httpx / aiohttp client"),
    ("redis", "redis client"),
    ("asyncio", "asyncio"),
    ("json", "json"),
    ("hashlib", "hashlib / hmac"),
    ("hmac", "hashlib / hmac"),
)


@dataclass(frozen=True)
class Profile:
    samples: int
    areas: list[tuple[str, float]]  # (area, share of samples as leaf)
    leaves: list[tuple[str, float]]  # (function, share of samples as leaf: self time)
    owners: list[tuple[str, float]]  # (innermost gateway function, share of samples under it)

    def summary(self, top: int = 8) -> str:
        if not self.samples:
            return "no samples"
        areas = ", ".join(f"{name} {share:.0%}" for name, share in self.areas[:top])
        leaves = ", ".join(f"{name} {share:.0%}" for name, share in self.leaves[:top])
        owners = ", ".join(f"{name} {share:.0%}" for name, share in self.owners[:top])
        return (
            f"{self.samples} samples (CPU only). Self time by area: {areas}. "
            f"Hottest functions (self): {leaves}. "
            f"By the innermost gateway function on the stack (its own time and the library code "
            f"it calls): {owners}."
        )


def py_spy_binary() -> str | None:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return found if Path(found).exists() else None


def profile_under_load(pid: int, load: Load, seconds: float, workdir: Path) -> Profile | None:
    """Sample ``pid`` with py-spy while wrk drives ``load``; None when py-spy is missing."""
    binary = py_spy_binary()
    if binary is None:
        return None
    out = workdir / f"py-spy-{pid}.txt"
    command = [binary, "record", "--pid", str(pid), "--rate", str(SAMPLE_RATE), "--duration", f"{seconds:g}"]
    command += ["--format", "raw", "--nonblocking", "--output", str(out)]
    sampler = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    drive = threading.Thread(target=run_wrk, args=(load, seconds, workdir))
    drive.start()
    drive.join()
    _, errors = sampler.communicate(timeout=seconds + 60)
    if sampler.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed: {errors.decode(errors='replace')[-500:]}")
    return summarise(out.read_text())


def summarise(collapsed: str) -> Profile:
    areas: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    owners: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        areas[_area(frames[-1])] += count
        leaves[_function(frames[-1])] += count
        ours = [frame for frame in frames if "gateway/" in frame and "gateway/__main__" not in frame]
        owners[_function(ours[-1]) if ours else "(outside the gateway: server, event loop)"] += count

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, n / total) for name, n in counter.most_common()] if total else []

    return Profile(samples=total, areas=shares(areas), leaves=shares(leaves), owners=shares(owners))


def _area(frame: str) -> str:
    for needle, area in AREAS:
        if needle in frame:
            return area
    return "other (interpreter, C extensions)"


def _function(frame: str) -> str:
    """``render_page (gateway/routes/orders.py:85)`` → ``routes/orders.py:render_page``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0].removeprefix("gateway/")
    return f"{path}:{name}" if path else name
