"""Dataset jobs: one prompt over every row of a CSV or JSONL file, output joined back to the rows.

A YAML job file describes the job (paths are relative to the job file; input: CSV, JSONL or Parquet)::

    input_file: reviews.csv
    id_column: id
    content_columns: [title, text]     # or content_column: text
    prompt: "Classify the sentiment of this review:"   # or a template: "Review {title}: {text}"
    image_url_column: photo            # optional: the row's image URL is sent with the prompt
    system: "You are a careful annotator."   # optional
    model_params: {model: gpt-4o-mini, temperature: 0, max_completion_tokens: 50,
                   response_format: {type: json_object}}
    output_file: reviews.labelled.csv  # .csv .jsonl .json .parquet; default: output.csv in the task dir
    task_dir: reviews-job              # optional (default: <job file stem>.batchwright)
    batch_size: 500                    # optional: most requests per batch

Each output row is the input row plus ``response`` (the answer's text), ``response_json`` (the parsed
object when a JSON ``response_format`` is asked for; an answer that is not JSON is retried) and
``error`` (why the row failed for good, else empty).
"""

from __future__ import annotations

import csv
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from batchwright.errors import ConfigError, InputError, os_error_reason
from batchwright.jobs.batchfile import UniqueIds
from batchwright.tasks.api import Item, Result, Row, Task, TaskError, TaskMeta
from batchwright.tasks.export import ExportFormat

_SYNONYMS = {"content_column": "content_columns", "image_url": "image_url_column", "data_path": "task_dir"}
_META_PARAMS = ("model", "temperature", "top_p", "max_completion_tokens", "completion_ratio")


class DatasetSpec(BaseModel):
    """A dataset job, as read from its YAML job file."""

    model_config = ConfigDict(extra="forbid")

    input_file: Path
    id_column: str
    content_columns: list[str] = Field(default_factory=list)
    prompt: str
    system: str | None = None
    image_url_column: str | None = None
    model_params: dict[str, Any] = Field(default_factory=dict)
    output_file: Path | None = None
    task_dir: Path | None = None
    batch_size: int | None = Field(None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _synonyms(cls, data: Any) -> Any:
        """Accept the seed tool's names (``content_column``, ``image_url``, ``data_path``) too."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for seed_name, name in _SYNONYMS.items():
            if seed_name in data:
                if name in data:
                    raise ValueError(f"give {name} or {seed_name}, not both")
                data[name] = data.pop(seed_name)
        if isinstance(data.get("content_columns"), str):
            data["content_columns"] = [data["content_columns"]]
        return data

    def template_fields(self) -> list[str]:
        """The ``{column}`` placeholders of the prompt."""
        return [name for _, name, _, _ in string.Formatter().parse(self.prompt) if name]

    def columns(self) -> list[str]:
        """Every input column the job reads."""
        names = [self.id_column, *self.content_columns, *self.template_fields()]
        if self.image_url_column:
            names.append(self.image_url_column)
        return list(dict.fromkeys(names))

    def meta(self) -> TaskMeta:
        """The task metadata the model parameters define."""
        values = {k: v for k, v in self.model_params.items() if k in _META_PARAMS}
        if "max_tokens" in self.model_params and "max_completion_tokens" not in values:
            values["max_completion_tokens"] = self.model_params["max_tokens"]
        try:
            return TaskMeta(**values)
        except ValidationError as error:
            raise ConfigError(
                f"Invalid model_params: {error}", remedy="Fix model_params in the job file."
            ) from None

    def body_params(self) -> dict[str, Any]:
        """Request parameters other than the metadata (``response_format``, ``seed``, ...)."""
        return {k: v for k, v in self.model_params.items() if k not in (*_META_PARAMS, "max_tokens")}

    def engine_defaults(self) -> dict[str, Any]:
        """Engine settings the job file sets (below every flag, variable and config file)."""
        return {"max_batch_requests": self.batch_size} if self.batch_size else {}

    def default_task_dir(self, job_file: Path) -> Path:
        """The task directory: ``task_dir`` from the job file, else ``<job file stem>.batchwright``."""
        return self.task_dir if self.task_dir is not None else job_file.with_suffix(".batchwright")

    def output_path(self) -> Path:
        """Where the joined output goes (default: ``output.csv`` in the task directory)."""
        return self.output_file if self.output_file is not None else Path("output.csv")


def load_dataset_spec(job_file: str | Path) -> DatasetSpec:
    """Read and check a YAML job file; relative paths in it are made relative to its directory."""
    path = Path(job_file)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"Cannot read the job file {str(path)!r}: {os_error_reason(error)}.") from None
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise ConfigError(f"The job file {str(path)!r} is not valid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(
            f"The job file {str(path)!r} must be a mapping (input_file: ..., id_column: ..., prompt: ...).",
            remedy="See docs/jobs.md for an example.",
        )
    try:
        spec = DatasetSpec.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'job'}: {e['msg']}" for e in error.errors())
        raise ConfigError(
            f"The job file {str(path)!r} is invalid: {problems}.", remedy="See docs/jobs.md."
        ) from None
    base = path.absolute().parent
    updates = {
        name: base / value
        for name in ("input_file", "output_file", "task_dir")
        if (value := getattr(spec, name)) is not None and not value.is_absolute()
    }
    spec = spec.model_copy(update=updates)
    spec.meta()
    ExportFormat.from_path(spec.output_path())  # an unknown output format fails now, not after the run
    fmt = spec.body_params().get("response_format")
    mentions_json = "json" in f"{spec.prompt} {spec.system or ''}".lower()
    if isinstance(fmt, dict) and fmt.get("type") == "json_object" and not mentions_json:
        raise ConfigError(
            f"{str(path)!r} asks for response_format json_object, but neither the prompt nor the system "
            "message mentions JSON; the API refuses such requests.",
            remedy="Say 'JSON' in the prompt or system message (e.g. 'Answer as JSON {{...}}').",
        )
    try:
        spec.template_fields()
    except ValueError as error:
        raise ConfigError(
            f"The prompt of {str(path)!r} is not a valid template ({error}).",
            remedy="Write {column} for a column's value and {{ or }} for a literal brace.",
        ) from None
    return spec


def read_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line or row number, row)`` of a CSV (header row), JSONL (one object per line) or Parquet file,
    streamed."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".jsonl", ".parquet"):
        raise InputError(
            f"Cannot read {str(path)!r}: only .csv, .jsonl and .parquet input files are supported.",
            remedy="Convert the input (pickle files are never loaded: loading one can run code).",
        )
    if suffix == ".parquet":
        yield from _parquet_rows(path)
        return
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise InputError(
            f"Cannot read {str(path)!r}: {os_error_reason(error)}.", remedy="Check input_file."
        ) from None
    with handle:
        try:
            if suffix == ".csv":
                for number, row in enumerate(csv.DictReader(handle), 2):
                    yield number, row
                return
            for number, line in enumerate(handle, 1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as error:
                    raise InputError(f"{path}, line {number}: not valid JSON ({error}).") from None
                if not isinstance(row, dict):
                    raise InputError(f"{path}, line {number}: a JSON {type(row).__name__}, not an object.")
                yield number, row
        except UnicodeDecodeError as error:
            raise InputError(
                f"{path} is not UTF-8 text ({error}).", remedy="Save the input as UTF-8."
            ) from None


def _parquet_rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Rows of a Parquet file in record batches; values made JSON-able (dates as ISO strings)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError(
            "Reading Parquet needs pyarrow, which is not installed.",
            remedy="Install the data extra: pip install 'batchwright[data]'.",
        ) from None
    try:
        source = pq.ParquetFile(path)
    except (OSError, ValueError) as error:
        raise InputError(
            f"Cannot read {str(path)!r} as Parquet: {error}", remedy="Check input_file."
        ) from None
    number = 0
    with source:
        for batch in source.iter_batches(batch_size=1_000):
            for row in batch.to_pylist():
                number += 1
                yield number, orjson.loads(orjson.dumps(row, default=str))


class DatasetTask(Task):
    """The rows of a dataset job as items (key: the id column), one request per row."""

    name = "dataset"
    exports = ()

    def __init__(self, spec: DatasetSpec) -> None:
        self.spec = spec
        self.default_meta = spec.meta()  # type: ignore[misc]
        self.key_column = False
        """Whether the input has a column named ``key`` (then the output keeps it)."""
        self._json = (spec.body_params().get("response_format") or {}).get("type") in (
            "json_object",
            "json_schema",
        )

    def check(self) -> int:
        """Read the whole input once: columns present, ids unique and non-empty. Returns the row count."""
        rows = 0
        with UniqueIds() as seen:
            for number, row in read_rows(self.spec.input_file):
                key = self._key(number, row)
                first = seen.add(key, f"{self.spec.input_file}, row {number}")
                if first is not None:
                    raise InputError(
                        f"{self.spec.input_file}, row {number}: id {key!r} repeats {first}.",
                        remedy=f"Make the id column {self.spec.id_column!r} unique.",
                    )
                rows += 1
                self.key_column = self.key_column or "key" in row
        if rows == 0:
            raise InputError(f"{self.spec.input_file} has no rows.", remedy="Check input_file.")
        return rows

    def added_columns(self) -> tuple[str, ...]:
        """Columns the framework adds to output rows that are not the input's (dropped on export)."""
        return () if self.key_column else ("key",)

    def _key(self, number: int, row: dict[str, Any]) -> str:
        missing = [name for name in self.spec.columns() if name not in row]
        if missing:
            raise InputError(
                f"{self.spec.input_file}, row {number}: no column {', '.join(map(repr, missing))} "
                f"(columns: {', '.join(map(repr, row))}).",
                remedy="Fix the column names in the job file ({column} in the prompt names a column; "
                "write {{ and }} for literal braces).",
            )
        key = row[self.spec.id_column]
        if key is None or str(key) == "":
            raise InputError(
                f"{self.spec.input_file}, row {number}: empty id.", remedy="Give every row an id."
            )
        return str(key)

    def items(self) -> Iterator[Item]:
        for number, row in read_rows(self.spec.input_file):
            yield Item(self._key(number, row), row)

    def request(self, item: Item) -> dict[str, Any]:
        row = item.data
        spec = self.spec
        text = spec.prompt.format_map({name: row[name] for name in spec.template_fields()})
        extra = [str(row[name]) for name in spec.content_columns if name not in spec.template_fields()]
        text = "\n\n".join([text, *extra]) if extra else text
        content: Any = text
        image = row.get(spec.image_url_column) if spec.image_url_column else None
        if image:
            content = [
                {"type": "text", "text": text},
                {"type": "image_url", "image_url": {"url": str(image)}},
            ]
        messages = [{"role": "user", "content": content}]
        if spec.system:
            messages.insert(0, {"role": "system", "content": spec.system})
        return {"messages": messages, **spec.body_params()}

    def process(self, item: Item, result: Result) -> Row:
        row: Row = {**item.data, "response": result.text}
        if self._json:
            try:
                row["response_json"] = orjson.loads(result.text or "")
            except orjson.JSONDecodeError:
                raise TaskError("the answer is not the JSON the response_format asks for") from None
        return {**row, "error": None}

    def failed(self, item: Item, error: str) -> Row:
        return {
            **item.data,
            "response": None,
            **({"response_json": None} if self._json else {}),
            "error": error,
        }
