"""Answers: storing one person's answer for one segment, with optimistic locking."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.db import connections, models, router, transaction
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
)
from ..queue import SegmentFull, queue_count_answer, queue_release
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
    with transaction.atomic():
        released = queue_release(project=project, segment=segment, annotator=annotator, now=now)
        if released is not None:
            # Time on the segment is measured on the server, from when the queue handed it out.
            elapsed = int((now - released.reserved_at).total_seconds() * 1000)
            time_spent_ms = max(0, min(elapsed, MAX_TIME_SPENT_MS))
        if expected_version == 0:
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
