"""The vote loop at the WSGI entry: its two endpoints without Django's middleware chain.

arena.hotpath answers POST /api/v1/battles/ and POST /api/v1/battles/<token>/vote/ in the
ordinary case without DRF. Served through arena.wsgi (gunicorn, `make run`), such a request
is recognised by its method and path before Django's handler runs, and answered by those
same hotpath functions with what the middleware chain does for it, by the middlewares' own
code where it matters:

- before: the host check, the session read from its cookie, and (in hotpath) the CSRF check;
- after: CsrfViewMiddleware, SessionMiddleware (Vary: Cookie, and the cookie when the
  session changed), CommonMiddleware (Content-Length), XFrameOptionsMiddleware and
  SecurityMiddleware answer methods, in the chain's order, then Django's request log line
  for a 4xx or 5xx.

Anything else goes to Django's full handler before anything was written, with the body put
back: another method or path, a redirect to HTTPS, a host that is not allowed, a request
hotpath hands to DRF. If settings.MIDDLEWARE holds a middleware not named here, the lane
stays closed, so a middleware added later is never skipped.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import signals
from django.core.exceptions import DisallowedHost
from django.core.handlers.exception import response_for_exception
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_script_name
from django.http import HttpRequest, HttpResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware
from django.urls import set_script_prefix
from django.utils.log import log_response
from django.utils.module_loading import import_string

from . import hotpath

BATTLES = "/api/v1/battles/"
VOTE = re.compile(r"/api/v1/battles/(?P<token>[A-Za-z0-9_-]{1,64})/vote/")
# What the lane does for each middleware; any other closes it.
KNOWN = {
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files only
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",  # the lane never reads the user
    "django.contrib.messages.middleware.MessageMiddleware",  # nor adds a message
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
}
# The answer methods the lane runs, in the order the chain runs them (its reverse).
ANSWERING = (
    XFrameOptionsMiddleware,
    CsrfViewMiddleware,
    CommonMiddleware,
    "django.contrib.sessions.middleware.SessionMiddleware",
    SecurityMiddleware,
)

Handler = Callable[..., HttpResponse | None]


def _unused(request: HttpRequest) -> HttpResponse:
    raise AssertionError("the lane calls middlewares' answer methods only")


class FastLane:
    """WSGI application: the vote loop's requests answered here, all others by `app`."""

    def __init__(self, app: WSGIHandler) -> None:
        self.app = app
        self.open = set(settings.MIDDLEWARE) <= KNOWN
        self.answering = [
            (import_string(m) if isinstance(m, str) else m)(_unused) for m in ANSWERING
        ]
        self.session_store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")
        # Read when built, as Django's own middleware instances read their settings.
        self.redirect = settings.SECURE_SSL_REDIRECT
        self.common_checks = bool(settings.DISALLOWED_USER_AGENTS or settings.PREPEND_WWW)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        route = self._route(environ)
        if route is None:
            return self.app(environ, start_response)
        set_script_prefix(get_script_name(environ))
        signals.request_started.send(sender=self.__class__, environ=environ)
        request = WSGIRequest(environ)
        response = self._answer(request, *route)
        if response is None:  # Django answers it, with the body as it came
            if hasattr(request, "_body"):
                environ["wsgi.input"] = io.BytesIO(request._body)
            return self.app(environ, start_response)
        # As WSGIHandler does; closing the response (the server does) ends the request.
        response._handler_class = self.__class__
        headers = [
            *response.items(),
            *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
        ]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return response

    def _route(self, environ: dict) -> tuple[Handler, dict[str, str]] | None:
        if not self.open or environ.get("REQUEST_METHOD") != "POST":
            return None
        path = environ.get("PATH_INFO", "")
        if path == BATTLES:
            return hotpath.answer_battle, {}
        match = VOTE.fullmatch(path)
        return (hotpath.answer_vote, {"token": match["token"]}) if match else None

    def _answer(
        self, request: WSGIRequest, handler: Handler, kwargs: dict[str, Any]
    ) -> HttpResponse | None:
        if self.redirect and not request.is_secure():
            return None  # SecurityMiddleware redirects it
        if self.common_checks:
            return None  # CommonMiddleware's business
        try:
            request.get_host()
        except DisallowedHost:
            return None  # Django answers 400 and logs it
        request.session = self.session_store(request.COOKIES.get(settings.SESSION_COOKIE_NAME))
        try:
            body = hotpath.ordinary_body(request)
            if body is None:
                return None
            response = handler(request, body, **kwargs)
            if response is None:
                return None
            for middleware in self.answering:
                response = middleware.process_response(request, response)
        except Exception as exc:  # noqa: BLE001 - as Django's handler: a 500, logged
            response = response_for_exception(request, exc)
        if response.status_code >= 400:
            log_response(
                "%s: %s", response.reason_phrase, request.path, response=response, request=request
            )
        return response
