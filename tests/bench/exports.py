"""Export benchmark: ``python -m tests.bench.run exports`` (also part of ``make bench``).

Builds (or, with ``--reuse``, keeps) the labelling benchmark's database: 20,000 articles x
10 segments, 1,000,000 answers by 7 annotators, 8 labels (``tests/bench/annotate.py``). Then:

1. ``manage.py export_dataset --format jsonl --labels raw`` in a child process: wall time
   (start-up included), the child's CPU time, rows/s, the child's peak RSS;
2. ``--format folder --labels majority --split 0.8,0.1,0.1`` the same way;
3. ``--format folder --labels gold --split 0.8,0.1,0.1`` (gold labels are added to the
   database first when it has none: the majority of segments with three answers or more,
   as a reviewer accepting it would make them), then majority CSV and raw Parquet (both
   row by row in Python, no 3x target; recorded);
4. for each, PostgreSQL's own ``COPY (SELECT …) TO STDOUT`` of the rows the export reads
   (``export_queries()``: the same joined rows, plain columns instead of JSON lines, read by
   this process and thrown away), timed in the same run.

Targets (issue 9): export / COPY within 3x for raw JSONL and the folder, peak RSS under
250 MB. ``--reuse`` keeps a database built by this benchmark (or the labelling one).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from tests.bench.annotate import BIG, PROJECT_SLUG, build_database
from tests.bench.run import DEFAULT_URL, run_child

TARGET_RATIO = 3.0
TARGETED = ("Raw JSONL, one row per answer", "Majority folder with splits (>= 3 answers)")
TARGET_RSS_MB = 250.0


def _database_ready(url: str) -> bool:
    try:
        with psycopg.connect(url) as conn:
            (count,) = conn.execute("SELECT count(*) FROM annotations_annotation").fetchone()
            (missing,) = conn.execute(
                "SELECT count(*) FROM django_migrations WHERE app = 'annotations'"
                " AND name LIKE '%%export%%'"
            ).fetchone()
    except psycopg.Error:
        return False
    return count == BIG.annotations and missing > 0


GOLD_SQL = """
WITH sub AS (
    SELECT a.id, a.segment_id FROM annotations_annotation a
    WHERE a.project_id = 1 AND a.status = 'submitted'
), n AS (
    SELECT segment_id, count(*) AS n FROM sub GROUP BY segment_id HAVING count(*) >= 3
), v AS (
    SELECT sub.segment_id, al.label_id FROM sub
    JOIN annotations_annotationlabel al ON al.annotation_id = sub.id
    JOIN n USING (segment_id)
    GROUP BY sub.segment_id, al.label_id, n.n HAVING 2 * count(*) > n.n
), g AS (
    INSERT INTO annotations_goldlabel
        (project_id, segment_id, source, reviewer_id, note, version, created_at, updated_at)
    SELECT DISTINCT 1, segment_id, 'majority', 1, '', 1, now(), now() FROM v
    RETURNING id, segment_id
)
INSERT INTO annotations_goldlabellabel (gold_label_id, label_id)
SELECT g.id, v.label_id FROM g JOIN v USING (segment_id)
"""


def _ensure_gold(url: str) -> int:
    """Gold labels for the gold export (the database builder makes none)."""
    with psycopg.connect(url) as conn:
        (count,) = conn.execute("SELECT count(*) FROM annotations_goldlabel").fetchone()
        if not count:
            conn.execute(GOLD_SQL)
            conn.commit()
            conn.execute("ANALYZE annotations_goldlabel")
            conn.execute("ANALYZE annotations_goldlabellabel")
            (count,) = conn.execute("SELECT count(*) FROM annotations_goldlabel").fetchone()
        return int(count)


def _copy_seconds(url: str, sql: str, params: list) -> tuple[float, int, int]:
    """Time COPY (sql) TO STDOUT read to the end; returns (seconds, rows, bytes)."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        template = sql.replace("{", "{{").replace("}", "}}").replace("%s", "{}")
        query = psycopg.sql.SQL(template).format(*(psycopg.sql.Literal(p) for p in params))
        started = time.perf_counter()
        size = rows = 0
        with cursor.copy(psycopg.sql.SQL("COPY ({}) TO STDOUT").format(query)) as copy:
            for block in copy:
                size += len(block)
                rows += bytes(block).count(b"\n")
        return time.perf_counter() - started, rows, size


def _export_sql(url: str, options: dict) -> list[tuple[str, list]]:
    """The queries an export with ``options`` streams (from the service itself)."""
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connection

    from annotations.models import Project
    from annotations.services.exports import ExportOptions, export_queries

    project = Project.objects.get(slug=PROJECT_SLUG)
    queries = export_queries(connection, project, ExportOptions.from_dict(options))
    connection.close()
    return queries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.run exports")
    parser.add_argument(
        "--reuse", action="store_true", help="Keep the database if it is already built."
    )
    args = parser.parse_args(argv or [])
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    workdir = Path(tempfile.mkdtemp(prefix="themata-bench-exports-"))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "BENCH_WORKDIR": str(workdir),
    }
    lines: list[str] = []
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(
        f"Themata export benchmark on {url.rsplit('@', 1)[-1]}, {os.cpu_count()} CPUs,"
        f" load average at the start {load}",
        flush=True,
    )
    try:
        if not (args.reuse and _database_ready(url)):
            started = time.perf_counter()
            build_database(url, BIG, env=env)
            lines.append(f"Database built in {time.perf_counter() - started:.0f} s")
            print(lines[-1], flush=True)
        else:
            run_child(["migrate", "--noinput", "-v", "0"], env)
        gold = _ensure_gold(url)
        lines.append(f"Gold labels in the database: {gold:,}")
        print(lines[-1], flush=True)
        split = ["--split", "0.8,0.1,0.1"]
        runs = [
            (
                "Raw JSONL, one row per answer",
                {"format": "jsonl", "labels": "raw"},
                ["--format", "jsonl", "--labels", "raw"],
                "raw.jsonl",
            ),
            (
                "Majority folder with splits (>= 3 answers)",
                {
                    "format": "folder",
                    "labels": "majority",
                    "min_answers": 3,
                    "split": [0.8, 0.1, 0.1],
                },
                [
                    "--format",
                    "folder",
                    "--labels",
                    "majority",
                    "--min-answers",
                    "3",
                    "--split",
                    "0.8,0.1,0.1",
                ],
                "majority",
            ),
            (
                "Gold folder with splits",
                {"format": "folder", "labels": "gold", "split": [0.8, 0.1, 0.1]},
                ["--format", "folder", "--labels", "gold", *split],
                "gold",
            ),
            (
                "Majority CSV (>= 3 answers; row by row in Python)",
                {"format": "csv", "labels": "majority", "min_answers": 3},
                ["--format", "csv", "--labels", "majority", "--min-answers", "3"],
                "majority.csv",
            ),
            (
                "Raw Parquet (row by row in Python)",
                {"format": "parquet", "labels": "raw"},
                ["--format", "parquet", "--labels", "raw"],
                "raw.parquet",
            ),
        ]
        for title, options, flags, name in runs:
            out = workdir / name
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            seconds, rss, stdout = run_child(
                ["export_dataset", PROJECT_SLUG, "--out", str(out), "--json", *flags], env
            )
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            summary = json.loads(stdout)
            rows = summary["rows"]
            copy_total = 0.0
            copy_rows = copy_bytes = 0
            for sql, params in _export_sql(url, options):
                copy_time, n, size = _copy_seconds(url, sql, params)
                copy_total += copy_time
                copy_rows += n
                copy_bytes += size
            if out.is_dir():
                shutil.rmtree(out, ignore_errors=True)
            else:
                out.unlink(missing_ok=True)
            ratio = seconds / copy_total
            verdict_ratio = (
                ("meets" if ratio <= TARGET_RATIO else "MISSES") + f" <= {TARGET_RATIO:.0f}x"
                if title in TARGETED
                else "recorded, no target"
            )
            verdict_rss = "meets" if rss < TARGET_RSS_MB else "MISSES"
            splits = summary["rows_per_split"]
            lines += [
                f"{title}: {rows:,} rows"
                + (f" ({', '.join(f'{k} {v:,}' for k, v in splits.items())})" if splits else "")
                + f", {summary['bytes'] / 1e6:,.0f} MB",
                f"  export_dataset  {seconds:6.2f} s wall (start-up included),"
                f" {cpu:.2f} s CPU in the export process,"
                f" {rows / seconds:,.0f} rows/s, peak RSS {rss:.0f} MB"
                f" ({verdict_rss} < {TARGET_RSS_MB:.0f} MB)",
                f"  COPY (SELECT …) TO STDOUT of the same queries: {copy_total:.2f} s,"
                f" {copy_rows:,} rows, {copy_bytes / 1e6:,.0f} MB"
                f"; export / COPY = {ratio:.2f}x ({verdict_ratio})",
            ]
            for line in lines[-3:]:
                print(line, flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"Load average at the end {load}")
