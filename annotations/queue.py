"""The labelling queue: which segment a person is given next in a project, and for how long
it is theirs alone.

Every segment of a project has a ``SegmentProgress`` row: its queue position
(``order_key``), how many submitted answers it has, whether it is still open (fewer than
k = ``annotators_per_segment``), and the reservations it held when last written. "Next"
(``queue_reserve``) walks the open rows in queue order through a partial index, so finished
segments cost nothing, and **reserves** the first one that the person has not answered and
that has room: ``submitted + reservations < k``. The reservation lasts
``Project.reservation_minutes``; it ends when the person submits or skips the segment, or
when it expires, and then the segment is back in the pool.

Coordination is through the database only, so it holds with any number of worker
processes and hosts on one database:

- PostgreSQL: "next" takes the person's own ``Reservation`` row ``FOR UPDATE`` (one request
  per person at a time), then the first open row with room ``FOR UPDATE SKIP LOCKED``
  (two people asking at once get different rows, nobody waits); its conditions are on the
  locked row's own columns, which PostgreSQL re-checks on the newest version of the row
  once it is locked. A submit locks the same row before it counts the reservations of
  others, so answers and reservations of one segment are serialised.
- SQLite: every transaction starts with ``BEGIN IMMEDIATE`` (``transaction_mode`` in
  settings), so writers are serialised and the same code is correct without row locks.

A submit refuses a first answer that would give a segment more than k submitted answers
(counting others' valid reservations): ``SegmentFull``. That happens to a person whose
reservation expired while others finished the segment.

Reservation times are compared with the app server's clock (``timezone.now()``): hosts must
agree on the time (NTP). No clock can make a segment get more than k answers; that is
checked under the row lock at submit.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import User
from django.db import connections, models, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.models import F, Model, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from articles.models import Article, Segment

from .models import Annotation, Project, Reservation, SegmentProgress
from .rows import ARTICLE, SEGMENT, Columns, neighbour_sql, segment_with_article

# Shuffle: an article's rank is (article id × multiplier) mod a prime, a permutation of the
# ids below the prime, in plain integer SQL (the same on PostgreSQL and SQLite), stored in
# the high bits of ``order_key`` so that the queue reads an index in order.
_PRIME = 2_147_483_647  # 2**31 - 1
_LOW_BITS = 2**32  # segment ids below 2**32 go in the low bits
# Queue rows made at a time in reading order (``queue_sync``).
SYNC_CHUNK = 2_000
# A sync that adds more rows than this runs ANALYZE on PostgreSQL (None: never; the
# benchmark switches it off to measure the queue before statistics exist).
ANALYZE_AFTER_ROWS: int | None = 10_000


class SegmentFull(Exception):
    """A first answer for a segment that already has its k answers (or is held for them)."""

    def __init__(self, *, k: int) -> None:
        answers = "1 answer" if k == 1 else f"{k} answers"
        super().__init__(
            f"Not saved: this segment already has the {answers} it needs (your reservation had "
            "run out, and others labelled it meanwhile). Here is your next segment."
        )
        self.k = k


def project_segments(project: Project) -> QuerySet[Segment]:
    """All segments a project labels."""
    return Segment.objects.filter(article__collection_id=project.collection_id)


def shuffle_multiplier(seed: int) -> int:
    """The multiplier (1 … prime-1) that ``seed`` stands for; deterministic."""
    digest = hashlib.blake2b(str(seed).encode(), digest_size=8).digest()
    return 1 + int.from_bytes(digest, "big") % (_PRIME - 1)


def order_key_sql(project: Project, *, segment: str, article: str) -> tuple[str, list[int]]:
    """SQL (and its parameters) for the queue position of a segment, from the SQL
    expressions of its id and its article's id."""
    if project.queue_order == Project.QueueOrder.SHUFFLED:
        return (
            f"((({article}) * %s) %% {_PRIME}) * {_LOW_BITS} + ({segment})",
            [shuffle_multiplier(project.queue_seed)],
        )
    return f"({segment})", []


def _table(model: type[Model]) -> str:
    return connections[router.db_for_write(model)].ops.quote_name(model._meta.db_table)


def queue_complete(project: Project) -> bool:
    """Whether every segment of the collection has its queue row (no import since)."""
    return project.queued_segments == project.collection.segment_count


def queue_sync(*, project: Project, segment_id: int | None = None, everything: bool = False) -> int:
    """Give segments of the project's collection their queue rows; returns how many were
    added.

    In reading order the rows are made in queue order, ``SYNC_CHUNK`` at a time from
    ``Project.queue_synced_to`` on (an index range on the segment id), as the queue reaches
    them: the first "next" after a big import costs one chunk, not the whole import. In the
    shuffled order (or with ``everything``) all missing rows are made at once. With
    ``segment_id``, only that segment's row (an answer given outside the queue's order).
    The counts of existing answers are taken over, so a project that had answers before
    its queue rows existed starts right. Nothing to do costs nothing: when
    ``project.queued_segments`` equals the collection's ``segment_count``, no import came.
    """
    segment_count = project.collection.segment_count
    if segment_id is None and project.queued_segments == segment_count:
        return 0
    db = connections[router.db_for_write(SegmentProgress)]
    where, bounds = "", []
    chunked = (
        segment_id is None and not everything and project.queue_order == Project.QueueOrder.READING
    )
    boundary = None
    with transaction.atomic(using=db.alias), db.cursor() as cursor:
        if segment_id is not None:
            where, bounds = " AND s.id = %s", [segment_id]
        elif chunked:
            cursor.execute(
                f"SELECT s.id FROM {_table(Segment)} s JOIN {_table(Article)} ar"
                " ON ar.id = s.article_id WHERE ar.collection_id = %s AND s.id > %s"
                " ORDER BY s.id LIMIT 1 OFFSET %s",
                [project.collection_id, project.queue_synced_to, SYNC_CHUNK - 1],
            )
            found = cursor.fetchone()
            boundary = found[0] if found else None
            where, bounds = " AND s.id > %s", [project.queue_synced_to]
            if boundary is not None:
                where, bounds = where + " AND s.id <= %s", [*bounds, boundary]
        added = _insert_rows(cursor, project, where, bounds)
        if segment_id is not None:
            return added
        if (
            ANALYZE_AFTER_ROWS is not None
            and added > ANALYZE_AFTER_ROWS
            and db.vendor == "postgresql"
        ):
            # A large import: plan the next "next" from real statistics, not guesses.
            cursor.execute(f"ANALYZE {_table(SegmentProgress)}")
        if added and project.one_per_duplicate_group:
            # An import may have made earlier articles copies of new ones, or the reverse.
            queue_mark_duplicates(project=project)
        changes: dict[str, int] = {}
        if boundary is not None:
            changes["queue_synced_to"] = boundary
        else:
            changes["queued_segments"] = segment_count
            cursor.execute(
                f"SELECT MAX(s.id) FROM {_table(Segment)} s JOIN {_table(Article)} ar"
                " ON ar.id = s.article_id WHERE ar.collection_id = %s",
                [project.collection_id],
            )
            changes["queue_synced_to"] = cursor.fetchone()[0] or 0
        Project.objects.filter(pk=project.pk).update(**changes)
        for name, value in changes.items():
            setattr(project, name, value)
    return added


def _insert_rows(cursor: CursorWrapper, project: Project, where: str, bounds: list[int]) -> int:
    key, params = order_key_sql(project, segment="t.id", article="t.article_id")
    cursor.execute(
        f"INSERT INTO {_table(SegmentProgress)}"
        " (project_id, segment_id, order_key, submitted, is_open, left_out, held)"
        f" SELECT %s, t.id, {key}, t.n, t.n < %s, (%s AND t.copy), 0 FROM ("
        " SELECT s.id, s.article_id, ar.duplicate_of_id IS NOT NULL AS copy,"
        f" (SELECT COUNT(*) FROM {_table(Annotation)} a WHERE a.project_id = %s"
        "  AND a.segment_id = s.id AND a.status = %s) AS n"
        f" FROM {_table(Segment)} s JOIN {_table(Article)} ar ON ar.id = s.article_id"
        f" WHERE ar.collection_id = %s{where} AND NOT EXISTS ("
        f"SELECT 1 FROM {_table(SegmentProgress)} sp"
        " WHERE sp.project_id = %s AND sp.segment_id = s.id)) t"
        # Concurrent syncs insert the same rows: the second waits, then adds nothing.
        " WHERE true ON CONFLICT DO NOTHING",
        [
            project.pk,
            *params,
            project.annotators_per_segment,
            project.one_per_duplicate_group,
            project.pk,
            Annotation.Status.SUBMITTED,
            project.collection_id,
            *bounds,
            project.pk,
        ],
    )
    return max(int(cursor.rowcount), 0)


def queue_reorder(*, project: Project) -> None:
    """Recompute the queue positions after the order or the seed changed; everyone's place
    in the queue goes back to its start (their answers are still left out)."""
    db = connections[router.db_for_write(SegmentProgress)]
    key, params = order_key_sql(
        project,
        segment=f"{_table(SegmentProgress)}.segment_id",
        article=f"(SELECT article_id FROM {_table(Segment)} s"
        f" WHERE s.id = {_table(SegmentProgress)}.segment_id)",
    )
    with transaction.atomic(using=db.alias), db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(SegmentProgress)} SET order_key = {key} WHERE project_id = %s",
            [*params, project.pk],
        )
        Reservation.objects.filter(project=project).update(order_key=0)


def queue_mark_duplicates(*, project: Project) -> None:
    """Leave out (or take back) the segments of near-copies (``Article.duplicate_of`` set),
    as ``project.one_per_duplicate_group`` says."""
    db = connections[router.db_for_write(SegmentProgress)]
    table = _table(SegmentProgress)
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET left_out = (%s AND EXISTS ("
            f"SELECT 1 FROM {_table(Segment)} s JOIN {_table(Article)} ar"
            f" ON ar.id = s.article_id WHERE s.id = {table}.segment_id"
            " AND ar.duplicate_of_id IS NOT NULL)) WHERE project_id = %s",
            [project.one_per_duplicate_group, project.pk],
        )


def queue_reopen(*, project: Project) -> None:
    """Open or close segments after ``annotators_per_segment`` (k) changed."""
    k = project.annotators_per_segment
    SegmentProgress.objects.filter(project=project, is_open=True, submitted__gte=k).update(
        is_open=False
    )
    SegmentProgress.objects.filter(project=project, is_open=False, submitted__lt=k).update(
        is_open=True
    )


def _candidates(project: Project, annotator: User, now: datetime) -> QuerySet[SegmentProgress]:
    """Open rows with room that this person has not answered, in queue order."""
    k = project.annotators_per_segment
    # "Not answered by me" is a scalar subquery, not NOT EXISTS: PostgreSQL may plan NOT
    # EXISTS as an anti-join that reads every annotation of the project; the scalar form
    # probes the unique (project, annotator, segment) index once per candidate.
    mine = (
        Annotation.objects.filter(project=project, annotator=annotator, segment=OuterRef("segment"))
        .order_by()
        .values("segment_id")[:1]
    )
    # Room: submitted + held < k, where ``held`` counts only while ``held_until`` lies ahead.
    room = Q(held_until__isnull=True) | Q(held_until__lte=now) | Q(held__lt=k - F("submitted"))
    rows = SegmentProgress.objects.filter(project=project, is_open=True, left_out=False)
    if project.one_per_duplicate_group:
        # ``left_out`` is refreshed when segments are added and when the option changes;
        # this keeps a copy out even if it was marked a copy in between.
        rows = rows.filter(segment__article__duplicate_of__isnull=True)
    return (
        rows.filter(room).alias(mine=Subquery(mine)).filter(mine__isnull=True).order_by("order_key")
    )


@dataclass(frozen=True)
class Handed:
    """What "next" gave a person: the segment (``None`` when nothing is left for them)
    and since when it is theirs."""

    segment: Segment | None
    reserved_at: datetime | None = None
    expires_at: datetime | None = None
    again: bool = False  # the same reservation as before (a reload)
    # The texts of the segment's neighbours in its article, when they were read with it.
    neighbours: tuple[str | None, str | None] | None = None


def queue_reserve(*, project: Project, annotator: User, now: datetime | None = None) -> Handed:
    """Hand ``annotator`` their next segment and reserve it for them.

    A person who still holds a valid reservation gets the same segment back (a reload, a
    second tab). Otherwise the search starts after their place in the queue and wraps
    around to its start, so gaps (a reservation that expired, a colleague's skip, a larger
    k) are filled in the end.
    """
    now = now or timezone.now()
    db = connections[router.db_for_write(Reservation)]
    with transaction.atomic(using=db.alias):
        mine, neighbours = _my_reservation(db, project, annotator)
        if mine.holds(now) and mine.segment is not None:
            return Handed(
                mine.segment, mine.reserved_at, mine.expires_at, again=True, neighbours=neighbours
            )
        expires_at = now + timedelta(minutes=project.reservation_minutes)
        # The one-statement path, unless the queue rows after my place are still to be made.
        if db.vendor == "postgresql" and (
            queue_complete(project)
            or (
                project.queue_order == Project.QueueOrder.READING
                and mine.order_key < project.queue_synced_to
            )
        ):
            handed = _reserve_next(db, project, annotator, mine, now, expires_at)
            if handed is not None:
                return handed
        row = _search(project, annotator, now, after=mine.order_key, lock=True)
        if row is None:
            if mine.segment_id is not None:
                Reservation.objects.filter(pk=mine.pk).update(segment_id=None)
            return Handed(None)
        if row.held_until is not None and row.held_until > now:
            held, held_until = row.held + 1, max(row.held_until, expires_at)
        else:
            held, held_until = 1, expires_at
        SegmentProgress.objects.filter(pk=row.pk).update(held=held, held_until=held_until)
        Reservation.objects.filter(pk=mine.pk).update(
            segment_id=row.segment_id,
            order_key=row.order_key,
            reserved_at=now,
            expires_at=expires_at,
        )
        return Handed(row.segment, now, expires_at)


def _my_reservation(
    db: BaseDatabaseWrapper, project: Project, annotator: User
) -> tuple[Reservation, tuple[str | None, str | None]]:
    """This person's reservation row in the project, locked (created the first time), with
    the segment it names and that segment's neighbours' texts (one statement)."""
    sql = _my_reservation_sql(db.alias)
    for _ in range(2):
        with db.cursor() as cursor:
            cursor.execute(sql, [project.pk, annotator.pk])
            row = cursor.fetchone()
        if row is not None:
            break
        Reservation.objects.bulk_create(
            [Reservation(project=project, annotator=annotator)], ignore_conflicts=True
        )
    else:
        raise RuntimeError("The reservation row vanished while it was being made.")
    mine = _RESERVATION.build(db, row[: _RESERVATION.width])
    at = _RESERVATION.width
    if row[at] is not None:
        mine.segment = segment_with_article(db, row[at:])
    at += SEGMENT.width + ARTICLE.width
    return mine, (row[at], row[at + 1])


_RESERVATION = Columns(Reservation)


@functools.cache
def _my_reservation_sql(alias: str) -> str:
    db = connections[alias]
    quote = db.ops.quote_name
    lock = " FOR UPDATE OF r" if db.features.has_select_for_update_of else ""
    return (
        f"SELECT {_RESERVATION.sql('r', db)}, {SEGMENT.sql('s', db)}, {ARTICLE.sql('a', db)},"
        f" {neighbour_sql(db, 's', -1)}, {neighbour_sql(db, 's', +1)}"
        f" FROM {_table(Reservation)} r"
        f" LEFT JOIN {_table(Segment)} s ON s.id = r.{quote('segment_id')}"
        f" LEFT JOIN {_table(Article)} a ON a.id = s.{quote('article_id')}"
        f" WHERE r.{quote('project_id')} = %s AND r.{quote('annotator_id')} = %s{lock}"
    )


def _reserve_next(
    db: BaseDatabaseWrapper,
    project: Project,
    annotator: User,
    mine: Reservation,
    now: datetime,
    expires_at: datetime,
) -> Handed | None:
    """PostgreSQL: find, lock and reserve the first open row with room after my place in
    the queue in one statement, and read its segment; ``None`` when there is none after it
    (then ``_search`` wraps around, makes missing queue rows, and waits for locked rows).

    The same conditions and locks as ``_search`` + the two updates of ``queue_reserve``:
    the row is taken ``FOR UPDATE SKIP LOCKED`` and its conditions are re-checked on its
    newest version once it is locked.
    """
    sql = _reserve_next_sql(db.alias, duplicates=project.one_per_duplicate_group)
    k = project.annotators_per_segment
    params: list[int | datetime | None] = [
        project.pk,
        mine.order_key,
        now,
        k,
        project.pk,
        annotator.pk,
        now,
        now,
        expires_at,
        expires_at,
        now,
        expires_at,
        mine.pk,
    ]
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    segment = segment_with_article(db, row)
    at = SEGMENT.width + ARTICLE.width
    return Handed(segment, now, expires_at, neighbours=(row[at], row[at + 1]))


@functools.cache
def _reserve_next_sql(alias: str, *, duplicates: bool) -> str:
    db = connections[alias]
    quote = db.ops.quote_name
    progress, reservation = _table(SegmentProgress), _table(Reservation)
    copies = (
        f" JOIN {_table(Segment)} s0 ON s0.id = sp.{quote('segment_id')}"
        f" JOIN {_table(Article)} a0 ON a0.id = s0.{quote('article_id')}"
        f" AND a0.{quote('duplicate_of_id')} IS NULL"
        if duplicates
        else ""
    )
    return (
        f"WITH c AS (SELECT sp.id, sp.segment_id, sp.order_key, sp.held, sp.held_until"
        f" FROM {progress} sp{copies}"
        " WHERE sp.project_id = %s AND sp.is_open AND NOT sp.left_out AND sp.order_key > %s"
        " AND (sp.held_until IS NULL OR sp.held_until <= %s OR sp.held < %s - sp.submitted)"
        # Not answered by me: a scalar probe of the unique index (see ``_candidates``).
        f" AND (SELECT m.segment_id FROM {_table(Annotation)} m WHERE m.project_id = %s"
        " AND m.annotator_id = %s AND m.segment_id = sp.segment_id LIMIT 1) IS NULL"
        " ORDER BY sp.order_key LIMIT 1 FOR UPDATE OF sp SKIP LOCKED),"
        f" h AS (UPDATE {progress} sp SET"
        " held = CASE WHEN c.held_until > %s THEN c.held + 1 ELSE 1 END,"
        " held_until = CASE WHEN c.held_until > %s THEN GREATEST(c.held_until, %s) ELSE %s END"
        " FROM c WHERE sp.id = c.id),"
        f" r AS (UPDATE {reservation} SET segment_id = c.segment_id, order_key = c.order_key,"
        f" reserved_at = %s, expires_at = %s FROM c WHERE {reservation}.id = %s)"
        f" SELECT {SEGMENT.sql('s', db)}, {ARTICLE.sql('a', db)},"
        f" {neighbour_sql(db, 's', -1)}, {neighbour_sql(db, 's', +1)}"
        f" FROM c JOIN {_table(Segment)} s ON s.id = c.segment_id"
        f" JOIN {_table(Article)} a ON a.id = s.{quote('article_id')}"
    )


def queue_peek(*, project: Project, annotator: User) -> Segment | None:
    """The segment "next" would give now, without reserving it (for the project page)."""
    now = timezone.now()
    mine = (
        Reservation.objects.filter(project=project, annotator=annotator)
        .select_related("segment__article")
        .first()
    )
    if mine is not None and mine.holds(now):
        return mine.segment
    row = _search(project, annotator, now, after=mine.order_key if mine else 0, lock=False)
    return row.segment if row is not None else None


def _search(
    project: Project, annotator: User, now: datetime, *, after: int, lock: bool
) -> SegmentProgress | None:
    """The first open row with room for ``annotator`` after queue position ``after``, else
    the first one before it (wrapping around); with ``lock``, locked for a reservation.

    Queue rows still missing are made as the search reaches them (``queue_sync``).
    """
    if project.queue_order == Project.QueueOrder.SHUFFLED and not queue_complete(project):
        queue_sync(project=project, everything=True)
    candidates = _candidates(project, annotator, now).select_related("segment__article")
    # First pass: skip rows that others are reserving right now. If that leaves nothing,
    # the second pass waits for them: the last places are not "nothing left" just because
    # someone else was taking one at the same moment. (SQLite has no row locks: its
    # transactions are serialised, one pass is enough.)
    db = connections[router.db_for_write(SegmentProgress)]
    passes = (True, False) if lock and db.vendor == "postgresql" else (True,)
    for skip_locked in passes:
        rows = (
            candidates.select_for_update(skip_locked=skip_locked, of=("self",))
            if lock
            else candidates
        )
        while True:
            row = rows.filter(order_key__gt=after).first()
            if row is not None:
                return row
            if queue_complete(project):
                break
            queue_sync(project=project)  # the next rows in queue order
        if after:
            row = rows.filter(order_key__lte=after).first()
            if row is not None:
                return row
    return None


@dataclass(frozen=True)
class Released:
    """A reservation that an answer ended: when it began, and whether it still held."""

    reserved_at: datetime
    valid: bool


def queue_release(
    *, project: Project, segment: Segment, annotator: User, now: datetime
) -> Released | None:
    """End ``annotator``'s reservation of ``segment`` (they answered or skipped it), or
    ``None`` when they held no reservation of it."""
    db = connections[router.db_for_write(Reservation)]
    with db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {_table(Reservation)} SET segment_id = NULL"
            " WHERE project_id = %s AND annotator_id = %s AND segment_id = %s"
            " RETURNING reserved_at, expires_at",
            [project.pk, annotator.pk, segment.pk],
        )
        row = cursor.fetchone()
    if row is None or row[0] is None or row[1] is None:
        return None
    reserved_at, expires_at = (_aware(value) for value in row)
    return Released(reserved_at=reserved_at, valid=expires_at > now)


def _aware(value: object) -> datetime:
    # A raw cursor returns what the driver gives: text on SQLite, naive in UTC there.
    converted = models.DateTimeField().to_python(value)
    if not isinstance(converted, datetime):
        raise TypeError(f"Not a date and time: {value!r}")
    if timezone.is_naive(converted):
        converted = timezone.make_aware(converted, UTC)
    return converted


def queue_count_answer(
    *,
    project: Project,
    segment: Segment,
    change: int,
    released: Released | None,
    now: datetime,
) -> int:
    """Record that ``segment`` gained (``change`` = +1) or lost (-1) a submitted answer, or
    (0) that a reservation of it ended; returns its submitted answers.

    Runs inside the submit's transaction, after ``queue_release`` (whose result is
    ``released``) and after the answer is written. A gain that would give the segment more
    than k submitted answers, counting the valid reservations of others, raises
    ``SegmentFull`` (the caller's transaction is then rolled back).

    One ``UPDATE … RETURNING`` in the usual case: it locks the row, moves the count, and
    takes this person's valid reservation off ``held``; the reservations of others are
    counted one by one only when ``held`` says they might not leave room.
    """
    k = project.annotators_per_segment
    db = connections[router.db_for_write(SegmentProgress)]
    when = db.ops.adapt_datetimefield_value(now)
    mine = 1 if released is not None and released.valid else 0
    with db.cursor() as cursor:
        # Every expression reads the row as it was before this statement, on both databases.
        cursor.execute(
            f"UPDATE {_table(SegmentProgress)} SET"
            " submitted = CASE WHEN submitted + %s < 0 THEN 0 ELSE submitted + %s END,"
            " is_open = (submitted + %s < %s),"
            " held = CASE WHEN held_until > %s AND held > %s THEN held - %s ELSE 0 END,"
            " held_until = CASE WHEN held_until > %s THEN held_until ELSE NULL END"
            " WHERE project_id = %s AND segment_id = %s RETURNING id, submitted, held",
            [change, change, change, k, when, mine, mine, when, project.pk, segment.pk],
        )
        row = cursor.fetchone()
    return queue_counted(project=project, segment=segment, row=row, change=change, now=now)


def queue_counted(
    *,
    project: Project,
    segment: Segment,
    row: tuple[int, int, int] | None,
    change: int,
    now: datetime,
) -> int:
    """The rest of ``queue_count_answer`` once its ``UPDATE … RETURNING id, submitted,
    held`` ran (``row``; ``None`` when the segment has no queue row yet): make the missing
    row, and refuse a gain past k (``SegmentFull``). Returns the submitted answers.

    ``annotation_submit`` runs that ``UPDATE`` itself on PostgreSQL, inside the one
    statement that stores a first answer, and then calls this.
    """
    k = project.annotators_per_segment
    if row is None:
        # The project's queue rows are made on first use: made now, they count this
        # answer already (it was written earlier in this transaction).
        queue_sync(
            project=Project.objects.select_related("collection").get(pk=project.pk),
            segment_id=segment.pk,
        )
        found = _locked_progress(project, segment)
        if found is None:
            raise RuntimeError(f"Segment {segment.pk} has no queue row in project {project.pk}.")
        row = (found.pk, found.submitted, k)
    pk, submitted, held = (int(value) for value in row)
    if change > 0 and submitted + held > k:
        # Counted now, under the row lock: no reservation of this segment can be granted
        # or answered meanwhile, and those granted before are committed and visible.
        holds = Reservation.objects.filter(project=project, segment=segment, expires_at__gt=now)
        until = [at for at in holds.values_list("expires_at", flat=True) if at is not None]
        if submitted + len(until) > k:
            raise SegmentFull(k=k)
        SegmentProgress.objects.filter(pk=pk).update(
            is_open=submitted < k, held=len(until), held_until=max(until) if until else None
        )
    return submitted


def _locked_progress(project: Project, segment: Segment) -> SegmentProgress | None:
    return (
        SegmentProgress.objects.select_for_update(of=("self",))
        .filter(project=project, segment=segment)
        .only("pk", "submitted")
        .first()
    )


@dataclass(frozen=True)
class EmptyQueue:
    """Why a person's queue is empty: of the segments they have not answered, how many
    already have their k answers, how many are reserved by others right now, and how many
    the project leaves out (near-copies)."""

    full: int
    reserved: int
    left_out: int


def queue_empty_reasons(*, project: Project, annotator: User, answered: int) -> EmptyQueue:
    """Why "next" found nothing for ``annotator`` (who answered ``answered`` segments).

    One query over the project's queue rows, read only on the empty-queue page: the open
    rows that I have not answered are the ones reserved by others (else "next" would have
    given me one); the rest of the segments I have not answered have their k answers.
    """
    mine = Annotation.objects.filter(
        project=project, annotator=annotator, segment=OuterRef("segment")
    )
    counts = SegmentProgress.objects.filter(project=project).aggregate(
        copies=models.Count("pk", filter=Q(left_out=True)),
        held=models.Count("pk", filter=Q(is_open=True, left_out=False) & Q(~models.Exists(mine))),
    )
    left_out, reserved = counts["copies"] or 0, counts["held"] or 0
    full = project.collection.segment_count - left_out - answered - reserved
    return EmptyQueue(full=max(full, 0), reserved=reserved, left_out=left_out)


def queue_previous_answered(*, project: Project, annotator: User, before: int | None) -> int | None:
    """Id of the segment this person answered before segment ``before`` ("Back").

    In reading order, the queue hands segments out by id, so "Back" walks the person's
    answers by segment id (the unique index, read backwards). In a shuffled queue it walks
    them in the order they were given (answer ids): from a segment not answered yet, the
    last answer. With ``before=None`` (the queue is finished) it starts from the last one.
    """
    mine = Annotation.objects.filter(project=project, annotator=annotator)
    if project.queue_order == Project.QueueOrder.READING:
        if before is not None:
            mine = mine.filter(segment_id__lt=before)
        return mine.order_by("-segment_id").values_list("segment_id", flat=True).first()
    if before is not None:
        # The answers given before my answer to ``before``; all of them when there is none.
        this = mine.filter(segment_id=before)
        mine = mine.filter(Q(pk__lt=Subquery(this.values("pk")[:1])) | ~models.Exists(this))
    # "+ 0": PostgreSQL is not to walk the primary key backwards over everyone's answers
    # (all of them, when mine are old); it reads mine through the unique index and sorts.
    return mine.order_by((F("pk") + 0).desc()).values_list("segment_id", flat=True).first()
