"""Review: turning the annotators' answers into one gold label per segment.

Every change to a segment's answers goes through ``review_segment_refresh`` (called by
``annotation_submit`` in its transaction), which keeps the segment's ``SegmentReview`` row:
how many answers, how far they agree, whether any is unsure or has a comment, and whether
the segment has a gold label. The review queue and the data browser read those rows through
indexes, so their cost does not grow with the number of answers.

When the project accepts unanimous answers (``Project.auto_accept_unanimous``, default on),
the k-th agreeing answer makes the gold label at once (source ``unanimous``, no reviewer);
if the answers later stop agreeing, that automatic gold label is withdrawn and the segment
goes to the review queue. A gold label set by a reviewer is never changed automatically.

``gold_label_set`` is the reviewer's decision, with optimistic locking as for answers.
"""

from __future__ import annotations

import functools
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations

from django.contrib.auth.models import User
from django.db import connections, router, transaction
from django.db.models import Count, F, Q, QuerySet

from articles.models import Segment

from ..models import (
    Annotation,
    AnnotationLabel,
    GoldLabel,
    GoldLabelEvent,
    GoldLabelLabel,
    Label,
    Project,
    SegmentReview,
)

MAX_NOTE_LENGTH = 2000


class GoldRejected(ValueError):
    """The decision breaks a project rule (labels, note); the message says which."""


class GoldConflict(Exception):
    """The gold label changed since the reviewer read it; ``current`` is what is stored."""

    def __init__(self, current: GoldLabel, label_ids: set[int]) -> None:
        super().__init__(
            "This gold label was changed by someone else "
            f"(now version {current.version}); reload to see it."
        )
        self.current = current
        self.label_ids = label_ids


@dataclass(frozen=True, slots=True)
class Rating:
    """One answer as review sees it."""

    annotator_id: int
    status: str
    unsure: bool
    comment: str
    time_spent_ms: int
    label_ids: frozenset[int]

    @property
    def submitted(self) -> bool:
        return self.status == Annotation.Status.SUBMITTED


@dataclass(frozen=True, slots=True)
class SegmentSummary:
    """What a segment's answers say together (pure: computed from the ratings only)."""

    submitted: int
    skipped: int
    agreement: float | None  # share of agreeing pairs of submitted answers; None under 2
    disagree: bool
    unsure: bool
    commented: bool
    majority: frozenset[int] | None  # the label set more than half of them chose, if any
    unanimous: frozenset[int] | None  # the label set all of them chose (≥ 2, none flagged)


def summarise(ratings: Sequence[Rating]) -> SegmentSummary:
    """Agreement, flags and the majority label set of one segment's answers."""
    sets = [r.label_ids for r in ratings if r.submitted]
    pairs = list(combinations(sets, 2))
    agreement = sum(a == b for a, b in pairs) / len(pairs) if pairs else None
    counts = Counter(sets)
    majority = None
    if counts:
        top, votes = counts.most_common(1)[0]
        if votes * 2 > len(sets):
            majority = top
    unsure = any(r.unsure for r in ratings)
    commented = any(r.comment for r in ratings)
    disagree = len(counts) > 1
    unanimous = (
        sets[0] if len(sets) >= 2 and not disagree and not unsure and not commented else None
    )
    return SegmentSummary(
        submitted=len(sets),
        skipped=len(ratings) - len(sets),
        agreement=agreement,
        disagree=disagree,
        unsure=unsure,
        commented=commented,
        majority=majority,
        unanimous=unanimous,
    )


def segment_ratings(*, project: Project, segment_ids: Iterable[int]) -> dict[int, list[Rating]]:
    """Every answer to these segments in ``project``, by segment id (one query)."""
    rows = (
        Annotation.objects.filter(project=project, segment_id__in=list(segment_ids))
        .order_by("segment_id", "annotator_id")
        .values_list(
            "segment_id",
            "annotator_id",
            "status",
            "unsure",
            "comment",
            "time_spent_ms",
            "annotationlabel__label_id",
        )
    )
    collected: dict[tuple[int, int], tuple[str, bool, str, int, set[int]]] = {}
    for segment_id, annotator_id, status, unsure, comment, spent, label_id in rows:
        entry = collected.setdefault(
            (segment_id, annotator_id), (status, unsure, comment, spent, set())
        )
        if label_id is not None:
            entry[4].add(label_id)
    ratings: dict[int, list[Rating]] = {}
    for (segment_id, annotator_id), (status, unsure, comment, spent, labels) in collected.items():
        ratings.setdefault(segment_id, []).append(
            Rating(annotator_id, status, unsure, comment, spent, frozenset(labels))
        )
    return ratings


def _state(gold: GoldLabel | None, label_ids: Iterable[int]) -> dict[str, object] | None:
    if gold is None:
        return None
    return {
        "labels": sorted(label_ids),
        "source": gold.source,
        "reviewer": gold.reviewer_id,
        "note": gold.note,
    }


@dataclass(frozen=True, slots=True)
class Refresh:
    """What ``review_segment_refresh`` found and did."""

    summary: SegmentSummary
    accepted: bool = False  # a unanimous gold label was made
    withdrawn: bool = False  # an automatic gold label no longer held and was removed


def review_segment_refresh(
    *, project: Project, segment_id: int, has_gold: bool | None = None
) -> Refresh:
    """Bring a segment's review row (and its automatic gold label) up to date with its
    answers. Call it in the transaction that changed them, after the change.

    Three statements (lock the row, read the answers, write the row), one more when the
    segment has or gets a gold label, three more when it is accepted now. ``has_gold``:
    the caller took the row lock itself in an earlier statement of the transaction (as
    ``_lock_row`` does), and this is whether the row records a gold label.
    """
    if has_gold is None:
        has_gold = _lock_row(project.pk, segment_id)
    # Read in a statement after the lock: it sees every answer committed before it.
    summary = summarise(_answers_of(project.pk, segment_id))
    accept = (
        project.auto_accept_unanimous
        and summary.unanimous is not None
        and summary.submitted >= project.annotators_per_segment
    )
    gold = _gold_for_update(project, segment_id) if has_gold else None
    accepted = withdrawn = False
    if gold is None and accept:
        gold = _gold_create(
            project,
            segment_id,
            source=GoldLabel.Source.UNANIMOUS,
            reviewer=None,
            note="",
            label_ids=summary.unanimous or frozenset(),
        )
        accepted = True
    elif gold is not None and gold.reviewer_id is None and not accept:
        # Accepted automatically, but the answers no longer agree: a reviewer decides now.
        GoldLabelEvent.objects.create(
            project=project,
            segment_id=segment_id,
            actor=None,
            version=gold.version + 1,
            before=_state(gold, gold.label_ids()),
            after=None,
        )
        gold.delete()
        gold = None
        withdrawn = True
    _refresh_row_write(project.pk, segment_id, summary=summary, gold=gold)
    return Refresh(summary=summary, accepted=accepted, withdrawn=withdrawn)


def _answers_of(project_id: int, segment_id: int) -> list[Rating]:
    """``segment_ratings`` for one segment, in one precompiled statement (every submit
    runs it)."""
    db = connections[router.db_for_read(Annotation)]
    with db.cursor() as cursor:
        cursor.execute(_answers_sql(db.alias), [project_id, segment_id])
        rows = cursor.fetchall()
    collected: dict[int, tuple[str, bool, str, int, set[int]]] = {}
    for annotator_id, status, unsure, comment, spent, label_id in rows:
        entry = collected.setdefault(annotator_id, (status, bool(unsure), comment, spent, set()))
        if label_id is not None:
            entry[4].add(label_id)
    return [
        Rating(annotator_id, status, unsure, comment, spent, frozenset(labels))
        for annotator_id, (status, unsure, comment, spent, labels) in collected.items()
    ]


@functools.cache
def _answers_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    return (
        "SELECT a.annotator_id, a.status, a.unsure, a.comment, a.time_spent_ms, al.label_id"
        f" FROM {quote(Annotation._meta.db_table)} a"
        f" LEFT JOIN {quote(AnnotationLabel._meta.db_table)} al ON al.annotation_id = a.id"
        " WHERE a.project_id = %s AND a.segment_id = %s ORDER BY a.annotator_id"
    )


def _refresh_row_write(
    project_id: int, segment_id: int, *, summary: SegmentSummary, gold: GoldLabel | None
) -> None:
    """``_row_update`` with a summary, in one precompiled statement."""
    db = connections[router.db_for_write(SegmentReview)]
    with db.cursor() as cursor:
        cursor.execute(
            _refresh_row_sql(db.alias),
            [
                gold.source if gold else "",
                gold is not None and gold.reviewer_id is not None,
                summary.submitted,
                summary.skipped,
                summary.agreement,
                summary.disagree,
                summary.unsure,
                summary.commented,
                project_id,
                segment_id,
            ],
        )


@functools.cache
def _refresh_row_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    return (
        f"UPDATE {quote(SegmentReview._meta.db_table)} SET gold = %s, reviewed = %s,"
        " submitted = %s, skipped = %s, agreement = %s, disagree = %s, unsure = %s,"
        " commented = %s WHERE project_id = %s AND segment_id = %s"
    )


def _lock_row(project_id: int, segment_id: int) -> bool:
    """Create or lock the segment's review row; whether it records a gold label.

    Everything that changes a segment's answers or gold label takes this row lock first,
    so two last answers arriving together are counted together, and an automatic
    acceptance never races a reviewer's decision.
    """
    meta = SegmentReview._meta
    db = connections[router.db_for_write(SegmentReview)]
    quote = db.ops.quote_name
    table = quote(meta.db_table)
    project_col = quote("project_id")
    segment_col = quote("segment_id")
    rank = quote("sample_rank")
    gold = quote("gold")
    sql = (
        f"INSERT INTO {table} ({project_col}, {segment_col}, {rank},"
        f" {quote('submitted')}, {quote('skipped')}, {quote('disagree')}, {quote('unsure')},"
        f" {quote('commented')}, {gold}, {quote('reviewed')})"
        " VALUES (%s, %s, %s, 0, 0, %s, %s, %s, '', %s)"
        f" ON CONFLICT ({project_col}, {segment_col}) DO UPDATE SET {rank} = {table}.{rank}"
        f" RETURNING {gold}"
    )
    with db.cursor() as cursor:
        cursor.execute(
            sql, [project_id, segment_id, random.randrange(100), False, False, False, False]
        )
        row = cursor.fetchone()
    return bool(row and row[0])


def _row_update(
    project: Project, segment_id: int, *, summary: SegmentSummary | None, gold: GoldLabel | None
) -> None:
    fields: dict[str, object] = {
        "gold": gold.source if gold else "",
        "reviewed": gold is not None and gold.reviewer_id is not None,
    }
    if summary is not None:
        fields.update(
            submitted=summary.submitted,
            skipped=summary.skipped,
            agreement=summary.agreement,
            disagree=summary.disagree,
            unsure=summary.unsure,
            commented=summary.commented,
        )
    SegmentReview.objects.filter(project=project, segment_id=segment_id).update(**fields)


def _gold_for_update(project: Project, segment_id: int) -> GoldLabel | None:
    return (
        GoldLabel.objects.select_for_update(of=("self",))
        .filter(project=project, segment_id=segment_id)
        .first()
    )


def _gold_create(
    project: Project,
    segment_id: int,
    *,
    source: str,
    reviewer: User | None,
    note: str,
    label_ids: Iterable[int],
) -> GoldLabel:
    label_ids = sorted(label_ids)
    gold = GoldLabel.objects.create(
        project=project, segment_id=segment_id, source=source, reviewer=reviewer, note=note
    )
    GoldLabelLabel.objects.bulk_create(
        GoldLabelLabel(gold_label=gold, label_id=label_id) for label_id in label_ids
    )
    GoldLabelEvent.objects.create(
        project=project,
        segment_id=segment_id,
        actor=reviewer,
        version=gold.version,
        before=None,
        after=_state(gold, label_ids),
    )
    return gold


@dataclass(frozen=True, slots=True)
class Decision:
    """A stored gold label and its label ids; ``changed`` is False for a repeated save."""

    gold: GoldLabel
    label_ids: frozenset[int]
    changed: bool


def gold_label_set(
    *,
    project: Project,
    segment: Segment,
    reviewer: User,
    labels: Sequence[Label],
    note: str = "",
    expected_version: int = 0,
) -> Decision:
    """Store ``reviewer``'s final labels for ``segment``: create the gold label or change it.

    The source is ``unanimous`` when every submitted answer chose exactly these labels,
    ``majority`` when more than half of them did (the reviewer accepted the majority
    unchanged), else ``adjudicated``. ``expected_version`` is the version the reviewer was
    shown (0 for none): another stored version raises ``GoldConflict`` unless it already
    says exactly this; broken rules raise ``GoldRejected``. The caller checks the role.
    """
    labels = list(dict.fromkeys(labels))
    if any(label.label_set_id != project.label_set_id for label in labels):
        raise GoldRejected("A label from another label set was sent; nothing was saved.")
    if segment.article.collection_id != project.collection_id:
        raise GoldRejected("This segment does not belong to this project.")
    if not labels:
        raise GoldRejected("Choose at least one label for the gold label.")
    if not project.multi_label and len(labels) != 1:
        raise GoldRejected("This project takes exactly one label per segment.")
    note = note.strip()
    if "\x00" in note:
        raise GoldRejected("A note cannot contain a NUL character.")
    if len(note) > MAX_NOTE_LENGTH:
        raise GoldRejected(f"A note can be at most {MAX_NOTE_LENGTH} characters.")
    label_ids = frozenset(label.pk for label in labels)

    with transaction.atomic():
        has_gold = _lock_row(project.pk, segment.pk)
        current = _gold_for_update(project, segment.pk) if has_gold else None
        stored_ids = frozenset(current.label_ids()) if current else frozenset()
        # A retired label may stay on a gold label that has it, never be chosen anew.
        retired = [label for label in labels if not label.active and label.pk not in stored_ids]
        if retired:
            raise GoldRejected(f"“{retired[0].name}” is no longer in use; choose another label.")
        if current is not None and current.version != expected_version:
            if current.reviewer_id is not None and (stored_ids, current.note) == (
                label_ids,
                note,
            ):
                return Decision(gold=current, label_ids=stored_ids, changed=False)
            raise GoldConflict(current, set(stored_ids))
        if current is None and expected_version != 0:
            raise GoldRejected(
                "The gold label you were shown no longer exists (the answers changed); "
                "look again and decide."
            )
        ratings = segment_ratings(project=project, segment_ids=[segment.pk]).get(segment.pk, [])
        summary = summarise(ratings)
        source = _source_of(summary, label_ids)
        if current is None:
            gold = _gold_create(
                project,
                segment.pk,
                source=source,
                reviewer=reviewer,
                note=note,
                label_ids=label_ids,
            )
        else:
            before = _state(current, stored_ids)
            current.source = source
            current.reviewer = reviewer
            current.note = note
            current.version += 1
            current.save(update_fields=["source", "reviewer", "note", "version", "updated_at"])
            if stored_ids != label_ids:
                GoldLabelLabel.objects.filter(gold_label=current).exclude(
                    label_id__in=label_ids
                ).delete()
                GoldLabelLabel.objects.bulk_create(
                    GoldLabelLabel(gold_label=current, label_id=label_id)
                    for label_id in sorted(label_ids - stored_ids)
                )
            GoldLabelEvent.objects.create(
                project=project,
                segment=segment,
                actor=reviewer,
                version=current.version,
                before=before,
                after=_state(current, label_ids),
            )
            gold = current
        _row_update(project, segment.pk, summary=summary, gold=gold)
    return Decision(gold=gold, label_ids=label_ids, changed=True)


def _source_of(summary: SegmentSummary, label_ids: frozenset[int]) -> str:
    if summary.submitted and not summary.disagree and summary.majority == label_ids:
        return GoldLabel.Source.UNANIMOUS
    if summary.majority == label_ids:
        return GoldLabel.Source.MAJORITY
    return GoldLabel.Source.ADJUDICATED


@dataclass(frozen=True, slots=True)
class Backfill:
    """What ``review_backfill`` did: rows written, gold labels accepted and withdrawn."""

    segments: int
    accepted: int
    withdrawn: int


def review_backfill(*, project: Project, batch_size: int = 500) -> Backfill:
    """Recompute every answered segment's review row and automatic gold label: after the
    project's settings changed (k, automatic acceptance) or for data from before review.

    Works in batches of ``batch_size`` segments, each batch in its own transaction.
    """
    segments = accepted = withdrawn = 0
    after = 0
    while True:
        batch = list(
            Annotation.objects.filter(project=project, segment_id__gt=after)
            .order_by("segment_id")
            .values_list("segment_id", flat=True)
            .distinct()[:batch_size]
        )
        if not batch:
            break
        with transaction.atomic():
            for segment_id in batch:
                refresh = review_segment_refresh(project=project, segment_id=segment_id)
                accepted += refresh.accepted
                withdrawn += refresh.withdrawn
        segments += len(batch)
        after = batch[-1]
    return Backfill(segments=segments, accepted=accepted, withdrawn=withdrawn)


def _needs_review() -> Q:
    return Q(disagree=True) | Q(unsure=True) | Q(commented=True)


def review_queue(project: Project) -> QuerySet[SegmentReview]:
    """Segments awaiting a reviewer, lowest agreement first (then in segment order):
    k submitted answers that disagree, or any answer marked unsure or with a comment,
    and no gold label yet."""
    return (
        SegmentReview.objects.filter(
            project=project, gold="", submitted__gte=project.annotators_per_segment
        )
        .filter(_needs_review())
        .order_by(F("agreement").asc(nulls_last=True), "segment_id")
    )


def review_sample(project: Project) -> QuerySet[SegmentReview]:
    """The quality-control sample: agreed segments (k answers, unanimous, nothing flagged)
    that no reviewer has looked at, ``review_sample_percent`` % of them, in segment order."""
    return (
        SegmentReview.objects.filter(
            project=project,
            submitted__gte=project.annotators_per_segment,
            disagree=False,
            unsure=False,
            commented=False,
            reviewed=False,
            sample_rank__lt=project.review_sample_percent,
        )
        .exclude(submitted__lt=2)
        .order_by("segment_id")
    )


@dataclass(frozen=True, slots=True)
class QueueItem:
    """The next segment to review, and whether it comes from the quality-control sample."""

    segment_id: int
    sample: bool


def review_next(
    *, project: Project, after: SegmentReview | None = None, sample: bool = True
) -> QueueItem | None:
    """The next item of the review queue after ``after`` (its row), then the sample."""
    queue = review_queue(project)
    in_sample = after is not None and not _awaits_review(project, after)
    if after is not None and not in_sample:
        if after.agreement is None:
            queue = queue.filter(agreement__isnull=True, segment_id__gt=after.segment_id)
        else:
            queue = queue.filter(
                Q(agreement__gt=after.agreement)
                | Q(agreement=after.agreement, segment_id__gt=after.segment_id)
                | Q(agreement__isnull=True)
            )
    if not in_sample:
        found = queue.values_list("segment_id", flat=True).first()
        if found is not None:
            return QueueItem(segment_id=found, sample=False)
    if not sample or project.review_sample_percent == 0:
        return None
    picks = review_sample(project)
    if in_sample and after is not None:
        picks = picks.filter(segment_id__gt=after.segment_id)
    found = picks.values_list("segment_id", flat=True).first()
    return QueueItem(segment_id=found, sample=True) if found is not None else None


def _awaits_review(project: Project, row: SegmentReview) -> bool:
    return (
        not row.gold
        and row.submitted >= project.annotators_per_segment
        and (row.disagree or row.unsure or row.commented)
    )


@dataclass(frozen=True, slots=True)
class ReviewCounts:
    awaiting: int
    unanimous: int
    majority: int
    adjudicated: int

    @property
    def gold(self) -> int:
        return self.unanimous + self.majority + self.adjudicated


def review_counts(project: Project) -> ReviewCounts:
    """How many segments await review and how many gold labels there are, by source
    (one query on the review rows)."""
    awaiting = Q(gold="", submitted__gte=project.annotators_per_segment) & _needs_review()
    counts = SegmentReview.objects.filter(project=project).aggregate(
        awaiting=Count("pk", filter=awaiting),
        unanimous=Count("pk", filter=Q(gold=GoldLabel.Source.UNANIMOUS)),
        majority=Count("pk", filter=Q(gold=GoldLabel.Source.MAJORITY)),
        adjudicated=Count("pk", filter=Q(gold=GoldLabel.Source.ADJUDICATED)),
    )
    return ReviewCounts(**counts)


@dataclass(frozen=True, slots=True)
class GoldDecision:
    """A segment's gold label as its annotators see it next to their own answer."""

    segment_id: int
    source: str
    label_ids: frozenset[int]
    labels: list[Label]  # the gold labels, in the label set's order
    note: str

    @property
    def source_label(self) -> str:
        return GoldLabel.Source(self.source).label.lower()


def gold_decisions_for_answers(
    *,
    project: Project,
    answers: dict[int, tuple[str, frozenset[int]]],
    labels_by_id: dict[int, Label],
) -> dict[int, GoldDecision]:
    """The gold labels an annotator should see on their own answers: ``answers`` maps their
    answered segments to (status, label ids); the result keeps the segments whose gold was
    decided by a reviewer (majority or adjudicated) or differs from the answer (a skip
    always does). One query, whatever the number of segments."""
    if not answers:
        return {}
    rows = (
        GoldLabel.objects.filter(project=project, segment_id__in=list(answers))
        .order_by("segment_id")
        .values_list("segment_id", "source", "note", "goldlabellabel__label_id")
    )
    found: dict[int, tuple[str, str, set[int]]] = {}
    for segment_id, source, note, label_id in rows:
        _, _, labels = found.setdefault(segment_id, (source, note, set()))
        if label_id is not None:
            labels.add(label_id)
    decisions = {}
    for segment_id, (source, note, labels) in found.items():
        status, mine = answers[segment_id]
        same = status == Annotation.Status.SUBMITTED and mine == labels
        if source != GoldLabel.Source.UNANIMOUS or not same:
            chips = sorted(
                (labels_by_id[pk] for pk in labels if pk in labels_by_id),
                key=lambda label: (label.order, label.pk),
            )
            decisions[segment_id] = GoldDecision(segment_id, source, frozenset(labels), chips, note)
    return decisions
