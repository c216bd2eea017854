"""The file side of a dataset release: its schema and the streaming writers.

Parquet (one row group per page), gzipped JSON Lines and CSV, each fed pyarrow tables in
the release schema; JSON and CSV text is built a column at a time by pyarrow kernels.
"""

from __future__ import annotations

import gzip
import hashlib
import io
from datetime import datetime
from json.encoder import encode_basestring
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

STRING = pa.string()
DICT = pa.dictionary(pa.int32(), STRING)
SCHEMA = pa.schema(
    [
        ("vote_id", STRING),
        ("battle_id", STRING),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("arena", DICT),
        ("mode", DICT),
        ("categories", pa.list_(STRING)),
        ("prompt_id", DICT),
        ("prompt", DICT),
        ("input_image_url", DICT),
        ("model_a", DICT),
        ("model_b", DICT),
        ("clip_a_url", STRING),
        ("clip_b_url", STRING),
        ("winner", DICT),
        ("voter", STRING),
        ("time_to_vote_ms", pa.int64()),
        ("source", DICT),
    ]
)
COLUMNS = tuple(SCHEMA.names)


def single(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


GZIP_LEVEL = 6


def digest(path: Path) -> dict[str, Any]:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            sha.update(block)
    return {"sha256": sha.hexdigest(), "bytes": path.stat().st_size}


_UNIQUE = ("vote_id", "battle_id", "voter")
_FILTERED = ("created_at", "arena", "mode", "model_a", "model_b", "winner", "time_to_vote_ms")


class _ParquetWriter:
    def __init__(self, path: Path, now: datetime) -> None:
        self.path = path
        self.writer = pq.ParquetWriter(
            path,
            SCHEMA,
            compression="zstd",
            # A dictionary for ids that never repeat only costs its build and the fallback.
            use_dictionary=[n for n in COLUMNS if n not in _UNIQUE],
            # Statistics where readers filter; min/max of ids, texts and URLs help no one.
            write_statistics=list(_FILTERED),
        )

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=table.num_rows)

    def close(self) -> None:
        self.writer.close()


class _GzipWriter:
    def __init__(self, path: Path, now: datetime) -> None:
        self.path = path
        self.raw: IO[bytes] = path.open("wb")
        self.gzip = gzip.GzipFile(
            filename="", mode="wb", fileobj=self.raw, compresslevel=GZIP_LEVEL, mtime=0
        )

    def write(self, table: pa.Table) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.gzip.close()
        self.raw.close()


class _JsonlWriter(_GzipWriter):
    """Each line built column-wise by arrow string kernels, then written as one buffer."""

    def write(self, table: pa.Table) -> None:
        pieces: list[Any] = []
        for i, name in enumerate(COLUMNS):
            pieces += ["{" if i == 0 else ",", f'"{name}":', _json_column(table[name])]
        lines = pc.binary_join_element_wise(*pieces, "}\n", "")
        self.gzip.write(_string_data(lines))


class _CsvWriter(_GzipWriter):
    def __init__(self, path: Path, now: datetime) -> None:
        super().__init__(path, now)
        self.header = True

    def write(self, table: pa.Table) -> None:
        columns = {}
        for name in COLUMNS:
            values = single(table[name])
            if name == "categories":
                values = _json_lists(values)
            elif name == "created_at":
                values = _iso(values, "%Y-%m-%dT%H:%M:%SZ")
            elif pa.types.is_dictionary(values.type):
                values = values.dictionary_decode()
            columns[name] = values
        buffer = io.BytesIO()
        options = pacsv.WriteOptions(include_header=self.header)
        pacsv.write_csv(pa.table(columns), buffer, write_options=options)
        self.header = False
        self.gzip.write(buffer.getbuffer())


WRITERS: dict[str, type] = {"parquet": _ParquetWriter, "jsonl": _JsonlWriter, "csv": _CsvWriter}


def _string_data(values: pa.Array) -> memoryview:
    """The bytes of a string array without nulls: its values, back to back."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)
    start, end = offsets[values.offset], offsets[values.offset + len(values)]
    return memoryview(values.buffers()[2])[start:end]


def _iso(values: pa.Array, pattern: str) -> pa.Array:
    """ISO 8601 text; whole seconds when every value is (arrow's %S prints microseconds)."""
    try:
        values = values.cast(pa.timestamp("s", tz="UTC"))
    except pa.ArrowInvalid:
        pass
    return pc.strftime(values, pattern)


def _json_strings(values: pa.Array) -> pa.Array:
    """JSON literals of strings (null -> null), escaped by kernels unless control characters
    call for the full encoder."""
    if pc.any(pc.match_substring_regex(values, "[\\x00-\\x1f]")).as_py():
        return pa.array(
            [encode_basestring(v) if v is not None else "null" for v in values.to_pylist()],
            STRING,
        )
    escaped = pc.replace_substring(pc.replace_substring(values, "\\", "\\\\"), '"', '\\"')
    return pc.binary_join_element_wise('"', escaped, '"', "").fill_null("null")


def _json_lists(values: pa.Array) -> pa.Array:
    """JSON text of each list of strings (categories), e.g. ["nature","urban"]."""
    items = pa.ListArray.from_arrays(values.offsets, _json_strings(values.values))
    return pc.binary_join_element_wise("[", pc.binary_join(items, ","), "]", "")


def _json_column(values: pa.ChunkedArray) -> pa.Array:
    values = single(values)
    kind = values.type
    if pa.types.is_dictionary(kind):
        literals = _json_strings(values.dictionary)
        return literals.take(values.indices).fill_null("null")
    if pa.types.is_timestamp(kind):
        return _iso(values, '"%Y-%m-%dT%H:%M:%SZ"')
    if pa.types.is_list(kind):
        return _json_lists(values)
    if pa.types.is_integer(kind):
        return values.cast(STRING).fill_null("null")
    return _json_strings(values)
