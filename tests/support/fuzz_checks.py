"""Schemathesis hooks for tests/e2e/test_fuzz_openapi.py, loaded by its CLI through
``SCHEMATHESIS_HOOKS``: our own check beside schemathesis's (every error answer is a problem,
RFC 9457, of its own status), real order ids mixed into the generated ones, and a log of the
answers.

Environment: ``FUZZ_ORDER_IDS`` a JSON list of existing order ids (else ids are only generated);
``FUZZ_LOG`` a file to append one JSON line to per answer, and one per problem our check passed
(else nothing is logged).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from typing import Any

import schemathesis
import schemathesis.core.failures
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

PROBLEM = "application/problem+json"
# A 504 answering a caller's own Request-Timeout shorter than this is not held against the gateway.
CALLER_DEADLINE_S = 1.0
ZERO = re.compile(r"[0.]*")
# Errors documented with another body than a problem: /readyz's 503 is its readiness report.
NOT_PROBLEMS = {("GET /readyz", 503)}
# The 5xx a caller's own short Request-Timeout may bring besides a 504: /readyz's 503 (its probes
# of the upstreams run under the caller's deadline too).
CALLER_DEADLINE_ANSWERS = {("GET /readyz", 503)}
ORDER_IDS: list[str] = json.loads(os.environ.get("FUZZ_ORDER_IDS", "[]"))
LOG = os.environ.get("FUZZ_LOG")
_log_lock = threading.Lock()


@schemathesis.check
def errors_are_problems_of_their_status(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """A 4xx or 5xx is ``application/problem+json`` whose ``status`` is the answer's status and
    whose ``type`` and ``title`` are strings."""
    if response.status_code < 400 or (case.operation.label, response.status_code) in NOT_PROBLEMS:
        return None
    media = response.headers.get("content-type", [""])[0].split(";")[0].strip().lower()
    if media != PROBLEM:
        raise AssertionError(
            f"a {response.status_code} answered as {media or 'no media type'}, not {PROBLEM}"
        )
    try:
        body = json.loads(response.content)
    except ValueError as exc:
        raise AssertionError(f"a {response.status_code} problem body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise AssertionError(f"a {response.status_code} problem body is not an object")
    if body.get("status") != response.status_code:
        raise AssertionError(f"a {response.status_code} answered a problem of status {body.get('status')!r}")
    if not isinstance(body.get("type"), str) or not isinstance(body.get("title"), str):
        raise AssertionError(f"a {response.status_code} problem lacks a type or a title")
    record({"operation": case.operation.label, "status": response.status_code, "problem": body["type"]})
    return True


@schemathesis.hook
def flatmap_path_parameters(
    context: schemathesis.HookContext, path_parameters: dict[str, Any]
) -> SearchStrategy[dict[str, Any]]:
    """Half the time (as Hypothesis draws), an existing order instead of a generated id: the
    operations on one order then reach the upstream's real answers, not only 404."""
    if not ORDER_IDS or "order_id" not in (path_parameters or {}):
        return st.just(path_parameters)
    real = st.sampled_from(ORDER_IDS).map(lambda order_id: {**path_parameters, "order_id": order_id})
    return st.one_of(st.just(path_parameters), real)


@schemathesis.hook
def map_case(context: schemathesis.HookContext, case: schemathesis.Case) -> schemathesis.Case:
    """The document says a ``Request-Timeout`` of zero is invalid (``not`` beside its pattern),
    but schemathesis's coverage phase ignores ``not`` and puts ``0`` into most cases as a valid
    filler, so they never get past the header check to the part they vary. Such a zero is
    dropped (the header is optional), unless the case is about that header."""
    headers = case.headers or {}
    name = next((k for k in headers if k.lower() == "request-timeout"), None)
    if name is not None and ZERO.fullmatch(str(headers[name])) and not varies_request_timeout(case):
        case.headers = {k: v for k, v in headers.items() if k != name}
    return case


def varies_request_timeout(case: schemathesis.Case) -> bool:
    """Whether the case was generated to test ``Request-Timeout`` itself (or headers at large)."""
    if case.meta is None:
        return True
    parameter = getattr(case.meta.phase.data, "parameter", None)
    if isinstance(parameter, str):  # the coverage phase varies one parameter at a time
        return parameter.lower() == "request-timeout"
    return any(
        "header" in str(location).lower() and "negative" in str(info.mode).lower()
        for location, info in case.meta.components.items()
    )


@schemathesis.hook
def filter_failure(
    context: schemathesis.HookContext,
    failure: schemathesis.core.failures.Failure,
    case: schemathesis.Case,
    response: schemathesis.Response,
) -> bool:
    """Keep every failure but one: a 5xx the caller asked for. A generated ``Request-Timeout``
    of a few milliseconds ends the request before the upstream answers, and the gateway then
    answers 504 (a problem, documented), or /readyz 503: the header working, not a server error."""
    label = case.operation.label
    asked = response.status_code == 504 or (label, response.status_code) in CALLER_DEADLINE_ANSWERS
    if failure.code == "ST101" and asked and caller_deadline_s(case) < CALLER_DEADLINE_S:
        record({"operation": label, "status": response.status_code, "accepted": "caller-deadline"})
        return False
    return True


def caller_deadline_s(case: schemathesis.Case) -> float:
    """The ``Request-Timeout`` the case sent, in seconds (infinity when none or unreadable)."""
    value = next((v for k, v in (case.headers or {}).items() if k.lower() == "request-timeout"), None)
    try:
        return float(str(value).strip(" \t")) if value is not None else math.inf
    except ValueError:
        return math.inf


@schemathesis.hook
def after_call(
    context: schemathesis.HookContext, case: schemathesis.Case, response: schemathesis.Response
) -> None:
    record({"operation": case.operation.label, "status": response.status_code})


def record(line: dict[str, Any]) -> None:
    if LOG is not None:
        with _log_lock, open(LOG, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
