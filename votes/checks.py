from django.conf import settings
from django.core.checks import Error, register

from .limits import parse_rate


@register()
def rate_settings(app_configs, **kwargs):  # noqa: ANN001, ANN201
    """A bad ARENA_RATE_* value fails at start-up, not on every vote."""
    errors = []
    for name in ("ARENA_RATE_SESSION", "ARENA_RATE_IP"):
        try:
            parse_rate(getattr(settings, name))
        except ValueError as exc:
            errors.append(Error(f"{name}: {exc}", id="votes.E001"))
    return errors
