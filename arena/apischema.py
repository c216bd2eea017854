"""OpenAPI description of how the API authenticates: the session cookie plus a CSRF token.

Imported by arena.api so that drf-spectacular knows the extension before it builds the schema
(apiauth itself must stay free of drf-spectacular imports: DRF loads it very early).
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension

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
