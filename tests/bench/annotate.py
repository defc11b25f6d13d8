"""Labelling benchmark: ``python -m tests.bench.run annotate`` (also part of ``make bench``).

Builds two PostgreSQL databases with COPY, both seeded and so identical on every run:

- **big** (``BENCH_DATABASE_URL``, default ``themata_bench``): 20,000 articles x 10 segments,
  one project wanting 5 answers per segment, 8 labels, 7 annotators and 1,000,000
  annotations. Six annotators have answered almost every segment between them (4 or 5
  answers each, at most 4 of them submitted, so every segment stays open); the bench user has
  answered the first 20,000 segments, so the screen resumes after their last answer.
- **empty** (the same name with ``_empty``): the same schema, 20 articles x 10 segments and no
  annotations.

Then, on each database, in a child process with ``DEBUG=false``: the Django test client
(logged in with ``force_login``) opens the annotate page and submits the segment shown, with
``HX-Request``, over and over (in rounds, each after a fresh ``ANALYZE``), timing each
request and counting its queries; then loads the full page. On the big
database a real server (gunicorn, 2 workers, production settings) is then driven by Chromium:
page loads (Navigation Timing) and keyboard submits (label shortcut, Enter) until the next
segment is in the page.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
SEED = 20261126
PROJECT_SLUG = "bench-annotate"
BENCH_USER = "bench"
ANNOTATORS_PER_SEGMENT = 5
OTHER_ANNOTATORS = 6
SEGMENTS_PER_ARTICLE = 10
LABELS = [
    # (name, colour, shortcut, how often others choose it)
    ("Poverty", "#e15759", "1", 10),
    ("Legislation", "#4e79a7", "2", 14),
    ("Bilateral ties", "#f28e2b", "3", 18),
    ("Human rights", "#76b7b2", "4", 8),
    ("Democracy", "#59a14f", "5", 12),
    ("Development", "#edc948", "6", 16),
    ("Health & education", "#b07aa1", "7", 9),
    ("Reform", "#ff9da7", "8", 13),
]
# When the other annotators' answers start; each segment is answered about 30 s after the
# one before it, by whoever answers it.
EPOCH = datetime(2026, 1, 5, 8, 0, tzinfo=UTC).timestamp()

# Targets from the issue.
TARGET_SERVER_MS = 10.0
TARGET_READY_MS = 300.0
TARGET_SWAP_MS = 50.0


@dataclass(frozen=True, slots=True)
class Scale:
    articles: int
    annotations: int  # all Annotation rows, the bench user's history included
    bench_history: int  # segments (the first ones) the bench user has already answered

    @property
    def segments(self) -> int:
        return self.articles * SEGMENTS_PER_ARTICLE


BIG = Scale(articles=20_000, annotations=1_000_000, bench_history=20_000)
EMPTY = Scale(articles=20, annotations=0, bench_history=0)


# --- Data -------------------------------------------------------------------------------


def _paragraph(rng: random.Random) -> str:
    from tests.bench.run import WORDS

    return " ".join(
        " ".join(rng.choices(WORDS, k=rng.randint(12, 24))).capitalize() + "."
        for _ in range(rng.randint(2, 4))
    )


def _timestamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat()


def _copy(cursor: psycopg.Cursor, table: str, columns: str, rows) -> int:
    """COPY ``rows`` into ``table``; ``columns`` are the column names, space-separated."""
    quoted = ", ".join(f'"{c}"' for c in columns.split())
    count = 0
    with cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def _annotation_rows(scale: Scale, rng: random.Random, bench_id: int, other_ids: list[int]):
    """Yield ``(annotation row, label ids)`` in id order: by segment, then answer time.

    The others' answers are spread so that every segment gets ``q`` or ``q + 1`` of them
    (their total is fixed), at most ``ANNOTATORS_PER_SEGMENT - 1`` submitted; the rest are
    skips. The bench user answered segments ``1..bench_history``, 5% of them skipped.
    """
    others_total = scale.annotations - scale.bench_history
    per_segment, extra = divmod(others_total, scale.segments) if scale.segments else (0, 0)
    if per_segment + (extra > 0) > len(other_ids):
        raise SystemExit(f"{others_total:,} answers do not fit {scale.segments:,} segments.")
    one_more = set(rng.sample(range(1, scale.segments + 1), extra))
    max_submitted = ANNOTATORS_PER_SEGMENT - 1
    weights = [weight for *_, weight in LABELS]
    label_numbers = list(range(1, len(LABELS) + 1))
    annotation_id = 0
    for segment_id in range(1, scale.segments + 1):
        answers = per_segment + (segment_id in one_more)
        annotators = rng.sample(other_ids, answers)
        submitted = min(answers, max_submitted)
        if submitted and rng.random() < 0.05:
            submitted -= 1
        statuses = ["submitted"] * submitted + ["skipped"] * (answers - submitted)
        rng.shuffle(statuses)
        if segment_id <= scale.bench_history:
            annotators.append(bench_id)
            statuses.append("skipped" if rng.random() < 0.05 else "submitted")
        base = EPOCH + segment_id * 30
        for annotator, status in zip(annotators, statuses, strict=True):
            annotation_id += 1
            created = base + rng.uniform(0, 7 * 24 * 3600)
            revised = rng.random() < 0.02
            updated = created + (rng.uniform(60, 86_400) if revised else 0)
            if status == "submitted":
                count = 2 if rng.random() < 0.3 else 1
                chosen: set[int] = set()
                while len(chosen) < count:
                    chosen.add(rng.choices(label_numbers, weights)[0])
                labels = sorted(chosen)
            else:
                labels = []
            row = (
                annotation_id,
                status,
                rng.random() < 0.05,  # unsure
                "",
                rng.randint(1_500, 40_000),
                2 if revised else 1,
                _timestamp(created),
                _timestamp(updated),
                annotator,
                1,
                segment_id,
            )
            yield row, labels


def build_database(url: str, scale: Scale, *, env: dict[str, str]) -> dict[str, int]:
    """Drop, re-create, migrate and fill the database at ``url``; returns the row counts.

    Everything is written with COPY in one transaction, with explicit ids (the identity
    sequences are moved past them afterwards), then checked and vacuum-analysed.
    """
    from tests.bench.run import reset_database, run_child

    reset_database(url)
    run_child(["migrate", "--noinput", "-v", "0"], {**env, "DATABASE_URL": url})
    rng = random.Random(SEED)
    now = _timestamp(EPOCH - 86_400)
    bench_id = 1
    other_ids = list(range(2, 2 + OTHER_ANNOTATORS))
    counts: dict[str, int] = {}
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        usernames = [BENCH_USER] + [f"annotator-{n}" for n in range(1, OTHER_ANNOTATORS + 1)]
        counts["users"] = _copy(
            cursor,
            "auth_user",
            "id password is_superuser username first_name last_name email is_staff"
            " is_active date_joined",
            # "!" is an unusable password: the benchmark logs in by session.
            (
                (n, "!", False, name, "", "", "", False, True, now)
                for n, name in enumerate(usernames, start=1)
            ),
        )
        _copy(
            cursor,
            "articles_collection",
            "id name slug description created_at article_count segment_count",
            [(1, "Bench collection", "bench", "", now, scale.articles, scale.segments)],
        )

        article_columns = (
            "id title body source_url published_at external_id content_hash segmentation"
            " metadata created_at updated_at collection_id"
        )
        segment_columns = "id position start end text article_id"
        counts["articles"] = counts["segments"] = 0
        for first in range(1, scale.articles + 1, 2_000):
            ids = range(first, min(first + 2_000, scale.articles + 1))
            paragraphs = {n: [_paragraph(rng) for _ in range(SEGMENTS_PER_ARTICLE)] for n in ids}
            counts["articles"] += _copy(
                cursor,
                "articles_article",
                article_columns,
                (_article_row(n, "\n\n".join(paragraphs[n]), now) for n in ids),
            )
            counts["segments"] += _copy(
                cursor, "articles_segment", segment_columns, _segment_rows(paragraphs)
            )

        _copy(
            cursor,
            "annotations_labelset",
            "id name slug description created_at",
            [(1, "Bench themes", "bench-themes", "", now)],
        )
        _copy(
            cursor,
            "annotations_label",
            "id name slug description color shortcut order active label_set_id",
            (
                (
                    n,
                    name,
                    f"label-{n}",
                    f"When the segment is about {name.lower()}.",
                    color,
                    key,
                    n,
                    True,
                    1,
                )
                for n, (name, color, key, _) in enumerate(LABELS, start=1)
            ),
        )
        _copy(
            cursor,
            "annotations_project",
            "id name slug description multi_label annotators_per_segment created_at"
            " collection_id label_set_id auto_accept_unanimous review_sample_percent"
            # The queue's settings at their model defaults; its rows are made lazily
            # (queued_segments and queue_synced_to 0: none yet).
            " queue_order queue_seed reservation_minutes one_per_duplicate_group"
            " queued_segments queue_synced_to",
            [
                (
                    1,
                    "Bench project",
                    PROJECT_SLUG,
                    "",
                    True,
                    ANNOTATORS_PER_SEGMENT,
                    now,
                    1,
                    1,
                    True,
                    0,
                    "reading",
                    1,
                    30,
                    False,
                    0,
                    0,
                )
            ],
        )
        _copy(
            cursor,
            "annotations_membership",
            "id role created_at user_id project_id",
            ((n, "annotator", now, n, 1) for n in range(1, len(usernames) + 1)),
        )

        progress: Counter[tuple[int, str]] = Counter()
        label_rows: list[tuple[int, int, int]] = []

        def annotations():
            for row, labels in _annotation_rows(scale, rng, bench_id, other_ids):
                progress[row[8], row[1]] += 1
                for label in labels:
                    label_rows.append((len(label_rows) + 1, row[0], label))
                yield row

        counts["annotations"] = _copy(
            cursor,
            "annotations_annotation",
            "id status unsure comment time_spent_ms version created_at updated_at"
            " annotator_id project_id segment_id",
            annotations(),
        )
        counts["annotation_labels"] = _copy(
            cursor,
            "annotations_annotationlabel",
            "id annotation_id label_id",
            label_rows,
        )
        counts["progress"] = _copy(
            cursor,
            "annotations_annotatorprogress",
            "id submitted skipped annotator_id project_id",
            (
                (n, progress[user, "submitted"], progress[user, "skipped"], user, 1)
                for n, user in enumerate(sorted({user for user, _ in progress}), start=1)
            ),
        )
        for table in (
            "auth_user",
            "articles_collection",
            "articles_article",
            "articles_segment",
            "annotations_labelset",
            "annotations_label",
            "annotations_project",
            "annotations_membership",
            "annotations_annotation",
            "annotations_annotationlabel",
            "annotations_annotatorprogress",
        ):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        conn.commit()
        _check(conn, scale, counts, label_count=len(label_rows))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
    return counts


def _article_row(article_id: int, body: str, now: str) -> tuple:
    return (
        article_id,
        f"Bench article {article_id}",
        body,
        f"https://news.example/bench/{article_id}",
        now,
        f"bench-{article_id}",
        # articles.models.content_hash_for: sha256 of the whitespace-collapsed body.
        hashlib.sha256(" ".join(body.split()).encode()).hexdigest(),
        "paragraph",
        "{}",
        now,
        now,
        1,
    )


def _segment_rows(paragraphs: dict[int, list[str]]):
    """Segments as the importer makes them: paragraphs joined by a blank line."""
    for article_id, texts in paragraphs.items():
        start = 0
        for position, text in enumerate(texts):
            segment_id = (article_id - 1) * SEGMENTS_PER_ARTICLE + position + 1
            yield segment_id, position, start, start + len(text), text, article_id
            start += len(text) + 2


def _check(conn: psycopg.Connection, scale: Scale, counts: dict[str, int], label_count: int):
    """The invariants the application relies on, checked on the stored rows."""

    def one(sql: str) -> int:
        return conn.execute(sql).fetchone()[0]

    problems = []
    expected = {
        "articles": scale.articles,
        "segments": scale.segments,
        "annotations": scale.annotations,
        "annotation_labels": label_count,
    }
    stored = {
        "articles": one("SELECT count(*) FROM articles_article"),
        "segments": one("SELECT count(*) FROM articles_segment"),
        "annotations": one("SELECT count(*) FROM annotations_annotation"),
        "annotation_labels": one("SELECT count(*) FROM annotations_annotationlabel"),
    }
    if stored != expected:
        problems.append(f"row counts {stored} != {expected}")
    if conn.execute(
        "SELECT article_count, segment_count FROM articles_collection WHERE id = 1"
    ).fetchone() != (scale.articles, scale.segments):
        problems.append("the collection's stored counts do not match its rows")
    if one(
        "SELECT count(*) FROM articles_segment s JOIN articles_article a ON a.id = s.article_id"
        " WHERE substr(a.body, s.start + 1, s.end - s.start) <> s.text"
    ):
        problems.append("segment text differs from its article's body slice")
    if one(
        "SELECT count(*) FROM annotations_annotation a WHERE (a.status = 'submitted') <>"
        " EXISTS (SELECT 1 FROM annotations_annotationlabel l WHERE l.annotation_id = a.id)"
    ):
        problems.append("a submitted answer without labels, or a skip with labels")
    busiest = one(
        "SELECT coalesce(max(n), 0) FROM (SELECT count(*) AS n FROM annotations_annotation"
        " WHERE status = 'submitted' AND annotator_id <> 1 GROUP BY segment_id) t"
    )
    if busiest >= ANNOTATORS_PER_SEGMENT:
        problems.append(f"a segment has {busiest} submitted answers from the others")
    if one(
        "SELECT count(*) FROM annotations_annotatorprogress p FULL JOIN ("
        " SELECT annotator_id, count(*) FILTER (WHERE status = 'submitted') AS s,"
        " count(*) FILTER (WHERE status = 'skipped') AS k FROM annotations_annotation"
        " GROUP BY annotator_id) a USING (annotator_id)"
        " WHERE p.submitted IS DISTINCT FROM a.s OR p.skipped IS DISTINCT FROM a.k"
    ):
        problems.append("AnnotatorProgress does not match the annotations")
    if (
        scale.bench_history
        and one("SELECT max(segment_id) FROM annotations_annotation WHERE annotator_id = 1")
        != scale.bench_history
    ):
        problems.append("the bench user's history is not the first segments")
    if problems:
        raise SystemExit("The generated data is wrong: " + "; ".join(problems))
    counts["busiest_segment_submitted"] = busiest


# --- In-process measurement (runs in a child with Django set up) --------------------------


class _Workspace(HTMLParser):
    """What the benchmark needs from an annotate page or partial."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.segment_id: int | None = None
        self.version = 0
        self.action: str | None = None
        self.shortcuts: dict[str, str] = {}
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        classes = (attributes.get("class") or "").split()
        if "segment-card" in classes and attributes.get("data-segment-id"):
            self.segment_id = int(attributes["data-segment-id"])
        elif tag == "input" and attributes.get("name") == "version":
            self.version = int(attributes.get("value") or 0)
        elif tag == "form" and attributes.get("id") == "answer-form":
            self.action = attributes.get("action")
        elif "label-button" in classes and attributes.get("data-shortcut"):
            self.shortcuts[attributes["data-shortcut"]] = attributes.get("data-label-id", "")


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[max(0, round(0.95 * len(ordered)) - 1)],
        "max": ordered[-1],
        "min": ordered[0],
        "n": len(ordered),
    }


def in_process(
    *, warmup: int, iterations: int, rounds: int, page_loads: int, profile: str = ""
) -> dict:
    """Submit answers (htmx) and load the page with the test client; times and query counts.

    After ``warmup`` submits, ``rounds`` rounds each re-ANALYZE the database (PostgreSQL
    samples rows at random, so each round plans with other statistics, as after an
    autovacuum), then time ``iterations / rounds`` submits and ``page_loads / rounds`` full
    page loads. With ``profile``, the timed submits also run under cProfile and its stats are
    written to that path (the times are then not comparable).
    """
    import cProfile
    from urllib.parse import urlencode

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from annotations.models import Label, Project

    assert not settings.DEBUG, "measure with DEBUG off"
    user = get_user_model().objects.get(username=BENCH_USER)
    project = Project.objects.get(slug=PROJECT_SLUG)
    label_ids = list(
        Label.objects.filter(label_set_id=project.label_set_id).values_list("pk", flat=True)
    )
    page_url = reverse("annotations:annotate", args=[PROJECT_SLUG])
    client = Client()
    client.force_login(user)

    def get_page() -> _Workspace:
        page = client.get(page_url)
        shown = _Workspace(page.content.decode())
        if page.status_code != 200 or shown.segment_id is None:
            raise SystemExit(f"GET {page_url}: {page.status_code}, no .segment-card shown")
        return shown

    shown = get_page()
    first_segment = shown.segment_id

    # CaptureQueriesContext counts the statements; this times each query. Transaction
    # statements (BEGIN, COMMIT) do not pass through it, so its list is shorter.
    sql_times: list[tuple[str, float]] = []

    def timed(execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            sql_times.append((sql, (time.perf_counter() - started) * 1000))

    def submit(shown: _Workspace) -> tuple[_Workspace, float, int]:
        action = shown.action or reverse(
            "annotations:annotation_save", args=[PROJECT_SLUG, shown.segment_id]
        )
        body = urlencode(
            {
                "labels": rng.sample(label_ids, 2 if rng.random() < 0.3 else 1),
                "action": "submit",
                "comment": "",
                "version": shown.version,
                "time_spent_ms": rng.randint(1_500, 40_000),
            },
            doseq=True,
        )
        sql_times.clear()
        with CaptureQueriesContext(connection) as queries, connection.execute_wrapper(timed):
            started = time.perf_counter()
            response = client.post(
                action,
                body,
                content_type="application/x-www-form-urlencoded",
                headers={"HX-Request": "true"},
            )
            elapsed = (time.perf_counter() - started) * 1000
        text = response.content.decode()
        if response.status_code != 200 or "<html" in text:
            raise SystemExit(f"POST {action}: {response.status_code}\n{text[:2000]}")
        after = _Workspace(text)
        if after.segment_id is None or after.segment_id == shown.segment_id:
            raise SystemExit(f"POST {action} did not show a next segment:\n{text[:2000]}")
        if not statements:
            statements.extend(query["sql"] for query in queries.captured_queries)
        return after, elapsed, len(queries.captured_queries)

    rng = random.Random(SEED)
    statements: list[str] = []
    for _ in range(warmup):
        shown, _, _ = submit(shown)
    statements.clear()
    get_page()

    profiler = cProfile.Profile() if profile else None
    timings: list[float] = []
    round_medians: list[float] = []
    outside_sql: list[float] = []
    counts: list[int] = []
    sql_ms: dict[int, list[float]] = {}
    timed_sample: list[str] = []
    page_timings: list[float] = []
    page_counts: list[int] = []
    # CPU time of this process per submit (Python, template, test client; not PostgreSQL's):
    # unlike the wall clock, hardly changed by other work on the machine.
    cpu: list[float] = []
    for round_ in range(rounds):
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        this_round: list[float] = []
        for _ in range(iterations // rounds + (round_ < iterations % rounds)):
            if profiler:
                profiler.enable()
            cpu_started = time.process_time()
            shown, elapsed, count = submit(shown)
            cpu.append((time.process_time() - cpu_started) * 1000)
            if profiler:
                profiler.disable()
            this_round.append(elapsed)
            counts.append(count)
            for position, (_, ms) in enumerate(sql_times):
                sql_ms.setdefault(position, []).append(ms)
            outside_sql.append(elapsed - sum(ms for _, ms in sql_times))
            if not timed_sample:
                timed_sample = [sql for sql, _ in sql_times]
        timings.extend(this_round)
        round_medians.append(statistics.median(this_round))
        # The full page, as a fresh load or a reload gets it: resume after my last answer.
        for _ in range(page_loads // rounds + (round_ < page_loads % rounds)):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                get_page()
                page_timings.append((time.perf_counter() - started) * 1000)
            page_counts.append(len(queries.captured_queries))
    if profiler:
        profiler.dump_stats(profile)
    return {
        "first_segment": first_segment,
        "last_segment": shown.segment_id,
        "ms": summary(timings),
        "round_medians_ms": round_medians,
        "outside_sql_ms": summary(outside_sql),
        "cpu_ms": summary(cpu),
        "queries": dict(Counter(counts)),
        "page": {"ms": summary(page_timings), "queries": dict(Counter(page_counts))},
        "sql": [
            {"sql": sql, "median_ms": statistics.median(sql_ms[n])}
            for n, sql in enumerate(timed_sample)
        ],
        "statements": statements,
    }


# --- Chromium against gunicorn (runs in a child with Django set up) -----------------------


_BROWSER_PROBE = """
() => {
  const card = () => document.querySelector(".segment-card");
  const probe = (window.__bench = { keyAt: null, swaps: [], settles: [],
    last: card() && card().dataset.segmentId });
  // Capture phase on window: runs before the page's own keydown handler.
  window.addEventListener("keydown", (event) => {
    if (event.key === "Enter") probe.keyAt = performance.now();
  }, true);
  new MutationObserver(() => {
    const id = card() && card().dataset.segmentId;
    if (id && id !== probe.last && probe.keyAt !== null) {
      probe.last = id;
      probe.swaps.push(performance.now() - probe.keyAt);
      probe.pending = probe.keyAt;
      probe.keyAt = null;
    }
  }).observe(document.body, { subtree: true, childList: true, attributes: true,
    attributeFilter: ["data-segment-id"] });
  const waiting = [];
  document.body.addEventListener("htmx:afterSettle", () => {
    if (probe.pending != null) {
      probe.settles.push(performance.now() - probe.pending);
      probe.pending = null;
      waiting.splice(0).forEach((resolve) => resolve());
    }
  });
  // Resolves once ``count`` swaps have settled (the page's CSP forbids Playwright's
  // string predicates, which use eval; a promise returned to evaluate() does not).
  probe.settled = (count) => new Promise((resolve) => {
    if (probe.settles.length >= count) resolve();
    else waiting.push(() => probe.settled(count).then(resolve));
  });
}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def browser(*, loads: int, submits: int, warmup: int) -> dict:
    """Start gunicorn on loopback and measure page loads and submit-to-next swaps."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    # A session made the way a login makes one; the browser is handed its cookie.
    client = Client()
    client.force_login(get_user_model().objects.get(username=BENCH_USER))
    session_key = client.cookies[settings.SESSION_COOKIE_NAME].value

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi:application",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/accounts/login/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise SystemExit("gunicorn did not answer within 10 s")
        return _drive_chromium(base, session_key, loads=loads, submits=submits, warmup=warmup)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _drive_chromium(base: str, session_key: str, *, loads: int, submits: int, warmup: int):
    from playwright.sync_api import sync_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    url = f"{base}/p/{PROJECT_SLUG}/annotate/"
    problems: list[str] = []

    def new_page(browser):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        context.add_cookies([{"name": "sessionid", "value": session_key, "url": base}])
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                problems.append(f"console {message.type}: {message.text}")
                if message.type == "error"
                else None
            ),
        )
        return context, page

    # Navigation Timing, relative to the start of the navigation.
    navigation = (
        "(() => { const n = performance.getEntriesByType('navigation')[0]; return {"
        " ready: n.domContentLoadedEventEnd, ttfb: n.responseStart - n.requestStart,"
        " response_end: n.responseEnd, interactive: n.domInteractive, load: n.loadEventEnd}; })()"
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        # Fresh loads: a new context each time (empty cache, new connection).
        fresh: list[dict[str, float]] = []
        for n in range(warmup + loads):
            context, page = new_page(browser)
            page.goto(url, wait_until="load")
            page.wait_for_selector(".segment-card[data-segment-id]")
            timing = page.evaluate(navigation)
            context.close()
            if n >= warmup:
                fresh.append(timing)
        # Repeat visits: one context, so static files come from its cache.
        cached: list[dict[str, float]] = []
        context, page = new_page(browser)
        for n in range(warmup + loads):
            page.goto(url, wait_until="load")
            page.wait_for_selector(".segment-card[data-segment-id]")
            if n >= warmup:
                cached.append(page.evaluate(navigation))
        context.close()

        context, page = new_page(browser)
        page.goto(url, wait_until="load")
        page.wait_for_selector(".segment-card[data-segment-id]")
        shortcuts = page.eval_on_selector_all(
            "button.label-button[data-shortcut]", "els => els.map(e => e.dataset.shortcut)"
        )
        if not shortcuts:
            raise SystemExit("The annotate page has no label buttons with shortcuts.")
        page.evaluate(_BROWSER_PROBE)
        rng = random.Random(SEED)
        first = page.get_attribute(".segment-card", "data-segment-id")
        for n in range(warmup + submits):
            for key in rng.sample(shortcuts, 2 if rng.random() < 0.3 else 1):
                page.keyboard.press(key)
            if not page.query_selector("button.label-button[aria-pressed=true]"):
                raise SystemExit("A label shortcut did not press its label button.")
            page.keyboard.press("Enter")
            page.evaluate("(count) => window.__bench.settled(count)", n + 1)
        probe = page.evaluate("({swaps: window.__bench.swaps, settles: window.__bench.settles})")
        last = page.get_attribute(".segment-card", "data-segment-id")
        context.close()
        version = browser.version
        browser.close()
    return {
        "chromium": version,
        "ready_ms": summary([t["ready"] for t in fresh]),
        "ttfb_ms": summary([t["ttfb"] for t in fresh]),
        "fresh": {key: summary([t[key] for t in fresh]) for key in fresh[0]},
        "cached": {key: summary([t[key] for t in cached]) for key in cached[0]},
        "swap_ms": summary(probe["swaps"][warmup:]),
        "settle_ms": summary(probe["settles"][warmup:]),
        "first_segment": int(first),
        "last_segment": int(last),
        "problems": problems,
    }


# --- Orchestration ----------------------------------------------------------------------


def child_result(module: str, mode: str, env: dict[str, str], *args: str) -> dict:
    """Run ``python -m module mode args`` and return the JSON object on its last line."""
    process = subprocess.run(
        [sys.executable, "-m", module, mode, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if process.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{process.stdout[-3000:]}\n{process.stderr[-5000:]}")
    return json.loads(process.stdout.strip().splitlines()[-1])


def _production_env(env: dict[str, str], workdir: Path) -> dict[str, str]:
    """Production settings, except that static files are collected into ``workdir``."""
    (workdir / "bench_settings.py").write_text(
        "import os\n"
        "from config.settings import *  # noqa: F403\n"
        "STATIC_ROOT = os.environ['BENCH_STATIC_ROOT']\n"
    )
    production = {
        **env,
        "DJANGO_ENV": "production",
        "DJANGO_SETTINGS_MODULE": "bench_settings",
        "PYTHONPATH": os.pathsep.join([str(workdir), str(ROOT)]),
        "BENCH_STATIC_ROOT": str(workdir / "static"),
        "SECRET_KEY": hashlib.sha256(str(workdir).encode()).hexdigest(),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
    }
    production.pop("DEBUG", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=production,
        check=True,
    )
    return production


def _fmt(summary: dict[str, float]) -> str:
    return (
        f"median {summary['median']:.1f} ms, p95 {summary['p95']:.1f} ms,"
        f" max {summary['max']:.1f} ms (n={summary['n']})"
    )


def _queries(counts: dict) -> str:
    if len(counts) == 1:
        return f"{next(iter(counts))} queries every time"
    return "queries vary: " + ", ".join(f"{k} x{v}" for k, v in sorted(counts.items()))


def main(argv: list[str] | None = None) -> None:
    """Build both databases, measure, print the table (``--show-queries``: the SQL too)."""
    from tests.bench.run import DEFAULT_URL

    parser = argparse.ArgumentParser(prog="python -m tests.bench.run annotate")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--show-queries", action="store_true")
    parser.add_argument("--no-browser", action="store_true")
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="Fraction of the big data set (for trying the harness quickly).",
    )
    options = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    empty_url = f"{url}_empty"
    big = Scale(
        articles=round(BIG.articles * options.scale),
        annotations=round(BIG.annotations * options.scale),
        bench_history=round(BIG.bench_history * options.scale),
    )
    workdir = Path(tempfile.mkdtemp(prefix="themata-bench-annotate-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        # The test client's host; DEBUG off means it must be allowed like any other.
        "ALLOWED_HOSTS": "testserver",
        "BENCH_WORKDIR": str(workdir),
    }
    rows: list[tuple[str, str]] = []
    load_before = " ".join(f"{value:.2f}" for value in os.getloadavg())
    try:
        started = time.perf_counter()
        counts = build_database(url, big, env=env)
        build_seconds = time.perf_counter() - started
        build_database(empty_url, EMPTY, env=env)
        rows.append(
            (
                "Data (COPY, checked, VACUUM ANALYZE)",
                f"{counts['segments']:,} segments, {counts['annotations']:,} annotations,"
                f" {counts['annotation_labels']:,} annotation labels in {build_seconds:.0f} s",
            )
        )
        # The empty project has 200 segments: leave a few so every answer shows a next one.
        empty_iterations = min(options.iterations, EMPTY.segments - 20 - 10)
        results = {}
        for name, database, iterations in (
            ("big", url, options.iterations),
            ("empty", empty_url, empty_iterations),
        ):
            results[name] = child_result(
                "tests.bench.annotate",
                "in-process",
                {**env, "DATABASE_URL": database},
                "--warmup",
                "20",
                "--iterations",
                str(iterations),
            )
        for name, label in (("big", "big"), ("empty", "empty")):
            result = results[name]
            rows.append(
                (
                    f"Submit + next segment, in process, {label}",
                    f"{_fmt(result['ms'])} {_verdict(result['ms'], TARGET_SERVER_MS)};"
                    f" {_queries(result['queries'])}; outside SQL median"
                    f" {result['outside_sql_ms']['median']:.1f} ms; process CPU median"
                    f" {result['cpu_ms']['median']:.1f} ms; median after each ANALYZE: "
                    + ", ".join(f"{ms:.1f}" for ms in result["round_medians_ms"]),
                )
            )
        for name, label in (("big", "big"), ("empty", "empty")):
            page = results[name]["page"]
            rows.append(
                (
                    f"Annotate page GET, in process, {label}",
                    f"{_fmt(page['ms'])}; {_queries(page['queries'])}",
                )
            )
        if not options.no_browser:
            production = _production_env({**env, "DATABASE_URL": url}, workdir)
            result = child_result(
                "tests.bench.annotate",
                "browser",
                production,
                "--loads",
                "20",
                "--submits",
                "50",
                "--warmup",
                "3",
            )
            rows.append(
                (
                    "Chromium page ready, fresh context",
                    f"{_fmt(result['ready_ms'])} {_verdict(result['ready_ms'], TARGET_READY_MS)};"
                    f" TTFB median {result['ttfb_ms']['median']:.1f} ms",
                )
            )
            cached = result["cached"]
            rows.append(
                (
                    "Chromium page ready, repeat visit (cached)",
                    f"{_fmt(cached['ready'])} {_verdict(cached['ready'], TARGET_READY_MS)};"
                    f" TTFB median {cached['ttfb']['median']:.1f} ms",
                )
            )
            rows.append(
                (
                    "Chromium Enter -> next segment in the DOM",
                    f"{_fmt(result['swap_ms'])} {_verdict(result['swap_ms'], TARGET_SWAP_MS)}",
                )
            )
            rows.append(("Chromium Enter -> htmx:afterSettle", _fmt(result["settle_ms"])))
            rows.append(("Chromium console errors", "; ".join(result["problems"][:5]) or "none"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    width = max(len(name) for name, _ in rows)
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"Themata labelling benchmark on {url.rsplit('@', 1)[-1]} (big) and"
        f" {empty_url.rsplit('/', 1)[-1]} (empty), {os.cpu_count()} CPUs,"
        f" load average at the start {load_before}, at the end {load}"
    )
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if options.show_queries:
        for name in ("big", "empty"):
            print(f"\nOne submit on the {name} database: statements as counted, then SQL timed")
            for statement in results[name]["statements"]:
                print(f"  {statement}")
            for query in results[name]["sql"]:
                print(f"  {query['median_ms']:7.2f} ms  {query['sql'][:160]}")


def _verdict(summary: dict[str, float], target: float) -> str:
    return f"[target < {target:.0f} ms: {'met' if summary['median'] < target else 'MISSED'}]"


def _child_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["in-process", "browser"])
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--loads", type=int, default=20)
    parser.add_argument("--submits", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", default="", help="in-process: write cProfile stats here")
    options = parser.parse_args()
    if options.mode == "in-process":
        result = in_process(
            warmup=options.warmup,
            iterations=options.iterations,
            rounds=options.rounds,
            page_loads=options.loads,
            profile=options.profile,
        )
    else:
        result = browser(loads=options.loads, submits=options.submits, warmup=options.warmup)
    print(json.dumps(result))


if __name__ == "__main__":
    _child_main()
