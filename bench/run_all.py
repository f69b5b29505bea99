"""Run every benchmark in ``bench/`` and write the report ``docs/benchmarks.md`` (tables and PNG plots).

    .venv/bin/python bench/run_all.py [--quick] [--with-1m] [--only vs_seed direct ...] [--report-only]

Each benchmark script runs as its own process with the parameters below (``--quick``: 1 run, smaller
sizes); its output goes to ``bench/results/run_all/<name>.log`` and its JSON is copied beside it, with the
time, duration and load averages of the step in ``manifest.json``. The report is rewritten after every
step, so an interrupted run still leaves a report of what finished. ``--report-only`` re-renders the report
from the saved results. The seed comparison needs Python 3.12 (pyenv) and creates ``bench/.seed-venv``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from report import machine_info, write_report

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
RUN_DIR = RESULTS / "run_all"


@dataclass(frozen=True)
class Step:
    """One benchmark script, its arguments (full and quick) and the JSON it writes in ``bench/results``."""

    name: str
    script: str
    full: tuple[str, ...]
    quick: tuple[str, ...]
    result: str  # the JSON file the script writes in bench/results


STEPS = (
    Step("vs_seed", "bench_vs_seed.py",
         ("--sizes", "10000", "100000", "--runs", "3", "--restart-sizes", "10000", "100000"),
         ("--sizes", "2000", "10000", "--runs", "1", "--restart-sizes", "10000"), "vs_seed.json"),
    Step("direct", "bench_direct.py", ("--runs", "3", "--out", "bench/results/bench_direct.json"),
         ("--runs", "1", "--limited-n", "300", "--unlimited-n", "1000", "--seed-n", "20",
          "--out", "bench/results/bench_direct.json"), "bench_direct.json"),
    Step("server", "bench_server.py", ("--runs", "3"),
         ("--runs", "1", "--lines", "10000", "--requests", "5000"), "bench_server.json"),
    Step("engine", "bench_engine.py",
         ("--sizes", "10000", "100000", "--runs", "3", "--restart-size", "100000"),
         ("--sizes", "10000", "--runs", "1", "--restart-size", "10000"), "engine.json"),
    Step("tokens", "bench_tokens.py", ("--runs", "5"), ("--runs", "1", "--calls", "1000", "--lines", "5000"),
         "tokens.json"),
    Step("engine_1m", "bench_engine.py", ("--sizes", "1000000", "--runs", "1", "--restart-size", "0"),
         ("--sizes", "100000", "--runs", "1", "--restart-size", "0"), "engine.json"),
)  # fmt: skip


def run_step(step: Step, quick: bool) -> dict:
    """Run one script; copy its JSON into the run directory; return the step's record for the manifest."""
    args = step.quick if quick else step.full
    argv = [sys.executable, str(BENCH / step.script), *args]
    log = RUN_DIR / f"{step.name}.log"
    record = {
        "command": " ".join([".venv/bin/python", f"bench/{step.script}", *args]),
        "started_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "load_avg_before": os.getloadavg(),
        "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                 cwd=ROOT, check=False).stdout.strip(),
    }  # fmt: skip
    print(f"[{record['started_utc']}] {step.name}: {record['command']}", flush=True)
    started = time.time()
    with log.open("w") as out:
        done = subprocess.run(argv, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, check=False)
    record |= {
        "seconds": time.time() - started,
        "returncode": done.returncode,
        "load_avg_after": os.getloadavg(),
    }
    produced = RESULTS / step.result
    if produced.exists() and produced.stat().st_mtime >= started:  # also a failed step's partial results
        shutil.copyfile(produced, RUN_DIR / f"{step.name}.json")
    else:
        (RUN_DIR / f"{step.name}.json").unlink(missing_ok=True)
    if done.returncode != 0:
        record["error"] = log.read_text(errors="replace")[-1500:]
    print(f"    exit {done.returncode} after {record['seconds']:.0f} s", flush=True)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 run of each benchmark, smaller sizes")
    parser.add_argument("--with-1m", action="store_true", help="also batchwright end to end at 1M requests")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in STEPS], help="run only these steps")
    parser.add_argument("--report-only", action="store_true", help="re-render the report from saved results")
    args = parser.parse_args()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    manifest_path = RUN_DIR / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {"steps": {}}
    if not args.report_only:
        command = " ".join([".venv/bin/python", "bench/run_all.py", *sys.argv[1:]])
        now = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        if args.only:  # re-running some steps (e.g. when the machine is quieter) keeps the others
            manifest.setdefault("reruns", []).append(f"`{command}` at {now}")
        else:  # a full invocation starts a fresh report
            manifest = {"steps": {}, "command": command, "quick": args.quick, "started_utc": now}
            for old in RUN_DIR.glob("*.json"):
                old.unlink()
        manifest["machine"] = machine_info()
        for step in STEPS:
            if args.only and step.name not in args.only:
                continue
            if step.name == "engine_1m" and not args.with_1m and not (args.only and "engine_1m" in args.only):
                continue
            manifest["steps"][step.name] = run_step(step, args.quick)
            manifest["finished_utc"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
            manifest_path.write_text(json.dumps(manifest, indent=2))
            write_report(manifest, RUN_DIR, ROOT / "docs")
    write_report(manifest, RUN_DIR, ROOT / "docs")
    print(f"wrote {ROOT / 'docs' / 'benchmarks.md'}")
    return 0 if all(s.get("returncode") == 0 for s in manifest["steps"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
