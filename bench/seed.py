"""The seed library (gpt-batch-api 1.0.5, Python 3.12) for side-by-side benchmarks: venv, env, command.

One place for everything the benchmarks need from the seed: the venv in ``bench/.seed-venv`` (created on
demand from pyenv's Python 3.12), the environment that points it at a local server with offline tiktoken
vocabularies, and the command line of ``bench/seed_bench_task.py`` (measure it with ``procstat.measure``).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
SEED_VENV = BENCH / ".seed-venv"
SEED_PYTHON = SEED_VENV / "bin" / "python"
SEED_TASK = BENCH / "seed_bench_task.py"
PYTHON_312 = Path.home() / ".pyenv" / "versions" / "3.12.1" / "bin" / "python3.12"
SEED_PACKAGES = ("gpt-batch-api==1.0.5", "httpx")
_DONE_LINE = re.compile(r"SEED_BENCH n=(\d+) all_done=(\w+) wall_s=([\d.]+)")


def seed_python() -> Path | None:
    """The seed venv's interpreter, creating the venv first if needed; None when Python 3.12 is missing."""
    if SEED_PYTHON.exists():
        return SEED_PYTHON
    if not PYTHON_312.exists():
        return None
    subprocess.run([str(PYTHON_312), "-m", "venv", str(SEED_VENV)], check=True)
    subprocess.run([str(SEED_PYTHON), "-m", "pip", "install", "-q", *SEED_PACKAGES], check=True)
    return SEED_PYTHON


def seed_env(base_url: str, api_key: str) -> dict[str, str]:
    """Environment for the seed: the local server, no W&B, tiktoken's offline vocabularies (as ours)."""
    from batchwright.tokens.vocab import seed_vocabulary

    os.environ.setdefault(
        "TIKTOKEN_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"batchwright-bench-tiktoken-{os.getuid()}")
    )
    for name in ("o200k_base", "cl100k_base"):
        seed_vocabulary(name)
    return dict(os.environ, OPENAI_API_KEY=api_key, OPENAI_BASE_URL=base_url, WANDB_MODE="disabled")


def seed_command(*args: str) -> list[str]:
    """The command line that runs ``seed_bench_task.py ARGS`` in the seed venv (created if needed)."""
    python = seed_python()
    if python is None:
        raise RuntimeError(f"the seed needs Python 3.12 ({PYTHON_312} is missing)")
    return [str(python), str(SEED_TASK), *args]


def seed_task_result(log_text: str) -> tuple[bool, float] | None:
    """(all_done, the task's own wall time) from the ``SEED_BENCH`` line of a run's output, if it has one."""
    match = _DONE_LINE.search(log_text)
    return None if match is None else (match.group(2) == "True", float(match.group(3)))
