"""Workflows of the articles app that touch several models and own their transaction."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import shutil
import tempfile
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path, PurePosixPath
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib.auth.models import User
from django.db import (
    DEFAULT_DB_ALIAS,
    DatabaseError,
    IntegrityError,
    OperationalError,
    connection,
    connections,
    reset_queries,
    transaction,
)
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import F, Model, QuerySet
from django.db.models import Field as DjangoField
from django.utils import timezone
from django.utils.text import slugify

from .ingestion import near_duplicates, readers
from .ingestion.errors import ImportProblem, ImportRejected
from .ingestion.near_duplicates import NearDuplicateIndex
from .ingestion.readers import ArticleRecord
from .ingestion.segmenting import build_body_and_spans, paragraph_spans, sentence_spans
from .ingestion.sources import FORMATS, ProgressCounter, SourceFile, iter_sources
from .models import (
    Article,
    Collection,
    ImportBatch,
    Segment,
    Segmentation,
    content_hash_for,
    segment_rows,
)

logger = logging.getLogger(__name__)

# A run stops reading once it has found this many problems: enough to fix a file in one go.
MAX_REPORTED_PROBLEMS = 100
# A batch keeps this many of the pages or records a "keep going" import left out.
MAX_LISTED_SKIPPED = 1000
# Articles are written in chunks: big enough for fast bulk inserts, small enough that memory
# stays flat however large the input is.
WRITE_CHUNK = 2000
DEFAULT_MAX_RECORD_BYTES = 20 * 1024 * 1024
# Progress events are yielded at most this often (seconds): often enough for a smooth bar,
# rarely enough that a fast import of small records does not spend its time reporting.
PROGRESS_INTERVAL = 0.2

SPAN_FUNCTIONS = {
    Segmentation.PARAGRAPH: paragraph_spans,
    Segmentation.SENTENCE: sentence_spans,
}


@dataclass(slots=True)
class ImportResult:
    articles_created: int = 0
    duplicates_skipped: int = 0
    segments_created: int = 0
    near_duplicates: int = 0
    errors: list[ImportProblem] = field(default_factory=list)
    # Left out by a "keep going" import: pages or records that hold no usable article.
    skipped: list[ImportProblem] = field(default_factory=list)
    dry_run: bool = False
    batch: ImportBatch | None = None

    @property
    def succeeded(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, object]:
        return {
            "articles_created": self.articles_created,
            "duplicates_skipped": self.duplicates_skipped,
            "segments_created": self.segments_created,
            "near_duplicates": self.near_duplicates,
            "errors": [problem.as_dict() for problem in self.errors],
            "skipped": [problem.as_dict() for problem in self.skipped],
        }

    def summary(self) -> str:
        if self.errors:
            count = len(self.errors)
            found = f"{count} problem(s)" if count < MAX_REPORTED_PROBLEMS else f"{count}+ problems"
            if self.dry_run:
                return f"Dry run: {found}; this import would be refused."
            return f"Import refused: {found}; nothing was imported."
        prefix = "Dry run: would create" if self.dry_run else "Created"
        summary = (
            f"{prefix} {self.articles_created} articles and {self.segments_created} segments;"
            f" skipped {self.duplicates_skipped} duplicates."
        )
        if self.near_duplicates:
            summary += f" {self.near_duplicates} are near-copies of an earlier article."
        if self.skipped:
            left = "would leave" if self.dry_run else "left"
            summary += (
                f" Kept going: {left} out {len(self.skipped)} page(s) or record(s)"
                " without a usable article."
            )
        return summary


@dataclass(frozen=True, slots=True)
class ImportProgress:
    """How far a running import has got: bytes read of all inputs, and articles read."""

    bytes_done: int
    bytes_total: int
    articles_read: int

    def as_dict(self) -> dict[str, int]:
        return {
            "bytes_done": self.bytes_done,
            "bytes_total": self.bytes_total,
            "articles_read": self.articles_read,
        }


@dataclass(slots=True)
class _NewArticle:
    """An article read from the input and not yet written: the columns the import fills.

    Plain slots rather than ``Article`` instances: a model instance costs about 100 µs to
    build (signals, field descriptors), as much as cleaning the record did.
    """

    title: str
    body: str
    source_url: str
    published_at: datetime | None
    external_id: str
    content_hash: str
    metadata: dict[str, object]
    # Its paragraph spans when known from reading it (paragraph segmentation).
    spans: list[tuple[int, int]] | None = None
    pk: int | None = None
    minhash: bytes | None = None
    duplicate_of_id: int | None = None
    duplicate_similarity: float | None = None
    # Its near-duplicate group; ``first``: it starts the group.
    group: near_duplicates.Group | None = None
    first: bool = True


class _ArticleWriter:
    """Buffers records into articles and writes them, and their segments, in bulk.

    Each new article is also compared with every article before it (in the collection and
    earlier in this input) for near-duplicates; a near-copy records its group's first article.
    """

    def __init__(
        self,
        *,
        collection: Collection,
        batch: ImportBatch | None,
        segmentation: Segmentation,
        zone: ZoneInfo,
        near_duplicate_threshold: float,
    ) -> None:
        self.collection = collection
        self.batch = batch
        self.segmentation = segmentation
        self.spans_of = SPAN_FUNCTIONS[segmentation]
        self.zone = zone
        self.pending: dict[str, _NewArticle] = {}
        self.articles_read = 0
        self.articles_created = 0
        self.segments_created = 0
        self.duplicates_skipped = 0
        self.near_duplicates = 0
        self.near_duplicate_threshold = near_duplicate_threshold
        self._index: NearDuplicateIndex | None = None
        # PostgreSQL: the previous chunk's COPYs, still running while the next is read.
        self.copies = _CopyInBackground()

    def _near_duplicate_index(self) -> NearDuplicateIndex:
        if self._index is None:
            self._index = _collection_index(self.collection, self.near_duplicate_threshold)
        return self._index

    def add(self, record: ArticleRecord) -> None:
        self.articles_read += 1
        body, spans = build_body_and_spans(record.paragraphs)
        content_hash = content_hash_for(body, canonical=True)
        if content_hash in self.pending:
            self.duplicates_skipped += 1
            return
        published_at = record.published_at
        if published_at is not None and timezone.is_naive(published_at):
            published_at = published_at.replace(tzinfo=self.zone)
        self.pending[content_hash] = _NewArticle(
            title=record.title,
            body=body,
            source_url=record.source_url,
            published_at=published_at,
            external_id=record.external_id,
            content_hash=content_hash,
            metadata=record.metadata,
            spans=spans if self.segmentation == Segmentation.PARAGRAPH else None,
        )
        if len(self.pending) >= WRITE_CHUNK:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        self.copies.wait()
        # Earlier chunks of this run are already written inside the same transaction, so
        # this one query finds duplicates within the input as well as in the collection.
        existing = set(
            Article.objects.filter(
                collection=self.collection, content_hash__in=list(self.pending)
            ).values_list("content_hash", flat=True)
        )
        fresh = [article for key, article in self.pending.items() if key not in existing]
        self.duplicates_skipped += len(self.pending) - len(fresh)
        self.pending = {}
        if not fresh:
            return
        # Near-duplicates, in reading order, for the articles that will be written only
        # (a re-import of known text computes no signatures). The signatures of the whole
        # chunk are computed together.
        index = self._near_duplicate_index()
        signatures = near_duplicates.signatures([article.body for article in fresh])
        for article, sig in zip(fresh, signatures, strict=True):
            article.minhash = sig
            match = index.match(sig)
            if match is None:
                article.group = near_duplicates.Group()
            else:
                article.group = match.group
                article.first = False
                article.duplicate_similarity = match.similarity
                self.near_duplicates += 1
            index.add(sig, article.group)
        if connection.vendor == "postgresql":
            _reserve_ids(fresh)
            _link_groups(fresh)
            segments_created = _copy_into_postgresql(
                fresh,
                self.spans_of,
                collection_id=self.collection.pk,
                batch_id=self.batch.pk if self.batch is not None else None,
                segmentation=self.segmentation.value,
                copies=self.copies,
            )
        else:
            segments_created = self._create(fresh)
        self.articles_created += len(fresh)
        self.segments_created += segments_created
        # With DEBUG on, Django keeps every query's SQL, and bulk INSERTs are megabytes each:
        # dropping the log keeps memory flat on a development server too.
        reset_queries()

    def _create(self, fresh: list[_NewArticle]) -> int:
        """Write ``fresh`` with INSERTs (other databases than PostgreSQL); returns the number
        of segments."""
        # Copies of an article in this same chunk are linked once it has its id.
        _link_groups(fresh)
        articles = [
            Article(
                collection=self.collection,
                title=new.title,
                body=new.body,
                source_url=new.source_url,
                published_at=new.published_at,
                external_id=new.external_id,
                content_hash=new.content_hash,
                segmentation=self.segmentation,
                metadata=new.metadata,
                import_batch=self.batch,
                minhash=new.minhash,
                duplicate_of_id=new.duplicate_of_id,
                duplicate_similarity=new.duplicate_similarity,
            )
            for new in fresh
        ]
        Article.objects.bulk_create(articles)
        for new, article in zip(fresh, articles, strict=True):
            new.pk = article.pk
        late = [i for i, new in enumerate(fresh) if not new.first and new.duplicate_of_id is None]
        _link_groups(fresh)
        for i in late:
            articles[i].duplicate_of_id = fresh[i].duplicate_of_id
        Article.objects.bulk_update([articles[i] for i in late], ["duplicate_of"], batch_size=500)
        segments = [
            segment
            for article in articles
            for segment in article.build_segments(self.spans_of(article.body))
        ]
        Segment.objects.bulk_create(segments, batch_size=2000)
        return len(segments)


def _link_groups(pending: list[_NewArticle]) -> None:
    """Give each group its first article's id, and each copy its group's, where known."""
    for item in pending:
        group = item.group
        if group is None:
            continue
        if item.first:
            if item.pk is not None:
                group.pk = item.pk
        elif item.duplicate_of_id is None and group.pk is not None:
            item.duplicate_of_id = group.pk


def _collection_index(collection: Collection, threshold: float) -> NearDuplicateIndex:
    """A near-duplicate index of the articles already in ``collection``.

    Articles stored before signatures were kept get theirs now (once).
    """
    index = NearDuplicateIndex(threshold)
    missing = Article.objects.filter(collection=collection, minhash__isnull=True)
    fill: list[Article] = []
    for pk, body in missing.values_list("pk", "body").iterator(chunk_size=WRITE_CHUNK):
        fill.append(Article(pk=pk, minhash=near_duplicates.signature(body)))
        if len(fill) >= 500:
            Article.objects.bulk_update(fill, ["minhash"])
            fill = []
    if fill:
        Article.objects.bulk_update(fill, ["minhash"])
    groups: dict[int, near_duplicates.Group] = {}
    rows = (
        Article.objects.filter(collection=collection)
        .order_by("pk")
        .values_list("pk", "duplicate_of_id", "minhash")
    )
    for pk, duplicate_of_id, sig in rows.iterator(chunk_size=WRITE_CHUNK):
        if sig is None:
            continue  # only when another import stored it meanwhile; it is matched next time
        key = duplicate_of_id or pk
        group = groups.get(key)
        if group is None:
            group = groups[key] = near_duplicates.Group(key)
        index.add(bytes(sig), group)
    return index


def _reserve_ids(articles: list[_NewArticle]) -> None:
    """Draw ids for ``articles`` from the table's own sequence (PostgreSQL)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [Article._meta.db_table, _column(Article, "id"), len(articles)],
        )
        for article, (pk,) in zip(articles, cursor.fetchall(), strict=True):
            article.pk = pk


# The article columns that the import writes, in COPY order (a test checks that they are
# all of the model's columns).
ARTICLE_COPY_FIELDS = (
    "id",
    "collection",
    "title",
    "body",
    "source_url",
    "published_at",
    "external_id",
    "content_hash",
    "segmentation",
    "metadata",
    "import_batch",
    "duplicate_of",
    "duplicate_similarity",
    "minhash",
    "created_at",
    "updated_at",
)
SEGMENT_COPY_FIELDS = ("article", "position", "start", "end", "text")
# COPY's text format: a backslash escapes itself and the characters that end a column or row.
_COPY_TEXT_ESCAPES = str.maketrans({"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def _copy_into_postgresql(
    articles: list[_NewArticle],
    spans_of: Callable[[str], list[tuple[int, int]]],
    *,
    collection_id: int,
    batch_id: int | None,
    segmentation: str,
    copies: _CopyInBackground,
) -> int:
    """Write articles (whose ids are drawn already) and their segments with COPY; returns
    the number of segments.

    COPY is several times faster than INSERT for the bulk of an import. The rows are made
    here; ``copies`` sends them from a worker thread, so that PostgreSQL stores this chunk
    while the import reads and cleans the next one.
    """
    db = connections[DEFAULT_DB_ALIAS]  # the connection itself: no per-call proxy lookups
    # The same instant for every row of the chunk, as text (what COPY reads anyway).
    now = timezone.now().isoformat()
    dumps = json.dumps
    article_rows = [
        (
            a.pk,
            collection_id,
            a.title,
            a.body,
            a.source_url,
            a.published_at,
            a.external_id,
            a.content_hash,
            segmentation,
            dumps(a.metadata),
            batch_id,
            a.duplicate_of_id,
            a.duplicate_similarity,
            a.minhash,
            now,
            now,
        )
        for a in articles
    ]
    # Segment rows are a tenth of an article each: they are formatted here as COPY text
    # (tab-separated, backslash escapes), several times faster than a write_row each.
    lines: list[str] = []
    for a in articles:
        pk = a.pk
        spans = a.spans if a.spans is not None else spans_of(a.body)
        for position, start, end, text in segment_rows(a.body, spans):
            if "\\" in text or "\n" in text or "\r" in text or "\t" in text:
                text = text.translate(_COPY_TEXT_ESCAPES)
            lines.append(f"{pk}\t{position}\t{start}\t{end}\t{text}\n")
    segment_text = "".join(lines)
    article_sql = _copy_sql(db, Article, [_column(Article, name) for name in ARTICLE_COPY_FIELDS])
    segment_sql = _copy_sql(db, Segment, [_column(Segment, name) for name in SEGMENT_COPY_FIELDS])
    db.ensure_connection()
    connection_ = db.connection

    def write() -> None:
        # psycopg's own cursor (its connection is thread-safe); its errors become Django's
        # (IntegrityError, DatabaseError) when ``copies.wait()`` raises them.
        with connection_.cursor() as cursor:
            with cursor.copy(article_sql) as copy:
                for row in article_rows:
                    copy.write_row(row)
            with cursor.copy(segment_sql) as copy:
                copy.write(segment_text)

    copies.start(write)
    return len(lines)


class _CopyInBackground:
    """Runs one chunk's COPY statements at a time in a worker thread.

    The thread mostly waits for PostgreSQL (without Python's lock), so the server stores
    one chunk while the import reads the next. ``wait()`` must come before any other use of
    the connection: it waits for the chunk being written and raises its error, if any, as
    Django's (``IntegrityError``, ``DatabaseError``).
    """

    def __init__(self) -> None:
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, work: Callable[[], None]) -> None:
        self.wait()

        def run() -> None:
            try:
                work()
            except BaseException as exc:  # re-raised by wait() in the importing thread
                self._error = exc

        self._thread = threading.Thread(target=run, name="themata-import-copy", daemon=True)
        self._thread.start()

    def wait(self, *, raise_error: bool = True) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        error, self._error = self._error, None
        if error is not None and raise_error:
            with connections[DEFAULT_DB_ALIAS].wrap_database_errors:
                raise error


def _column(model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    if not isinstance(field, DjangoField) or field.column is None:
        raise TypeError(f"{model.__name__}.{name} is not a column")
    return field.column


def _copy_sql(db: BaseDatabaseWrapper, model: type[Model], columns: list[str]) -> str:
    quote = db.ops.quote_name
    return f"COPY {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) FROM STDIN"


def _read(
    source: SourceFile, counter: ProgressCounter, max_record_bytes: int
) -> Iterator[ArticleRecord | ImportProblem]:
    opened = source.open(counter)
    try:
        match source.format:
            case "txt":
                yield from readers.read_txt(opened)
            case "html":
                yield from readers.read_html(opened)
            case "jsonl":
                yield from readers.read_jsonl(opened, max_record_bytes=max_record_bytes)
            case "csv":
                yield from readers.read_csv(opened, max_record_bytes=max_record_bytes)
    finally:
        opened.stream.close()


def _record_problem(record: ArticleRecord, source: SourceFile) -> ImportProblem | None:
    """Checks the database would otherwise fail on, as a message naming the record."""
    # PostgreSQL cannot store NUL in text or JSON; no real article contains one either.
    if "\x00" in record.title or any("\x00" in p for p in record.paragraphs):
        return ImportProblem(source.name, "contains a NUL character", record.line, skippable=True)
    if record.metadata and "\\u0000" in json.dumps(record.metadata):
        return ImportProblem(
            source.name, "a field contains a NUL character", record.line, skippable=True
        )
    return None


def articles_import(
    *,
    collection: Collection,
    paths: Sequence[Path],
    format: str = "auto",
    segmentation: str = Segmentation.PARAGRAPH,
    dry_run: bool = False,
    created_by: User | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    time_zone: str | None = None,
    max_file_bytes: int | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    names: Mapping[Path, str] | None = None,
    problems: Sequence[ImportProblem] = (),
    near_duplicate_threshold: float | None = None,
    skip_invalid: bool = False,
) -> ImportResult:
    """Import every article found under ``paths`` into ``collection``, all or nothing.

    Articles are cleaned, de-duplicated by content (against the collection and within the
    input) and cut into segments. If any input has a problem, nothing is stored, and the
    result lists every problem found (up to ``MAX_REPORTED_PROBLEMS``) with file and line.
    A real run records an ``ImportBatch``, also when it is refused; a dry run stores nothing.
    This runs ``articles_import_steps`` to its end (see there for ``names`` and ``problems``).
    """
    for step in articles_import_steps(
        collection=collection,
        paths=paths,
        format=format,
        segmentation=segmentation,
        dry_run=dry_run,
        created_by=created_by,
        on_progress=on_progress,
        time_zone=time_zone,
        max_file_bytes=max_file_bytes,
        max_record_bytes=max_record_bytes,
        names=names,
        problems=problems,
        near_duplicate_threshold=near_duplicate_threshold,
        skip_invalid=skip_invalid,
    ):
        if isinstance(step, ImportResult):
            return step
    raise AssertionError("articles_import_steps() always ends with its result")


def articles_import_steps(
    *,
    collection: Collection,
    paths: Sequence[Path],
    format: str = "auto",
    segmentation: str = Segmentation.PARAGRAPH,
    dry_run: bool = False,
    created_by: User | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    time_zone: str | None = None,
    max_file_bytes: int | None = None,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    names: Mapping[Path, str] | None = None,
    problems: Sequence[ImportProblem] = (),
    progress_interval: float | None = None,
    near_duplicate_threshold: float | None = None,
    skip_invalid: bool = False,
) -> Iterator[ImportProgress | ImportResult]:
    """``articles_import`` step by step: yields an ``ImportProgress`` when it starts and then
    between records (at most every ``progress_interval`` seconds, ``PROGRESS_INTERVAL`` by
    default), and the ``ImportResult`` as its last item.

    The work runs in the consumer's thread, in one transaction that stays open between the
    items. A consumer that stops early (``close()``, as when a browser goes away mid-stream)
    rolls everything back, and the batch is recorded as failed.

    ``names`` maps a path to the name people know it by (an upload's original file name,
    for a file stored under a server-made name): problems, the batch, and article ids made
    from file names use it. ``problems`` were found before the import (such as an upload
    that was too large); they refuse it like its own, and the inputs are still checked.
    ``near_duplicate_threshold``: the Jaccard similarity from which an article is a near-copy
    (``THEMATA_NEAR_DUPLICATE_THRESHOLD`` by default). ``skip_invalid`` ("keep going"):
    pages and records that hold no usable article are left out and listed in the result's
    ``skipped`` instead of refusing the import; unreadable or malformed files still refuse it.
    """
    if format != "auto" and format not in FORMATS:
        raise ValueError(f"format must be 'auto' or one of {', '.join(FORMATS)}")
    segmentation = Segmentation(segmentation)
    zone = ZoneInfo(time_zone or settings.THEMATA_IMPORT_TIME_ZONE)
    max_file_bytes = max_file_bytes or settings.THEMATA_IMPORT_MAX_FILE_BYTES
    threshold = near_duplicate_threshold or settings.THEMATA_NEAR_DUPLICATE_THRESHOLD
    if not 0.0 < threshold <= 1.0:
        raise ValueError("the near-duplicate threshold must be above 0 and at most 1")
    shown = [(names or {}).get(path, str(path)) for path in paths]
    result = ImportResult(dry_run=dry_run, errors=list(problems))

    sources: list[SourceFile] = []
    for path, name in zip(paths, shown, strict=True):
        for item in iter_sources(
            [path],
            forced_format=format,
            max_bytes=max_file_bytes,
            max_html_bytes=settings.THEMATA_IMPORT_MAX_HTML_BYTES,
        ):
            if isinstance(item, ImportProblem):
                result.errors.append(_problem_named(item, str(path), name))
            else:
                sources.append(_source_named(item, str(path), name))
    if not dry_run:
        imports_fail_stale()
        result.batch = ImportBatch.objects.create(
            collection=collection,
            created_by=created_by,
            source_names=shown,
            format=format,
            options={
                "segmentation": segmentation.value,
                "time_zone": zone.key,
                "near_duplicate_threshold": threshold,
                "skip_invalid": skip_invalid,
            },
        )
    counter = ProgressCounter(sum(source.size for source in sources), on_progress)

    writer = _ArticleWriter(
        collection=collection,
        batch=result.batch,
        segmentation=segmentation,
        zone=zone,
        near_duplicate_threshold=threshold,
    )
    try:
        yield ImportProgress(bytes_done=0, bytes_total=counter.total, articles_read=0)
        with transaction.atomic():
            try:
                yield from _import_sources(
                    sources,
                    writer,
                    result,
                    counter,
                    max_record_bytes,
                    PROGRESS_INTERVAL if progress_interval is None else progress_interval,
                    skip_invalid=skip_invalid,
                    heartbeat=_Heartbeat(result.batch, paths),
                )
            finally:
                # A chunk still being written ends before the commit or rollback (after a
                # refusal or an error its own error no longer matters).
                writer.copies.wait(raise_error=False)
            if result.errors or dry_run:
                transaction.set_rollback(True)
    except IntegrityError:
        result.errors.append(
            ImportProblem(
                ", ".join(shown),
                "another import added some of these articles at the same time; run it again",
            )
        )
    except GeneratorExit:
        # The atomic block has rolled back; the batch says why nothing was stored.
        result.errors.append(
            ImportProblem(
                ", ".join(shown), "the import was stopped before it finished; nothing was imported"
            )
        )
        if result.batch is not None:
            _finish_batch(result.batch, result)
        raise
    finally:
        for source in sources:
            source.close()
    if not result.errors:
        result.articles_created = writer.articles_created
        result.segments_created = writer.segments_created
        result.duplicates_skipped = writer.duplicates_skipped
        result.near_duplicates = writer.near_duplicates
        if writer.articles_created and not dry_run:
            _analyze_filled_tables(
                articles=writer.articles_created, segments=writer.segments_created
            )
    if result.batch is not None:
        _finish_batch(result.batch, result)
    yield result


# The columns that queries filter, join or group on: their statistics are what the planner
# needs after an import. The wide text columns (bodies, segment texts) are left out: their
# statistics sort tens of thousands of long strings by collation, the bulk of an ANALYZE's
# time, and no query selects by them.
ANALYZED_COLUMNS = {
    Article: ("id", "collection", "content_hash", "external_id", "import_batch", "duplicate_of"),
    Segment: ("id", "article", "position"),
}
# An import that adds less than this share of a table's rows (as the planner last counted
# them) does not analyze it: autovacuum analyzes after changes of 10 % by default, and the
# planner scales its row counts by the table's current size meanwhile.
ANALYZE_GROWTH = 0.1


def _analyze_filled_tables(*, articles: int, segments: int) -> None:
    """Refresh PostgreSQL's planner statistics of the tables an import filled, where it grew
    them by ``ANALYZE_GROWTH`` or more.

    Autovacuum would analyze them some time later; until then the planner sees an empty or
    much smaller table, and the first "next segment" query after a big import is planned
    blind (sequential scans of a table now millions of rows long).
    """
    if connection.vendor != "postgresql":
        return
    quote = connection.ops.quote_name
    added = {Article: articles, Segment: segments}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)",
            [[model._meta.db_table for model in added]],
        )
        known = dict(cursor.fetchall())
        for model, count in added.items():
            rows = known.get(model._meta.db_table, -1)
            # reltuples is -1 for a table never analyzed.
            if count and (rows <= 0 or count >= ANALYZE_GROWTH * rows):
                columns = ", ".join(quote(_column(model, name)) for name in ANALYZED_COLUMNS[model])
                cursor.execute(f"ANALYZE {quote(model._meta.db_table)} ({columns})")


def _problem_named(problem: ImportProblem, path: str, name: str) -> ImportProblem:
    """``problem`` about ``path`` (or a member of it) told with ``name`` instead."""
    if name == path:
        return problem
    return dataclasses.replace(problem, source=name + problem.source.removeprefix(path))


def _source_named(source: SourceFile, path: str, name: str) -> SourceFile:
    """``source`` from ``path`` (or a member of it) told with ``name`` instead."""
    if name == path:
        return source
    if source.name == path:
        # Readers make ids from the file name, so those follow the name people know.
        source.stem = PurePosixPath(name).name.split(".", 1)[0] or name
    source.name = name + source.name.removeprefix(path)
    return source


def _import_sources(
    sources: list[SourceFile],
    writer: _ArticleWriter,
    result: ImportResult,
    counter: ProgressCounter,
    max_record_bytes: int,
    progress_interval: float,
    *,
    skip_invalid: bool = False,
    heartbeat: _Heartbeat | None = None,
) -> Iterator[ImportProgress]:
    reported_at = time.monotonic()
    for source in sources:
        try:
            for item in _read(source, counter, max_record_bytes):
                if isinstance(item, ArticleRecord):
                    item = _record_problem(item, source) or item
                if isinstance(item, ImportProblem):
                    if skip_invalid and item.skippable:
                        result.skipped.append(item)
                        continue
                    result.errors.append(item)
                    if len(result.errors) >= MAX_REPORTED_PROBLEMS:
                        return
                elif not result.errors:
                    # After the first problem the rest is still read, to report every
                    # problem at once, but nothing more is written.
                    writer.add(item)
                now = time.monotonic()
                if heartbeat is not None:
                    heartbeat.beat(now)
                if now - reported_at >= progress_interval:
                    reported_at = now
                    yield ImportProgress(
                        bytes_done=counter.done,
                        bytes_total=counter.total,
                        articles_read=writer.articles_read,
                    )
        except ImportRejected as rejected:
            result.errors.append(rejected.problem)
        except DatabaseError:
            raise
        except (OSError, EOFError, zlib.error) as exc:
            # Unreadable or corrupt files: permissions, broken gzip or zip data.
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            result.errors.append(ImportProblem(source.name, f"could not be read: {reason}"))
        except Exception:
            # A parser bug must not become a traceback for the user: the file is reported
            # as unreadable and the details go to the log.
            logger.exception("Unexpected error while reading %s", source.name)
            result.errors.append(
                ImportProblem(source.name, "could not be read (internal error, see server log)")
            )
        if len(result.errors) >= MAX_REPORTED_PROBLEMS:
            return
    if not result.errors:
        writer.flush()
        writer.copies.wait()
        if writer.articles_created:
            Collection.objects.filter(pk=writer.collection.pk).update(
                article_count=F("article_count") + writer.articles_created,
                segment_count=F("segment_count") + writer.segments_created,
            )


def _finish_batch(batch: ImportBatch, result: ImportResult) -> None:
    batch.status = ImportBatch.Status.FAILED if result.errors else ImportBatch.Status.SUCCEEDED
    batch.finished_at = timezone.now()
    batch.articles_created = result.articles_created
    batch.duplicates_skipped = result.duplicates_skipped
    batch.segments_created = result.segments_created
    batch.near_duplicates = result.near_duplicates
    batch.errors = [problem.as_dict() for problem in result.errors]
    batch.skipped = [problem.as_dict() for problem in result.skipped[:MAX_LISTED_SKIPPED]]
    batch.save()


@transaction.atomic
def articles_delete(articles: QuerySet[Article]) -> int:
    """Delete ``articles``, keep their collections' counts right and their duplicate groups whole.

    When the first article of a near-duplicate group goes and some of its copies stay, the
    earliest remaining copy becomes the group's first article and the others point to it
    (the foreign key alone would set them all to null: one group would become many).
    Returns the number of articles deleted.
    """
    doomed = set(articles.values_list("pk", flat=True))
    if not doomed:
        return 0
    collection_ids = set(
        Article.objects.filter(pk__in=doomed).values_list("collection_id", flat=True)
    )
    survivors = (
        Article.objects.filter(duplicate_of__in=doomed)
        .exclude(pk__in=doomed)
        .order_by("duplicate_of_id", "pk")
        .values_list("duplicate_of_id", "pk")
    )
    new_first: dict[int, list[int]] = {}
    for old_first, pk in survivors:
        new_first.setdefault(old_first, []).append(pk)
    for members in new_first.values():
        first, *rest = members
        Article.objects.filter(pk=first).update(duplicate_of=None, duplicate_similarity=None)
        if rest:
            # The similarity was measured against the deleted article: unknown now.
            Article.objects.filter(pk__in=rest).update(
                duplicate_of=first, duplicate_similarity=None
            )
    deleted = len(doomed)
    Article.objects.filter(pk__in=doomed).delete()
    for collection in Collection.objects.filter(pk__in=collection_ids):
        collection.recount()
    return deleted


# Upload directories are made with this prefix (annotations.views.imports).
UPLOAD_DIRECTORY_PREFIX = "themata-upload-"
STALE_IMPORT_MESSAGE = (
    "the import stopped without finishing (its worker or database connection went away);"
    " nothing was imported"
)


def heartbeat_interval() -> float:
    """Seconds between a running import's heartbeats: a tenth of the time after which a
    silent import is taken for dead, at most a minute."""
    return min(60.0, settings.THEMATA_IMPORT_STALE_AFTER / 10)


class _Heartbeat:
    """Tells that an import is alive: refreshes its batch's ``updated_at`` and touches its
    upload folder, at most every ``heartbeat_interval()`` seconds.

    The batch row is written through a connection of its own, in autocommit: the import's
    transaction is invisible to others until it ends. On SQLite nothing can be written while
    the import holds the database, so only the folder is touched there (the sweep treats a
    locked database as a live import, see ``imports_fail_stale``).
    """

    def __init__(self, batch: ImportBatch | None, paths: Sequence[Path]) -> None:
        self.batch = batch
        self.folders = {
            path.parent for path in paths if path.parent.name.startswith(UPLOAD_DIRECTORY_PREFIX)
        }
        self.interval = heartbeat_interval()
        self.last = time.monotonic()

    def beat(self, now: float) -> None:
        if now - self.last < self.interval:
            return
        self.last = now
        for folder in self.folders:
            with contextlib.suppress(OSError):
                os.utime(folder)
        if self.batch is None or connection.vendor != "postgresql":
            return
        other = connections.create_connection(DEFAULT_DB_ALIAS)
        try:
            with other.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {other.ops.quote_name(ImportBatch._meta.db_table)}"
                    " SET updated_at = %s WHERE id = %s AND status = %s",
                    [timezone.now(), self.batch.pk, ImportBatch.Status.RUNNING],
                )
        except DatabaseError:
            # A missed heartbeat must not stop the import; the next one may get through.
            logger.warning("Could not record the heartbeat of import %s", self.batch.pk)
        finally:
            other.close()


def imports_stale(*, now: datetime | None = None) -> QuerySet[ImportBatch]:
    """Batches still "running" whose heartbeat is older than ``THEMATA_IMPORT_STALE_AFTER``."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.THEMATA_IMPORT_STALE_AFTER)
    return ImportBatch.objects.filter(status=ImportBatch.Status.RUNNING, updated_at__lt=cutoff)


def imports_fail_stale(*, now: datetime | None = None) -> int:
    """Mark imports whose heartbeat stopped more than ``THEMATA_IMPORT_STALE_AFTER`` seconds
    ago as failed, with the reason, and remove upload folders silent for as long; returns
    the number of batches marked.

    An import runs in one transaction: a killed worker or a dropped connection rolls it back
    but leaves its batch "running" and its upload folder in the temporary directory. A live
    import refreshes its batch's ``updated_at`` and its folder as it goes (``_Heartbeat``),
    so however long it runs it is not swept. Runs when an import starts, when the import page
    or the admin's collection and batch lists are opened, and in ``manage.py import_sweep``.
    On SQLite a database locked by a running import (which cannot beat there) leaves its
    batches alone.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.THEMATA_IMPORT_STALE_AFTER)
    marked = 0
    # Read first (never blocks): most calls find nothing and write nothing.
    candidates = list(imports_stale(now=now).values_list("pk", "errors"))
    if candidates:
        try:
            with _short_lock_wait():
                for pk, errors in candidates:
                    marked += (
                        imports_stale(now=now)
                        .filter(pk=pk)
                        .update(
                            status=ImportBatch.Status.FAILED,
                            finished_at=now,
                            updated_at=now,
                            errors=[*errors, ImportProblem("", STALE_IMPORT_MESSAGE).as_dict()],
                        )
                    )
        except OperationalError:
            if connection.vendor != "sqlite":
                raise
            logger.info("An import holds the database; stale imports are swept later")
    root = Path(settings.FILE_UPLOAD_TEMP_DIR or tempfile.gettempdir())
    for directory in root.glob(UPLOAD_DIRECTORY_PREFIX + "*"):
        try:
            if directory.is_dir() and directory.stat().st_mtime < cutoff.timestamp():
                shutil.rmtree(directory, ignore_errors=True)
        except OSError:
            continue  # gone already, or not ours to read
    return marked


@contextlib.contextmanager
def _short_lock_wait() -> Iterator[None]:
    """On SQLite, wait at most a moment for the write lock (a page view must not hang for
    the whole busy timeout behind a running import); elsewhere nothing changes."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        (previous,) = cursor.fetchone()
        cursor.execute("PRAGMA busy_timeout = 200")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {int(previous)}")


def collection_get_or_create(*, name: str) -> tuple[Collection, bool]:
    """The collection called ``name`` and whether it was created (with a unique slug) now."""
    existing = Collection.objects.filter(name=name).first()
    if existing is not None:
        return existing, False
    base = slugify(name)[:180] or "collection"
    slug = base
    suffix = 2
    while Collection.objects.filter(slug=slug).exists():
        slug = f"{base}-{suffix}"
        suffix += 1
    return Collection.objects.create(name=name, slug=slug), True
