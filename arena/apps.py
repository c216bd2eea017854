from django.apps import AppConfig


class ArenaConfig(AppConfig):
    name = "arena"
    verbose_name = "Arena catalogue"

    def ready(self) -> None:
        from . import signals  # noqa: F401
