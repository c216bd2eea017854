"""Rate limits on the shared cache, with atomic counters (fixed windows).

`cache.add` + `cache.incr` are atomic on Redis and on the local-memory cache, so the
limits hold under parallel requests and, with CACHE_URL=redis://, across processes.
"""

from __future__ import annotations

import time

from django.core.cache import cache

PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}


def parse_rate(rate: str | None) -> tuple[int, int] | None:
    """'30/min' -> (30, 60); 'off' or empty -> None (no limit).

    DRF's rate syntax: only the first letter of the period counts (30/minute, 5/d).
    """
    if rate is None or rate.strip().lower() in {"", "off", "none", "0"}:
        return None
    count, _, period = rate.strip().partition("/")
    unit = period.strip().lower()[:1]
    if not count.strip().isdigit() or unit not in PERIODS:
        raise ValueError(f"bad rate {rate!r}: use N/s, N/min, N/hour or N/day, or 'off'")
    return int(count), PERIODS[unit]


def hit(scope: str, ident: str, rate: str | None, *, now: float | None = None) -> int | None:
    """Count one request; return seconds to wait if this one is over the limit, else None."""
    parsed = parse_rate(rate)
    if parsed is None:
        return None
    limit, period = parsed
    now = time.time() if now is None else now
    window = int(now // period)
    key = f"rl:{scope}:{ident}:{window}"
    cache.add(key, 0, timeout=period + 5)
    try:
        count = cache.incr(key)
    except ValueError:
        # Evicted between add and incr: start the window again.
        cache.add(key, 1, timeout=period + 5)
        count = 1
    if count > limit:
        return max(1, int((window + 1) * period - now) + 1)
    return None
