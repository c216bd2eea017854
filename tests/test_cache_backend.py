"""arena.cache.RedisCache: Django's Redis cache semantics, with fewer round trips."""

from __future__ import annotations

import os
import secrets
import threading

import pytest

from arena.cache import RedisCache


@pytest.fixture
def redis_cache() -> RedisCache:
    """The run's own Redis database (CACHE_URL): another one may be flushed under us."""
    url = os.environ.get("CACHE_URL", "")
    if not url.startswith(("redis://", "rediss://")):
        pytest.skip("needs CACHE_URL=redis://...")
    # A prefix of its own: other test runs may share this Redis database.
    cache = RedisCache(url, {"KEY_PREFIX": f"test-cache-{secrets.token_hex(6)}"})
    yield cache
    cache.delete_many(["counter", "absent"])


def test_incr_of_a_missing_key_raises_and_creates_nothing(redis_cache: RedisCache) -> None:
    with pytest.raises(ValueError):
        redis_cache.incr("absent")
    assert redis_cache.get("absent") is None


def test_incr_and_decr_count_from_the_stored_value(redis_cache: RedisCache) -> None:
    assert redis_cache.add("counter", 5, timeout=60)
    assert redis_cache.incr("counter") == 6
    assert redis_cache.incr("counter", 10) == 16
    assert redis_cache.decr("counter") == 15
    assert redis_cache.get("counter") == 15


def test_incr_keeps_the_timeout_that_add_set(redis_cache: RedisCache) -> None:
    redis_cache.add("counter", 0, timeout=100)
    redis_cache.incr("counter")
    key = redis_cache.make_and_validate_key("counter")
    assert 0 < redis_cache._cache.get_client(key).ttl(key) <= 100


def test_concurrent_increments_are_all_counted(redis_cache: RedisCache) -> None:
    redis_cache.add("counter", 0, timeout=60)

    def bump() -> None:
        for _ in range(100):
            redis_cache.incr("counter")

    threads = [threading.Thread(target=bump) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis_cache.get("counter") == 800


def test_one_client_serves_every_call(redis_cache: RedisCache) -> None:
    assert redis_cache._cache.get_client("a") is redis_cache._cache.get_client("b")
