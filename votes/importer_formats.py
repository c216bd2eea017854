"""Readers for `import_votes`: files in, bounded batches of arrow rows out.

Each reader yields `Batch`es of at most about `batch_rows` rows, with the position of every
row (line number in JSONL and CSV, row number in Parquet and JSON lists) and the rows it could
not parse. No Django here.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pajson
import pyarrow.parquet as pq

STRING = pa.string()
DATASET_FIELDS: dict[str, pa.DataType] = {
    "vote_id": STRING,
    "battle_id": STRING,
    "created_at": STRING,
    "arena": STRING,
    "mode": STRING,
    "categories": pa.list_(STRING),
    "prompt_id": STRING,
    "prompt": STRING,
    "input_image_url": STRING,
    "model_a": STRING,
    "model_b": STRING,
    "clip_a_url": STRING,
    "clip_b_url": STRING,
    "winner": STRING,
    "voter": STRING,
    "time_to_vote_ms": pa.int64(),
    "source": STRING,
}
GENAI_FIELDS: dict[str, pa.DataType] = {
    "prompt": STRING,
    "left_model": STRING,
    "right_model": STRING,
    "vote_type": STRING,
    "tstamp": pa.float64(),
}
GENAI_WINNERS = {
    "leftvote": "model_a",
    "rightvote": "model_b",
    "tievote": "tie",
    "bothbad_vote": "both_bad",
}
FASTCHAT_WINNERS = {
    "model_a": "model_a",
    "model_b": "model_b",
    "tie": "tie",
    "tie (bothbad)": "both_bad",
}
FASTCHAT_PLACEHOLDER = "(imported from FastChat)"
csv.field_size_limit(sys.maxsize)


@dataclass(frozen=True)
class RowError:
    position: int  # line number (JSONL, CSV) or row number (Parquet, JSON list), from 1
    reason: str


@dataclass
class Batch:
    table: pa.Table
    positions: pa.Array  # int64, one per row of `table`
    errors: list[RowError] = field(default_factory=list)

    @property
    def read(self) -> int:
        return self.table.num_rows + len(self.errors)


def kind_of(path: Path) -> str:
    """'jsonl', 'csv', 'parquet' or 'json' from the file name (".gz" allowed on text)."""
    name = path.name.lower().removesuffix(".gz")
    for suffix, kind in (
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".csv", "csv"),
        (".json", "json"),
        (".parquet", "parquet"),
    ):
        if name.endswith(suffix) and not (kind == "parquet" and path.name.endswith(".gz")):
            return kind
    raise ValueError(
        f"{path.name}: unknown format (use .jsonl, .jsonl.gz, .csv, .csv.gz or .parquet)"
    )


def position_label(path: Path) -> str:
    return "line" if kind_of(path) in ("jsonl", "csv") else "row"


def _open(path: Path) -> IO[bytes]:
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else path.open("rb")


def read_rows(path: Path, fields: dict[str, pa.DataType], batch_rows: int) -> Iterator[Batch]:
    kind = kind_of(path)
    if kind == "parquet":
        return _read_parquet(path, fields, batch_rows)
    if kind == "csv":
        return _read_csv(path, fields, batch_rows)
    if kind == "jsonl":
        return _read_jsonl(path, fields, batch_rows)
    raise ValueError(f"{path.name}: a JSON list is only read with --from fastchat")


def _read_parquet(path: Path, fields: dict[str, pa.DataType], batch_rows: int) -> Iterator[Batch]:
    source = pq.ParquetFile(path)
    columns = [name for name in source.schema_arrow.names if name in fields]
    done = 0
    for record_batch in source.iter_batches(batch_size=batch_rows, columns=columns):
        table = pa.Table.from_batches([record_batch])
        yield Batch(table, pa.array(range(done + 1, done + table.num_rows + 1), pa.int64()))
        done += table.num_rows


def parquet_rows(path: Path) -> int | None:
    try:
        return pq.ParquetFile(path).metadata.num_rows if kind_of(path) == "parquet" else None
    except (OSError, ValueError, pa.ArrowException):
        return None


def _read_csv(path: Path, fields: dict[str, pa.DataType], batch_rows: int) -> Iterator[Batch]:
    """Python's csv module, not pyarrow's: it knows each row's line, which arrow's does not."""
    with io.TextIOWrapper(_open(path), encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        header = [name.strip() for name in next(reader, [])]
        width = len(header)
        wanted = {name: i for i, name in enumerate(header) if name in fields}
        last_line = reader.line_num
        while True:
            rows: list[list[str]] = []
            numbers: list[int] = []
            errors: list[RowError] = []
            for row in islice(reader, batch_rows):
                start, last_line = last_line + 1, reader.line_num
                if len(row) == width:
                    rows.append(row)
                    numbers.append(start)
                elif any(value.strip() for value in row):
                    errors.append(RowError(start, f"has {len(row)} fields, the header {width}"))
            if not rows and not errors:
                return
            columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
            table = pa.table(
                {name: pa.array(columns[i], STRING) for name, i in wanted.items()}
                or {"_": pa.nulls(len(rows))}
            )
            yield Batch(table, pa.array(numbers, pa.int64()), errors)


def _read_jsonl(path: Path, fields: dict[str, pa.DataType], batch_rows: int) -> Iterator[Batch]:
    schema = pa.schema(list(fields.items()))
    options = pajson.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    with _open(path) as handle:
        done = 0
        while lines := list(islice(handle, batch_rows)):
            numbers = [done + i for i, line in enumerate(lines, start=1) if line.strip()]
            kept = [line for line in lines if line.strip()]
            done += len(lines)
            try:
                data = b"".join(line if line.endswith(b"\n") else line + b"\n" for line in kept)
                table = pajson.read_json(
                    io.BytesIO(data),
                    read_options=pajson.ReadOptions(block_size=8 << 20),
                    parse_options=options,
                )
                if table.num_rows == len(kept):
                    yield Batch(table, pa.array(numbers, pa.int64()))
                    continue
            except pa.ArrowException:
                pass
            # Some line is malformed or mistyped: parse one by one to say which.
            yield _json_objects(
                ((n, line) for n, line in zip(numbers, kept, strict=True)), fields, loads=True
            )


def _json_objects(items: Any, fields: dict[str, pa.DataType], *, loads: bool) -> Batch:
    columns: dict[str, list[Any]] = {name: [] for name in fields}
    numbers: list[int] = []
    errors: list[RowError] = []
    for number, item in items:
        try:
            obj = json.loads(item) if loads else item
            if not isinstance(obj, dict):
                raise ValueError("not a JSON object")
            values = {name: _coerce(obj.get(name), kind, name) for name, kind in fields.items()}
        except json.JSONDecodeError as exc:
            errors.append(RowError(number, f"not valid JSON ({exc.msg})"))
            continue
        except ValueError as exc:
            errors.append(RowError(number, str(exc)))
            continue
        for name, value in values.items():
            columns[name].append(value)
        numbers.append(number)
    table = pa.table({name: pa.array(columns[name], kind) for name, kind in fields.items()})
    return Batch(table, pa.array(numbers, pa.int64()), errors)


def _coerce(value: Any, kind: pa.DataType, name: str) -> Any:
    if value is None:
        return None
    if kind == STRING:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise ValueError(f"{name} must be a string")
    if pa.types.is_list(kind):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
        raise ValueError(f"{name} must be a list of strings")
    try:
        number = float(value) if not isinstance(value, bool) else None
    except (TypeError, ValueError):
        number = None
    if number is None or number != number:
        raise ValueError(f"{name} must be a number")
    if pa.types.is_integer(kind):
        if not number.is_integer():
            raise ValueError(f"{name} must be a whole number")
        return int(number)
    return number


def row_hash(prefix: str, position: int, content: str) -> str:
    """A vote_id for a foreign row: the same file gives the same ids (idempotent re-import)."""
    digest = hashlib.sha256(f"{position}\x00{content}".encode()).hexdigest()[:40]
    return f"{prefix}-{digest}"


def _timestamps(seconds: pa.Array, fallback: datetime) -> pa.Array:
    """Unix seconds (float) -> timestamp[us, UTC]; missing -> `fallback`."""
    micros = pc.cast(pc.round(pc.multiply(seconds, 1_000_000)), pa.int64())
    stamps = pc.cast(micros, pa.timestamp("us", tz="UTC"))
    return pc.fill_null(stamps, pa.scalar(fallback, pa.timestamp("us", tz="UTC")))


def read_genai_arena(
    path: Path, *, arena: str, mode: str, fallback_time: datetime, batch_rows: int
) -> Iterator[Batch]:
    """GenAI-Arena rows (prompt, left_model, right_model, vote_type, tstamp) in dataset form."""
    for batch in read_rows(path, GENAI_FIELDS, batch_rows):
        raw = batch.table
        n = raw.num_rows

        def col(name: str, t: pa.Table = raw, length: int = n) -> pa.Array:
            if name in t.column_names:
                return t[name].combine_chunks()
            return pa.nulls(length, GENAI_FIELDS[name])

        vote_type = pc.utf8_trim_whitespace(pc.cast(col("vote_type"), STRING))
        known = pc.index_in(vote_type, value_set=pa.array(list(GENAI_WINNERS)))
        mapped = pc.take(pa.array(list(GENAI_WINNERS.values())), known)
        winner = pc.coalesce(mapped, vote_type)  # unknown kinds are refused later, by name
        content = pc.binary_join_element_wise(
            *(pc.fill_null(pc.cast(col(name), STRING), "") for name in GENAI_FIELDS), "\x1f"
        )
        ids = [
            row_hash("genai", position, text)
            for position, text in zip(batch.positions.to_pylist(), content.to_pylist(), strict=True)
        ]
        try:
            stamps = _timestamps(pc.cast(col("tstamp"), pa.float64()), fallback_time)
        except pa.ArrowInvalid:
            stamps = pa.array([_stamp(v, fallback_time) for v in col("tstamp").to_pylist()], STRING)
        table = pa.table(
            {
                "vote_id": pa.array(ids, STRING),
                "created_at": stamps,
                "arena": pa.array([arena] * n, STRING),
                "mode": pa.array([mode] * n, STRING),
                "prompt": pc.cast(col("prompt"), STRING),
                "model_a": pc.cast(col("left_model"), STRING),
                "model_b": pc.cast(col("right_model"), STRING),
                "winner": winner,
                "source": pa.array(["genai-arena"] * n, STRING),
            }
        )
        yield Batch(table, batch.positions, batch.errors)


def _stamp(value: Any, fallback: datetime) -> str:
    if value is None or value == "":
        return fallback.isoformat()
    try:
        return datetime.fromtimestamp(float(value), UTC).isoformat()
    except (TypeError, ValueError, OverflowError):
        return str(value)  # refused later as a bad created_at


def _fastchat_prompt(obj: dict[str, Any]) -> tuple[str | None, str]:
    question = obj.get("question_id")
    question_id = str(question) if question not in (None, "") else None
    for turn in obj.get("conversation_a") or []:
        if isinstance(turn, dict) and turn.get("role") == "user":
            content = turn.get("content")
            if isinstance(content, str) and content.strip():
                return question_id, content
    if question_id:
        return question_id, f"FastChat question {question_id}"
    return None, FASTCHAT_PLACEHOLDER


def read_fastchat(
    path: Path, *, arena: str, mode: str, fallback_time: datetime, batch_rows: int
) -> Iterator[Batch]:
    """FastChat/LMArena battles (a JSON list, or JSONL) in dataset form."""
    with ExitStack() as stack:
        if kind_of(path) == "json":
            data = json.load(stack.enter_context(_open(path)))
            if not isinstance(data, list):
                raise ValueError(f"{path.name}: expected a JSON list of battles")
            items: Iterator[tuple[int, Any]] = iter(enumerate(data, start=1))
        elif kind_of(path) == "jsonl":
            lines = enumerate(stack.enter_context(_open(path)), start=1)
            items = ((n, json_line(line)) for n, line in lines if line.strip())
        else:
            raise ValueError(f"{path.name}: FastChat logs are JSON or JSONL")
        yield from _fastchat_batches(items, arena, mode, fallback_time, batch_rows)


class _BadLine:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def json_line(line: bytes) -> Any:
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        return _BadLine(f"not valid JSON ({exc.msg})")


def _fastchat_batches(
    items: Iterator[tuple[int, Any]],
    arena: str,
    mode: str,
    fallback_time: datetime,
    batch_rows: int,
) -> Iterator[Batch]:
    while chunk := list(islice(items, batch_rows)):
        rows: list[tuple[int, dict[str, Any]]] = []
        errors: list[RowError] = []
        for number, obj in chunk:
            if isinstance(obj, _BadLine):
                errors.append(RowError(number, obj.reason))
            elif not isinstance(obj, dict):
                errors.append(RowError(number, "not a JSON object"))
            else:
                rows.append((number, obj))
        yield Batch(_fastchat_table(rows, arena, mode, fallback_time), _positions(rows), errors)


def _positions(rows: list[tuple[int, dict[str, Any]]]) -> pa.Array:
    return pa.array([number for number, _ in rows], pa.int64())


def _fastchat_table(
    rows: list[tuple[int, dict[str, Any]]], arena: str, mode: str, fallback_time: datetime
) -> pa.Table:
    columns: dict[str, list[Any]] = {
        name: [] for name in ("vote_id", "created_at", "prompt_id", "prompt", "model_a", "model_b")
    }
    columns["winner"] = []
    for number, obj in rows:
        content = json.dumps(obj, sort_keys=True, default=str)
        prompt_id, prompt = _fastchat_prompt(obj)
        winner = obj.get("winner")
        columns["vote_id"].append(row_hash("fastchat", number, content))
        columns["created_at"].append(_stamp(obj.get("tstamp"), fallback_time))
        columns["prompt_id"].append(prompt_id)
        columns["prompt"].append(prompt)
        columns["model_a"].append(_text(obj.get("model_a")))
        columns["model_b"].append(_text(obj.get("model_b")))
        columns["winner"].append(FASTCHAT_WINNERS.get(str(winner), _text(winner)))
    n = len(rows)
    table = {name: pa.array(values, STRING) for name, values in columns.items()}
    table |= {
        "arena": pa.array([arena] * n, STRING),
        "mode": pa.array([mode] * n, STRING),
        "source": pa.array(["fastchat"] * n, STRING),
    }
    return pa.table(table)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
