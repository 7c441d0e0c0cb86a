"""Load from wrk: one closed-loop run, its throughput and latency percentiles, and the CPU share.

Each run gets a Lua script whose ``done`` prints one JSON line (requests, errors, p50/p90/p99
in microseconds from wrk's own histogram), so nothing is scraped from wrk's human output. A
write run builds each request in Lua, with a fresh ``Idempotency-Key`` per request when asked.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bench.cpu import CpuMeter, CpuShare

DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '\\nWRK-JSON {"requests": %d, "duration_us": %d, "bytes": %d, "socket_errors": %d, ' ..
    '"status_errors": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect + e.read + e.write + e.timeout,
    e.status, latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""

REQUEST = """
local method, body = %(method)s, %(body)s
local headers = %(headers)s
local unique = %(unique)s
local count, run = 0, "r"
local started = 0
-- thread_no is a global of each thread's own Lua state, set by the main state's setup
function setup(thread)
  thread:set("thread_no", started)
  started = started + 1
end
function init(args)
  run = args[1] or "r"
end
function request()
  if unique then
    count = count + 1
    headers["Idempotency-Key"] = run .. "-" .. thread_no .. "-" .. count
  end
  return wrk.format(method, nil, headers, body)
end
"""


@dataclass(frozen=True)
class Load:
    """What one wrk run sends: a GET by default; a body and method for writes."""

    url: str
    connections: int
    headers: Mapping[str, str] = field(default_factory=dict)
    method: str = "GET"
    body: bytes | None = None
    unique_idempotency_key: bool = False  # a fresh Idempotency-Key per request


@dataclass(frozen=True)
class RunResult:
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    errors: int  # socket errors plus answers outside 2xx/3xx
    cpu: CpuShare


def wrk_binary() -> str:
    binary = shutil.which("wrk")
    if binary is None:
        raise RuntimeError("wrk is not installed: `make bench` installs it (apt-get install wrk)")
    return binary


def _lua_string(value: str | bytes | None) -> str:
    if value is None:
        return "nil"
    text = value.decode() if isinstance(value, bytes) else value
    return json.dumps(text)  # JSON string escapes are valid Lua for the ASCII we send


def builds_requests(load: Load) -> bool:
    """Whether Lua builds each request; otherwise wrk builds it once from the command line."""
    return load.method != "GET" or load.body is not None or load.unique_idempotency_key


def script_for(load: Load) -> str:
    if not builds_requests(load):
        return DONE
    headers = "{" + ", ".join(f"[{_lua_string(k)}] = {_lua_string(v)}" for k, v in load.headers.items()) + "}"
    return (
        REQUEST
        % {
            "method": _lua_string(load.method),
            "body": _lua_string(load.body),
            "headers": headers,
            "unique": "true" if load.unique_idempotency_key else "false",
        }
        + DONE
    )


def run_wrk(load: Load, seconds: float, workdir: Path) -> RunResult:
    """One run of ``seconds`` against ``load``; the CPU share is measured over the run."""
    script = workdir / f"wrk-{uuid.uuid4().hex[:8]}.lua"
    script.write_text(script_for(load))
    threads = max(1, min(load.connections, 2))
    duration = max(1, round(seconds))  # wrk takes whole seconds
    command = [wrk_binary(), "-t", str(threads), "-c", str(load.connections), "-d", f"{duration}s"]
    command += ["--timeout", "10s", "-s", str(script)]
    if not builds_requests(load):
        for name, value in load.headers.items():
            command += ["-H", f"{name}: {value}"]
    command += [load.url, "--", uuid.uuid4().hex[:12]]
    meter = CpuMeter()
    meter.start()
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    cpu = meter.stop()
    script.unlink()
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK-JSON ")), None)
    if done.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout[-500:]}")
    figures = json.loads(line.removeprefix("WRK-JSON "))
    return RunResult(
        rps=figures["requests"] / (figures["duration_us"] / 1e6),
        p50_ms=figures["p50_us"] / 1000,
        p90_ms=figures["p90_us"] / 1000,
        p99_ms=figures["p99_us"] / 1000,
        requests=figures["requests"],
        errors=figures["socket_errors"] + figures["status_errors"],
        cpu=cpu,
    )
