"""The moderation audit log: append-only, hash-chained.

Each entry's hash covers its own fields and the previous entry's hash, so changing,
removing or reordering an entry breaks the chain from there on, and `verify` names the
first entry that no longer fits. Database triggers refuse UPDATE and DELETE on the table,
so neither the admin nor the application can edit it by accident; the chain catches the
rest (someone with the database owner's rights dropping the triggers first).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from .models import AuditEntry

GENESIS = "0" * 64
# Any constant: serialises appenders on PostgreSQL so that each sees the latest head.
ADVISORY_LOCK = 0x4155_4449_54

POSTGRES = [
    """CREATE OR REPLACE FUNCTION votes_audit_append_only() RETURNS trigger
       LANGUAGE plpgsql AS $$
       BEGIN
           RAISE EXCEPTION 'the moderation audit log is append-only (% refused)', TG_OP;
       END $$""",
    "DROP TRIGGER IF EXISTS audit_append_only ON votes_auditentry",
    """CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON votes_auditentry
       FOR EACH ROW EXECUTE FUNCTION votes_audit_append_only()""",
]
SQLITE = [
    "DROP TRIGGER IF EXISTS audit_no_update",
    "DROP TRIGGER IF EXISTS audit_no_delete",
    """CREATE TRIGGER audit_no_update BEFORE UPDATE ON votes_auditentry BEGIN
       SELECT RAISE(ABORT, 'the moderation audit log is append-only (UPDATE refused)'); END""",
    """CREATE TRIGGER audit_no_delete BEFORE DELETE ON votes_auditentry BEGIN
       SELECT RAISE(ABORT, 'the moderation audit log is append-only (DELETE refused)'); END""",
]


def install_triggers(conn=connection) -> None:  # noqa: ANN001
    """(Re)create the append-only triggers; idempotent. Runs after every migrate."""
    statements = {"postgresql": POSTGRES, "sqlite": SQLITE}.get(conn.vendor, [])
    with conn.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def entry_hash(
    *,
    prev_hash: str,
    created_at: str,
    actor: str,
    action: str,
    target_type: str,
    target: str,
    reason: str,
    before: Any,
    after: Any,
) -> str:
    body = _canonical([created_at, actor, action, target_type, target, reason, before, after])
    return hashlib.sha256(f"{prev_hash}\n{body}".encode()).hexdigest()


def _stamp(entry: AuditEntry) -> str:
    # Microseconds, UTC: what both SQLite and PostgreSQL give back unchanged.
    return entry.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _hash_of(entry: AuditEntry) -> str:
    return entry_hash(
        prev_hash=entry.prev_hash,
        created_at=_stamp(entry),
        actor=entry.actor,
        action=entry.action,
        target_type=entry.target_type,
        target=entry.target,
        reason=entry.reason,
        before=entry.before,
        after=entry.after,
    )


def record(
    *,
    actor: str,
    action: str,
    target_type: str,
    target: str,
    reason: str,
    before: dict[str, Any],
    after: dict[str, Any],
) -> AuditEntry:
    """Append one entry. Joins the caller's transaction: the entry stands or falls with it."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [ADVISORY_LOCK])
        head = AuditEntry.objects.order_by("-id").values_list("hash", flat=True).first()
        entry = AuditEntry(
            created_at=timezone.now(),
            actor=actor[:150],
            action=action,
            target_type=target_type,
            target=str(target),
            reason=reason,
            # Through JSON and back, so the hash is of what the database will return.
            before=json.loads(_canonical(before)),
            after=json.loads(_canonical(after)),
            prev_hash=head or GENESIS,
        )
        entry.hash = _hash_of(entry)
        entry.save()
    return entry


@dataclass(frozen=True)
class Verdict:
    entries: int
    head: str
    broken_at: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None


def _walk() -> Iterator[AuditEntry]:
    last = 0
    while True:
        batch = list(AuditEntry.objects.filter(id__gt=last).order_by("id")[:2000])
        if not batch:
            return
        yield from batch
        last = batch[-1].id


def verify() -> Verdict:
    """Walk the chain from the start; the first entry that does not fit ends the walk."""
    prev = GENESIS
    count = 0
    for entry in _walk():
        if entry.prev_hash != prev:
            return Verdict(
                count, prev, entry.id, "does not follow the entry before it (one was removed?)"
            )
        if _hash_of(entry) != entry.hash:
            return Verdict(count, prev, entry.id, "its contents were changed after it was written")
        prev = entry.hash
        count += 1
    return Verdict(count, prev)
