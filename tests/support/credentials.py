"""Every fake credential the tests and benchmarks use, made at random when this module is first
imported: once per process, never written in the repo ("secrets come from the environment, never
from files in the repo").

A test that starts child processes (gateway replicas, the soak, ``gateway sim``) hands them these
values the way production does: the config it writes names ``${VAR}`` and the child's environment
carries the value (``CHILD_ENV``), or a command-line argument carries it (``--token``).

Tokens and secrets are hex (``secrets.token_hex``): they never start with ``-`` (safe as a
command-line argument) and need no quoting in a header, a URL or YAML. API keys are made the way
``gateway keys new`` makes real ones (``gateway.auth.new_key``).
"""

from __future__ import annotations

import base64
import hashlib
import secrets

from gateway.auth import new_key


def fresh_token() -> str:
    """A random upstream token (or any other opaque secret), hex."""
    return secrets.token_hex(24)


def fresh_key() -> str:
    """A random gateway API key, shaped like a real one (``ogw_…``)."""
    return new_key()[0]


def digest(key: str) -> str:
    """The sha256 hex digest a config holds for ``key``."""
    return hashlib.sha256(key.encode()).hexdigest()


# --- upstream credentials: what a simulator requires and the gateway's instance config sends --
SIM_TOKEN = fresh_token()  # the one token (or Arrow apiKey) every simulator of a test requires
SIM_TOKENS = {kind: fresh_token() for kind in ("waldur", "ivcap", "arrow")}  # told apart by kind
CONTROL_TOKEN = fresh_token()  # a second, healthy upstream next to the one under test
WRONG_TOKEN = fresh_token()  # well formed, given to no simulator: a 401 upstream
# user:password for an ``Authorization: Basic`` header (a scheme the gateway refuses)
BASIC_CREDENTIALS = base64.b64encode(f"user:{fresh_token()}".encode()).decode()

# --- the gateway's own secrets -----------------------------------------------------------------
CURSOR_SECRET = secrets.token_hex(32)  # signs list cursors (cursor.secret)
OTHER_CURSOR_SECRET = secrets.token_hex(32)  # a rotated-out / different cursor secret
REDIS_PASSWORD = fresh_token()  # in a Redis URL whose password must never be logged

# --- gateway API keys, by the name the config gives each ---------------------------------------
API_KEYS: dict[str, str] = {
    name: fresh_key()
    for name in (
        # tests/support/stack.py's table
        "reader",
        "writer",
        "ops",
        "eu-only",
        "editor",
        # one-off keys of single tests
        "eu-admin",
        "soak",
        "replica",
        "limited",
        # the benchmarks (bench/fleet.py)
        "bench-read",
        "bench-write",
    )
}
UNKNOWN_KEY = fresh_key()  # well formed, in no config: a 401 from the gateway

# The environment a gateway replica (tests/support/replicas.py) needs for a config that names
# ``${OG_SIM_TOKEN}`` and ``${OG_CURSOR_SECRET}``.
CHILD_ENV = {
    "OG_SIM_TOKEN": SIM_TOKEN,
    "OG_CURSOR_SECRET": CURSOR_SECRET,
}
