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
import shutil
import tempfile
import time
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
    file_sha256,
)
from ..models import Export, Project

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
    """Figures for the dataset card, gathered while the rows stream past."""

    segments_with_two: int = 0  # segments with at least two submitted answers
    unanimous: int = 0  # ... of which every answer has the same label set
    answers: int = 0
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

    def step(self, rows: int = 1) -> None:
        self.done += rows
        now = time.monotonic()
        if now - self.last >= PROGRESS_SECONDS:
            self.last = now
            self._write()

    def beat(self) -> None:
        """A heartbeat without new rows (a long step), at most every ``PROGRESS_SECONDS``."""
        self.step(0)

    def _write(self) -> None:
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


def _build(
    export: Export, options: ExportOptions, out: Path, callback: ProgressCallback | None
) -> tuple[list[FileInfo], int, dict[str, int], dict[str, int]]:
    project = export.project
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(
        tempfile.mkdtemp(prefix=_partial_prefix(out, export.pk), suffix=".partial", dir=out.parent)
    )
    try:
        with _snapshot() as (conn, progress_conn):
            progress = _Progress(export, callback, progress_conn)
            source = _Source(conn, project, options)
            progress.start(source.total_rows() * (2 if options.split else 1))
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


def _write_file(
    source: _Source, options: ExportOptions, work: Path, out: Path, progress: _Progress
) -> tuple[list[FileInfo], int, dict[str, int]]:
    columns = _columns(options)
    path = work / "data"
    writer: RowWriter
    if options.format == "csv":
        writer = CsvWriter(path, columns, source.labels.slugs)
    elif options.format == "parquet":
        writer = ParquetWriter(path, columns)
    else:
        writer = JsonlWriter(path, columns)
    if SQL_JSON_LINES and options.format == "jsonl" and source.can_write_json_lines():
        info = _write_json_lines(source, path, progress)
        return [info], info.rows, source.skipped
    for row in source.rows():
        writer.write(row[:-1])
        progress.step()
    info = writer.close()
    return [info], info.rows, source.skipped


def _write_json_lines(source: _Source, path: Path, progress: _Progress) -> FileInfo:
    """Raw JSONL on PostgreSQL: the database formats each line (the same bytes as
    ``JsonlWriter``, a test checks), Python only hashes and writes them."""
    digest = hashlib.sha256()
    size = rows = 0
    with path.open("wb") as file:
        for lines in source.json_line_chunks():
            data = ("\n".join(lines) + "\n").encode()
            digest.update(data)
            file.write(data)
            size += len(data)
            rows += len(lines)
            progress.step(len(lines))
    return FileInfo(path.name, size, digest.hexdigest(), rows)


def _write_folder(
    source: _Source,
    options: ExportOptions,
    work: Path,
    out: Path,
    progress: _Progress,
    export: Export,
) -> tuple[list[FileInfo], int, dict[str, int], dict[str, int]]:
    columns = _columns(options)
    folder = work / "dataset"
    folder.mkdir()
    names: Sequence[str]
    if options.split:
        # First pass (no text): which labels each unit of articles has; then the split.
        unit_labels: dict[int, set[int]] = {}
        for row in source.rows(light=True):
            labels = unit_labels.setdefault(row[-1], set())
            labels.update(source.labels.slugs.index(slug) for slug in row[LABELS_INDEX])
            progress.step()
        units = sorted(unit_labels)
        splits = assign_splits(
            [sorted(unit_labels[unit]) for unit in units],
            label_count=len(source.labels.slugs),
            ratios=options.split,
            seed=options.seed,
        )
        split_of = dict(zip(units, splits, strict=True))
        del unit_labels
        names = SPLIT_NAMES
    else:
        split_of = {}
        names = ("data",)
    writers = [JsonlWriter(folder / f"{name}.jsonl", columns) for name in names]
    label_counts = [Counter[str]() for _ in names]
    for row in source.rows():
        index = split_of[row[-1]] if options.split else 0
        writers[index].write(row[:-1])
        label_counts[index].update(row[LABELS_INDEX])
        progress.step()
    infos = [writer.close() for writer in writers]
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
        split_label_counts={
            name: dict(counts) for name, counts in zip(names, label_counts, strict=True)
        },
        skipped=source.skipped,
        agreement=source.agreement(),
    )
    (folder / "README.md").write_text(dataset_card(facts), encoding="utf-8")
    files = [*infos]
    for name in ("labels.json", "README.md"):
        path = folder / name
        files.append(FileInfo(name, path.stat().st_size, file_sha256(path), 0))
    return sorted(files, key=_name), rows, per_split, source.skipped


# --- Reading ----------------------------------------------------------------------------


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

    def agreement(self) -> dict[str, Any]:
        stats = self.stats
        figures: dict[str, Any] = {
            "segments_with_two_or_more_answers": stats.segments_with_two,
            "segments_where_all_answers_agree": stats.unanimous,
        }
        if stats.gold_sources:
            figures["gold_sources"] = dict(sorted(stats.gold_sources.items()))
        return figures

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

    def can_write_json_lines(self) -> bool:
        return self.postgres and self.options.labels == "raw"

    def json_line_chunks(self) -> Iterator[list[str]]:
        """Raw answers as finished JSON lines, built by PostgreSQL, a chunk at a time."""

        def stamp(column: str) -> str:
            # Python's isoformat(): microseconds only when there are any, then +00:00.
            utc = f"({column} AT TIME ZONE 'UTC')"
            return (
                f"""to_char({utc}, 'YYYY-MM-DD"T"HH24:MI:SS')"""
                f" || CASE WHEN to_char({utc}, 'US') = '000000' THEN ''"
                f" ELSE to_char({utc}, '.US') END || '+00:00'"
            )

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
        text = "to_json({})::text".format
        sql = (
            f"WITH names AS ({names}) SELECT"
            " '{\"segment_id\":' || s.id || ',\"article_id\":' || s.article_id"
            f" || ',\"external_id\":' || {text('ar.external_id')}"
            f" || ',\"title\":' || {text('ar.title')}"
            f" || ',\"url\":' || {text('ar.source_url')}"
            " || ',\"published_at\":' || CASE WHEN ar.published_at IS NULL THEN 'null'"
            f" ELSE '\"' || {stamp('ar.published_at')} || '\"' END"
            " || ',\"position\":' || s.position || ',\"start\":' || s.start"
            ' || \',"end":\' || s."end"'
            f" || ',\"text\":' || {text('s.text')}"
            " || ',\"labels\":' || COALESCE((SELECT '[' || string_agg(to_json(l.slug)::text,"
            " ',' ORDER BY l.\"order\", l.name, l.id) || ']'"
            " FROM annotations_annotationlabel al JOIN annotations_label l ON l.id = al.label_id"
            " WHERE al.annotation_id = a.id), '[]')"
            f" || ',\"annotator\":' || {text('n.name')}"
            f" || ',\"status\":' || {text('a.status')}"
            " || ',\"unsure\":' || CASE WHEN a.unsure THEN 'true' ELSE 'false' END"
            f" || ',\"comment\":' || {text('a.comment')}"
            " || ',\"time_spent_ms\":' || a.time_spent_ms || ',\"version\":' || a.version"
            f' || \',"created_at":"\' || {stamp("a.created_at")}'
            f' || \'","updated_at":"\' || {stamp("a.updated_at")} || \'"}}\''
            " FROM annotations_annotation a"
            " JOIN names n ON n.annotator_id = a.annotator_id"
            " JOIN articles_segment s ON s.id = a.segment_id"
            " JOIN articles_article ar ON ar.id = s.article_id"
            " WHERE a.project_id = %s ORDER BY a.segment_id, a.annotator_id"
        )
        cursor = self.conn.chunked_cursor()
        try:
            cursor.execute(sql, [self.project.pk, self.project.pk])
            while rows := cursor.fetchmany(FETCH_ROWS):
                yield [row[0] for row in rows]
        finally:
            cursor.close()

    def _raw_rows(self, light: bool) -> Iterator[tuple[Any, ...]]:
        names = self._annotator_names()
        sql, params = self._raw_sql(light)
        stats = self.stats
        self.stats = _Stats()
        current = None
        sets: list[list[str]] = []
        slugs = self._slugs
        postgres = self.postgres
        for row in self._stream(sql, params):
            if row[0] != current:
                self._count_agreement(sets)
                current, sets = row[0], []
            labels = slugs(row[10])
            if row[12] == "submitted":
                sets.append(labels)
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
        self._count_agreement(sets)
        if light:
            self.stats = stats

    def _count_agreement(self, sets: list[list[str]]) -> None:
        if len(sets) >= 2:
            self.stats.segments_with_two += 1
            self.stats.unanimous += len({tuple(labels) for labels in sets}) == 1
        self.stats.answers += len(sets)

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
        stats = _Stats()
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
            if len(answers) >= 2:
                stats.segments_with_two += 1
                stats.unanimous += len({frozenset(a.split(",")) for a in answers}) == 1
            kept = sorted(rank[label] for label, count in votes.items() if 2 * count > n)
            if not kept:
                no_majority += 1
                continue
            yield (*row[:5], _aware(row[5]), *row[6:10], [slugs[i] for i in kept], n, row[12])
        if not light:
            self.stats = stats
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


def export_queries(
    conn: BaseDatabaseWrapper, project: Project, options: ExportOptions
) -> list[tuple[str, list[Any]]]:
    """The row queries an export runs, in order (for the benchmark's COPY comparison)."""
    source = _Source(conn, project, options)
    full = source.query()
    return [source.query(light=True), full] if options.split else [full]
