from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Expression, Q, Subquery, Value
from django.db.models.functions import Coalesce

from articles.models import Collection

from .colors import text_color_on

color_validator = RegexValidator(r"^#[0-9a-fA-F]{6}$", "Use a colour like #1f77b4.")
# Keys the labelling screen uses itself: skip, unsure, back, comment, view (article/segment).
RESERVED_KEYS = {"s": "skip", "u": "unsure", "b": "back", "c": "comment", "v": "view"}


def shortcut_validator(value: str) -> None:
    if len(value) != 1 or not ("0" <= value <= "9" or "a" <= value <= "z"):
        raise ValidationError("A shortcut is a single lowercase letter or digit.")
    if value in RESERVED_KEYS:
        raise ValidationError(
            f"“{value}” is the labelling screen's key for {RESERVED_KEYS[value]}; choose another."
        )


class LabelSet(models.Model):
    """A reusable list of themes; a project labels with exactly one label set."""

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Label(models.Model):
    label_set = models.ForeignKey(LabelSet, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100)
    description = models.TextField(blank=True, help_text="Guideline: when to use this label.")
    color = models.CharField(max_length=7, default="#4c78a8", validators=[color_validator])
    shortcut = models.CharField(
        max_length=1, blank=True, validators=[shortcut_validator], help_text="Keyboard key."
    )
    order = models.PositiveIntegerField(default=0)
    active = models.BooleanField(
        default=True, help_text="Inactive labels are hidden from annotators but kept."
    )

    class Meta:
        # By column, not by relation: ordering by "label_set" would join LabelSet every time.
        ordering = ["label_set_id", "order", "name"]
        constraints = [
            models.UniqueConstraint(fields=["label_set", "slug"], name="label_unique_slug_in_set"),
            models.UniqueConstraint(
                fields=["label_set", "shortcut"],
                condition=~Q(shortcut=""),
                name="label_unique_shortcut_in_set",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def text_color(self) -> str:
        """The colour of text drawn on this label's colour (a pressed label button)."""
        return text_color_on(self.color)


class Project(models.Model):
    class QueueOrder(models.TextChoices):
        READING = "reading", "Reading order (articles as imported, segments in order)"
        SHUFFLED = "shuffled", "Articles shuffled (segments of an article stay in order)"

    # How the team labels and reviews: set on the settings page (``project_settings_update``,
    # which keeps the queue in step with them), read-only in the admin once a project exists.
    SETTINGS_FIELDS = (
        "multi_label",
        "annotators_per_segment",
        "auto_accept_unanimous",
        "review_sample_percent",
        "queue_order",
        "queue_seed",
        "reservation_minutes",
        "one_per_duplicate_group",
    )

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    collection = models.ForeignKey(Collection, on_delete=models.PROTECT, related_name="projects")
    label_set = models.ForeignKey(LabelSet, on_delete=models.PROTECT, related_name="projects")
    multi_label = models.BooleanField(
        default=True, help_text="Several labels per segment; off means exactly one."
    )
    annotators_per_segment = models.PositiveSmallIntegerField(
        default=1, help_text="How many people label each segment."
    )
    auto_accept_unanimous = models.BooleanField(
        default=True,
        help_text="When all k answers agree (same labels, none unsure, no comment), "
        "accept them as the gold label without review.",
    )
    review_sample_percent = models.PositiveSmallIntegerField(
        default=0,
        help_text="Also put this share (0–100 %) of agreed segments in the review queue, "
        "for quality control.",
    )
    queue_order = models.CharField(max_length=10, choices=QueueOrder, default=QueueOrder.READING)
    queue_seed = models.PositiveIntegerField(
        default=1, help_text="Which shuffle: another number gives another article order."
    )
    reservation_minutes = models.PositiveSmallIntegerField(
        default=30,
        help_text="How long a segment handed out by the queue is kept for that person alone.",
    )
    one_per_duplicate_group = models.BooleanField(
        default=False,
        help_text="Label one article per near-duplicate group: the queue leaves out articles "
        "that are near-copies of an earlier one.",
    )
    # How many of the collection's segments the queue has rows for (``queue_sync``): when it
    # differs from ``collection.segment_count``, articles were imported since.
    queued_segments = models.PositiveIntegerField(default=0, editable=False)
    # Reading order: every segment up to this id has its queue row (they are made in order,
    # a chunk at a time, as the queue reaches them).
    queue_synced_to = models.BigIntegerField(default=0, editable=False)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="projects"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(annotators_per_segment__gte=1),
                name="project_at_least_one_annotator_per_segment",
            ),
            models.CheckConstraint(
                condition=Q(review_sample_percent__lte=100),
                name="project_review_sample_is_a_percentage",
            ),
            models.CheckConstraint(
                condition=Q(reservation_minutes__gte=1), name="project_reservation_at_least_1_min"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        MANAGER = "manager", "Manager"
        ANNOTATOR = "annotator", "Annotator"
        REVIEWER = "reviewer", "Reviewer"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=10, choices=Role, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "user_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) in {self.project}"


class AnnotationQuerySet(models.QuerySet["Annotation"]):
    def for_project(self, project: Project) -> AnnotationQuerySet:
        return self.filter(project=project)

    def by(self, annotator: User) -> AnnotationQuerySet:
        return self.filter(annotator=annotator)


class Annotation(models.Model):
    """One annotator's answer for one segment in one project.

    Edits change the row in place and bump ``version``; a writer that read an older
    version is refused (optimistic locking), so no answer is ever silently overwritten.
    """

    class Status(models.TextChoices):
        SUBMITTED = "submitted", "Submitted"
        SKIPPED = "skipped", "Skipped"

    # PROTECT everywhere: labelled data outlives mistakes in the admin.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="annotations")
    segment = models.ForeignKey(
        "articles.Segment", on_delete=models.PROTECT, related_name="annotations", db_index=False
    )
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="annotations",
        db_index=False,
    )
    labels = models.ManyToManyField(Label, through="AnnotationLabel", related_name="annotations")
    status = models.CharField(max_length=10, choices=Status, default=Status.SUBMITTED)
    unsure = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    time_spent_ms = models.PositiveIntegerField(
        default=0, help_text="Time the segment was on screen before this answer, capped."
    )
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AnnotationQuerySet.as_manager()

    class Meta:
        # By column: ordering by the relations would join (and, under select_for_update, lock)
        # the project and segment rows.
        ordering = ["project_id", "segment_id", "annotator_id"]
        constraints = [
            # Also the index for "my annotations in this project", in queue order.
            models.UniqueConstraint(
                fields=["project", "annotator", "segment"], name="annotation_unique_per_annotator"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="annotation_version_positive"),
        ]
        indexes = [
            models.Index(fields=["project", "-updated_at"], name="annotation_project_recent"),
            # Per-segment lookups (how many answers a segment has) and PROTECT checks.
            models.Index(fields=["segment"], name="annotation_segment"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} on {self.segment_id} ({self.status}, v{self.version})"

    def label_ids(self) -> set[int]:
        """The ids of this answer's labels (one query, on the link table only)."""
        return set(
            AnnotationLabel.objects.filter(annotation=self).values_list("label_id", flat=True)
        )

    def revise(self, *, status: str, unsure: bool, comment: str, time_spent_ms: int) -> None:
        """Change the answer's own fields and bump its version (labels are set by the caller)."""
        self.status = status
        self.unsure = unsure
        self.comment = comment
        self.time_spent_ms = time_spent_ms
        self.version += 1


class AnnotationLabel(models.Model):
    # PROTECT: a label that has been used can be deactivated, never deleted.
    annotation = models.ForeignKey(Annotation, on_delete=models.CASCADE, db_index=False)
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["annotation", "label"], name="annotation_label_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.annotation_id}: {self.label_id}"


class AnnotationEvent(models.Model):
    """One stored version of an answer: who made it, when, and the answer before and after.

    Written by ``annotation_submit`` in the transaction that makes the version, never changed
    or deleted. ``before``/``after`` are ``services.history.answer_snapshot`` dicts
    (``version``, ``status``, ``unsure``, ``comment``, ``labels``: ids, slugs and names as
    they were); ``before`` is null for the first version.
    """

    # The unique (annotation, version) constraint is this key's index.
    annotation = models.ForeignKey(
        Annotation, on_delete=models.PROTECT, related_name="events", db_index=False
    )
    # Denormalised from the answer: a segment's history is one index range.
    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+")
    segment = models.ForeignKey("articles.Segment", on_delete=models.PROTECT, related_name="+")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField()

    class Meta:
        ordering = ["annotation_id", "version"]
        constraints = [
            # One event per version: two writers cannot both record the same version.
            models.UniqueConstraint(
                fields=["annotation", "version"], name="annotation_event_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"answer {self.annotation_id} v{self.version} by {self.actor_id}"


@dataclass(frozen=True)
class Progress:
    """One person's progress in a project: answers given (submitted or skipped) of all segments.

    Every page draws progress from this, built from the person's ``AnnotatorProgress`` counts.
    """

    submitted: int
    skipped: int
    total: int

    @property
    def done(self) -> int:
        # Segments removed after they were answered must not push the bar past the end.
        return min(self.submitted + self.skipped, self.total)

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.total)) if self.total else 0


class AnnotatorProgressQuerySet(models.QuerySet["AnnotatorProgress"]):
    def progress(self, *, project: Project, annotator: User) -> Progress:
        """``annotator``'s progress in ``project`` (one query; zero counts before any answer)."""
        row = self.filter(project=project, annotator=annotator).first()
        return Progress(
            submitted=row.submitted if row else 0,
            skipped=row.skipped if row else 0,
            total=project.collection.segment_count,
        )

    def count_columns(self, *, project: Any, annotator: Any) -> dict[str, Expression]:
        """``progress_submitted``/``progress_skipped`` annotations for a query over many rows
        (``project``/``annotator`` are usually ``OuterRef``s); read back with ``progress_of``.
        """
        row = self.filter(project=project, annotator=annotator).order_by()
        return {
            f"progress_{name}": Coalesce(Subquery(row.values(name)[:1]), Value(0))
            for name in ("submitted", "skipped")
        }


def progress_of(annotated: Any, *, total: int) -> Progress:
    """The ``Progress`` of a row annotated with ``AnnotatorProgress.objects.count_columns``."""
    return Progress(
        submitted=annotated.progress_submitted, skipped=annotated.progress_skipped, total=total
    )


class AnnotatorProgress(models.Model):
    """How many segments one person has answered in a project, kept by ``annotation_submit``.

    Counting a person's annotations would grow with the data; progress bars read this row.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="progress")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    submitted = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)

    objects = AnnotatorProgressQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "annotator progress"
        constraints = [
            models.UniqueConstraint(
                fields=["project", "annotator"], name="annotator_progress_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} in {self.project_id}: {self.submitted}+{self.skipped}"


class GoldLabelQuerySet(models.QuerySet["GoldLabel"]):
    def for_project(self, project: Project) -> GoldLabelQuerySet:
        return self.filter(project=project)


class GoldLabel(models.Model):
    """The project's final answer for one segment, reached from the annotators' answers.

    ``source`` says how: all answers agreed (``unanimous``, accepted automatically), a
    reviewer accepted the majority's label set unchanged (``majority``), or a reviewer
    decided (``adjudicated``). Changes bump ``version`` (optimistic locking, as answers) and
    leave a ``GoldLabelEvent``.
    """

    class Source(models.TextChoices):
        UNANIMOUS = "unanimous", "Unanimous"
        MAJORITY = "majority", "Majority"
        ADJUDICATED = "adjudicated", "Adjudicated"

    # PROTECT as for answers: decided data outlives mistakes in the admin. The project FK
    # needs no index of its own: the unique (project, segment) constraint leads with it.
    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="gold_labels", db_index=False
    )
    segment = models.ForeignKey(
        "articles.Segment", on_delete=models.PROTECT, related_name="gold_labels"
    )
    labels = models.ManyToManyField(Label, through="GoldLabelLabel", related_name="gold_labels")
    source = models.CharField(max_length=12, choices=Source)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="gold_labels_reviewed",
        help_text="Empty when the label was accepted automatically.",
    )
    note = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = GoldLabelQuerySet.as_manager()

    class Meta:
        ordering = ["project_id", "segment_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "segment"], name="gold_label_unique"),
            models.CheckConstraint(condition=Q(version__gte=1), name="gold_label_version_positive"),
            models.CheckConstraint(
                condition=Q(source__in=["unanimous", "majority", "adjudicated"]),
                name="gold_label_source_valid",
            ),
            # Only an automatic acceptance has no reviewer.
            models.CheckConstraint(
                condition=Q(source="unanimous") | Q(reviewer__isnull=False),
                name="gold_label_reviewed_unless_unanimous",
            ),
        ]
        indexes = [
            # Gold counts per source (dashboard, report) and the browser's source filter.
            models.Index(fields=["project", "source"], name="gold_label_project_source"),
        ]

    def __str__(self) -> str:
        return f"gold {self.segment_id} in {self.project_id} ({self.source}, v{self.version})"

    def label_ids(self) -> set[int]:
        """The ids of this gold label's labels (one query, on the link table only)."""
        return set(
            GoldLabelLabel.objects.filter(gold_label=self).values_list("label_id", flat=True)
        )


class GoldLabelLabel(models.Model):
    # PROTECT: a label used in a gold label can be deactivated, never deleted.
    gold_label = models.ForeignKey(GoldLabel, on_delete=models.CASCADE, db_index=False)
    label = models.ForeignKey(Label, on_delete=models.PROTECT, related_name="+")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gold_label", "label"], name="gold_label_label_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.gold_label_id}: {self.label_id}"


class GoldLabelEvent(models.Model):
    """One change of a segment's gold label: its state before and after, who, and when.

    Keyed by (project, segment) rather than by the gold label row, so that the history
    survives an automatic acceptance being withdrawn (``after`` is then null). ``before``
    and ``after`` are ``{"labels": [label ids], "source", "reviewer": id|null, "note"}``.
    """

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="+", db_index=False)
    segment = models.ForeignKey(
        "articles.Segment", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty for an automatic change.",
    )
    version = models.PositiveIntegerField(help_text="The gold label's version after the change.")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project_id", "segment_id", "id"]
        indexes = [
            models.Index(fields=["project", "segment", "id"], name="gold_event_segment"),
            # PROTECT checks when a segment is deleted.
            models.Index(fields=["segment"], name="gold_event_segment_only"),
        ]

    def __str__(self) -> str:
        return f"gold event {self.segment_id} in {self.project_id} v{self.version}"


class SegmentReview(models.Model):
    """What one segment's answers say together, kept by ``review_segment_refresh`` in the
    transaction that changes them: the review queue, the data browser and the gold counts
    read these rows through indexes instead of the answers.

    ``agreement`` is the share of agreeing pairs (same label set) among the submitted
    answers, null under two; ``gold`` mirrors the segment's gold label source ("" for
    none) and ``reviewed`` whether a reviewer set it. ``sample_rank`` (0–99, drawn once)
    picks the quality-control sample: rows under ``Project.review_sample_percent``.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    segment = models.ForeignKey("articles.Segment", on_delete=models.CASCADE, related_name="+")
    submitted = models.PositiveSmallIntegerField(default=0)
    skipped = models.PositiveSmallIntegerField(default=0)
    agreement = models.FloatField(null=True, blank=True)
    disagree = models.BooleanField(default=False)
    unsure = models.BooleanField(default=False)
    commented = models.BooleanField(default=False)
    gold = models.CharField(max_length=12, blank=True, choices=GoldLabel.Source)
    reviewed = models.BooleanField(default=False)
    sample_rank = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["project_id", "segment_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "segment"], name="segment_review_unique"),
        ]
        indexes = [
            # The review queue: flagged segments without gold, lowest agreement first.
            models.Index(
                fields=["project", "agreement", "segment"],
                condition=Q(gold="") & (Q(disagree=True) | Q(unsure=True) | Q(commented=True)),
                name="segment_review_queue",
            ),
            # Gold counts by source, and the browser's gold filter.
            models.Index(fields=["project", "gold"], name="segment_review_gold"),
        ]

    def __str__(self) -> str:
        return f"review of {self.segment_id} in {self.project_id}"


class Export(models.Model):
    """One dataset export of a project: its options, how far it got, and the files it made.

    The files live under ``THEMATA_EXPORT_ROOT`` (or where the command line was told to
    write them) and are only ever served by a view that checks the project role. The date
    of an export is kept here, never inside its files, so that re-exports are identical.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="exports")
    options = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    rows_done = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(default=0)
    # The running export's heartbeat, moved with its progress: a running export without one
    # for ``THEMATA_EXPORT_STALE_MINUTES`` lost its worker (``exports_fail_stale``).
    progress_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows = models.PositiveBigIntegerField(default=0)
    rows_per_split = models.JSONField(default=dict, blank=True)
    skipped = models.JSONField(default=dict, blank=True, help_text="Segments left out, by reason.")
    files = models.JSONField(
        default=list, blank=True, help_text="Each file made: name, bytes, sha256, rows."
    )
    path = models.CharField(
        max_length=1000, blank=True, help_text="Where the dataset was written (file or folder)."
    )
    size = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="export_project_recent")]

    def __str__(self) -> str:
        return f"Export #{self.pk} of {self.project} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in {self.Status.SUCCEEDED, self.Status.FAILED}

    def file_for_download(self) -> Path | None:
        """The finished file if the app may serve it: under ``THEMATA_EXPORT_ROOT`` only
        (an export the command line wrote elsewhere stays where it was written)."""
        if self.status != self.Status.SUCCEEDED or not self.path:
            return None
        path = Path(self.path).resolve()
        if not path.is_file() or not path.is_relative_to(
            Path(settings.THEMATA_EXPORT_ROOT).resolve()
        ):
            return None
        return path

    @property
    def downloadable(self) -> bool:
        return self.file_for_download() is not None

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        if not self.rows_total:
            return 0
        return min(99, self.rows_done * 100 // self.rows_total)


class SegmentProgress(models.Model):
    """The queue's row for one segment in one project, kept by ``annotation_submit`` and the
    queue (``annotations/queue.py``) in the transactions that change it.

    ``submitted`` counts the segment's submitted answers; ``is_open`` is ``submitted < k``;
    ``left_out`` marks near-copies that the project does not label. The queue reads only
    open rows that are not left out, in ``order_key`` order, through a partial index: the
    cost of "next" does not grow with the finished part of a project. ``held`` and
    ``held_until`` are the reservations counted when the row was last written (their number
    and the latest expiry): never fewer than really hold, so a segment is never handed out
    past k; once ``held_until`` has passed, every one of them has expired.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    segment = models.ForeignKey("articles.Segment", on_delete=models.CASCADE, related_name="+")
    # Queue order: the segment id (reading order), or the article's seeded shuffle rank in
    # the high 31 bits and the segment id in the low 32 (``queue.order_key_sql``).
    order_key = models.BigIntegerField()
    submitted = models.PositiveSmallIntegerField(default=0)
    is_open = models.BooleanField(default=True)
    # A near-copy of another article, in a project that labels one article per group.
    left_out = models.BooleanField(default=False)
    held = models.PositiveSmallIntegerField(default=0)
    held_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "segment progress"
        ordering = ["project_id", "order_key"]
        constraints = [
            models.UniqueConstraint(fields=["project", "segment"], name="segment_progress_unique"),
        ]
        indexes = [
            # The queue: open segments of a project in queue order. Finished ones leave it.
            models.Index(
                fields=["project", "order_key"],
                condition=Q(is_open=True, left_out=False),
                name="segment_progress_open",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.segment_id} in {self.project_id}: {self.submitted} submitted"


class Reservation(models.Model):
    """One person's place in a project's queue: the segment they were handed and until
    when it is theirs alone (``segment`` is null once it is answered or skipped).

    ``order_key`` is where the person is in the queue; the next search starts after it.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+", db_index=False)
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    segment = models.ForeignKey(
        "articles.Segment",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    order_key = models.BigIntegerField(default=0)
    reserved_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project_id", "annotator_id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator"], name="reservation_unique"),
        ]
        indexes = [
            # Who holds this segment: counted when answers are checked against k.
            models.Index(
                fields=["project", "segment"],
                condition=Q(segment__isnull=False),
                name="reservation_held",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} holds {self.segment_id} in {self.project_id}"

    def holds(self, now: datetime) -> bool:
        return self.segment_id is not None and self.expires_at is not None and self.expires_at > now


class ProjectFigures(models.Model):
    """The last background computation of a project's team figures, for the dashboard.

    ``data`` is what ``services.reports.project_figures`` returned; ``computed_at`` is when
    it started reading the answers (the figures are as of then). ``status`` says whether a
    computation is waiting for the worker, running, done, or failed (``error``).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="figures")
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED)
    requested_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    # How far the running computation is, 0-100 (empty when none is running).
    progress = models.PositiveSmallIntegerField(null=True, blank=True)
    data = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "project figures"

    def __str__(self) -> str:
        return f"figures of {self.project_id} ({self.status}, {self.computed_at})"
