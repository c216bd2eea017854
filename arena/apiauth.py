"""Authentication for the API: CSRF for anonymous sessions too.

Kept apart from the error handler: DRF imports authentication classes while loading
rest_framework.views, so this module must not import that.
"""

from __future__ import annotations

from rest_framework.authentication import SessionAuthentication


class CsrfSessionAuthentication(SessionAuthentication):
    """Session authentication that enforces CSRF on unsafe methods for everyone.

    DRF's own SessionAuthentication checks CSRF only for logged-in users; our voters are
    anonymous, and a vote is exactly what a cross-site form must not be able to cast.
    """

    def authenticate(self, request):  # noqa: ANN001, ANN201
        self.enforce_csrf(request)
        return super().authenticate(request)

    def enforce_csrf(self, request) -> None:  # noqa: ANN001
        if request.method in ("GET", "HEAD", "OPTIONS", "TRACE"):
            return
        view = (request.parser_context or {}).get("view")
        if view is not None and request.method.upper() not in view.allowed_methods:
            return  # let DRF answer 405 with Allow: nothing will be done for this request
        super().enforce_csrf(request)
