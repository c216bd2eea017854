"""The WSGI application: Django's, with the vote loop's fast lane in front (arena.fastlane)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "arena.settings")
django_application = get_wsgi_application()  # sets Django up: models can be imported now

from arena.fastlane import FastLane  # noqa: E402

application = FastLane(django_application)
