"""``batchwright serve`` as a real process: announces its URL and key, serves the SDK, stops on SIGINT."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import openai
import pytest

from batchwright.cli.serve import parse_model_limits, parse_speed
from batchwright.errors import ConfigError
from batchwright.server import ServerConfig

from .support import chat_line, read_lines, submit, wait_for


def test_serve_process_answers_the_sdk(tmp_path):
    faults = tmp_path / "faults.yaml"
    faults.write_text("http:\n  - {endpoint: 'GET /v1/models', kind: error, status: 503, first: 1}\n")
    process, client, banner = start_serve(tmp_path / "data", "--speed", "instant", "--faults", str(faults))
    try:
        assert banner[0].startswith("batchwright local batch server: http://127.0.0.1:"), banner
        assert "sk-batchwright-local" in banner[1]
        with pytest.raises(openai.InternalServerError):
            client.models.list()  # the fault plan from --faults
        assert client.models.list().data
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
    assert oct(os.stat(tmp_path / "data").st_mode & 0o777) == "0o700"


def test_bad_options_are_config_errors():
    assert parse_speed("instant") == float("inf") and parse_speed("60") == 60.0
    with pytest.raises(ConfigError):
        parse_speed("-1")
    with pytest.raises(ConfigError):
        ServerConfig(data_dir=".", speed=0)
    assert parse_model_limits(["gpt-4o=1_000", "o3=5"]) == {"gpt-4o": 1000, "o3": 5}
    with pytest.raises(ConfigError):
        parse_model_limits(["gpt-4o"])


def start_serve(data_dir, *options):
    command = [sys.executable, "-c", "from batchwright.cli import main; main()", "serve", "--port", "0",
               "--data-dir", str(data_dir), *options]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    banner = [process.stdout.readline(), process.stdout.readline()]
    base_url = banner[0].split(": ", 1)[1].strip()
    client = openai.OpenAI(base_url=base_url, api_key="sk-batchwright-local", max_retries=0)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.files.list()
            return process, client, banner
        except openai.APIConnectionError:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_kill_9_mid_batch_then_restart_finishes_without_duplicates(tmp_path):
    process, client, _banner = start_serve(tmp_path, "--speed", "20")  # 1,000 requests/s, 0.5 s phases
    try:
        batch = submit(client, [chat_line(f"r{i}") for i in range(1200)])
        deadline = time.monotonic() + 30
        while (seen := client.batches.retrieve(batch.id)).request_counts.completed < 200:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        process.kill()  # SIGKILL: no shutdown code runs
        process.wait(30)
    assert seen.status == "in_progress" and seen.request_counts.completed < 1200  # killed mid-batch
    process, client, _banner = start_serve(tmp_path, "--speed", "instant")
    try:
        done = wait_for(client, batch.id)
        assert done.status == "completed" and done.request_counts.completed == 1200
        ids = [line["custom_id"] for line in read_lines(client, done.output_file_id)]
        assert len(ids) == 1200 and len(set(ids)) == 1200
        ledger = httpx.get(
            str(client.base_url).replace("/v1/", "/_admin/ledger"),
            headers={"Authorization": "Bearer sk-batchwright-local"},
        ).json()
        assert len(ledger["requests"]) == 1200
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(30)
