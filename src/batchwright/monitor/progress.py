"""The progress view of a run: a live rich panel on a terminal, one log line at a time otherwise.

A background thread reads a :class:`~batchwright.monitor.snapshot.TaskSnapshot` through its own
read-only connection and backs off when reading gets slow (big tasks), so watching a run never slows
it down noticeably. Items, requests and batches are shown by state — remote ``validating``,
``in_progress`` and ``finalizing`` distinctly — with spend (predicted and true), rate and ETA.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Literal

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from batchwright.engine.direct import DirectStats
from batchwright.errors import BatchwrightError
from batchwright.monitor.snapshot import REMOTE_ACTIVE, TaskSnapshot, read_snapshot

Mode = Literal["live", "plain", "quiet"]


def choose_mode(requested: str, console: Console) -> Mode:
    """``auto`` becomes ``live`` on a terminal and ``plain`` otherwise."""
    if requested == "auto":
        return "live" if console.is_terminal else "plain"
    if requested not in ("live", "plain", "quiet"):
        raise ValueError(f"unknown progress mode {requested!r}")
    return requested  # type: ignore[return-value]


class ProgressView:
    """Watch ``task_dir`` while a run goes on (use as a context manager around the run)."""

    def __init__(
        self,
        task_dir: Path,
        *,
        mode: Mode = "live",
        console: Console | None = None,
        interval: float = 0.5,
        log_interval: float = 3.0,
    ) -> None:
        self.task_dir = Path(task_dir)
        self.mode = mode
        self.console = console or Console(stderr=True)
        self.interval = interval
        self.log_interval = log_interval
        self.started = time.monotonic()
        self.snapshot: TaskSnapshot | None = None
        self.direct: DirectStats | None = None
        self._first: TaskSnapshot | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._live: Live | None = None
        self._last_line = ""
        self._last_log = 0.0

    def __enter__(self) -> ProgressView:
        if self.mode == "quiet":
            return self
        self.refresh()
        if self.mode == "live":
            self._live = Live(
                get_renderable=self.render, console=self.console, refresh_per_second=4, transient=False
            )
            self._live.start()
        self._thread = threading.Thread(target=self._poll, name="batchwright-progress", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self.mode == "quiet":
            return
        self.refresh()
        if self._live is not None:
            self._live.stop()
        elif self.mode == "plain":
            self._log(force=True)

    def direct_progress(self, stats: DirectStats) -> None:
        """Take the direct path's live numbers (the engine calls this after each commit)."""
        self.direct = stats

    def direct_line(self) -> str | None:
        """Direct-path rates against their limits, once direct requests were sent this run."""
        d = self.direct
        if d is None or not d.sent:
            return None

        def against(value: float, limit: float | None) -> str:
            return f"{value:,.0f}" + ("" if limit is None else f"/{limit:,.0f}")

        return (
            f"{against(d.rpm, d.rpm_limit)} RPM · {against(d.tpm, d.tpm_limit)} TPM · {d.in_flight} in flight"
            f" · {d.transient_errors} transient errors absorbed"
        )

    def refresh(self) -> None:
        """Read a fresh snapshot (a task directory without a database yet is simply not shown)."""
        try:
            snap = read_snapshot(self.task_dir)
        except (BatchwrightError, sqlite3.Error):
            return
        if self._first is None:
            self._first = snap
        self.snapshot = snap

    def _poll(self) -> None:
        pause = self.interval
        while not self._stop.wait(pause):
            began = time.monotonic()
            self.refresh()
            took = time.monotonic() - began
            pause = max(self.interval, 10 * took)  # reading must stay a small share of the time
            if self.mode == "plain":
                self._log()

    # --- rendering ----------------------------------------------------------------------------
    def rate_and_eta(self) -> tuple[float | None, float | None]:
        """Items finished per second during this run, and the seconds left at that rate."""
        snap, first = self.snapshot, self._first
        if snap is None or first is None:
            return None, None
        elapsed = snap.taken_at - first.taken_at
        done = snap.items_done - first.items_done
        if elapsed <= 0 or done <= 0:
            return None, None
        rate = done / elapsed
        left = snap.items_total - snap.items_done
        return rate, left / rate

    def line(self) -> str:
        """The one-line summary used by the plain log mode."""
        snap = self.snapshot
        if snap is None:
            return "starting…"
        items = snap.items
        req = snap.requests
        parts = [
            f"items {snap.items_done}/{snap.items_total} done "
            f"({items.get('succeeded', 0)} ok, {items.get('failed', 0)} failed)",
            f"requests {req.get('pending', 0)} pending, {req.get('active', 0)} in flight, "
            f"{snap.retries} retries",
        ]
        remote = [f"{n} {status}" for status, n in sorted(snap.remote.items())]
        parts.append("batches " + (", ".join(remote) if remote else "none open"))
        parts.append(f"${snap.cost:.4f} spent (predicted ${snap.predicted_cost:.4f})")
        rate, eta = self.rate_and_eta()
        if rate is not None and eta is not None:
            parts.append(f"{rate:.1f} items/s, ETA {_duration(eta)}")
        direct = self.direct_line()
        if direct is not None:
            parts.append("direct " + direct)
        return " · ".join(parts)

    def _log(self, force: bool = False) -> None:
        now = time.monotonic()
        text = self.line()
        if force or (text != self._last_line and now - self._last_log >= self.log_interval):
            stamp = _duration(now - self.started)
            self.console.print(f"[{stamp}] {text}", highlight=False, markup=False, soft_wrap=True)
            self._last_line, self._last_log = text, now

    def render(self) -> Group | Text:
        """The live panel."""
        snap = self.snapshot
        if snap is None:
            return Text("starting…", style="dim")
        table = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
        table.add_column(style="bold")
        table.add_column()
        items = snap.items
        table.add_row(
            "Items",
            f"{snap.items_done}/{snap.items_total} done · [green]{items.get('succeeded', 0)} succeeded[/] · "
            f"[red]{items.get('failed', 0)} failed[/] · {snap.items_total - snap.items_done} open",
        )
        req = snap.requests
        table.add_row(
            "Requests",
            f"{req.get('pending', 0)} pending · {req.get('active', 0)} in flight · "
            f"{req.get('succeeded', 0)} succeeded · {req.get('failed', 0)} failed · {snap.retries} retries",
        )
        states = [f"{snap.remote.get(status, 0)} {status.replace('_', ' ')}" for status in REMOTE_ACTIVE[:3]]
        others = [
            f"{n} {s.replace('_', ' ')}" for s, n in sorted(snap.remote.items()) if s not in REMOTE_ACTIVE[:3]
        ]
        committed = snap.batches.get("committed", 0)
        table.add_row("Batches", " · ".join([*states, *others, f"{committed} done"]))
        direct = self.direct_line()
        if direct is not None:
            table.add_row("Direct", direct)
        table.add_row("Spend", f"${snap.cost:.4f} true · ${snap.predicted_cost:.4f} predicted")
        rate, eta = self.rate_and_eta()
        table.add_row(
            "Rate",
            "—" if rate is None or eta is None else f"{rate:.1f} items/s · ETA {_duration(eta)}",
        )
        table.add_row("Elapsed", _duration(time.monotonic() - self.started))
        title = Text(f"batchwright · {snap.task_name or self.task_dir.name}", style="bold cyan")
        return Group(title, table)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
