"""Micro-benchmark of the fake model: cost of one ``FakeModel.answer`` call per request kind.

Run: ``.venv/bin/python bench/bench_fake_model.py [--runs 5] [--calls 2000]``. Prints a table of medians
(µs per call over several runs) and writes ``bench/results/fake_model.json``. Every call gets a distinct
body, as in a real batch, so nothing is answered from a cache except compiled schemas.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from batchwright.server.fake_model import FakeModel

SCHEMA = {
    "type": "object",
    "properties": {
        "answer": {"type": "string"},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": {"enum": ["a", "b", "c"]}, "maxItems": 3},
    },
    "required": ["answer", "confidence", "tags"],
    "additionalProperties": False,
}


def small_chat(i: int) -> tuple[str, dict]:
    messages = [
        {"role": "system", "content": "You are a terse assistant."},
        {"role": "user", "content": f"Question {i}: what is the capital of France?"},
    ]
    return "/v1/chat/completions", {
        "model": "gpt-4o-mini",
        "messages": messages,
        "max_completion_tokens": 200,
    }


def schema_chat(i: int) -> tuple[str, dict]:
    url, body = small_chat(i)
    body["response_format"] = {
        "type": "json_schema",
        "json_schema": {"name": "a", "schema": SCHEMA, "strict": True},
    }
    return url, body


def responses(i: int) -> tuple[str, dict]:
    return "/v1/responses", {"model": "gpt-5-mini", "input": f"Question {i}: name a colour."}


def embedding(i: int) -> tuple[str, dict]:
    return "/v1/embeddings", {"model": "text-embedding-3-small", "input": f"sentence number {i}"}


KINDS: dict[str, Callable[[int], tuple[str, dict]]] = {
    "chat (small, text)": small_chat,
    "chat (strict json_schema)": schema_chat,
    "responses (gpt-5-mini)": responses,
    "embeddings (1536 dims, float)": embedding,
}


def microseconds_per_call(make: Callable[[int], tuple[str, dict]], calls: int, offset: int) -> float:
    model = FakeModel()
    requests = [make(offset + i) for i in range(calls)]
    model.answer(*requests[0])  # warm caches (encodings, compiled schema)
    start = time.perf_counter()
    for url, body in requests:
        answer = model.answer(url, body)
        assert answer.status_code == 200, answer.body
    return (time.perf_counter() - start) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    results = {}
    for name, make in KINDS.items():
        samples = [microseconds_per_call(make, args.calls, run * args.calls) for run in range(args.runs)]
        results[name] = {"median_us": statistics.median(samples), "runs_us": samples}
    print(f"{'request kind':32} {'median µs/call':>15} {'calls/s':>10}")
    for name, result in results.items():
        median = result["median_us"]
        print(f"{name:32} {median:15.1f} {1e6 / median:10.0f}")
    out = Path(__file__).parent / "results" / "fake_model.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"runs": args.runs, "calls": args.calls, "results": results}, indent=2))
    print(f"written {out}")


if __name__ == "__main__":
    main()
