"""The progress view on a real task directory: live panel, plain log lines, rate and ETA."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from batchwright.monitor.progress import ProgressView, choose_mode
from batchwright.monitor.snapshot import read_snapshot
from batchwright.tasks.loader import load_task_class
from batchwright.tasks.run import run_task

Words = load_task_class(f"{Path(__file__).parents[1] / 'tasks' / 'sample_tasks.py'}:Words")


@pytest.fixture
def finished_task(tmp_path: Path, local_server: Any) -> Path:
    task_dir = tmp_path / "t"
    run_task(
        Words(12), task_dir, base_url=local_server.base_url, api_key=local_server.api_key,
        poll_interval=0.05, min_batch_requests=1,
    )  # fmt: skip
    return task_dir


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, force_terminal=terminal, width=200, color_system=None), buffer


def test_mode_choice() -> None:
    assert choose_mode("auto", console(True)[0]) == "live"
    assert choose_mode("auto", console(False)[0]) == "plain"
    assert choose_mode("quiet", console(True)[0]) == "quiet"
    with pytest.raises(ValueError):
        choose_mode("fancy", console(True)[0])


def test_live_panel_shows_every_state(finished_task: Path) -> None:
    out, buffer = console(True)
    with ProgressView(finished_task, mode="live", console=out, interval=0.05):
        pass
    text = buffer.getvalue()
    assert "batchwright · words" in text
    assert "12/12 done" in text and "12 succeeded" in text and "0 failed" in text
    for state in ("validating", "in progress", "finalizing"):
        assert f"0 {state}" in text
    assert "2 done" in text  # committed batches
    assert "$" in text and "predicted" in text


def test_plain_log_line(finished_task: Path) -> None:
    out, buffer = console(False)
    with ProgressView(finished_task, mode="plain", console=out, interval=0.05):
        pass
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("[0s] items 12/12 done (12 ok, 0 failed)")
    assert "4 retries" in lines[0] and "batches none open" in lines[0]


def test_rate_and_eta_from_two_snapshots(finished_task: Path) -> None:
    view = ProgressView(finished_task, mode="quiet")
    first = read_snapshot(finished_task)
    first.items = {"succeeded": 2, "committed": 10}
    first.taken_at -= 2.0
    view._first, view.snapshot = first, read_snapshot(finished_task)
    rate, eta = view.rate_and_eta()
    assert rate == pytest.approx(5.0, rel=0.05) and eta == pytest.approx(0.0)
    assert "items/s" in view.line()


def test_missing_directory_is_not_an_error(tmp_path: Path) -> None:
    out, buffer = console(False)
    with ProgressView(tmp_path / "nothing-yet", mode="plain", console=out, interval=0.05):
        pass
    assert "starting" in buffer.getvalue()


def test_direct_rates_against_limits(finished_task: Path) -> None:
    from batchwright.engine.direct import DirectStats

    out, buffer = console(True)
    with ProgressView(finished_task, mode="live", console=out, interval=0.05) as view:
        assert view.direct_line() is None  # no direct request sent yet
        view.direct_progress(DirectStats(sent=5, in_flight=2, rpm=1200, tpm=50000, rpm_limit=3000))
    text = buffer.getvalue()
    assert "1,200/3,000 RPM" in text and "50,000 TPM" in text and "2 in flight" in text
