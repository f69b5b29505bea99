"""A server with ``upstream`` forwards batch lines and direct calls to another OpenAI-compatible server."""

from __future__ import annotations

from batchwright.server import INSTANT, ServerConfig, run_server

from .support import chat_line, client_for, read_lines, submit, wait_for


def test_batch_lines_and_direct_calls_are_forwarded(tmp_path):
    with run_server(ServerConfig(data_dir=tmp_path / "model", speed=INSTANT, api_key="sk-model")) as model:
        front_config = ServerConfig(
            data_dir=tmp_path / "front",
            speed=INSTANT,
            upstream=model.base_url,
            upstream_api_key="sk-model",
            upstream_concurrency=4,
        )
        with run_server(front_config) as front:
            client = client_for(front)
            requests = [chat_line(f"r{i}", f"question {i}") for i in range(10)]
            done = wait_for(client, submit(client, requests).id)
            assert done.status == "completed" and done.request_counts.completed == 10
            assert len(read_lines(client, done.output_file_id)) == 10
            direct = client.chat.completions.create(
                model="gpt-4o-mini", messages=requests[0]["body"]["messages"]
            )
            assert direct.choices[0].message.content
            assert client.models.list().data
        upstream_requests = [r for r in model.ledger()["requests"] if r["kind"] == "direct"]
        assert len(upstream_requests) == 11  # ten batch lines and one direct call, each forwarded once
        assert sum(r["input_tokens"] for r in upstream_requests[:10]) == done.usage.input_tokens
