"""The moderation audit log: append-only in the database, hash-chained, verifiable."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from votes import audit
from votes.models import AuditEntry

pytestmark = pytest.mark.django_db


def write(n: int) -> list[AuditEntry]:
    return [
        audit.record(
            actor="mod",
            action="invalidate",
            target_type="voter",
            target=f"v{i}",
            reason=f"reason {i}",
            before={"status": "flagged", "counted": 12},
            after={"status": "ok", "counted": 0},
        )
        for i in range(n)
    ]


def test_entries_chain_each_to_the_one_before() -> None:
    entries = write(3)
    assert entries[0].prev_hash == audit.GENESIS
    assert [e.prev_hash for e in entries[1:]] == [e.hash for e in entries[:-1]]
    verdict = audit.verify()
    assert verdict.ok and verdict.entries == 3 and verdict.head == entries[-1].hash


def test_the_application_cannot_update_an_entry() -> None:
    entry = write(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(reason="nothing happened")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entry.reason = "nothing happened"
        entry.save()
    assert AuditEntry.objects.get(pk=entry.pk).reason == "reason 0"


def test_the_application_cannot_delete_an_entry() -> None:
    entry = write(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        entry.delete()
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.count() == 1


def _drop_triggers() -> None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER audit_append_only ON votes_auditentry")
        else:
            cursor.execute("DROP TRIGGER audit_no_update")
            cursor.execute("DROP TRIGGER audit_no_delete")


def test_verify_names_the_first_changed_entry(capsys) -> None:  # noqa: ANN001
    entries = write(4)
    call_command("verify_audit_log")
    assert "intact: 4 entries" in capsys.readouterr().out
    _drop_triggers()  # what someone with the database owner's rights could do
    try:
        AuditEntry.objects.filter(pk=entries[2].pk).update(reason="it was fine really")
        with pytest.raises(CommandError, match=rf"entry #{entries[2].pk}: its contents"):
            call_command("verify_audit_log")
    finally:
        audit.install_triggers()


def test_verify_notices_a_removed_entry() -> None:
    entries = write(4)
    _drop_triggers()
    try:
        AuditEntry.objects.filter(pk=entries[1].pk).delete()
        verdict = audit.verify()
        assert not verdict.ok and verdict.broken_at == entries[2].pk and verdict.entries == 1
    finally:
        audit.install_triggers()


def test_the_admin_offers_no_way_to_change_or_delete(admin_client) -> None:  # noqa: ANN001
    entry = write(1)[0]
    page = admin_client.get(f"/admin/votes/auditentry/{entry.pk}/change/")
    assert page.status_code == 200 and b"reason 0" in page.content
    assert b'name="_save"' not in page.content
    assert admin_client.get(f"/admin/votes/auditentry/{entry.pk}/delete/").status_code == 403
    assert admin_client.get("/admin/votes/auditentry/add/").status_code == 403
