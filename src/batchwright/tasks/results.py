"""The result hook that connects a :class:`~batchwright.tasks.Task` to the engine.

It runs inside the engine's committing transaction, so a result, the output rows made from it and
the item's new state become durable together or not at all. Single-answer tasks turn each result
into rows; opinion tasks keep a tally per item (the item's JSON state) and ask for more answers
until the opinion policy concludes.
"""

from __future__ import annotations

from typing import Any

from batchwright.engine.commit import ResultContext
from batchwright.engine.types import RequestSpec
from batchwright.errors import BatchwrightError, TaskDefinitionError
from batchwright.tasks.api import Item, OpinionTask, Result, Row, Task, TaskError, rows_of
from batchwright.tasks.opinions import Opinion


class TaskCodeError(BatchwrightError):
    """The task's own code raised an unexpected exception while handling a result."""


def request_spec(task: Task, item: Item, *, requested: int = 1, resume: bool = False) -> RequestSpec:
    """The engine request for ``item``: the task's body with the metadata filled in.

    The item's data travels in the request's meta, so results can be processed after a restart
    without re-reading the task's items. For opinion tasks, ``requested`` is the item's total number
    of requests once this round is sent, and ``resume`` marks a round restarted after its open
    requests were wiped (the hook then resets its count to ``requested``).
    """
    try:
        body = task.request(item)
    except BatchwrightError:
        raise
    except Exception as error:
        raise TaskDefinitionError(
            f"{type(task).__name__}.request() raised {type(error).__name__}: {error} (item {item.key!r}).",
            remedy="Fix the task's request() or the item's data (run with --debug for the traceback).",
        ) from error
    if not isinstance(body, dict):
        raise TaskDefinitionError(
            f"{type(task).__name__}.request() returned a {type(body).__name__} for item {item.key!r}.",
            remedy="Return the request body as a dict, e.g. {'messages': [...]}.",
        )
    meta: dict[str, Any] = {"data": item.data}
    if isinstance(task, OpinionTask):
        meta["requested"] = requested
        if resume:
            meta["resume"] = True
    return RequestSpec(item.key, task.endpoint, task.meta.apply_to(body), task.response_model, meta)


def resume_specs(task: OpinionTask, item: Item, state: dict[str, Any] | None) -> list[RequestSpec]:
    """Requests that restart an unfinished opinion item whose open requests were wiped."""
    policy = task.meta.opinion_policy()
    if not state:
        n = policy.initial_requests()
        return [request_spec(task, item, requested=n) for _ in range(n)]
    answered = len(state.get("opinions", [])) + state.get("failed", 0)
    opinions = [Opinion(value, weight) for value, weight in state.get("opinions", [])]
    more = max(1, policy.verdict(opinions, failed=state.get("failed", 0)).more)
    return [request_spec(task, item, requested=answered + more, resume=True) for _ in range(more)]


class TaskResultHook:
    """Callable result hook for one task (pass an instance as the engine's ``result_hook``)."""

    def __init__(self, task: Task) -> None:
        self.task = task
        self.rejected = 0
        """Results rejected by the task this session (they are retried)."""

    def __call__(self, ctx: ResultContext) -> None:
        result = ctx.result
        if result.item_key is None:
            return
        meta: dict[str, Any] = result.meta or {}
        item = Item(result.item_key, meta.get("data"))
        if isinstance(self.task, OpinionTask):
            self._opinion(ctx, item, meta)
        elif result.succeeded:
            accepted, produced = self._judge(ctx, "process", item)
            if accepted:
                self._write(ctx, item, produced)
                ctx.finish_item("succeeded")
        else:
            error = self._error(ctx)
            self._write(ctx, item, self._call("failed", item, error))
            ctx.finish_item("failed", error)

    def _opinion(self, ctx: ResultContext, item: Item, meta: dict[str, Any]) -> None:
        task = self.task
        assert isinstance(task, OpinionTask)
        state = ctx.item_state or {"opinions": [], "failed": 0, "requested": int(meta.get("requested", 1))}
        if meta.get("resume"):
            state["requested"] = int(meta["requested"])
        concluded = state.get("concluded")
        if concluded == "succeeded":
            ctx.finish_item("succeeded")  # a late answer (e.g. after --wipe-failed): the verdict stands
            return
        if concluded == "failed":  # every answer had failed; --wipe-failed sent them all again
            state = {"opinions": [], "failed": 0, "requested": state["requested"]}
        if ctx.result.succeeded:
            accepted, opinion = self._judge(ctx, "opinion", item)
            if not accepted:
                return
            if not isinstance(opinion, Opinion):
                raise TaskCodeError(
                    f"{type(task).__name__}.opinion() returned a {type(opinion).__name__}, not an Opinion.",
                    remedy="Return batchwright.Opinion(value, weight).",
                )
            state["opinions"].append([opinion.value, opinion.weight])
        else:
            state["failed"] += 1
            state["last_error"] = self._error(ctx)
        ctx.set_item_state(state)
        answered = len(state["opinions"]) + state["failed"]
        if answered < state["requested"]:
            return  # more answers of this round are still on their way
        opinions = [Opinion(value, weight) for value, weight in state["opinions"]]
        verdict = task.meta.opinion_policy().verdict(opinions, failed=state["failed"])
        if not verdict.done:
            state["requested"] += verdict.more
            for _ in range(verdict.more):
                ctx.add_request(request_spec(task, item, requested=state["requested"]))
            ctx.set_item_state(state)
            return
        state["concluded"] = "succeeded" if opinions else "failed"
        ctx.set_item_state(state)
        if not opinions:
            error = state.get("last_error") or "every request failed"
            self._write(ctx, item, self._call("failed", item, error))
            ctx.finish_item("failed", error)
            return
        self._write(ctx, item, self._call("conclude", item, verdict))
        ctx.finish_item("succeeded")

    def _judge(self, ctx: ResultContext, method: str, item: Item) -> tuple[bool, Any]:
        """Call ``process``/``opinion`` on a successful result; a :class:`TaskError` rejects it
        (the request is retried) and gives ``(False, None)``."""
        try:
            return True, self._call(method, item, self._result(ctx))
        except TaskError as error:
            self.rejected += 1
            ctx.reject(str(error))
            return False, None

    @staticmethod
    def _result(ctx: ResultContext) -> Result:
        r = ctx.result
        body = r.body or {}
        text = None
        choices = body.get("choices") or []
        if choices and isinstance(choices[0], dict):
            text = (choices[0].get("message") or {}).get("content")
        elif isinstance(body.get("output_text"), str):
            text = body["output_text"]
        usage = {
            "input_tokens": r.input_tokens,
            "cached_tokens": r.cached_tokens,
            "output_tokens": r.output_tokens,
            "reasoning_tokens": r.reasoning_tokens,
            "cost": r.cost,
        }
        return Result(item_key=r.item_key or "", body=body, parsed=r.parsed, text=text, usage=usage)

    @staticmethod
    def _error(ctx: ResultContext) -> str:
        r = ctx.result
        return f"{r.error_code or 'error'}: {r.error_message or 'request failed'}"

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self.task, method)(*args)
        except (TaskError, BatchwrightError):
            raise
        except Exception as error:
            raise TaskCodeError(
                f"{type(self.task).__name__}.{method}() raised {type(error).__name__}: {error}",
                remedy="Fix the task code (run with --debug for the traceback); nothing was committed for "
                "this result, so the next run processes it again.",
            ) from error

    @staticmethod
    def _write(ctx: ResultContext, item: Item, produced: Row | Any) -> None:
        for row in rows_of(item, produced):
            ctx.write_output(row)
