"""Schemathesis against a running gateway's own ``/openapi.json``, over loopback, with a key that
holds every scope: every operation, positive and negative data, the stateful phase; no 5xx,
every error a problem of its status, every answer as documented.

The gateway (uvicorn) stands in front of the three simulators (in-process, on loopback);
schemathesis runs as its CLI would (``schemathesis run``, a subprocess), with our own check
(tests/support/fuzz_checks.py) beside its own. Writes mutate the simulators: that is fine.

CI runs a bounded number of examples per operation and phase (``FUZZ_EXAMPLES``, default 8) with a
fixed seed. The release run (docs/decisions.md, "Locks, audit, fuzzing and soak"; the figures
are printed, ``-s`` shows them):

    FUZZ_EXAMPLES=300 FUZZ_SEED=$RANDOM .venv/bin/pytest -q -s tests/e2e/test_fuzz_openapi.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.sim.arrow import create_arrow_sim
from gateway.sim.ivcap import create_ivcap_sim
from gateway.sim.waldur import create_waldur_sim
from tests.support.servers import running_server
from tests.support.stack import KEYS, SIM_TOKEN, auth, gateway_settings

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
SEED = os.environ.get("FUZZ_SEED", "20260601")  # fixed in CI: a failure is reproducible
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "negative_data_rejection",  # what the document calls invalid is refused
    "errors_are_problems_of_their_status",  # ours: tests/support/fuzz_checks.py
]
# More of schemathesis's checks for an exploratory run, e.g. FUZZ_EXTRA_CHECKS=response_headers_conformance
CHECKS += [name for name in os.environ.get("FUZZ_EXTRA_CHECKS", "").split(",") if name]
TIMEOUT_S = 120 + 10 * EXAMPLES  # only against a hang: the CI run takes well under a minute


@pytest.fixture(scope="module")
def gateway() -> Iterator[str]:
    with (
        running_server(create_waldur_sim(orders=60, seed=71, token=SIM_TOKEN)) as waldur,
        running_server(create_ivcap_sim(orders=60, seed=72, token=SIM_TOKEN)) as ivcap,
        running_server(create_arrow_sim(orders=60, seed=73, token=SIM_TOKEN)) as arrow,
    ):
        providers = {
            "waldur": {"kind": "waldur", "base_url": f"{waldur}/api/", "token": SIM_TOKEN},
            "ivcap": {"kind": "ivcap", "base_url": f"{ivcap}/1/", "token": SIM_TOKEN},
            "arrow": {"kind": "arrow", "base_url": f"{arrow}/index.php/api/", "api_key": SIM_TOKEN},
        }
        # A rate limit the fuzzer cannot reach: a 429 would hide what it was sent to find.
        settings = gateway_settings(providers, rate_limit={"requests": 1_000_000, "window_s": 1})
        with running_server(create_app(settings)) as url:
            yield url


def existing_orders(gateway: str) -> list[str]:
    """Some orders of each instance, for tests/support/fuzz_checks.py to mix into generated ids."""
    ids: list[str] = []
    with httpx.Client(base_url=gateway, headers=auth("ops"), timeout=30) as client:
        for provider in ("waldur", "ivcap", "arrow"):
            page = client.get("/orders", params={"provider": provider, "limit": 6})
            assert page.status_code == 200, page.text
            ids += [order["id"] for order in page.json()["data"]]
    return ids


def test_every_operation_survives_schemathesis_as_documented(gateway: str, tmp_path: Path) -> None:
    log = tmp_path / "checked.jsonl"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{gateway}/openapi.json",
        "--phases=examples,coverage,fuzzing,stateful",
        "--mode=all",  # positive and negative data
        f"--max-examples={EXAMPLES}",
        f"--seed={SEED}",
        f"--checks={','.join(CHECKS)}",
        "--header",
        f"Authorization: Bearer {KEYS['ops'][0]}",
        # One worker: with two threads, Hypothesis's ast.parse of lambdas trips a CPython 3.11.7
        # race ("SystemError: AST constructor recursion depth mismatch") now and then.
        "--workers=1",
        "--continue-on-failure",
        "--generation-database=none",
        "--request-timeout=20",
        "--no-color",
        "--report=junit",
        f"--report-dir={tmp_path}",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SCHEMATHESIS_HOOKS": "tests.support.fuzz_checks",
        "FUZZ_ORDER_IDS": json.dumps(existing_orders(gateway)),
        "FUZZ_LOG": str(log),
    }
    started = time.monotonic()
    # In tmp_path: schemathesis keeps a cache (.schemathesis/) in its working directory.
    result = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=TIMEOUT_S, check=False
    )
    output = result.stdout + result.stderr
    logged = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    answers = [line for line in logged if "problem" not in line and "accepted" not in line]
    accepted = Counter(line["accepted"] for line in logged if "accepted" in line)
    problems = Counter(line["problem"].rsplit("/", 1)[-1] for line in logged if "problem" in line)
    statuses = Counter(answer["status"] for answer in answers)
    print(output[-3000:])
    print(
        f"fuzz: {len(answers)} answers in {time.monotonic() - started:.0f} s ({EXAMPLES} examples per "
        f"operation and phase, seed {SEED}); by status {dict(sorted(statuses.items()))}; "
        f"problems checked {dict(problems.most_common())}; 5xx for a caller's own tiny Request-Timeout "
        f"{accepted['caller-deadline']}"
    )
    assert result.returncode == 0, output[-30000:]
    # Every operation of the document was called (the document itself excepted: schemathesis
    # reads it rather than tests it); errors were exercised, not only successes, and our check
    # passed them.
    document = httpx.get(f"{gateway}/openapi.json").json()
    operations = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    assert operations - {"GET /openapi.json"} <= {answer["operation"] for answer in answers}
    assert {status for status in statuses if status >= 500} <= {503, 504}  # each a caller's deadline
    assert {200, 400, 404, 422} <= statuses.keys()
    assert problems.total() > 0
