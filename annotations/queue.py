"""The labelling queue: which segment a person is given next in a project.

Queue order is segment id, which is import order (articles in the order they were read,
each article's segments in reading order). A person is given the first segment after the
one they just answered that they have not answered themselves and that has fewer submitted
answers than the project wants; at the end it wraps around to fill earlier gaps.

Every question here is answered from an index: the cursor walks the segment primary key,
"have I answered it" is the unique (project, annotator, segment) constraint, and "how many
answers has it" reads the annotation-by-segment index. The cost per call does not grow
with the number of segments or annotations, except when long runs of segments are already
complete (the next issue adds reservations and a per-segment answer count for that).
"""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from articles.models import Segment

from .models import Annotation, Project


def project_segments(project: Project) -> QuerySet[Segment]:
    """All segments a project labels."""
    return Segment.objects.filter(article__collection_id=project.collection_id)


def _open_segments(project: Project, annotator: User) -> QuerySet[Segment]:
    # "Not answered by me" is a scalar subquery, not NOT EXISTS: PostgreSQL may plan NOT
    # EXISTS as a merge anti-join that reads every annotation of the project (90 ms at a
    # million rows, measured by `make bench`); the scalar form always probes the unique
    # (project, annotator, segment) index once per candidate.
    mine = (
        Annotation.objects.filter(project=project, annotator=annotator, segment=OuterRef("pk"))
        .order_by()
        .values("segment_id")[:1]
    )
    submitted = Annotation.objects.filter(
        project=project, segment=OuterRef("pk"), status=Annotation.Status.SUBMITTED
    ).order_by()
    segments = project_segments(project).alias(mine=Subquery(mine)).filter(mine__isnull=True)
    if project.annotators_per_segment == 1:
        taken = Subquery(submitted.values("segment_id")[:1])
        return segments.alias(taken=taken).filter(taken__isnull=True)
    answers = submitted.values("segment").annotate(n=Count("pk")).values("n")
    return segments.alias(
        answers=Coalesce(Subquery(answers, output_field=IntegerField()), Value(0))
    ).filter(answers__lt=project.annotators_per_segment)


def queue_next_segments(
    *, project: Project, annotator: User, after: int | None = None, count: int = 1
) -> list[Segment]:
    """The next ``count`` segments for ``annotator`` after segment id ``after``, with their
    articles; empty when nothing is left for them.

    Without ``after``, the queue resumes after the last segment this person answered.
    """
    candidates = _open_segments(project, annotator).select_related("article").order_by("pk")
    if after is None:
        last_answered = (
            Annotation.objects.filter(project=project, annotator=annotator)
            .order_by("-segment_id")
            .values("segment_id")[:1]
        )
        ahead = candidates.filter(pk__gt=Coalesce(Subquery(last_answered), Value(0)))
    else:
        ahead = candidates.filter(pk__gt=after)
    found = list(ahead[:count])
    if found:
        return found
    # Wrapped around: gaps left earlier (skipped by others, or a project that now wants
    # more answers per segment).
    return list(candidates[:count])


def queue_next_segment(
    *, project: Project, annotator: User, after: int | None = None
) -> Segment | None:
    """The next segment for ``annotator`` (see ``queue_next_segments``), or ``None``."""
    found = queue_next_segments(project=project, annotator=annotator, after=after)
    return found[0] if found else None


def queue_previous_answered(*, project: Project, annotator: User, before: int | None) -> int | None:
    """Id of the segment this person answered last before segment id ``before``.

    "Back" walks the person's own answers in queue order; with ``before=None`` (the queue
    is finished) it starts from their last answer.
    """
    mine = Annotation.objects.filter(project=project, annotator=annotator)
    if before is not None:
        mine = mine.filter(segment_id__lt=before)
    return mine.order_by("-segment_id").values_list("segment_id", flat=True).first()
