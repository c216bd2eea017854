"""Keep derived catalogue state in step: category masks and the battle snapshot version."""

from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver

from . import catalogue
from .models import Clip, FoldState, Generator, Prompt, Tally


@receiver(m2m_changed, sender=Prompt.categories.through)
def prompt_categories_changed(sender, instance, action, **kwargs):  # noqa: ANN001, ANN201
    if action in {"post_add", "post_remove", "post_clear"} and isinstance(instance, Prompt):
        before = instance.category_mask
        instance.refresh_category_mask()
        if before != instance.category_mask and instance.votes.exists():
            # Its folded votes sit on the old category boards: recount at the next recompute.
            Tally.objects.filter(vote_id__in=instance.votes.values("id")).update(
                mask=instance.category_mask
            )
            FoldState.objects.filter(pk=1).update(needs_rebuild=True)


@receiver(post_save, sender=Clip)
@receiver(post_delete, sender=Clip)
@receiver(post_save, sender=Generator)
@receiver(post_delete, sender=Generator)
def catalogue_changed(sender, **kwargs):  # noqa: ANN001, ANN201
    catalogue.invalidate()


def reinstall_tally_triggers(sender, using="default", **kwargs):  # noqa: ANN001, ANN201
    """After every migrate: SQLite loses a table's triggers when a migration rebuilds it."""
    from django.db import connections

    from . import tally_sql

    connection = connections[using]
    if "arena_tally" in connection.introspection.table_names():
        tally_sql.install(connection)
