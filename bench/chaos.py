"""Chaos soak: the chaos task through every server fault, server restarts and ~100 killed runners.

Runs the batch path and the direct path (``force_direct``) one after the other against their own local
servers (accelerated clock), then proves from the task database, the exported output and the server ledger
that every item ended exactly once, nothing was paid twice or left behind, and the recorded tokens are the
billed ones. Prints one table per path, writes ``bench/results/chaos.json``; exits 1 on any violation.

    python bench/chaos.py                                  # 20,000 requests, 100 kills, both paths
    python bench/chaos.py --requests 1000 --kills 10 --modes direct --seed 3
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from batchwright.chaos import SoakConfig, run_soak
from batchwright.chaos.report import print_results

RESULTS = Path(__file__).with_name("results")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=20_000, help="requests (items) per path")
    parser.add_argument("--kills", type=int, default=100, help="runner kills per path")
    parser.add_argument(
        "--direct-kills", type=int, default=None, help="kills on the direct path (default: --kills)"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--modes", nargs="+", choices=["batch", "direct"], default=["batch", "direct"])
    parser.add_argument("--work-dir", type=Path, default=None, help="keep the soak's files here")
    parser.add_argument("--echo", action="store_true", help="one line per kill")
    args = parser.parse_args()
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="batchwright-chaos-"))
    results = []
    for mode in args.modes:
        kills = args.direct_kills if mode == "direct" and args.direct_kills is not None else args.kills
        config = SoakConfig(work / mode, requests=args.requests, kills=kills, seed=args.seed, mode=mode,
                            echo=args.echo)  # fmt: skip
        results.append(run_soak(config))
        print_results(results[-1:])
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "chaos.json"
    out.write_text(json.dumps([r.to_json() for r in results], indent=2), encoding="utf-8")
    print(f"work dir {work}; results in {out}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
