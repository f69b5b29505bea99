"""Batch engine benchmark: end-to-end throughput, CPU per request, peak RSS, and restart time.

The local server runs in this (orchestrating) process in instant mode; every measurement runs in a fresh
worker subprocess, so CPU time and peak RSS belong to the batchwright process alone. Prints a table of
medians and writes JSON to ``bench/results/engine.json``.

    python bench/bench_engine.py                      # 10k and 100k, 3 runs each, restart with 100k
    python bench/bench_engine.py --sizes 10000 100000 1000000 --runs 1
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from itertools import pairwise
from pathlib import Path

RESULTS = Path(__file__).with_name("results")


def _settings(base_url: str, api_key: str):
    from batchwright.config import EngineSettings
    from batchwright.pricing import PriceOverrides

    return EngineSettings(
        base_url=base_url, api_key=api_key, poll_interval=0.5, min_batch_requests=1, max_remote_batches=1000,
        prices=PriceOverrides(cost_input_direct_mtoken=0.15, cost_output_direct_mtoken=0.6),
    )  # fmt: skip


def _specs(n: int):
    from batchwright.engine import RequestSpec

    for i in range(n):
        message = {"role": "user", "content": f"Tell me one fact about the number {i}."}
        body = {"model": "gpt-4o-mini", "max_tokens": 400, "messages": [message]}
        yield RequestSpec(f"item-{i}", "/v1/chat/completions", body)


def worker(mode: str, n: int, task_dir: str, base_url: str, api_key: str) -> dict[str, float]:
    """One measured run inside a fresh process; returns its numbers."""
    from batchwright.engine import Engine

    cpu0, wall0 = time.process_time(), time.perf_counter()
    with Engine(task_dir, _settings(base_url, api_key)) as engine:
        if mode == "restart":
            summary = engine.run(only_process=True, wait=False)
        else:
            engine.add_requests(_specs(n))
            summary = engine.run(wait=mode == "e2e")
        counts = engine.counts()["requests"]
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    return {
        "requests": n, "cpu_s": cpu, "wall_s": wall, "cpu_us_per_request": cpu / n * 1e6,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "succeeded": counts.get("succeeded", 0), "reason": summary.reason.value,
    }  # fmt: skip


def _run_worker(mode: str, n: int, task_dir: Path, server) -> dict[str, float]:
    args = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        str(n),
        str(task_dir),
        server.base_url,
        server.api_key,
    ]
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"worker {mode} {n} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--restart-size", type=int, default=100_000)
    parser.add_argument("--worker", nargs=5, metavar=("MODE", "N", "DIR", "URL", "KEY"))
    args = parser.parse_args()
    if args.worker:
        mode, n, task_dir, url, key = args.worker
        print(json.dumps(worker(mode, int(n), task_dir, url, key)))
        return

    from batchwright.server import INSTANT, ServerConfig, run_server

    rows: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bw-bench-") as tmp:
        config = ServerConfig(data_dir=Path(tmp) / "server", speed=INSTANT)
        with run_server(config) as server:
            for n in args.sizes:
                for run in range(args.runs):
                    result = _run_worker("e2e", n, Path(tmp) / f"e2e-{n}-{run}", server)
                    assert result["succeeded"] == n, result
                    rows.setdefault(f"end-to-end {n:,}", []).append(result)
            if args.restart_size:
                server.set_faults({"batches": [{"kind": "stall", "after_requests": 0}]})
                for run in range(args.runs):
                    task = Path(tmp) / f"restart-{run}"
                    _run_worker("submit", args.restart_size, task, server)
                    rows.setdefault(f"restart, {args.restart_size:,} in flight", []).append(
                        _run_worker("restart", args.restart_size, task, server)
                    )
    table = {name: {key: statistics.median(r[key]for r in runs) for key in
                    ("cpu_s", "wall_s", "cpu_us_per_request", "peak_rss_mb")} | {"runs": len(runs)}
             for name, runs in rows.items()}  # fmt: skip
    print(f"{'workload':32} {'runs':>4} {'wall s':>8} {'cpu s':>8} {'cpu µs/req':>11} {'peak RSS MB':>12}")
    for name, m in table.items():
        print(f"{name:32} {m['runs']:>4} {m['wall_s']:>8.2f} {m['cpu_s']:>8.2f} "
              f"{m['cpu_us_per_request']:>11.1f} {m['peak_rss_mb']:>12.0f}")  # fmt: skip
    sizes = sorted((int(name.split()[-1].replace(",", "")), m["cpu_s"]) for name, m in table.items()
                   if name.startswith("end-to-end"))  # fmt: skip
    for (n0, c0), (n1, c1) in pairwise(sizes):
        print(f"marginal CPU per request {n0:,} → {n1:,}: {(c1 - c0) / (n1 - n0) * 1e6:.1f} µs")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps({"medians": table, "runs": rows}, indent=2))


if __name__ == "__main__":
    main()
