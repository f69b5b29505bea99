"""The project's promises about itself: the README's two commands and CI agree."""

from __future__ import annotations

import re
from pathlib import Path

from batchwright.cli import run_app

ROOT = Path(__file__).resolve().parent.parent


def _readme_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", readme)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    commands = _readme_commands()
    test_command = next(command for command in commands if "pytest" in command)
    ci_script = (ROOT / ".ci" / "run").read_text()
    assert test_command.strip() in ci_script.splitlines()


def test_readme_demo_command_runs_the_demo() -> None:
    commands = _readme_commands()
    assert any(command.endswith("batchwright demo") for command in commands)


def test_demo_command_exits_zero(capsys) -> None:
    assert run_app(["demo"]) == 0
