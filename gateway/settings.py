"""The gateway's configuration: YAML with ${ENV} substitution, validated once into frozen models."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

CONFIG_ENV_VAR = "GATEWAY_CONFIG"
SCOPES = ("orders:read", "orders:write", "orders:admin")
INSTANCE_NAME = r"^[a-z][a-z0-9_-]{0,39}$"
_ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """The configuration cannot be used; the message names the offending key and never a secret."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReadCacheSettings(_Strict):
    """How long one instance's reads are served from the read cache."""

    ttl_s: float = Field(default=5.0, ge=0, le=3600)  # 0: this instance's reads are not cached
    # After an upstream failure, an answer up to this old (past its ttl) is served, marked stale.
    stale_if_error_s: float = Field(default=300.0, ge=0, le=86_400)


class BreakerSettings(_Strict):
    """The instance's circuit breaker: opens when ``failure_rate`` of at least ``min_calls``
    calls in the last ``window_s`` failed; stays open ``open_s``, then lets one probe through."""

    failure_rate: float = Field(default=0.5, gt=0, le=1)
    window_s: float = Field(default=30.0, gt=0, le=3600)
    min_calls: int = Field(default=10, ge=1, le=10_000)
    open_s: float = Field(default=15.0, gt=0, le=3600)


class RetrySettings(_Strict):
    """Retries of safe upstream calls (reads) and of keyed writes; never past the deadline."""

    attempts: int = Field(default=3, ge=1, le=10)  # 1: no retry
    base_delay_s: float = Field(default=0.05, ge=0, le=10)  # exponential backoff, full jitter
    max_delay_s: float = Field(default=1.0, ge=0, le=60)
    retry_after_cap_s: float = Field(default=5.0, ge=0, le=300)  # an upstream's Retry-After, capped


class _ProviderBase(_Strict):
    base_url: AnyHttpUrl
    # The provider's address as callers may see it, for ``links.upstream``; None hides it.
    public_url: AnyHttpUrl | None = None
    timeout_s: float = Field(default=10.0, gt=0, le=120)  # one upstream call, retries included
    connect_timeout_s: float = Field(default=3.0, gt=0, le=60)
    # An answer larger than this (after decompression) is refused unread past it: 502 upstream-bad-response.
    max_response_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    max_concurrency: int = Field(default=32, ge=1, le=1000)  # upstream calls in flight at once
    cache: ReadCacheSettings = ReadCacheSettings()
    breaker: BreakerSettings = BreakerSettings()
    retry: RetrySettings = RetrySettings()

    @field_validator("base_url", "public_url")
    @classmethod
    def _ends_with_slash(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        if value is not None and not str(value).endswith("/"):
            raise ValueError("must end with '/'")
        return value


class WaldurSettings(_ProviderBase):
    """One Waldur instance (``../shared/upstreams/waldur.md``); base_url ends ``/api/``."""

    kind: Literal["waldur"]
    token: SecretStr  # sent as ``Authorization: Token ...``
    # Waldur orders carry no currency (waldur.md §2); the operator states the instance's.
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    page_size: int = Field(default=100, ge=1, le=300)


class IvcapSettings(_ProviderBase):
    """One IVCAP instance (``../shared/upstreams/ivcap.md``); base_url ends ``/1/``."""

    kind: Literal["ivcap"]
    token: SecretStr  # sent as ``Authorization: Bearer ...``
    # `current`: the API of ivcap-client / ivcap-core-api; `legacy`: the older REST shape (ivcap.md §9).
    dialect: Literal["current", "legacy"] = "current"
    page_size: int = Field(default=50, ge=1, le=50)


class ArrowSettings(_ProviderBase):
    """One ArrowSphere instance (``../shared/upstreams/arrow.md``); base_url ends ``/index.php/api/``."""

    kind: Literal["arrow"]
    api_key: SecretStr  # sent as the ``apiKey`` header
    # Arrow's times carry no zone (arrow.md §2): the zone they are in.
    timezone: str = "UTC"
    page_size: int = Field(default=100, ge=1, le=100)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("unknown time zone") from None
        return value


ProviderSettings = Annotated[WaldurSettings | IvcapSettings | ArrowSettings, Field(discriminator="kind")]
PROVIDER_KINDS = ("waldur", "ivcap", "arrow")


class RateLimitSettings(_Strict):
    """A token bucket: ``requests`` per ``window_s`` on average, bursts up to ``burst``."""

    requests: int = Field(default=600, ge=1, le=1_000_000)
    window_s: float = Field(default=60.0, gt=0, le=86_400)
    burst: int | None = Field(default=None, ge=1, le=1_000_000)  # None: ``requests``

    @property
    def capacity(self) -> int:
        return self.burst if self.burst is not None else self.requests


class ApiKeySettings(_Strict):
    """One caller's key, stored as the sha256 hex digest of the key itself."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: tuple[Literal["orders:read", "orders:write", "orders:admin"], ...] = Field(min_length=1)
    # None: every instance; otherwise only these (others are invisible to this key).
    providers: tuple[str, ...] | None = None
    rate_limit: RateLimitSettings | None = None  # None: the top-level ``rate_limit``


class CacheSettings(_Strict):
    """Where shared state lives: this process's memory, or one Redis for every replica
    (idempotency records, the read cache and rate-limit buckets)."""

    backend: Literal["memory", "redis"] = "memory"
    url: str | None = Field(default=None, pattern=r"^rediss?://")
    # Bounds of the in-process read cache (also the fallback while Redis is unreachable).
    max_entries: int = Field(default=10_000, ge=1, le=10_000_000)
    max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)

    @model_validator(mode="after")
    def _redis_needs_url(self) -> CacheSettings:
        if self.backend == "redis" and not self.url:
            raise ValueError("cache.url: required when backend is redis")
        return self


class IdempotencySettings(_Strict):
    ttl_s: int = Field(default=86_400, ge=60, le=7 * 86_400)  # how long answers are replayed
    # The memory store's bound (one replica; Redis keeps its own): least recently used records
    # go first past it, and a key whose record went is no longer protected from a second order.
    max_bytes: int = Field(default=32 * 1024 * 1024, ge=1024 * 1024, le=1024 * 1024 * 1024)


class CursorSettings(_Strict):
    # None: a random secret per process (cursors then do not survive restarts or replicas).
    secret: SecretStr | None = None
    previous_secret: SecretStr | None = None
    ttl_s: int = Field(default=86_400, ge=60)


class ServerSettings(_Strict):
    # Base of ``links.self``; empty means links are paths relative to the gateway.
    public_url: str = ""
    request_timeout_s: float = Field(default=15.0, gt=0, le=300)
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    # The shared upstream client's transport: aiohttp's pool costs far less CPU per call.
    http_transport: Literal["aiohttp", "httpx"] = "aiohttp"
    # Limits on what callers send (docs/decisions.md, "Bad input, slow clients and security headers").
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1024, le=100 * 1024 * 1024)  # 413
    max_url_bytes: int = Field(default=8192, ge=256, le=65536)  # path and query string: 414
    max_header_bytes: int = Field(default=32768, ge=1024, le=1024 * 1024)  # request line and headers: 431
    header_timeout_s: float = Field(default=10.0, gt=0, le=300)  # to receive a request's headers: 408
    body_timeout_s: float = Field(default=10.0, gt=0, le=300)  # between two parts of a body: 408
    keep_alive_s: int = Field(default=5, ge=1, le=300)  # an idle connection is closed after this


class TelemetrySettings(_Strict):
    """Traces, metrics and their exposure (logs follow ``server.log_level``)."""

    service_name: str = Field(default="order-gateway", min_length=1, max_length=100)
    # Who may read GET /metrics: a key with orders:admin, anyone (a scraper on a private
    # network; instance and key names are then visible to it), or nobody (404).
    metrics_access: Literal["admin", "public", "off"] = "admin"
    # Where spans go over OTLP/HTTP (the full traces URL). Taken from the standard
    # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT when not set here;
    # None: spans are made (trace ids in logs and problems) but exported nowhere.
    otlp_endpoint: str | None = None


class Settings(_Strict):
    """The whole configuration tree."""

    providers: dict[Annotated[str, Field(pattern=INSTANCE_NAME)], ProviderSettings] = Field(min_length=1)
    api_keys: tuple[ApiKeySettings, ...] = ()
    cache: CacheSettings = CacheSettings()
    rate_limit: RateLimitSettings = RateLimitSettings()  # per key, unless the key sets its own
    idempotency: IdempotencySettings = IdempotencySettings()
    cursor: CursorSettings = CursorSettings()
    server: ServerSettings = ServerSettings()
    telemetry: TelemetrySettings = TelemetrySettings()

    @model_validator(mode="after")
    def _keys_name_known_providers(self) -> Settings:
        names = set()
        for index, key in enumerate(self.api_keys):
            if key.name in names:
                raise ValueError(f"api_keys.{index}.name: duplicate key name")
            names.add(key.name)
            for provider in key.providers or ():
                if provider not in self.providers:
                    raise ValueError(f"api_keys.{index}.providers: unknown instance '{provider}'")
        return self


def load_settings(path: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> Settings:
    """Read, substitute and validate a YAML config file; raise ConfigError naming the bad key."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    return settings_from_mapping(raw, env=os.environ if env is None else env)


def settings_from_mapping(raw: Any, env: Mapping[str, str]) -> Settings:
    """Validate an already-parsed config tree (after ${ENV} substitution)."""
    if not isinstance(raw, dict):
        raise ConfigError("config must be a mapping with a 'providers' key")
    substituted = _substitute(raw, env, path="")
    _check_kinds(substituted)
    _otlp_endpoint_from_env(substituted, env)
    try:
        return Settings.model_validate(substituted)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _substitute(value: Any, env: Mapping[str, str], path: str) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, env, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, env, f"{path}.{i}") for i, v in enumerate(value)]
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(f"{path}: environment variable {name} is not set")

        return _ENV_REFERENCE.sub(replace, value)
    return value


def _otlp_endpoint_from_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    """The standard OpenTelemetry variables, as the OTLP exporter reads them: the traces URL
    as it is, or the base URL with ``v1/traces`` appended. The config's own value wins."""
    telemetry = raw.get("telemetry")
    if telemetry is not None and not isinstance(telemetry, dict):
        return  # validation names the bad key
    if telemetry and telemetry.get("otlp_endpoint"):
        return
    url = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not url and base:
        url = base.rstrip("/") + "/v1/traces"
    if url:
        raw["telemetry"] = {**(telemetry or {}), "otlp_endpoint": url}


def _check_kinds(raw: dict[str, Any]) -> None:
    """Name an unknown kind plainly (pydantic's discriminator message lists internals)."""
    providers = raw.get("providers")
    if not isinstance(providers, dict):
        return
    for name, cfg in providers.items():
        if isinstance(cfg, dict) and cfg.get("kind") not in PROVIDER_KINDS:
            kinds = ", ".join(PROVIDER_KINDS)
            raise ConfigError(f"providers.{name}.kind: unknown kind {cfg.get('kind')!r} (known: {kinds})")


def _describe(exc: ValidationError) -> str:
    # Built from location and message only: pydantic's own text would echo the input value,
    # which may be a substituted secret.
    error = exc.errors(include_input=False, include_url=False)[0]
    loc = list(error["loc"])
    if len(loc) >= 3 and loc[0] == "providers" and loc[2] in PROVIDER_KINDS:
        del loc[2]  # the discriminator's tag, not a key the operator wrote
    location = ".".join(str(part) for part in loc)
    message = error["msg"].removeprefix("Value error, ")
    if not location and ": " in message:
        return message
    return f"{location or 'config'}: {message}"
