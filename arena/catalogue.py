"""An in-process snapshot of what can be battled, so that issuing a battle costs no scan.

The snapshot is built from one query and rebuilt when the catalogue version in the shared
cache changes (clips, generators); with a per-process cache (the laptop default) a version
bump made by the worker does not reach the web process, so there it is also rebuilt every
15 seconds.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import combinations

from django.conf import settings
from django.core.cache import cache

from .models import Arena, Clip, Prompt

VERSION_KEY = "arena:catalogue-version"
# Versions change a few times a day and every battle needs them: each process rereads them
# from the cache at most this often (seconds), and at once after a change it made itself,
# so a change made by another process is seen within this delay.
VERSIONS_MAX_AGE = 1.0
_versions: tuple[float, tuple[str, ...], dict] = (float("-inf"), (), {})


def max_age() -> float:
    """With a shared cache every process sees version bumps; otherwise refresh by age."""
    backend = settings.CACHES["default"]["BACKEND"].lower()
    return float("inf") if "redis" in backend or "memcache" in backend else 15.0


@dataclass(frozen=True, slots=True)
class ClipInfo:
    id: int
    generator_id: int
    prompt_id: int
    duration: float
    width: int
    height: int
    fps: float

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (round(self.duration * 10), self.width, self.height, round(self.fps * 100))

    def distance(self, other: ClipInfo) -> float:
        """How far two clips are from playing alike: duration, resolution, frame rate."""
        return (
            abs(self.duration - other.duration)
            + abs(self.width * self.height - other.width * other.height) / 100_000
            + abs(self.fps - other.fps) / 10
        )


@dataclass
class Pool:
    """Everything battle-able in one arena and mode."""

    # (generator, prompt) -> clips of that generator for that prompt
    clips: dict[tuple[int, int], list[ClipInfo]] = field(default_factory=dict)
    # (low generator id, high generator id) -> prompts where both have a clip
    pair_prompts: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    # the subset of those prompts where the pair has clips of identical shape
    pair_exact: dict[tuple[int, int], list[int]] = field(default_factory=dict)
    # clips with a broken copy for this arena: candidates for attention checks
    checkable: list[ClipInfo] = field(default_factory=list)

    @property
    def pairs(self) -> list[tuple[int, int]]:
        return list(self.pair_prompts)


@dataclass
class Catalogue:
    version: int | None
    built_at: float
    pools: dict[tuple[str, str], Pool]
    # prompt id -> (text, input image storage name or "")
    prompts: dict[int, tuple[str, str]]

    def pool(self, arena: str, mode: str) -> Pool:
        return self.pools.get((arena, mode)) or Pool()


def _build(version: int | None) -> Catalogue:
    rows = Clip.objects.playable().values_list(
        "id",
        "generator_id",
        "prompt_id",
        "prompt__mode",
        "duration",
        "width",
        "height",
        "fps",
        "has_audio",
        "rendition_sound",
        "rendition_silent",
        "broken_sound",
        "broken_silent",
    )
    by_pool: dict[tuple[str, str], dict[int, dict[int, list[ClipInfo]]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(list))
    )
    checkable: dict[tuple[str, str], list[ClipInfo]] = defaultdict(list)
    for cid, gid, pid, mode, dur, w, h, fps, has_audio, sound, silent, b_sound, b_silent in rows:
        info = ClipInfo(cid, gid, pid, dur or 0.0, w or 0, h or 0, fps or 0.0)
        if silent:
            by_pool[(Arena.NO_AUDIO, mode)][pid][gid].append(info)
            if b_silent:
                checkable[(Arena.NO_AUDIO, mode)].append(info)
        if has_audio and sound:
            by_pool[(Arena.AUDIO, mode)][pid][gid].append(info)
            if b_sound:
                checkable[(Arena.AUDIO, mode)].append(info)
    pools: dict[tuple[str, str], Pool] = {}
    for key, prompts in by_pool.items():
        pool = Pool(checkable=checkable[key])
        for pid, gens in prompts.items():
            for gid, infos in gens.items():
                pool.clips[(gid, pid)] = infos
            for low, high in combinations(sorted(gens), 2):
                pool.pair_prompts.setdefault((low, high), []).append(pid)
                shapes_low = {c.shape for c in gens[low]}
                if any(c.shape in shapes_low for c in gens[high]):
                    pool.pair_exact.setdefault((low, high), []).append(pid)
        if pool.pair_prompts:
            pools[key] = pool
    used = {
        pid for pool in pools.values() for prompts in pool.pair_prompts.values() for pid in prompts
    }
    texts = {
        pid: (text, image or "")
        for pid, text, image in Prompt.objects.filter(id__in=used).values_list(
            "id", "text", "input_image"
        )
    }
    return Catalogue(version=version, built_at=time.monotonic(), pools=pools, prompts=texts)


_lock = threading.Lock()
_current: Catalogue | None = None


_UNREAD = object()


def current(version: object = _UNREAD) -> Catalogue:
    """The snapshot for this process; one cache read, no database query when fresh.

    `version` is the catalogue version when the caller read it already (with others, in
    one round trip).
    """
    global _current
    if version is _UNREAD:
        version = cache.get(VERSION_KEY)
    snap = _current
    if (
        snap is not None
        and snap.version == version
        and time.monotonic() - snap.built_at < max_age()
    ):
        return snap
    with _lock:
        _current = _build(version)
        return _current


def latest() -> Catalogue:
    """The snapshot last read in this process, unchecked: for a prompt's text just after a
    battle was drawn from it, without a second cache read."""
    return _current or current()


def read_versions(*keys: str) -> dict:
    """These version keys' values from the shared cache, at most VERSIONS_MAX_AGE old."""
    global _versions
    read_at, read_keys, values = _versions
    now = time.monotonic()
    if read_keys != keys or now - read_at >= VERSIONS_MAX_AGE:
        values = cache.get_many(keys)
        _versions = (now, keys, values)
    return values


def forget_versions() -> None:
    """The next read_versions goes to the cache (a version changed, or the cache was cleared)."""
    global _versions
    _versions = (float("-inf"), (), {})


def invalidate() -> None:
    """Tell every process that the catalogue changed."""
    global _current
    _current = None
    forget_versions()
    try:
        cache.incr(VERSION_KEY)
    except ValueError:
        cache.set(VERSION_KEY, int(time.time() * 1000), timeout=None)
