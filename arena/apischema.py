"""OpenAPI pieces shared by the API modules: the CSRF scheme, the error shape, examples.

Imported by arena.api so that drf-spectacular knows the extension before it builds the schema
(apiauth itself must stay free of drf-spectacular imports: DRF loads it very early).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, inline_serializer
from rest_framework import serializers

from .apierrors import UNAVAILABLE

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}


class CsrfSessionScheme(OpenApiAuthenticationExtension):
    target_class = "arena.apiauth.CsrfSessionAuthentication"
    name = ["csrfCookie", "csrfHeader"]
    priority = 1

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return [
            {"type": "apiKey", "in": "cookie", "name": settings.CSRF_COOKIE_NAME},
            {"type": "apiKey", "in": "header", "name": "X-CSRFToken"},
        ]

    def get_security_requirement(self, auto_schema):  # noqa: ANN001, ANN201
        # Reads need nothing; a POST needs the csrftoken cookie (set by the vote page) and the
        # same value in X-CSRFToken, for anonymous voters too. The session cookie is optional.
        if auto_schema.method.upper() in SAFE_METHODS:
            return None
        return CSRF_REQUIRED


# For the POST operations: drf-spectacular would also list "no auth" because anyone may vote,
# yet a POST without the CSRF pair is refused (403).
CSRF_REQUIRED = {"csrfCookie": [], "csrfHeader": []}


# Every error answer of the API: one sentence in `detail`. A 400 also keeps DRF's per-field
# lists under each field's name; a refused vote adds a machine-readable `code`.
ERROR = inline_serializer(
    "Error",
    {
        "detail": serializers.CharField(),
        "code": serializers.CharField(required=False),
    },
)

EXAMPLE_DETAILS = {
    400: 'arena: "moon" is not a valid choice.',
    403: "CSRF Failed: CSRF token missing.",
    404: "no such battle",
    405: 'Method "GET" not allowed.',
    409: "this battle has already been voted on",
    415: 'Unsupported media type "text/plain" in request.',
    429: "Too many requests. Please take a short break.",
    503: UNAVAILABLE,
}


def error(status: int, description: str, example: str | None = None) -> OpenApiResponse:
    """An error answer with its description and an example body."""
    detail = example or EXAMPLE_DETAILS.get(status, description)
    return OpenApiResponse(
        ERROR,
        description=description,
        examples=[OpenApiExample(f"{status}", value={"detail": detail}, status_codes=[status])],
    )


def read_errors(
    *, not_found: str | None = None, example: str | None = None
) -> dict[int, OpenApiResponse]:
    """The errors of a read-only operation: 404 where it has path parameters, and 503."""
    errors: dict[int, OpenApiResponse] = {}
    if not_found:
        errors[404] = error(404, not_found, example)
    errors[503] = error(503, "The database is briefly unavailable.")
    return errors


def example(name: str, value: object, status: int = 200) -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[status])
