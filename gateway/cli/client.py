"""The HTTP side of ``gateway orders``: the key from the environment, problems as one-line errors."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

URL_ENV = "GATEWAY_URL"
KEY_ENV = "GATEWAY_API_KEY"
DEFAULT_URL = "http://127.0.0.1:8080"
RETRIED_STATUSES = frozenset({429, 502, 503, 504})  # the gateway's "try again" answers
RETRY_AFTER_CAP_S = 30.0

Params = Sequence[tuple[str, str]]


class CliError(Exception):
    """A failure reported as one line on stderr; ``exit_code`` 1, or 2 for usage and config."""

    exit_code = 1


class UsageError(CliError):
    exit_code = 2


class GatewayUnreachableError(CliError):
    pass


class GatewayProblemError(CliError):
    """The gateway answered with an error (an ``application/problem+json`` body, usually)."""

    def __init__(self, status: int, problem: Mapping[str, Any]) -> None:
        self.status = status
        self.problem = dict(problem)
        super().__init__(self.describe())

    @property
    def slug(self) -> str:
        """The problem type's last segment (``invalid-cursor``), or ``http-<status>``."""
        kind = self.problem.get("type")
        return (
            kind.rstrip("/").rsplit("/", 1)[-1] if isinstance(kind, str) and kind else f"http-{self.status}"
        )

    def describe(self) -> str:
        detail = self.problem.get("detail") or self.problem.get("title") or "no details"
        text = f"{self.status} {self.slug}: {detail}"
        if self.problem.get("provider"):
            text += f" [provider {self.problem['provider']}]"
        if self.problem.get("instance"):
            text += f" (request {self.problem['instance']})"
        return text


def gateway_url(given: str | None, env: Mapping[str, str]) -> str:
    """``--url``, else ``$GATEWAY_URL``, else the local default; an http(s) URL without a query."""
    url = (given or env.get(URL_ENV) or DEFAULT_URL).rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise UsageError(f"the gateway URL must be http(s)://host[:port][/prefix], not {url!r}")
    return url


def api_key(env: Mapping[str, str]) -> str:
    """The key from ``$GATEWAY_API_KEY``: never a flag, which shell history and ``ps`` would show."""
    key = env.get(KEY_ENV, "").strip()
    if not key:
        raise UsageError(f"set {KEY_ENV} to your API key (it is never taken as a flag)")
    return key


class GatewayClient:
    """GETs against the gateway, retried on 429/502/503/504 and refused connections."""

    def __init__(
        self,
        url: str,
        key: str,
        *,
        timeout_s: float = 60.0,
        attempts: int = 3,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._http = httpx.Client(
            base_url=url,
            headers={"Authorization": f"Bearer {key}", "Accept": "application/json"},
            timeout=timeout_s,
            transport=transport,
            trust_env=False,
        )
        self._attempts = attempts
        self._sleep = sleep

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def list_orders(self, params: Params) -> dict[str, Any]:
        """One page of ``GET /orders``."""
        return self._get("/orders", params)

    def get_order(self, order_id: str) -> dict[str, Any]:
        """``GET /orders/{id}``; the id's ``:`` stay as they are, anything else is escaped."""
        return self._get("/orders/" + quote(order_id, safe=":"), ())

    def _get(self, path: str, params: Params) -> dict[str, Any]:
        for attempt in range(1, self._attempts + 1):
            last = attempt == self._attempts
            try:
                response = self._http.get(path, params=list(params))
            except httpx.TransportError as exc:
                # Connect failures never reached the gateway; a GET is safe to repeat anyway.
                if last:
                    raise GatewayUnreachableError(
                        f"cannot reach the gateway at {self._http.base_url}: {type(exc).__name__}"
                    ) from exc
                self._sleep(_backoff(attempt))
                continue
            if response.status_code in RETRIED_STATUSES and not last:
                self._sleep(_retry_after(response) or _backoff(attempt))
                continue
            if response.status_code != 200:
                raise GatewayProblemError(response.status_code, _problem(response))
            try:
                body = response.json()
            except ValueError as exc:
                raise CliError(f"the gateway answered {path} with invalid JSON") from exc
            if not isinstance(body, dict):
                raise CliError(f"the gateway answered {path} with unexpected JSON")
            return body
        raise AssertionError("unreachable")  # pragma: no cover


def _backoff(attempt: int) -> float:
    return float(min(0.5 * 2 ** (attempt - 1), 8.0))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    return min(float(value), RETRY_AFTER_CAP_S) if value.isdigit() else None


def _problem(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        return body
    return {"title": response.reason_phrase or "error"}
