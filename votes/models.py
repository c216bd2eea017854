"""Voters, their votes, and the reports they file about clips."""

from __future__ import annotations

import secrets

from django.db import models
from django.db.models import Q

from arena.models import Arena, Mode


def new_vote_uid() -> str:
    return secrets.token_hex(12)


class Voter(models.Model):
    """An anonymous voter, known by a session. Keeps keyed hashes, never raw addresses."""

    class Status(models.TextChoices):
        OK = "ok"
        FLAGGED = "flagged"
        QUARANTINED = "quarantined"
        BANNED = "banned"

    uid = models.CharField(max_length=32, unique=True, default=new_vote_uid, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen = models.DateTimeField(auto_now=True)
    # HMAC-SHA256 (server secret) of the client address at several prefix lengths, and the UA.
    ip_hash = models.CharField(max_length=32, blank=True, db_index=True)
    net_hash = models.CharField(max_length=32, blank=True, db_index=True)
    ua_hash = models.CharField(max_length=32, blank=True)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.OK)
    # What the detector found last time it looked (votes.scanning): a score and its evidence.
    scanned_at = models.DateTimeField(null=True, blank=True)
    suspicion = models.FloatField(default=0.0)
    evidence = models.JSONField(default=dict, blank=True)
    # A moderator looked at the evidence and cleared this voter: the detector leaves them be
    # until it finds something new (a higher score than the cleared one).
    cleared_score = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status"], name="voter_status")]

    def __str__(self) -> str:
        return f"voter {self.uid}"


class Winner(models.TextChoices):
    MODEL_A = "model_a"
    MODEL_B = "model_b"
    TIE = "tie"
    BOTH_BAD = "both_bad"


# API choice -> stored winner.
CHOICES = {"a": Winner.MODEL_A, "b": Winner.MODEL_B, "tie": Winner.TIE, "both_bad": Winner.BOTH_BAD}


class VoteQuerySet(models.QuerySet["Vote"]):
    def counted(self) -> VoteQuerySet:
        """Votes that enter leaderboards and datasets."""
        return self.filter(quarantined=False, invalidated=False, attention_check=False)


class Vote(models.Model):
    """One judgement. Never deleted: quarantine and invalidation are flags.

    Fields of the battle are copied here so that leaderboards and exports read one table,
    and so that imported votes (which have no battle here) look like native ones.
    """

    # Unique by a constraint (Meta), not unique=True: on PostgreSQL that would add a second,
    # pattern-matching index that every imported row pays for and no query uses.
    uid = models.CharField(max_length=64, default=new_vote_uid, editable=False)
    # Unique where set (see Meta): one vote per battle. Imported votes have no battle.
    battle = models.ForeignKey(
        "arena.Battle",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="votes",
        db_index=False,
    )
    battle_uid = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField()
    arena = models.CharField(max_length=10, choices=Arena.choices)
    mode = models.CharField(max_length=20, choices=Mode.choices)
    # The catalogue is never deleted from (PROTECT), so these skip database-level foreign
    # keys and indexes: on a table of millions of votes each costs a check and an index
    # write per inserted row, and the boards read votes through arena.Tally anyway.
    prompt = models.ForeignKey(
        "arena.Prompt",
        on_delete=models.PROTECT,
        related_name="votes",
        db_constraint=False,
        db_index=False,
    )
    model_a = models.ForeignKey(
        "arena.Generator",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    model_b = models.ForeignKey(
        "arena.Generator",
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    clip_a = models.ForeignKey(
        "arena.Clip",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    clip_b = models.ForeignKey(
        "arena.Clip",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    # Clip addresses of votes imported from another arena, kept as given.
    ext_clip_a_url = models.TextField(blank=True)
    ext_clip_b_url = models.TextField(blank=True)
    winner = models.CharField(max_length=10, choices=Winner.choices)
    voter = models.ForeignKey(
        Voter,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="votes",
        db_index=False,
    )
    time_to_vote_ms = models.PositiveIntegerField(null=True, blank=True)
    source = models.CharField(max_length=20, default="web")
    attention_check = models.BooleanField(default=False)
    quarantined = models.BooleanField(default=False)
    invalidated = models.BooleanField(default=False)

    objects = VoteQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(model_a=models.F("model_b")) | Q(attention_check=True),
                name="vote_two_different_models",
            ),
            models.UniqueConstraint(
                fields=["battle"], condition=Q(battle__isnull=False), name="one_vote_per_battle"
            ),
            models.UniqueConstraint(fields=["uid"], name="vote_uid_unique"),
        ]
        indexes = [
            models.Index(
                fields=["voter", "created_at"],
                condition=Q(voter__isnull=False),
                name="vote_voter_time",
            ),
        ]

    def __str__(self) -> str:
        return f"vote {self.uid}"

    @property
    def counted(self) -> bool:
        return not (self.quarantined or self.invalidated or self.attention_check)


class ClipReport(models.Model):
    """A voter's report that a clip is broken or offensive."""

    class Reason(models.TextChoices):
        BROKEN = "broken", "Broken (does not play, glitches)"
        OFFENSIVE = "offensive", "Offensive or harmful"
        OTHER = "other", "Something else"

    clip = models.ForeignKey("arena.Clip", on_delete=models.CASCADE, related_name="reports")
    voter = models.ForeignKey(Voter, on_delete=models.CASCADE, related_name="reports")
    battle = models.ForeignKey(
        "arena.Battle", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=12, choices=Reason.choices)
    note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved = models.BooleanField(default=False)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["clip", "voter"], name="one_report_per_clip_and_voter")
        ]

    def __str__(self) -> str:
        return f"report on {self.clip_id}: {self.reason}"


class DatasetRelease(models.Model):
    """A published, immutable dataset release: a folder in media storage and its manifest."""

    version = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField()
    rows = models.BigIntegerField()
    folder = models.CharField(max_length=255, help_text="storage path of the release folder")
    manifest = models.JSONField(default=dict)
    licence = models.CharField(max_length=40)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"release {self.version}"


class AuditEntry(models.Model):
    """One line of the moderation audit log: append-only and hash-chained (votes.audit).

    Database triggers refuse UPDATE and DELETE on this table; `hash` covers every field and
    the previous entry's hash, so `verify_audit_log` finds any change made around them.
    """

    created_at = models.DateTimeField()
    actor = models.CharField(max_length=150, help_text="a moderator's username, or system:…")
    action = models.CharField(max_length=40)
    target_type = models.CharField(max_length=20)
    target = models.CharField(max_length=64)
    reason = models.TextField()
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    prev_hash = models.CharField(max_length=64, unique=True)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target"], name="audit_target")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.actor} {self.action} {self.target_type} {self.target}"
