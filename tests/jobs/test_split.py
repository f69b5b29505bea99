"""`batchwright split`: shards under token/request/byte limits, counted like the engine; bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from batchwright.errors import ExitCode
from batchwright.jobs.batchfile import BatchFileError
from batchwright.jobs.split import split_batch_files
from batchwright.tokens import count_input_tokens

from .support import CHAT, chat_line, cli, read_jsonl, write_jsonl


def _inputs(tmp_path: Path) -> list[Path]:
    first = write_jsonl(tmp_path / "a.jsonl", [chat_line(f"a{i}", "word " * (i + 1)) for i in range(25)])
    second = write_jsonl(
        tmp_path / "b.jsonl", ["", *[chat_line(f"b{i}", "x y " * (3 * i + 1)) for i in range(15)]]
    )
    return [first, second]


def test_shards_respect_every_limit_and_keep_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = _inputs(tmp_path)
    out = tmp_path / "shards"
    assert (
        cli("split", *map(str, inputs), "--max-tokens", "120", "--max-requests", "6", "--out-dir", str(out))
        == 0
    )
    shards = sorted(out.iterdir())
    total = len(shards)
    assert total > 3 and [p.name for p in shards] == [
        f"shard-{i:03d}-of-{total:03d}.jsonl" for i in range(total)
    ]
    lines = []
    for shard in shards:
        rows = read_jsonl(shard)
        tokens = sum(count_input_tokens(CHAT, row["body"]) for row in rows)
        assert 1 <= len(rows) <= 6 and tokens <= 120
        assert shard.stat().st_mode & 0o777 == 0o600
        lines.extend(rows)
    original = read_jsonl(inputs[0]) + read_jsonl(inputs[1])
    assert lines == original  # every request once, in order, unchanged
    # greedy packing: a shard is only closed when the next line would not fit
    assert "shard-000-of" in capsys.readouterr().out
    report = split_batch_files(inputs, tmp_path / "bytes", max_bytes=800, max_requests=None)
    assert all(s.nbytes <= 800 for s in report.shards) and report.requests == 40
    assert (
        sum(s.nbytes for s in report.shards) == sum(p.stat().st_size for p in inputs) - 1
    )  # minus the blank line


def test_resplit_replaces_old_shards(tmp_path: Path) -> None:
    inputs = _inputs(tmp_path)
    out = tmp_path / "s"
    first = split_batch_files(inputs, out, max_requests=4)
    second = split_batch_files(inputs[:1], out, max_requests=10)
    assert len(first.shards) == 10 and len(second.shards) == 3
    assert sorted(p.name for p in out.iterdir()) == [f"shard-{i:03d}-of-003.jsonl" for i in range(3)]


_OK = {"custom_id": "z", "method": "POST", "url": CHAT, "body": {"model": "m"}}


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not an object"),
        (json.dumps({**_OK, "custom_id": ""}), "custom_id"),
        (json.dumps({**_OK, "method": "GET"}), "method"),
        (json.dumps({**_OK, "url": "/v1/nope"}), "Unsupported endpoint"),
        (json.dumps({**_OK, "body": {}}), "'model'"),
        (json.dumps({**_OK, "custom_id": "a3"}), "repeats /"),
        (json.dumps({**_OK, "x": 1}), "'x'"),
        (json.dumps({**_OK, "body": {"model": "m", "messages": 5}}), "cannot count its tokens"),
        (b"\xff\xfe".decode("latin-1"), "not valid JSON"),
    ],
)
def test_bad_lines_exit_2_naming_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, problem: str
) -> None:
    good = write_jsonl(tmp_path / "good.jsonl", [chat_line(f"a{i}") for i in range(5)])
    bad = write_jsonl(tmp_path / "bad.jsonl", [chat_line("b0"), line])
    out = tmp_path / "out"
    assert cli("split", str(good), str(bad), "--out-dir", str(out)) == ExitCode.BAD_INPUT
    err = " ".join(capsys.readouterr().err.split())
    assert "bad.jsonl, line 2" in err and problem in err
    assert list(out.iterdir()) == []  # nothing written, no temp files left


def test_a_request_over_the_limit_and_bad_limits(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [chat_line("a", "hi"), chat_line("b", "long " * 300)])
    with pytest.raises(BatchFileError, match=r"a\.jsonl, line 2: .*over the shard tokens limit"):
        split_batch_files([path], tmp_path / "o", max_tokens=100)
    assert (
        cli("split", str(path), "--max-tokens", "0", "--out-dir", str(tmp_path / "o")) == ExitCode.BAD_INPUT
    )
    assert cli("split", str(tmp_path / "missing.jsonl")) == ExitCode.BAD_INPUT
    assert cli("split", str(path), "--out-dir", str(path / "under-a-file")) == ExitCode.BAD_INPUT
    empty = write_jsonl(tmp_path / "e.jsonl", [""])
    assert cli("split", str(empty), "--out-dir", str(tmp_path / "o")) == ExitCode.BAD_INPUT
    assert not any((tmp_path / "o").iterdir())
