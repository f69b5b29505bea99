"""The soak's proof: checks over the task database, the exported output and the server's ledger.

Each check is a :class:`Check` (name, passed, detail). Tokens are compared per request: every line the
server billed in a batch must be the attempt the database recorded with the same ``custom_id`` in the same
remote batch, with the same input and output tokens; lines the server billed but the client never received
(output lines the fault plan dropped or damaged) are counted apart, and so are direct calls answered after
the runner was killed or after an injected failure (the direct API has no idempotency: a crash loses at
most the calls in flight).
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from batchwright.config import EngineSettings
from batchwright.engine.predict import CostModel
from batchwright.store.db import DB_NAME

if TYPE_CHECKING:
    from batchwright.chaos.driver import SoakResult

FINAL = ("succeeded", "failed")
TERMINAL_BATCH = ("completed", "failed", "expired", "cancelled")
LOST_LINES = ("malformed", "missing")
"""Output faults that destroy a line (a duplicated line still arrives)."""
LOST_IN_FLIGHT = ("lost_in_crash", "interrupted")
"""Error codes of direct attempts whose call was in flight when the runner was killed or stopped."""


@dataclass
class Check:
    """One verified property of the soak."""

    name: str
    ok: bool
    detail: str


def _check(name: str, problems: list[str], detail: str) -> Check:
    shown = "; ".join(problems[:5]) + (f" (+{len(problems) - 5} more)" if len(problems) > 5 else "")
    return Check(name, not problems, shown if problems else detail)


def run_checks(
    *,
    task_dir: Path,
    export: Path,
    ledger: dict[str, Any],
    settings: EngineSettings,
    requests: int,
    completed: bool,
    cleaned: int | None,
    result: SoakResult,
) -> list[Check]:
    """Every check of a finished soak, in the order they are reported."""
    starts = result.runner_starts
    out = [
        Check("task completed", completed, f"{starts} runner starts, {sum(result.kills.values())} kills")
        if completed
        else Check("task completed", False, f"not complete after {starts} runner starts"),
    ]
    conn = sqlite3.connect(f"file:{task_dir / DB_NAME}?mode=ro", uri=True)
    try:
        out += [
            _items_final(conn, requests),
            _requests_final(conn),
            _last_errors(conn),
            _export_rows(conn, export, requests),
            _one_remote_batch_per_local(conn, ledger),
            _nothing_left_behind(conn, ledger, cleaned),
            _batch_tokens(conn, ledger),
            _direct_tokens(conn, ledger, result.runner_starts * settings.direct_concurrency),
            _cost_consistent(conn, settings),
        ]
    finally:
        conn.close()
    stops = sorted(result.stop_seconds)
    timing = f", slowest {stops[-1]:.1f} s, median {stops[len(stops) // 2]:.1f} s" if stops else ""
    out.append(
        _check("signals stop cleanly", result.slow_stops, f"{_soft(result)} SIGINT/SIGTERM stops{timing}")
    )
    out.append(
        _check("no runner crashed", result.crashes, f"{len(result.unexpected_exits)} other early exits")
    )
    return out


def _soft(result: SoakResult) -> int:
    return sum(n for name, n in result.kills.items() if name != "SIGKILL")


def _items_final(conn: sqlite3.Connection, requests: int) -> Check:
    states = dict(conn.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall())
    problems = [f"{n} items {s}" for s, n in states.items() if s not in FINAL]
    total = sum(states.values())
    if total != requests:
        problems.append(f"{total} items in the database, the task has {requests}")
    detail = f"{states.get('succeeded', 0)} succeeded, {states.get('failed', 0)} failed"
    return _check("every item final exactly once", problems, detail)


def _requests_final(conn: sqlite3.Connection) -> Check:
    problems = []
    (open_requests,) = conn.execute(
        "SELECT COUNT(*) FROM requests WHERE state NOT IN ('succeeded', 'failed')"
    ).fetchone()
    if open_requests:
        problems.append(f"{open_requests} requests not final")
    (open_attempts,) = conn.execute("SELECT COUNT(*) FROM attempts WHERE state = 'open'").fetchone()
    if open_attempts:
        problems.append(f"{open_attempts} attempts still open")
    rows = conn.execute(
        "SELECT r.id, r.state, COUNT(a.id), SUM(a.outcome IN ('succeeded', 'failed')), MAX(a.id), "
        "MAX(CASE WHEN a.outcome IN ('succeeded', 'failed') THEN a.id END), "
        "MAX(CASE WHEN a.outcome IN ('succeeded', 'failed') THEN a.outcome END) "
        "FROM requests r LEFT JOIN attempts a ON a.request_id = r.id GROUP BY r.id"
    ).fetchall()
    for rid, state, n, finals, last, final_id, outcome in rows:
        if finals != 1:
            problems.append(f"request {rid} has {finals or 0} final attempts of {n}")
        elif final_id != last:
            problems.append(f"request {rid}: its final attempt is not its last")
        elif outcome != state:
            problems.append(f"request {rid} is {state} but its final attempt {outcome}")
    (attempts,) = conn.execute("SELECT COUNT(*) FROM attempts").fetchone()
    return _check(
        "every request final once (its last attempt)", problems, f"{len(rows)} requests, {attempts} attempts"
    )


def _last_errors(conn: sqlite3.Connection) -> Check:
    problems = []
    rows = conn.execute(
        "SELECT r.id, r.item_key, r.last_error, a.error_code, a.error_message, i.last_error "
        "FROM requests r JOIN attempts a ON a.request_id = r.id AND a.outcome = 'failed' "
        "JOIN items i ON i.key = r.item_key WHERE r.state = 'failed'"
    ).fetchall()
    codes: Counter[str] = Counter()
    for rid, key, last, code, message, item_error in rows:
        codes[code] += 1
        if last != f"{code}: {message}":
            problems.append(f"request {rid}: last_error {last!r} is not its last attempt's {code!r}")
        if item_error != last:
            problems.append(f"item {key}: last_error {item_error!r} differs from its request's")
    detail = ", ".join(f"{code} {n}" for code, n in codes.most_common()) or "no failures"
    return _check("failed items carry their last error", problems, detail)


def _export_rows(conn: sqlite3.Connection, export: Path, requests: int) -> Check:
    problems = []
    states = dict(conn.execute("SELECT key, state FROM items").fetchall())
    errors = dict(conn.execute("SELECT key, last_error FROM items WHERE state = 'failed'").fetchall())
    seen: Counter[str] = Counter()
    if not export.exists():
        return Check("exported output: one row per item", False, f"{export.name} was not written")
    with open(export, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            try:
                row = json.loads(line)
                key = row["key"]
            except (ValueError, KeyError, TypeError):
                problems.append(f"line {number} is not a row")
                continue
            seen[key] += 1
            ok = states.get(key) == "succeeded"
            if key not in states:
                problems.append(f"row for unknown item {key}")
            elif row.get("ok") is not ok or (not ok and row.get("error") != errors.get(key)):
                problems.append(f"row of {key} does not match its state/error")
    problems += [f"{key} exported {n} times" for key, n in seen.items() if n > 1]
    missing = requests - len(seen)
    if missing:
        problems.append(f"{missing} items missing from the export")
    (stored,) = conn.execute("SELECT COUNT(*) FROM outputs").fetchone()
    if stored != requests:
        problems.append(f"{stored} output rows stored for {requests} items")
    return _check("exported output: one row per item", problems, f"{sum(seen.values())} rows, no duplicates")


def _one_remote_batch_per_local(conn: sqlite3.Connection, ledger: dict[str, Any]) -> Check:
    problems = []
    task_id = dict(conn.execute("SELECT key, value FROM meta").fetchall()).get("task_id")
    by_uid: defaultdict[str, list[str]] = defaultdict(list)
    for batch in ledger["batches"]:
        meta = batch.get("metadata") or {}
        if meta.get("bw_task") == task_id:
            by_uid[meta.get("bw_uid", "?")].append(batch["id"])
    problems += [
        f"local batch {uid} created {len(ids)} times: {ids}" for uid, ids in by_uid.items() if len(ids) > 1
    ]
    local = conn.execute("SELECT uid, remote_id, state FROM batches").fetchall()
    for uid, remote_id, state in local:
        if state not in ("committed", "abandoned"):
            problems.append(f"local batch {uid} left {state}")
        remote = by_uid.get(uid, [])
        if remote_id is not None and remote != [remote_id]:
            problems.append(f"local batch {uid} records {remote_id}, the server has {remote}")
        if remote_id is None and remote:
            problems.append(f"local batch {uid} has no remote id, the server created {remote}")
    strangers = set(by_uid) - {uid for uid, _, _ in local}
    problems += [f"remote batch for unknown uid {uid}" for uid in sorted(strangers)]
    detail = f"{len(local)} local batches, {sum(map(len, by_uid.values()))} remote"
    return _check("one remote batch per local batch", problems, detail)


def _nothing_left_behind(conn: sqlite3.Connection, ledger: dict[str, Any], cleaned: int | None) -> Check:
    problems = [f"file {f['id']} ({f['filename']}) not deleted" for f in ledger["files"] if not f["deleted"]]
    problems += [
        f"batch {b['id']} still {b['status']}" for b in ledger["batches"] if b["status"] not in TERMINAL_BATCH
    ]
    if cleaned is None:
        problems.append("the final cleanup did not finish")
    (pending,) = conn.execute("SELECT COUNT(*) FROM deletions").fetchone()
    if pending:
        problems.append(f"{pending} deletions still pending in the database")
    detail = f"{len(ledger['files'])} files all deleted; final cleanup swept {cleaned}"
    return _check("no remote file or batch left behind", problems, detail)


def _batch_tokens(conn: sqlite3.Connection, ledger: dict[str, Any]) -> Check:
    """Billed batch lines = recorded attempts, per request and in total (unseen lines counted apart)."""
    attempts = {
        row[0]: row[1:]
        for row in conn.execute(
            "SELECT a.custom_id, b.remote_id, a.status_code, a.error_code, a.input_tokens, a.output_tokens "
            "FROM attempts a LEFT JOIN batches b ON b.id = a.batch_id WHERE a.mode = 'batch'"
        )
    }
    problems = []
    served = Counter(r["custom_id"] for r in ledger["requests"] if r["kind"] == "batch")
    problems += [f"{cid} processed {n} times" for cid, n in served.items() if n > 1]
    billed, recorded, unseen = [0, 0], [0, 0], [0, 0]
    unseen_lines = 0
    lost: Counter[str] = Counter()
    for row in ledger["requests"]:
        if row["kind"] != "batch":
            continue
        tokens = (row["input_tokens"], row["output_tokens"])
        billed = [billed[0] + tokens[0], billed[1] + tokens[1]]
        att = attempts.get(row["custom_id"])
        if att is None:
            problems.append(f"{row['custom_id']} billed but unknown to the database")
            continue
        remote_id, status, error_code, tin, tout = att
        if remote_id != row["batch_id"]:
            problems.append(f"{row['custom_id']} ran in {row['batch_id']}, recorded for {remote_id}")
        damage = row.get("output_damage")
        if status is None:  # no line reached the client: the server must have dropped or damaged it
            unseen, unseen_lines = [unseen[0] + tokens[0], unseen[1] + tokens[1]], unseen_lines + 1
            lost[damage or "none"] += 1
            if damage not in LOST_LINES:
                problems.append(f"{row['custom_id']}: its line was delivered intact but never recorded")
        elif damage in LOST_LINES:
            problems.append(f"{row['custom_id']}: recorded a result for a line the server {damage}")
        elif (tin or 0, tout or 0) != tokens:
            problems.append(
                f"{row['custom_id']}: recorded {(tin, tout)} ({status} {error_code}), billed {tokens}"
                f" ({row['status_code']})"
            )
    totals = conn.execute(
        "SELECT COALESCE(SUM(input_tokens), 0), COALESCE(SUM(output_tokens), 0) FROM attempts "
        "WHERE mode = 'batch'"
    ).fetchone()
    recorded = list(totals)
    if [recorded[0] + unseen[0], recorded[1] + unseen[1]] != billed:
        problems.append(f"totals: recorded {recorded} + unseen {unseen} != billed {billed}")
    detail = (f"billed {billed[0]:,} in / {billed[1]:,} out = recorded {recorded[0]:,} / {recorded[1]:,}"
              f" + {unseen_lines} lines lost to output faults {unseen[0]:,} / {unseen[1]:,}"
              f" ({', '.join(f'{k} {n}' for k, n in sorted(lost.items())) or 'none'})")  # fmt: skip
    return _check("batch: true tokens = server ledger", problems, detail)


def _direct_tokens(conn: sqlite3.Connection, ledger: dict[str, Any], max_lost: int) -> Check:
    """Every answered direct attempt matches a billed call; extra billed calls are explained: calls in
    flight when a runner stopped (at most ``max_lost``: the concurrency per runner start), or re-sent
    after a transient error (the same attempt answered more than once)."""
    rows = conn.execute(
        "SELECT custom_id, status_code, error_code, input_tokens, output_tokens FROM attempts "
        "WHERE mode = 'direct'"
    ).fetchall()
    attempts = {cid: rest for cid, *rest in rows}
    calls: defaultdict[str, list[tuple[int, int, int]]] = defaultdict(list)
    problems = []
    billed = [0, 0]
    for row in ledger["requests"]:
        if row["kind"] != "direct":
            continue
        cid = row["client_request_id"]
        if cid not in attempts:
            problems.append(f"direct call {row['request_id']} ({cid}) unknown to the database")
            continue
        calls[cid].append((row["status_code"], row["input_tokens"], row["output_tokens"]))
        billed = [billed[0] + row["input_tokens"], billed[1] + row["output_tokens"]]
    recorded, lost, resent = [0, 0], 0, 0
    for cid, (status, error_code, tin, tout) in attempts.items():
        made = calls.get(cid, [])
        if status is not None:
            recorded = [recorded[0] + (tin or 0), recorded[1] + (tout or 0)]
            if not any(code == status and (i, o) == (tin or 0, tout or 0) for code, i, o in made):
                problems.append(f"{cid}: recorded {status} {(tin, tout)}, server answered {made}")
            resent += len(made) - 1
        elif made:
            if error_code not in LOST_IN_FLIGHT:
                problems.append(f"{cid}: {len(made)} calls billed, none recorded ({error_code})")
            lost += len(made)
    if lost > max_lost:
        problems.append(
            f"{lost} answered calls lost in flight, more than the {max_lost} that can be in flight"
        )
    extra = [billed[0] - recorded[0], billed[1] - recorded[1]]
    detail = (f"billed {billed[0]:,} in / {billed[1]:,} out; recorded {recorded[0]:,} / {recorded[1]:,}; "
              f"{lost} answers lost in flight to stops (bound {max_lost}), {resent} re-sent after "
              f"transient errors "
              f"({extra[0]:,} / {extra[1]:,} tokens)")  # fmt: skip
    return _check("direct: true tokens = server ledger", problems, detail)


def _cost_consistent(conn: sqlite3.Connection, settings: EngineSettings) -> Check:
    """Each attempt's cost follows from its tokens; the usage totals equal the sum of the attempts."""
    costs = CostModel(settings)
    problems = []
    sums: defaultdict[tuple[str, str], list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    query = (
        "SELECT a.custom_id, r.model, a.mode, a.input_tokens, a.cached_tokens, a.output_tokens, a.cost "
        "FROM attempts a JOIN requests r ON r.id = a.request_id WHERE a.state = 'done'"
    )
    for cid, model, mode, tin, cached, tout, cost in conn.execute(query):
        tin, cached, tout, cost = tin or 0, cached or 0, tout or 0, cost or 0.0
        want = costs.cost(model, mode, tin, cached, tout)
        if abs(want - cost) > 1e-12:
            problems.append(f"{cid}: cost {cost} but its tokens cost {want}")
        entry = sums[(model, mode)]
        entry[0] += 1 if tin or tout else 0
        entry[1:] = [entry[1] + tin, entry[2] + cached, entry[3] + tout, entry[4] + cost]
    total = 0.0
    for model, mode, tin, cached, tout, cost in conn.execute(
        "SELECT model, mode, input_tokens, cached_tokens, output_tokens, cost FROM usage"
    ):
        entry = sums.get((model, mode), [0, 0, 0, 0, 0.0])
        if [tin, cached, tout] != entry[1:4] or abs(cost - entry[4]) > 1e-9:
            problems.append(
                f"usage {model}/{mode} {(tin, cached, tout, cost)} != attempts {tuple(entry[1:])}"
            )
        total += cost
    return _check("true cost = sum of billed tokens × prices", problems, f"${total:.6f} recorded")


def fault_summary(task_dir: Path, ledger: dict[str, Any]) -> dict[str, dict[str, int]]:
    """What the faults did, for the report: remote batch endings (with failure codes), attempt outcomes
    other than success (by error code), and the direct endpoint's answers by HTTP status."""
    endings: Counter[str] = Counter()
    for batch in ledger["batches"]:
        errors = (batch.get("errors") or {}).get("data") or []
        endings[f"{batch['status']} ({errors[0]['code']})" if errors else batch["status"]] += 1
    direct = Counter(str(r["status_code"]) for r in ledger["requests"] if r["kind"] == "direct")
    if ledger.get("refused"):
        direct["429 (rate limit)"] += len(ledger["refused"])
    conn = sqlite3.connect(f"file:{task_dir / DB_NAME}?mode=ro", uri=True)
    try:
        outcomes = {
            f"{outcome} {code}": n
            for outcome, code, n in conn.execute(
                "SELECT outcome, error_code, COUNT(*) FROM attempts WHERE outcome != 'succeeded' "
                "GROUP BY outcome, error_code ORDER BY COUNT(*) DESC"
            )
        }
    finally:
        conn.close()
    return {"remote batches": dict(endings.most_common()), "attempts not succeeded": outcomes,
            "direct answers": dict(direct.most_common())}  # fmt: skip
