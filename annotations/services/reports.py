"""A project's team figures: counts, agreement, per-annotator signals, gold, progress over time.

``project_figures()`` reads the project's answers once, as a stream in segment order (one
row per answer and label, a server-side cursor on PostgreSQL), and keeps per-segment and
per-annotator counts only, so memory does not grow with whole answer rows. It is what
``manage.py project_report`` prints and what the background task stores for the dashboard.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model
from django.db import connections, transaction
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Func,
    IntegerField,
    Max,
    Q,
    QuerySet,
    StringAgg,
    TextField,
    Value,
    When,
)
from django.db.models.functions import Cast
from django.utils import timezone

from ..models import (
    Annotation,
    AnnotationLabel,
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
# Rows fetched at a time on SQLite.
FETCH_CHUNK = 50_000
# The share of the work done once the answers, then their labels, have been read.
PROGRESS_ANSWERS, PROGRESS_LABELS = 0.4, 0.8

if TYPE_CHECKING:
    import numpy as np


@dataclass(slots=True)
class _Annotator:
    submitted: int
    skipped: int
    unsure: int
    fast: int
    gold_answers: int
    gold_matches: int


class EpochHour(Func):
    """Whole hours since 1970-01-01 UTC of a datetime column (``int(ts.timestamp()) // 3600``)."""

    arity = 1
    output_field = BigIntegerField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        template = "FLOOR(EXTRACT(EPOCH FROM %(expressions)s) / 3600)::bigint"
        return self.as_sql(compiler, connection, template=template, **extra)

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        # Django stores UTC text; unixepoch() (SQLite 3.38+) reads it as UTC.
        template = "(unixepoch(%(expressions)s) / 3600)"
        return self.as_sql(compiler, connection, template=template, **extra)


@dataclass(slots=True)
class _Columns:
    """The project's answers as arrays, one entry per answer, in (segment, annotator) order."""

    segment: np.ndarray
    annotator: np.ndarray  # user ids
    submitted: np.ndarray  # bool
    unsure: np.ndarray  # bool
    time_ms: np.ndarray
    hour: np.ndarray  # EpochHour of created_at
    value: np.ndarray  # index into ``values``: the answer's label set
    commented: np.ndarray  # bool
    values: list[frozenset[int]]  # label sets (of label ids), by value index
    value_of: dict[str | None, int]  # the database's label-id list -> value index


def _value_index(raw: str | None, columns: _Columns, known: dict[frozenset[int], int]) -> int:
    labels = frozenset(int(part) for part in raw.split(",")) if raw else frozenset()
    index = known.get(labels)
    if index is None:
        index = known[labels] = len(columns.values)
        columns.values.append(labels)
    columns.value_of[raw] = index
    return index


# PostgreSQL: rows come back as one int8[] per column for each group of ids of this size,
# read with np.frombuffer (no Python object per value).
ARRAY_GROUP = 100_000
_INT8_ARRAY_OID = 1016


def _int8_array_loader() -> type:
    """A psycopg binary loader of int8[] without nulls as an int64 numpy array."""
    import numpy as np
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    # A one-dimensional binary array: ndim, has-null flag, element type, size, lower bound
    # (5 x int32), then per element its length (int32) and its value (int64), big-endian.
    element = np.dtype([("length", ">i4"), ("value", ">i8")])

    class Int8ArrayLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> np.ndarray:
            return np.frombuffer(data, dtype=element, offset=20)["value"].astype(np.int64)

    return Int8ArrayLoader


def _int_columns(rows: QuerySet[Any, Any], width: int) -> np.ndarray:
    """The rows of ``rows`` (a ``values_list`` of ``width`` non-null integer expressions,
    the first one an id) as an (n, width) int64 array, in no particular order.

    PostgreSQL: the query grouped by ``id / ARRAY_GROUP``, each column aggregated into an
    int8[] (one aggregate node feeds every column the same rows in the same order), loaded
    in binary straight into numpy. Elsewhere: the same SQL, ``fetchmany`` into arrays.
    (PostgreSQL's streaming mode would keep the connection busy while the progress is
    written; a named cursor fetched a group at a time does not.)
    """
    import numpy as np

    sql, params = rows.query.get_compiler(using=rows.db).as_sql()
    connection = connections[rows.db]
    parts: list[np.ndarray] = []
    if connection.vendor == "postgresql":
        names = ", ".join(f"c{n}" for n in range(width))
        aggregates = ", ".join(f"array_agg(c{n})" for n in range(width))
        grouped = (
            f"SELECT {aggregates} FROM ({sql}) AS answer_rows ({names}) GROUP BY c0 / {ARRAY_GROUP}"
        )
        import psycopg

        connection.ensure_connection()
        started = time.monotonic()
        # A named (server-side) cursor, one group per fetch: the client holds one group at a
        # time, and the connection is free between fetches (it lives in a transaction).
        with (
            transaction.atomic(using=rows.db, savepoint=False),
            psycopg.ServerCursor(connection.connection, "figures_rows") as cursor,
        ):
            cursor.adapters.register_loader(_INT8_ARRAY_OID, _int8_array_loader())
            cursor.execute(grouped, params, binary=True)
            while (group := cursor.fetchone()) is not None:
                parts.append(np.column_stack(group))
        if connection.queries_logged:
            # Past Django's cursor wrapper: logged as it would log it, so that query counts
            # (tests, the debug toolbar) see this query too.
            connection.queries_log.append(
                {"sql": f"{grouped} -- {params!r}", "time": f"{time.monotonic() - started:.3f}"}
            )
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            while chunk := cursor.fetchmany(FETCH_CHUNK):
                parts.append(np.array(chunk, dtype=np.int64).reshape(len(chunk), width))
    if not parts:
        return np.zeros((0, width), dtype=np.int64)
    return np.concatenate(parts)


def _answer_columns(project: Project, *, progress: Callable[[float], None]) -> _Columns:
    """Two plain reads, no sort and no grouping in the database: the answers (one row of
    integers each), then their labels; numpy puts them in (segment, annotator) order and
    finds each answer's label set (its value index)."""
    import numpy as np

    def big(expression: Any) -> Cast:
        return Cast(expression, BigIntegerField())

    def flag(condition: Q, bit: int) -> Case:
        return Case(When(condition, then=Value(bit)), default=Value(0), output_field=IntegerField())

    flags = (
        flag(Q(status=Annotation.Status.SUBMITTED), 1)
        + flag(Q(unsure=True), 2)
        # Whether there is a comment, not its text (rare, and up to 2,000 characters).
        + flag(~Q(comment=""), 4)
    )
    answers = _int_columns(
        Annotation.objects.filter(project=project)
        .order_by()
        .values_list(
            big("id"),
            big("segment_id"),
            big("annotator_id"),
            big(flags),
            big("time_spent_ms"),
            EpochHour("created_at"),
        ),
        6,
    )
    progress(PROGRESS_ANSWERS)
    links = _int_columns(
        AnnotationLabel.objects.filter(annotation__project=project)
        .order_by()
        .values_list(big("annotation_id"), big("label_id")),
        2,
    )
    progress(PROGRESS_LABELS)
    # (segment, annotator) order: one argsort of a combined key (annotators numbered first).
    annotator_ids, coder = np.unique(answers[:, 2], return_inverse=True)
    order = np.argsort(answers[:, 1] * len(annotator_ids) + coder.reshape(-1))
    answers = answers[order]
    flag_values = answers[:, 3]
    columns = _Columns(
        segment=answers[:, 1].copy(),
        annotator=answers[:, 2].copy(),
        submitted=(flag_values & 1) != 0,
        unsure=(flag_values & 2) != 0,
        time_ms=answers[:, 4].copy(),
        hour=answers[:, 5].copy(),
        value=np.zeros(len(answers), dtype=np.int64),
        commented=(flag_values & 4) != 0,
        values=[frozenset()],
        value_of={},
    )
    ids = answers[:, 0].copy()
    del answers, flag_values  # the columns are copies: free the matrix before the next peak
    if len(links):
        columns.value = _label_set_values(ids, links, columns.values)
    columns.value_of = {_raw(labels): index for index, labels in enumerate(columns.values)}
    return columns


def _label_set_values(
    ids: np.ndarray, links: np.ndarray, values: list[frozenset[int]]
) -> np.ndarray:
    """Each answer's label set as an index into ``values`` (extended with the sets found;
    ``values[0]`` is the empty set): ``ids`` are the answers' ids, ``links`` their
    (answer id, label id) rows.

    Each labelled answer's labels, sorted, become the digits of one integer in base
    (labels + 1), so equal integers are equal sets and one ``np.unique`` numbers them
    (a padded matrix and ``np.unique(axis=0)`` when that integer would not fit in 63 bits).
    """
    import numpy as np

    by_id = np.argsort(ids)
    row_of = by_id[np.searchsorted(ids, links[:, 0], sorter=by_id)]
    del by_id
    label_ids, label_digit = np.unique(links[:, 1], return_inverse=True)
    base = len(label_ids) + 1
    order = np.argsort(row_of * base + label_digit.reshape(-1))
    row_of, digit = row_of[order], label_digit.reshape(-1)[order] + 1
    del order, label_digit
    first = np.ones(len(row_of), dtype=bool)
    first[1:] = row_of[1:] != row_of[:-1]
    starts = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    rank = np.arange(len(row_of)) - starts[group]
    width = int(rank.max()) + 1
    if width * math.log2(base) < 62:
        code = np.zeros(len(starts), dtype=np.int64)
        np.add.at(code, group, digit * base**rank)
        codes, which = np.unique(code, return_inverse=True)
        digits = [[int(c) // base**n % base for n in range(width)] for c in codes.tolist()]
    else:
        matrix = np.zeros((len(starts), width), dtype=np.int64)
        matrix[group, rank] = digit
        rows, which = np.unique(matrix, axis=0, return_inverse=True)
        digits = rows.tolist()
    known = len(values)
    values += [frozenset(int(label_ids[d - 1]) for d in row if d) for row in digits]
    value = np.zeros(len(ids), dtype=np.int64)
    value[row_of[starts]] = which.reshape(-1) + known
    return value


def _raw(labels: frozenset[int]) -> str | None:
    return ",".join(str(label) for label in sorted(labels)) or None


def _gold_values(project: Project, columns: _Columns) -> tuple[np.ndarray, np.ndarray]:
    """The segments with a gold label (sorted) and each one's value index."""
    import numpy as np

    rows = list(
        GoldLabel.objects.filter(project=project)
        .values("pk")
        .annotate(label_list=StringAgg(Cast("goldlabellabel__label_id", TextField()), Value(",")))
        .order_by("segment_id")
        .values_list("segment_id", "label_list")
    )
    known = {labels: index for index, labels in enumerate(columns.values)}
    value_of = columns.value_of
    segments = np.array([segment for segment, _ in rows], dtype=np.int64)
    values = np.array(
        [
            value_of[raw] if raw in value_of else _value_index(raw, columns, known)
            for _, raw in rows
        ],
        dtype=np.int64,
    )
    return segments, values


def _median(ordered: np.ndarray) -> float:
    """``statistics.median`` of sorted integers."""
    n = len(ordered)
    middle = n // 2
    if n % 2:
        return int(ordered[middle])
    return (int(ordered[middle - 1]) + int(ordered[middle])) / 2


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


def project_figures(
    *, project: Project, progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Every team figure of ``project``, JSON-ready.

    ``report`` is the object ``project_report --json`` prints; ``distribution`` (submitted
    answers per label slug), ``kappa_shared`` (segments each pair both answered),
    ``timeline`` and ``answers_read`` are for the dashboard. ``progress`` is called with the
    share of the work done (0-1) after each read and at the end.

    One streaming read of the answers (labels aggregated per answer by the database) into
    numpy arrays; every count below is vectorised (``bincount``/``reduceat`` per annotator
    or per segment), agreement by ``agreement_from_arrays``.
    """
    # Imported here: scikit-learn, nltk and numpy take seconds and ~120 MB to load, which
    # web processes (the dashboard only reads stored figures) should not pay.
    import numpy as np

    from .agreement import agreement_from_arrays

    labels = list(Label.objects.filter(label_set_id=project.label_set_id))
    slugs = {label.pk: label.slug for label in labels}
    k = project.annotators_per_segment
    report_progress = progress or (lambda done: None)
    columns = _answer_columns(project, progress=report_progress)
    gold_segments, gold_values = _gold_values(project, columns)
    answers_read = len(columns.segment)
    submitted = columns.submitted

    # Per annotator.
    annotator_ids, coder = np.unique(columns.annotator, return_inverse=True)
    n_coders = len(annotator_ids)

    def per_annotator(mask: np.ndarray) -> list[int]:
        return np.bincount(coder[mask], minlength=n_coders).tolist()

    # Each answer's segment's gold value, or -1.
    if len(gold_segments):
        at = np.minimum(np.searchsorted(gold_segments, columns.segment), len(gold_segments) - 1)
        has_gold = gold_segments[at] == columns.segment
        answer_gold = np.where(has_gold, gold_values[at], -1)
    else:
        has_gold = np.zeros(answers_read, dtype=bool)
        answer_gold = np.full(answers_read, -1)
    scored = submitted & has_gold
    by_coder = np.lexsort((columns.time_ms, coder))
    times = columns.time_ms[by_coder]
    bounds = np.r_[0, np.cumsum(np.bincount(coder, minlength=n_coders))].tolist()
    annotators = {
        int(pk): _Annotator(
            submitted=s, skipped=n, unsure=u, fast=f, gold_answers=g, gold_matches=m
        )
        for pk, s, n, u, f, g, m in zip(
            annotator_ids.tolist(),
            per_annotator(submitted),
            per_annotator(~submitted),
            per_annotator(columns.unsure),
            per_annotator(columns.time_ms < FAST_DECISION_MS),
            per_annotator(scored),
            per_annotator(scored & (columns.value == answer_gold)),
            strict=True,
        )
    }
    medians = {
        int(pk): _median(times[bounds[i] : bounds[i + 1]])
        for i, pk in enumerate(annotator_ids.tolist())
    }
    value_counts = np.bincount(columns.value[submitted], minlength=len(columns.values)).tolist()
    distribution: Counter[int] = Counter()
    for labels_of_value, count in zip(columns.values, value_counts, strict=True):
        for label_id in labels_of_value:
            distribution[label_id] += count
    hours, per_hour = np.unique(columns.hour[submitted], return_counts=True)
    answer_hours = Counter(dict(zip(hours.tolist(), per_hour.tolist(), strict=True)))

    # Per segment (answers are in segment order).
    new_segment = np.ones(answers_read, dtype=bool)
    new_segment[1:] = columns.segment[1:] != columns.segment[:-1]
    segment_of = np.cumsum(new_segment) - 1
    starts = np.flatnonzero(new_segment)
    n_segments = len(starts)
    if n_segments:
        ratings = np.add.reduceat(submitted.astype(np.int64), starts)
        flagged = np.maximum.reduceat(columns.unsure | columns.commented, starts)
    else:
        ratings, flagged = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    lowest = np.full(n_segments, len(columns.values))
    highest = np.full(n_segments, -1)
    np.minimum.at(lowest, segment_of[submitted], columns.value[submitted])
    np.maximum.at(highest, segment_of[submitted], columns.value[submitted])
    segment_gold = has_gold[starts]
    awaiting_review = int(
        np.count_nonzero(~segment_gold & (ratings >= k) & (flagged | (highest > lowest)))
    )
    # Complete: at least k submitted answers; it became complete at its k-th earliest one.
    complete = ratings >= k
    segments_complete = int(np.count_nonzero(complete))
    submitted_segment = segment_of[submitted]
    submitted_hours = columns.hour[submitted]
    in_order = np.lexsort((submitted_hours, submitted_segment))
    first_submitted = np.cumsum(ratings) - ratings
    kth = first_submitted[complete] + (k - 1 if k > 0 else ratings[complete] - 1)
    hours, per_hour = np.unique(submitted_hours[in_order][kth], return_counts=True)
    complete_hours = Counter(dict(zip(hours.tolist(), per_hour.tolist(), strict=True)))

    report_progress(0.9)
    figures = agreement_from_arrays(
        unit=submitted_segment,
        coder=coder[submitted],
        value=columns.value[submitted],
        coders=annotator_ids.tolist(),
        values=columns.values,
        labels=[label.pk for label in labels],
        multi_label=project.multi_label,
    )

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
            "median_seconds": round(medians[pk] / 1000, 1),
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
# "N awaiting review" likewise, up to this many.
AWAITING_CAP = 10_000


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
            .update(status=ProjectFigures.Status.QUEUED, requested_at=now, progress=None)
        )
        if not queued:
            return False
    transaction.on_commit(lambda: figures_compute.enqueue(project.pk))
    return True


def figures_refresh(*, project_id: int) -> None:
    """Compute ``project_id``'s figures and store them (the background task's body).

    While it runs, ``progress`` (percent) is updated after each step for the dashboard.
    """
    started_at = timezone.now()
    rows = ProjectFigures.objects.filter(project_id=project_id)
    rows.update(status=ProjectFigures.Status.RUNNING, started_at=started_at, progress=0)
    project = Project.objects.select_related("collection").filter(pk=project_id).first()
    if project is None:
        return

    def progress(done: float) -> None:
        rows.update(progress=min(99, round(100 * done)))

    clock = time.perf_counter()
    try:
        data = project_figures(project=project, progress=progress)
    except Exception as error:
        rows.update(
            status=ProjectFigures.Status.FAILED,
            progress=None,
            error=f"{type(error).__name__}: {error}",
        )
        raise
    rows.update(
        status=ProjectFigures.Status.DONE,
        data=data,
        computed_at=started_at,
        duration_ms=round((time.perf_counter() - clock) * 1000),
        progress=None,
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
    gold: dict[str, int]  # gold labels by source and segments awaiting review, all live

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
        gold={**gold_counts(project=project), "awaiting_review": _awaiting_review(project)},
    )


def _awaiting_review(project: Project) -> int:
    """Segments in the review queue, live, counted up to a cap (on the queue's partial index,
    so it costs what the queue costs, not a pass over the segments)."""
    from .review import review_queue

    return review_queue(project).order_by()[:AWAITING_CAP].count()
