"""A project's team figures: counts, agreement, per-annotator signals, gold, progress over time.

``project_figures()`` reads the project's answers once, as a stream in segment order (one
row per answer and label, a server-side cursor on PostgreSQL), and keeps per-segment and
per-annotator counts only, so memory does not grow with whole answer rows. It is what
``manage.py project_report`` prints and what the background task stores for the dashboard.
"""

from __future__ import annotations

import statistics
import time
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Max, Q
from django.db.models.functions import Length
from django.utils import timezone

from ..models import (
    Annotation,
    AnnotatorProgress,
    GoldLabel,
    Label,
    Project,
    ProjectFigures,
)

# A decision faster than this is too quick to have read the segment (Potato's flag).
FAST_DECISION_MS = 2_000
# The progress chart has at most about this many points.
TIMELINE_POINTS = 120
STREAM_CHUNK = 5_000


@dataclass(slots=True)
class _Annotator:
    submitted: int = 0
    skipped: int = 0
    unsure: int = 0
    fast: int = 0
    times_ms: array[int] = field(default_factory=lambda: array("l"))
    gold_answers: int = 0
    gold_matches: int = 0


@dataclass(frozen=True, slots=True)
class _Answer:
    annotator_id: int
    submitted: bool
    unsure: bool
    time_spent_ms: int
    created_at: datetime
    labels: frozenset[int]
    commented: bool


def _answers_by_segment(project: Project) -> Iterator[tuple[int, list[_Answer]]]:
    """The project's answers, grouped by segment, streamed in segment order.

    One row per (answer, label), skips with a null label (a LEFT JOIN), ordered so that an
    answer's rows are adjacent.
    """
    rows = (
        Annotation.objects.filter(project=project)
        .order_by("segment_id", "annotator_id")
        .values_list(
            "segment_id",
            "annotator_id",
            "status",
            "unsure",
            "time_spent_ms",
            "created_at",
            "annotationlabel__label_id",
            # Whether there is a comment, not its text (rare, and up to 2,000 characters).
            Length("comment"),
        )
        .iterator(chunk_size=STREAM_CHUNK)
    )
    segment: int | None = None
    answers: list[_Answer] = []
    key: tuple[int, int] | None = None
    labels: set[int] = set()
    head: tuple[Any, ...] = ()

    def answer() -> _Answer:
        return _Answer(
            annotator_id=head[1],
            submitted=head[2] == Annotation.Status.SUBMITTED,
            unsure=head[3],
            time_spent_ms=head[4],
            created_at=head[5],
            labels=frozenset(labels),
            commented=bool(head[7]),
        )

    for row in rows:
        if (row[0], row[1]) != key:
            if key is not None:
                answers.append(answer())
            if row[0] != segment:
                if segment is not None:
                    yield segment, answers
                segment, answers = row[0], []
            key, head, labels = (row[0], row[1]), row, set()
        if row[6] is not None:
            labels.add(row[6])
    if key is not None:
        answers.append(answer())
        yield segment, answers  # type: ignore[misc]


def _gold_sets(project: Project) -> Iterator[tuple[int, frozenset[int]]]:
    """Each gold label's segment and label set, streamed in segment order."""
    rows = (
        GoldLabel.objects.filter(project=project)
        .order_by("segment_id")
        .values_list("segment_id", "goldlabellabel__label_id")
        .iterator(chunk_size=STREAM_CHUNK)
    )
    segment: int | None = None
    labels: set[int] = set()
    for segment_id, label_id in rows:
        if segment_id != segment:
            if segment is not None:
                yield segment, frozenset(labels)
            segment, labels = segment_id, set()
        if label_id is not None:
            labels.add(label_id)
    if segment is not None:
        yield segment, frozenset(labels)


def _timeline(answer_hours: Counter[int], complete_hours: Counter[int]) -> dict[str, Any]:
    """Cumulative submitted answers and complete segments, in at most ~TIMELINE_POINTS
    buckets of a round width (an hour, a day, a week…)."""
    hours = sorted(set(answer_hours) | set(complete_hours))
    if not hours:
        return {"bucket_hours": 1, "points": []}
    span = hours[-1] - hours[0] + 1
    width = next(
        (w for w in (1, 2, 3, 6, 12, 24, 48, 168, 336, 720) if span / w <= TIMELINE_POINTS),
        -(-span // TIMELINE_POINTS),
    )
    first = hours[0] - hours[0] % width
    buckets = (hours[-1] - first) // width + 1
    answers, complete = [0] * buckets, [0] * buckets
    for hour, n in answer_hours.items():
        answers[(hour - first) // width] += n
    for hour, n in complete_hours.items():
        complete[(hour - first) // width] += n
    points = []
    total_answers = total_complete = 0
    for i in range(buckets):
        total_answers += answers[i]
        total_complete += complete[i]
        end = datetime.fromtimestamp((first + (i + 1) * width) * 3600, UTC)
        points.append([end.isoformat(), total_answers, total_complete])
    return {"bucket_hours": width, "points": points}


def _hour(moment: datetime) -> int:
    return int(moment.timestamp()) // 3600


def project_figures(*, project: Project) -> dict[str, Any]:
    """Every team figure of ``project``, JSON-ready.

    ``report`` is the object ``project_report --json`` prints; ``distribution`` (submitted
    answers per label slug), ``kappa_shared`` (segments each pair both answered),
    ``timeline`` and ``answers_read`` are for the dashboard.
    """
    # Imported here: scikit-learn, nltk and numpy take seconds and ~120 MB to load, which
    # web processes (the dashboard only reads stored figures) should not pay.
    from .agreement import AgreementCounter

    labels = list(Label.objects.filter(label_set_id=project.label_set_id))
    slugs = {label.pk: label.slug for label in labels}
    k = project.annotators_per_segment
    counter = AgreementCounter([label.pk for label in labels], multi_label=project.multi_label)
    annotators: dict[int, _Annotator] = {}
    distribution: Counter[int] = Counter()
    answer_hours: Counter[int] = Counter()
    complete_hours: Counter[int] = Counter()
    segments_complete = answers_read = awaiting_review = 0
    gold = _gold_sets(project)
    next_gold = next(gold, None)

    for segment_id, answers in _answers_by_segment(project):
        while next_gold is not None and next_gold[0] < segment_id:
            next_gold = next(gold, None)
        gold_labels = next_gold[1] if next_gold and next_gold[0] == segment_id else None
        ratings = {}
        submitted_times = []
        for answer in answers:
            answers_read += 1
            counts = annotators.get(answer.annotator_id)
            if counts is None:
                counts = annotators[answer.annotator_id] = _Annotator()
            counts.times_ms.append(answer.time_spent_ms)
            counts.unsure += answer.unsure
            counts.fast += answer.time_spent_ms < FAST_DECISION_MS
            if not answer.submitted:
                counts.skipped += 1
                continue
            counts.submitted += 1
            ratings[answer.annotator_id] = answer.labels
            distribution.update(answer.labels)
            submitted_times.append(answer.created_at)
            answer_hours[_hour(answer.created_at)] += 1
            if gold_labels is not None:
                counts.gold_answers += 1
                counts.gold_matches += answer.labels == gold_labels
        counter.add(ratings)
        flagged = any(answer.unsure or answer.commented for answer in answers)
        if (
            gold_labels is None
            and len(ratings) >= k
            and (flagged or len(set(ratings.values())) > 1)
        ):
            awaiting_review += 1
        if len(submitted_times) >= k:
            segments_complete += 1
            complete_hours[_hour(sorted(submitted_times)[k - 1])] += 1

    names = dict(
        get_user_model()
        .objects.filter(pk__in=list(annotators))
        .values_list("pk", get_user_model().USERNAME_FIELD)
    )
    last_active = dict(
        Annotation.objects.filter(project=project)
        .order_by()
        .values("annotator_id")
        .annotate(last=Max("updated_at"))
        .values_list("annotator_id", "last")
    )
    figures = counter.figures()
    order = sorted(annotators, key=lambda pk: names[pk])
    kappa: dict[str, dict[str, float | None]] = {names[pk]: {} for pk in order}
    shared: dict[str, dict[str, int]] = {names[pk]: {} for pk in order}
    for a in order:
        for b in order:
            if a != b:
                pair = (a, b) if (a, b) in figures.shared_units else (b, a)
                kappa[names[a]][names[b]] = figures.kappa.get(pair)
                shared[names[a]][names[b]] = figures.shared_units.get(pair, 0)

    def person(pk: int) -> dict[str, Any]:
        stats = annotators[pk]
        decisions = stats.submitted + stats.skipped
        moment = last_active.get(pk)
        return {
            "submitted": stats.submitted,
            "skipped": stats.skipped,
            "unsure": stats.unsure,
            "median_seconds": round(statistics.median(stats.times_ms) / 1000, 1),
            "last_active": moment.isoformat() if moment else None,
            "agreement_with_gold": (
                stats.gold_matches / stats.gold_answers if stats.gold_answers else None
            ),
            "gold_answers": stats.gold_answers,
            "fast_share": stats.fast / decisions,
        }

    report = {
        "project": project.slug,
        "segments": project.collection.segment_count,
        "segments_complete": segments_complete,
        "answers": {
            "submitted": sum(a.submitted for a in annotators.values()),
            "skipped": sum(a.skipped for a in annotators.values()),
            "unsure": sum(a.unsure for a in annotators.values()),
        },
        "agreement": {
            "overall": {
                "alpha_masi": figures.alpha_masi,
                "exact_agreement": figures.exact_agreement,
            },
            "labels": {
                slugs[pk]: {"alpha": value.alpha, "percent_agreement": value.percent_agreement}
                for pk, value in figures.labels.items()
            },
            "cohen_kappa": kappa,
        },
        "annotators": {names[pk]: person(pk) for pk in order},
        "gold": {**gold_counts(project=project), "awaiting_review": awaiting_review},
    }
    return {
        "report": report,
        "distribution": {slugs[pk]: distribution[pk] for pk in slugs},
        "kappa_shared": shared,
        "timeline": _timeline(answer_hours, complete_hours),
        "pairable_segments": figures.units,
        "answers_read": answers_read,
    }


def gold_counts(*, project: Project) -> dict[str, int]:
    """Gold labels by how they were reached (one GROUP BY on the (project, source) index)."""
    by_source = dict(
        GoldLabel.objects.filter(project=project)
        .order_by()
        .values("source")
        .annotate(n=Count("pk"))
        .values_list("source", "n")
    )
    counts = {source.value: by_source.get(source.value, 0) for source in GoldLabel.Source}
    return counts


# --- Background computation for the dashboard -------------------------------------------

# Figures older than this are recomputed when the dashboard is open and answers changed.
FIGURES_MAX_AGE = timedelta(seconds=60)
# A computation queued or running for longer than this is presumed lost (a worker died).
FIGURES_LOST_AFTER = timedelta(minutes=15)
# "N answers changed since" is counted up to this many (an index range, not a full count).
CHANGED_SINCE_CAP = 1_000


def figures_request(*, project: Project) -> bool:
    """Queue a background recomputation of ``project``'s figures, unless one is already
    waiting or running. Returns whether one was queued (the task is enqueued on commit)."""
    from ..tasks import figures_compute

    now = timezone.now()
    row, created = ProjectFigures.objects.get_or_create(
        project=project, defaults={"status": ProjectFigures.Status.QUEUED, "requested_at": now}
    )
    if not created:
        busy = Q(
            status__in=[ProjectFigures.Status.QUEUED, ProjectFigures.Status.RUNNING],
            requested_at__gt=now - FIGURES_LOST_AFTER,
        )
        # One conditional UPDATE: of two simultaneous requests, only one queues a task.
        queued = (
            ProjectFigures.objects.filter(pk=row.pk)
            .exclude(busy)
            .update(status=ProjectFigures.Status.QUEUED, requested_at=now)
        )
        if not queued:
            return False
    transaction.on_commit(lambda: figures_compute.enqueue(project.pk))
    return True


def figures_refresh(*, project_id: int) -> None:
    """Compute ``project_id``'s figures and store them (the background task's body)."""
    started_at = timezone.now()
    rows = ProjectFigures.objects.filter(project_id=project_id)
    rows.update(status=ProjectFigures.Status.RUNNING, started_at=started_at)
    project = Project.objects.select_related("collection").filter(pk=project_id).first()
    if project is None:
        return
    clock = time.perf_counter()
    try:
        data = project_figures(project=project)
    except Exception as error:
        rows.update(status=ProjectFigures.Status.FAILED, error=f"{type(error).__name__}: {error}")
        raise
    rows.update(
        status=ProjectFigures.Status.DONE,
        data=data,
        computed_at=started_at,
        duration_ms=round((time.perf_counter() - clock) * 1000),
        error="",
    )


@dataclass(frozen=True, slots=True)
class AnnotatorRow:
    username: str
    submitted: int  # live, from AnnotatorProgress
    skipped: int
    figures: dict[str, Any] | None  # from the last computation, if it knew this person
    last_active: datetime | None


@dataclass(frozen=True, slots=True)
class Dashboard:
    figures: ProjectFigures | None
    data: dict[str, Any]  # the last computation's data ({} before the first one)
    annotators: list[AnnotatorRow]
    submitted: int
    skipped: int
    changed_since: int  # answers created or edited after the figures were computed (capped)
    refresh_queued: bool
    gold: dict[str, int | None]  # gold labels by source (live), awaiting review (computed)

    @property
    def busy(self) -> bool:
        return self.figures is not None and self.figures.status in {
            ProjectFigures.Status.QUEUED,
            ProjectFigures.Status.RUNNING,
        }


def _changed_since(project: Project, figures: ProjectFigures | None) -> int:
    """Answers created or edited since the figures were computed, counted up to a cap."""
    if figures is None or figures.computed_at is None:
        return 0
    return (
        Annotation.objects.filter(project=project, updated_at__gte=figures.computed_at)
        .order_by()[:CHANGED_SINCE_CAP]
        .count()
    )


def dashboard_read(*, project: Project, refresh: bool = True) -> Dashboard:
    """What the dashboard shows: live counts, the last stored figures and their freshness.

    A fixed number of queries, whatever the number of answers. With ``refresh``, figures
    that are missing, or older than ``FIGURES_MAX_AGE`` while answers changed since, are
    queued for recomputation.
    """
    figures = ProjectFigures.objects.filter(project=project).first()
    changed = _changed_since(project, figures)
    queued = False
    if refresh:
        # Never computed, or done a while ago and answers changed since. A failure waits
        # for someone to press "recompute" (the page shows the error).
        old = timezone.now() - FIGURES_MAX_AGE
        stale = figures is None or (
            figures.status == ProjectFigures.Status.DONE
            and changed > 0
            and (figures.requested_at is None or figures.requested_at < old)
        )
        if stale and (queued := figures_request(project=project)):
            # Read again: the row is queued now, or (with an immediate task backend) done.
            figures = ProjectFigures.objects.filter(project=project).first()
            changed = _changed_since(project, figures)
    progress = list(
        AnnotatorProgress.objects.filter(project=project)
        .select_related("annotator")
        .order_by("annotator__username")
    )
    data: dict[str, Any] = figures.data if figures and figures.data else {}
    known = data.get("report", {}).get("annotators", {})
    rows = []
    for row in progress:
        name = row.annotator.get_username()
        stats = known.get(name)
        moment = stats.get("last_active") if stats else None
        rows.append(
            AnnotatorRow(
                username=name,
                submitted=row.submitted,
                skipped=row.skipped,
                figures=stats,
                last_active=datetime.fromisoformat(moment) if moment else None,
            )
        )
    return Dashboard(
        figures=figures,
        data=data,
        annotators=rows,
        submitted=sum(row.submitted for row in progress),
        skipped=sum(row.skipped for row in progress),
        changed_since=changed,
        refresh_queued=queued,
        gold={
            **gold_counts(project=project),
            "awaiting_review": data.get("report", {}).get("gold", {}).get("awaiting_review"),
        },
    )
