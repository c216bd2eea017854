"""End to end: a new voter votes through the real page in headless Chromium."""

from __future__ import annotations

import pytest

from arena.models import Battle

from .conftest import needs_chromium

pytestmark = [pytest.mark.browser, needs_chromium]


@pytest.mark.parametrize("arena", ["no-audio", "audio"])
def test_new_voter_votes_three_times_with_the_keyboard(
    live_server,
    demo_live,
    browser,  # noqa: ANN001
    arena: str,
    tmp_path,
) -> None:
    from playwright.sync_api import expect

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/vote/{arena}/")
    assert any(c["name"] == "csrftoken" for c in context.cookies())
    choices = ["a", "b", "t"]
    for round_number, key in enumerate(choices):
        prompt = page.locator("#prompt-text")
        expect(prompt).not_to_have_text("Loading a battle…", timeout=15_000)
        choice_a = page.locator('[data-choice="a"]')
        expect(choice_a).to_be_disabled()
        page.locator("body").press("Space")  # play both, in step
        # The vote unlocks only once both clips have really played through.
        expect(page.locator("#watched-a")).to_have_text("watched ✓", timeout=20_000)
        expect(page.locator("#watched-b")).to_have_text("watched ✓", timeout=20_000)
        expect(choice_a).to_be_enabled()
        page.keyboard.press(key)
        expect(page.locator("#reveal-a")).to_be_visible(timeout=10_000)
        battle = Battle.objects.filter(status=Battle.Status.VOTED).order_by("-voted_at").first()
        text = page.locator("body").inner_text()
        assert battle.model_a.name in text and battle.model_b.name in text
        assert battle.arena == arena
        if round_number == len(choices) - 1:
            page.screenshot(path=str(tmp_path / f"vote-{arena}.png"), full_page=True)
            break
        next_button = page.locator('[data-action="next"]')
        expect(next_button).to_be_focused()
        page.keyboard.press("n")
        expect(page.locator("#reveal-a")).to_be_hidden()
    winners = list(
        Battle.objects.filter(status=Battle.Status.VOTED)
        .order_by("voted_at")
        .values_list("votes__winner", flat=True)
    )
    assert winners == ["model_a", "model_b", "tie"]
    assert not errors, errors
    context.close()
