"""A batch-engine runner process for crash and signal tests (run as a script, not collected by pytest).

Usage: python crash_runner.py TASK_DIR BASE_URL API_KEY N_REQUESTS — adds N requests on first start, runs,
prints the one-line summary and exits with the run's exit code. Crash points come from the
``BATCHWRIGHT_TEST_CRASH_AT`` environment variable (see ``batchwright.engine.crashpoints``).
"""

from __future__ import annotations

import sys

from batchwright.config import EngineSettings
from batchwright.engine import Engine, RequestSpec
from batchwright.pricing import PriceOverrides


def main() -> int:
    task_dir, base_url, api_key, n = sys.argv[1:5]
    settings = EngineSettings(
        base_url=base_url, api_key=api_key, poll_interval=0.02, poll_interval_max=0.2, max_batch_requests=3,
        min_batch_requests=1,
        prices=PriceOverrides(cost_input_direct_mtoken=1.0, cost_output_direct_mtoken=4.0),
    )  # fmt: skip
    with Engine(task_dir, settings) as engine:
        if not engine.counts()["requests"]:
            engine.add_requests(
                RequestSpec(f"k{i}", "/v1/chat/completions", {"model": "gpt-4o-mini", "max_tokens": 400,
                            "messages": [{"role": "user", "content": f"Say something about {i}."}]})
                for i in range(int(n))
            )  # fmt: skip
        print("running", flush=True)
        summary = engine.run()
        print(summary.one_line(), flush=True)
        return int(summary.exit_code)


if __name__ == "__main__":
    sys.exit(main())
