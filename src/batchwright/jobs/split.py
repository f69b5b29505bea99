"""Split batch-format JSONL files into shards that each fit a token, request and byte limit.

Input tokens are counted exactly as the engine counts them
(:func:`batchwright.tokens.count_input_tokens`), so a shard under ``max_tokens`` fits an enqueued-token
limit of that size. Files are streamed: memory stays flat however large the input. Shards are written
to private temp files and renamed to ``shard-000-of-079.jsonl``... only once every line was read and
checked, so a bad line (or Ctrl+C) leaves the output directory as it was.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from batchwright.errors import ConfigError, InputError, os_error_reason
from batchwright.jobs.batchfile import BatchFileError, BatchLine, UniqueIds, read_batch_files
from batchwright.private_files import make_private_dir
from batchwright.tokens import count_input_tokens

#: The Batch API's own limits per batch file: 50,000 requests and 200 MB.
API_MAX_REQUESTS = 50_000
API_MAX_BYTES = 200 * 1024 * 1024


@dataclass
class Shard:
    """One written shard: its path, requests, input tokens and bytes."""

    path: Path
    requests: int = 0
    tokens: int = 0
    nbytes: int = 0


@dataclass
class SplitReport:
    """The shards written, in order, with their totals."""

    shards: list[Shard] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.shards)

    @property
    def tokens(self) -> int:
        return sum(s.tokens for s in self.shards)


def _check_limit(name: str, value: int | None) -> None:
    if value is not None and value < 1:
        raise ConfigError(
            f"{name} must be at least 1, got {value}.", remedy=f"Give {name} a positive number."
        )


def shard_name(prefix: str, index: int, total: int) -> str:
    """``shard-003-of-079.jsonl`` (at least three digits, more when there are 1,000+ shards)."""
    width = max(3, len(str(total)))
    return f"{prefix}-{index:0{width}d}-of-{total:0{width}d}.jsonl"


class _ShardWriter:
    """Writes temp shard files one after the other and renames them into place at the end."""

    def __init__(self, out_dir: Path, prefix: str) -> None:
        self.out_dir, self.prefix = out_dir, prefix
        self.shards: list[Shard] = []
        self._handle: IO[bytes] | None = None

    def start(self) -> None:
        self.close_current()
        fd, name = tempfile.mkstemp(prefix=f".{self.prefix}.", suffix=".tmp", dir=self.out_dir)
        os.fchmod(fd, 0o600)
        self._handle = os.fdopen(fd, "wb")
        self.shards.append(Shard(Path(name)))

    def write(self, raw: bytes, tokens: int) -> None:
        assert self._handle is not None
        self._handle.write(raw)
        shard = self.shards[-1]
        shard.requests += 1
        shard.tokens += tokens
        shard.nbytes += len(raw)

    def close_current(self) -> None:
        if self._handle is not None:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()
            self._handle = None

    def publish(self) -> list[Shard]:
        """Rename the temp shards to their final names; earlier shards of this prefix are removed."""
        self.close_current()
        total = len(self.shards)
        final = {shard_name(self.prefix, i, total) for i in range(total)}
        pattern = re.compile(rf"{re.escape(self.prefix)}-\d+-of-\d+\.jsonl")
        for old in self.out_dir.iterdir():
            if pattern.fullmatch(old.name) and old.name not in final:
                old.unlink()
        for index, shard in enumerate(self.shards):
            target = self.out_dir / shard_name(self.prefix, index, total)
            os.replace(shard.path, target)
            shard.path = target
        fd = os.open(self.out_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return self.shards

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            if self._handle is not None:
                self._handle.close()
        for shard in self.shards:
            shard.path.unlink(missing_ok=True)


def _counted(paths: Iterable[str | Path]) -> Iterator[tuple[BatchLine, int]]:
    """Every line with its input tokens; ids checked for repeats."""
    with UniqueIds() as seen:
        for line in read_batch_files(paths):
            seen.add_line(line)
            try:
                tokens = count_input_tokens(line.url, line.body)
            except InputError as error:
                raise BatchFileError(
                    f"{line.path}, line {line.lineno}: cannot count its tokens: {error.message}",
                    remedy=error.remedy or "Fix the request body.",
                ) from None
            yield line, tokens


def split_batch_files(
    paths: Iterable[str | Path],
    out_dir: str | Path = ".",
    *,
    max_tokens: int | None = None,
    max_requests: int | None = API_MAX_REQUESTS,
    max_bytes: int | None = API_MAX_BYTES,
    prefix: str = "shard",
) -> SplitReport:
    """Split ``paths`` (in order) into shards of at most ``max_tokens`` input tokens, ``max_requests``
    lines and ``max_bytes`` bytes (None = no limit), written to ``out_dir``.

    Lines keep their order and bytes. A single line over a limit, a malformed line or a repeated
    ``custom_id`` raises :class:`BatchFileError` naming the file and line; nothing is written then.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("No batch files given.", remedy="Name one or more .jsonl files to split.")
    for name, value in (
        ("--max-tokens", max_tokens),
        ("--max-requests", max_requests),
        ("--max-bytes", max_bytes),
    ):
        _check_limit(name, value)
    if not re.fullmatch(r"[\w.-]+", prefix):
        raise ConfigError(
            f"Shard prefix {prefix!r} is not a plain file name.", remedy="Use letters, digits, -_."
        )
    out = Path(out_dir)
    try:
        make_private_dir(out)
    except OSError as error:
        raise InputError(
            f"Cannot create the output directory {str(out)!r}: {os_error_reason(error)}.",
            remedy="Choose a writable --out-dir.",
        ) from None
    limits = (max_tokens or float("inf"), max_requests or float("inf"), max_bytes or float("inf"))
    writer = _ShardWriter(out, prefix)
    try:
        for line, tokens in _counted(paths):
            raw = line.raw
            sizes = {"tokens": tokens, "requests": 1, "bytes": len(raw)}
            over = [name for (name, size), limit in zip(sizes.items(), limits, strict=True) if size > limit]
            if over:
                raise BatchFileError(
                    f"{line.path}, line {line.lineno}: this one request ({tokens:,} input tokens, "
                    f"{len(raw):,} bytes) is over the shard {' and '.join(over)} limit, so it fits no shard.",
                    remedy="Raise the limit or shorten that request.",
                )
            current = writer.shards[-1] if writer.shards else None
            if (
                current is None
                or current.tokens + tokens > limits[0]
                or current.requests + 1 > limits[1]
                or current.nbytes + len(raw) > limits[2]
            ):
                writer.start()
            writer.write(raw, tokens)
        if not writer.shards:
            raise InputError(
                "The batch files hold no requests; nothing was written.", remedy="Check the input files."
            )
        return SplitReport(writer.publish())
    except OSError as error:
        writer.discard()
        raise InputError(
            f"Cannot write the shards in {str(out)!r}: {os_error_reason(error)}.",
            remedy="Free some space or choose another --out-dir; nothing was written.",
        ) from None
    except BaseException:
        writer.discard()
        raise
