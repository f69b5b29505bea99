"""EngineSettings: defaults, validation errors as ConfigError, secrets never dumped in clear."""

from __future__ import annotations

import pytest

from batchwright.config import EngineSettings
from batchwright.errors import ConfigError


def test_defaults_match_the_batch_api():
    s = EngineSettings()
    assert s.max_batch_requests == 50_000
    assert s.max_batch_bytes < 200_000_000
    assert s.max_retries == 2
    assert s.delete_remote_files is True


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({"max_batch_requests": 0}, "max_batch_requests"),
        ({"max_batch_requests": 60_000}, "max_batch_requests"),
        ({"min_pass_ratio": 1.5}, "min_pass_ratio"),
        ({"process_failed_batches": -1}, "process_failed_batches"),
        ({"process_failed_batches": "some"}, "process_failed_batches"),
        ({"no_such_option": 1}, "unknown setting"),
        ({"max_remote_requests": 10, "max_batch_requests": 100}, "no batch could ever be sent"),
        ({"azure_endpoint": "https://x.openai.azure.com"}, "api_version"),
        ({"direct_verbose": "loud"}, "direct_verbose"),
    ],
)
def test_bad_values_raise_config_error_naming_the_field(values, match):
    with pytest.raises(ConfigError, match=match):
        EngineSettings(**values)


def test_api_key_is_secret():
    s = EngineSettings(api_key="sk-very-secret")
    assert "sk-very-secret" not in repr(s)
    assert "sk-very-secret" not in s.model_dump_json()
    assert s.api_key.get_secret_value() == "sk-very-secret"


def test_replace_and_helpers():
    s = EngineSettings(enqueued_token_limit=1000, enqueued_token_limits={"m": 5})
    assert s.enqueued_token_limit_for("m") == 5
    assert s.enqueued_token_limit_for("other") == 1000
    assert s.replace(max_retries=5).max_retries == 5
    assert EngineSettings(process_failed_batches="all").failed_batches_allowed(100)
    assert not EngineSettings(process_failed_batches=1).failed_batches_allowed(1)
