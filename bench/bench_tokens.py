"""Benchmark of token estimation: ``count_input_tokens`` per request kind and ``batchwright tokens`` files.

Run: ``.venv/bin/python bench/bench_tokens.py [--runs 5] [--calls 5000] [--lines 50000]``. Prints medians of
CPU time (process time: robust on the shared machine) over several runs, in µs per request and in seconds for
the whole file, and writes ``bench/results/tokens.json``. Every call gets a distinct body, as in a real batch,
so no text is answered from a cache.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from batchwright.cli.tokens import estimate_file
from batchwright.tokens import count_input_tokens, predict_output_tokens

SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}, "confidence": {"type": "number"}},
    "required": ["answer", "confidence"],
}
TOOL = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look up a code point",
        "parameters": {"type": "object", "properties": {"code": {"type": "string"}}, "required": ["code"]},
    },
}
PNG = (
    b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", 1024, 768, 8, 2, 0, 0, 0)
)
IMAGE_URL = "data:image/png;base64," + base64.b64encode(PNG + b"\x00" * 30_000).decode()


def small_chat(i: int) -> tuple[str, dict]:
    messages = [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": f"Question {i}: what is the name of the unicode character U+{i:04X}?"},
    ]
    return "/v1/chat/completions", {
        "model": "gpt-4o-mini",
        "messages": messages,
        "max_completion_tokens": 200,
    }


def chat_tools_schema(i: int) -> tuple[str, dict]:
    url, body = small_chat(i)
    fmt = {"type": "json_schema", "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True}}
    return url, {**body, "tools": [TOOL], "response_format": fmt}


def chat_image(i: int) -> tuple[str, dict]:
    url, body = small_chat(i)
    content = [
        {"type": "text", "text": f"Describe image {i}."},
        {"type": "image_url", "image_url": {"url": IMAGE_URL}},
    ]
    return url, {**body, "messages": [{"role": "user", "content": content}]}


def responses(i: int) -> tuple[str, dict]:
    return "/v1/responses", {
        "model": "gpt-5-mini",
        "instructions": "Be terse.",
        "input": f"Question {i}: 2+{i}?",
    }


def embeddings(i: int) -> tuple[str, dict]:
    return "/v1/embeddings", {"model": "text-embedding-3-small", "input": [f"text {i}", f"another text {i}"]}


KINDS: dict[str, Callable[[int], tuple[str, dict]]] = {
    "chat (2 messages)": small_chat,
    "chat + tool + schema": chat_tools_schema,
    "chat + image data URL": chat_image,
    "responses": responses,
    "embeddings": embeddings,
}


def time_kind(make: Callable[[int], tuple[str, dict]], calls: int, run: int) -> float:
    requests = [make(run * calls + i) for i in range(calls)]
    start = time.process_time()
    for url, body in requests:
        count_input_tokens(url, body)
        predict_output_tokens(url, body, 0.5, 2048)
    return (time.process_time() - start) / calls * 1e6


def time_file(lines: int, run: int) -> float:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "batch.jsonl"
        with path.open("w", encoding="utf-8") as handle:
            for i in range(lines):
                url, body = small_chat(run * lines + i)
                handle.write(
                    json.dumps({"custom_id": f"r{i}", "method": "POST", "url": url, "body": body}) + "\n"
                )
        start = time.process_time()
        count = sum(
            1
            for _ in estimate_file(path, completion_ratio=0.5, default_max_output_tokens=2048, overrides=None)
        )
        elapsed = time.process_time() - start
        assert count == lines
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--lines", type=int, default=50_000)
    args = parser.parse_args()
    small_chat(0)
    count_input_tokens(*small_chat(0))  # load the vocabularies outside the timings
    count_input_tokens(*embeddings(0))
    results: dict[str, dict[str, float]] = {}
    for name, make in KINDS.items():
        samples = [time_kind(make, args.calls, run) for run in range(args.runs)]
        results[name] = {"median_us_per_request": statistics.median(samples), "runs": len(samples)}
    file_samples = [time_file(args.lines, run) for run in range(args.runs)]
    results[f"batchwright tokens: {args.lines:,}-line file"] = {
        "median_seconds": statistics.median(file_samples),
        "median_us_per_request": statistics.median(file_samples) / args.lines * 1e6,
        "runs": len(file_samples),
    }
    print(f"{'workload':<40} {'median µs/request':>18} {'median s':>10}")
    for name, result in results.items():
        seconds = f"{result['median_seconds']:.2f}" if "median_seconds" in result else ""
        print(f"{name:<40} {result['median_us_per_request']:>18.1f} {seconds:>10}")
    out = Path(__file__).parent / "results" / "tokens.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
