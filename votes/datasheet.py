"""The datasheet (README.md) of a dataset release: schema, counts, filtering, how to load."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

SCHEMA_DOC = (
    ("vote_id", "string", "Unique id of the vote; the key for de-duplication."),
    ("battle_id", "string, nullable", "Id of the battle (the pair shown); null if unknown."),
    ("created_at", "timestamp (UTC)", "When the vote was cast, truncated (see Timestamps)."),
    ("arena", "string", "`audio` (clips played with sound) or `no-audio` (silent)."),
    ("mode", "string", "`text-to-video` or `image-to-video`."),
    ("categories", "list of strings", "Category slugs of the prompt (may be empty)."),
    ("prompt_id", "string", "Id of the prompt."),
    ("prompt", "string", "Text of the prompt both clips were generated from."),
    ("input_image_url", "string, nullable", "Input image of an image-to-video prompt."),
    ("model_a", "string", "Model whose clip was shown first (left)."),
    ("model_b", "string", "Model whose clip was shown second (right)."),
    ("clip_a_url", "string, nullable", "Address of model_a's clip."),
    ("clip_b_url", "string, nullable", "Address of model_b's clip."),
    ("winner", "string", "`model_a`, `model_b`, `tie` or `both_bad`."),
    ("voter", "string, nullable", "Pseudonym of the voter, valid in this release only."),
    ("time_to_vote_ms", "integer, nullable", "Milliseconds from showing the clips to the vote."),
    ("source", "string", "Where the vote came from: `web`, `api`, `import`, ..."),
)
LOADING = """```python
import pandas as pd
votes = pd.read_parquet("votes.parquet")          # or pd.read_json("votes.jsonl.gz", lines=True)

import polars as pl
votes = pl.read_parquet("votes.parquet")          # or pl.read_ndjson / pl.read_csv

from datasets import load_dataset
votes = load_dataset("parquet", data_files="votes.parquet", split="train")
# or: load_dataset("json", data_files="votes.jsonl.gz", split="train")
```

In `votes.csv.gz`, `categories` is a JSON list in a string: `json.loads` it
(pandas: `votes["categories"].map(json.loads)`)."""


def _table(header: tuple[str, ...], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def render_readme(manifest: dict[str, Any], *, site_url: str, has_leaderboards: bool) -> str:
    """The release's datasheet (README.md), from its manifest."""
    counts, left = manifest["counts"], manifest["counts"]["filtered_out"]
    dates = counts["date_range"]
    truncated = manifest["created_at_truncated_to"]
    where = f" at {site_url}" if site_url else ""
    sections = [
        f"# Video arena votes, release {manifest['version']}",
        f"Created {manifest['created']}. {counts['rows']:,} votes from {dates['first']} to "
        f"{dates['last']}, by {counts['voters']:,} pseudonymous voters (plus votes without a "
        f"known voter), on {counts['prompts']:,} prompts and {len(counts['models'])} models.",
        "## What this is",
        f"A blind video arena{where}: a voter watches two clips that two different AI video "
        "models made from the same prompt, without knowing which model made which, and says "
        "which is better, or that they tie, or that both are bad. Model names are shown only "
        "after the vote. There are two arenas, `audio` (clips with their sound) and `no-audio` "
        "(silent), and two modes, `text-to-video` and `image-to-video`. The votes feed "
        "Bradley–Terry leaderboards per arena, mode and prompt category. Votes imported from "
        "other arenas keep their own clip addresses and `source`.",
        "## Files",
        _table(
            ("file", "format", "bytes", "sha256"),
            [
                (f"`{f['name']}`", f["format"], f["bytes"], f"`{f['sha256']}`")
                for f in manifest["files"]
            ],
        ),
        "`manifest.json` holds the same counts and checksums in machine-readable form"
        + (
            "; `leaderboards.json` the leaderboards as they stood when the release was made."
            if has_leaderboards
            else "."
        )
        + " Every format holds the same rows, one per vote, ordered as the votes were recorded.",
        "## Schema",
        _table(("column", "type", "meaning"), [(f"`{c}`", t, m) for c, t, m in SCHEMA_DOC]),
        "## Counts",
        f"{counts['rows']:,} votes, first {dates['first']}, last {dates['last']}.",
        _table(("arena", "votes"), list(counts["arenas"].items())),
        _table(("mode", "votes"), list(counts["modes"].items())),
        _table(("winner", "votes"), list(counts["winners"].items())),
        "Votes per category (a prompt can have several categories, so these add up to more "
        "than the total):",
        _table(("category", "votes"), list(counts["categories"].items())),
        "Votes per model (each vote involves two models):",
        _table(("model", "votes"), list(counts["models"].items())),
        "## What was left out, and why",
        "Only counted votes are released, the same votes the leaderboards are fitted on. "
        f"{left['total']:,} recorded votes were left out:\n\n"
        f"- {left['quarantined']:,} quarantined: cast by voters whose behaviour (rate, "
        "patterns, failed checks) marked them as likely automated or careless;\n"
        f"- {left['invalidated']:,} invalidated by a moderator (for instance a clip that "
        "did not play, or abuse);\n"
        f"- {left['attention_check']:,} attention checks: battles with a known right answer, "
        "used to test voters, not to judge models.\n\n"
        "A vote can carry more than one of these flags, so the three can add up to more than "
        "the total. Nothing else was removed.",
        "## Voters and privacy",
        "`voter` is `HMAC-SHA256(key, voter id)`, first 16 hex digits, with a random key drawn "
        "for this release and then thrown away: the same voter has the same pseudonym across "
        "this release, and pseudonyms cannot be linked to voters or across releases. Nothing "
        "else about voters is released: no IP addresses or hashes of them, no user agents, no "
        "sessions, and nothing about moderators.",
        "## Timestamps",
        "`created_at` is in UTC"
        + (f", truncated to the {truncated}" if truncated != "none" else ", not truncated")
        + ". It is an ISO 8601 string in JSONL and CSV and a timestamp in Parquet.",
        "## Licence",
        f"{manifest['licence']}. Cite the arena and this release's version.",
        "## Loading",
        LOADING,
    ]
    return "\n\n".join(sections) + "\n"
