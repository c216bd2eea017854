"""Battles: two fewer indexes to write on every battle issued.

The voter's own index is covered by the (voter, issued_at) index. On PostgreSQL, Django
also gives every unique CharField a second, `varchar_pattern_ops` index for LIKE
'prefix%' queries; nothing looks battles up by a prefix of their uid or token, so those
go too (the unique indexes stay).
"""

from django.db import migrations, models


def _like_indexes(schema_editor) -> list[str]:
    return [
        schema_editor._create_index_name("arena_battle", [column], suffix="_like")
        for column in ("uid", "token")
    ]


def drop_like_indexes(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in _like_indexes(schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create_like_indexes(apps, schema_editor) -> None:  # noqa: ANN001
    if schema_editor.connection.vendor != "postgresql":
        return
    for column, name in zip(("uid", "token"), _like_indexes(schema_editor), strict=True):
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(name)} "
            f"ON arena_battle ({column} varchar_pattern_ops)"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("arena", "0006_attention_checks"),
        ("votes", "0005_moderation"),
    ]

    operations = [
        migrations.AlterField(
            model_name="battle",
            name="voter",
            field=models.ForeignKey(
                db_index=False,
                on_delete=models.deletion.CASCADE,
                related_name="battles",
                to="votes.voter",
            ),
        ),
        migrations.RunPython(drop_like_indexes, create_like_indexes),
    ]
