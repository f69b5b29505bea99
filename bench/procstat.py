"""Measure one child process with GNU ``time``: wall time, user + sys CPU and peak RSS of it alone.

Used for both sides of the seed comparison, so batchwright and the seed are measured the same way (whole
process, interpreter start-up and imports included). The child is started through ``/usr/bin/time``
because Linux carries the peak RSS of the process that calls ``exec`` over to the new program: a child
forked straight from a big benchmark process would report the parent's size.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

GNU_TIME = Path("/usr/bin/time")


@dataclass(frozen=True)
class ProcessRun:
    """A finished child process: exit code, wall (fork to exit), CPU user + sys, peak RSS, SIGINT-to-exit."""

    returncode: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    stop_s: float | None  # SIGINT to exit, when the run was interrupted
    load_avg_1m: float  # the machine's 1-minute load average when the process ended (shared machine)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(
    argv: list[str],
    log_path: Path,
    *,
    env: dict[str, str] | None = None,
    interrupt_when: Callable[[], bool] | None = None,
    timeout: float = 3600.0,
) -> ProcessRun:
    """Run ``argv`` with stdout and stderr into ``log_path``; return its figures.

    With ``interrupt_when``, the process gets SIGINT as soon as that check (polled every 0.1 s) returns
    true. A process still running at ``timeout`` is killed (return code -9).
    """
    if not GNU_TIME.exists():
        raise RuntimeError(f"{GNU_TIME} (GNU time) is needed to measure processes: apt-get install time")
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        # started in the background (nohup ... &): children would inherit SIGINT ignored and never stop on it
        signal.signal(signal.SIGINT, signal.default_int_handler)
    result: dict[str, Any] = {}
    usage_path = log_path.with_suffix(".time")
    timed = [str(GNU_TIME), "-f", "%U %S %M", "-o", str(usage_path), *argv]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(
            timed, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def reap() -> None:  # blocks in waitpid, so the exit time is exact
        result["status"] = os.waitpid(process.pid, 0)[1]
        result["ended"] = time.perf_counter()

    reaper = threading.Thread(target=reap, daemon=True)
    reaper.start()
    signalled: float | None = None
    while reaper.is_alive():
        reaper.join(0.1)  # wakes every 0.1 s for the interrupt check and the deadline
        if not reaper.is_alive():
            break
        if time.perf_counter() > started + timeout:
            os.killpg(process.pid, signal.SIGKILL)
        elif interrupt_when is not None and signalled is None and interrupt_when():
            os.killpg(process.pid, signal.SIGINT)  # the program; GNU time itself ignores SIGINT
            signalled = time.perf_counter()
    process.returncode = os.waitstatus_to_exitcode(result["status"])
    user, system, max_rss_kb = usage_path.read_text().strip().splitlines()[-1].split()
    return ProcessRun(
        returncode=process.returncode,
        wall_s=result["ended"] - started,
        cpu_s=float(user) + float(system),
        peak_rss_mb=int(max_rss_kb) / 1024,
        stop_s=None if signalled is None else result["ended"] - signalled,
        load_avg_1m=os.getloadavg()[0],
    )
