"""Batch progression: validating → in_progress → finalizing → completed (or failed/expired/cancelled).

One asyncio task per unfinished batch, on a clock scaled by ``speed`` (no delays in instant mode).
State is re-read from storage after every wait, so a cancel from a route (or a restart) is seen at the
next step; results are stored in chunks, so a restarted server resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import orjson

from batchwright.server.outputs import OutputWriter
from batchwright.server.state import ServerState
from batchwright.server.storage import new_id
from batchwright.server.usage import batch_usage, usage_of
from batchwright.server.validation import iter_requests, validate_input

logger = logging.getLogger("batchwright.server")

UNFINISHED = ("validating", "in_progress", "finalizing", "cancelling")
CHUNK = 256

_INJECTED_ERRORS = {
    429: ("rate_limit_exceeded", "requests", "Rate limit reached for requests (injected fault)."),
    400: ("invalid_request", "invalid_request_error", "Invalid request (injected fault)."),
}


def injected_error_body(status: int) -> dict[str, Any]:
    """The error body of an injected per-request failure with HTTP ``status``."""
    code, kind, message = _INJECTED_ERRORS.get(
        status,
        (None, "server_error", "The server had an error while processing your request (injected fault)."),
    )
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


class BatchRunner:
    """Runs every unfinished batch of one server to its end."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.storage = state.storage
        self.config = state.config
        self._tasks: dict[str, asyncio.Task] = {}
        self._wake: dict[str, asyncio.Event] = {}

    # -- control -----------------------------------------------------------------------------------

    def resume_all(self) -> None:
        """Start tasks for every batch a previous run left unfinished."""
        for batch_id in self.storage.batch_ids_with_status(UNFINISHED):
            self.start(batch_id)

    def start(self, batch_id: str) -> None:
        """Run ``batch_id`` in the background."""
        self._wake[batch_id] = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self._run(batch_id), name=f"batch {batch_id}")
        self._tasks[batch_id] = task
        task.add_done_callback(lambda _t: self._forget(batch_id))

    def _forget(self, batch_id: str) -> None:
        self._tasks.pop(batch_id, None)
        self._wake.pop(batch_id, None)

    def request_cancel(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Move a running batch to ``cancelling`` (returns the updated object) and wake its task."""
        if batch["status"] in ("validating", "in_progress", "finalizing"):
            batch["status"] = "cancelling"
            batch["cancelling_at"] = int(time.time())
            self.storage.save_batch(batch)
            event = self._wake.get(batch["id"])
            if event is not None:
                event.set()
        return batch

    async def stop(self) -> None:
        """Stop every batch task (their progress is stored; a restart resumes them)."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sleep(self, batch_id: str, seconds: float | None) -> None:
        """Wait ``seconds`` real seconds (None: forever), or until the batch is woken by a cancel."""
        if seconds is not None and seconds <= 0:
            await asyncio.sleep(0)
            return
        event = self._wake[batch_id]
        try:
            await asyncio.wait_for(event.wait(), seconds)
        except asyncio.TimeoutError:
            return
        event.clear()

    # -- the state machine -------------------------------------------------------------------------

    def _load(self, batch_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        found = self.storage.get_batch(batch_id)
        assert found is not None, batch_id
        return found

    @staticmethod
    def _fault(internal: dict[str, Any], kind: str) -> dict[str, Any] | None:
        return next((f for f in internal.get("faults", []) if f["kind"] == kind), None)

    async def _run(self, batch_id: str) -> None:
        try:
            await self._advance(batch_id)
        except asyncio.CancelledError:
            raise
        except Exception as error:  # a server bug must not leave the batch hanging forever
            logger.exception("batch %s failed with an internal error", batch_id, exc_info=error)
            batch, _internal = self._load(batch_id)
            self._fail(batch, "server_error", f"Internal server error: {error}")

    async def _advance(self, batch_id: str) -> None:
        batch, internal = self._load(batch_id)
        if batch["status"] == "validating":
            await self._sleep(batch_id, self.config.delay(self.config.validation_seconds))
            batch, internal = self._load(batch_id)
            if batch["status"] == "validating":
                await self._validate(batch, internal)
        batch, internal = self._load(batch_id)
        if batch["status"] == "in_progress":
            await self._process(batch_id)
        batch, internal = self._load(batch_id)
        if batch["status"] == "finalizing":
            stall = self._fault(internal, "stall_finalizing")
            delay = stall["seconds"] if stall else self.config.delay(self.config.finalizing_seconds)
            await self._sleep(batch_id, delay)
            batch, internal = self._load(batch_id)
            if batch["status"] == "finalizing":
                self._finish(batch, internal, "completed", None)
        batch, internal = self._load(batch_id)
        if batch["status"] == "cancelling":
            slow = self._fault(internal, "slow_cancel")
            if slow:
                await self._sleep(batch_id, slow["seconds"] or 0.0)
            self._finish(batch, internal, "cancelled", "batch_cancelled")

    def _fail(self, batch: dict[str, Any], code: str, message: str) -> None:
        """End ``batch`` as failed with one batch-level error (no line)."""
        self._fail_with(batch, [{"code": code, "message": message, "param": None, "line": None}])

    def _fail_with(self, batch: dict[str, Any], errors: list[dict[str, Any]]) -> None:
        batch.update(status="failed", failed_at=int(time.time()), errors={"object": "list", "data": errors})
        self.storage.save_batch(batch)
        self.storage.unpin_batch_input(batch["id"])

    async def _validate(self, batch: dict[str, Any], internal: dict[str, Any]) -> None:
        forced = self._fault(internal, "fail_validation")
        if forced:
            self._fail(batch, forced["code"], forced["message"])
            return
        result = await asyncio.to_thread(
            validate_input,
            self.storage.batch_input_path(batch["id"]),
            batch["endpoint"],
            max_bytes=self.config.max_batch_input_bytes,
            max_requests=self.config.max_requests_per_batch,
        )
        batch, internal = self._load(batch["id"])  # a cancel may have arrived meanwhile
        if batch["status"] != "validating":
            return
        if result.errors:
            self._fail_with(batch, result.errors)
            return
        model = result.model or ""
        limit = self.config.token_limit(model)
        enqueued = self.storage.in_flight_tokens(model, exclude=batch["id"])
        if result.input_tokens + enqueued > limit:
            message = (
                f"Enqueued token limit reached for {model} in organization org-local. Limit: {limit:,}"
                " enqueued tokens. Please try submitting fewer tasks or try again once some in_progress"
                " batches have been completed."
            )
            self._fail(batch, "token_limit_exceeded", message)
            return
        internal.update(model=model, input_tokens=result.input_tokens)
        batch.update(
            status="in_progress",
            in_progress_at=int(time.time()),
            model=model,
            request_counts={"total": result.total, "completed": 0, "failed": 0},
        )
        self.storage.save_batch(batch, internal)

    async def _answer(
        self,
        batch_id: str,
        endpoint: str,
        line: int,
        custom_id: str,
        body: dict[str, Any],
        injected: int | None,
    ) -> tuple:
        """One result row: the backend's answer (or an injected error) as an output line."""
        if injected is not None:
            status, answer = injected, injected_error_body(injected)
        else:
            response = await self.state.backend.respond(endpoint, body)
            status, answer = response.status_code, response.body
        ok = status == 200
        tokens = usage_of(answer) if ok else (0, 0, 0, 0)
        response_part = {"status_code": status, "request_id": new_id("req_"), "body": answer}
        line_object = {
            "id": new_id("batch_req_"),
            "custom_id": custom_id,
            "response": response_part,
            "error": None,
        }
        output = orjson.dumps(line_object)
        return (batch_id, line, custom_id, int(ok), status, *tokens, output)

    def _chunk_size(self) -> int:
        if self.config.instant:
            return CHUNK
        per_step = self.config.requests_per_second * self.config.speed * 0.2
        return max(1, min(CHUNK, int(per_step)))

    async def _process(self, batch_id: str) -> None:
        batch, internal = self._load(batch_id)
        endpoint = batch["endpoint"]
        deadline = internal["deadline"]
        stop_fault = self._fault(internal, "expire") or self._fault(internal, "stall")
        done = self.storage.done_lines(batch_id)
        processed = len(done)
        completed, failed, *_tokens = self.storage.result_totals(batch_id)
        batch["request_counts"].update(completed=completed, failed=failed)  # exact after a crash too
        self.storage.save_batch(batch)
        requests = iter_requests(self.storage.batch_input_path(batch_id), done)
        size = self._chunk_size()
        outcome = "done"
        while outcome == "done":
            if stop_fault and processed >= stop_fault["after_requests"]:
                outcome = stop_fault["kind"]
                break
            limit = size if not stop_fault else min(size, stop_fault["after_requests"] - processed)
            chunk = list(itertools.islice(requests, limit))
            if not chunk:
                break
            faults = self.state.faults
            ordinal = internal["ordinal"]
            calls = [
                self._answer(batch_id, endpoint, *item, faults.request_status(f"{ordinal}/{item[0]}"))
                for item in chunk
            ]
            if self.config.upstream:  # the upstream backend bounds its own concurrency
                rows = list(await asyncio.gather(*calls))
            else:  # the in-process model never waits: awaiting in turn is cheapest
                rows = [await call for call in calls]
            self.storage.add_results(rows)
            processed += len(rows)
            batch, internal = self._load(batch_id)  # no await since: a cancel cannot be lost
            ok = sum(row[3] for row in rows)
            counts = batch["request_counts"]
            counts["completed"] += ok
            counts["failed"] += len(rows) - ok
            self.storage.save_batch(batch)
            await self._sleep(batch_id, self.config.delay(len(rows) / self.config.requests_per_second))
            batch, internal = self._load(batch_id)
            if batch["status"] != "in_progress":
                return
            if time.time() >= deadline:
                outcome = "expire"
        if outcome == "stall":
            await self._sleep(batch_id, max(0.0, deadline - time.time()))
            batch, internal = self._load(batch_id)
            if batch["status"] != "in_progress":
                return
            outcome = "expire"
        if outcome == "expire":
            self._finish(batch, internal, "expired", "batch_expired")
            return
        batch.update(status="finalizing", finalizing_at=int(time.time()))
        self.storage.save_batch(batch)

    def _finish(
        self, batch: dict[str, Any], internal: dict[str, Any], status: str, unrun_code: str | None
    ) -> None:
        """Write the output/error files and end the batch in ``status``."""
        if batch.get("in_progress_at") is None:  # cancelled while validating: nothing ran, no files
            unrun_code = None
        expires_after = internal.get("output_expires_after")
        window = self.config.window(expires_after) if expires_after else 0.0
        input_path = self.storage.batch_input_path(batch["id"])
        writer = OutputWriter(self.storage, self.state.faults)
        output_id, error_id = writer.write(batch, internal, input_path, unrun_code, expires_after, window)
        completed, _failed, tokens_in, tokens_out, cached, reasoning = self.storage.result_totals(batch["id"])
        total = (batch.get("request_counts") or {}).get("total", 0)
        now = int(time.time())
        batch.update(
            status=status,
            output_file_id=output_id,
            error_file_id=error_id,
            request_counts={"total": total, "completed": completed, "failed": total - completed},
            usage=batch_usage(tokens_in, tokens_out, cached, reasoning),
        )
        if status == "completed":
            batch["finalizing_at"] = batch.get("finalizing_at") or now
            batch["completed_at"] = now
        else:
            batch[f"{status}_at"] = now
        self.storage.save_batch(batch)
        self.storage.unpin_batch_input(batch["id"])
