"""The dependency locks (`make lock`) against pyproject.toml, read as text, and the audit wrapper
`make audit` runs (tests/support/audit.py) with a fake PyPI: no network."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
INSTALL_LOCK = ROOT / "requirements-install.lock"
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
LOCKS = (INSTALL_LOCK, RUNTIME_LOCK, DEV_LOCK)  # each constrained by the ones before it
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
# What the locks are made for (`make lock`): CPython 3.11 on x86_64 Linux.
TARGET = {
    **default_environment(),
    "python_version": "3.11",
    "sys_platform": "linux",
    "platform_machine": "x86_64",
}


@dataclass(frozen=True)
class Pin:
    name: str
    version: Version
    hashes: frozenset[str]


def lock_lines(path: Path) -> list[str]:
    """The lock's entries and options, continuation lines joined, comments dropped."""
    joined = path.read_text().replace("\\\n", " ")
    lines = (line.split(" #")[0].strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def pins(path: Path) -> dict[str, Pin]:
    found: dict[str, Pin] = {}
    for line in lock_lines(path):
        spec, *options = line.split(" --hash=")
        requirement = Requirement(spec.strip())
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: {spec} is not pinned with =="
        name = canonicalize_name(requirement.name)
        assert name not in found, f"{path.name}: {name} twice"
        found[name] = Pin(name, Version(specifier.version), frozenset(o.strip() for o in options))
    return found


def requirements(strings: list[str]) -> list[Requirement]:
    chosen = [Requirement(s) for s in strings]
    return [r for r in chosen if r.marker is None or r.marker.evaluate(TARGET)]


def assert_locked(requirement: Requirement, locked: dict[str, Pin], lock: str) -> None:
    pin = locked.get(canonicalize_name(requirement.name))
    assert pin is not None, f"{requirement} is not in {lock}: run make lock"
    assert requirement.specifier.contains(pin.version, prereleases=True), (
        f"{lock} pins {pin.name}=={pin.version}, outside {requirement}: run make lock"
    )
    for extra in requirement.extras:  # e.g. uvicorn[standard]: the extra's packages too
        wanted = metadata.requires(requirement.name) or []
        for dependency in map(Requirement, wanted):
            if dependency.marker is not None and dependency.marker.evaluate({**TARGET, "extra": extra}):
                assert canonicalize_name(dependency.name) in locked, (
                    f"{dependency} ({requirement}) not in {lock}"
                )


@pytest.mark.parametrize("path", LOCKS, ids=lambda p: p.name)
def test_every_entry_is_pinned_with_hashes_and_no_index_is_named(path: Path) -> None:
    locked = pins(path)
    assert locked
    for pin in locked.values():
        assert pin.hashes and all(h.startswith("sha256:") for h in pin.hashes), pin.name
    for line in lock_lines(path):
        assert not line.startswith("-"), f"{path.name} carries an option: {line}"  # index, find-links, ...
    text = path.read_text()
    for marker in ("file:", "/opt/", "index-url", "find-links", "://"):
        assert marker not in text, f"{path.name} names {marker!r}: a local mirror or index leaked in"
    assert "make lock" in text.splitlines()[1], "the header should say how to regenerate it"


def test_each_lock_holds_what_pyproject_asks_of_it() -> None:
    groups = PYPROJECT["dependency-groups"]
    wanted = {
        INSTALL_LOCK: groups["install"],
        RUNTIME_LOCK: PYPROJECT["project"]["dependencies"],
        DEV_LOCK: [*PYPROJECT["project"]["optional-dependencies"]["test"], *groups["dev"]],
    }
    for path, strings in wanted.items():
        locked = pins(path)
        for requirement in requirements(strings):
            assert_locked(requirement, locked, path.name)


def test_the_image_gets_no_test_tool() -> None:
    shipped = pins(INSTALL_LOCK).keys() | pins(RUNTIME_LOCK).keys()
    assert not shipped & {"pytest", "pip-audit", "ruff", "mypy", "schemathesis", "hypothesis"}


def test_a_package_in_two_locks_is_pinned_alike() -> None:
    """make installs the locks together (and the image two of them): no package twice, differently."""
    seen: dict[str, tuple[str, Pin]] = {}
    for path in LOCKS:
        for name, pin in pins(path).items():
            if name in seen:
                assert seen[name][1] == pin, (
                    f"{name}: {seen[name][1].version} in {seen[name][0]}, {pin.version} in {path.name}"
                )
            else:
                seen[name] = (path.name, pin)


def test_the_installed_environment_is_the_locked_one() -> None:
    """What `make` installed is what the locks say (a stale .venv shows up here)."""
    installers = {canonicalize_name(Requirement(r).name) for r in PYPROJECT["dependency-groups"]["install"]}
    for pin in [*pins(RUNTIME_LOCK).values(), *pins(DEV_LOCK).values()]:
        if pin.name in installers:
            continue  # pip and the build backend: the venv's own until `make` replaces them
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            continue  # a package for another platform or Python than this one
        assert Version(installed) == pin.version, f"{pin.name} {installed} installed, {pin.version} locked"


# --- The audit wrapper ---------------------------------------------------------------------


@pytest.fixture
def audit() -> Any:
    """tests/support/audit.py (pip-audit comes with requirements-dev.lock)."""
    from tests.support import audit

    return audit


class FakeResponse:
    def __init__(self, status: int, document: dict[str, Any] | None = None) -> None:
        self.status_code = status
        self.document = document or {}

    def json(self) -> dict[str, Any]:
        return self.document

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise RuntimeError(self.status_code)


class FakePyPI:
    """PyPI as the index proxy here answers: no per-release documents, the project's latest."""

    def __init__(self, latest: dict[str, str], releases: bool = False) -> None:
        self.latest = latest
        self.releases = releases
        self.urls: list[str] = []
        self.closed = False

    def get(self, url: str, **kwargs: Any) -> FakeResponse:
        self.urls.append(url)
        name, *rest = url.removeprefix("https://pypi.org/pypi/").removesuffix("/json").split("/")
        if name not in self.latest:
            return FakeResponse(404)
        document = {"info": {"version": self.latest[name]}, "vulnerabilities": [{"id": "PYSEC-1"}]}
        if rest and not self.releases:
            return FakeResponse(404)
        return FakeResponse(200, document)

    def close(self) -> None:
        self.closed = True


def test_a_missing_release_document_is_read_from_the_project_when_the_pin_is_the_latest(audit: Any) -> None:
    pypi = FakePyPI({"jinja2": "3.1.6"})
    session = audit.ReleaseOrLatestSession(pypi)
    answer = session.get("https://pypi.org/pypi/jinja2/3.1.6/json", timeout=5)
    assert answer.status_code == 200 and answer.json()["vulnerabilities"] == [{"id": "PYSEC-1"}]
    assert pypi.urls == ["https://pypi.org/pypi/jinja2/3.1.6/json", "https://pypi.org/pypi/jinja2/json"]
    assert session.from_latest == ["jinja2==3.1.6"]
    session.close()  # everything else goes to the real session
    assert pypi.closed


def test_an_older_release_stays_unaudited_and_a_real_release_document_is_used_as_is(audit: Any) -> None:
    older = audit.ReleaseOrLatestSession(FakePyPI({"jinja2": "3.1.6"}))
    assert older.get("https://pypi.org/pypi/jinja2/3.1.5/json").status_code == 404
    assert older.from_latest == []
    full = FakePyPI({"jinja2": "3.1.6"}, releases=True)
    assert (
        audit.ReleaseOrLatestSession(full).get("https://pypi.org/pypi/jinja2/3.1.5/json").status_code == 200
    )
    assert full.urls == ["https://pypi.org/pypi/jinja2/3.1.5/json"]
    with pytest.raises(RuntimeError):  # the project itself unreadable: the audit fails
        audit.ReleaseOrLatestSession(FakePyPI({})).get("https://pypi.org/pypi/nothing/1.0/json")


def test_accepted_pins_are_taken_out_of_pip_audits_arguments(audit: Any) -> None:
    rest, accepted = audit.split_arguments(
        [
            "--strict",
            "-r",
            "a.lock",
            "--accept-unaudited=Python_Dateutil==2.8.2",
            "--accept-unaudited",
            "x==1",
        ]
    )
    assert rest == ["--strict", "-r", "a.lock"]
    assert accepted == {"python-dateutil==2.8.2", "x==1"}
