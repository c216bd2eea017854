"""Serving stored files with HTTP range support (browsers seek video with Range requests)."""

from __future__ import annotations

import re

from django.core.files.storage import Storage
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse

from .mediastore import open_range

RANGE_RE = re.compile(r"^bytes=(\d{0,15})-(\d{0,15})$")
CHUNK = 256 * 1024


def _limited(handle, length: int):  # noqa: ANN001, ANN202
    try:
        while length > 0:
            block = handle.read(min(CHUNK, length))
            if not block:
                break
            length -= len(block)
            yield block
    finally:
        handle.close()


def serve_file(
    request: HttpRequest,
    storage: Storage,
    name: str,
    content_type: str,
    *,
    cache_control: str = "private, max-age=1800",
) -> HttpResponse:
    """Stream `name` from `storage`, honouring a single byte range.

    No Last-Modified or ETag: either would let a client recognise the same file when it
    comes back under another battle's URL.
    """
    size = storage.size(name)
    header = request.META.get("HTTP_RANGE", "").strip()
    match = RANGE_RE.match(header) if header else None
    # A multi-range or malformed header gets the whole file, which RFC 9110 allows.
    if match and (match.group(1) or match.group(2)):
        first, last = match.groups()
        if first:
            start = int(first)
            end = min(int(last), size - 1) if last else size - 1
        else:
            start, end = max(size - int(last), 0), size - 1
        if last and first and int(last) < int(first):
            # An invalid range (last before first) is ignored, as RFC 9110 says.
            status, start, length = 200, 0, size
        elif start >= size or start > end:
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            return response
        else:
            status, length = 206, end - start + 1
    else:
        status, start, length = 200, 0, size
    handle = open_range(storage, name, start, length)
    # Not FileResponse: it would add a Content-Disposition naming the stored file.
    response = StreamingHttpResponse(
        _limited(handle, length), status=status, content_type=content_type
    )
    response["Content-Length"] = str(length)
    if status == 206:
        response["Content-Range"] = f"bytes {start}-{start + length - 1}/{size}"
    response["Accept-Ranges"] = "bytes"
    response["Cache-Control"] = cache_control
    response["X-Content-Type-Options"] = "nosniff"
    return response
