from django.apps import AppConfig


class ArenaConfig(AppConfig):
    name = "arena"
    verbose_name = "Arena catalogue"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import schema, signals  # noqa: F401 - schema registers its extensions

        post_migrate.connect(signals.reinstall_tally_triggers, sender=self)
