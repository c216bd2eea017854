from django.apps import AppConfig


class VotesConfig(AppConfig):
    name = "votes"
    verbose_name = "Votes and voters"

    def ready(self) -> None:
        from . import checks  # noqa: F401
