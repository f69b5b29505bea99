"""Direct-path throughput against the local server, and the seed library's serial direct path side by side.

Scenarios (each run on a fresh task directory; the server runs in its own process):

* ``limited``: 200 ms server latency, 3,000 RPM enforced by the server and configured in the client,
  concurrency 64. Target: at least 90% of the RPM limit, and not one 429 from the server.
* ``unlimited``: no server latency, no limits, concurrency 64. Target: at least 250 requests/s.
* ``seed-200ms`` / ``seed-0ms``: the same requests through gpt-batch-api 1.0.5 with ``--force_direct``
  (serial), from the Python 3.12 venv in ``bench/.seed-venv`` (``bench/seed.py`` creates it).

Usage::

    .venv/bin/python bench/bench_direct.py [--runs 3] [--limited-n 1500] [--unlimited-n 4000]
        [--seed-n 100] [--no-seed] [--out FILE]

Prints a table of medians (with min–max) and writes ``bench/results/bench_direct-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from pathlib import Path
from typing import Any

import httpx

from batchwright.config import EngineSettings
from batchwright.engine import Engine, RequestSpec, StopReason
from batchwright.server import DEFAULT_API_KEY
from batchwright.tokens.vocab import seed_vocabulary
from seed import seed_command, seed_env, seed_python, seed_task_result

BENCH = Path(__file__).resolve().parent
MODEL = "gpt-4o-mini-2024-07-18"
MAX_TOKENS = 100  # long enough that the fake model's answers are rarely cut (a cut answer is retried)
RPM = 3000
CONCURRENCY = 64


class ServerProcess:
    """``batchwright serve`` in a child process (so client and server do not share one interpreter)."""

    def __init__(self, data_dir: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        command = "from batchwright.cli import main; main()"
        self.process = subprocess.Popen(
            [sys.executable, "-c", command, "serve", "--port", str(self.port), "--speed", "instant",
             "--data-dir", str(data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.http = httpx.Client(headers={"Authorization": f"Bearer {DEFAULT_API_KEY}"}, timeout=120)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.http.get(f"{self.base_url}/models").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the local server did not start")
            time.sleep(0.1)

    def set_faults(self, plan: dict[str, Any]) -> None:
        self.http.put(f"http://127.0.0.1:{self.port}/_admin/faults", json=plan).raise_for_status()

    def ledger(self) -> dict[str, Any]:
        response = self.http.get(f"http://127.0.0.1:{self.port}/_admin/ledger")
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        self.http.close()
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()


def plan_for(latency: float, rpm: int | None) -> dict[str, Any]:
    plan: dict[str, Any] = {}
    if latency:
        plan["http"] = [{"endpoint": "POST /v1/chat/completions", "kind": "latency", "seconds": latency}]
    if rpm:
        plan["rate_limits"] = {"rpm": rpm}
    return plan


def requests(n: int) -> list[RequestSpec]:
    """The seed benchmark's workload: item i asks "Say the number i"."""
    return [
        RequestSpec(
            f"n{i}",
            "/v1/chat/completions",
            {
                "model": MODEL,
                "messages": [{"role": "user", "content": f"Say the number {i}"}],
                "max_completion_tokens": MAX_TOKENS,
            },
        )
        for i in range(n)
    ]


def run_ours(server: ServerProcess, work: Path, n: int, *, latency: float, rpm: int | None) -> dict[str, Any]:
    """One run of batchwright's direct path; returns throughput and what the server saw."""
    server.set_faults(plan_for(latency, rpm))
    settings = EngineSettings(
        base_url=server.base_url, api_key=DEFAULT_API_KEY, force_direct=True, direct_concurrency=CONCURRENCY,
        max_rpm=rpm, max_retries=2,
    )  # fmt: skip
    with Engine(Path(tempfile.mkdtemp(dir=work)), settings) as engine:
        engine.add_requests(requests(n))
        started_wall = time.time()
        started = time.perf_counter()
        summary = engine.run()
        seconds = time.perf_counter() - started
        counts = engine.counts()["requests"]
    if summary.reason is not StopReason.DONE or counts.get("succeeded") != n:
        raise SystemExit(f"run incomplete: {summary.one_line()} {counts}")
    ledger = server.ledger()
    times = sorted(r["arrived_at"] for r in ledger["requests"] if (r["arrived_at"] or 0) >= started_wall)
    refused = [r for r in ledger["refused"] if (r["arrived_at"] or 0) >= started_wall]
    peak = max((bisect_left(times, t + 60.0) - i for i, t in enumerate(times)), default=0)
    return {
        "n": n,
        "seconds": seconds,
        "requests_per_s": n / seconds,
        "rpm": n / seconds * 60,
        "server_calls": len(times),
        "server_429": len(refused),
        "server_peak_60s": peak,
        "retried": summary.requests_retried,
    }


def run_seed(server: ServerProcess, work: Path, n: int, *, latency: float) -> dict[str, Any]:
    """One run of gpt-batch-api 1.0.5's direct path (serial) on the same requests."""
    server.set_faults(plan_for(latency, None))
    task_dir = Path(tempfile.mkdtemp(dir=work))
    env = seed_env(server.base_url, DEFAULT_API_KEY)
    command = seed_command(
        "--n", str(n), "--task_dir", str(task_dir), "--no_wandb",
        "--force_direct", "--model", MODEL, "--max_completion_tokens", str(MAX_TOKENS),
    )  # fmt: skip
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1800, check=False)
    done = seed_task_result(result.stderr)
    if result.returncode != 0 or done is None or not done[0]:
        raise SystemExit(f"seed run failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    seconds = done[1]
    return {"n": n, "seconds": seconds, "requests_per_s": n / seconds, "rpm": n / seconds * 60}


def summarise(runs: list[dict[str, Any]], key: str) -> tuple[float, float, float]:
    values = [run[key] for run in runs]
    return statistics.median(values), min(values), max(values)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (medians are reported)")
    parser.add_argument("--limited-n", type=int, default=1500, help="requests per 3,000 RPM run")
    parser.add_argument("--unlimited-n", type=int, default=4000, help="requests per unlimited run")
    parser.add_argument("--seed-n", type=int, default=100, help="requests per seed run")
    parser.add_argument("--no-seed", action="store_true", help="skip the seed library's runs")
    parser.add_argument(
        "--out", type=Path, help="JSON file to write (default: bench/results/bench_direct-<time>.json)"
    )
    args = parser.parse_args()
    run_seed_too = not args.no_seed
    if run_seed_too and seed_python() is None:
        raise SystemExit(
            "the seed needs Python 3.12 (pyenv 3.12.1) to create bench/.seed-venv (or pass --no-seed)"
        )
    work = Path(tempfile.mkdtemp(prefix="bench-direct-"))
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(work / "tiktoken"))
    for name in ("o200k_base", "cl100k_base"):
        seed_vocabulary(name)  # offline vocabularies for us and for the seed
    server = ServerProcess(work / "server")
    scenarios: dict[str, list[dict[str, Any]]] = {}
    try:
        for _ in range(args.runs):  # interleaved, so slow phases of the machine hit every scenario alike
            scenarios.setdefault("limited", []).append(
                run_ours(server, work, args.limited_n, latency=0.2, rpm=RPM)
            )
            scenarios.setdefault("unlimited", []).append(
                run_ours(server, work, args.unlimited_n, latency=0.0, rpm=None)
            )
            if run_seed_too:
                scenarios.setdefault("seed-200ms", []).append(
                    run_seed(server, work, args.seed_n, latency=0.2)
                )
                scenarios.setdefault("seed-0ms", []).append(run_seed(server, work, args.seed_n, latency=0.0))
    finally:
        server.stop()
    report = report_table(scenarios)
    print(report["table"])
    out = args.out or BENCH / "results" / f"bench_direct-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": os.cpu_count(), "load_average": os.getloadavg()}
    out.write_text(
        json.dumps({"machine": machine, "scenarios": scenarios, "summary": report["summary"]}, indent=2)
    )
    print(f"\nwrote {out}")
    return 0


def report_table(scenarios: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The printed table (medians, min–max) and the summary with ratios against the seed."""
    summary: dict[str, Any] = {}
    header = f"{'scenario':<12} {'runs':>4} {'requests':>8} {'req/s median (min–max)':>26} {'RPM':>8}  target"
    lines = [header, "-" * len(header)]
    targets = {"limited": ("RPM", 0.9 * RPM, RPM), "unlimited": ("req/s", 250.0, 250.0)}
    for name, runs in scenarios.items():
        rps, low, high = summarise(runs, "requests_per_s")
        entry = {"median_requests_per_s": rps, "min": low, "max": high, "median_rpm": rps * 60}
        verdict = ""
        if name in targets:
            unit, target, reference = targets[name]
            value = rps * 60 if unit == "RPM" else rps
            entry["target"] = {unit: target, "met": value >= target}
            met = "met" if value >= target else "NOT met"
            verdict = f"{value / reference:.0%} of {reference:,.0f} {unit} ({met}: >= {target:,.0f})"
        if name == "limited":
            entry["server_429"] = sum(run["server_429"] for run in runs)
            entry["server_peak_60s"] = max(run["server_peak_60s"] for run in runs)
        summary[name] = entry
        n = runs[0]["n"]
        spread = f"{rps:.1f} ({low:.1f}–{high:.1f})"
        lines.append(f"{name:<12} {len(runs):>4} {n:>8} {spread:>26} {rps * 60:>8.0f}  {verdict}")
    for ours, seed in (("limited", "seed-200ms"), ("unlimited", "seed-0ms")):
        if ours in summary and seed in summary:
            ratio = summary[ours]["median_requests_per_s"] / summary[seed]["median_requests_per_s"]
            summary[f"ratio_{ours}_vs_{seed}"] = ratio
            lines.append(f"ratio {ours} / {seed}: {ratio:.1f}x")
    if "limited" in summary:
        s = summary["limited"]
        lines.append(f"limited: server 429s {s['server_429']}, peak requests in any 60 s at the server "
                     f"{s['server_peak_60s']} (limit {RPM})")  # fmt: skip
    return {"table": "\n".join(lines), "summary": summary}


if __name__ == "__main__":
    sys.exit(main())
