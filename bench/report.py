"""The benchmark report: ``docs/benchmarks.md`` and its PNG plots, from ``bench/run_all.py``'s results.

Nothing here measures; every figure comes from the JSON files the benchmark scripts wrote.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

from seed import SEED_PYTHON

BENCH = Path(__file__).resolve().parent
PLOT_DIR = "benchmarks"  # under docs/
FIGURE_NAMES = {
    "cpu_us_per_request": "CPU per request (µs, user+sys)",
    "cpu_s": "CPU user+sys (s)",
    "wall_s": "wall time, whole process (s)",
    "inner_wall_s": "wall time after imports (s)",
    "peak_rss_mb": "peak RSS (MiB)",
    "stop_s": "SIGINT to exit (s)",
}
SCENARIOS = {
    "e2e": "batch path end to end",
    "stop": "stop with N in flight",
    "restart": "restart with N in flight",
}
ROWS = (
    ("e2e", ("cpu_us_per_request", "peak_rss_mb", "wall_s")),
    ("stop", ("stop_s",)),
    ("restart", ("wall_s", "inner_wall_s", "cpu_s", "peak_rss_mb")),
)

NOISE = """This is a shared 2-core machine: while these figures were taken, about seven engineers were running
test suites and their own benchmarks on the same cores, so the load average (printed with every figure: the
1-minute value when the measured process ended, or before and after each step) was at times far above 2;
steps re-run when the machine was quieter are listed above, with their time and load. CPU time
(user + sys of the measured process alone) is the figure least disturbed by that; wall times and throughput
are inflated by it, and more for the side that needs more CPU. batchwright and seed runs are interleaved run
by run, so both sides see the same load. Every figure is the median of the runs shown (min–max in brackets);
the local server runs on the same cores and its CPU is not counted."""
COMPARISON = """Same workload (one chat request per item, `gpt-4o-mini`, at most 400 output tokens,
50,000 requests per batch), the same local server (`batchwright serve` in instant mode), the same run.
Each process is measured alone with GNU `time` (user + sys CPU, peak RSS; wall from start to exit),
interpreter start-up and
imports included on both sides (`bench/bench_vs_seed.py`; the direct rows come from `bench/bench_direct.py`).
A ratio below 1 means batchwright needs less; for requests/s, above 1 means batchwright is faster. Load
average column: batchwright / seed."""
RESTART = """Stop: the server stalls every batch; SIGINT goes to the process once all N requests are in remote
batches (for the seed, also once its log says step 1 finished, i.e. its state is saved). The seed's restart is
`--no_run` (load and check its state, then exit); batchwright's is opening the task and
`Engine.run(only_process=True, wait=False)` (one poll of the in-flight batches, then exit). The seed is not
run at 1M requests (it is known to need more than 15 minutes there:
`shared/reference/seed_perf_baseline.md`). Whole-process CPU includes each side's fixed start-up (interpreter
and imports: the restart rows' CPU is mostly that, about 1.3 s for batchwright and 1.2 s for the seed's
floor), which weighs on the 10,000-request rows; `bench/bench_engine.py`'s in-process figures below leave it
out."""


def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, OS, Python versions (ours and the seed's), git commit."""
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")), platform.processor() or "unknown",
    )  # fmt: skip
    mem_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    info = {
        "cpu_model": cpu,
        "nproc": len(os.sched_getaffinity(0)),
        "memory_gib": round(mem_kb / 1024**2, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "commit": _run(["git", "rev-parse", "--short", "HEAD"]),
    }
    if SEED_PYTHON.exists():
        probe = "import platform, importlib.metadata as m; "
        probe += "print(platform.python_version(), m.version('gpt-batch-api'))"
        info["seed_python"], info["seed_version"] = (_run([str(SEED_PYTHON), "-c", probe]) or "? ?").split()
    return info


def _run(argv: list[str]) -> str | None:
    done = subprocess.run(argv, capture_output=True, text=True, cwd=BENCH, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def _load(run_dir: Path, name: str) -> dict[str, Any] | None:
    path = run_dir / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.{digits}f}"


def _cell(entry: dict[str, Any], figure: str) -> str:
    value = entry.get(figure)
    low_high = entry.get(f"{figure}_range")
    if value is None:
        return "–"
    if low_high and entry.get("runs", 1) > 1:
        return f"{_num(value)} ({_num(low_high[0])}–{_num(low_high[1])})"
    return _num(value)


def comparison_table(vs_seed: dict[str, Any] | None, direct: dict[str, Any] | None) -> list[str]:
    """Markdown rows: batchwright against the seed, medians (min–max), ratio, load average."""
    lines = [
        "| workload | N | figure | runs | batchwright median (min–max) | seed median (min–max) "
        "| batchwright / seed | load avg 1 min (median) |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    medians = (vs_seed or {}).get("medians", {})
    sizes = sorted({int(key.split("|")[2]) for key in medians})
    for scenario, figures in ROWS:
        for n in sizes:
            ours, seed = medians.get(f"{scenario}|batchwright|{n}"), medians.get(f"{scenario}|seed|{n}")
            if ours is None or seed is None:
                continue
            load = f"{_num(ours.get('load_avg_1m'), 1)} / {_num(seed.get('load_avg_1m'), 1)}"
            for figure in figures:
                a, b = ours.get(figure), seed.get(figure)
                ratio = f"**{a / b:.3f}**" if a is not None and b else "–"
                lines.append(
                    f"| {SCENARIOS[scenario]} | {n:,} | {FIGURE_NAMES[figure]} "
                    f"| {ours['runs']}+{seed['runs']} | {_cell(ours, figure)} "
                    f"| {_cell(seed, figure)} | {ratio} | {load} |"
                )
    for failed in (vs_seed or {}).get("failures", []):
        lines.append(f"| {failed}: **failed twice, no figure** (see the vs_seed step's log) | | | | | | | |")
    summary = (direct or {}).get("summary", {})
    for ours_key, seed_key, label in (
        ("limited", "seed-200ms", "direct path, 200 ms latency (ours: 3,000 RPM limit, concurrency 64)"),
        ("unlimited", "seed-0ms", "direct path, 0 ms latency (ours: no limit, concurrency 64)"),
    ):
        ours, seed = summary.get(ours_key), summary.get(seed_key)
        if ours and seed:
            ratio = ours["median_requests_per_s"] / seed["median_requests_per_s"]
            cell = lambda s: f"{_num(s['median_requests_per_s'])} ({_num(s['min'])}–{_num(s['max'])})"  # noqa: E731
            scenarios = direct.get("scenarios", {})
            runs = {k: len(v) for k, v in scenarios.items()}
            lines.append(
                f"| {label} | {scenarios[ours_key][0]['n']:,} / {scenarios[seed_key][0]['n']:,} "
                f"| requests/s | {runs.get(ours_key, '?')}+{runs.get(seed_key, '?')} "
                f"| {cell(ours)} | {cell(seed)} | **{ratio:.1f}** | see direct step |"
            )
    return lines


def plot_comparison(
    vs_seed: dict[str, Any] | None, engine_runs: list[dict[str, Any]], out_dir: Path
) -> list[str]:
    """PNG plots (per-request CPU and peak RSS against task size; stop/restart times); returns their names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    medians = (vs_seed or {}).get("medians", {})
    out_dir.mkdir(parents=True, exist_ok=True)
    names = []
    for figure, title, filename in (
        ("cpu_us_per_request", "CPU time per request (user+sys) against task size", "cpu_per_request.png"),
        ("peak_rss_mb", "Peak RSS against task size", "peak_rss.png"),
    ):
        fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=110)
        for side, style in (("batchwright", "o-"), ("seed", "s-")):
            points = sorted(
                (int(key.split("|")[2]), entry) for key, entry in medians.items()
                if key.startswith(f"e2e|{side}|")
            )  # fmt: skip
            if not points:
                continue
            xs = [n for n, _ in points]
            ys = [entry[figure] for _, entry in points]
            low = [
                y - entry.get(f"{figure}_range", [y, y])[0] for y, (_, entry) in zip(ys, points, strict=True)
            ]
            high = [
                entry.get(f"{figure}_range", [y, y])[1] - y for y, (_, entry) in zip(ys, points, strict=True)
            ]
            label = "batchwright (whole process)" if side == "batchwright" else "seed gpt-batch-api 1.0.5"
            ax.errorbar(xs, ys, yerr=[low, high], fmt=style, capsize=4, label=label)
            for x, y in zip(xs, ys, strict=True):
                ax.annotate(_num(y, 0 if y >= 10 else 1), (x, y), textcoords="offset points", xytext=(6, 6))
        by_size: dict[int, list[float]] = {}
        for run in engine_runs:
            by_size.setdefault(run["requests"], []).append(run[figure])
        inner = sorted((n, statistics.median(values)) for n, values in by_size.items())
        if inner:
            ax.plot([n for n, _ in inner], [v for _, v in inner], "^--", color="tab:green",
                    label="batchwright in-process, median (bench_engine.py)")  # fmt: skip
            for n, v in inner:
                ax.annotate(_num(v, 0 if v >= 10 else 1), (n, v), textcoords="offset points", xytext=(6, -14))
        ax.set_xscale("log")
        ax.set_xlabel("requests in the task (log scale)")
        ax.set_ylabel(FIGURE_NAMES[figure])
        ax.set_ylim(bottom=0)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / filename)
        plt.close(fig)
        names.append(filename)
    bars = [
        (f"{label}\n{int(key.split('|')[2]):,} in flight", f"{s}|{{side}}|{key.split('|')[2]}", figure)
        for s, figure, label in (
            ("stop", "stop_s", "stop (SIGINT to exit)"),
            ("restart", "wall_s", "restart, whole process"),
            ("restart", "inner_wall_s", "restart, after imports"),
        )
        for key in medians
        if key.startswith(f"{s}|batchwright|")
    ]
    if bars:
        fig, ax = plt.subplots(figsize=(9, 4.8), dpi=110)
        width = 0.38
        for offset, side in ((-width / 2, "batchwright"), (width / 2, "seed")):
            values = [medians.get(key.format(side=side), {}).get(figure) or 0 for _, key, figure in bars]
            positions = [i + offset for i in range(len(bars))]
            ax.bar(
                positions, values, width, label=side if side == "batchwright" else "seed gpt-batch-api 1.0.5"
            )
            for x, v in zip(positions, values, strict=True):
                ax.annotate(_num(v), (x, v), ha="center", textcoords="offset points", xytext=(0, 3))
        ax.set_xticks(range(len(bars)), [label for label, _, _ in bars], fontsize=8)
        ax.set_ylabel("seconds (wall)")
        ax.set_title("Stop (SIGINT to exit) and restart with requests in flight")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out_dir / "stop_restart.png")
        plt.close(fig)
        names.append("stop_restart.png")
    return names


def _flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for key, sub in value.items() if not key.endswith("_range")
                for item in _flat(f"{prefix}{key} / ", sub)]  # fmt: skip
    return [(prefix.rstrip(" /"), value)]


def targets_table(results: dict[str, dict[str, Any] | None]) -> list[str]:
    """Markdown rows: the performance targets named in the issues against the medians measured here."""
    rows: list[tuple[str, str, float | None, bool | None]] = []
    server = (results.get("server") or {}).get("medians", {})
    if server:
        v = server.get("validate_and_complete_s")
        rows.append(
            ("#2", "50,000-line batch validated and completed in under 10 s", v, v is not None and v < 10)
        )
        v = server.get("direct_req_per_s")
        rows.append(
            ("#2", "direct chat completions over 1,000 requests/s (server)", v, v is not None and v > 1000)
        )
    engine = (results.get("engine") or {}).get("medians", {})
    for name, m in engine.items():
        if name.startswith("end-to-end"):
            v = m["cpu_us_per_request"]
            rows.append(("#3", f"{name}: CPU at most 100 µs per request (in-process)", v, v <= 100))
            v = m["peak_rss_mb"]
            rows.append(("#3", f"{name}: peak RSS under 300 MB", v, v < 300))
    for name, m in engine.items():
        if name.startswith("restart"):
            v = m["wall_s"]
            rows.append(("#3", f"{name}: restart under 1 s (in-process wall)", v, v < 1))
    million = (results.get("engine_1m") or {}).get("medians", {})
    for name, m in million.items():
        v = m["cpu_us_per_request"]
        rows.append(("#3", f"{name}: CPU at most 100 µs per request (in-process)", v, v <= 100))
        v = m["peak_rss_mb"]
        rows.append(("#3", f"{name}: peak RSS under 300 MB, not growing with size", v, v < 300))
        if engine.get("end-to-end 10,000"):
            v = m["cpu_us_per_request"] / engine["end-to-end 10,000"]["cpu_us_per_request"]
            rows.append(("#3", f"CPU per request flat: {name} / end-to-end 10,000 (≤ ~1.2)", v, v <= 1.2))
    direct = (results.get("direct") or {}).get("summary", {})
    if "limited" in direct:
        v = direct["limited"]["median_rpm"]
        rows.append(
            ("#5", "direct, 200 ms latency, 3,000 RPM: at least 90% of the limit (RPM)", v, v >= 2700)
        )
    if "unlimited" in direct:
        v = direct["unlimited"]["median_requests_per_s"]
        rows.append(("#5", "direct, no limit, concurrency 64: at least 250 requests/s", v, v >= 250))
    lines = ["| issue | target | median measured | met |", "|---|---|---:|---|"]
    lines += [f"| {i} | {t} | {_num(v)} | {'yes' if ok else '**no**'} |" for i, t, v, ok in rows]
    return lines


def medians_table(medians: dict[str, dict[str, Any]]) -> list[str]:
    """Markdown: every median of the seed comparison, one row per scenario, side and size."""
    figures = (
        "cpu_s",
        "cpu_us_per_request",
        "wall_s",
        "inner_wall_s",
        "peak_rss_mb",
        "stop_s",
        "load_avg_1m",
    )
    lines = [
        "| scenario | side | N | runs | "
        + " | ".join(FIGURE_NAMES.get(f, "load avg 1 min") for f in figures)
        + " |",
        "|---|---|---:|---:|" + "---:|" * len(figures),
    ]
    for key, entry in medians.items():
        scenario, side, n = key.split("|")
        cells = " | ".join(_num(entry.get(f)) for f in figures)
        lines.append(f"| {scenario} | {side} | {int(n):,} | {entry['runs']} | {cells} |")
    return lines


def step_section(name: str, step: dict[str, Any], result: dict[str, Any] | None) -> list[str]:
    """Markdown: one benchmark script's command, timing, load and every median it reported."""
    lines = [
        f"### {name}",
        "",
        f"`{step['command']}` — started {step['started_utc']} UTC"
        + (f" at commit `{step['commit']}`" if step.get("commit") else "")
        + f", {step['seconds']:.0f} s, "
        f"exit {step['returncode']}, "
        f"load average (1/5/15 min) before {'/'.join(f'{x:.1f}' for x in step['load_avg_before'])}, "
        f"after {'/'.join(f'{x:.1f}' for x in step['load_avg_after'])}.",
        "",
    ]
    if step.get("error"):
        lines += ["The script failed; end of its output:", "", "```", step["error"], "```", ""]
    if result is None:
        return [*lines, "No result.", ""]
    if name == "vs_seed":
        return [*lines, *medians_table(result.get("medians", {})), ""]
    data = result.get("medians") or result.get("summary") or result
    lines += ["| measure (median) | value |", "|---|---:|"]
    lines += [f"| {key} | {_num(v) if isinstance(v, float) else v} |" for key, v in _flat("", data)]
    return [*lines, ""]


def write_report(manifest: dict[str, Any], run_dir: Path, docs: Path) -> None:
    """Write ``docs/benchmarks.md`` and ``docs/benchmarks/*.png`` from the saved results of a run."""
    results = {name: _load(run_dir, name) for name in manifest.get("steps", {})}
    engine_runs = [
        run for name in ("engine", "engine_1m")
        for label, runs in ((results.get(name) or {}).get("runs") or {}).items()
        if label.startswith("end-to-end") for run in runs
    ]  # fmt: skip
    plots = plot_comparison(results.get("vs_seed"), engine_runs, docs / PLOT_DIR)
    m = manifest.get("machine", {})
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{manifest.get('command', '')}` (run from the repository root), started "
        f"{manifest.get('started_utc', '?')}, last step finished {manifest.get('finished_utc', '?')}, "
        f"HEAD at the last step `{m.get('commit')}`. Do not edit the figures by hand: re-run the command. "
        "Raw per-run figures: `bench/results/run_all/*.json` (not committed).",
        *(
            ["", "Steps re-run afterwards (their sections show when): " + "; ".join(manifest["reruns"]) + "."]
            if manifest.get("reruns")
            else []
        ),
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {m.get('cpu_model')}, {m.get('nproc')} cores available (`nproc`) |",
        f"| memory | {m.get('memory_gib')} GiB |",
        f"| OS | {m.get('os')} |",
        f"| Python (batchwright) | {m.get('python')} |",
        f"| Python (seed) | {m.get('seed_python', 'not available')}, "
        f"gpt-batch-api {m.get('seed_version', '–')} |",
        "",
        "## Noise",
        "",
        NOISE,
        "",
        "## batchwright against the seed (gpt-batch-api 1.0.5)",
        "",
        COMPARISON,
        "",
        *comparison_table(results.get("vs_seed"), results.get("direct")),
        "",
        RESTART,
        "",
        *[f"![{name}]({PLOT_DIR}/{name})\n" for name in plots],
        "## Targets from the issues",
        "",
        "In-process figures from `bench/bench_engine.py` (CPU and wall after imports, as its worker says).",
        "",
        *targets_table(results),
        "",
        "## Every benchmark",
        "",
    ]
    for name, step in manifest.get("steps", {}).items():
        lines += step_section(name, step, results.get(name))
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "benchmarks.md").write_text("\n".join(lines) + "\n")
