"""The deployment files, read as text (no Docker, no cluster): the Dockerfile installs what CI
installs and runs `gateway serve` as a non-root user; compose.yaml and deploy/k8s/ run 2+
replicas on one Redis, refer only to files that exist, and hold no secret."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from gateway.settings import Settings, settings_from_mapping

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}")
# Compose requires these with ${NAME:?message}: compose stops when one is unset.
COMPOSE_REQUIRED = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*):\?[^}]*\}$")
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)


# --- The Dockerfile and what CI installs --------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    keyword: str
    argument: str

    def exec_form(self) -> list[str]:
        parsed = json.loads(self.argument)
        assert isinstance(parsed, list), f"{self.keyword} should be in exec form: {self.argument}"
        return [str(part) for part in parsed]


def dockerfile() -> list[Instruction]:
    """The instructions, comments dropped and continuation lines joined."""
    instructions: list[Instruction] = []
    pending = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, argument = (pending + line).partition(" ")
        instructions.append(Instruction(keyword.upper(), argument.strip()))
        pending = ""
    return instructions


# Tools that install the installer: not a source of what the gateway runs.
INSTALLER_PACKAGES = {"pip", "setuptools", "wheel", "uv", "pip-tools"}
PIP_OPTIONS_WITH_VALUE = {
    "-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--target", "-t",
    "--prefix", "--root", "--python", "--cache-dir", "--src", "--progress-bar", "--platform",
}  # fmt: skip
SHELL_OPERATORS = {"&&", "||", ";", "|"}


@dataclass(frozen=True)
class Source:
    """One thing an install reads its requirements from: the project (its pyproject.toml, with
    the extras asked for), a requirements/constraints/lock file, or a package named inline."""

    kind: str  # "project", "file" or "package"
    name: str
    extras: frozenset[str] = frozenset()


def shell_commands(text: str) -> Iterator[list[str]]:
    """Each simple command of some shell text (Make's ``@``/``-`` prefixes dropped)."""
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.strip().lstrip("@-").strip()
        if not line or line.startswith("#"):
            continue
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        command: list[str] = []
        for token in [*tokens, ";"]:
            if token in SHELL_OPERATORS:
                if command:
                    yield command
                command = []
            else:
                command.append(token)


def install_sources(text: str) -> set[Source]:
    """What the pip / uv / pip-sync commands in some shell text install from."""
    sources: set[Source] = set()
    for command in shell_commands(text):
        names = [Path(token).name for token in command]
        if "pip" in names or "pip3" in names:
            at = max(i for i, n in enumerate(names) if n in ("pip", "pip3"))
            if names[at + 1 : at + 2] == ["install"]:
                sources |= pip_install_sources(command[at + 2 :])
        elif "pip-sync" in names:
            at = names.index("pip-sync")
            sources |= {Source("file", a) for a in command[at + 1 :] if not a.startswith("-")}
        elif "uv" in names and "sync" in names:
            sources |= {Source("project", "pyproject.toml"), Source("file", "uv.lock")}
    return sources


def pip_install_sources(arguments: list[str]) -> set[Source]:
    sources: set[Source] = set()
    items = iter(arguments)
    for argument in items:
        option, _, inline = argument.partition("=")
        if option in ("-r", "--requirement", "-c", "--constraint"):
            sources.add(Source("file", inline or next(items)))
        elif option in ("-e", "--editable"):
            sources.add(project_or_package(inline or next(items)))
        elif option in PIP_OPTIONS_WITH_VALUE:
            if not inline:
                next(items)
        elif not argument.startswith("-"):
            sources.add(project_or_package(argument))
    return {s for s in sources if not (s.kind == "package" and s.name in INSTALLER_PACKAGES)}


def project_or_package(spec: str) -> Source:
    path, _, extras = spec.partition("[")
    chosen = frozenset(e.strip() for e in extras.rstrip("]").split(",") if e.strip())
    if path in (".", "./", "/app", "/app/") or path.startswith(("./", "/")):
        return Source("project", "pyproject.toml", chosen)
    return Source("package", spec)


def ci_install_text() -> str:
    """Every file .ci/run installs through: itself and the Makefile it hands over to."""
    ci = (ROOT / ".ci" / "run").read_text()
    text = ci
    if re.search(r"\bmake\b", ci):
        text += "\n" + (ROOT / "Makefile").read_text()
    return text


def docker_install_text() -> str:
    return "\n".join(i.argument for i in dockerfile() if i.keyword == "RUN")


def test_the_parser_reads_the_installs_it_will_meet() -> None:
    text = """
\t$(BIN)/python -m pip install --quiet --upgrade pip
\t@$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[test]'
RUN pip install --no-cache-dir --require-hashes -r requirements/lock.txt . && useradd x
uv sync --frozen
"""
    assert install_sources(text) == {
        Source("file", "requirements.lock"),
        Source("project", "pyproject.toml", frozenset({"test"})),
        Source("file", "requirements/lock.txt"),
        Source("project", "pyproject.toml"),
        Source("file", "uv.lock"),
    }


def test_the_image_installs_from_the_same_sources_as_ci() -> None:
    ci, image = install_sources(ci_install_text()), install_sources(docker_install_text())
    # An install this test cannot read would make the comparison vacuous: teach it instead.
    assert ci, "no pip/uv install found through .ci/run and the Makefile"
    assert image, "no pip/uv install found in the Dockerfile's RUN lines"

    def plain(sources: set[Source]) -> set[Source]:
        return {Source(s.kind, s.name) for s in sources}

    # The project itself, from pyproject.toml, in both.
    assert Source("project", "pyproject.toml") in plain(ci) & plain(image)
    # The image installs nothing CI did not install and test with...
    assert plain(image) <= plain(ci), plain(image) - plain(ci)
    ci_extras = {e for s in ci for e in s.extras}
    image_extras = {e for s in image for e in s.extras}
    assert image_extras <= ci_extras
    assert "test" not in image_extras  # test tools stay out of the image
    # ...and every lock, constraints or requirements file CI pins with pins the image too
    # (files named for tests or development only excepted).
    pins = {s for s in plain(ci) if s.kind == "file" and not re.search(r"test|dev|lint", s.name)}
    assert pins <= plain(image), f"the Dockerfile does not install from {pins - plain(image)}"


def test_every_file_the_image_installs_from_is_copied_in_first() -> None:
    instructions = dockerfile()
    first_install = next(
        i for i, ins in enumerate(instructions) if ins.keyword == "RUN" and install_sources(ins.argument)
    )
    copied: set[str] = set()
    for ins in instructions[:first_install]:
        if ins.keyword in ("COPY", "ADD"):
            parts = [p for p in shlex.split(ins.argument) if not p.startswith("--")]
            copied |= {p.rstrip("/") for p in parts[:-1]}
    needed = {s.name for s in install_sources(docker_install_text()) if s.kind != "package"}
    for name in needed:
        assert (ROOT / name).is_file(), f"the Dockerfile installs from {name}, which is not in the repository"
        assert "." in copied or name in copied, f"{name} is not copied in before the install"
    assert "gateway" in copied or "." in copied  # the package's own source


def test_the_image_runs_as_a_non_root_user() -> None:
    instructions = dockerfile()
    users = [i for i in instructions if i.keyword == "USER"]
    assert users, "the Dockerfile never leaves root"
    user = users[-1].argument.split(":")[0]
    assert user not in ("root", "0")
    last_user = max(i for i, ins in enumerate(instructions) if ins.keyword == "USER")
    assert not any(ins.keyword == "USER" for ins in instructions[last_user + 1 :])
    if not user.isdigit():  # a named user must be made, with a uid other than 0
        runs = " ".join(i.argument for i in instructions if i.keyword == "RUN")
        made = re.search(rf"(useradd|adduser)\b[^&;]*\b{re.escape(user)}\b", runs)
        assert made, f"USER {user} is never created"
        uid = re.search(r"--uid[ =](\d+)|-u (\d+)", made.group(0))
        assert uid is None or int(uid.group(1) or uid.group(2)) != 0


def test_the_image_starts_gateway_serve_reachable_from_outside() -> None:
    instructions = dockerfile()
    entrypoint = [i.exec_form() for i in instructions if i.keyword == "ENTRYPOINT"]
    cmd = [i.exec_form() for i in instructions if i.keyword == "CMD"]
    argv = (entrypoint[-1] if entrypoint else []) + (cmd[-1] if cmd else [])
    assert argv[:2] == ["gateway", "serve"] or argv[:4] == ["python", "-m", "gateway", "serve"], argv
    assert "--host" in argv and argv[argv.index("--host") + 1] == "0.0.0.0"
    env = " ".join(i.argument for i in instructions if i.keyword == "ENV")
    assert "--config" in argv or "GATEWAY_CONFIG=" in env  # where the mounted config is read


# --- compose.yaml --------------------------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "compose.yaml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def service_argv(service: dict[str, Any]) -> list[str]:
    command = service.get("command", [])
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def option(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def env_names(tree: Any) -> set[str]:
    """The ${NAME}s a parsed config reads (its comments do not count)."""
    if isinstance(tree, dict):
        return {name for value in tree.values() for name in env_names(value)}
    if isinstance(tree, list):
        return {name for value in tree for name in env_names(value)}
    return set(ENV_REFERENCE.findall(tree)) if isinstance(tree, str) else set()


def load_gateway_config(text: str) -> Settings:
    """Validated as `gateway serve` would, with a value for every ${NAME} (a valid digest for
    the sha256 ones)."""
    raw = yaml.safe_load(text)
    env = {n: "0" * 64 if n.endswith("SHA256") else f"placeholder-{n.lower()}" for n in env_names(raw)}
    return settings_from_mapping(raw, env=env)


def gateway_services(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services.items() if service_argv(s)[:2] == ["gateway", "serve"]}


def test_compose_runs_two_gateway_replicas_redis_haproxy_and_the_simulators() -> None:
    services = compose()["services"]
    gateways = gateway_services(services)
    replicas = sum(int(s.get("deploy", {}).get("replicas", 1)) for s in gateways.values())
    assert replicas >= 2
    assert any(str(s.get("image", "")).startswith("redis:") for s in services.values())
    assert any(str(s.get("image", "")).startswith("haproxy:") for s in services.values())
    sims = {service_argv(s)[2]: s for s in services.values() if service_argv(s)[:2] == ["gateway", "sim"]}
    assert set(sims) == {"waldur", "ivcap", "arrow"}
    for service in [*gateways.values(), *sims.values()]:  # our image, listening beyond loopback
        assert "build" in service and (ROOT / str(service["build"]) / "Dockerfile").is_file()
        assert option(service_argv(service), "--host") == "0.0.0.0"


def test_compose_refers_only_to_files_that_exist() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (ROOT / source).is_file(), f"{name} mounts {source}, which does not exist"


def test_compose_holds_no_secret_and_requires_each_one() -> None:
    services = compose()["services"]
    for name, service in services.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment as a mapping, please"
        for variable, value in environment.items():
            if SECRET_NAME.search(variable):
                assert COMPOSE_REQUIRED.match(str(value)), f"{name}.{variable} must be ${{VAR:?...}}"
        argv = service_argv(service)
        if "--token" in argv:
            assert COMPOSE_REQUIRED.match(str(option(argv, "--token"))), (
                f"{name}: --token from the environment"
            )


def test_the_compose_gateway_config_is_valid_and_matches_the_services() -> None:
    services = compose()["services"]
    (name, gateway), *_ = gateway_services(services).items()
    argv = service_argv(gateway)
    config_path = option(argv, "--config")
    mounts = dict(reversed(v.split(":")[:2]) for v in gateway["volumes"])
    assert config_path in mounts, f"{name}: --config {config_path} is not mounted"
    text = (ROOT / mounts[config_path]).read_text()
    settings = load_gateway_config(text)
    # Every ${NAME} the config reads is passed in by compose.
    assert env_names(yaml.safe_load(text)) <= set(gateway["environment"])
    # One Redis for every replica, and one cursor secret.
    assert settings.cache.backend == "redis" and settings.cache.url
    assert urlsplit(settings.cache.url).hostname in services
    assert settings.cursor.secret is not None
    # Each upstream is a simulator service, at the port it listens on.
    for provider in settings.providers.values():
        url = urlsplit(str(provider.base_url))
        assert url.hostname in services, url.hostname
        assert option(service_argv(services[url.hostname]), "--port") == str(url.port)


def test_the_compose_haproxy_balances_over_the_gateway_replicas() -> None:
    services = compose()["services"]
    (name, gateway), *_ = gateway_services(services).items()
    haproxy = next(s for s in services.values() if str(s.get("image", "")).startswith("haproxy:"))
    mounts = dict(reversed(v.split(":")[:2]) for v in haproxy["volumes"])
    cfg = (ROOT / mounts["/usr/local/etc/haproxy/haproxy.cfg"]).read_text()
    port = option(service_argv(gateway), "--port")
    assert re.search(rf"^\s*server(-template)?\s+\S+\s+(\S+\s+)?{name}:{port}\b", cfg, re.MULTILINE)
    assert re.search(r"^\s*balance\s+roundrobin", cfg, re.MULTILINE)
    assert re.search(r"^\s*option\s+httpchk\s+GET\s+/(readyz|healthz)\b", cfg, re.MULTILINE)
    bind = re.search(r"^\s*bind\s+\S*:(\d+)", cfg, re.MULTILINE)
    assert bind and any(str(p).endswith(f":{bind.group(1)}") for p in haproxy["ports"])


# --- Kubernetes ----------------------------------------------------------------------------


def manifests() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document is not None:
                found.append((path, document))
    return found


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [d for _, d in manifests() if d["kind"] == kind]


def gateway_deployment() -> dict[str, Any]:
    (deployment,) = [
        d for d in of_kind("Deployment") if pod_containers(d)[0].get("args", [])[:2] == ["gateway", "serve"]
    ]
    return deployment


def pod_containers(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    return containers


KINDS = {"ConfigMap", "Deployment", "Service", "PodDisruptionBudget"}


def test_every_manifest_is_a_known_kind_with_a_name() -> None:
    found = manifests()
    assert found
    for path, document in found:
        assert document["kind"] in KINDS, f"{path.name}: unexpected kind {document['kind']}"
        assert document.get("apiVersion") and document["metadata"]["name"]


def test_no_secret_is_committed_with_values() -> None:
    for path, document in manifests():
        if document["kind"] == "Secret":
            assert not document.get("data") and not document.get("stringData"), path


def test_the_gateway_runs_two_replicas_probed_and_as_non_root() -> None:
    deployment = gateway_deployment()
    assert deployment["spec"]["replicas"] >= 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod_containers(deployment)
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"].get("runAsUser", 1) != 0
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # Secrets come from a Secret made outside the repository, referred to by name.
    (reference,) = [e["secretRef"]["name"] for e in container["envFrom"] if "secretRef" in e]
    assert reference not in {d["metadata"]["name"] for d in of_kind("Secret")}


def test_services_and_deployments_select_their_pods() -> None:
    pod_labels = [d["spec"]["template"]["metadata"]["labels"] for d in of_kind("Deployment")]
    for deployment in of_kind("Deployment"):
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
        for container in pod_containers(deployment):
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    for service in of_kind("Service"):
        selector = service["spec"]["selector"]
        matched = [labels for labels in pod_labels if selector.items() <= labels.items()]
        assert len(matched) == 1, f"Service {service['metadata']['name']} selects {len(matched)} Deployments"


@pytest.fixture
def k8s_config() -> tuple[str, Settings]:
    deployment = gateway_deployment()
    (container,) = pod_containers(deployment)
    config_path = Path(option(container["args"], "--config") or "")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == config_path.parent)
    config_map_name = volumes[mount["name"]]["configMap"]["name"]
    (config_map,) = [c for c in of_kind("ConfigMap") if c["metadata"]["name"] == config_map_name]
    text = config_map["data"][config_path.name]
    return text, load_gateway_config(text)


def test_the_k8s_gateway_config_is_valid_and_names_existing_services(
    k8s_config: tuple[str, Settings],
) -> None:
    text, settings = k8s_config
    services = {s["metadata"]["name"]: s for s in of_kind("Service")}
    assert settings.cache.backend == "redis" and settings.cache.url
    assert urlsplit(settings.cache.url).hostname in services
    assert settings.cursor.secret is not None
    for provider in settings.providers.values():
        url = urlsplit(str(provider.base_url))
        assert url.hostname in services
        assert url.port in {p["port"] for p in services[url.hostname]["spec"]["ports"]}
    # The secrets are substituted from the environment, never written in.
    assert {"WALDUR_TOKEN", "GATEWAY_CURSOR_SECRET"} <= env_names(yaml.safe_load(text))
