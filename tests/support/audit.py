"""``pip-audit`` of the locked dependencies, able to read PyPI where only part of its JSON API answers.

pip-audit's PyPI service reads ``https://pypi.org/pypi/<name>/<version>/json`` (the release's
known vulnerabilities) and, when that answers 404, *skips* the package — silently, unless
``--strict``. Where PyPI is reached through an index proxy that serves the simple index and the
project document (``/pypi/<name>/json``) but not the per-release one, every package would be
skipped. This wrapper runs pip-audit's own CLI (every flag as usual; ``make audit`` passes
``--strict``) with one change: after a 404 for a release it reads the project document, whose
``vulnerabilities`` are those of the latest release, and uses it when the locked version *is*
the latest release. Otherwise the package stays skipped and ``--strict`` fails the audit.

``--accept-unaudited NAME==VERSION`` (repeatable) names a pin that may stay unaudited for that
reason (a pin held back by another package, say): it is reported on stderr, never silently.
Network failures are pip-audit's own: the audit fails.

    python -m tests.support.audit --strict --disable-pip -r requirements.lock \\
        --accept-unaudited python-dateutil==2.8.2
"""

from __future__ import annotations

import re
import sys
from typing import Any

from packaging.utils import canonicalize_name
from pip_audit import _cli
from pip_audit._service.interface import Dependency, VulnerabilityResult
from pip_audit._service.pypi import PyPIService

RELEASE_URL = re.compile(r"https://pypi\.org/pypi/(?P<name>[^/]+)/(?P<version>[^/]+)/json")
ACCEPT_FLAG = "--accept-unaudited"


class ReleaseOrLatestSession:
    """pip-audit's HTTP session, reading the project document after a 404 for a release."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self.from_latest: list[str] = []

    def get(self, url: str, **kwargs: Any) -> Any:
        response = self._session.get(url, **kwargs)
        release = RELEASE_URL.fullmatch(url)
        if response.status_code != 404 or release is None:
            return response
        project = self._session.get(f"https://pypi.org/pypi/{release['name']}/json", **kwargs)
        project.raise_for_status()  # the project itself unreadable: fail, as pip-audit does
        if project.json()["info"]["version"] == release["version"]:
            self.from_latest.append(f"{release['name']}=={release['version']}")
            return project
        return response  # an older release: pip-audit skips it, and --strict fails

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)


def install(accepted: set[str]) -> None:
    """Patch pip-audit's PyPI service (this process only)."""
    original_init = PyPIService.__init__
    original_query = PyPIService.query

    def init(self: PyPIService, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.session = ReleaseOrLatestSession(self.session)  # type: ignore[assignment]

    def query(self: PyPIService, spec: Dependency) -> tuple[Dependency, list[VulnerabilityResult]]:
        checked, results = original_query(self, spec)
        pin = f"{spec.canonical_name}=={getattr(spec, 'version', '')}"
        if checked.is_skipped() and pin in accepted:
            print(f"pip-audit: NOT AUDITED {pin} (accepted: {checked.skip_reason})", file=sys.stderr)
            return spec, []
        return checked, results

    PyPIService.__init__ = init  # type: ignore[method-assign]
    PyPIService.query = query  # type: ignore[method-assign]


def split_arguments(argv: list[str]) -> tuple[list[str], set[str]]:
    """pip-audit's arguments, and the pins given with ``--accept-unaudited``."""
    rest: list[str] = []
    accepted: set[str] = set()
    items = iter(argv)
    for argument in items:
        flag, _, value = argument.partition("=")
        if flag == ACCEPT_FLAG:
            pin = value if argument.startswith(f"{ACCEPT_FLAG}=") else next(items)
            name, _, version = pin.partition("==")
            accepted.add(f"{canonicalize_name(name)}=={version}")
        else:
            rest.append(argument)
    return rest, accepted


def main() -> None:
    arguments, accepted = split_arguments(sys.argv[1:])
    install(accepted)
    sys.argv = ["pip-audit", *arguments]
    _cli.audit()


if __name__ == "__main__":
    main()
