"""Row checks for import_votes: canonical column types and vectorised validation.

Pure functions over pyarrow tables; a refused row gets the reason of the first check it fails.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from arena.models import Arena, Mode

from .importer_formats import DATASET_FIELDS, RowError
from .models import Winner

UTC_US = pa.timestamp("us", tz="UTC")
SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
INT32_MAX = 2**31 - 1
# Longest values the columns take (Vote.uid, battle_uid and source; Generator.name).
MAX_LEN = {"vote_id": 64, "battle_id": 64, "source": 20, "model_a": 100, "model_b": 100}


def _column(table: pa.Table, name: str, kind: pa.DataType) -> pa.Array:
    if name not in table.column_names:
        return pa.nulls(table.num_rows, kind)
    return table[name].combine_chunks()


def _text(values: pa.Array) -> pa.Array:
    """Any column -> trimmed strings, with empty strings as nulls."""
    if pa.types.is_dictionary(values.type) or not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    values = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def normalise(raw: pa.Table) -> pa.Table:
    """Canonical types: strings, created_at as timestamp[us, UTC] (null if unreadable),
    time_to_vote_ms as int64 (null if absent; -1 if unreadable), categories kept raw."""
    columns: dict[str, pa.Array] = {}
    for name, kind in DATASET_FIELDS.items():
        if name in ("created_at", "time_to_vote_ms", "categories"):
            continue
        columns[name] = _text(_column(raw, name, kind))
    columns["created_at"] = _timestamps(_column(raw, "created_at", pa.string()))
    columns["time_to_vote_ms"] = _integers(_column(raw, "time_to_vote_ms", pa.int64()))
    columns["categories"] = _column(raw, "categories", pa.list_(pa.string()))
    return pa.table(columns)


def _timestamps(values: pa.Array) -> pa.Array:
    if pa.types.is_timestamp(values.type):
        if values.type.tz is None:
            values = pc.assume_timezone(values, "UTC")
        return pc.cast(values, UTC_US)
    values = _text(values)
    try:
        return pc.cast(values, UTC_US)  # all with an offset
    except pa.ArrowInvalid:
        pass
    try:
        return pc.assume_timezone(pc.cast(values, pa.timestamp("us")), "UTC")  # all naive
    except pa.ArrowInvalid:
        pass
    return pa.array([_parse_time(v) for v in values.to_pylist()], UTC_US)


def _parse_time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _integers(values: pa.Array) -> pa.Array:
    if pa.types.is_integer(values.type):
        return pc.cast(values, pa.int64())
    text = _text(values)
    try:
        return pc.cast(pc.cast(text, pa.float64()), pa.int64())
    except pa.ArrowInvalid:
        pass

    def one(value: str | None) -> int | None:
        if value is None:
            return None
        try:
            number = float(value)
        except ValueError:
            return -1
        return int(number) if number.is_integer() else -1

    return pa.array([one(v) for v in text.to_pylist()], pa.int64())


def _checks(table: pa.Table) -> list[tuple[pa.Array, Callable[[int], str]]]:
    """(mask of failing rows, reason for row i), in the order a row is judged."""
    col = table.column

    def value(name: str) -> Callable[[int], str]:
        return lambda i: repr(col(name)[i].as_py())

    missing = [
        (pc.is_null(col(name)), lambda i, name=name: f"{name} is missing")
        for name in ("vote_id", "model_a", "model_b")
    ]
    too_long = [
        (
            pc.greater(pc.utf8_length(col(name)), limit),
            lambda i, name=name, limit=limit: f"{name} is longer than {limit} characters",
        )
        for name, limit in MAX_LEN.items()
    ]
    nul = [
        (pc.match_substring(col(name), "\x00"), lambda i, name=name: f"{name} contains NUL")
        for name in ("vote_id", "prompt_id", "prompt", "model_a", "model_b", "battle_id")
    ]
    ttv = col("time_to_vote_ms")
    arena, mode, winner = value("arena"), value("mode"), value("winner")
    return [
        *missing,
        *too_long,
        *nul,
        (pc.invert(pc.is_in(col("arena"), pa.array(Arena.values))), lambda i: f"arena {arena(i)}"
         " is not one of " + ", ".join(Arena.values)),
        (pc.invert(pc.is_in(col("mode"), pa.array(Mode.values))), lambda i: f"mode {mode(i)}"
         " is not one of " + ", ".join(Mode.values)),
        (pc.invert(pc.is_in(col("winner"), pa.array(Winner.values))),
         lambda i: f"winner {winner(i)} is not one of " + ", ".join(Winner.values)),
        (pc.equal(col("model_a"), col("model_b")), lambda i: "model_a and model_b are the same"),
        (pc.and_(pc.is_null(col("prompt")), pc.is_null(col("prompt_id"))),
         lambda i: "needs a prompt or a prompt_id"),
        (pc.is_null(col("created_at")), lambda i: "created_at is missing or not ISO 8601"),
        (pc.or_(pc.less(ttv, 0), pc.greater(ttv, INT32_MAX)),
         lambda i: "time_to_vote_ms must be a whole number of milliseconds"),
    ]  # fmt: skip


def validate(table: pa.Table, positions: pa.Array) -> tuple[pa.Array, list[RowError]]:
    """Mask of refused rows, and why each was refused (first failing check)."""
    checks = [(pc.fill_null(mask, False), reason) for mask, reason in _checks(table)]
    bad = checks[0][0]
    for mask, _ in checks[1:]:
        bad = pc.or_(bad, mask)
    errors = []
    if pc.any(bad).as_py():
        arrays = [mask.to_numpy(zero_copy_only=False) for mask, _ in checks]
        for i in np.flatnonzero(bad.to_numpy(zero_copy_only=False)):
            reason = next(r for (_, r), a in zip(checks, arrays, strict=True) if a[i])
            errors.append(RowError(positions[int(i)].as_py(), reason(int(i))))
    return bad, errors


def parse_categories(value: Any) -> list[str]:
    """A list, a JSON-encoded list, or ';'-separated slugs -> clean slugs (ValueError if bad)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = json.loads(text)
        else:
            value = text.split(";") if text else []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError("categories must be a list of slugs")
    slugs = list(dict.fromkeys(v.strip().lower() for v in value if v.strip()))
    bad = [s for s in slugs if not SLUG.match(s)]
    if bad:
        raise ValueError(f"category {bad[0]!r} is not a slug")
    return slugs
