#!/usr/bin/env python3
# ruff: noqa: E501  (the team reference task from shared/reference, kept as written apart from formatting)
# Synthetic benchmark task for the seed library gpt-batch-api 1.0.5 (package gpt_batch_api).
#
# Item i (0 <= i < N) becomes exactly one chat-completions request
#   {model: gpt-4o-mini-2024-07-18, messages: [{role: user, content: "Say the number i"}], max_completion_tokens: 10}
# and each successful result appends one output row {key, text} to <task_dir>/<prefix>_output.jsonl.
#
# Usage (needs the seed's Python 3.12 venv; point it at a local fake server, no W&B):
#   TIKTOKEN_CACHE_DIR=... OPENAI_API_KEY=x OPENAI_BASE_URL=http://127.0.0.1:PORT/v1 \
#     python seed_bench_task.py --n 10000 --task_dir ./tasks_10k --no_wandb \
#       --max_batch_requests 50000 --remote_update_interval 1
#   python seed_bench_task.py --n 200 --task_dir ./tasks_direct --no_wandb --force_direct
#   python seed_bench_task.py --n 100000 --task_dir ./tasks_100k --no_wandb --no_run   # load + validate state only
#
# All of the seed's TaskManager / GPTRequester options are available (--help lists them, --no_auto_parse included);
# the task itself only adds --n, --task_prefix, --task_dir, --chat_endpoint, --model, --max_completion_tokens and
# --commit_every (generate_requests() commits the pool every that many requests, like the seed's char_codes demo
# commits per character range; default = max_batch_requests).
# The script prints "SEED_BENCH n=... all_done=... wall_s=..." on stderr (wall time after imports/arg parsing).

from __future__ import annotations

import argparse
import dataclasses
import functools
import logging
import os
import sys
import time

import openai
from gpt_batch_api import gpt_requester, task_manager, utils

log = logging.getLogger("seed_bench_task")


# One output row per item
@dataclasses.dataclass
class BenchRow:
    key: str  # Sample key ("n<i>")
    text: str  # Text of the first choice of the response


# JSONL output file (one BenchRow per line, appended as batches are processed)
class BenchOutputFile(task_manager.DataclassListOutputFile[BenchRow]):
    Dataclass = BenchRow


# The task: committed/succeeded/failed sample sets keyed by "n<i>", values are None (key presence = flag)
class SeedBenchTask(task_manager.TaskManager):
    output: BenchOutputFile

    def __init__(self, cfg: argparse.Namespace):
        super().__init__(
            task_dir=cfg.task_dir,
            name_prefix=cfg.task_prefix,
            output_factory=BenchOutputFile.output_factory(),
            init_meta=dict(model=cfg.model, max_completion_tokens=cfg.max_completion_tokens),
            **utils.get_init_kwargs(cls=task_manager.TaskManager, cfg=cfg),
            **utils.get_init_kwargs(cls=gpt_requester.GPTRequester, cfg=cfg, endpoint=cfg.chat_endpoint),
        )
        self.n = cfg.n
        # Seed quirk (1.0.5): with auto_parse=True (the default), GPTRequester.create_request_item() does
        # `del payload['response_format']` when the resolved format is not given, which raises KeyError for a plain
        # payload that has no response_format key at all. A NOT_GIVEN placeholder is deleted there, so the stored
        # request is exactly {model, messages, max_completion_tokens}. With --no_auto_parse no placeholder is needed.
        self.extra_payload = dict(response_format=openai.NOT_GIVEN) if cfg.auto_parse else {}
        self.commit_every = cfg.commit_every if cfg.commit_every > 0 else 0

    @staticmethod
    def sample_key(i: int) -> str:
        return f"n{i}"

    def generate_requests(self) -> bool:
        committed = self.T.committed_samples
        model = self.T.meta["model"]
        max_tokens = self.T.meta["max_completion_tokens"]
        pending = 0
        for i in range(self.n):
            key = self.sample_key(i)
            if key in committed:
                continue
            self.GR.add_request(
                gpt_requester.GPTRequest(
                    payload=dict(
                        model=model,
                        messages=[dict(role="user", content=f"Say the number {i}")],
                        max_completion_tokens=max_tokens,
                        **self.extra_payload,
                    ),
                    meta=dict(key=key),
                )
            )
            pending += 1
            if self.commit_every and pending >= self.commit_every:
                pending = 0
                if self.commit_requests():  # Batch pipeline congested => stop generating for now
                    return False
        return True

    def commit_cached_request(self, cached_req: gpt_requester.CachedGPTRequest):
        self.T.committed_samples[cached_req.item.req.meta["key"]] = None

    def cached_request_keys(self, cached_reqs: list[gpt_requester.CachedGPTRequest]) -> set[str] | None:
        return {cached_req.item.req.meta["key"] for cached_req in cached_reqs}

    def process_batch_result(self, result: gpt_requester.BatchResult, rstack: utils.RevertStack) -> bool:
        succeeded: list[str] = []
        failed: list[str] = []
        num_entries = len(self.D.entries)

        @rstack.callback
        def revert_state():
            for k in succeeded:
                self.T.succeeded_samples.pop(k, None)
            for k in failed:
                self.T.failed_samples.pop(k, None)
            del self.D.entries[num_entries:]

        for info in result.info.values():
            key = info.req_info.meta["key"]
            text = None
            if info.err_info is None and info.resp_info is not None:
                choices = getattr(info.resp_info.payload, "choices", None)
                if choices:
                    text = choices[0].message.content
            if text is not None:
                succeeded.append(key)
                self.T.succeeded_samples[key] = None
                self.D.entries.append(BenchRow(key=key, text=text))
            elif not info.retry:
                failed.append(key)
                self.T.failed_samples[key] = None

        return bool(succeeded) or bool(failed)

    def wipe_unfinished(self, wipe_failed: bool, rstack: utils.RevertStack) -> bool:
        if wipe_failed:
            self.T.failed_samples.clear()
        keep = self.T.succeeded_samples.keys() | self.T.failed_samples.keys()
        self.T.committed_samples = {k: v for k, v in self.T.committed_samples.items() if k in keep}
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Synthetic N-item benchmark task for gpt-batch-api 1.0.5",
        add_help=False,
        formatter_class=functools.partial(argparse.HelpFormatter, max_help_position=36),
    )
    parser.add_argument(
        "--help", "-h", action="help", default=argparse.SUPPRESS, help="Show this help message and exit"
    )
    parser.add_argument("--n", type=int, required=True, help="Number of items (one request each)")
    parser.add_argument(
        "--task_prefix",
        type=str,
        default="seed_bench",
        metavar="PREFIX",
        help="Name prefix of the task files",
    )
    parser.add_argument(
        "--task_dir",
        type=str,
        default="seed_bench_tasks",
        metavar="DIR",
        help="Task working directory (created if missing)",
    )
    parser.add_argument(
        "--chat_endpoint",
        type=str,
        default="/v1/chat/completions",
        metavar="ENDPOINT",
        help="Chat completions endpoint",
    )
    parser.add_argument(
        "--model",
        type=str,
        default="gpt-4o-mini-2024-07-18",
        help="Model (fixed in the task meta on first run)",
    )
    parser.add_argument(
        "--max_completion_tokens",
        type=int,
        default=10,
        metavar="NUM",
        help="max_completion_tokens per request",
    )
    parser.add_argument(
        "--commit_every",
        type=int,
        default=None,
        metavar="NUM",
        help="Commit the request pool every NUM generated requests (default: max_batch_requests; 0 = commit once after generating everything)",
    )
    task_manager.TaskManager.configure_argparse(parser=parser)
    gpt_requester.GPTRequester.configure_argparse(parser=parser, include_auto_parse=True)
    return parser


def main() -> int:
    args = build_parser().parse_args()
    if args.commit_every is None:
        args.commit_every = args.max_batch_requests
    args.task_dir = os.path.abspath(args.task_dir)
    if args.wandb is None:
        args.wandb = not args.dryrun
    t0 = time.perf_counter()
    with gpt_requester.GPTRequester.wandb_init(config=args):
        all_done = SeedBenchTask(cfg=args).run()
    print(
        f"SEED_BENCH n={args.n} all_done={all_done} wall_s={time.perf_counter() - t0:.3f}",
        file=sys.stderr,
        flush=True,
    )
    return 0


if __name__ == "__main__":
    utils.configure_logging()
    sys.exit(main())
