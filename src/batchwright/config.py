"""The one settings model behind library arguments, CLI flags, environment variables and YAML files.

Every engine limit, budget, cost assumption and client option lives in :class:`EngineSettings`.
Construction validates everything; a bad value raises :class:`~batchwright.errors.ConfigError`
naming the field and the remedy. The API key is a ``SecretStr`` and is never persisted.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from batchwright.errors import ConfigError
from batchwright.pricing import PriceOverrides

DirectVerbose = Literal["never", "error", "warn", "always"]

#: The Batch API's input file limit is 200 MB; stay just under it (the multipart envelope is not counted).
DEFAULT_MAX_BATCH_BYTES = 199_000_000


class EngineSettings(BaseModel):
    """Limits, budgets, cost assumptions and client options of one engine run."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)

    # --- client -------------------------------------------------------------------------------
    base_url: str | None = Field(None, description="API base URL (default: OPENAI_BASE_URL or OpenAI's).")
    api_key: SecretStr | None = Field(None, description="API key (default: OPENAI_API_KEY); never stored.")
    organization: str | None = Field(None, description="OpenAI organization id (default: OPENAI_ORG_ID).")
    project: str | None = Field(None, description="OpenAI project id (default: OPENAI_PROJECT_ID).")
    azure_endpoint: str | None = Field(None, description="Azure OpenAI endpoint; models name deployments.")
    api_version: str | None = Field(
        None, description="Azure OpenAI API version (needed with azure_endpoint)."
    )
    timeout: float = Field(120.0, gt=0, description="Seconds before one API call times out.")
    unreachable_after: float = Field(
        300.0, gt=0, description="Stop when the API has given no answer at all for this many seconds."
    )

    # --- one batch ----------------------------------------------------------------------------
    max_batch_requests: int = Field(50_000, ge=1, le=50_000, description="Requests per batch.")
    max_batch_bytes: int = Field(
        DEFAULT_MAX_BATCH_BYTES, ge=1, le=200_000_000, description="Batch file bytes."
    )
    max_batch_tokens: int | None = Field(None, ge=1, description="Predicted tokens per batch.")
    max_batch_cost: float | None = Field(None, gt=0, description="Predicted cost (USD) per batch.")

    # --- in flight (pushed, not yet collected) ------------------------------------------------
    max_remote_batches: int = Field(15, ge=0, description="Batches in flight (0: prepare locally only).")
    max_remote_requests: int | None = Field(None, ge=1, description="Requests in flight.")
    max_remote_bytes: int | None = Field(None, ge=1, description="Batch file bytes in flight.")
    max_remote_tokens: int | None = Field(None, ge=1, description="Predicted tokens in flight.")
    max_remote_cost: float | None = Field(None, gt=0, description="Predicted cost (USD) in flight.")
    enqueued_token_limit: int | None = Field(
        None, ge=1, description="Default per-model limit on predicted input tokens enqueued (the tier limit)."
    )
    enqueued_token_limits: dict[str, int] = Field(
        default_factory=dict, description="Per-model enqueued-token limits (override the default)."
    )

    # --- retries and safety -------------------------------------------------------------------
    max_retries: int = Field(2, ge=0, description="Retries per request (expired/cancelled/token limit free).")
    retry_fatal: bool = Field(False, description="Retry fatal request errors too.")
    min_pass_ratio: float = Field(
        0.5, ge=0, le=1, description="Batch pass ratio below which it counts as bad."
    )
    max_pass_failures: int = Field(2, ge=1, description="Consecutive bad batches that stop the run.")
    process_failed_batches: int | Literal["all"] = Field(
        0, description="Failed batches to process per session before stopping (0: stop at once; 'all')."
    )
    poll_interval: float = Field(10.0, gt=0, description="Seconds between status polls of in-flight batches.")
    poll_interval_max: float = Field(
        120.0, gt=0, description="Upper bound of the poll back-off after errors."
    )
    delete_remote_files: bool = Field(
        True, description="Delete remote input/output/error files after commit."
    )

    # --- costs and budgets --------------------------------------------------------------------
    completion_ratio: float = Field(0.5, gt=0, le=1, description="Assumed output tokens / max output tokens.")
    default_max_output_tokens: int = Field(
        2048, ge=1, description="Max output tokens assumed when a request sets none."
    )
    learned_ratio_min_samples: int = Field(
        50, ge=1, description="Results of a model needed before its learned completion ratio is used."
    )
    prices: PriceOverrides | None = Field(None, description="Run-level prices (USD per 1M tokens).")
    price_overrides: dict[str, PriceOverrides] = Field(
        default_factory=dict, description="Per-model prices (USD per 1M tokens), over the run-level ones."
    )
    session_max_requests: int | None = Field(None, ge=1, description="Requests sent in this session.")
    session_max_tokens: int | None = Field(None, ge=1, description="Predicted tokens sent in this session.")
    session_max_cost: float | None = Field(None, gt=0, description="Spend (USD) in this session.")
    task_max_requests: int | None = Field(None, ge=1, description="Requests sent over the whole task.")
    task_max_tokens: int | None = Field(None, ge=1, description="Predicted tokens over the whole task.")
    task_max_cost: float | None = Field(None, gt=0, description="Spend (USD) over the whole task.")

    # --- direct path (issue 5) ----------------------------------------------------------------
    force_direct: bool = Field(False, description="Send every request through the direct API.")
    min_batch_requests: int = Field(101, ge=1, description="Fewer pending requests than this go direct.")
    direct_tail_requests: int = Field(
        0, ge=0, description="Send the tail direct once at most this many requests remain (0: off)."
    )
    max_rpm: int | None = Field(None, ge=1, description="Direct requests per minute.")
    max_tpm: int | None = Field(None, ge=1, description="Direct predicted tokens per minute.")
    direct_concurrency: int = Field(16, ge=1, le=1024, description="Direct requests in flight at once.")
    direct_verbose: DirectVerbose = Field("never", description="Print direct requests and responses.")
    max_transient_retries: int = Field(
        8, ge=0, description="Network/429/5xx retries of one direct request that use no retry budget."
    )

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:
            raise _config_error(exc) from None

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> EngineSettings:
        """Build settings from a plain mapping (YAML, env); errors raise ``ConfigError``."""
        return cls(**values)

    def replace(self, **changes: Any) -> EngineSettings:
        """A validated copy with ``changes`` applied."""
        data = self.model_dump()
        data.update(changes)
        return type(self)(**data)

    @field_validator("base_url", "azure_endpoint")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"{value!r} is not an http(s) URL (e.g. 'http://127.0.0.1:8000/v1')")
        return value

    @model_validator(mode="after")
    def _check_consistency(self) -> EngineSettings:
        if self.azure_endpoint is not None and self.api_version is None:
            raise ValueError("azure_endpoint needs api_version (e.g. '2024-10-21')")
        if self.azure_endpoint is not None and self.base_url is not None:
            raise ValueError("give either base_url or azure_endpoint, not both")
        if isinstance(self.process_failed_batches, int) and self.process_failed_batches < 0:
            raise ValueError("process_failed_batches must be >= 0 or 'all'")
        if self.max_remote_requests is not None and self.max_remote_requests < self.max_batch_requests:
            raise ValueError(
                f"max_remote_requests ({self.max_remote_requests}) is below max_batch_requests "
                f"({self.max_batch_requests}): no batch could ever be sent; lower max_batch_requests"
            )
        if self.max_remote_bytes is not None and self.max_remote_bytes < self.max_batch_bytes:
            raise ValueError(
                f"max_remote_bytes ({self.max_remote_bytes}) is below max_batch_bytes "
                f"({self.max_batch_bytes})"
            )
        for model, limit in self.enqueued_token_limits.items():
            if limit < 1:
                raise ValueError(f"enqueued_token_limits[{model!r}] must be >= 1")
        if self.poll_interval_max < self.poll_interval:
            raise ValueError("poll_interval_max must be >= poll_interval")
        return self

    def enqueued_token_limit_for(self, model: str) -> int | None:
        """The configured enqueued-token limit of ``model`` (per-model entry, else the default)."""
        return self.enqueued_token_limits.get(model, self.enqueued_token_limit)

    def failed_batches_allowed(self, processed: int) -> bool:
        """Whether one more failed batch may be processed after ``processed`` this session."""
        return self.process_failed_batches == "all" or processed < self.process_failed_batches


def _config_error(exc: ValidationError) -> ConfigError:
    lines = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err.get("loc", ())) or "settings"
        msg = err.get("msg", "invalid value").removeprefix("Value error, ")
        if err.get("type") == "extra_forbidden":
            msg = "unknown setting"
        lines.append(f"{where}: {msg}")
    return ConfigError(
        "Invalid engine settings: " + "; ".join(lines),
        remedy="Fix the value(s) named above (flag, environment variable or config file).",
    )
