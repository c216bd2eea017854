from django.apps import AppConfig


class VotesConfig(AppConfig):
    name = "votes"
    verbose_name = "Votes and voters"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from . import checks  # noqa: F401

        post_migrate.connect(reinstall_audit_triggers, sender=self)


def reinstall_audit_triggers(sender, using="default", **kwargs):  # noqa: ANN001, ANN201
    """After every migrate: SQLite loses a table's triggers when a migration rebuilds it."""
    from django.db import connections

    from . import audit

    connection = connections[using]
    if "votes_auditentry" in connection.introspection.table_names():
        audit.install_triggers(connection)
