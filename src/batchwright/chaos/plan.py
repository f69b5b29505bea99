"""What the soak breaks: the server's fault plan, its configuration and the runner's engine settings.

The batch plan mixes every fault kind the local server injects: HTTP errors before and after the action,
timeouts and connection resets on every Files/Batches endpoint, 429s, batches that fail validation (with
several codes), expire or stall with partial output, stay long in finalizing, cancels that take a while,
per-request 500/429/400 answers, malformed, duplicated and missing output lines, shuffled output, and an
enqueued-token limit that forces ``token_limit_exceeded``. The direct plan does the same for the direct
endpoint (plus an RPM limit). Every rule is probabilistic under the soak's seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from batchwright.config import EngineSettings
from batchwright.pricing import PriceOverrides
from batchwright.server import ServerConfig

MODEL = "gpt-4o-mini"
CHAT = "POST /v1/chat/completions"
TOKENS_PER_REQUEST = 25
"""A little above the chaos task's prompt tokens: sizes the server's enqueued-token limit."""
CLIENT_TIMEOUT = 2.0
"""Seconds before the runner's API calls time out (the plan's hangs last longer)."""
HANG = 3.0
"""Seconds an injected timeout hangs."""
PRICES = PriceOverrides(cost_input_direct_mtoken=1.0, cost_output_direct_mtoken=4.0)

VALIDATION_CODES = ("invalid_json_line", "missing_required_parameter", "mismatched_model", "empty_file")


def _http(endpoint: str, kind: str, p: float, **extra: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "kind": kind, "probability": p, "seconds": HANG, **extra}


def batch_faults(seed: int) -> dict[str, Any]:
    """The batch soak's fault plan (every fault kind, each with a small probability)."""
    http = []
    for endpoint in ("POST /v1/files", "POST /v1/batches"):
        http += [
            _http(endpoint, "error", 0.04, status=500, when="before"),
            _http(endpoint, "error", 0.04, status=502, when="after"),
            _http(endpoint, "error", 0.03, status=429, retry_after=0.2),
            _http(endpoint, "reset", 0.02, when="after"),
            _http(endpoint, "timeout", 0.01, when="after"),
        ]
    for endpoint in ("GET /v1/batches/*", "GET /v1/files/*/content", "DELETE /v1/files/*", "GET /v1/batches",
                     "GET /v1/files"):  # fmt: skip
        http += [
            _http(endpoint, "error", 0.03, status=503),
            _http(endpoint, "error", 0.02, status=500, when="after"),
            _http(endpoint, "reset", 0.01),
            _http(endpoint, "timeout", 0.003),
        ]
    http += _direct_http()
    batches: list[dict[str, Any]] = [
        {"kind": "fail_validation", "code": code, "probability": 0.005} for code in VALIDATION_CODES
    ]
    batches += [
        {"kind": "expire", "after_requests": 7, "probability": 0.04},
        {"kind": "stall", "after_requests": 3, "probability": 0.03},
        {"kind": "stall_finalizing", "seconds": 1.5, "probability": 0.03},
        {"kind": "slow_cancel", "seconds": 2.0, "probability": 0.3},
    ]
    return {
        "seed": seed,
        "http": http,
        "batches": batches,
        "requests": [
            {"status": 500, "probability": 0.01},
            {"status": 429, "probability": 0.005},
            {"status": 400, "probability": 0.002},
        ],
        "output": [
            {"kind": "malformed", "probability": 0.002},
            {"kind": "duplicated", "probability": 0.003},
            {"kind": "missing", "probability": 0.002},
        ],
        "shuffle_output": True,
    }


def _direct_http() -> list[dict[str, Any]]:
    return [
        _http(CHAT, "error", 0.01, status=500, when="before"),
        _http(CHAT, "error", 0.01, status=503, when="after"),
        _http(CHAT, "error", 0.01, status=429, retry_after=0.2),
        _http(CHAT, "reset", 0.005, when="after"),
        _http(CHAT, "timeout", 0.001, when="after"),
    ]


def direct_faults(seed: int) -> dict[str, Any]:
    """The direct soak's fault plan: errors before/after, 429s, resets, hangs and an RPM limit."""
    return {"seed": seed, "http": _direct_http(), "rate_limits": {"rpm": 12_000}}


def batch_size(requests: int) -> int:
    """Requests per batch: about 100 batches per task (20..500), so progress comes in small steps."""
    return max(20, min(500, requests // 100))


def server_config(
    data_dir: Path, mode: str, requests: int, seed: int, speed: float, window: float
) -> ServerConfig:
    """The local server for a soak: accelerated clock, ``window`` real seconds before batches expire."""
    plan = batch_faults(seed) if mode == "batch" else direct_faults(seed)
    limit = 4 * batch_size(requests) * TOKENS_PER_REQUEST  # about four batches in flight per model
    return ServerConfig(
        data_dir=data_dir, speed=speed, faults=plan, seed=seed, model_token_limits={MODEL: limit},
        completion_window_seconds=window * speed,
    )  # fmt: skip


def engine_settings(mode: str, requests: int, base_url: str) -> EngineSettings:
    """The runner's settings: fast polling, short timeouts, no safety stops (the soak injects failures)."""
    common: dict[str, Any] = {
        "base_url": base_url, "timeout": CLIENT_TIMEOUT, "poll_interval": 0.05, "poll_interval_max": 0.5,
        "prices": PRICES, "max_retries": 2, "min_pass_ratio": 0.0, "process_failed_batches": "all",
    }  # fmt: skip
    if mode == "direct":
        return EngineSettings(**common, force_direct=True, direct_concurrency=16)
    return EngineSettings(
        **common, max_batch_requests=batch_size(requests), max_remote_batches=8, min_batch_requests=10
    )
