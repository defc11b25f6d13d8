"""The project figures as computed before the vectorised path: the reference it is tested on.

A copy of ``annotations.services.reports.project_figures`` as it was (one Python pass over
one row per answer and label, ``AgreementCounter`` per segment); slow on a million answers,
kept only so that the fast path can be compared with it on random data.
"""

from __future__ import annotations

import statistics
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Max
from django.db.models.functions import Length

from annotations.models import Annotation, GoldLabel, Label, Project
from annotations.services.agreement import AgreementCounter
from annotations.services.reports import (
    FAST_DECISION_MS,
    STREAM_CHUNK,
    _hour,
    _timeline,
    gold_counts,
)


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


def project_figures_reference(*, project: Project) -> dict[str, Any]:
    """Every team figure of ``project``, JSON-ready.

    ``report`` is the object ``project_report --json`` prints; ``distribution`` (submitted
    answers per label slug), ``kappa_shared`` (segments each pair both answered),
    ``timeline`` and ``answers_read`` are for the dashboard.
    """

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
