"""The triggers that keep arena_tally in step with votes_vote (see arena.models.Tally).

Installed by migration 0004 and again after every migrate (arena.apps): SQLite drops a
table's triggers whenever a migration rebuilds that table.
"""

from __future__ import annotations

# Codes shared with arena.boards: arena index * 2 + mode index; outcome 0..3.
CODE = (
    "(CASE {t}.arena WHEN 'audio' THEN 0 ELSE 1 END) * 2"
    " + (CASE {t}.mode WHEN 'text-to-video' THEN 0 ELSE 1 END)"
)
OUTCOME = "CASE {t}.winner WHEN 'model_a' THEN 0 WHEN 'model_b' THEN 1 WHEN 'tie' THEN 2 ELSE 3 END"
COUNTED = "NOT ({t}.quarantined OR {t}.invalidated OR {t}.attention_check)"


def select(t: str) -> str:
    return (
        f"SELECT {t}.id, {CODE.format(t=t)}, p.category_mask, {t}.model_a_id, "
        f"{t}.model_b_id, {OUTCOME.format(t=t)}, {COUNTED.format(t=t)}"
    )


INSERT = "INSERT INTO arena_tally (vote_id, code, mask, model_a, model_b, outcome, counted) "

POSTGRES = [
    f"""CREATE FUNCTION arena_tally_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        {INSERT} {select("n")} FROM new_votes n JOIN arena_prompt p ON p.id = n.prompt_id;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER vote_tally_insert AFTER INSERT ON votes_vote
       REFERENCING NEW TABLE AS new_votes FOR EACH STATEMENT
       EXECUTE FUNCTION arena_tally_insert()""",
    f"""CREATE FUNCTION arena_tally_update() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE arena_tally t SET counted = {COUNTED.format(t="n")}
        FROM new_votes n WHERE t.vote_id = n.id AND t.counted <> {COUNTED.format(t="n")};
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER vote_tally_update AFTER UPDATE ON votes_vote
       REFERENCING NEW TABLE AS new_votes FOR EACH STATEMENT
       EXECUTE FUNCTION arena_tally_update()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER IF EXISTS vote_tally_insert ON votes_vote",
    "DROP TRIGGER IF EXISTS vote_tally_update ON votes_vote",
    "DROP FUNCTION IF EXISTS arena_tally_insert()",
    "DROP FUNCTION IF EXISTS arena_tally_update()",
]
SQLITE = [
    f"""CREATE TRIGGER vote_tally_insert AFTER INSERT ON votes_vote BEGIN
        {INSERT} {select("NEW")} FROM arena_prompt p WHERE p.id = NEW.prompt_id;
    END""",
    f"""CREATE TRIGGER vote_tally_update
        AFTER UPDATE OF quarantined, invalidated, attention_check ON votes_vote BEGIN
        UPDATE arena_tally SET counted = {COUNTED.format(t="NEW")} WHERE vote_id = NEW.id;
    END""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS vote_tally_insert",
    "DROP TRIGGER IF EXISTS vote_tally_update",
]


def install(connection) -> None:  # noqa: ANN001
    """(Re)create the triggers for this database; idempotent."""
    drops, creates = {
        "postgresql": (POSTGRES_DROP, POSTGRES),
        "sqlite": (SQLITE_DROP, SQLITE),
    }.get(connection.vendor, ([], []))
    with connection.cursor() as cursor:
        for sql in [*drops, *creates]:
            cursor.execute(sql)


def backfill_sql() -> str:
    """Tallies for votes that existed before the triggers."""
    return f"{INSERT} {select('v')} FROM votes_vote v JOIN arena_prompt p ON p.id = v.prompt_id"
