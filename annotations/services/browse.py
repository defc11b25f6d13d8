"""The data browser's reads: a project's segments with their answers and gold labels,
filtered, one keyset page at a time.

Every filter is an ``EXISTS`` probe per segment on an index (the review row, the answer
unique index, the label link tables), and a page is a fixed set of queries whatever the
size of the project: the page of segments, their answers, their review rows, their gold
labels and labels, and the names of the people who answered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db.models import Exists, F, OuterRef, Q

from articles.models import Segment

from ..models import (
    Annotation,
    AnnotationLabel,
    GoldLabel,
    GoldLabelLabel,
    Project,
    SegmentReview,
)
from ..queue import project_segments
from .review import Rating, segment_ratings

PAGE_SIZE = 25


class SegmentStatus(enum.StrEnum):
    UNANSWERED = "unanswered"
    IN_PROGRESS = "in_progress"  # answered, fewer than k submitted answers
    AWAITING_REVIEW = "awaiting_review"
    COMPLETE = "complete"  # k answers, nothing to review, no gold label
    GOLD = "gold"
    SKIPPED = "skipped"  # someone skipped it


STATUS_LABELS = {
    SegmentStatus.UNANSWERED: "Unanswered",
    SegmentStatus.IN_PROGRESS: "In progress",
    SegmentStatus.AWAITING_REVIEW: "Awaiting review",
    SegmentStatus.COMPLETE: "Complete, no gold label",
    SegmentStatus.GOLD: "Has a gold label",
    SegmentStatus.SKIPPED: "Skipped by someone",
}
NO_GOLD = "none"


@dataclass(frozen=True, slots=True)
class BrowseFilters:
    """What the browser shows; every field left empty means "any"."""

    text: str = ""
    label_id: int | None = None
    annotator_id: int | None = None
    status: SegmentStatus | None = None
    unsure: bool = False
    commented: bool = False
    disagreement: bool = False
    gold: str = ""  # a GoldLabel.Source, NO_GOLD, or "" for any


@dataclass(frozen=True, slots=True)
class BrowsedAnswer:
    annotator: str
    rating: Rating


@dataclass
class BrowsedSegment:
    segment: Segment
    answers: list[BrowsedAnswer] = field(default_factory=list)
    review: SegmentReview | None = None
    gold: GoldLabel | None = None
    gold_label_ids: set[int] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class BrowsePage:
    rows: list[BrowsedSegment]
    next_after: int | None  # the keyset for the next page, None on the last one


def _row_conditions(project: Project, filters: BrowseFilters) -> Q | None:
    """Conditions on the segment's review row, or None when no filter needs the row."""
    k = project.annotators_per_segment
    flagged = Q(disagree=True) | Q(unsure=True) | Q(commented=True)
    conditions = []
    if filters.unsure:
        conditions.append(Q(unsure=True))
    if filters.commented:
        conditions.append(Q(commented=True))
    if filters.disagreement:
        conditions.append(Q(disagree=True))
    if filters.gold and filters.gold != NO_GOLD:
        conditions.append(Q(gold=filters.gold))
    status = filters.status
    if status == SegmentStatus.IN_PROGRESS:
        conditions.append(Q(submitted__lt=k))
    elif status == SegmentStatus.AWAITING_REVIEW:
        conditions.append(Q(gold="", submitted__gte=k) & flagged)
    elif status == SegmentStatus.COMPLETE:
        conditions.append(Q(gold="", submitted__gte=k) & ~flagged)
    elif status == SegmentStatus.GOLD:
        conditions.append(~Q(gold=""))
    elif status == SegmentStatus.SKIPPED:
        conditions.append(Q(skipped__gt=0))
    if not conditions:
        return None
    combined = conditions[0]
    for condition in conditions[1:]:
        combined &= condition
    return combined


def browse_segments(
    *, project: Project, filters: BrowseFilters, after: int = 0, limit: int = PAGE_SIZE
) -> BrowsePage:
    """One page of ``project``'s segments in id order after segment id ``after``, with
    every answer (and who gave it), the review row and the gold label of each."""
    segments = project_segments(project).filter(pk__gt=after)
    rows = SegmentReview.objects.filter(project=project, segment=OuterRef("pk"))
    if filters.status == SegmentStatus.UNANSWERED:
        segments = segments.filter(~Exists(rows))
    row_conditions = _row_conditions(project, filters)
    if row_conditions is not None:
        segments = segments.filter(Exists(rows.filter(row_conditions)))
    if filters.gold == NO_GOLD:
        segments = segments.filter(
            ~Exists(GoldLabel.objects.filter(project=project, segment=OuterRef("pk")))
        )
    if filters.label_id is not None:
        in_answers = AnnotationLabel.objects.filter(
            annotation__project=project,
            annotation__segment=OuterRef("pk"),
            label_id=filters.label_id,
        )
        in_gold = GoldLabelLabel.objects.filter(
            gold_label__project=project,
            gold_label__segment=OuterRef("pk"),
            label_id=filters.label_id,
        )
        segments = segments.filter(Exists(in_answers) | Exists(in_gold))
    if filters.annotator_id is not None:
        segments = segments.filter(
            Exists(
                Annotation.objects.filter(
                    project=project, annotator_id=filters.annotator_id, segment=OuterRef("pk")
                )
            )
        )
    if filters.text:
        segments = segments.filter(text__icontains=filters.text)
    found = list(segments.select_related("article").order_by("pk")[: limit + 1])
    page, more = found[:limit], len(found) > limit
    ids = [segment.pk for segment in page]

    ratings = segment_ratings(project=project, segment_ids=ids) if ids else {}
    reviews = (
        {r.segment_id: r for r in SegmentReview.objects.filter(project=project, segment_id__in=ids)}
        if ids
        else {}
    )
    golds = (
        {
            g.segment_id: g
            for g in GoldLabel.objects.filter(project=project, segment_id__in=ids).select_related(
                "reviewer"
            )
        }
        if ids
        else {}
    )
    gold_labels: dict[int, set[int]] = {}
    if golds:
        for gold_id, label_id in GoldLabelLabel.objects.filter(
            gold_label_id__in=[g.pk for g in golds.values()]
        ).values_list("gold_label_id", "label_id"):
            gold_labels.setdefault(gold_id, set()).add(label_id)
    annotator_ids = {r.annotator_id for rs in ratings.values() for r in rs}
    names = (
        dict(
            get_user_model()
            .objects.filter(pk__in=annotator_ids)
            .values_list("pk", F(get_user_model().USERNAME_FIELD))
        )
        if annotator_ids
        else {}
    )
    rows_out = []
    for segment in page:
        gold = golds.get(segment.pk)
        rows_out.append(
            BrowsedSegment(
                segment=segment,
                answers=[
                    BrowsedAnswer(annotator=names.get(r.annotator_id, "?"), rating=r)
                    for r in ratings.get(segment.pk, [])
                ],
                review=reviews.get(segment.pk),
                gold=gold,
                gold_label_ids=gold_labels.get(gold.pk, set()) if gold else set(),
            )
        )
    return BrowsePage(rows=rows_out, next_after=page[-1].pk if more else None)


@dataclass(frozen=True, slots=True)
class ReviewedAnswer:
    """One of my answers next to the gold label decided for its segment."""

    annotation: Annotation
    label_ids: set[int]
    gold: GoldLabel
    gold_label_ids: set[int]

    @property
    def agrees(self) -> bool:
        return (
            self.annotation.status == Annotation.Status.SUBMITTED
            and self.label_ids == self.gold_label_ids
        )


@dataclass(frozen=True, slots=True)
class ReviewedPage:
    rows: list[ReviewedAnswer]
    next_after: int | None


def reviewed_answers(
    *, project: Project, annotator: User, after: int = 0, limit: int = PAGE_SIZE
) -> ReviewedPage:
    """``annotator``'s answers to segments that have a gold label, in segment order after
    segment id ``after`` (four queries a page)."""
    has_gold = GoldLabel.objects.filter(project=project, segment=OuterRef("segment_id"))
    found = list(
        Annotation.objects.filter(project=project, annotator=annotator, segment_id__gt=after)
        .filter(Exists(has_gold))
        .select_related("segment")
        .order_by("segment_id")[: limit + 1]
    )
    page, more = found[:limit], len(found) > limit
    if not page:
        return ReviewedPage(rows=[], next_after=None)
    mine: dict[int, set[int]] = {}
    for annotation_id, label_id in AnnotationLabel.objects.filter(
        annotation__in=[a.pk for a in page]
    ).values_list("annotation_id", "label_id"):
        mine.setdefault(annotation_id, set()).add(label_id)
    golds = {
        g.segment_id: g
        for g in GoldLabel.objects.filter(
            project=project, segment_id__in=[a.segment_id for a in page]
        )
    }
    gold_labels: dict[int, set[int]] = {}
    for gold_id, label_id in GoldLabelLabel.objects.filter(
        gold_label_id__in=[g.pk for g in golds.values()]
    ).values_list("gold_label_id", "label_id"):
        gold_labels.setdefault(gold_id, set()).add(label_id)
    rows = [
        ReviewedAnswer(
            annotation=a,
            label_ids=mine.get(a.pk, set()),
            gold=golds[a.segment_id],
            gold_label_ids=gold_labels.get(golds[a.segment_id].pk, set()),
        )
        for a in page
        if a.segment_id in golds
    ]
    return ReviewedPage(rows=rows, next_after=page[-1].segment_id if more else None)
