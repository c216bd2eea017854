"""Synthetic votes in the dataset-release schema, for tests and import benchmarks.

Winners follow a Bradley–Terry model with known ratings, so a benchmark can also check that
the leaderboard fit recovers them. Everything is vectorised: a million rows take about a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

CATEGORIES = ("people", "animals", "nature", "urban", "fantasy", "animation", "action", "food")
START = datetime(2025, 1, 1, tzinfo=UTC)


def model_names(count: int) -> list[str]:
    return [f"Synth-{i:02d}" for i in range(count)]


def synthetic_ratings(models: Sequence[str], seed: int = 0) -> dict[str, float]:
    """Hidden Elo-scale strengths, spread over about 400 points, mean 1000."""
    rng = np.random.default_rng(seed)
    return {
        name: float(r)
        for name, r in zip(models, 1000 + rng.normal(0, 120, len(models)), strict=True)
    }


def _dict_column(indices: np.ndarray, values: Sequence[str]) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(pa.array(indices, pa.int32()), pa.array(values))


def synthetic_votes(
    n: int,
    models: Sequence[str] | int = 12,
    prompts: Sequence[str] | int = 500,
    seed: int = 0,
    *,
    ratings: Mapping[str, float] | None = None,
    first_id: int = 0,
    days: int = 90,
) -> pa.Table:
    """`n` votes as a pyarrow Table with the columns of a dataset release.

    `models` and `prompts` are names/texts or how many to invent. Vote ids are
    `s{seed}-{first_id + i}`, so two calls with the same seed and overlapping ids describe the
    same votes (what an idempotency test wants); use `first_id` to continue a series.
    Repeated strings are dictionary-encoded to keep 10M rows affordable.
    """
    catalogue = np.random.default_rng(seed)
    # Draws depend on first_id too, so the chunks of one series differ.
    rng = np.random.default_rng([seed, first_id])
    names = model_names(models) if isinstance(models, int) else list(models)
    texts = (
        [f"Synthetic prompt {i}: a scene in motion" for i in range(prompts)]
        if isinstance(prompts, int)
        else list(prompts)
    )
    if len(names) < 2 or not texts:
        raise ValueError("need at least two models and one prompt")
    strengths = ratings or synthetic_ratings(names, seed)
    elo = np.array([strengths[name] for name in names])

    # Per prompt: a mode (a fifth are image-to-video), an id and one or two categories.
    prompt_mode = np.where(catalogue.random(len(texts)) < 0.2, 1, 0)
    prompt_uids = [f"sp{seed}-{i}" for i in range(len(texts))]
    first_cat = catalogue.integers(0, len(CATEGORIES), len(texts))
    second_cat = catalogue.integers(0, len(CATEGORIES), len(texts))
    prompt_categories = pa.array(
        [
            sorted({CATEGORIES[a], CATEGORIES[b]}) if b % 2 else [CATEGORIES[a]]
            for a, b in zip(first_cat, second_cat, strict=True)
        ],
        pa.list_(pa.string()),
    )
    images = [
        f"https://example.org/inputs/{uid}.png" if mode else None
        for uid, mode in zip(prompt_uids, prompt_mode, strict=True)
    ]

    prompt_idx = rng.integers(0, len(texts), n)
    a = rng.integers(0, len(names), n)
    b = (a + rng.integers(1, len(names), n)) % len(names)
    p_a = 1.0 / (1.0 + 10 ** ((elo[b] - elo[a]) / 400))
    draw = rng.random(n)
    outcome = rng.random(n)
    # 10 % ties, 5 % both bad, else Bradley–Terry.
    winner = np.where(draw < 0.10, 2, np.where(draw < 0.15, 3, np.where(outcome < p_a, 0, 1)))

    ids = pa.array(np.arange(first_id, first_id + n, dtype=np.int64))
    as_text = pc.cast(ids, pa.string())
    seconds = np.sort(rng.integers(0, days * 86400, n))
    created = pa.array(
        (np.datetime64(START.replace(tzinfo=None), "us") + seconds * 1_000_000).astype(
            "datetime64[us]"
        ),
        pa.timestamp("us", tz="UTC"),
    )
    clip_urls = [
        f"https://cdn.example.org/{m}/{p}.mp4" for m in range(len(names)) for p in prompt_uids
    ]
    taken = pa.array(prompt_idx)
    return pa.table(
        {
            "vote_id": pc.binary_join_element_wise(f"s{seed}", as_text, "-"),
            "battle_id": pc.binary_join_element_wise(f"b{seed}", as_text, "-"),
            "created_at": created,
            "arena": _dict_column(np.where(rng.random(n) < 0.4, 0, 1), ["audio", "no-audio"]),
            "mode": _dict_column(prompt_mode[prompt_idx], ["text-to-video", "image-to-video"]),
            "categories": prompt_categories.take(taken),
            "prompt_id": _dict_column(prompt_idx, prompt_uids),
            "prompt": _dict_column(prompt_idx, texts),
            "input_image_url": pa.array(images, pa.string()).take(taken),
            "model_a": _dict_column(a, names),
            "model_b": _dict_column(b, names),
            "clip_a_url": _dict_column(a * len(texts) + prompt_idx, clip_urls),
            "clip_b_url": _dict_column(b * len(texts) + prompt_idx, clip_urls),
            "winner": _dict_column(winner, ["model_a", "model_b", "tie", "both_bad"]),
            "voter": pc.binary_join_element_wise(
                f"v{seed}", pc.cast(pa.array(rng.integers(0, max(1, n // 20), n)), pa.string()), "-"
            ),
            "time_to_vote_ms": pa.array(rng.integers(3_000, 60_000, n), pa.int64()),
            "source": _dict_column(np.zeros(n, dtype=np.int32), ["web"]),
        }
    )


def write_synthetic_parquet(
    path: Path,
    n: int,
    models: Sequence[str] | int = 12,
    prompts: Sequence[str] | int = 500,
    seed: int = 0,
    *,
    chunk: int = 1_000_000,
) -> Path:
    """Write `n` synthetic votes to a Parquet file in chunks, so 10M rows fit in memory.

    The ratings and prompts are the same in every chunk (same seed); each chunk draws its own
    pairs and outcomes, and its created_at restarts at START (the importer does not care).
    """
    names = model_names(models) if isinstance(models, int) else list(models)
    ratings = synthetic_ratings(names, seed)
    writer: pq.ParquetWriter | None = None
    try:
        for start in range(0, n, chunk):
            table = synthetic_votes(
                min(chunk, n - start),
                names,
                prompts,
                seed,
                ratings=ratings,
                first_id=start,
            )
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table, row_group_size=min(chunk, 256_000))
    finally:
        if writer is not None:
            writer.close()
    return path
