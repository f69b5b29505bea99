"""Writing a finished batch's output and error files (shuffled and damaged as the fault plan says)."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from batchwright.server.faults import FaultState
from batchwright.server.storage import Storage, new_id, open_private
from batchwright.server.validation import iter_requests

Line = tuple[int, bytes]
"""An input line number and the output-file line written for it."""

UNRUN_MESSAGES = {
    "batch_expired": "This request could not be executed before the completion window expired.",
    "batch_cancelled": "This request was not executed because the batch was cancelled.",
}


def unrun_line(custom_id: str, code: str) -> bytes:
    """The error-file line for a request the batch never ran (expired or cancelled)."""
    return orjson.dumps(
        {
            "id": new_id("batch_req_"),
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": UNRUN_MESSAGES[code]},
        }
    )


class OutputWriter:
    """Builds the output and error files of one batch from its stored results."""

    def __init__(self, storage: Storage, faults: FaultState) -> None:
        self.storage = storage
        self.faults = faults

    def _ordered(self, lines: Iterator[Line], shuffle_key: str | None) -> Iterator[Line]:
        if shuffle_key is None:
            return lines
        everything = list(lines)
        random.Random(shuffle_key).shuffle(everything)
        return iter(everything)

    def _write(self, path: Path, lines: Iterator[Line], damage_key: str | None, damaged: list) -> int:
        """Write ``lines``; with ``damage_key``, apply the plan's output faults (each damaged input line
        is appended to ``damaged`` as ``(line, kind)``). Returns how many lines were kept."""
        written = 0
        with open_private(path) as handle:
            for position, (line_no, line) in enumerate(lines):
                kind = None if damage_key is None else self.faults.output_damage(f"{damage_key}/{position}")
                if kind is not None:
                    damaged.append((line_no, kind))
                if kind == "missing":
                    continue
                data = (line[: max(1, len(line) // 2)] if kind == "malformed" else line) + b"\n"
                handle.write(data * (2 if kind == "duplicated" else 1))
                written += 1
        return written

    def write(
        self,
        batch: dict[str, Any],
        internal: dict[str, Any],
        input_path: Path,
        unrun_code: str | None,
        expires_after: int | None,
        window: float,
    ) -> tuple[str | None, str | None]:
        """Write both files and record them; returns ``(output_file_id, error_file_id)`` (None if empty).

        ``unrun_code`` (``batch_expired``/``batch_cancelled``) adds an error line for every request that
        was never run; ``expires_after`` (seconds, real length ``window``) sets the files' expiry.
        """
        batch_id = batch["id"]
        shuffle_key = f"{self.faults.seed}/{internal['ordinal']}" if self.faults.plan.shuffle_output else None
        done: set[int] = set()
        out_tmp, err_tmp = self.storage.temp_path(), self.storage.temp_path()

        def ok_lines() -> Iterator[Line]:
            for line, _custom_id, ok, output in self.storage.iter_results(batch_id):
                done.add(line)
                if ok:
                    yield line, output

        def error_lines() -> Iterator[Line]:
            for line, _custom_id, ok, output in self.storage.iter_results(batch_id):
                if not ok:
                    yield line, output
            if unrun_code is not None:
                for line, custom_id, _body in iter_requests(input_path, done):
                    yield line, unrun_line(custom_id, unrun_code)

        damaged: list[tuple[int, str]] = []
        ok_ordered = self._ordered(ok_lines(), shuffle_key)
        n_ok = self._write(out_tmp, ok_ordered, str(internal["ordinal"]), damaged)
        n_err = self._write(err_tmp, self._ordered(error_lines(), shuffle_key), None, damaged)
        self.storage.record_output_damage(batch_id, damaged)
        expires_at = None if expires_after is None else time.time() + window
        ids: list[str | None] = []
        for count, temp, suffix in ((n_ok, out_tmp, "output"), (n_err, err_tmp, "error")):
            if count == 0:
                temp.unlink(missing_ok=True)
                ids.append(None)
                continue
            record = self.storage.add_file(
                temp,
                filename=f"{batch_id}_{suffix}.jsonl",
                purpose="batch_output",
                expires_at=expires_at,
                batch_id=batch_id,
            )
            ids.append(record["id"])
        return ids[0], ids[1]
