"""The caller an API key stands for: its name, scopes and the instances it may see."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller (Starlette reads ``is_authenticated`` and ``display_name``)."""

    name: str
    scopes: frozenset[str]
    # None: every configured instance; otherwise only these.
    providers: frozenset[str] | None

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.name

    def can_see(self, instance: str) -> bool:
        return self.providers is None or instance in self.providers
