"""The chaos soak, CI size: ~1,000 requests per path through every fault kind while the runner is killed.

Both paths run at once (each against its own local server), so the whole test stays near a minute. Every
check of the soak must pass; on failure the assertion shows the failed checks and the soak's own table.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

from rich.console import Console

from batchwright.chaos import SoakConfig, SoakResult, run_soak
from batchwright.chaos.plan import batch_size
from batchwright.chaos.report import print_results

REQUESTS = 1_000


def _configs(tmp_path) -> list[SoakConfig]:
    common = {"requests": REQUESTS, "seed": 11, "deadline": 240.0, "window": 2.0}
    return [
        SoakConfig(tmp_path / "batch", mode="batch", kills=6, server_restarts=1, cancels=2, **common),
        SoakConfig(tmp_path / "direct", mode="direct", kills=4, server_restarts=1, **common),
    ]


def _shown(result: SoakResult) -> str:
    out = io.StringIO()
    print_results([result], Console(file=out, width=160))
    return out.getvalue()


def test_chaos_soak_batch_and_direct_paths(tmp_path):
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(run_soak, _configs(tmp_path)))
    for result in results:
        assert result.ok, f"{result.failures()}\n{_shown(result)}"
        assert sum(result.kills.values()) >= 2, _shown(result)  # the runner really was killed mid-run
    batch, direct = results
    assert batch.ledger_summary["batches"] >= REQUESTS // batch_size(REQUESTS), _shown(batch)
    assert direct.ledger_summary["tokens"]["direct"]["requests"] >= REQUESTS, _shown(direct)
