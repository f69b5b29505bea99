"""The benchmark report's tools: bench/procstat.py on real child processes, bench/report.py rendering."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from procstat import GNU_TIME, measure  # noqa: E402

pytestmark = pytest.mark.skipif(not GNU_TIME.exists(), reason="GNU time (/usr/bin/time) is not installed")


def test_measure_reports_the_child_alone(tmp_path):
    """CPU and peak RSS are the child's, not the (bigger) parent's; the exit code is passed through."""
    ballast = bytearray(150 * 1024 * 1024)  # this process: over 150 MiB resident
    ballast[::4096] = b"x" * len(ballast[::4096])
    code = "import time; x = bytearray(40 * 1024 * 1024); t = time.process_time()\n"
    code += "while time.process_time() - t < 0.3: pass\nraise SystemExit(3)"
    run = measure([sys.executable, "-c", code], tmp_path / "child.log")
    assert run.returncode == 3
    assert 0.25 <= run.cpu_s < 5
    assert 40 <= run.peak_rss_mb < 140  # the child's 40 MiB plus an interpreter, not this process's 150+
    assert run.wall_s >= run.cpu_s * 0.5 and run.stop_s is None
    del ballast


def test_measure_interrupts_with_sigint_even_when_started_with_sigint_ignored(tmp_path):
    """A benchmark started as 'nohup ... &' has SIGINT ignored; the measured child must still get it."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        code = "import time\ntry:\n    time.sleep(60)\nexcept KeyboardInterrupt:\n    raise SystemExit(7)"
        run = measure(
            [sys.executable, "-c", code], tmp_path / "child.log", interrupt_when=lambda: True, timeout=30
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert run.returncode == 7
    assert run.stop_s is not None and run.stop_s < 10


def test_report_renders_tables_and_readable_plots(tmp_path):
    """docs/benchmarks.md from saved results: ratios computed, targets judged, PNG plots written."""
    pytest.importorskip("matplotlib", reason="the plots need the 'bench' extra")
    from report import write_report

    def entry(**figures):
        return {"runs": 3, **figures, **{f"{k}_range": [v * 0.9, v * 1.1] for k, v in figures.items()}}

    medians = {
        "e2e|batchwright|10000": entry(
            cpu_us_per_request=250.0, peak_rss_mb=175.0, wall_s=13.0, load_avg_1m=9.0
        ),
        "e2e|seed|10000": entry(cpu_us_per_request=750.0, peak_rss_mb=270.0, wall_s=28.0, load_avg_1m=9.0),
        "e2e|batchwright|100000": entry(cpu_us_per_request=150.0, peak_rss_mb=180.0, wall_s=60.0),
        "e2e|seed|100000": entry(cpu_us_per_request=600.0, peak_rss_mb=1000.0, wall_s=200.0),
        "restart|batchwright|100000": entry(wall_s=2.0, inner_wall_s=0.5, cpu_s=1.5, peak_rss_mb=80.0),
        "restart|seed|100000": entry(wall_s=20.0, inner_wall_s=16.0, cpu_s=16.0, peak_rss_mb=250.0),
    }
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "vs_seed.json").write_text(json.dumps({"medians": medians, "runs": {}, "failures": []}))
    engine = {"medians": {"end-to-end 100,000": {"cpu_us_per_request": 120.0, "peak_rss_mb": 170.0}}}
    (run_dir / "engine.json").write_text(json.dumps(engine))
    step = {"command": "python bench/x.py", "started_utc": "2026-11-22 05:00:00", "seconds": 60.0,
            "returncode": 0, "load_avg_before": [9.0, 8.0, 7.0],
            "load_avg_after": [9.5, 8.0, 7.0]}  # fmt: skip
    manifest = {
        "command": "python bench/run_all.py",
        "machine": {"nproc": 2},
        "steps": {"vs_seed": step, "engine": step},
    }
    write_report(manifest, run_dir, tmp_path / "docs")
    text = (tmp_path / "docs" / "benchmarks.md").read_text()
    row = "| batch path end to end | 10,000 | CPU per request (µs, user+sys) | 3+3 | 250 (225–275) |"
    assert f"{row} 750 (675–825) | **0.333** |" in text
    row = "| restart with N in flight | 100,000 | wall time after imports (s) | 3+3 | 0.50 (0.45–0.55) |"
    assert f"{row} 16.0 (14.4–17.6) | **0.031** |" in text
    assert "| #3 | end-to-end 100,000: CPU at most 100 µs per request (in-process) | 120 | **no** |" in text
    for png in ("cpu_per_request.png", "peak_rss.png", "stop_restart.png"):
        data = (tmp_path / "docs" / "benchmarks" / png).read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 10_000
        assert f"(benchmarks/{png})" in text
