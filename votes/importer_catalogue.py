"""Finding or creating the generators and prompts that imported votes name.

Names are resolved once per distinct value of a batch and remembered in a Catalogue, so
ten million rows cost a few thousand queries.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from arena.ingest import IngestError, ensure_categories
from arena.models import Generator, Prompt, new_uid

from .importer_rows import parse_categories

if TYPE_CHECKING:  # the importer imports this module
    from .importer import ImportResult


class VoteImportError(ValueError):
    """The file as a whole cannot be imported (unknown format, unreadable)."""


@dataclass
class Catalogue:
    """Names -> ids seen so far, so that ten million rows cost a few thousand queries."""

    generators: dict[str, int] = field(default_factory=dict)
    prompt_keys: dict[str, int] = field(default_factory=dict)
    by_uid: dict[str, tuple[int, str]] = field(default_factory=dict)  # uid -> (pk, mode)
    by_text: dict[tuple[str, str], int] = field(default_factory=dict)  # (mode, text) -> pk


def _chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _lookup(values: pa.Array, ids: dict[str, int]) -> pa.Array:
    """Map each value to ids[value], vectorised over the batch's distinct values."""
    distinct = pc.unique(values)
    names = distinct.to_pylist()
    known = pa.array([ids.get(name) if name is not None else None for name in names], pa.int64())
    return pc.take(known, pc.index_in(values, value_set=distinct))


def generator_ids(
    table: pa.Table, catalogue: Catalogue, result: ImportResult
) -> tuple[pa.Array, pa.Array]:
    both = pa.concat_arrays([table["model_a"].combine_chunks(), table["model_b"].combine_chunks()])
    names = pc.unique(both).to_pylist()
    unknown = [name for name in names if name not in catalogue.generators]
    for chunk in _chunks(unknown):
        found = dict(Generator.objects.filter(name__in=chunk).values_list("name", "pk"))
        new = [Generator(name=name) for name in chunk if name not in found]
        if new:
            Generator.objects.bulk_create(new, ignore_conflicts=True)
            found |= dict(Generator.objects.filter(name__in=chunk).values_list("name", "pk"))
            result.generators_created += len(new)
        catalogue.generators.update(found)
    return (
        _lookup(table["model_a"].combine_chunks(), catalogue.generators),
        _lookup(table["model_b"].combine_chunks(), catalogue.generators),
    )


def prompt_ids(
    table: pa.Table, catalogue: Catalogue, result: ImportResult
) -> tuple[pa.Array, pa.Array, dict[str, str]]:
    """Prompt pk per row (null where refused), each row's prompt key, and reasons by key."""
    keys = pc.binary_join_element_wise(
        pc.fill_null(table["prompt_id"], ""), table["mode"], pc.fill_null(table["prompt"], ""),
        "\x00",
    )  # fmt: skip
    distinct = pc.unique(keys)
    unknown = [k for k in distinct.to_pylist() if k not in catalogue.prompt_keys]
    failed: dict[str, str] = {}
    if unknown:
        first = pc.index_in(pa.array(unknown, pa.string()), value_set=keys).to_pylist()
        failed = _resolve_prompts(table, unknown, first, catalogue, result)
    return _lookup(keys, catalogue.prompt_keys), keys, failed


def _resolve_prompts(
    table: pa.Table,
    keys: list[str],
    first_rows: list[int],
    catalogue: Catalogue,
    result: ImportResult,
) -> dict[str, str]:
    """Find or create the prompts of new keys; returns the reasons for keys that cannot be."""
    picked = table.take(pa.array(first_rows, pa.int64()))
    rows = list(
        zip(
            keys,
            picked["prompt_id"].to_pylist(),
            picked["mode"].to_pylist(),
            picked["prompt"].to_pylist(),
            first_rows,
            strict=True,
        )
    )
    uids = list({uid for _, uid, _, _, _ in rows if uid and uid not in catalogue.by_uid})
    for chunk in _chunks(uids):
        for pk, uid, mode in Prompt.objects.filter(uid__in=chunk).values_list("pk", "uid", "mode"):
            catalogue.by_uid[uid] = (pk, mode)
    texts = list(
        {text for _, _, mode, text, _ in rows if text and (mode, text) not in catalogue.by_text}
    )
    for chunk in _chunks(texts, 100):
        for pk, mode, text in Prompt.objects.filter(text__in=chunk).values_list(
            "pk", "mode", "text"
        ):
            catalogue.by_text[(mode, text)] = pk
    failed: dict[str, str] = {}
    new: dict[tuple[str, str], tuple[Prompt, list[str], list[str]]] = {}  # (mode, text) -> …
    pending: dict[str, tuple[str, str]] = {}  # prompt_id -> (mode, text) of a prompt to create
    for key, uid, mode, text, i in rows:
        if uid and uid in pending:
            if pending[uid][0] != mode:
                failed[key] = f"prompt_id {uid!r} is a {pending[uid][0]} prompt, not {mode}"
            else:
                new[pending[uid]][1].append(key)
        elif uid and uid in catalogue.by_uid:
            pk, prompt_mode = catalogue.by_uid[uid]
            if prompt_mode != mode:
                failed[key] = f"prompt_id {uid!r} is a {prompt_mode} prompt, not {mode}"
            else:
                catalogue.prompt_keys[key] = pk
        elif text and (mode, text) in catalogue.by_text:
            catalogue.prompt_keys[key] = catalogue.by_text[(mode, text)]
        elif not text:
            failed[key] = f"prompt_id {uid!r} is unknown and the row has no prompt text"
        elif (mode, text) in new:
            new[(mode, text)][1].append(key)
        else:
            try:
                slugs = parse_categories(table["categories"][i].as_py())
            except ValueError as exc:
                failed[key] = str(exc)
                continue
            usable = uid if uid and len(uid) <= 32 and uid not in catalogue.by_uid else new_uid()
            new[(mode, text)] = (Prompt(uid=usable, mode=mode, text=text), [key], slugs)
            if uid:
                pending[uid] = (mode, text)
    if new:
        _create_prompts(list(new.values()), catalogue)
        result.prompts_created += len(new)
        for uid, (mode, text) in pending.items():
            catalogue.by_uid[uid] = (catalogue.by_text[(mode, text)], mode)
    return failed


def _create_prompts(new: list[tuple[Prompt, list[str], list[str]]], catalogue: Catalogue) -> None:
    slugs = sorted({slug for _, _, cats in new for slug in cats})
    try:
        categories = {c.slug: c for c in ensure_categories(slugs)} if slugs else {}
    except IngestError as exc:
        raise VoteImportError(str(exc)) from exc
    for prompt, _, cats in new:
        prompt.category_mask = sum(1 << categories[s].bit for s in cats)
    prompts = Prompt.objects.bulk_create([p for p, _, _ in new], batch_size=1000)
    links = [
        Prompt.categories.through(prompt_id=prompt.pk, category_id=categories[s].pk)
        for prompt, (_, _, cats) in zip(prompts, new, strict=True)
        for s in cats
    ]
    Prompt.categories.through.objects.bulk_create(links, batch_size=5000)
    for prompt, keys, _ in new:
        catalogue.by_text[(prompt.mode, prompt.text)] = prompt.pk
        catalogue.by_uid[prompt.uid] = (prompt.pk, prompt.mode)
        for key in keys:
            catalogue.prompt_keys[key] = prompt.pk
