"""Config: ${ENV} substitution, strict validation, messages that name the key and hide secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.settings import ConfigError, load_settings, settings_from_mapping
from tests.support.credentials import SIM_TOKEN as SECRET

ENV = {"WALDUR_TOKEN": SECRET}


def config(**provider: Any) -> dict[str, Any]:
    base = {"kind": "waldur", "base_url": "http://127.0.0.1:9001/api/", "token": "${WALDUR_TOKEN}"}
    base.update(provider)
    return {"providers": {"waldur-eu": base}}


def test_env_substitution_and_secret_kept_secret() -> None:
    settings = settings_from_mapping(config(), ENV)
    token = settings.providers["waldur-eu"].token
    assert token.get_secret_value() == SECRET
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_default_value_in_substitution() -> None:
    settings = settings_from_mapping(config(currency="${CUR:-AUD}"), ENV)
    assert settings.providers["waldur-eu"].currency == "AUD"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (config(bogus=1), "providers.waldur-eu.bogus"),
        (config(kind="gopher"), "providers.waldur-eu.kind"),
        (config(base_url="not a url"), "providers.waldur-eu.base_url"),
        (config(base_url="http://127.0.0.1:9001/api"), "providers.waldur-eu.base_url"),
        (config(token="${MISSING_VAR}"), "MISSING_VAR"),
        ({**config(), "colour": "red"}, "colour"),
        ({"providers": {}}, "providers"),
        (
            {**config(), "api_keys": [{"name": "a", "sha256": "xyz", "scopes": ["orders:read"]}]},
            "api_keys.0.sha256",
        ),
        (
            {**config(), "api_keys": [{"name": "a", "sha256": "0" * 64, "scopes": ["orders:all"]}]},
            "api_keys.0.scopes",
        ),
        (
            {
                **config(),
                "api_keys": [
                    {"name": "a", "sha256": "0" * 64, "scopes": ["orders:read"], "providers": ["x"]}
                ],
            },
            "api_keys.0.providers",
        ),
    ],
)
def test_bad_config_names_the_key_in_one_line(raw: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(raw, ENV)
    message = str(info.value)
    assert named in message and "\n" not in message and SECRET not in message


def test_secret_never_in_a_validation_message() -> None:
    raw = config(timeout_s="${WALDUR_TOKEN}")  # a secret substituted into a wrongly typed field
    with pytest.raises(ConfigError) as info:
        settings_from_mapping(raw, ENV)
    assert SECRET not in str(info.value)


def test_load_settings_reads_yaml(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text('providers:\n  w: {kind: waldur, base_url: "http://h/api/", token: "${WALDUR_TOKEN}"}\n')
    assert load_settings(path, ENV).providers["w"].kind == "waldur"


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, ENV)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "nope.yaml", ENV)


def test_the_shipped_example_config_is_valid() -> None:
    example = Path(__file__).resolve().parents[2] / "config" / "gateway.example.yaml"
    env = {"WALDUR_TOKEN": "t", "IVCAP_TOKEN": "i", "ARROW_API_KEY": "a", "GATEWAY_CURSOR_SECRET": "c" * 32}
    settings = load_settings(example, env)
    assert {cfg.kind for cfg in settings.providers.values()} == {"waldur", "ivcap", "arrow"}
    assert settings.api_keys
