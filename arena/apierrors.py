"""The API's error shapes: DRF's, plus a clear 503 when the database is unreachable."""

from __future__ import annotations

import logging

from django.db import DatabaseError, InterfaceError, OperationalError
from rest_framework import status
from rest_framework.exceptions import ValidationError
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
    response = drf_exception_handler(exc, context)
    if isinstance(exc, ValidationError) and response is not None:
        response.data = with_detail(response.data)
    return response


def with_detail(errors: object) -> dict:
    """DRF's field errors, plus one `detail` sentence that names each field (every error has one).

    {"arena": ["\"x\" is not a valid choice."]} gains
    "detail": "arena: \"x\" is not a valid choice."; the field keys stay for tools that read them.
    """
    if not isinstance(errors, dict):
        return {"detail": " ".join(_flatten(errors)) or "Invalid request."}
    if "detail" in errors:
        return errors
    parts = [
        " ".join(_flatten(messages))
        if field == "non_field_errors"
        else f"{field}: {' '.join(_flatten(messages))}"
        for field, messages in errors.items()
    ]
    return {"detail": "; ".join(parts) or "Invalid request.", **errors}


def _flatten(messages: object) -> list[str]:
    if isinstance(messages, dict):
        return [f"{k}: {m}" for k, v in messages.items() for m in _flatten(v)]
    if isinstance(messages, (list, tuple)):
        return [m for item in messages for m in _flatten(item)]
    return [str(messages)]
