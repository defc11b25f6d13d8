"""Answers: storing one person's answer for one segment, with optimistic locking."""

from __future__ import annotations

import functools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from articles.models import Segment

from ..models import (
    Annotation,
    AnnotationEvent,
    AnnotationLabel,
    AnnotatorProgress,
    Label,
    Progress,
    Project,
    Reservation,
    SegmentProgress,
    SegmentReview,
)
from ..queue import Released, SegmentFull, queue_count_answer, queue_counted, queue_release
from .history import answer_snapshot, history_event, label_triples
from .review import review_segment_refresh


class AnnotationRejected(ValueError):
    """The answer breaks a project rule (labels, status); the message says which."""


class AnnotationConflict(Exception):
    """The annotation changed since the client read it; ``current`` is what is stored."""

    def __init__(self, current: Annotation) -> None:
        super().__init__(
            f"This answer was changed elsewhere (now version {current.version}); reload to see it."
        )
        self.current = current


@dataclass(frozen=True)
class SubmitResult:
    """What ``annotation_submit`` stored.

    ``progress`` is the person's new progress when their counts changed (a first answer, or
    an edit between submitted and skipped), else ``None``: the caller reads it if it needs it.
    """

    annotation: Annotation
    progress: Progress | None = None


# Time on a segment longer than this is a coffee break, not labelling effort.
MAX_TIME_SPENT_MS = 60 * 60 * 1000
MAX_COMMENT_LENGTH = 2000


def annotation_submit(
    *,
    project: Project,
    segment: Segment,
    annotator: User,
    labels: Sequence[Label],
    status: str = Annotation.Status.SUBMITTED,
    unsure: bool = False,
    comment: str = "",
    time_spent_ms: int = 0,
    expected_version: int = 0,
) -> SubmitResult:
    """Store ``annotator``'s answer for ``segment``: create it, or revise it in place.

    ``expected_version`` is the version the client last saw (0 for "no answer yet"). If the
    stored answer is at another version, ``AnnotationConflict`` is raised and nothing
    changes, unless the stored answer already says exactly this (a double submit), which
    is then returned as it is. Rules broken raise ``AnnotationRejected``; a first submitted
    answer for a segment that already has its k answers (or is reserved for the others who
    will give them) raises ``SegmentFull`` and nothing is stored.

    A reservation of this segment by ``annotator`` ends here; its start gives the
    ``time_spent_ms`` stored (the client's figure is used only without one).

    Every version stored is recorded as an ``AnnotationEvent`` (before and after) in the
    same transaction; a double submit stores nothing and records nothing.
    """
    status = Annotation.Status(status)
    labels = list(dict.fromkeys(labels))
    if any(label.label_set_id != project.label_set_id for label in labels):
        raise AnnotationRejected("A label from another label set was sent; it was not stored.")
    if segment.article.collection_id != project.collection_id:
        raise AnnotationRejected("This segment does not belong to this project.")
    if status == Annotation.Status.SKIPPED:
        labels = []
    elif not labels:
        raise AnnotationRejected("Choose at least one label, or skip the segment.")
    elif not project.multi_label and len(labels) != 1:
        raise AnnotationRejected("This project takes exactly one label per segment.")
    comment = comment.strip()
    if "\x00" in comment:
        raise AnnotationRejected("A comment cannot contain a NUL character.")
    if len(comment) > MAX_COMMENT_LENGTH:
        raise AnnotationRejected(f"A comment can be at most {MAX_COMMENT_LENGTH} characters.")
    time_spent_ms = max(0, min(int(time_spent_ms), MAX_TIME_SPENT_MS))
    label_ids = {label.pk for label in labels}
    try:
        return _store(
            project=project,
            segment=segment,
            annotator=annotator,
            labels=labels,
            label_ids=label_ids,
            status=status,
            unsure=unsure,
            comment=comment,
            time_spent_ms=time_spent_ms,
            expected_version=expected_version,
        )
    except SegmentFull:
        # The answer was rolled back with the reservation's release: end it for good, so
        # that "next" does not hand the same full segment back.
        queue_release(project=project, segment=segment, annotator=annotator, now=timezone.now())
        raise


def _store(
    *,
    project: Project,
    segment: Segment,
    annotator: User,
    labels: list[Label],
    label_ids: set[int],
    status: str,
    unsure: bool,
    comment: str,
    time_spent_ms: int,
    expected_version: int,
) -> SubmitResult:
    now = timezone.now()
    db = connections[router.db_for_write(Annotation)]
    one_statement = expected_version == 0 and db.vendor == "postgresql"
    with transaction.atomic(using=db.alias):
        if one_statement:
            first, released = _store_first(
                db,
                project=project,
                segment=segment,
                annotator=annotator,
                labels=labels,
                status=status,
                unsure=unsure,
                comment=comment,
                time_spent_ms=time_spent_ms,
                now=now,
            )
            if first is not None:
                return first
        else:
            released = queue_release(project=project, segment=segment, annotator=annotator, now=now)
        if released is not None:
            # Time on the segment is measured on the server, from when the queue handed it out.
            elapsed = int((now - released.reserved_at).total_seconds() * 1000)
            time_spent_ms = max(0, min(elapsed, MAX_TIME_SPENT_MS))
        if expected_version == 0 and not one_statement:
            annotation = Annotation(
                project=project,
                segment=segment,
                annotator=annotator,
                status=status,
                unsure=unsure,
                comment=comment,
                time_spent_ms=time_spent_ms,
            )
            if _insert_if_absent(annotation):
                if status == Annotation.Status.SUBMITTED or released is not None:
                    # A skip only gives back the reservation it ended.
                    queue_count_answer(
                        project=project,
                        segment=segment,
                        change=+1 if status == Annotation.Status.SUBMITTED else 0,
                        released=released,
                        now=now,
                    )
                AnnotationLabel.objects.bulk_create(
                    AnnotationLabel(annotation=annotation, label=label) for label in labels
                )
                after = answer_snapshot(annotation, label_triples(labels))
                _record(
                    history_event(annotation=annotation, actor=annotator, before=None, after=after)
                )
                progress = _progress_add(project, annotator, status, +1)
                review_segment_refresh(project=project, segment_id=segment.pk)
                return SubmitResult(annotation, progress)
            # An answer was stored first (a double click, another tab): compare with it.
        current = (
            # of=self: lock this row only, not the rows of the tables it refers to.
            Annotation.objects.select_for_update(of=("self",))
            .filter(project=project, segment=segment, annotator=annotator)
            .first()
        )
        if current is None:
            raise AnnotationRejected("The answer you edited no longer exists; reload the page.")
        if current.version != expected_version:
            if _says_the_same(current, status, unsure, comment, label_ids):
                return SubmitResult(current)
            raise AnnotationConflict(current)
        previous_status = current.status
        stored_labels = list(
            AnnotationLabel.objects.filter(annotation=current).values_list(
                "label_id", "label__slug", "label__name"
            )
        )
        before = answer_snapshot(current, stored_labels)
        current.revise(status=status, unsure=unsure, comment=comment, time_spent_ms=time_spent_ms)
        current.save()
        if previous_status != status:
            submitted = Annotation.Status.SUBMITTED
            change = +1 if status == submitted else -1 if previous_status == submitted else 0
            queue_count_answer(
                project=project, segment=segment, change=change, released=released, now=now
            )
        stored = {label_id for label_id, _, _ in stored_labels}
        if stored != label_ids:
            AnnotationLabel.objects.filter(annotation=current).exclude(
                label_id__in=label_ids
            ).delete()
            AnnotationLabel.objects.bulk_create(
                AnnotationLabel(annotation=current, label=label)
                for label in labels
                if label.pk not in stored
            )
        after = answer_snapshot(current, label_triples(labels))
        _record(history_event(annotation=current, actor=annotator, before=before, after=after))
        review_segment_refresh(project=project, segment_id=segment.pk)
        if previous_status != status:
            _progress_add(project, annotator, previous_status, -1)
            return SubmitResult(current, _progress_add(project, annotator, status, +1))
        return SubmitResult(current)


def _store_first(
    db: BaseDatabaseWrapper,
    *,
    project: Project,
    segment: Segment,
    annotator: User,
    labels: list[Label],
    status: str,
    unsure: bool,
    comment: str,
    time_spent_ms: int,
    now: datetime,
) -> tuple[SubmitResult | None, Released | None]:
    """PostgreSQL: a first answer in one statement, inside ``_store``'s transaction.

    The statements of the general path as the parts of one ``WITH``: end my reservation
    (``queue_release``), insert the answer unless one is stored (``_insert_if_absent``,
    its time from the reservation), count it on its queue row (``queue_count_answer``),
    its labels, its history event, my progress (``_progress_add``) and the lock of the
    segment's review row (``review_segment_refresh``), in that order. Returns ``None`` for
    the result when an answer was already stored (the caller compares with it), and the
    reservation that ended either way.
    """
    submitted = status == Annotation.Status.SUBMITTED
    annotation = Annotation(
        project=project,
        segment=segment,
        annotator=annotator,
        status=status,
        unsure=unsure,
        comment=comment,
        time_spent_ms=time_spent_ms,
    )
    fields = _insert_fields()
    values: list[Any] = [
        field.get_db_prep_save(field.pre_save(annotation, True), db) for field in fields
    ]
    after = answer_snapshot(annotation, label_triples(labels))
    after_field = AnnotationEvent._meta.get_field("after")
    assert isinstance(after_field, models.JSONField)
    params: list[Any] = [
        # rel, mine
        project.pk,
        annotator.pk,
        segment.pk,
        now,
        # ins: the answer's columns, the time spent taken from "mine" when it exists
        *values[:_TIME_AT],
        now,
        MAX_TIME_SPENT_MS,
        time_spent_ms,
        *values[_TIME_AT + 1 :],
        # counted
        int(submitted),
        int(submitted),
        int(submitted),
        project.annotators_per_segment,
        now,
        now,
        project.pk,
        segment.pk,
        submitted,
        # labelled
        sorted(label.pk for label in labels),
        # event
        project.pk,
        segment.pk,
        annotator.pk,
        now,
        after_field.get_db_prep_save(after, db),
        # progress
        project.pk,
        annotator.pk,
        # review
        project.pk,
        segment.pk,
        random.randrange(100),
    ]
    with db.cursor() as cursor:
        cursor.execute(_first_answer_sql(db.alias, submitted=submitted), params)
        row = cursor.fetchone()
    (pk, spent, reserved_at, valid, *counted, done, skipped, gold) = row
    released = (
        Released(reserved_at=reserved_at, valid=bool(valid)) if reserved_at is not None else None
    )
    if pk is None:
        return None, released
    annotation.pk = pk
    annotation.time_spent_ms = spent
    annotation._state.adding = False
    annotation._state.db = db.alias
    if submitted or released is not None:
        # A missing queue row is made, and a gain past k refused, as queue_count_answer does.
        queue_counted(
            project=project,
            segment=segment,
            row=None if counted[0] is None else (counted[0], counted[1], counted[2]),
            change=+1 if submitted else 0,
            now=now,
        )
    if done is None:
        # My first answer in this project: the progress row is made now.
        progress = _progress_add(project, annotator, status, +1)
    else:
        progress = Progress(submitted=done, skipped=skipped, total=project.collection.segment_count)
    review_segment_refresh(project=project, segment_id=segment.pk, has_gold=bool(gold))
    return SubmitResult(annotation, progress), released


def _insert_fields() -> list[models.Field[Any, Any]]:
    return [field for field in Annotation._meta.concrete_fields if not field.primary_key]


_TIME_AT = [field.name for field in _insert_fields()].index("time_spent_ms")


@functools.cache
def _first_answer_sql(alias: str, *, submitted: bool) -> str:
    db = connections[alias]
    quote = db.ops.quote_name

    def table(model: type[models.Model]) -> str:
        return quote(model._meta.db_table)

    columns = [quote(_column(Annotation, field.name)) for field in _insert_fields()]
    values = ["%s"] * len(columns)
    # As _store computes it: whole milliseconds since the reservation began, capped.
    values[_TIME_AT] = (
        "COALESCE((SELECT LEAST(GREATEST(trunc(extract(epoch FROM %s - mine.reserved_at)"
        " * 1000), 0), %s) FROM mine), %s)::integer"
    )
    unique = ", ".join(quote(_column(Annotation, n)) for n in ("project", "annotator", "segment"))
    counter = quote(_column(AnnotatorProgress, "submitted" if submitted else "skipped"))
    review = table(SegmentReview)
    return (
        f"WITH rel AS (UPDATE {table(Reservation)} SET segment_id = NULL"
        " WHERE project_id = %s AND annotator_id = %s AND segment_id = %s"
        " RETURNING reserved_at, expires_at),"
        " mine AS (SELECT reserved_at, expires_at > %s AS valid FROM rel"
        " WHERE reserved_at IS NOT NULL AND expires_at IS NOT NULL),"
        f" ins AS (INSERT INTO {table(Annotation)} ({', '.join(columns)})"
        f" SELECT {', '.join(values)} ON CONFLICT ({unique}) DO NOTHING"
        " RETURNING id, time_spent_ms),"
        # The UPDATE of queue_count_answer; "mine" is 1 when my reservation still held.
        f" counted AS (UPDATE {table(SegmentProgress)} SET"
        " submitted = CASE WHEN submitted + %s < 0 THEN 0 ELSE submitted + %s END,"
        " is_open = (submitted + %s < %s),"
        " held = CASE WHEN held_until > %s AND held > m.n THEN held - m.n ELSE 0 END,"
        " held_until = CASE WHEN held_until > %s THEN held_until ELSE NULL END"
        " FROM (SELECT COALESCE((SELECT CASE WHEN valid THEN 1 ELSE 0 END FROM mine), 0) AS n) m"
        " WHERE project_id = %s AND segment_id = %s AND EXISTS (SELECT 1 FROM ins)"
        " AND (%s OR EXISTS (SELECT 1 FROM mine)) RETURNING id, submitted, held),"
        f" labelled AS (INSERT INTO {table(AnnotationLabel)} (annotation_id, label_id)"
        " SELECT ins.id, l FROM ins, unnest(%s::bigint[]) l),"
        f" event AS (INSERT INTO {table(AnnotationEvent)} (annotation_id, project_id,"
        " segment_id, actor_id, version, created_at, before, after)"
        " SELECT ins.id, %s, %s, %s, 1, %s, NULL, %s FROM ins),"
        f" progress AS (UPDATE {table(AnnotatorProgress)} SET {counter} = {counter} + 1"
        " WHERE project_id = %s AND annotator_id = %s AND EXISTS (SELECT 1 FROM ins)"
        " RETURNING submitted, skipped),"
        # The lock of review_segment_refresh (its _lock_row), taken last as there.
        f" review AS (INSERT INTO {review} (project_id, segment_id, sample_rank, submitted,"
        " skipped, disagree, unsure, commented, gold, reviewed)"
        " SELECT %s, %s, %s, 0, 0, false, false, false, '', false WHERE EXISTS (SELECT 1 FROM ins)"
        f" ON CONFLICT (project_id, segment_id) DO UPDATE SET sample_rank = {review}.sample_rank"
        " RETURNING gold)"
        # Scalar subqueries run in this order: the locks are taken as in the general path.
        " SELECT (SELECT id FROM ins), (SELECT time_spent_ms FROM ins),"
        " (SELECT reserved_at FROM mine), (SELECT valid FROM mine),"
        " (SELECT id FROM counted), (SELECT submitted FROM counted), (SELECT held FROM counted),"
        " (SELECT submitted FROM progress), (SELECT skipped FROM progress),"
        " (SELECT gold FROM review)"
    )


def _record(event: AnnotationEvent) -> None:
    # A plain INSERT: the unique (annotation, version) constraint backs the row lock above.
    AnnotationEvent.objects.bulk_create([event])


def _insert_if_absent(annotation: Annotation) -> bool:
    """Insert ``annotation`` unless this person already answered this segment; True if new.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` (PostgreSQL, SQLite ≥ 3.35)
    instead of a locked read, a savepoint, the insert and its release: the statement that
    every first answer runs, so four round trips become one. A racing insert of the same
    answer makes this one wait for it and then return False.
    """
    meta = Annotation._meta
    db = connections[router.db_for_write(Annotation)]
    quote = db.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(annotation, True), db) for field in fields]
    columns = [_column(Annotation, field.name) for field in fields]
    unique = [_column(Annotation, name) for name in ("project", "annotator", "segment")]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(c) for c in columns)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
        f" ON CONFLICT ({', '.join(quote(c) for c in unique)}) DO NOTHING"
        f" RETURNING {quote(_column(Annotation, 'id'))}"
    )
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    annotation.pk = row[0]
    annotation._state.adding = False
    annotation._state.db = db.alias
    return True


def _column(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, models.Field) and field.column is not None
    return field.column


def _says_the_same(
    annotation: Annotation, status: str, unsure: bool, comment: str, label_ids: set[int]
) -> bool:
    if (annotation.status, annotation.unsure, annotation.comment) != (status, unsure, comment):
        return False
    return annotation.label_ids() == label_ids


def _progress_add(project: Project, annotator: User, status: str, delta: int) -> Progress:
    """Move this person's count for ``status`` by ``delta``; returns the new progress.

    ``UPDATE … RETURNING`` (PostgreSQL, SQLite ≥ 3.35): the new counts come back with the
    change, so the page after a submit needs no query to draw its progress bar.
    """
    field = "submitted" if status == Annotation.Status.SUBMITTED else "skipped"
    db = connections[router.db_for_write(AnnotatorProgress)]
    quote = db.ops.quote_name
    meta = AnnotatorProgress._meta
    column = quote(_column(AnnotatorProgress, field))
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {column} = {column} + %s"
        f" WHERE {quote(_column(AnnotatorProgress, 'project'))} = %s"
        f" AND {quote(_column(AnnotatorProgress, 'annotator'))} = %s"
        f" RETURNING {quote('submitted')}, {quote('skipped')}"
    )
    for _ in range(2):
        with db.cursor() as cursor:
            cursor.execute(sql, [delta, project.pk, annotator.pk])
            row = cursor.fetchone()
        if row is not None:
            return Progress(
                submitted=row[0], skipped=row[1], total=project.collection.segment_count
            )
        # The person's first answer in this project; the unique constraint settles a race.
        AnnotatorProgress.objects.get_or_create(project=project, annotator=annotator)
    raise RuntimeError("The progress row vanished while it was being updated.")
