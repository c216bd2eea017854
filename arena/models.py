"""The catalogue (generators, categories, prompts, clips) and the battles drawn from it."""

from __future__ import annotations

import json
import secrets

from django.db import models
from django.db.models import Q


def new_uid() -> str:
    return secrets.token_hex(8)


def new_token() -> str:
    return secrets.token_urlsafe(24)


class TextJSONField(models.JSONField):
    """A JSONField stored as PostgreSQL ``json`` (the text, checked) instead of ``jsonb``.

    For a value that is always read and written whole and never queried inside: a board's
    counts (~25 KB of JSON). PostgreSQL parses jsonb on every write (~2.4 ms a board, the
    largest part of folding new votes into 36 boards) and rebuilds the text on every read;
    json keeps the text as sent. Other databases store JSONField as text anyway.
    """

    def db_type(self, connection):  # noqa: ANN001, ANN201
        return "json" if connection.vendor == "postgresql" else super().db_type(connection)

    def get_db_prep_value(self, value, connection, prepared=False):  # noqa: ANN001, ANN201, FBT002
        if connection.vendor != "postgresql" or value is None:
            return super().get_db_prep_value(value, connection, prepared)
        return json.dumps(value, cls=self.encoder)  # plain text: no ::jsonb cast

    def from_db_value(self, value, expression, connection):  # noqa: ANN001, ANN201
        # psycopg parses json columns itself; jsonb ones Django reads as text.
        if value is None or not isinstance(value, str):
            return value
        return super().from_db_value(value, expression, connection)


class Arena(models.TextChoices):
    AUDIO = "audio", "With sound"
    NO_AUDIO = "no-audio", "Without sound"


class Mode(models.TextChoices):
    TEXT_TO_VIDEO = "text-to-video", "Text to video"
    IMAGE_TO_VIDEO = "image-to-video", "Image to video"


class GeneratorQuerySet(models.QuerySet["Generator"]):
    def active(self) -> GeneratorQuerySet:
        return self.filter(status=Generator.Status.ACTIVE)


class Generator(models.Model):
    """A video generation model. Called Generator in code to keep "model" for Django's."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        RETIRED = "retired"

    name = models.CharField(max_length=100, unique=True)
    organisation = models.CharField(max_length=100, blank=True)
    # Mode slugs the generator makes clips for; a short list, read in Python.
    modes = models.JSONField(default=list, blank=True)
    has_sound = models.BooleanField(
        default=False, help_text="Makes clips with a native soundtrack."
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = GeneratorQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.name


class Category(models.Model):
    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80)
    # Position in Prompt.category_mask; lets a leaderboard aggregate all categories in one scan.
    bit = models.PositiveSmallIntegerField(unique=True)

    class Meta:
        ordering = ["slug"]
        verbose_name_plural = "categories"
        constraints = [models.CheckConstraint(condition=Q(bit__lt=63), name="category_bit_lt_63")]

    def __str__(self) -> str:
        return self.slug


class Prompt(models.Model):
    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    text = models.TextField()
    mode = models.CharField(max_length=20, choices=Mode.choices)
    categories = models.ManyToManyField(Category, related_name="prompts", blank=True)
    category_mask = models.BigIntegerField(default=0, editable=False)
    input_image = models.ImageField(upload_to="inputs/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["mode", "text"], name="prompt_unique_text_per_mode")
        ]

    def __str__(self) -> str:
        return f"{self.text[:60]} ({self.mode})"

    def refresh_category_mask(self) -> None:
        mask = 0
        for bit in self.categories.values_list("bit", flat=True):
            mask |= 1 << bit
        if mask != self.category_mask:
            Prompt.objects.filter(pk=self.pk).update(category_mask=mask)
            self.category_mask = mask


class ClipQuerySet(models.QuerySet["Clip"]):
    def playable(self) -> ClipQuerySet:
        """Ready, not hidden by a moderator, from an active generator."""
        return self.filter(
            status=Clip.Status.READY,
            hidden=False,
            generator__status=Generator.Status.ACTIVE,
        )


class Clip(models.Model):
    """One generator's output for one prompt, and its anonymised renditions."""

    class Status(models.TextChoices):
        PENDING = "pending"
        READY = "ready"
        REJECTED = "rejected"

    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    generator = models.ForeignKey(Generator, on_delete=models.PROTECT, related_name="clips")
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="clips")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    reject_reason = models.TextField(blank=True)
    source = models.FileField(upload_to="sources/", max_length=255)
    sha256 = models.CharField(max_length=64, unique=True, null=True, blank=True, editable=False)
    container = models.CharField(max_length=100, blank=True)
    video_codec = models.CharField(max_length=40, blank=True)
    audio_codec = models.CharField(max_length=40, blank=True)
    duration = models.FloatField(null=True, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    has_audio = models.BooleanField(default=False)
    size_bytes = models.BigIntegerField(null=True, blank=True)
    # Renditions live under random names so that nothing in a path names the generator.
    poster = models.ImageField(upload_to="r/", blank=True, max_length=255)
    rendition_sound = models.FileField(upload_to="r/", blank=True, max_length=255)
    rendition_silent = models.FileField(upload_to="r/", blank=True, max_length=255)
    # Attention checks: an obviously broken copy of this clip (frozen, scrambled or corrupt),
    # with this clip's own audio in the sound arena's copy.
    broken_kind = models.CharField(max_length=12, blank=True)
    broken_sound = models.FileField(upload_to="r/", blank=True, max_length=255)
    broken_silent = models.FileField(upload_to="r/", blank=True, max_length=255)
    hidden = models.BooleanField(default=False, help_text="Hidden by a moderator: out of battles.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ClipQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "hidden"])]

    def __str__(self) -> str:
        return f"clip {self.uid} ({self.generator} / prompt {self.prompt_id})"

    def rendition_for(self, arena: str, *, broken: bool = False) -> models.fields.files.FieldFile:
        if broken:
            return self.broken_sound if arena == Arena.AUDIO else self.broken_silent
        return self.rendition_sound if arena == Arena.AUDIO else self.rendition_silent


class BattleQuerySet(models.QuerySet["Battle"]):
    def open(self, now) -> BattleQuerySet:  # noqa: ANN001
        return self.filter(status=Battle.Status.ISSUED, expires_at__gt=now)


class Battle(models.Model):
    """Two clips of one prompt shown to one voter. Its token is single-use.

    Status moves ISSUED -> VOTED only by a conditional update (see votes.services.cast_vote).
    """

    class Status(models.TextChoices):
        ISSUED = "issued"
        VOTED = "voted"

    uid = models.CharField(max_length=32, unique=True, default=new_uid, editable=False)
    token = models.CharField(max_length=64, unique=True, default=new_token, editable=False)
    # No index of its own: the (voter, issued_at) index below serves every lookup by voter,
    # and each index is one more write on every battle issued.
    voter = models.ForeignKey(
        "votes.Voter", on_delete=models.CASCADE, related_name="battles", db_index=False
    )
    arena = models.CharField(max_length=10, choices=Arena.choices)
    mode = models.CharField(max_length=20, choices=Mode.choices)
    prompt = models.ForeignKey(Prompt, on_delete=models.PROTECT, related_name="+")
    clip_a = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="+")
    clip_b = models.ForeignKey(Clip, on_delete=models.PROTECT, related_name="+")
    model_a = models.ForeignKey(Generator, on_delete=models.PROTECT, related_name="+")
    model_b = models.ForeignKey(Generator, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ISSUED)
    issued_at = models.DateTimeField(db_index=True)
    expires_at = models.DateTimeField()
    voted_at = models.DateTimeField(null=True, blank=True)
    min_watch_ms = models.PositiveIntegerField(default=0)
    # Probability with which this pair was drawn: lets a board be reweighted and audited.
    pair_probability = models.FloatField(default=0.0)
    # An attention check shows one clip against a deliberately broken copy of itself
    # (served on `broken_side`); its vote never counts.
    attention_check = models.BooleanField(default=False)
    broken_side = models.CharField(max_length=1, blank=True)

    objects = BattleQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(model_a=models.F("model_b")) | Q(attention_check=True),
                name="battle_two_different_models",
            ),
        ]
        indexes = [models.Index(fields=["voter", "issued_at"])]

    def __str__(self) -> str:
        return f"battle {self.uid}"


class SeenPair(models.Model):
    """A pair of models on a prompt that a voter was shown lately: matchmaking's memory.

    Matchmaking does not show a voter the same pair on the same prompt again within
    ARENA_REPEAT_WINDOW_HOURS. Read from the voter's battles, that cost a scan of their
    whole recent history on every battle issued; this keeps one row per (voter, mode, pair,
    prompt), written by the battle's own statement, so the read is a few index probes.
    Derived data: battles are the record, and rows older than the window are deleted
    periodically (arena.battles.forget_seen_pairs).
    """

    pk = models.CompositePrimaryKey("voter", "mode", "model_low", "model_high", "prompt")
    # The primary key's index is the only one: each index would be one more write on every
    # battle, and an update that touches no indexed column stays on its page (HOT). The
    # hourly clean-up and the rare deletion of a model or prompt scan the table instead.
    voter = models.ForeignKey(
        "votes.Voter", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    mode = models.CharField(max_length=20, choices=Mode.choices)
    model_low = models.ForeignKey(
        Generator, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    model_high = models.ForeignKey(
        Generator, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="+", db_index=False)
    last_seen = models.DateTimeField()

    def __str__(self) -> str:
        pair = f"{self.model_low_id}/{self.model_high_id}"
        return f"voter {self.voter_id} saw {pair} on prompt {self.prompt_id}"


class FoldState(models.Model):
    """Singleton: how far votes have been folded into the boards' counts, and who folds.

    `vote_watermark` is the highest vote id folded; `gaps` holds ids below it that were not
    visible when it moved (a transaction that had not committed yet), with the time first
    seen, so that a late commit is folded once rather than lost. `lease_until` and
    `lease_owner` keep two recomputes from running at once; an expired lease is free.
    """

    vote_watermark = models.BigIntegerField(default=0)
    gaps = models.JSONField(default=dict, blank=True)
    # Set when counts can no longer be corrected by deltas (a prompt's categories changed).
    needs_rebuild = models.BooleanField(default=False)
    lease_owner = models.CharField(max_length=64, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    folded_at = models.DateTimeField(null=True, blank=True)
    # The highest battle id counted into BattleCount (arena.battle_counts).
    battle_watermark = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"folded up to vote {self.vote_watermark}"


class Board(models.Model):
    """One leaderboard: an arena, a mode and a category (or "overall").

    `counts` maps "a,b" (generator ids, a shown first) to [a wins, b wins, ties, both bad]
    over counted votes; fits read nothing else, so their cost does not grow with history.
    """

    OVERALL = "overall"

    arena = models.CharField(max_length=10, choices=Arena.choices)
    mode = models.CharField(max_length=20, choices=Mode.choices)
    category = models.SlugField(max_length=40)
    counts = TextJSONField(default=dict, blank=True)
    votes = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=0)
    fitted_version = models.PositiveIntegerField(default=0)
    latest = models.ForeignKey(
        "Snapshot", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["arena", "mode", "category"]
        constraints = [
            models.UniqueConstraint(fields=["arena", "mode", "category"], name="one_board_per_key")
        ]

    def __str__(self) -> str:
        return f"{self.arena}/{self.mode}/{self.category}"


class Snapshot(models.Model):
    """A board as fitted at one moment: kept, so ratings can be drawn over time."""

    board = models.ForeignKey(Board, on_delete=models.CASCADE, related_name="snapshots")
    computed_at = models.DateTimeField(db_index=True)
    votes = models.PositiveIntegerField()
    rows = models.JSONField(default=list)
    # Models with votes on this board whose comparisons do not connect to the others.
    disconnected = models.JSONField(default=list, blank=True)
    # Models with votes but below the listing threshold.
    unlisted = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-computed_at"]
        indexes = [models.Index(fields=["board", "computed_at"])]

    def __str__(self) -> str:
        return f"{self.board} at {self.computed_at:%Y-%m-%d %H:%M}"


class Tally(models.Model):
    """A narrow mirror of every vote: only what the boards aggregate.

    Written by database triggers on votes_vote (see migration 0004), so every insert (web,
    import, bulk) and every change of a vote's flags is mirrored whatever wrote it.
    Aggregating millions of these small integer rows is several times faster than scanning
    the votes themselves.
    """

    vote_id = models.BigIntegerField(primary_key=True)
    code = models.PositiveSmallIntegerField(help_text="arena index * 2 + mode index")
    mask = models.BigIntegerField(help_text="the prompt's category mask")
    model_a = models.IntegerField()
    model_b = models.IntegerField()
    outcome = models.PositiveSmallIntegerField(help_text="0 a wins, 1 b wins, 2 tie, 3 both bad")
    counted = models.BooleanField()

    def __str__(self) -> str:
        return f"tally of vote {self.vote_id}"


class BattleCount(models.Model):
    """Battles drawn per arena, mode, hour and model (attention checks left out).

    The published sampling shares are read from these rows, which each recompute brings up
    to date from the battles issued since the last (arena.battle_counts): the shares cost
    the same however many battles the arena has issued.
    """

    arena = models.CharField(max_length=10, choices=Arena.choices)
    mode = models.CharField(max_length=20, choices=Mode.choices)
    hour = models.DateTimeField(help_text="the hour the battles were issued in (UTC)")
    model = models.ForeignKey(Generator, on_delete=models.CASCADE, related_name="+")
    battles = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["arena", "mode", "hour", "model"], name="battle_count_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.battles} battles of model {self.model_id} at {self.hour:%Y-%m-%d %H}h"


class SamplingState(models.Model):
    """What matchmaking knows about one arena and mode, refreshed at every recompute.

    `fit` holds the overall board's generator ids, ratings, votes and rating covariance,
    from which battle weights are derived; `shares` is the published table of how battles
    were drawn (see /sampling/).
    """

    arena = models.CharField(max_length=10, choices=Arena.choices)
    mode = models.CharField(max_length=20, choices=Mode.choices)
    computed_at = models.DateTimeField()
    fit = models.JSONField(default=dict, blank=True)
    shares = models.JSONField(default=list, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["arena", "mode"], name="one_sampling_state_per_key")
        ]

    def __str__(self) -> str:
        return f"sampling {self.arena}/{self.mode}"
