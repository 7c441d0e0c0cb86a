"""The problem catalogue: every problem type of the error tree, with its statuses and an example."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import PROBLEM_BASE, GatewayError, UpstreamError, all_error_classes

# The statuses a class answers besides its own ``status`` (its ``status_code`` varies).
OTHER_STATUSES: dict[str, tuple[int, ...]] = {"all-upstreams-failed": (504,)}

# Answered for any path, not by one operation: by the router (an unknown path, a wrong
# method), the request limits (gateway/middleware/limits.py) or the server (gateway/server.py).
ROUTER_PROBLEMS = (
    "bad-request",
    "not-found",
    "method-not-allowed",
    "request-timeout",
    "uri-too-long",
    "headers-too-large",
)

# Where the class docstring describes the class rather than the answer.
DESCRIPTIONS = {"internal": "The gateway failed unexpectedly (a bug); its logs have the details."}

EXAMPLE_INSTANCE = "5f0c3a6e9d2b4c1a8e7f6d5c4b3a2910"  # a request id, as minted
EXAMPLE_EXTENSIONS: dict[str, dict[str, Any]] = {
    "invalid-query": {
        "errors": [{"loc": ["query", "limit"], "msg": "'limit' must be an integer from 1 to 200."}]
    },
    "invalid-header": {"header": "Request-Timeout"},
    "validation-failed": {"errors": [{"loc": ["body", "provider"], "msg": "Field required"}]},
    "upstream-bad-response": {"provider": "waldur-eu", "upstream_status": 503},
}


@dataclass(frozen=True, slots=True)
class ProblemType:
    """One problem ``type``: the first class of the tree that declares it."""

    slug: str
    statuses: tuple[int, ...]
    title: str
    description: str
    error: type[GatewayError]

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug

    def example(self) -> dict[str, Any]:
        """An answer of this type, as ``problems.problem_body`` renders it."""
        body: dict[str, Any] = {
            "type": self.uri,
            "title": self.title,
            "status": self.statuses[0],
            "detail": self.description,
            "instance": EXAMPLE_INSTANCE,
        }
        if issubclass(self.error, UpstreamError) and self.slug != "all-upstreams-failed":
            body["provider"] = "waldur-eu"
        body.update(EXAMPLE_EXTENSIONS.get(self.slug, {}))
        return body


def problem_types() -> dict[str, ProblemType]:
    """Every problem type by slug, in order of status."""
    found: dict[str, ProblemType] = {}
    for cls in all_error_classes():
        if cls.type not in found:
            doc = DESCRIPTIONS.get(cls.type) or (cls.__doc__ or cls.title).strip().splitlines()[0]
            statuses = (cls.status, *OTHER_STATUSES.get(cls.type, ()))
            found[cls.type] = ProblemType(cls.type, statuses, cls.title, doc, cls)
    return dict(sorted(found.items(), key=lambda item: (item[1].statuses[0], item[0])))


def catalogue_markdown(types: dict[str, ProblemType]) -> str:
    """The catalogue as a Markdown table, for the Problem schema's description."""
    rows = [
        f"| `{p.slug}` | {' / '.join(map(str, p.statuses))} | {p.title} | {p.description} |"
        for p in types.values()
    ]
    return "\n".join(["| type | status | title | when |", "| --- | --- | --- | --- |", *rows])
