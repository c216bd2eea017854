"""End to end: a moderator signs in, reviews the queue and acts in bulk, in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.db import connection

from arena.battles import issue_battle
from arena.models import Clip
from votes import audit
from votes.models import AuditEntry, ClipReport, Vote, Voter
from votes.moderation import moderators_group
from votes.services import cast_vote

from .conftest import needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.fixture
def _empty_audit_log_after() -> Iterator[None]:
    """The live server's test flushes the tables after it, and the audit log refuses DELETE.

    Like an operator with the database owner's rights, drop the append-only triggers for
    a moment, empty the log, and put the triggers back.
    """
    yield
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("DROP TRIGGER IF EXISTS audit_append_only ON votes_auditentry")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_no_update")
            cursor.execute("DROP TRIGGER IF EXISTS audit_no_delete")
    try:
        AuditEntry.objects.all().delete()
    finally:
        audit.install_triggers()


def suspect(n: int, reason: str) -> Voter:
    voter = Voter.objects.create(ip_hash="f" * 32, net_hash="e" * 32)
    for _ in range(n):
        battle = issue_battle(voter_id=voter.id, arena="no-audio")
        cast_vote(token=battle.token, voter=voter, choice="a")
    Voter.objects.filter(pk=voter.pk).update(
        status=Voter.Status.FLAGGED, suspicion=4.0, evidence={"reasons": [reason], "tests": {}}
    )
    return voter


def test_a_moderator_signs_in_and_invalidates_two_flagged_voters(
    live_server,
    demo_live,
    _empty_audit_log_after,
    browser,  # noqa: ANN001
    tmp_path,
) -> None:
    from playwright.sync_api import expect

    user = User.objects.create_user("mod", password="pw")
    user.groups.add(moderators_group())
    first, second = suspect(3, "always one side"), suspect(2, "always one side")
    clip = Clip.objects.first()
    ClipReport.objects.create(clip=clip, voter=first, reason="broken", note="frozen")

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(f"{live_server.url}/moderation/")
    assert response.status == 403
    page.get_by_role("link", name="Sign in").click()
    page.fill("input[name=username]", "mod")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/moderation/")
    expect(page.get_by_text("always one side").first).to_be_visible()

    voters = page.locator("form[data-bulk]").first
    voters.locator("[data-select-all]").check()
    expect(voters.locator("[data-selected-count]")).to_have_text("2 selected")
    voters.locator("select[name=action]").select_option("invalidate")
    voters.locator("input[name=reason]").fill("one address, always A")
    voters.get_by_role("button", name="Apply to the selected voters").click()
    expect(page.locator(".msg.success")).to_contain_text("invalidate: 2 voters")
    page.screenshot(path=str(tmp_path / "moderation.png"), full_page=True)

    assert Vote.objects.filter(voter__in=[first, second], invalidated=True).count() == 5
    assert set(AuditEntry.objects.values_list("actor", "reason")) == {
        ("mod", "one address, always A")
    }
    # The clip page plays the reported clip through the moderator-only URL.
    page.goto(f"{live_server.url}/moderation/clips/{clip.uid}/")
    page.wait_for_function("document.querySelector('video').readyState >= 1")
    assert page.evaluate("document.querySelector('video').duration") > 0
    assert not errors
