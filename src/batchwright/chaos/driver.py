"""The soak driver: runs the chaos task in a runner subprocess and kills it until the task completes.

Kill moments are random (seeded) and spread over the whole run: one kill in seven lands in startup
(imports, recovery, intake); the others wait for a progress target drawn so that the kills left spread
evenly over the work left, plus a random fraction of a second, so they land in packing, uploads, creates,
polling, collecting, deletions and the final export alike. Most kills are SIGKILL; some are SIGINT or
SIGTERM (which must stop the runner cleanly within :data:`GRACEFUL_SECONDS`), a few a double
SIGINT. Meanwhile the server is restarted and in-flight batches are cancelled (as from a dashboard) at
random moments. After each SIGKILL the task database tells which step the runner was in (kill coverage).
"""

from __future__ import annotations

import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import openai

from batchwright.chaos import checks
from batchwright.chaos.plan import engine_settings, server_config
from batchwright.chaos.runner import EXPORT_NAME
from batchwright.errors import ConfigError
from batchwright.server import RunningServer, run_server
from batchwright.store.db import DB_NAME

GRACEFUL_SECONDS = 30.0
"""How long SIGINT/SIGTERM may take to stop the runner cleanly."""
POLL = 0.02
PROGRESS_EVERY = 0.2
IGNORED_AFTER = 5.0
"""A soft signal after which the runner still ran this long and completed the task was ignored."""
MAX_QUIET_RESTARTS = 40
"""Runner exits without a kill and without completing, in a row, before the soak gives up."""


@dataclass
class SoakConfig:
    """One soak: size, kills, seed, path (``batch`` or ``direct``) and where everything is written."""

    work_dir: Path
    requests: int = 20_000
    kills: int = 100
    seed: int = 0
    mode: Literal["batch", "direct"] = "batch"
    server_restarts: int | None = None
    """Server restarts during the run (default: one per 10 kills, at least 1)."""
    cancels: int | None = None
    """Batches cancelled from outside during the run (default: one per 10 kills; batch mode only)."""
    speed: float = 1000.0
    """Server clock speed (accelerated: validation and finalizing take milliseconds)."""
    window: float = 6.0
    """Real seconds before a stalled batch expires."""
    soft_signals: float = 0.2
    """Share of kills that are SIGINT/SIGTERM instead of SIGKILL."""
    deadline: float = 3600.0
    """Seconds after which the soak gives up (a failed check)."""
    echo: bool = False
    """Print one line per runner start/kill."""


@dataclass
class SoakResult:
    """What a soak did and the checks that prove (or disprove) it."""

    config: SoakConfig
    checks: list[checks.Check] = field(default_factory=list)
    wall_seconds: float = 0.0
    runner_starts: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    kill_phases: Counter[str] = field(default_factory=Counter)
    faults: dict[str, dict[str, int]] = field(default_factory=dict)
    """What the faults did (see :func:`checks.fault_summary`)."""
    kill_progress: list[float] = field(default_factory=list)
    """Share of items final at each kill (shows the kills spread over the whole run)."""
    server_restarts: int = 0
    cancels: int = 0
    unexpected_exits: list[str] = field(default_factory=list)
    crashes: list[str] = field(default_factory=list)
    slow_stops: list[str] = field(default_factory=list)
    ignored_signals: list[str] = field(default_factory=list)
    """SIGINT/SIGTERM after which the runner did not stop but finished the task (reported, not failed)."""
    stop_seconds: list[float] = field(default_factory=list)
    """How long each SIGINT/SIGTERM took to stop the runner."""
    ledger_summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return bool(self.checks) and all(c.ok for c in self.checks)

    def failures(self) -> list[str]:
        """The failed checks as lines."""
        return [f"{c.name}: {c.detail}" for c in self.checks if not c.ok]

    def to_json(self) -> dict[str, Any]:
        """A JSON-able record of the soak."""
        cfg = self.config
        return {
            "mode": cfg.mode, "requests": cfg.requests, "kills_planned": cfg.kills, "seed": cfg.seed,
            "speed": cfg.speed, "wall_seconds": round(self.wall_seconds, 2), "ok": self.ok,
            "runner_starts": self.runner_starts, "kills": dict(self.kills),
            "kill_phases": dict(self.kill_phases), "kill_progress": [round(p, 4) for p in self.kill_progress],
            "server_restarts": self.server_restarts, "cancels": self.cancels,
            "unexpected_exits": self.unexpected_exits, "crashes": self.crashes, "slow_stops": self.slow_stops,
            "ignored_signals": self.ignored_signals,
            "ledger": self.ledger_summary, "faults": self.faults,
            "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }  # fmt: skip


def run_soak(config: SoakConfig) -> SoakResult:
    """Run one soak to the end and check it; never raises for a violation (see :attr:`SoakResult.ok`)."""
    started = time.monotonic()
    work = Path(config.work_dir)
    if work.exists() and any(work.iterdir()):
        raise ConfigError(
            f"The soak's work directory {work} is not empty.", remedy="Give a new or empty --work-dir."
        )
    work.mkdir(mode=0o700, parents=True, exist_ok=True)
    result = SoakResult(config)
    server_cfg = server_config(
        work / "server", config.mode, config.requests, config.seed, config.speed, config.window
    )
    with run_server(server_cfg) as server:
        settings = engine_settings(config.mode, config.requests, server.base_url)
        settings_path = work / "settings.json"
        settings_path.write_text(settings.model_dump_json(exclude={"api_key"}), encoding="utf-8")
        settings_path.chmod(0o600)
        soak = _Soak(config, server, settings_path, result)
        completed = soak.drive(started)
        server.set_faults(None)
        cleaned = soak.cleanup()
        ledger = server.ledger()
    result.wall_seconds = time.monotonic() - started
    result.checks = checks.run_checks(
        task_dir=soak.task_dir, export=soak.task_dir / EXPORT_NAME, ledger=ledger, settings=settings,
        requests=config.requests, completed=completed, cleaned=cleaned, result=result,
    )  # fmt: skip
    result.faults = checks.fault_summary(soak.task_dir, ledger)
    result.ledger_summary = {
        "files": len(ledger["files"]),
        "batches": len(ledger["batches"]),
        "tokens": ledger["tokens"],
        "refused": len(ledger.get("refused", [])),
    }
    return result


@dataclass
class _KillPlan:
    """How and when one run is killed: ``delay`` seconds after the spawn (startup kills), or after the
    task's progress reaches ``target`` (but at most ``max_wait`` seconds after running starts)."""

    in_startup: bool
    delay: float
    signal: signal.Signals
    target: float = math.inf
    max_wait: float = math.inf
    events: list[tuple[float, str]] = field(default_factory=list)
    """Server events: (seconds after the anchor, "restart" | "cancel")."""
    kill_at: float = math.inf

    def due(self, elapsed: float, progress: Callable[[], float]) -> list[str]:
        """The events due ``elapsed`` seconds after the anchor (each returned once), the kill last."""
        due = [name for at, name in self.events if at <= elapsed]
        self.events = [(at, name) for at, name in self.events if at > elapsed]
        if self.in_startup:
            self.kill_at = self.delay
        elif self.kill_at == math.inf and (elapsed >= self.max_wait or progress() >= self.target):
            self.kill_at = elapsed + self.delay
        if elapsed >= self.kill_at:
            self.kill_at = self.delay = self.target = math.inf
            self.in_startup = False
            due.append("kill")
        return due


class _Soak:
    """The kill loop of one soak."""

    def __init__(
        self, config: SoakConfig, server: RunningServer, settings_path: Path, result: SoakResult
    ) -> None:
        self.config = config
        self.server = server
        self.settings_path = settings_path
        self.result = result
        self.rng = random.Random(config.seed)
        self.task_dir = Path(config.work_dir) / "task"
        self.logs = Path(config.work_dir) / "logs"
        self.logs.mkdir(mode=0o700, exist_ok=True)
        self.client = openai.OpenAI(
            base_url=server.base_url, api_key=server.api_key, max_retries=0, timeout=10
        )
        self.kills_left = config.kills
        self.deadline_at = math.inf
        per_kill = max(1, config.kills // 10)
        self.restarts_left = config.server_restarts if config.server_restarts is not None else per_kill
        cancels = config.cancels if config.cancels is not None else per_kill
        self.cancels_left = cancels if config.mode == "batch" else 0
        self.startup = 3.0  # seconds until a runner starts running; measured as we go
        self._progress_read = (0.0, 0.0)
        self.work_time = 0.0  # seconds runners spent running (after startup)
        self.gained = 0.0  # progress those seconds made

    # --- the loop -------------------------------------------------------------------------------
    def drive(self, started: float) -> bool:
        """Start, kill and restart the runner until the task completes; True when it did."""
        quiet = 0
        self.deadline_at = started + self.config.deadline
        while time.monotonic() < self.deadline_at:
            outcome = self._one_run()
            if outcome == "complete":
                return True
            quiet = 0 if outcome == "killed" else quiet + 1
            if quiet >= MAX_QUIET_RESTARTS:
                return False
        return False

    def _spawn(self, command: str) -> tuple[subprocess.Popen[bytes], Path]:
        self.result.runner_starts += 1
        log = self.logs / f"{self.result.runner_starts:04d}-{command}.log"
        env = dict(os.environ, OPENAI_API_KEY=self.server.api_key)
        env.pop("OPENAI_BASE_URL", None)
        with open(log, "wb") as out:
            os.chmod(log, 0o600)
            proc = subprocess.Popen(
                [sys.executable, "-m", "batchwright.chaos.runner", command, str(self.task_dir),
                 str(self.settings_path), str(self.config.requests)],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        return proc, log

    def _one_run(self) -> str:
        proc, log = self._spawn("run")
        begin = time.monotonic()
        plan = self._plan_kill()
        anchor: float | None = 0.0 if plan.in_startup else None
        running_at: float | None = None
        start_progress = _progress(self.task_dir, self.config.requests)
        try:
            while proc.poll() is None:
                if time.monotonic() > self.deadline_at:  # a hung runner fails the soak, not the caller
                    proc.kill()
                    proc.wait()
                    return "exited"
                now = time.monotonic() - begin
                if running_at is None and b"running" in log.read_bytes():
                    running_at = now
                    self.startup = 0.7 * self.startup + 0.3 * now
                    anchor = now if anchor is None else anchor
                for event in plan.due(now - anchor, self._progress_every) if anchor is not None else ():
                    if event == "kill":
                        self._kill(proc, plan.signal, log)
                        done = "complete" in log.read_text(encoding="utf-8", errors="replace").splitlines()
                        return "complete" if done else "killed"  # killed after finishing: nothing to do
                    if event == "restart":
                        self._restart_server()
                    elif not self._cancel_one():
                        plan.events.append((now - anchor + 0.25, "cancel"))  # none running yet: retry
                time.sleep(POLL)
        finally:
            self._return_unused(plan)
            if running_at is not None:
                self.work_time += time.monotonic() - begin - running_at
                self.gained += max(0.0, _progress(self.task_dir, self.config.requests) - start_progress)
        text = log.read_text(encoding="utf-8", errors="replace")
        if proc.returncode == 0 and "complete" in text.splitlines():
            return "complete"
        if proc.returncode not in (0, 3):
            self._note_exit(log, f"exit {proc.returncode}", text)
        return "exited"

    def _return_unused(self, plan: _KillPlan) -> None:
        """Server events that did not happen before the run ended are drawn again for a later run."""
        for _, name in plan.events:
            if name == "restart":
                self.restarts_left += 1
            else:
                self.cancels_left += 1
        plan.events.clear()

    def _note_exit(self, log: Path, what: str, text: str) -> None:
        """Record an early exit; a traceback other than KeyboardInterrupt is a crash."""
        entry = f"{log.name}: {what}: {_tail(text)}"
        crashed = "Traceback" in text and "KeyboardInterrupt" not in text
        (self.result.crashes if crashed else self.result.unexpected_exits).append(entry)

    # --- scheduling -----------------------------------------------------------------------------
    def _plan_kill(self) -> _KillPlan:
        """This run's kill (none once the kills are used up) and the server events before it.

        One kill in seven lands in startup (imports, recovery, intake), timed from the spawn. The others
        wait for a progress target drawn so the kills left spread evenly over the work left, then a random
        fraction of a second more (so they land in any step), or after a random share of the time that
        progress should take at the rate measured so far (5-20 s before there is a rate). Runs without a
        kill still get the server events left, within their first seconds of running.
        """
        if self.kills_left <= 0:
            plan = _KillPlan(False, math.inf, signal.SIGKILL)
            for name, left in (("restart", self.restarts_left), ("cancel", self.cancels_left)):
                plan.events += [(self.rng.uniform(0.0, 0.5), name) for _ in range(left)]
            self.restarts_left = self.cancels_left = 0
            plan.events.sort()
            return plan
        self.kills_left -= 1
        roll = self.rng.random()
        sig = signal.SIGKILL
        if roll < self.config.soft_signals:
            sig = signal.SIGINT if roll < self.config.soft_signals / 2 else signal.SIGTERM
        if self.rng.random() < 1 / 7:
            plan = _KillPlan(True, self.rng.uniform(0.0, self.startup), sig)
        else:
            done = _progress(self.task_dir, self.config.requests)
            gap = (1.0 - done) / (self.kills_left + 1)
            target = done + min(self.rng.uniform(0.0, 2.0 * gap), 0.97 * (1.0 - done))
            rate = self.gained / self.work_time if self.gained > 0.02 and self.work_time > 1.0 else 0.0
            by_time = self.rng.uniform(0.0, 2.0 * gap / rate) if rate else self.rng.uniform(5.0, 20.0)
            plan = _KillPlan(False, self.rng.uniform(0.0, 0.5), sig, target, max(0.05, by_time))
        horizon = plan.delay if plan.in_startup else min(plan.max_wait, 6.0)
        if self._chance(self.restarts_left):
            self.restarts_left -= 1
            plan.events.append((self.rng.uniform(0.0, horizon), "restart"))
        if self._chance(self.cancels_left):
            self.cancels_left -= 1
            plan.events.append((self.rng.uniform(0.0, horizon), "cancel"))
        plan.events.sort()
        return plan

    def _progress_every(self) -> float:
        """The task's progress, read from its database at most every :data:`PROGRESS_EVERY` seconds."""
        now = time.monotonic()
        if now - self._progress_read[0] >= PROGRESS_EVERY:
            self._progress_read = (now, _progress(self.task_dir, self.config.requests))
        return self._progress_read[1]

    def _chance(self, left: int) -> bool:
        """Whether this run gets a server event, so that ``left`` events spread over the kills left."""
        return left > 0 and self.rng.random() < left / (self.kills_left + 1)

    # --- actions --------------------------------------------------------------------------------
    def _kill(self, proc: subprocess.Popen[bytes], sig: signal.Signals, log: Path) -> None:
        double = sig is signal.SIGINT and self.rng.random() < 0.25
        name = "SIGINT x2" if double else sig.name
        self.result.kills[name] += 1
        self.result.kill_progress.append(_progress(self.task_dir, self.config.requests))
        proc.send_signal(sig)
        sent = time.monotonic()
        if sig is signal.SIGKILL:
            proc.wait()
            for phase in _phases(self.task_dir, self.config.requests):
                self.result.kill_phases[phase] += 1
        else:
            if double:
                time.sleep(0.05)  # the second interrupt lands while the first one is being handled
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            try:
                proc.wait(GRACEFUL_SECONDS)
            except subprocess.TimeoutExpired:
                self.result.slow_stops.append(
                    f"{log.name}: {name} did not stop it in {GRACEFUL_SECONDS:.0f} s"
                )
                proc.kill()
                proc.wait()
            else:
                lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
                if "complete" in lines and time.monotonic() - sent > IGNORED_AFTER:
                    self.result.ignored_signals.append(
                        f"{log.name}: {name} ignored, the run went on to the end"
                    )
                if proc.returncode not in (0, 3) and not double:  # a second SIGINT exits at once
                    text = log.read_text(encoding="utf-8", errors="replace")
                    self._note_exit(log, f"{name} → exit {proc.returncode}", text)
        stopped = time.monotonic() - sent
        if sig is not signal.SIGKILL:
            self.result.stop_seconds.append(stopped)
        if self.config.echo:
            print(f"run {self.result.runner_starts}: {name}, stopped in {stopped:.2f} s", flush=True)

    def _restart_server(self) -> None:
        self.result.server_restarts += 1
        self.server.restart()

    def _cancel_one(self) -> bool:
        """Cancel one running batch, as a user would from the dashboard (partial output kept)."""
        try:
            running = [
                b.id for b in self.client.batches.list(limit=100) if b.status in ("validating", "in_progress")
            ]
            if not running:
                return False
            self.client.batches.cancel(self.rng.choice(running))
        except openai.OpenAIError:  # the fault plan hits these calls too
            return False
        self.result.cancels += 1
        return True

    def cleanup(self) -> int | None:
        """Run the runner's cleanup once (faults off); the number of remote objects it swept, or None."""
        self.client.close()
        proc, log = self._spawn("cleanup")
        try:
            proc.wait(300)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            return None
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("cleanup "):
                return int(line.split()[1])
        self.result.unexpected_exits.append(f"{log.name}: cleanup exit {proc.returncode}")
        return None


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-3:])[-400:]


def _connect(task_dir: Path) -> sqlite3.Connection | None:
    path = task_dir / DB_NAME
    if not path.exists():
        return None
    try:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error:
        return None


def _progress(task_dir: Path, requests: int) -> float:
    """Share of items already final (0 when the database does not exist yet)."""
    conn = _connect(task_dir)
    if conn is None:
        return 0.0
    try:
        (done,) = conn.execute("SELECT COUNT(*) FROM items WHERE state IN ('succeeded', 'failed')").fetchone()
    except sqlite3.Error:
        return 0.0
    finally:
        conn.close()
    return done / max(1, requests)


def _phases(task_dir: Path, requests: int) -> list[str]:
    """Which steps a killed runner left unfinished, read from its database."""
    conn = _connect(task_dir)
    if conn is None:
        return ["startup (no database)"]
    try:
        (items,) = conn.execute("SELECT COUNT(*) FROM items").fetchone()
        batches = dict(conn.execute("SELECT state, COUNT(*) FROM batches GROUP BY state").fetchall())
        (open_direct,) = conn.execute(
            "SELECT COUNT(*) FROM attempts WHERE state = 'open' AND mode = 'direct'"
        ).fetchone()
        (deletions,) = conn.execute("SELECT COUNT(*) FROM deletions").fetchone()
        (pending,) = conn.execute("SELECT COUNT(*) FROM requests WHERE state = 'pending'").fetchone()
    except sqlite3.Error:
        return ["startup (schema not ready)"]
    finally:
        conn.close()
    phases = []
    if items < requests:
        phases.append("intake")
    phases += [
        f"batch {state}" for state in ("uploading", "creating", "submitted", "finished") if batches.get(state)
    ]
    if open_direct:
        phases.append("direct calls in flight")
    if deletions:
        phases.append("remote deletions pending")
    if pending and items == requests:
        phases.append("requests waiting to be sent")
    return phases or ["idle (all final, export)"]
