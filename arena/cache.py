"""Django's Redis cache, with fewer round trips and less work per call on the vote path.

Django's backend builds a new redis-py client object on every call (costly in redis-py 8,
about as much CPU as the round trip itself) and answers `incr` with two round trips
(EXISTS, then INCRBY). Every battle and vote makes several cache calls (catalogue and
sampling versions, the recompute counter, the rate limits), so both add up under load.
Same semantics: `incr` still raises ValueError for a missing key, atomically.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

# INCRBY only if the key exists, in one atomic step: nil means missing.
_INCR_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 1 then
    return redis.call('INCRBY', KEYS[1], ARGV[1])
end
return nil
"""


class _Client(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One redis-py client per connection pool; redis-py clients are thread-safe.
        self._clients: dict[int, Any] = {}
        self._incr_scripts: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients.setdefault(id(pool), self._client(connection_pool=pool))
        return client

    def incr(self, key: Any, delta: int) -> int:
        client = self.get_client(key, write=True)
        script = self._incr_scripts.get(id(client))
        if script is None:
            script = self._incr_scripts.setdefault(
                id(client), client.register_script(_INCR_IF_EXISTS)
            )
        value = script(keys=[key], args=[delta])
        if value is None:
            raise ValueError(f"Key '{key}' not found.")
        return int(value)


class RedisCache(DjangoRedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = _Client
