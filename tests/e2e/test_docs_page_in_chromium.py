"""``/docs`` rendered by headless Chromium from a real gateway on loopback, with no other network:
every host name but 127.0.0.1 fails to resolve, so the page works offline or not at all."""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.app import create_app
from gateway.openapi.operations import OPERATIONS
from tests.support.servers import running_server
from tests.support.stack import gateway_settings

pytestmark = pytest.mark.e2e

CHROMIUM_TIMEOUT_S = 60
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # tests may run as root
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-sync",
    "--disable-quic",
    # Nothing but loopback exists: a request to any other host fails (and would be logged).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--enable-logging=stderr",
    "--log-level=0",  # the page's console messages, CSP refusals among them, go to stderr
    "--virtual-time-budget=10000",  # let the page fetch /openapi.json and render it
    "--dump-dom",
)


@dataclass(frozen=True)
class Rendered:
    dom: str
    console: list[str]


def chromium_binary() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        raise RuntimeError("chromium is not installed: `apt-get install chromium` (make system-deps does)")
    return binary


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Rendered:
    home = tmp_path_factory.mktemp("chromium")
    # The page never reaches an upstream: this one is a closed port.
    settings = gateway_settings(
        {"waldur-eu": {"kind": "waldur", "base_url": "http://127.0.0.1:9/api/", "token": "t"}}
    )
    with running_server(create_app(settings)) as url:
        result = subprocess.run(
            [chromium_binary(), *CHROMIUM_FLAGS, f"--user-data-dir={home / 'profile'}", f"{url}/docs"],
            capture_output=True,
            text=True,
            timeout=CHROMIUM_TIMEOUT_S,
            env={**os.environ, "HOME": str(home)},
            check=False,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    (Path(home) / "dom.html").write_text(result.stdout)  # kept for a look when a test fails
    return Rendered(result.stdout, console)


def test_the_page_renders_every_operation_with_its_summary(rendered: Rendered) -> None:
    assert 'class="swagger-ui' in rendered.dom, rendered.dom[:2000]
    for operation in OPERATIONS:
        assert f'data-path="{operation.path}"' in rendered.dom, operation.path
        assert html.escape(operation.summary, quote=False) in rendered.dom, operation.summary
    assert "Order Gateway" in rendered.dom


def test_the_page_shows_no_error_and_loads_nothing_from_elsewhere(rendered: Rendered) -> None:
    assert "Unable to render this definition" not in rendered.dom
    assert 'class="errors-wrapper"' not in rendered.dom
    # A blocked or failed load, or a script error, would be a console message.
    assert rendered.console == []
