"""Error pages: a friendly 503 when the database is down, and JSON errors under /api/.

Django calls these for exceptions no view handled (handler500) and for unmatched URLs
(handler404). DRF views answer their own errors (arena.apierrors); this covers the pages and
anything raised outside a view's own handling.
"""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.defaults import page_not_found, server_error

from .apierrors import UNAVAILABLE, is_database_outage

RETRY_AFTER = "5"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return page_not_found(request, exception)


def server_error_or_outage(request: HttpRequest) -> HttpResponse:
    """503 with a clear message when the database is unreachable; Django's 500 otherwise."""
    exc = sys.exc_info()[1]
    if exc is not None and is_database_outage(exc):
        if _is_api(request):
            response: HttpResponse = JsonResponse({"detail": UNAVAILABLE}, status=503)
        else:
            # base.html reads nothing from the database (no user, no session).
            response = render(request, "503.html", {"message": UNAVAILABLE}, status=503)
        response["Retry-After"] = RETRY_AFTER
        return response
    if _is_api(request):
        return JsonResponse({"detail": "Server error."}, status=500)
    return server_error(request)
