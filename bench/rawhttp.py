"""A lean HTTP/1.1 client for bench/load.py: one keep-alive connection per simulated voter.

The bench client shares the machine's two cores with the server it measures, so every
millisecond of client CPU is one the server does not get. aiohttp spends about 0.6 ms of
CPU per request; this client writes the request bytes itself and reads the answer with
asyncio streams (status line, headers, a Content-Length or chunked body), for a fraction
of that. It is still a real HTTP exchange over TCP: the server sees the same requests,
with the voter's cookies and the CSRF header. aiohttp stays available (--client aiohttp).
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlsplit

# Reconnect rather than reuse a connection idle this long: gunicorn closes keep-alive
# connections after GUNICORN_KEEPALIVE (5 s), and a POST sent on a closing one is lost.
IDLE_SECONDS = 3.0


class Answer:
    __slots__ = ("status", "cookies", "body")

    def __init__(self, status: int, cookies: dict[str, str], body: bytes) -> None:
        self.status, self.cookies, self.body = status, cookies, body


class Connection:
    """One client's connection to `base` (http://host:port); reopened when needed."""

    def __init__(self, base: str) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.authority = f"{self.host}:{self.port}".encode()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.used = 0.0

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: dict | None = None
    ) -> Answer:
        if self.writer is None or time.monotonic() - self.used > IDLE_SECONDS:
            await self.close()
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        data = b"" if body is None else json.dumps(body).encode()
        head = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.authority]
        head += [f"{k}: {v}".encode() for k, v in headers.items()]
        if body is not None:
            head += [b"Content-Type: application/json", b"Content-Length: %d" % len(data)]
        self.writer.write(b"\r\n".join(head) + b"\r\n\r\n" + data)
        try:
            answer, keep = await self._read()
        except BaseException:
            await self.close()
            raise
        self.used = time.monotonic()
        if not keep:
            await self.close()
        return answer

    async def _read(self) -> tuple[Answer, bool]:
        assert self.reader is not None
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        cookies: dict[str, str] = {}
        length, chunked, keep = None, False, True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip()
            if name == "content-length":
                length = int(value)
            elif name == "set-cookie":
                pair = value.split(";", 1)[0]
                key, _, val = pair.partition("=")
                cookies[key.strip()] = val.strip().strip('"')
            elif name == "transfer-encoding":
                chunked = "chunked" in value.lower()
            elif name == "connection":
                keep = value.lower() != "close"
        if chunked:
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size + 2))
            await self.reader.readuntil(b"\r\n")
            payload = b"".join(p[:-2] for p in parts)
        elif length is not None:
            payload = await self.reader.readexactly(length)
        else:
            payload, keep = await self.reader.read(), False
        return Answer(status, cookies, payload), keep


class AiohttpConnection:
    """The same interface over a shared aiohttp session (--client aiohttp)."""

    def __init__(self, session, base: str) -> None:  # noqa: ANN001 - aiohttp.ClientSession
        self.session, self.base = session, base

    async def close(self) -> None:
        pass

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: dict | None = None
    ) -> Answer:
        async with self.session.request(
            method, self.base + path, json=body, headers=headers
        ) as resp:
            payload = await resp.read()
            cookies = {name: morsel.value for name, morsel in resp.cookies.items()}
            return Answer(resp.status, cookies, payload)


def session(n: int):  # noqa: ANN201
    import aiohttp

    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=n, force_close=False),
        cookie_jar=aiohttp.DummyCookieJar(),  # each voter keeps its own cookies
        timeout=aiohttp.ClientTimeout(total=60),
    )
