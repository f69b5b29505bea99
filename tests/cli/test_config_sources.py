"""One settings model behind flags, environment and YAML: precedence and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from batchwright.cli.config_sources import ALL_FIELDS, resolve_options
from batchwright.config import EngineSettings
from batchwright.errors import ConfigError, ExitCode


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "batchwright.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_precedence_flags_over_env_over_yaml_over_defaults(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        "max_batch_requests: 100\nmax_retries: 5\npoll_interval: 3\nmodel: yaml-model\n"
        "cost_input_direct_mtoken: 1.0\n",
    )
    environ = {
        "BATCHWRIGHT_MAX_RETRIES": "4",
        "BATCHWRIGHT_POLL_INTERVAL": "2",
        "BATCHWRIGHT_MODEL": "env-model",
    }
    resolved = resolve_options(
        {"poll_interval": 1.5, "max_batch_requests": None}, config_file=config, environ=environ
    )
    settings = resolved.engine_settings()
    assert settings.max_batch_requests == 100  # YAML (flag given as None = not given)
    assert settings.max_retries == 4  # env beats YAML
    assert settings.poll_interval == 1.5  # flag beats env
    assert settings.min_pass_ratio == EngineSettings().min_pass_ratio  # default
    assert resolved.meta == {"model": "env-model"}
    assert resolved.sources["max_batch_requests"] == f"config {config}"
    assert resolved.sources["max_retries"] == "env BATCHWRIGHT_MAX_RETRIES"
    assert resolved.sources["poll_interval"] == "flag"
    assert resolved.prices == {"cost_input_direct_mtoken": 1.0}


def test_openai_sdk_environment_variables(tmp_path: Path) -> None:
    environ = {
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_API_KEY": "sk-env",
        "OPENAI_ORG_ID": "org-1",
    }
    settings = resolve_options({}, environ=environ).engine_settings()
    assert settings.base_url == "http://127.0.0.1:9/v1"
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "sk-env"
    assert settings.organization == "org-1"
    flagged = resolve_options({"base_url": "http://flag/v1"}, environ=environ).engine_settings()
    assert flagged.base_url == "http://flag/v1"


def test_config_file_from_environment(tmp_path: Path) -> None:
    config = write(tmp_path, "max_remote_batches: 0\n")
    resolved = resolve_options({}, environ={"BATCHWRIGHT_CONFIG": str(config)})
    assert resolved.engine_settings().max_remote_batches == 0


def test_mapping_settings_from_yaml_and_env(tmp_path: Path) -> None:
    config = write(tmp_path, "enqueued_token_limits:\n  gpt-4o: 90000\n")
    assert resolve_options({}, config_file=config, environ={}).engine_settings().enqueued_token_limits == {
        "gpt-4o": 90000
    }
    env = {"BATCHWRIGHT_ENQUEUED_TOKEN_LIMITS": '{"m": 5}'}
    assert resolve_options({}, environ=env).engine_settings().enqueued_token_limits == {"m": 5}
    with pytest.raises(ConfigError, match="JSON object"):
        resolve_options({}, environ={"BATCHWRIGHT_ENQUEUED_TOKEN_LIMITS": "nope"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("max_batch_request: 5\n", "Did you mean 'max_batch_requests'"),
        ("max_batch_requests: [\n", "not valid YAML"),
        ("- a\n- b\n", "must be a mapping"),
        ("max_batch_requests: lots\n", r"max_batch_requests \(from config"),
        ("max_batch_requests: 0\n", "greater than or equal to 1"),
        ("temperature: 9\n", "temperature"),
        ("cost_output_batch_mtoken: -1\n", "cost_output_batch_mtoken"),
        ("max_batch_requests: 500\nmax_remote_requests: 100\n", "Conflicting options"),
    ],
)
def test_bad_config_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    config = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_options({}, config_file=config, environ={})
    assert caught.value.exit_code == ExitCode.BAD_INPUT


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_options({}, config_file=tmp_path / "nope.yaml", environ={})


def test_unknown_environment_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="BATCHWRIGHT_MAX_BATCHES"):
        resolve_options({}, environ={"BATCHWRIGHT_MAX_BATCHES": "3"})


def test_bad_env_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="env BATCHWRIGHT_MAX_RETRIES"):
        resolve_options({}, environ={"BATCHWRIGHT_MAX_RETRIES": "many"})


def test_api_key_value_never_shown_in_errors() -> None:
    # api_key accepts any string; an invalid combination must not echo it either.
    resolved = resolve_options({"api_key": "sk-secret-value"}, environ={})
    assert "sk-secret-value" not in repr(resolved.engine_settings())


def test_every_settings_field_has_a_name() -> None:
    for name in EngineSettings.model_fields:
        assert name in ALL_FIELDS or name == "prices"  # run-level prices go by their flat names


def test_flat_price_names_fill_the_run_level_prices() -> None:
    settings = resolve_options({"cost_output_batch_mtoken": 0.3}, environ={}).engine_settings()
    assert settings.prices is not None and settings.prices.cost_output_batch_mtoken == 0.3
