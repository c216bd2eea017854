"""Media storage helpers that work the same on a local folder and on S3-compatible storage."""

from __future__ import annotations

from typing import IO

from django.core.files.storage import Storage
from django.urls import reverse


def open_range(storage: Storage, name: str, start: int, length: int) -> IO[bytes]:
    """A readable stream of `length` bytes of `name` from byte `start`.

    On object storage this is one ranged GET: opening the file through the storage API
    would first download the whole object for every seek, for every viewer.
    """
    bucket = getattr(storage, "bucket", None)
    normalize = getattr(storage, "_normalize_name", None)
    if bucket is not None and normalize is not None and length > 0:
        from storages.utils import clean_name

        key = normalize(clean_name(name))
        response = bucket.Object(key).get(Range=f"bytes={start}-{start + length - 1}")
        return response["Body"]
    handle = storage.open(name, "rb")
    if start:
        handle.seek(start)
    return handle


def input_image_path(name: str) -> str:
    """The site path of a prompt's input image, served by the site from any storage.

    Not storage.url(): on object storage that is a signed URL that expires, and dataset
    releases keep these addresses for good.
    """
    return reverse("input-image", kwargs={"name": name.rsplit("/", 1)[-1]})
