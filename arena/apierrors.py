"""The API's error shapes: DRF's, plus a clear 503 when the database is unreachable."""

from __future__ import annotations

import logging

from django.db import DatabaseError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

log = logging.getLogger(__name__)

UNAVAILABLE = (
    "The arena is briefly unavailable (database). Nothing was recorded; "
    "please try again in a moment."
)


def is_database_outage(exc: BaseException) -> bool:
    """Whether `exc` says the database cannot be reached (not a bug in a query)."""
    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DatabaseError) and "connection" in str(exc).lower()
    )


def exception_handler(exc, context):  # noqa: ANN001, ANN201
    if is_database_outage(exc):
        log.warning("database unavailable: %s", exc)
        return Response(
            {"detail": UNAVAILABLE},
            status=status.HTTP_503_SERVICE_UNAVAILABLE,
            headers={"Retry-After": "5"},
        )
    return drf_exception_handler(exc, context)
