"""Folding votes into boards, recomputing, snapshots, and the leaderboard API and pages."""

from __future__ import annotations

import random
from collections import Counter
from datetime import timedelta

import numpy as np
import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from arena import boards, leaderboards
from arena.battles import issue_battle
from arena.models import Board, FoldState, Generator, Snapshot
from votes.models import Vote, Voter
from votes.services import cast_vote

pytestmark = pytest.mark.django_db

QUALITY = {"Lumen-2": 3.0, "Aurora Motion 1.5": 2.0, "Kinetica XL": 1.0, "Dreamreel": 0.0}


@pytest.fixture(autouse=True)
def _small_boards(settings) -> None:  # noqa: ANN001
    settings.ARENA_MIN_VOTES_LISTED = 5
    settings.ARENA_MIN_VOTES_STABLE = 40
    settings.ARENA_BOOTSTRAP_ROUNDS = 50


def cast(n: int, *, arena: str = "no-audio", seed: int = 0, voter: Voter | None = None) -> list:
    """n votes through the real services: the better model (by QUALITY) usually wins."""
    rng = random.Random(seed)
    voter = voter or Voter.objects.create()
    votes = []
    for _ in range(n):
        battle = issue_battle(voter_id=voter.id, arena=arena)
        qa, qb = QUALITY[battle.model_a.name], QUALITY[battle.model_b.name]
        p_a = 1 / (1 + 10 ** ((qb - qa) / 2))
        roll = rng.random()
        choice = "tie" if roll < 0.1 else ("a" if rng.random() < p_a else "b")
        votes.append(cast_vote(token=battle.token, voter=voter, choice=choice)[1])
    return votes


def expected_counts(arena: str, mode: str, category: str) -> dict[str, list[int]]:
    """What a board's counts must be: a plain aggregation of the counted votes."""
    counts: dict[str, list[int]] = {}
    for vote in Vote.objects.counted().filter(arena=arena, mode=mode).select_related("prompt"):
        if category != "overall" and not vote.prompt.categories.filter(slug=category).exists():
            continue
        cell = counts.setdefault(f"{vote.model_a_id},{vote.model_b_id}", [0, 0, 0, 0])
        cell[boards.OUTCOME[vote.winner]] += 1
    return counts


def assert_boards_match_votes() -> None:
    for board in Board.objects.all():
        assert board.counts == expected_counts(board.arena, board.mode, board.category), board
        assert board.votes == sum(map(sum, board.counts.values()))


def test_fold_counts_every_counted_vote_once() -> None:
    cast(30)
    boards.fold_new_votes()
    boards.fold_new_votes()  # nothing new: nothing changes
    assert_boards_match_votes()
    cast(20, seed=1)
    boards.fold_new_votes()
    assert_boards_match_votes()
    overall = Board.objects.filter(category="overall")
    assert sum(b.votes for b in overall) == Vote.objects.count() == 50


def test_overall_board_votes_equal_the_pairs_counted_votes() -> None:
    cast(25)
    cast(10, arena="audio")
    leaderboards.recompute()
    for arena in ("audio", "no-audio"):
        for mode in ("text-to-video", "image-to-video"):
            n = Vote.objects.counted().filter(arena=arena, mode=mode).count()
            board = Board.objects.filter(arena=arena, mode=mode, category="overall").first()
            assert (board.votes if board else 0) == n


def test_a_late_commit_below_the_watermark_is_folded_once() -> None:
    votes = cast(6)
    last = votes[-1]
    # Pretend the newest vote's transaction had not committed when the fold ran.
    template = {
        f.attname: getattr(last, f.attname)
        for f in Vote._meta.concrete_fields
        if f.attname not in {"id", "uid", "battle_id"}
    }
    late_id = last.id + 1
    Vote.objects.create(id=late_id + 1, uid="later", **template)
    boards.fold_new_votes()
    assert str(late_id) in FoldState.objects.get().gaps
    Vote.objects.create(id=late_id, uid="late", **template)
    boards.fold_new_votes()
    boards.fold_new_votes()
    assert_boards_match_votes()
    assert str(late_id) not in FoldState.objects.get().gaps


def test_quarantine_and_restore_move_the_counts_at_once() -> None:
    votes = cast(30)
    boards.fold_new_votes()
    overall_before = sum(b.votes for b in Board.objects.filter(category="overall"))
    ids = [v.id for v in votes[:10]]
    boards.set_vote_flags(ids, quarantined=True)
    assert sum(b.votes for b in Board.objects.filter(category="overall")) == overall_before - 10
    assert_boards_match_votes()
    boards.set_vote_flags(ids, quarantined=False)
    assert_boards_match_votes()
    # Flags on votes not folded yet are read by the next fold instead.
    fresh = cast(5, seed=3)
    boards.set_vote_flags([v.id for v in fresh], invalidated=True)
    boards.fold_new_votes()
    assert_boards_match_votes()


def test_quarantine_is_reflected_on_the_leaderboard_at_the_next_recompute() -> None:
    cast(60)
    leaderboards.recompute()
    board = Board.objects.get(arena="no-audio", mode="text-to-video", category="overall")
    before = board.latest.votes
    quarantined = list(
        Vote.objects.filter(arena="no-audio", mode="text-to-video").values_list("id", flat=True)[:7]
    )
    boards.set_vote_flags(quarantined, quarantined=True)
    leaderboards.recompute()
    board.refresh_from_db()
    assert board.latest.votes == before - 7


def test_full_rebuild_equals_incremental_folds(settings) -> None:  # noqa: ANN001
    settings.ARENA_BOOTSTRAP_REUSE = False  # intervals from the counts and the seed alone
    cast(40)
    leaderboards.recompute()
    cast(15, seed=1)
    leaderboards.recompute()
    incremental = {str(b): (b.counts, b.latest.rows) for b in Board.objects.all()}
    leaderboards.recompute(full=True)
    rebuilt = {str(b): (b.counts, b.latest.rows) for b in Board.objects.all()}
    assert incremental == rebuilt


def test_incremental_recompute_updates_the_previous_bootstrap(settings) -> None:  # noqa: ANN001
    settings.ARENA_BOOTSTRAP_ROUNDS = 400
    cast(300)
    leaderboards.recompute()
    overall = Board.objects.get(arena="no-audio", mode="text-to-video", category="overall")
    before = leaderboards._replicates[overall.pk][1]
    cast(12, seed=1)
    leaderboards.recompute()
    overall.refresh_from_db()
    after = leaderboards._replicates[overall.pk][1]
    assert after.cells.sum() == overall.votes > before.cells.sum()
    assert np.all(after.draws.sum(axis=1) == overall.votes)

    def likeness(x: np.ndarray, y: np.ndarray) -> float:
        """Correlation of two sets of resamples, row by row, around their means."""
        x, y = x - x.mean(axis=0), y - y.mean(axis=0)
        return float((x * y).sum() / np.sqrt((x * x).sum() * (y * y).sum()))

    # The resamples were carried over (a fresh draw would be uncorrelated with the last).
    assert likeness(after.draws, before.draws) > 0.8
    incremental = {str(b): b.latest.rows for b in Board.objects.all()}
    leaderboards.recompute(full=True)  # a full recompute draws afresh from the seed
    drawn = {str(b): b.latest.rows for b in Board.objects.all()}
    leaderboards.recompute(full=True)
    assert {str(b): b.latest.rows for b in Board.objects.all()} == drawn
    for board in Board.objects.all():
        for row, fresh in zip(incremental[str(board)], board.latest.rows, strict=True):
            # Same fit; intervals from other (equally valid) resamples differ by Monte Carlo noise.
            same = ("model", "rating", "votes", "win_rate", "provisional")
            assert {k: row[k] for k in same} == {k: fresh[k] for k in same}
            assert row["ci_low"] <= row["rating"] <= row["ci_high"]
    overall.refresh_from_db()
    for row, fresh in zip(incremental[str(overall)], overall.latest.rows, strict=True):
        width = fresh["ci_high"] - fresh["ci_low"]
        assert abs(row["ci_high"] - row["ci_low"] - width) <= 0.25 * width


def test_ratings_do_not_depend_on_the_order_of_votes() -> None:
    votes = cast(60)
    leaderboards.recompute(full=True)
    first = {str(b): b.latest.rows for b in Board.objects.all()}
    # The same votes in another order (new ids) give the same boards.
    shuffled = list(Vote.objects.all())
    random.Random(5).shuffle(shuffled)
    Vote.objects.all().update(battle=None)
    fields = [f.attname for f in Vote._meta.concrete_fields if f.attname not in {"id"}]
    copies = [Vote(**{f: getattr(v, f) for f in fields}) for v in shuffled]
    Vote.objects.filter(id__in=[v.id for v in votes]).update(invalidated=True)
    for copy in copies:
        copy.uid = copy.uid + "-copy"
    Vote.objects.bulk_create(copies)
    leaderboards.recompute(full=True)
    again = {str(b): b.latest.rows for b in Board.objects.all()}
    assert first == again


def test_recompute_writes_snapshots_with_ranked_rows() -> None:
    cast(80)
    results = leaderboards.recompute()
    assert results
    board = Board.objects.get(arena="no-audio", mode="text-to-video", category="overall")
    rows = board.latest.rows
    assert [r["rank"] for r in rows] == sorted(r["rank"] for r in rows)
    for row in rows:
        assert row["ci_low"] <= row["rating"] <= row["ci_high"]
        above = sum(1 for other in rows if other["ci_low"] > row["ci_high"])
        assert row["rank"] == 1 + above
        assert 0 <= row["win_rate"] <= 1
    # Battles are drawn at random, so only the wide gap is asserted: the best simulated model
    # (wins 97 % of its votes against the worst) is rated above the worst.
    rating = {row["model"]: row["rating"] for row in rows}
    assert rating["Lumen-2"] > rating["Dreamreel"]


def test_only_changed_boards_are_refitted() -> None:
    cast(20)
    leaderboards.recompute()
    snapshots = Snapshot.objects.count()
    assert leaderboards.recompute() == []
    assert Snapshot.objects.count() == snapshots


def test_two_recomputes_never_run_at_once_and_an_expired_lease_is_taken() -> None:
    now = timezone.now()
    assert leaderboards.acquire_lease("first", now)
    with pytest.raises(leaderboards.RecomputeBusy):
        leaderboards.recompute()
    # The first one died without releasing: its lease runs out and the next run completes.
    later = now + timedelta(seconds=leaderboards.LEASE_SECONDS + 1)
    cast(10)
    assert leaderboards.recompute(now=later)


def test_a_recompute_killed_half_way_leaves_the_last_snapshots(monkeypatch) -> None:  # noqa: ANN001
    cast(30)
    cast(10, arena="audio")
    leaderboards.recompute()
    before = {b.pk: b.latest_id for b in Board.objects.all()}
    cast(30, seed=9)
    cast(10, arena="audio", seed=9)
    calls = {"n": 0}
    real = leaderboards.ratings.fit_board

    def dies_on_second(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(leaderboards.ratings, "fit_board", dies_on_second)
    with pytest.raises(KeyboardInterrupt):
        leaderboards.recompute()
    # Every board that had a snapshot still shows one (boards the new votes created may not
    # have one yet: battles are drawn at random, so which appear varies from run to run).
    for pk, snapshot in before.items():
        assert Board.objects.get(pk=pk).latest_id is not None
        assert snapshot is not None
    monkeypatch.setattr(leaderboards.ratings, "fit_board", real)
    leaderboards.recompute()
    for board in Board.objects.all():
        assert board.latest_id is not None
        assert board.fitted_version == board.version
    assert_boards_match_votes()


def test_models_below_the_listing_threshold_are_not_listed(settings) -> None:  # noqa: ANN001
    settings.ARENA_MIN_VOTES_LISTED = 10_000
    cast(20)
    leaderboards.recompute()
    board = Board.objects.get(arena="no-audio", mode="text-to-video", category="overall")
    assert board.latest.rows == []
    assert set(board.latest.unlisted) <= set(QUALITY)
    assert board.latest.unlisted


def test_retired_models_stay_on_the_board_marked_retired() -> None:
    cast(60)
    Generator.objects.filter(name="Dreamreel").update(status=Generator.Status.RETIRED)
    leaderboards.recompute(full=True)
    board = Board.objects.get(arena="no-audio", mode="text-to-video", category="overall")
    retired = [r for r in board.latest.rows if r["model"] == "Dreamreel"]
    assert retired and retired[0]["retired"]


def test_leaderboard_api_has_the_documented_shape(client: Client) -> None:
    cast(60)
    call_command("recompute_leaderboards", rounds=50, stdout=open("/dev/null", "w"))
    listing = client.get("/api/v1/leaderboards/").json()
    assert {"arena", "mode", "category", "url"} <= set(listing[0])
    assert any(b["category"] == "overall" for b in listing)
    board = client.get("/api/v1/leaderboards/no-audio/text-to-video/").json()
    assert set(board) >= {"arena", "mode", "category", "computed_at", "votes", "rows"}
    assert board["category"] == "overall"
    assert (
        board["votes"]
        == Vote.objects.counted().filter(arena="no-audio", mode="text-to-video").count()
    )
    row = board["rows"][0]
    assert set(row) >= {
        "rank",
        "model",
        "rating",
        "ci_low",
        "ci_high",
        "votes",
        "win_rate",
        "provisional",
    }
    assert isinstance(row["rank"], int) and isinstance(row["provisional"], bool)
    category = next(
        b["category"]
        for b in listing
        if b["category"] != "overall" and b["arena"] == "no-audio" and b["mode"] == "text-to-video"
    )
    response = client.get(f"/api/v1/leaderboards/no-audio/text-to-video/?category={category}")
    assert response.status_code == 200 and response.json()["category"] == category
    assert (
        client.get("/api/v1/leaderboards/no-audio/text-to-video/?category=nope").status_code == 404
    )
    assert client.get("/api/v1/leaderboards/smell/text-to-video/").status_code == 404


def test_recompute_command_prints_one_line_per_board(capsys) -> None:  # noqa: ANN001
    cast(20)
    call_command("recompute_leaderboards", rounds=20)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == Board.objects.count()
    assert all("votes" in line for line in out)


def test_leaderboard_page_shows_table_charts_and_downloads(client: Client) -> None:
    cast(60)
    leaderboards.recompute()
    response = client.get("/leaderboard/")
    assert response.status_code == 302
    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Lumen-2" in html and "<svg" in html and "95 % interval" in html
    csv_text = client.get("/leaderboard/no-audio/text-to-video/board.csv").content.decode()
    assert csv_text.splitlines()[0].startswith("rank,model,organisation,rating")
    assert len(csv_text.splitlines()) == 1 + len(
        Board.objects.get(arena="no-audio", mode="text-to-video", category="overall").latest.rows
    )
    data = client.get("/leaderboard/no-audio/text-to-video/board.json").json()
    assert data["rows"][0]["model"]


def test_empty_leaderboard_page_invites_votes(client: Client) -> None:
    assert client.get("/leaderboard/").status_code == 200
    assert client.get("/leaderboard/audio/image-to-video/").status_code == 200
    assert client.get("/leaderboard/bogus/image-to-video/").status_code == 404


def test_voter_sees_their_own_leaderboard_after_twenty_votes(voter_client: Client) -> None:
    from .conftest import issue, vote

    page = voter_client.get("/leaderboard/mine/").content.decode()
    assert "appears after 20 votes" in page
    for _ in range(20):
        vote(voter_client, issue(voter_client)["token"], random.choice("ab"))
    page = voter_client.get("/leaderboard/mine/").content.decode()
    assert "Fitted on your 20 votes" in page
    names = Counter(Generator.objects.values_list("name", flat=True))
    assert any(name in page for name in names)


def test_a_lease_held_by_a_killed_process_not_yet_reaped_is_free_to_take() -> None:
    import socket
    import subprocess
    import time as clock

    from arena.leaderboards import _holder_is_dead

    host = socket.gethostname()[:30]
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert not _holder_is_dead(f"{host}:{child.pid}:abc")  # alive: its lease stands
        child.kill()
        deadline = clock.monotonic() + 10
        while clock.monotonic() < deadline:  # killed, not waited for: a zombie
            stat = open(f"/proc/{child.pid}/stat").read()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                break
            clock.sleep(0.01)
        assert _holder_is_dead(f"{host}:{child.pid}:abc")
    finally:
        child.kill()
        child.wait()
    assert _holder_is_dead(f"{host}:{child.pid}:abc")  # reaped: gone altogether
