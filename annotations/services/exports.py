"""Dataset exports: a project's labels as reproducible files (JSONL, CSV, Parquet, a folder).

``export_create`` records what to export; ``export_start`` also queues it for the background
worker; ``export_build`` does the work, from the command line or from the worker's task
(``annotations.tasks.export_run``). The rows are read in one snapshot (a REPEATABLE READ,
read-only transaction on PostgreSQL), streamed in chunks from a server-side cursor, and
written into a temporary file beside the target that replaces it only when everything was
written: a failed export leaves its reason on the record and no file to download.

Nothing written depends on the clock: the same data and options give the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from ..exporting.card import CardFacts, dataset_card
from ..exporting.columns import (
    GOLD_COLUMNS,
    LABELS_INDEX,
    MAJORITY_COLUMNS,
    RAW_COLUMNS,
    Column,
)
from ..exporting.splitting import SPLIT_NAMES, assign_splits, parse_ratios
from ..exporting.writers import (
    CsvWriter,
    FileInfo,
    JsonlWriter,
    ParquetWriter,
    RowWriter,
    encode_json_string,
    file_sha256,
)
from ..models import Export, Project

if TYPE_CHECKING:
    import numpy as np

    from .agreement import AgreementCounter

FORMATS = ("jsonl", "csv", "parquet", "folder")
LABEL_MODES = ("raw", "majority", "gold")
EXTENSIONS = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet", "folder": ".zip"}
FETCH_ROWS = 2_000
# Raw JSONL on PostgreSQL is formatted by the database (see _write_json_lines).
SQL_JSON_LINES = True
# Progress is written at most this often: a poll every second needs no more.
PROGRESS_SECONDS = 0.5

ProgressCallback = Callable[[int, int], None]


class ExportRefused(ValueError):
    """The options cannot make an export (the message says why); nothing was written."""


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What to export; stored on the ``Export`` record as JSON."""

    format: str = "jsonl"
    labels: str = "raw"
    min_answers: int | None = None  # majority: default the project's annotators per segment
    exclude_unsure: bool = False
    split: tuple[float, float, float] | None = None
    seed: int = 0
    real_names: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ExportRefused(f"Format {self.format!r}: use one of {', '.join(FORMATS)}.")
        if self.labels not in LABEL_MODES:
            raise ExportRefused(f"Labels {self.labels!r}: use one of {', '.join(LABEL_MODES)}.")
        if self.min_answers is not None and self.min_answers < 1:
            raise ExportRefused("At least 1 answer is needed for a majority.")
        if self.split is not None:
            try:
                parse_ratios(",".join(str(r) for r in self.split))
            except ValueError as exc:
                raise ExportRefused(str(exc)) from None
            if self.format != "folder":
                raise ExportRefused("Splits are written as a folder: use --format folder.")

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["split"] = list(self.split) if self.split else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExportOptions:
        split = data.get("split")
        return cls(
            format=str(data.get("format", "jsonl")),
            labels=str(data.get("labels", "raw")),
            min_answers=data.get("min_answers"),
            exclude_unsure=bool(data.get("exclude_unsure", False)),
            split=(float(split[0]), float(split[1]), float(split[2])) if split else None,
            seed=int(data.get("seed", 0)),
            real_names=bool(data.get("real_names", False)),
        )


@dataclass(slots=True)
class ExportResult:
    """What an export made: counts, skipped segments by reason, and each file's checksum."""

    export: Export
    path: Path
    rows: int
    rows_per_split: dict[str, int]
    skipped: dict[str, int]
    files: list[FileInfo]
    size: int
    sha256: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "export_id": self.export.pk,
            "project": self.export.project.slug,
            "path": str(self.path),
            "options": self.export.options,
            "rows": self.rows,
            "rows_per_split": self.rows_per_split,
            "skipped": self.skipped,
            "files": [info.as_dict() for info in self.files],
            "bytes": self.size,
            "sha256": self.sha256,
        }


# --- Entry points -------------------------------------------------------------------------


def export_create(*, project: Project, options: ExportOptions, by: User | None) -> Export:
    """Record an export of ``project`` with ``options``, queued and not started."""
    if options.labels == "gold" and not gold_available():
        raise ExportRefused("Gold labels are not available in this version.")
    return Export.objects.create(
        project=project, options=options.as_dict(), created_by=by, status=Export.Status.QUEUED
    )


def export_start(*, project: Project, options: ExportOptions, by: User | None) -> Export:
    """Record an export and queue it for the background worker once this transaction commits."""
    from ..tasks import export_run

    export = export_create(project=project, options=options, by=by)
    transaction.on_commit(lambda: export_run.enqueue(export.pk))
    return export


def export_root() -> Path:
    return Path(settings.THEMATA_EXPORT_ROOT)


def export_default_path(export: Export) -> Path:
    """Where an export started in the app or the admin writes its file: its own folder."""
    options = ExportOptions.from_dict(export.options)
    name = f"{export.project.slug}-{options.labels}{EXTENSIONS[options.format]}"
    return export_root() / str(export.pk) / name


def export_file_for_download(export: Export) -> Path | None:
    """The finished file of ``export`` if it is one the app may serve, else None."""
    return export.file_for_download()


def export_run_queued(*, export_id: int) -> None:
    """The background task's body: build a queued export into its own folder.

    Exports whose worker died are marked failed first (``exports_fail_stale``). A failure
    is recorded on the export (``export_build`` does that); it is not raised again, so the
    worker's own record of the task says it ran.
    """
    exports_fail_stale()
    export = Export.objects.select_related("project").get(pk=export_id)
    if export.status != Export.Status.QUEUED:
        return
    with contextlib.suppress(ExportRefused, OSError, RuntimeError, ValueError):
        export_build(export=export, out=export_default_path(export))


def export_build(
    *, export: Export, out: Path, on_progress: ProgressCallback | None = None
) -> ExportResult:
    """Write ``export`` to ``out`` (a file; for ``folder`` a directory, or a zip when ``out``
    ends in ``.zip``) and record the outcome on ``export``.

    Raises ``ExportRefused`` for options the data cannot satisfy and re-raises any other
    failure, after marking the export ``failed`` with the reason.
    """
    options = ExportOptions.from_dict(export.options)
    out = Path(out).absolute()
    now = timezone.now()
    # ``path`` is the target from the start: where a stale export's partial files are.
    Export.objects.filter(pk=export.pk).update(
        status=Export.Status.RUNNING, started_at=now, progress_at=now, path=str(out), error=""
    )
    try:
        outcome = _build(export, options, out, on_progress)
    except Exception as exc:
        reason = str(exc) or exc.__class__.__name__
        Export.objects.filter(pk=export.pk, status=Export.Status.RUNNING).update(
            status=Export.Status.FAILED, finished_at=timezone.now(), error=reason[:2000]
        )
        export.refresh_from_db()
        raise
    files, rows, per_split, skipped = outcome
    size = sum(info.size for info in files)
    if len(files) == 1:
        digest = files[0].sha256
    else:
        # A folder: the hash of its manifest (one "sha256  name" line per file, sorted).
        manifest = "".join(f"{info.sha256}  {info.name}\n" for info in sorted(files, key=_name))
        digest = hashlib.sha256(manifest.encode()).hexdigest()
    succeeded = Export.objects.filter(pk=export.pk, status=Export.Status.RUNNING).update(
        status=Export.Status.SUCCEEDED,
        finished_at=timezone.now(),
        rows=rows,
        rows_done=rows,
        rows_per_split=per_split,
        skipped=skipped,
        files=[info.as_dict() for info in files],
        path=str(out),
        size=size,
        sha256=digest,
    )
    export.refresh_from_db()
    if not succeeded:
        # Declared lost while it ran (its heartbeat stopped for too long): the record says
        # so, and a file it does not vouch for is not left behind.
        _remove(out)
        raise ExportRefused(f"Export #{export.pk} was marked failed while it ran: {export.error}")
    return ExportResult(export, out, rows, per_split, skipped, files, size, digest)


def export_stale_after() -> timedelta:
    return timedelta(minutes=settings.THEMATA_EXPORT_STALE_MINUTES)


def exports_fail_stale(*, project: Project | None = None) -> list[int]:
    """Mark failed every running export (of ``project``, or of all projects) whose heartbeat
    is older than ``THEMATA_EXPORT_STALE_MINUTES``, and remove its partial files.

    Its worker was killed or its machine stopped: nothing will finish it. Returns the ids
    marked. Each is one conditional UPDATE, so two callers never both claim an export.
    """
    cutoff = timezone.now() - export_stale_after()
    running = Export.objects.filter(status=Export.Status.RUNNING).filter(
        Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True, started_at__lt=cutoff)
    )
    if project is not None:
        running = running.filter(project=project)
    failed = []
    for pk, path, heartbeat in running.values_list("pk", "path", "progress_at"):
        reason = (
            "Its worker stopped: no progress"
            + (f" since {heartbeat:%Y-%m-%d %H:%M:%S %Z}" if heartbeat else "")
            + f" for more than {settings.THEMATA_EXPORT_STALE_MINUTES} minutes (the worker"
            " was killed or its machine stopped). Partial files were removed; start a new"
            " export."
        )
        claimed = (
            Export.objects.filter(pk=pk, status=Export.Status.RUNNING)
            .filter(Q(progress_at__lt=cutoff) | Q(progress_at__isnull=True))
            .update(status=Export.Status.FAILED, finished_at=timezone.now(), error=reason)
        )
        if claimed:
            failed.append(pk)
            if path:
                _remove_partial(Path(path), pk)
    return failed


def _partial_prefix(out: Path, export_id: int) -> str:
    """The name every temporary folder of export ``export_id`` writing ``out`` starts with."""
    return f".{out.name}.export-{export_id}."


def _remove_partial(out: Path, export_id: int) -> None:
    if not out.parent.is_dir():
        return
    for path in out.parent.glob(_partial_prefix(out, export_id) + "*"):
        shutil.rmtree(path, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _name(info: FileInfo) -> str:
    return info.name


def gold_available() -> bool:
    """Whether this version has gold labels (the review screen makes them)."""
    from .. import models

    return hasattr(models, "GoldLabel")


# --- Building ---------------------------------------------------------------------------


@dataclass(slots=True)
class _Labels:
    ids: list[int]
    slugs: list[str]
    rank: dict[int, int]  # label id -> index in label-set order
    records: list[dict[str, Any]]


@dataclass(slots=True)
class _Stats:
    """What the rows streaming past tell the card (the row-by-row path)."""

    gold_sources: Counter[str] = field(default_factory=Counter)


class _Progress:
    """Writes rows done/total onto the export now and then, outside the snapshot."""

    def __init__(
        self, export: Export, callback: ProgressCallback | None, conn: BaseDatabaseWrapper
    ) -> None:
        self.export_id = export.pk
        self.callback = callback
        self.conn = conn
        self.total = 0
        self.done = 0
        self.last = 0.0

    def start(self, total: int) -> None:
        self.total = total
        self._write()

    def expect(self, remaining: int) -> None:
        """Now that it is known: ``remaining`` more rows to go."""
        self.total = self.done + remaining

    def step(self, rows: int = 1) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self._write()

    def _busy(self) -> bool:
        """Whether the connection is in the middle of a COPY (progress then shares the
        reading connection: inside a caller's transaction), so the write must wait."""
        if self.conn.vendor != "postgresql" or self.conn.connection is None:
            return False
        from psycopg import pq

        return bool(self.conn.connection.pgconn.transaction_status == pq.TransactionStatus.ACTIVE)

    def beat(self) -> None:
        """A heartbeat without new rows (a long step), at most every ``PROGRESS_SECONDS``."""
        self.step(0)

    def _write(self) -> None:
        if self._busy():
            if self.callback:
                self.callback(self.done, self.total)
            return
        # The heartbeat moves with the progress: ``exports_fail_stale`` reads it.
        with self.conn.cursor() as cursor:
            cursor.execute(
                "UPDATE annotations_export SET rows_done = %s, rows_total = %s,"
                " progress_at = %s WHERE id = %s",
                [self.done, self.total, timezone.now(), self.export_id],
            )
        if self.callback:
            self.callback(self.done, self.total)


@contextlib.contextmanager
def _snapshot() -> Iterator[tuple[BaseDatabaseWrapper, BaseDatabaseWrapper]]:
    """(reading connection, progress connection): one snapshot for every read.

    On PostgreSQL outside any transaction, the reads share a REPEATABLE READ, read-only
    transaction, and progress goes through a second connection so that it is seen while
    the export runs. Inside a caller's transaction (tests), that transaction is the snapshot.
    """
    conn = connections["default"]
    if conn.vendor != "postgresql" or conn.in_atomic_block:
        yield conn, conn
        return
    progress_conn = connections.create_connection("default")
    try:
        with transaction.atomic():
            with conn.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn, progress_conn
    finally:
        progress_conn.close()


def _return_freed_memory() -> None:
    """Have glibc give large freed blocks back to the system at once.

    glibc raises its mmap threshold each time a large block is freed, after which numpy's
    short-lived arrays come from the heap and stay counted in the process's memory: a
    split folder over a million answers peaked at 251 MB, 235 MB with the threshold fixed
    at its 128 KiB default. Elsewhere (no glibc) this does nothing.
    """
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(name).mallopt(-3, 128 * 1024)  # M_MMAP_THRESHOLD


def _build(
    export: Export, options: ExportOptions, out: Path, callback: ProgressCallback | None
) -> tuple[list[FileInfo], int, dict[str, int], dict[str, int]]:
    project = export.project
    _return_freed_memory()
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(
        tempfile.mkdtemp(prefix=_partial_prefix(out, export.pk), suffix=".partial", dir=out.parent)
    )
    try:
        with _snapshot() as (conn, progress_conn):
            progress = _Progress(export, callback, progress_conn)
            source = _Source(conn, project, options)
            progress.start(_expected_rows(source, options))
            if options.format == "folder":
                files, rows, per_split, skipped = _write_folder(
                    source, options, work, out, progress, export
                )
            else:
                files, rows, skipped = _write_file(source, options, work, out, progress)
                per_split = {}
            progress.done = rows
        if options.format == "folder" and out.suffix.lower() == ".zip":
            zipped = work / "dataset.zip"
            _zip_folder(work / "dataset", zipped)
            _replace(zipped, out)
            files = [FileInfo(out.name, out.stat().st_size, file_sha256(out), rows)]
        elif options.format == "folder":
            _replace(work / "dataset", out)
        else:
            _replace(work / "data", out)
            files = [FileInfo(out.name, files[0].size, files[0].sha256, files[0].rows)]
        return files, rows, per_split, skipped
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _replace(source: Path, target: Path) -> None:
    """Put ``source`` where ``target`` is, in one rename when both are files."""
    if target.is_dir() and not target.is_symlink():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
        source.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(source, target)


def _zip_folder(folder: Path, target: Path) -> None:
    """Zip ``folder``'s files in name order with a fixed date: the same files, the same zip."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        for path in sorted(folder.iterdir()):
            info = zipfile.ZipInfo(path.name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with path.open("rb") as source, zf.open(info, "w", force_zip64=True) as sink:
                shutil.copyfileobj(source, sink, 1 << 20)


def _columns(options: ExportOptions) -> tuple[Column, ...]:
    return {"raw": RAW_COLUMNS, "majority": MAJORITY_COLUMNS, "gold": GOLD_COLUMNS}[options.labels]


def _expected_rows(source: _Source, options: ExportOptions) -> int:
    """What the progress bar counts to: the answers read once for a folder (or the
    database's lines), a first pass for a split row by row, then the rows written (for
    majority and gold an upper bound until the answers are read)."""
    rows = source.total_rows()
    fast = _fast(source)
    reads_answers = options.format == "folder" or (
        fast and options.format == "jsonl" and options.labels != "raw"
    )
    answers = source.answer_total() if reads_answers else 0
    first_pass = rows if options.split and not fast else 0
    return answers + first_pass + rows


def _fast(source: _Source) -> bool:
    """Whether PostgreSQL builds the JSON lines (see ``_Source.lines_sql``)."""
    return SQL_JSON_LINES and source.postgres and source.masks_fit()


def _write_file(
    source: _Source, options: ExportOptions, work: Path, out: Path, progress: _Progress
) -> tuple[list[FileInfo], int, dict[str, int]]:
    columns = _columns(options)
    path = work / "data"
    if options.format == "jsonl" and _fast(source):
        plan = None
        if options.labels != "raw":
            plan = _plan(source, progress, agreement=False, majority=options.labels == "majority")
            progress.expect(plan.rows)
        sink = _LineSink(path)
        _copy_lines(source.conn, *source.lines_sql(plan, None), [sink], progress)
        info = sink.close()
        if plan is not None:
            _check_rows(info.rows, plan.rows)
            source.skipped = plan.skipped
        return [info], info.rows, source.skipped
    writer: RowWriter
    if options.format == "csv":
        writer = CsvWriter(path, columns, source.labels.slugs)
    elif options.format == "parquet":
        writer = ParquetWriter(path, columns)
    else:
        writer = JsonlWriter(path, columns)
    for row in source.rows():
        writer.write(row[:-1])
        progress.step()
    info = writer.close()
    return [info], info.rows, source.skipped


def _check_rows(written: int, planned: int) -> None:
    if written != planned:
        raise RuntimeError(f"The export wrote {written:,} rows where it planned {planned:,}.")


def _write_folder(
    source: _Source,
    options: ExportOptions,
    work: Path,
    out: Path,
    progress: _Progress,
    export: Export,
) -> tuple[list[FileInfo], int, dict[str, int], dict[str, int]]:
    import numpy as np

    folder = work / "dataset"
    folder.mkdir()
    names: Sequence[str] = SPLIT_NAMES if options.split else ("data",)
    slugs = source.labels.slugs
    fast = _fast(source)
    # The answers once: the card's agreement figures and, for splits or the database's
    # lines, each unit's label counts (and the majorities).
    plan = _plan(source, progress, agreement=True, majority=fast and options.labels == "majority")
    split_of: dict[int, int] | None = None
    if options.split:
        if not fast:
            plan.unit_counts = _unit_counts_by_rows(source, progress)
        units = sorted(plan.unit_counts)
        splits = assign_splits(
            [np.flatnonzero(plan.unit_counts[unit]).tolist() for unit in units],
            label_count=len(slugs),
            ratios=options.split,
            seed=options.seed,
        )
        split_of = dict(zip(units, splits, strict=True))
    if fast:
        progress.expect(plan.rows)
        sinks = [_LineSink(folder / f"{name}.jsonl") for name in names]
        _copy_lines(source.conn, *source.lines_sql(plan, split_of), sinks, progress)
        infos = [sink.close() for sink in sinks]
        _check_rows(sum(info.rows for info in infos), plan.rows)
        totals = [np.zeros(len(slugs), dtype=np.int64) for _ in names]
        for unit, counts in plan.unit_counts.items():
            totals[split_of[unit] if split_of is not None else 0] += counts
        label_counts = [
            {slug: int(n) for slug, n in zip(slugs, total.tolist(), strict=True) if n}
            for total in totals
        ]
        if options.labels != "raw":
            source.skipped = plan.skipped
    else:
        columns = _columns(options)
        writers = [JsonlWriter(folder / f"{name}.jsonl", columns) for name in names]
        counters = [Counter[str]() for _ in names]
        for row in source.rows():
            index = split_of[row[-1]] if split_of is not None else 0
            writers[index].write(row[:-1])
            counters[index].update(row[LABELS_INDEX])
            progress.step()
        infos = [writer.close() for writer in writers]
        label_counts = [dict(counts) for counts in counters]
        plan.gold_sources = source.stats.gold_sources
    rows = sum(info.rows for info in infos)
    per_split = {name: info.rows for name, info in zip(names, infos, strict=True)}

    labels_json = json.dumps(source.labels.records, ensure_ascii=False, indent=2) + "\n"
    (folder / "labels.json").write_text(labels_json, encoding="utf-8")
    facts = CardFacts(
        project_name=export.project.name,
        project_description=export.project.description,
        multi_label=export.project.multi_label,
        language=settings.THEMATA_EXPORT_LANGUAGE,
        columns=[column.name for column in _columns(options)],
        labels=source.labels.records,
        options=options.as_dict() | {"min_answers": source.min_answers},
        split_rows=per_split,
        split_label_counts=dict(zip(names, label_counts, strict=True)),
        skipped=source.skipped,
        agreement=source.agreement(plan),
    )
    (folder / "README.md").write_text(dataset_card(facts), encoding="utf-8")
    files = [*infos]
    for name in ("labels.json", "README.md"):
        path = folder / name
        files.append(FileInfo(name, path.stat().st_size, file_sha256(path), 0))
    return sorted(files, key=_name), rows, per_split, source.skipped


def _unit_counts_by_rows(source: _Source, progress: _Progress) -> dict[int, np.ndarray]:
    """Row by row (the reference path): each unit's label counts over the rows to write."""
    import numpy as np

    rank = {slug: n for n, slug in enumerate(source.labels.slugs)}
    counts: dict[int, np.ndarray] = {}
    for row in source.rows(light=True):
        unit = counts.get(row[-1])
        if unit is None:
            unit = counts[row[-1]] = np.zeros(len(rank), dtype=np.int64)
        for slug in row[LABELS_INDEX]:
            unit[rank[slug]] += 1
        progress.step()
    return counts


# --- Reading ----------------------------------------------------------------------------


def _natural(name: str) -> tuple[Any, ...]:
    """``annotator-2`` before ``annotator-10``."""
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name))


def _aware(value: Any) -> datetime | None:
    """A database timestamp as an aware UTC datetime (SQLite hands back naive or text)."""
    if value is None:
        return None
    moment: datetime | None = parse_datetime(value) if isinstance(value, str) else value
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


class _Source:
    """The rows of one export, read in chunks from one connection.

    Each row is a tuple in the columns' order, followed by its unit key (the article, or
    the first article of its near-duplicate group), which is not written.
    """

    def __init__(self, conn: BaseDatabaseWrapper, project: Project, options: ExportOptions):
        self.conn = conn
        self.project = project
        self.options = options
        self.postgres = conn.vendor == "postgresql"
        self.min_answers = options.min_answers or project.annotators_per_segment
        self.skipped: dict[str, int] = {}
        self.stats = _Stats()
        self.labels = self._read_labels()
        self._slug_memo: dict[str | None, list[str]] = {}
        # The unit a split keeps whole: the article's near-duplicate group.
        self._unit = "COALESCE(ar.duplicate_of_id, ar.id)"

    # Small reads ---------------------------------------------------------------------

    def _all(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.conn.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())

    def _read_labels(self) -> _Labels:
        rows = self._all(
            "SELECT id, slug, name, color, description, active FROM annotations_label"
            ' WHERE label_set_id = %s ORDER BY "order", name, id',
            [self.project.label_set_id],
        )
        return _Labels(
            ids=[row[0] for row in rows],
            slugs=[row[1] for row in rows],
            rank={row[0]: n for n, row in enumerate(rows)},
            records=[
                {
                    "slug": slug,
                    "name": name,
                    "color": color,
                    "guideline": description,
                    "active": bool(active),
                }
                for _, slug, name, color, description, active in rows
            ],
        )

    def _annotator_names(self) -> dict[int, str]:
        ids = [
            row[0]
            for row in self._all(
                "SELECT DISTINCT annotator_id FROM annotations_annotation"
                " WHERE project_id = %s ORDER BY annotator_id",
                [self.project.pk],
            )
        ]
        if self.options.real_names:
            names = dict(self._all("SELECT id, username FROM auth_user", []))
            return {pk: names[pk] for pk in ids}
        # Numbered by account age within the project: a newcomer never renumbers the others.
        return {pk: f"annotator-{n}" for n, pk in enumerate(ids, start=1)}

    def answer_total(self) -> int:
        sql = "SELECT COUNT(*) FROM annotations_annotation WHERE project_id = %s"
        return int(self._all(sql, [self.project.pk])[0][0])

    def total_rows(self) -> int:
        """How many rows the progress bar counts to (an upper bound for majority)."""
        if self.options.labels == "raw":
            sql = "SELECT COUNT(*) FROM annotations_annotation WHERE project_id = %s"
            return int(self._all(sql, [self.project.pk])[0][0])
        if self.options.labels == "gold":
            sql = "SELECT COUNT(*) FROM annotations_goldlabel WHERE project_id = %s"
            return int(self._all(sql, [self.project.pk])[0][0])
        return self._segment_total()

    def _segment_total(self) -> int:
        sql = (
            "SELECT COUNT(*) FROM articles_segment s JOIN articles_article ar"
            " ON ar.id = s.article_id WHERE ar.collection_id = %s"
        )
        return int(self._all(sql, [self.project.collection_id])[0][0])

    def agreement(self, plan: _Plan) -> dict[str, Any]:
        """The card's agreement figures (``services.agreement``) over the submitted answers
        read in this export's snapshot; annotators named as in a raw export."""
        counter = plan.counter
        assert counter is not None
        figures = counter.figures()
        names = self._annotator_names()
        slugs = self.labels.slugs
        kappa = [
            {
                "annotators": sorted((names[a], names[b]), key=_natural),
                "kappa": value,
                "segments": figures.shared_units.get((a, b), 0),
            }
            for (a, b), value in figures.kappa.items()
        ]
        result: dict[str, Any] = {
            "submitted_answers": plan.submitted,
            "segments_with_two_or_more_answers": figures.units,
            "segments_where_all_answers_agree": plan.unanimous,
            "pairs_of_answers": figures.pairs,
            "alpha_masi": figures.alpha_masi,
            "exact_agreement": figures.exact_agreement,
            "labels": {
                slugs[rank]: {
                    "alpha": value.alpha,
                    "percent_agreement": value.percent_agreement,
                }
                for rank, value in figures.labels.items()
            },
            "kappa": sorted(kappa, key=lambda k: [_natural(n) for n in k["annotators"]]),
        }
        if plan.gold_sources:
            result["gold_sources"] = dict(sorted(plan.gold_sources.items()))
        return result

    # Streaming ---------------------------------------------------------------------------

    def _stream(self, sql: str, params: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        cursor = self.conn.chunked_cursor()
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(FETCH_ROWS):
                yield from rows
        finally:
            cursor.close()

    def _label_ids(self, alias: str) -> str:
        aggregate = (
            "string_agg(al.label_id::text, ',')"
            if self.postgres
            else "group_concat(al.label_id, ',')"
        )
        return (
            f"(SELECT {aggregate} FROM annotations_annotationlabel al"
            f" WHERE al.annotation_id = {alias}.id)"
        )

    def _segment_columns(self, light: bool) -> str:
        if light:
            return "s.id, s.article_id, '', '', '', NULL, s.position, s.start, s.\"end\", ''"
        return (
            "s.id, s.article_id, ar.external_id, ar.title, ar.source_url, ar.published_at,"
            ' s.position, s.start, s."end", s.text'
        )

    def _slugs(self, ids: str | None) -> list[str]:
        """Label ids as the database aggregated them → slugs in label-set order (memoised:
        a label set has few combinations, a project a million answers)."""
        found = self._slug_memo.get(ids)
        if found is None:
            rank = self.labels.rank
            slugs = self.labels.slugs
            found = [slugs[n] for n in sorted(rank[int(i)] for i in ids.split(","))] if ids else []
            self._slug_memo[ids] = found
        return found

    def rows(self, *, light: bool = False) -> Iterator[tuple[Any, ...]]:
        if self.options.labels == "raw":
            return self._raw_rows(light)
        if self.options.labels == "majority":
            return self._majority_rows(light)
        return self._gold_rows(light)

    def query(self, *, light: bool = False) -> tuple[str, list[Any]]:
        """The SQL and parameters of the row stream (``light``: without the text columns)."""
        if self.options.labels == "raw":
            return self._raw_sql(light)
        if self.options.labels == "majority":
            return self._majority_sql(light)
        return self._gold_sql(light)

    def _raw_sql(self, light: bool) -> tuple[str, list[Any]]:
        sql = (
            f"SELECT {self._segment_columns(light)}, {self._label_ids('a')},"
            " a.annotator_id, a.status, a.unsure, a.comment, a.time_spent_ms, a.version,"
            f" a.created_at, a.updated_at, {self._unit}"
            " FROM annotations_annotation a"
            " JOIN articles_segment s ON s.id = a.segment_id"
            " JOIN articles_article ar ON ar.id = s.article_id"
            " WHERE a.project_id = %s ORDER BY a.segment_id, a.annotator_id"
        )
        return sql, [self.project.pk]

    # One pass over the answers (``_plan``) and the database's JSON lines ------------------

    def masks_fit(self) -> bool:
        return len(self.labels.ids) <= MASK_LABELS

    def _rank_sql(self, column: str) -> str:
        """A label id → its rank in label-set order (ids are integers from the database)."""
        cases = " ".join(f"WHEN {int(pk)} THEN {rank}" for pk, rank in self.labels.rank.items())
        return f"CASE {column} {cases} END" if cases else "0"

    def _mask_sql(self, table: str, key: str, owner: str) -> str:
        """The label set of each ``owner`` row as a BIGINT bit mask (bit n: rank n)."""
        one = "CAST(1 AS BIGINT)"
        return (
            f"CAST(COALESCE((SELECT SUM({one} << {self._rank_sql('x.label_id')})"
            f" FROM {table} x WHERE x.{key} = {owner}), 0) AS BIGINT)"
        )

    def answers_sql(self) -> tuple[str, list[Any]]:
        """Every answer as (segment, unit, annotator, label mask, flags), in segment order."""
        flags = (
            f"CASE WHEN a.status = 'submitted' THEN {SUBMITTED} ELSE 0 END"
            f" + CASE WHEN a.unsure THEN {UNSURE} ELSE 0 END"
        )
        sql = (
            f"SELECT CAST(a.segment_id AS BIGINT), CAST({self._unit} AS BIGINT),"
            f" CAST(a.annotator_id AS BIGINT),"
            f" {self._mask_sql('annotations_annotationlabel', 'annotation_id', 'a.id')},"
            f" CAST({flags} AS BIGINT)"
            " FROM annotations_annotation a"
            " JOIN articles_segment s ON s.id = a.segment_id"
            " JOIN articles_article ar ON ar.id = s.article_id"
            " WHERE a.project_id = %s ORDER BY a.segment_id, a.annotator_id"
        )
        return sql, [self.project.pk]

    def _int_blocks(self, sql: str, params: list[Any], columns: int) -> Iterator[np.ndarray]:
        import numpy as np

        if self.postgres:
            yield from _copy_int_blocks(self.conn, sql, params, columns)
            return
        cursor = self.conn.chunked_cursor()
        try:
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(ANSWER_BLOCK_ROWS):
                yield np.array(rows, dtype=np.int64).reshape(len(rows), columns)
        finally:
            cursor.close()

    def answer_blocks(
        self, index: dict[Any, int], values: list[frozenset[int]]
    ) -> Iterator[tuple[np.ndarray, ...]]:
        """The answers as arrays (segment, unit, annotator, value, flags), a block of whole
        segments at a time; ``value`` indexes ``values``, which grows as label sets appear."""
        import numpy as np

        if self.masks_fit():
            blocks = self._int_blocks(*self.answers_sql(), 5)
        else:
            blocks = self._wide_answer_blocks(index, values)
        carry: np.ndarray | None = None
        for block in blocks:
            if carry is not None:
                block = np.concatenate((carry, block))
            # Hold back the last segment: it may go on in the next block.
            last = np.flatnonzero(block[:, 0] != block[-1, 0])
            cut = int(last[-1]) + 1 if len(last) else 0
            carry = block[cut:]
            if cut:
                yield self._valued(block[:cut], index, values)
        if carry is not None and len(carry):
            yield self._valued(carry, index, values)

    def _valued(
        self, block: np.ndarray, index: dict[Any, int], values: list[frozenset[int]]
    ) -> tuple[np.ndarray, ...]:
        import numpy as np

        if self.masks_fit():
            masks, inverse = np.unique(block[:, 3], return_inverse=True)
            lookup = []
            for mask in masks.tolist():
                found = index.get(mask)
                if found is None:
                    found = index[mask] = len(values)
                    values.append(frozenset(n for n in range(64) if mask >> n & 1))
                lookup.append(found)
            value = np.asarray(lookup, dtype=np.int64)[inverse.reshape(-1)]
        else:
            value = block[:, 3]
        return block[:, 0], block[:, 1], block[:, 2], value, block[:, 4]

    def _wide_answer_blocks(
        self, index: dict[Any, int], values: list[frozenset[int]]
    ) -> Iterator[np.ndarray]:
        """More labels than a mask holds: label ids as text, made value indexes here."""
        import numpy as np

        flags = (
            f"CASE WHEN a.status = 'submitted' THEN {SUBMITTED} ELSE 0 END"
            f" + CASE WHEN a.unsure THEN {UNSURE} ELSE 0 END"
        )
        sql = (
            f"SELECT a.segment_id, {self._unit}, a.annotator_id, {self._label_ids('a')}, {flags}"
            " FROM annotations_annotation a"
            " JOIN articles_segment s ON s.id = a.segment_id"
            " JOIN articles_article ar ON ar.id = s.article_id"
            " WHERE a.project_id = %s ORDER BY a.segment_id, a.annotator_id"
        )
        rank = self.labels.rank
        block: list[tuple[int, int, int, int, int]] = []
        for segment, unit, annotator, ids, flag in self._stream(sql, [self.project.pk]):
            found = index.get(ids)
            if found is None:
                found = index[ids] = len(values)
                values.append(frozenset(rank[int(i)] for i in ids.split(",") if i))
            block.append((segment, unit, annotator, found, flag))
            if len(block) >= ANSWER_BLOCK_ROWS:
                yield np.array(block, dtype=np.int64)
                block = []
        if block:
            yield np.array(block, dtype=np.int64)

    def gold_blocks(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Each gold label's unit and label indicators, a block at a time."""
        import numpy as np

        width = len(self.labels.ids)
        if not self.masks_fit():
            for row in self._gold_rows(light=True):
                ranks = [self.labels.slugs.index(slug) for slug in row[LABELS_INDEX]]
                labels = np.zeros((1, width), dtype=np.int64)
                labels[0, ranks] = 1
                yield np.array([row[-1]], dtype=np.int64), labels
            return
        sql = (
            f"SELECT CAST({self._unit} AS BIGINT),"
            f" {self._mask_sql('annotations_goldlabellabel', 'gold_label_id', 'g.id')}"
            " FROM annotations_goldlabel g"
            " JOIN articles_segment s ON s.id = g.segment_id"
            " JOIN articles_article ar ON ar.id = s.article_id"
            " WHERE g.project_id = %s ORDER BY g.segment_id"
        )
        powers = np.left_shift(np.int64(1), np.arange(width, dtype=np.int64))
        for block in self._int_blocks(sql, [self.project.pk], 2):
            yield block[:, 0], ((block[:, 1:2] & powers) != 0).astype(np.int64)

    def gold_sources_sql(self) -> tuple[str, list[Any]]:
        return (
            "SELECT source, COUNT(*) FROM annotations_goldlabel WHERE project_id = %s"
            " GROUP BY source ORDER BY source",
            [self.project.pk],
        )

    def _labels_json_sql(self, mask: str) -> tuple[str, list[Any]]:
        """The JSON array of label slugs (label-set order) of a label mask: a lookup in one
        array of every combination up to ``LOOKUP_LABELS`` labels, else built per row."""
        encoded = [encode_json_string(slug) for slug in self.labels.slugs]
        if len(encoded) <= LOOKUP_LABELS:
            table = [
                "[" + ",".join(e for n, e in enumerate(encoded) if combo >> n & 1) + "]"
                for combo in range(1 << len(encoded))
            ]
            return f"(CAST(%s AS TEXT[]))[({mask}) + 1]", [table]
        return (
            "COALESCE((SELECT '[' || string_agg(e.j, ',' ORDER BY e.n) || ']'"
            " FROM unnest(CAST(%s AS TEXT[])) WITH ORDINALITY e(j, n)"
            f" WHERE ({mask}) & (CAST(1 AS BIGINT) << CAST(e.n - 1 AS INT)) <> 0), '[]')",
            [encoded],
        )

    def lines_sql(
        self, plan: _Plan | None, split_of: dict[int, int] | None
    ) -> tuple[str, list[Any]]:
        """PostgreSQL builds each row's JSON line (the same bytes as ``JsonlWriter``, which a
        test checks); with ``split_of`` (unit -> split) each line starts with its split."""

        def stamp(column: str) -> str:
            # Python's isoformat(): microseconds only when there are any, then +00:00.
            return (
                f"replace(to_char({column} AT TIME ZONE 'UTC',"
                """ 'YYYY-MM-DD"T"HH24:MI:SS.US'), '.000000', '') || '+00:00'"""
            )

        text = "to_json({})::text".format
        mode = self.options.labels
        head: list[str] = []
        joins = ""
        if mode == "raw":
            mask = self._mask_sql("annotations_annotationlabel", "annotation_id", "a.id")
            if self.options.real_names:
                names = (
                    "SELECT d.annotator_id, u.username AS name FROM (SELECT DISTINCT annotator_id"
                    " FROM annotations_annotation WHERE project_id = %s) d"
                    " JOIN auth_user u ON u.id = d.annotator_id"
                )
            else:
                names = (
                    "SELECT annotator_id,"
                    " 'annotator-' || row_number() OVER (ORDER BY annotator_id) AS name"
                    " FROM (SELECT DISTINCT annotator_id FROM annotations_annotation"
                    " WHERE project_id = %s) d"
                )
            head = [f"WITH names AS ({names})"]
            source_rows = (
                " FROM annotations_annotation a"
                " JOIN names n ON n.annotator_id = a.annotator_id"
                " JOIN articles_segment s ON s.id = a.segment_id"
                " JOIN articles_article ar ON ar.id = s.article_id"
            )
            where = " WHERE a.project_id = %s ORDER BY a.segment_id, a.annotator_id"
            tail = [
                """',"annotator":'""",
                text("n.name"),
                """',"status":'""",
                text("a.status"),
                """',"unsure":'""",
                "CASE WHEN a.unsure THEN 'true' ELSE 'false' END",
                """',"comment":'""",
                text("a.comment"),
                """',"time_spent_ms":'""",
                "a.time_spent_ms",
                """',"version":'""",
                "a.version",
                """',"created_at":"'""",
                stamp("a.created_at"),
                """'","updated_at":"'""",
                stamp("a.updated_at"),
                """'"}'""",
            ]
            where_params: list[Any] = [self.project.pk]
        elif mode == "majority":
            assert plan is not None
            mask = "k.mask"
            source_rows = (
                " FROM unnest(CAST(%s AS BIGINT[]), CAST(%s AS BIGINT[]), CAST(%s AS BIGINT[]))"
                " k(segment_id, mask, n)"
                " JOIN articles_segment s ON s.id = k.segment_id"
                " JOIN articles_article ar ON ar.id = s.article_id"
            )
            where = " ORDER BY k.segment_id"
            tail = ["""',"answers":'""", "k.n", "'}'"]
            where_params = []
        else:
            mask = self._mask_sql("annotations_goldlabellabel", "gold_label_id", "g.id")
            source_rows = (
                " FROM annotations_goldlabel g"
                " JOIN articles_segment s ON s.id = g.segment_id"
                " JOIN articles_article ar ON ar.id = s.article_id"
            )
            where = " WHERE g.project_id = %s ORDER BY g.segment_id"
            tail = ["""',"gold_source":'""", text("g.source"), "'}'"]
            where_params = [self.project.pk]
        units = sorted(split_of) if split_of is not None else []
        if split_of is not None:
            joins = (
                " JOIN unnest(CAST(%s AS BIGINT[]), CAST(%s AS INT[])) sp(unit, split)"
                f" ON sp.unit = {self._unit}"
            )
        labels, label_params = self._labels_json_sql(mask)
        pieces = [
            *(["sp.split"] if split_of is not None else []),
            """'{"segment_id":'""",
            "s.id",
            """',"article_id":'""",
            "s.article_id",
            """',"external_id":'""",
            text("ar.external_id"),
            """',"title":'""",
            text("ar.title"),
            """',"url":'""",
            text("ar.source_url"),
            """',"published_at":'""",
            "CASE WHEN ar.published_at IS NULL THEN 'null'"
            f""" ELSE '"' || {stamp("ar.published_at")} || '"' END""",
            """',"position":'""",
            "s.position",
            """',"start":'""",
            "s.start",
            """',"end":'""",
            's."end"',
            """',"text":'""",
            text("s.text"),
            """',"labels":'""",
            labels,
            *tail,
        ]
        # "||", not concat(): concat() looks up each argument's output function per row,
        # four times slower here. Every piece is NOT NULL (or wrapped), else so is the line.
        line = " || ".join(pieces)
        sql = " ".join([*head, "SELECT", line, source_rows + joins + where])
        head_params = [self.project.pk] if mode == "raw" else []
        source_params = list(plan.kept) if mode == "majority" and plan else []
        join_params = [units, [split_of[u] for u in units]] if split_of is not None else []
        return sql, [*head_params, *label_params, *source_params, *join_params, *where_params]

    def _raw_rows(self, light: bool) -> Iterator[tuple[Any, ...]]:
        names = self._annotator_names()
        sql, params = self._raw_sql(light)
        slugs = self._slugs
        postgres = self.postgres
        for row in self._stream(sql, params):
            labels = slugs(row[10])
            if postgres:  # aware datetimes and booleans already
                yield (*row[:10], labels, names[row[11]], *row[12:])
                continue
            yield (
                *row[:5],
                _aware(row[5]),
                *row[6:10],
                labels,
                names[row[11]],
                row[12],
                bool(row[13]),
                row[14],
                row[15],
                row[16],
                _aware(row[17]),
                _aware(row[18]),
                row[19],
            )

    def _majority_sql(self, light: bool) -> tuple[str, list[Any]]:
        unsure = " AND a.unsure = %s" if self.options.exclude_unsure else ""
        params: list[Any] = [self.project.pk, "submitted"]
        if self.options.exclude_unsure:
            params.append(False)
        params.append(self.min_answers)
        group = "string_agg" if self.postgres else "group_concat"
        sql = (
            f"SELECT {self._segment_columns(light)}, v.sets, v.n, {self._unit} FROM ("
            f" SELECT a.segment_id, COUNT(*) AS n,"
            f" {group}(COALESCE({self._label_ids('a')}, ''), ';') AS sets"
            " FROM annotations_annotation a"
            f" WHERE a.project_id = %s AND a.status = %s{unsure}"
            " GROUP BY a.segment_id HAVING COUNT(*) >= %s"
            ") v"
            " JOIN articles_segment s ON s.id = v.segment_id"
            " JOIN articles_article ar ON ar.id = s.article_id"
            " ORDER BY v.segment_id"
        )
        return sql, params

    def _majority_rows(self, light: bool) -> Iterator[tuple[Any, ...]]:
        sql, params = self._majority_sql(light)
        enough = no_majority = 0
        rank = self.labels.rank
        slugs = self.labels.slugs
        for row in self._stream(sql, params):
            enough += 1
            answers: list[str] = row[10].split(";")
            n = row[11]
            votes: Counter[int] = Counter()
            for answer in answers:
                if answer:
                    votes.update(int(i) for i in answer.split(","))
            kept = sorted(rank[label] for label, count in votes.items() if 2 * count > n)
            if not kept:
                no_majority += 1
                continue
            yield (*row[:5], _aware(row[5]), *row[6:10], [slugs[i] for i in kept], n, row[12])
        if not light:
            self.skipped = {
                "fewer_answers_than_min": self._segment_total() - enough,
                "no_label_with_majority": no_majority,
            }

    def _gold_sql(self, light: bool) -> tuple[str, list[Any]]:
        group = "string_agg" if self.postgres else "group_concat"
        ids = "gl.label_id::text" if self.postgres else "gl.label_id"
        sql = (
            f"SELECT {self._segment_columns(light)},"
            f" (SELECT {group}({ids}, ',') FROM annotations_goldlabellabel gl"
            " WHERE gl.gold_label_id = g.id),"
            f" g.source, {self._unit}"
            " FROM annotations_goldlabel g"
            " JOIN articles_segment s ON s.id = g.segment_id"
            " JOIN articles_article ar ON ar.id = s.article_id"
            " WHERE g.project_id = %s ORDER BY g.segment_id"
        )
        return sql, [self.project.pk]

    def _gold_rows(self, light: bool) -> Iterator[tuple[Any, ...]]:
        sql, params = self._gold_sql(light)
        sources: Counter[str] = Counter()
        for row in self._stream(sql, params):
            sources[row[11]] += 1
            yield (*row[:5], _aware(row[5]), *row[6:10], self._slugs(row[10]), row[11], row[12])
        if not light:
            self.stats.gold_sources = sources
            self.skipped = {"no_gold_label": self._segment_total() - sum(sources.values())}


# --- One pass over the answers: agreement, majorities, label counts per unit -------------

# Label sets travel as bit masks in one BIGINT: up to this many labels (more: row by row).
MASK_LABELS = 62
# Up to this many labels, the JSON of every label set is looked up in one array (2**n items).
LOOKUP_LABELS = 10
ANSWER_BLOCK_ROWS = 50_000
# The database's lines are written (and progress counted) about this many bytes at a time.
COPY_BATCH_BYTES = 1 << 20
SUBMITTED, UNSURE = 1, 2  # the flags column of the answer stream


@dataclass(slots=True)
class _Plan:
    """What one pass over a project's answers tells an export (``_Source.plan``)."""

    values: list[frozenset[int]] = field(default_factory=list)  # label sets, as label ranks
    answers: int = 0  # every answer, submitted or skipped: the rows of a raw export
    submitted: int = 0
    unanimous: int = 0  # segments with two or more submitted answers that all agree
    counter: AgreementCounter | None = None  # over the submitted answers
    # Label counts of the rows to write, per unit of articles (for splits and the card).
    unit_counts: dict[int, np.ndarray] = field(default_factory=dict)
    # majority: the rows to write, as segment ids, label masks and answers counted.
    kept: tuple[list[int], list[int], list[int]] = field(default_factory=lambda: ([], [], []))
    rows: int = 0  # rows the export writes
    skipped: dict[str, int] = field(default_factory=dict)
    gold_sources: Counter[str] = field(default_factory=Counter)


def _add_unit_counts(counts: dict[int, np.ndarray], unit: np.ndarray, labels: np.ndarray) -> None:
    """Add each row's label indicators (``labels``: rows x labels) to its unit's counts."""
    import numpy as np

    if not len(unit):
        return
    units, inverse = np.unique(unit, return_inverse=True)
    sums = np.zeros((len(units), labels.shape[1]), dtype=np.int64)
    np.add.at(sums, inverse, labels)
    for key, row in zip(units.tolist(), sums, strict=True):
        known = counts.get(key)
        if known is None:
            counts[key] = row
        else:
            known += row


def _compose(sql: str, params: Sequence[Any]) -> Any:
    """``sql`` with ``%s`` placeholders and ``params`` as one psycopg statement for COPY
    (which takes no server-side parameters): psycopg quotes each value."""
    from psycopg import sql as psql

    template = sql.replace("{", "{{").replace("}", "}}").replace("%s", "{}")
    return psql.SQL(template).format(*(psql.Literal(p) for p in params))


def _copy_int_blocks(
    conn: BaseDatabaseWrapper, sql: str, params: Sequence[Any], columns: int
) -> Iterator[np.ndarray]:
    """The rows of ``sql`` (``columns`` BIGINT columns, never null) as int64 arrays of shape
    (rows, columns), a block at a time, by binary COPY: no Python object per row."""
    import numpy as np
    from psycopg import sql as psql

    fields: list[tuple[str, str]] = [("n", ">i2")]
    for i in range(columns):
        fields += [(f"l{i}", ">i4"), (f"c{i}", ">i8")]
    row = np.dtype(fields)
    names = [f"c{i}" for i in range(columns)]

    def parse(data: bytes) -> np.ndarray:
        records = np.frombuffer(data, dtype=row)
        return np.stack([records[name].astype(np.int64) for name in names], axis=1)

    conn.ensure_connection()
    pending = bytearray()
    header = True
    statement = psql.SQL("COPY ({}) TO STDOUT (FORMAT binary)").format(_compose(sql, params))
    with conn.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for block in copy:
            pending += block
            if header:
                if len(pending) < 19:
                    continue
                del pending[: 19 + int.from_bytes(pending[15:19], "big")]
                header = False
            whole = len(pending) // row.itemsize
            if whole >= ANSWER_BLOCK_ROWS:
                yield parse(bytes(pending[: whole * row.itemsize]))
                del pending[: whole * row.itemsize]
    whole = len(pending) // row.itemsize  # what is left is the two-byte trailer
    if whole:
        yield parse(bytes(pending[: whole * row.itemsize]))


class _LineSink:
    """A JSON Lines file written from finished lines: hashed and counted as it goes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = path.open("wb")
        self._hash = hashlib.sha256()
        self.size = 0
        self.rows = 0

    def write(self, data: bytes, rows: int) -> None:
        self._hash.update(data)
        self._file.write(data)
        self.size += len(data)
        self.rows += rows

    def close(self) -> FileInfo:
        self._file.close()
        return FileInfo(self.path.name, self.size, self._hash.hexdigest(), self.rows)


def _copy_lines(
    conn: BaseDatabaseWrapper,
    sql: str,
    params: Sequence[Any],
    sinks: Sequence[_LineSink],
    progress: _Progress,
) -> None:
    """Stream the JSON lines that ``sql`` builds into ``sinks`` by COPY (text format).

    With several sinks each line starts with its sink's digit, which is dropped. COPY's text
    format doubles backslashes (the only character it escapes that a JSON line can hold:
    the lines have no raw tab, newline or carriage return), so they are undoubled.
    """
    from psycopg import sql as psql

    routed = len(sinks) > 1
    conn.ensure_connection()
    statement = psql.SQL("COPY ({}) TO STDOUT").format(_compose(sql, params))
    parts: list[bytes] = []
    size = 0

    def flush() -> None:
        data = b"".join(parts).replace(b"\\\\", b"\\")
        parts.clear()
        rows = data.count(b"\n")
        if not routed:
            sinks[0].write(data, rows)
        else:
            buckets: list[list[bytes]] = [[] for _ in sinks]
            for line in data.split(b"\n")[:-1]:
                buckets[line[0] - 48].append(line[1:])
            for sink, lines in zip(sinks, buckets, strict=True):
                if lines:
                    sink.write(b"\n".join(lines) + b"\n", len(lines))
        progress.step(rows)

    with conn.connection.cursor() as cursor, cursor.copy(statement) as copy:
        for block in copy:  # one row a block
            parts.append(bytes(block))
            size += len(block)
            if size >= COPY_BATCH_BYTES:
                flush()
                size = 0
    if parts:
        flush()


def _plan(source: _Source, progress: _Progress, *, agreement: bool, majority: bool) -> _Plan:
    """One pass over the project's answers, in segment order, a block of whole segments at
    a time (vectorised: no Python per answer on PostgreSQL): the card's agreement figures,
    and for a split or the database's lines, each unit's label counts and the majorities."""
    import numpy as np

    from .agreement import AgreementCounter

    width = len(source.labels.ids)
    plan = _Plan()
    plan.counter = (
        AgreementCounter(list(range(width)), multi_label=source.project.multi_label)
        if agreement
        else None
    )
    index: dict[Any, int] = {}
    member = np.zeros((0, width), dtype=np.int64)  # value index -> label indicators
    labels_mode = source.options.labels
    exclude_unsure = source.options.exclude_unsure
    enough = 0
    no_majority = 0
    powers = np.left_shift(np.int64(1), np.arange(width, dtype=np.int64)) if width else None

    for segment, unit, coder, value, flags in source.answer_blocks(index, plan.values):
        if len(plan.values) > len(member):
            member = np.array(
                [[rank in labels for rank in range(width)] for labels in plan.values],
                dtype=np.int64,
            ).reshape(len(plan.values), width)
        plan.answers += len(segment)
        progress.step(len(segment))
        submitted = (flags & SUBMITTED) != 0
        plan.submitted += int(submitted.sum())
        if labels_mode == "raw":
            _add_unit_counts(plan.unit_counts, unit, member[value])
        seg_s, val_s = segment[submitted], value[submitted]
        if len(seg_s):
            starts = np.flatnonzero(np.r_[True, seg_s[1:] != seg_s[:-1]])
            sizes = np.diff(np.r_[starts, len(seg_s)])
            same = np.logical_and.reduceat(val_s == np.repeat(val_s[starts], sizes), starts)
            plan.unanimous += int(np.count_nonzero(same & (sizes >= 2)))
            if plan.counter is not None:
                plan.counter.add_arrays(
                    unit=seg_s, coder=coder[submitted], value=val_s, values=plan.values
                )
        if majority:
            counted = submitted & ~((flags & UNSURE) != 0) if exclude_unsure else submitted
            seg_c = segment[counted]
            if not len(seg_c):
                continue
            starts = np.flatnonzero(np.r_[True, seg_c[1:] != seg_c[:-1]])
            n = np.diff(np.r_[starts, len(seg_c)])
            votes = np.add.reduceat(member[value[counted]], starts, axis=0)
            chosen = 2 * votes > n[:, None]
            masks = chosen.astype(np.int64) @ powers if width else np.zeros(len(n), np.int64)
            ok = n >= source.min_answers
            enough += int(ok.sum())
            keep = ok & chosen.any(axis=1)
            no_majority += int(np.count_nonzero(ok & ~keep))
            plan.kept[0].extend(seg_c[starts][keep].tolist())
            plan.kept[1].extend(masks[keep].tolist())
            plan.kept[2].extend(n[keep].tolist())
            _add_unit_counts(
                plan.unit_counts, unit[counted][starts][keep], chosen[keep].astype(np.int64)
            )

    if labels_mode == "raw":
        plan.rows = plan.answers
    elif labels_mode == "majority":
        plan.rows = len(plan.kept[0])
        plan.skipped = {
            "fewer_answers_than_min": source._segment_total() - enough,
            "no_label_with_majority": no_majority,
        }
    else:
        for unit, labels in source.gold_blocks():
            _add_unit_counts(plan.unit_counts, unit, labels)
            plan.rows += len(unit)
        plan.gold_sources = Counter(dict(source._all(*source.gold_sources_sql())))
        plan.skipped = {"no_gold_label": source._segment_total() - plan.rows}
    return plan


class _Silent:
    """Progress that goes nowhere (``export_queries`` reads the answers without an export)."""

    done = 0

    def step(self, rows: int = 1) -> None:
        pass

    def expect(self, remaining: int) -> None:
        pass


def export_queries(
    conn: BaseDatabaseWrapper, project: Project, options: ExportOptions
) -> list[tuple[str, list[Any]]]:
    """The rows an export reads, as plain queries (no JSON), in order: for the benchmark's
    COPY comparison, the same joined rows, formatted by PostgreSQL as plain text.

    On PostgreSQL: the answers once (folders, and majority or gold lines), then the rows
    written with their plain columns (for majority the segments the answers kept, found
    as the export finds them). Row by row (other formats): the queries it streams.
    """
    source = _Source(conn, project, options)
    fast = _fast(source) and options.format in ("jsonl", "folder")
    if not fast:
        full = source.query()
        if options.format == "folder":
            first = [source.answers_sql()] + ([source.query(light=True)] if options.split else [])
            return [*first, full]
        return [full]
    queries = []
    plan = None
    if options.format == "folder" or options.labels != "raw":
        queries.append(source.answers_sql())
        plan = _plan(source, _Silent(), agreement=False, majority=options.labels == "majority")  # type: ignore[arg-type]
    if options.labels != "majority":
        return [*queries, source.query()]
    assert plan is not None
    sql = (
        f"SELECT {source._segment_columns(False)}, k.mask, k.n"
        " FROM unnest(CAST(%s AS BIGINT[]), CAST(%s AS BIGINT[]), CAST(%s AS BIGINT[]))"
        " k(segment_id, mask, n)"
        " JOIN articles_segment s ON s.id = k.segment_id"
        " JOIN articles_article ar ON ar.id = s.article_id ORDER BY k.segment_id"
    )
    return [*queries, (sql, list(plan.kept))]
