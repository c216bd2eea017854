"""Counts of a release's rows as written, for its manifest and datasheet."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .export_format import single


class ReleaseTally:
    """Counts of the rows as written: per arena, mode, category (via prompts) and model."""

    def __init__(self, catalogue: Any) -> None:  # exporter._Catalogue
        self.catalogue = catalogue
        self.rows = 0
        self.arenas: Counter[str] = Counter()
        self.modes: Counter[str] = Counter()
        self.winners: Counter[str] = Counter()
        self.prompts = np.zeros(len(catalogue.prompt_uids), dtype=np.int64)
        self.models = np.zeros(len(catalogue.generator_names), dtype=np.int64)
        self.first: int | None = None
        self.last: int | None = None

    def add(self, table: pa.Table, prompt_at: np.ndarray) -> None:
        self.rows += table.num_rows
        for counter, name in (
            (self.arenas, "arena"),
            (self.modes, "mode"),
            (self.winners, "winner"),
        ):
            _count_dictionary(counter, single(table[name]))
        self.prompts += np.bincount(prompt_at, minlength=len(self.prompts))
        for name in ("model_a", "model_b"):
            indices = single(table[name]).indices.to_numpy()
            self.models += np.bincount(indices, minlength=len(self.models))
        times = pc.min_max(table["created_at"].cast(pa.int64())).as_py()
        self.first = times["min"] if self.first is None else min(self.first, times["min"])
        self.last = times["max"] if self.last is None else max(self.last, times["max"])

    def counts(self, *, voters: int) -> dict[str, Any]:
        categories: Counter[str] = Counter()
        for slugs, n in zip(
            self.catalogue.prompt_categories.to_pylist(), self.prompts.tolist(), strict=True
        ):
            for slug in slugs if n else ():
                categories[slug] += n
        models = zip(self.catalogue.generator_names.to_pylist(), self.models.tolist(), strict=True)

        def iso(us: int | None) -> str | None:
            return None if us is None else datetime.fromtimestamp(us / 1e6, UTC).isoformat()

        return {
            "rows": self.rows,
            "arenas": dict(sorted(self.arenas.items())),
            "modes": dict(sorted(self.modes.items())),
            "winners": dict(sorted(self.winners.items())),
            "categories": dict(sorted(categories.items())),
            "models": {name: n for name, n in sorted(models) if n},
            "prompts": int(np.count_nonzero(self.prompts)),
            "voters": voters,
            "date_range": {"first": iso(self.first), "last": iso(self.last)},
        }


def _count_dictionary(counter: Counter[str], values: pa.DictionaryArray) -> None:
    counts = np.bincount(values.indices.to_numpy(), minlength=len(values.dictionary))
    for value, n in zip(values.dictionary.to_pylist(), counts.tolist(), strict=True):
        if n:
            counter[value] += n
