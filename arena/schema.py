"""OpenAPI schema extensions (drf-spectacular), loaded when the app is ready."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class CsrfSessionScheme(OpenApiAuthenticationExtension):
    """Our session authentication is DRF's with CSRF for anonymous voters too: same scheme."""

    target_class = "arena.apiauth.CsrfSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
