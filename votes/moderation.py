"""Moderators' actions on voters and clips, and the detector's quarantine.

Every change goes through here, inside one transaction with its audit entry (votes.audit):
an action that is not in the log did not happen. Votes are never deleted; their
`quarantined` / `invalidated` flags move, and arena.boards.set_vote_flags moves the board
counts with them, so the leaderboards reflect an action at the next recompute.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from arena.boards import set_vote_flags
from arena.models import Clip

from . import audit
from .models import ClipReport, Vote, Voter

MODERATORS = "moderators"
DETECTOR = "system:detector"


class ModerationError(ValueError):
    """An action that cannot be taken as asked (unknown action, no reason, no targets)."""


def vote_counts(voter: Voter) -> dict[str, int]:
    counts = Vote.objects.filter(voter=voter).aggregate(
        votes=Count("id"),
        counted=Count("id", filter=Q(quarantined=False, invalidated=False, attention_check=False)),
        quarantined=Count("id", filter=Q(quarantined=True)),
        invalidated=Count("id", filter=Q(invalidated=True)),
    )
    return {key: int(value or 0) for key, value in counts.items()}


def _voter_state(voter: Voter) -> dict[str, Any]:
    return {"status": voter.status, **vote_counts(voter)}


def _set_votes(voter: Voter, **flags: bool) -> int:
    """Set flags on the voter's votes that differ; attention checks never count either way."""
    differ = Q()
    for name, value in flags.items():
        differ |= ~Q(**{name: value})
    ids = list(Vote.objects.filter(differ, voter=voter).values_list("id", flat=True))
    if ids:
        set_vote_flags(ids, **flags)
    return len(ids)


def _change_voter(
    voter: Voter,
    *,
    actor: str,
    action: str,
    reason: str,
    apply: Callable[[Voter], None],
) -> audit.AuditEntry:
    # Locked, so that a scan and a moderator acting at once take turns.
    voter = Voter.objects.select_for_update().get(pk=voter.pk)
    before = _voter_state(voter)
    apply(voter)
    voter.save()
    return audit.record(
        actor=actor,
        action=action,
        target_type="voter",
        target=voter.uid,
        reason=reason,
        before=before,
        after=_voter_state(voter),
    )


def _invalidate(voter: Voter) -> None:
    _set_votes(voter, invalidated=True, quarantined=False)
    voter.cleared_score = voter.suspicion  # reviewed: not re-flagged on the same evidence
    if voter.status != Voter.Status.BANNED:
        voter.status = Voter.Status.OK


def _restore(voter: Voter) -> None:
    _set_votes(voter, invalidated=False, quarantined=False)
    voter.cleared_score = voter.suspicion
    voter.status = Voter.Status.OK


def _ban(voter: Voter) -> None:
    voter.status = Voter.Status.BANNED


def _quarantine(voter: Voter) -> None:
    _set_votes(voter, quarantined=True)
    if voter.status != Voter.Status.BANNED:
        voter.status = Voter.Status.QUARANTINED


def _flag(voter: Voter) -> None:
    voter.status = Voter.Status.FLAGGED


def _hide(clip: Clip) -> None:
    clip.hidden = True


def _unhide(clip: Clip) -> None:
    clip.hidden = False


def _dismiss(clip: Clip) -> None:
    pass  # the reports are resolved below; the clip stays as it is


VOTER_ACTIONS: dict[str, tuple[str, Callable[[Voter], None]]] = {
    "invalidate": ("Invalidate their votes", _invalidate),
    "restore": ("Restore their votes and clear them", _restore),
    "ban": ("Ban (later votes are refused)", _ban),
    "quarantine": ("Quarantine their votes pending review", _quarantine),
}
CLIP_ACTIONS: dict[str, tuple[str, Callable[[Clip], None]]] = {
    "hide": ("Hide the clip (out of battles; past votes kept)", _hide),
    "unhide": ("Restore the clip to battles", _unhide),
    "dismiss": ("Dismiss the reports", _dismiss),
}


def _clip_state(clip: Clip) -> dict[str, Any]:
    return {
        "hidden": clip.hidden,
        "open_reports": ClipReport.objects.filter(clip=clip, resolved=False).count(),
    }


def _check(action: str, known: dict, reason: str) -> None:
    if action not in known:
        raise ModerationError(f"unknown action {action!r}; expected one of {', '.join(known)}")
    if not reason.strip():
        raise ModerationError("give a reason: it goes into the audit log")


@transaction.atomic
def act_on_voters(
    *, voters: Iterable[Voter], action: str, actor: str, reason: str
) -> list[audit.AuditEntry]:
    """Apply one action to each voter, each with its own audit entry; all or nothing."""
    _check(action, VOTER_ACTIONS, reason)
    apply = VOTER_ACTIONS[action][1]
    entries = [
        _change_voter(voter, actor=actor, action=action, reason=reason.strip(), apply=apply)
        for voter in voters
    ]
    if not entries:
        raise ModerationError("choose at least one voter")
    return entries


@transaction.atomic
def act_on_clips(
    *, clips: Iterable[Clip], action: str, actor: str, reason: str
) -> list[audit.AuditEntry]:
    """Hide, restore or dismiss reports on clips; resolves their open reports."""
    _check(action, CLIP_ACTIONS, reason)
    apply = CLIP_ACTIONS[action][1]
    entries = []
    for clip in clips:
        clip = Clip.objects.select_for_update().get(pk=clip.pk)
        before = _clip_state(clip)
        apply(clip)
        clip.save(update_fields=["hidden"])  # post_save refreshes the battle catalogue
        ClipReport.objects.filter(clip=clip, resolved=False).update(resolved=True)
        entries.append(
            audit.record(
                actor=actor,
                action=action,
                target_type="clip",
                target=clip.uid,
                reason=reason.strip(),
                before=before,
                after=_clip_state(clip),
            )
        )
    if not entries:
        raise ModerationError("choose at least one clip")
    return entries


@transaction.atomic
def record_detection(
    voter: Voter, *, suspicion: float, evidence: dict[str, Any], quarantine: bool, flag: bool
) -> str:
    """Store the detector's finding on a voter; flag or quarantine them. Returns the status.

    A moderator's decision stands: a banned voter stays banned, and a cleared voter is only
    flagged again when the evidence grows beyond what was cleared.
    """
    voter = Voter.objects.select_for_update().get(pk=voter.pk)
    voter.suspicion, voter.evidence, voter.scanned_at = suspicion, evidence, timezone.now()
    voter.save(update_fields=["suspicion", "evidence", "scanned_at"])
    reviewed = voter.cleared_score is not None and suspicion <= voter.cleared_score
    if voter.status == Voter.Status.BANNED or reviewed:
        return voter.status
    summary = "; ".join(evidence.get("reasons", [])) or "anomalous voting"
    reason = f"suspicion {suspicion:.1f}: {summary}"
    if quarantine and voter.status != Voter.Status.QUARANTINED:
        action, apply = "quarantine", _quarantine
    elif flag and voter.status == Voter.Status.OK:
        action, apply = "flag", _flag
    else:
        return voter.status
    _change_voter(voter, actor=DETECTOR, action=action, reason=reason, apply=apply)
    return Voter.objects.values_list("status", flat=True).get(pk=voter.pk)


def moderators_group() -> Group:
    group, _ = Group.objects.get_or_create(name=MODERATORS)
    return group


def is_moderator(user: Any) -> bool:
    return bool(
        user.is_authenticated and user.is_active and user.groups.filter(name=MODERATORS).exists()
    )
