"""batchwright against the seed (gpt-batch-api 1.0.5) on the same workload, local server and run.

Every process is measured alone like GNU ``time -v`` (``procstat.measure``: user + sys CPU, peak RSS, wall
time from fork to exit, interpreter start-up and imports included). Scenarios, interleaved run by run so
slow phases of the shared machine hit both sides alike:

* ``e2e``: N requests through the batch path against the local server in instant mode (fresh task dir).
* ``stop``: N requests in flight (the server stalls every batch): SIGINT as soon as all N are remote
  (the seed: and its log says step 1 finished, i.e. its state is saved); time from signal to exit.
* ``restart``: reopen that task dir with N in flight and exit (``Engine.run(only_process=True,
  wait=False)`` / the seed's ``--no_run``), ``--runs`` times on the same dir.

``inner_wall_s`` is each program's own wall time after its imports (bench_engine's worker / the seed task's
``SEED_BENCH`` line).

batchwright runs ``bench_engine.py``'s worker (its settings and requests: gpt-4o-mini, max_tokens 400);
the seed runs ``seed_bench_task.py`` with the same model and token limit, 50,000 requests per batch.

    .venv/bin/python bench/bench_vs_seed.py [--sizes 10000 100000] [--runs 3] [--restart-sizes 10000 100000]

Prints a table of medians with batchwright/seed ratios; writes ``bench/results/vs_seed.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from procstat import measure
from seed import seed_command, seed_env, seed_python, seed_task_result

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
STALL = {"batches": [{"kind": "stall", "after_requests": 0}]}
SIDES = ("batchwright", "seed")
MODEL = "gpt-4o-mini"  # as bench_engine.py's requests (which also ask for at most 400 tokens)
FIGURES = ("cpu_s", "cpu_us_per_request", "wall_s", "inner_wall_s", "peak_rss_mb", "stop_s", "load_avg_1m")


class Remote:
    """What the local server holds: the requests in batches created since :meth:`mark`."""

    def __init__(self, server) -> None:
        self.http = httpx.Client(
            base_url=server.base_url, headers={"Authorization": f"Bearer {server.api_key}"}, timeout=60
        )
        self.known: set[str] = set()

    def _batches(self) -> list[dict[str, Any]]:
        batches, after = [], None
        while True:
            params = {"limit": 100} | ({"after": after} if after else {})
            page = self.http.get("/batches", params=params).raise_for_status().json()
            batches += page["data"]
            if not page.get("has_more"):
                return batches
            after = page["data"][-1]["id"]

    def mark(self) -> None:
        self.known = {batch["id"] for batch in self._batches()}

    def requests_in_new_batches(self) -> int:
        new = [b for b in self._batches() if b["id"] not in self.known]
        return sum((b.get("request_counts") or {}).get("total", 0) for b in new)


def ours(mode: str, n: int, task_dir: Path, server, interrupt_when=None) -> dict[str, Any]:
    """One bench_engine.py worker process (``e2e`` or ``restart``), measured from outside."""
    log = task_dir.with_suffix(f".{mode}.log")
    argv = [sys.executable, str(BENCH / "bench_engine.py"), "--worker", mode, str(n), str(task_dir),
            server.base_url, server.api_key]  # fmt: skip
    run = measure(argv, log, interrupt_when=interrupt_when, timeout=3600).as_dict()
    lines = log.read_text(errors="replace").strip().splitlines()
    if run["returncode"] != 0 or not lines:
        raise RuntimeError(
            f"batchwright {mode} {n} failed (exit {run['returncode']}):\n" + "\n".join(lines[-30:])
        )
    inside = json.loads(lines[-1])
    run["succeeded"], run["reason"], run["inner_wall_s"] = (
        inside["succeeded"],
        inside["reason"],
        inside["wall_s"],
    )
    if mode == "e2e" and interrupt_when is None and inside["succeeded"] != n:
        raise RuntimeError(f"batchwright e2e {n}: only {inside['succeeded']} succeeded")
    return run


def seed(mode: str, n: int, task_dir: Path, env: dict[str, str], interrupt_when=None) -> dict[str, Any]:
    """One seed_bench_task.py process (``e2e``, or ``restart`` = ``--no_run``), measured from outside."""
    log = task_dir.with_suffix(f".seed-{mode}.log")
    args = ["--n", str(n), "--task_dir", str(task_dir), "--no_wandb", "--max_batch_requests", "50000",
            "--remote_update_interval", "1", "--model", MODEL, "--max_completion_tokens", "400"]  # fmt: skip
    if mode == "restart":
        args.append("--no_run")
    run = measure(seed_command(*args), log, env=env, interrupt_when=interrupt_when, timeout=3600).as_dict()
    text = log.read_text(errors="replace")
    done = seed_task_result(text)
    run["inner_wall_s"] = None if done is None else done[1]
    interrupted = interrupt_when is not None
    if not interrupted and (run["returncode"] != 0 or done is None):
        raise RuntimeError(f"seed {mode} {n} failed (exit {run['returncode']}):\n{text[-3000:]}")
    if mode == "e2e" and not interrupted:
        rows = sum(1 for _ in (task_dir / "seed_bench_output.jsonl").open())
        if rows != n or not (done and done[0]):
            raise RuntimeError(f"seed e2e {n}: {rows} output rows, all_done={done}")
    return run


def when_remote(remote: Remote, n: int, log: Path | None = None) -> Callable[[], bool]:
    """A check for ``measure``: all ``n`` requests are in new remote batches (and the seed's step 1 ended)."""

    def check() -> bool:
        if log is not None and (not log.exists() or b"Finished step 1" not in log.read_bytes()):
            return False
        return remote.requests_in_new_batches() >= n

    return check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="end-to-end sizes")
    parser.add_argument("--runs", type=int, default=3, help="runs per scenario (medians are reported)")
    parser.add_argument("--restart-sizes", type=int, nargs="*", default=[10_000, 100_000])
    args = parser.parse_args()
    if seed_python() is None:
        raise SystemExit("the seed needs Python 3.12 (pyenv 3.12.1); nothing to compare")
    from batchwright.server import INSTANT, ServerConfig, run_server

    runs: dict[str, list[dict[str, Any]]] = {}
    failures: list[str] = []

    def record(scenario: str, side: str, n: int, measure_once: Callable[[], dict[str, Any]]) -> bool:
        """Measure (a second try if the first fails: the tree is shared and may be mid-edit); save at once."""
        for attempt in (1, 2):
            try:
                run = measure_once()
                break
            except RuntimeError as error:
                print(f"{scenario} {side} {n}: attempt {attempt} failed: {str(error)[-1500:]}", flush=True)
        else:
            failures.append(f"{scenario} {side} {n}")
            save(runs, failures)
            return False
        run["cpu_us_per_request"] = run["cpu_s"] / n * 1e6
        runs.setdefault(f"{scenario}|{side}|{n}", []).append(run)
        shown = " ".join(f"{k}={run[k]:.2f}" for k in FIGURES if run.get(k) is not None)
        print(f"{scenario:8} {side:12} {n:>8} {shown}", flush=True)
        save(runs, failures)
        return True

    with tempfile.TemporaryDirectory(prefix="bw-vs-seed-") as tmp:
        work = Path(tmp)
        with run_server(ServerConfig(data_dir=work / "server", speed=INSTANT)) as server:
            env = seed_env(server.base_url, server.api_key)
            for run in range(args.runs):
                for n in args.sizes:
                    for side in SIDES:
                        task = work / f"e2e-{side}-{n}-{run}"

                        def once(task=task, n=n, side=side) -> dict[str, Any]:
                            shutil.rmtree(task, ignore_errors=True)
                            if side == "batchwright":
                                return ours("e2e", n, task, server)
                            return seed("e2e", n, task, env)

                        record("e2e", side, n, once)
                        shutil.rmtree(task, ignore_errors=True)
        with run_server(ServerConfig(data_dir=work / "stalling", speed=INSTANT)) as server:
            server.set_faults(STALL)
            env = seed_env(server.base_url, server.api_key)
            remote = Remote(server)
            for n in args.restart_sizes:
                for side in SIDES:
                    task = work / f"restart-{side}-{n}"

                    def stop(task=task, n=n, side=side) -> dict[str, Any]:
                        shutil.rmtree(task, ignore_errors=True)
                        remote.mark()
                        if side == "batchwright":
                            return ours("e2e", n, task, server, when_remote(remote, n))
                        log = task.with_suffix(".seed-e2e.log")
                        return seed("e2e", n, task, env, when_remote(remote, n, log))

                    def restart(task=task, n=n, side=side) -> dict[str, Any]:
                        if side == "batchwright":
                            return ours("restart", n, task, server)
                        return seed("restart", n, task, env)

                    if record("stop", side, n, stop):
                        for _ in range(args.runs):
                            record("restart", side, n, restart)
                    shutil.rmtree(task, ignore_errors=True)
    print(summarise(runs)["table"])
    if failures:
        print("FAILED (no figures): " + ", ".join(failures))


def save(runs: dict[str, list[dict[str, Any]]], failures: list[str]) -> None:
    """Write ``bench/results/vs_seed.json``, after every measurement (a cut run keeps its data)."""
    RESULTS.mkdir(exist_ok=True)
    report = {"medians": summarise(runs)["medians"], "runs": runs, "failures": failures}
    (RESULTS / "vs_seed.json").write_text(json.dumps(report, indent=2))


def summarise(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Medians (with min and max) per scenario, side and size, and the printed table with ratios."""
    medians: dict[str, dict[str, Any]] = {}
    for key, rows in runs.items():
        entry: dict[str, Any] = {"runs": len(rows)}
        for figure in FIGURES:
            values = [row[figure] for row in rows if row.get(figure) is not None]
            if values:
                entry[figure] = statistics.median(values)
                entry[f"{figure}_range"] = [min(values), max(values)]
        medians[key] = entry
    lines = [f"{'scenario':8} {'N':>8} {'figure':20} {'batchwright':>12} {'seed':>12} {'bw/seed':>8}"]
    for key in medians:
        scenario, side, n = key.split("|")
        other = medians.get(f"{scenario}|seed|{n}")
        if side != "batchwright" or other is None:
            continue
        for figure in ("cpu_us_per_request", "wall_s", "inner_wall_s", "peak_rss_mb", "stop_s"):
            ours_value, seed_value = medians[key].get(figure), other.get(figure)
            if ours_value is None or seed_value is None:
                continue
            lines.append(f"{scenario:8} {n:>8} {figure:20} {ours_value:>12.2f} {seed_value:>12.2f} "
                         f"{ours_value / seed_value:>8.3f}")  # fmt: skip
    return {"medians": medians, "table": "\n".join(lines)}


if __name__ == "__main__":
    main()
