"""Matchmaking's memory of what each voter was shown lately, filled from recent battles.

Before this, matchmaking read the voter's last 2 000 battles on every battle issued; the
rows of the repeat window are copied so that nothing shown lately is shown again at once.
"""

import django.db.models.deletion
from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.db.models import Max
from django.utils import timezone


def remember_recent_battles(apps, schema_editor) -> None:  # noqa: ANN001
    Battle = apps.get_model("arena", "Battle")
    SeenPair = apps.get_model("arena", "SeenPair")
    since = timezone.now() - timedelta(hours=settings.ARENA_REPEAT_WINDOW_HOURS)
    latest: dict[tuple, object] = {}
    shown = (
        Battle.objects.filter(issued_at__gte=since, attention_check=False)
        .values_list("voter_id", "mode", "model_a_id", "model_b_id", "prompt_id")
        .annotate(last=Max("issued_at"))
        .order_by()
    )
    for voter, mode, a, b, prompt, last in shown.iterator(chunk_size=10_000):
        key = (voter, mode, min(a, b), max(a, b), prompt)
        latest[key] = max(last, latest.get(key, last))
    SeenPair.objects.bulk_create(
        [
            SeenPair(
                voter_id=v, mode=m, model_low_id=lo, model_high_id=hi, prompt_id=p, last_seen=last
            )  # fmt: skip
            for (v, m, lo, hi, p), last in latest.items()
        ],
        batch_size=5_000,
    )


class Migration(migrations.Migration):
    dependencies = [
        ("arena", "0008_board_counts_as_json"),
        ("votes", "0005_moderation"),
    ]

    operations = [
        migrations.CreateModel(
            name="SeenPair",
            fields=[
                (
                    "pk",
                    models.CompositePrimaryKey(
                        "voter",
                        "mode",
                        "model_low",
                        "model_high",
                        "prompt",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                (
                    "mode",
                    models.CharField(
                        choices=[
                            ("text-to-video", "Text to video"),
                            ("image-to-video", "Image to video"),
                        ],
                        max_length=20,
                    ),
                ),
                ("last_seen", models.DateTimeField()),
                (
                    "model_high",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="arena.generator",
                    ),
                ),
                (
                    "model_low",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="arena.generator",
                    ),
                ),
                (
                    "prompt",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="arena.prompt",
                    ),
                ),
                (
                    "voter",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="votes.voter",
                    ),
                ),
            ],
        ),
        migrations.RunPython(remember_recent_battles, migrations.RunPython.noop),
    ]
