"""Layer the sources of run options: flags > environment > YAML config file > defaults.

Every option has one name everywhere: the YAML key ``max_batch_requests``, the environment variable
``BATCHWRIGHT_MAX_BATCH_REQUESTS`` and the flag ``--max-batch-requests``. The client options also
read the OpenAI SDK's variables (``OPENAI_API_KEY``, ``OPENAI_BASE_URL``, ``OPENAI_ORG_ID``,
``OPENAI_PROJECT_ID``). The names fall into three groups: engine settings
(:class:`~batchwright.config.EngineSettings`), task metadata (:class:`~batchwright.tasks.TaskMeta`)
and prices (:class:`~batchwright.pricing.PriceOverrides`).
"""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import TypeAdapter, ValidationError

from batchwright.config import EngineSettings
from batchwright.errors import ConfigError
from batchwright.pricing import PriceOverrides
from batchwright.tasks.api import TaskMeta

ENV_PREFIX = "BATCHWRIGHT_"
CONFIG_ENV = "BATCHWRIGHT_CONFIG"
#: Variables of other commands (``batchwright serve``) and of the test harness, not run options.
OTHER_ENV = frozenset(
    {CONFIG_ENV, "BATCHWRIGHT_SERVER_API_KEY", "BATCHWRIGHT_UPSTREAM_API_KEY", "BATCHWRIGHT_TEST_CRASH_AT"}
)

#: Task metadata lives in the task directory; ``completion_ratio`` is part of it, not an engine setting.
META_FIELDS: tuple[str, ...] = tuple(TaskMeta.model_fields)
PRICE_FIELDS: tuple[str, ...] = tuple(PriceOverrides.model_fields)
#: Run-level prices are set by their flat names (``cost_input_batch_mtoken``...), not as ``prices``.
SETTINGS_FIELDS: tuple[str, ...] = tuple(
    name for name in EngineSettings.model_fields if name not in META_FIELDS and name != "prices"
)
ALL_FIELDS: tuple[str, ...] = SETTINGS_FIELDS + META_FIELDS + PRICE_FIELDS

#: The OpenAI SDK's environment variables, read for the matching client settings.
OPENAI_ENV = {
    "api_key": "OPENAI_API_KEY",
    "base_url": "OPENAI_BASE_URL",
    "organization": "OPENAI_ORG_ID",
    "project": "OPENAI_PROJECT_ID",
}


@dataclass
class ResolvedOptions:
    """The layered result: engine settings values, task-metadata overrides and price overrides.

    ``sources`` names where each value came from (``flag``, ``env BATCHWRIGHT_X``, ``config FILE``).
    """

    settings: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    prices: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)

    def engine_settings(self, **extra: Any) -> EngineSettings:
        """Validated engine settings, the run-level prices included (``extra`` values take precedence)."""
        values = {**self.settings, **extra}
        if self.prices:
            values["prices"] = PriceOverrides(**self.prices)
        return EngineSettings(**values)


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a YAML config file of option names to values; unknown names are errors."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"Config file {str(path)!r} does not exist.", remedy="Check the --config path."
        ) from None
    except OSError as error:
        raise ConfigError(f"Cannot read config file {str(path)!r}: {error}.") from None
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"Config file {str(path)!r} is not UTF-8 text (byte {error.start}).",
            remedy="Save the config file as UTF-8.",
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(
            f"Config file {str(path)!r} is not valid YAML: {error}",
            remedy="Fix the YAML syntax (a mapping of option names to values).",
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"Config file {str(path)!r} must be a mapping of option names to values, "
            f"not a {type(data).__name__}.",
            remedy="Write one 'name: value' per line, e.g. 'max_batch_requests: 1000'.",
        )
    for key in data:
        _check_name(str(key), f"config file {str(path)!r}")
    return {str(key): value for key, value in data.items()}


def read_environment(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Options set in the environment, with the variable each came from."""
    found: dict[str, tuple[Any, str]] = {}
    for name, variable in OPENAI_ENV.items():
        if environ.get(variable):
            found[name] = (environ[variable], f"env {variable}")
    for variable, raw in environ.items():
        if not variable.startswith(ENV_PREFIX) or variable in OTHER_ENV:
            continue
        name = variable[len(ENV_PREFIX) :].lower()
        _check_name(name, f"environment variable {variable}")
        value: Any = raw
        if name in {"enqueued_token_limits", "price_overrides"}:
            try:
                value = json.loads(raw)
            except json.JSONDecodeError:
                raise ConfigError(
                    f"{variable} must hold a JSON object.", remedy=f"e.g. {variable}='{{\"gpt-4o\": 90000}}'"
                ) from None
        found[name] = (value, f"env {variable}")
    return found


def resolve_options(
    flags: Mapping[str, Any],
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> ResolvedOptions:
    """Layer flags (values that are not None) over the environment over the config file.

    The config file is ``config_file`` or ``$BATCHWRIGHT_CONFIG``; a missing or malformed file, an
    unknown name or an invalid value raises :class:`ConfigError` naming where it came from.
    """
    environ = os.environ if environ is None else environ
    if config_file is None and environ.get(CONFIG_ENV):
        config_file = Path(environ[CONFIG_ENV])
    layered: dict[str, tuple[Any, str]] = {}
    if config_file is not None:
        source = f"config {config_file}"
        layered.update({name: (value, source) for name, value in load_config_file(config_file).items()})
    layered.update(read_environment(environ))
    for name, value in flags.items():
        if value is not None:
            _check_name(name, "flags")
            layered[name] = (value, "flag")
    resolved = ResolvedOptions()
    for name, (value, source) in layered.items():
        group = (
            resolved.meta
            if name in META_FIELDS
            else resolved.prices
            if name in PRICE_FIELDS
            else resolved.settings
        )
        group[name] = value
        resolved.sources[name] = source
    _validate(resolved)
    return resolved


def _validate(resolved: ResolvedOptions) -> None:
    """Fail early, naming the source, for a value (or combination) no model accepts."""
    for values, model in (
        (resolved.settings, EngineSettings),
        (resolved.meta, TaskMeta),
        (resolved.prices, PriceOverrides),
    ):
        for name, value in values.items():
            info = model.model_fields[name]
            try:
                TypeAdapter(Annotated[info.annotation, info]).validate_python(value)
            except ValidationError as error:
                source, detail = resolved.sources[name], error.errors()[0]["msg"]
                raise ConfigError(
                    f"Invalid value {_show(name, value)} for {name} (from {source}): {detail}.",
                    remedy=f"Fix {name} where it is set ({source}).",
                ) from None
        try:
            model(**values)
        except (ConfigError, ValidationError) as error:
            detail = error.message if isinstance(error, ConfigError) else str(error)
            where = ", ".join(f"{n} ({resolved.sources[n]})" for n in values)
            raise ConfigError(
                f"Conflicting options: {detail}", remedy=f"Check these options: {where}."
            ) from None


def _show(name: str, value: Any) -> str:
    return "'***'" if name == "api_key" else repr(value)


def _check_name(name: str, where: str) -> None:
    if name in ALL_FIELDS:
        return
    close = difflib.get_close_matches(name, ALL_FIELDS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(
        f"Unknown option {name!r} in {where}.{hint}",
        remedy="See `batchwright run --help` for every option (YAML keys use underscores).",
    )
