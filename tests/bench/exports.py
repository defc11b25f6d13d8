"""Export benchmark: ``python -m tests.bench.run exports`` (also part of ``make bench``).

Builds (or, with ``--reuse``, keeps) the labelling benchmark's database: 20,000 articles x
10 segments, 1,000,000 answers by 7 annotators, 8 labels (``tests/bench/annotate.py``). Then:

1. ``manage.py export_dataset --format jsonl --labels raw`` in a child process: wall time
   (start-up included), rows/s, the child's peak RSS;
2. ``--format folder --labels majority --split 0.8,0.1,0.1`` the same way;
3. for each, PostgreSQL's own ``COPY (SELECT …) TO STDOUT`` of the very query the export
   runs (the same joined rows, read by this process and thrown away), timed in the same run.

Targets (issue 9): export / COPY within 3x, peak RSS under 250 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

from tests.bench.annotate import BIG, PROJECT_SLUG, build_database
from tests.bench.run import DEFAULT_URL, run_child

TARGET_RATIO = 3.0
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


def _copy_seconds(url: str, sql: str, params: list) -> tuple[float, int, int]:
    """Time COPY (sql) TO STDOUT read to the end; returns (seconds, rows, bytes)."""
    with psycopg.connect(url) as conn, conn.cursor() as cursor:
        query = psycopg.sql.SQL(sql.replace("%s", "{}")).format(
            *(psycopg.sql.Literal(p) for p in params)
        )
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
    try:
        if not (args.reuse and _database_ready(url)):
            started = time.perf_counter()
            build_database(url, BIG, env=env)
            lines.append(f"Database built in {time.perf_counter() - started:.0f} s")
        else:
            run_child(["migrate", "--noinput", "-v", "0"], env)
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
        ]
        for title, options, flags, name in runs:
            out = workdir / name
            seconds, rss, stdout = run_child(
                ["export_dataset", PROJECT_SLUG, "--out", str(out), "--json", *flags], env
            )
            summary = json.loads(stdout)
            rows = summary["rows"]
            copy_total = 0.0
            copy_rows = copy_bytes = 0
            for sql, params in _export_sql(url, options):
                copy_time, n, size = _copy_seconds(url, sql, params)
                copy_total += copy_time
                copy_rows += n
                copy_bytes += size
            ratio = seconds / copy_total
            verdict_ratio = "meets" if ratio <= TARGET_RATIO else "MISSES"
            verdict_rss = "meets" if rss < TARGET_RSS_MB else "MISSES"
            splits = summary["rows_per_split"]
            lines += [
                f"{title}: {rows:,} rows"
                + (f" ({', '.join(f'{k} {v:,}' for k, v in splits.items())})" if splits else "")
                + f", {summary['bytes'] / 1e6:,.0f} MB",
                f"  export_dataset  {seconds:6.2f} s wall (start-up included),"
                f" {rows / seconds:,.0f} rows/s, peak RSS {rss:.0f} MB"
                f" ({verdict_rss} < {TARGET_RSS_MB:.0f} MB)",
                f"  COPY (SELECT …) TO STDOUT of the same queries: {copy_total:.2f} s,"
                f" {copy_rows:,} rows, {copy_bytes / 1e6:,.0f} MB"
                f"; export / COPY = {ratio:.2f}x ({verdict_ratio} <= {TARGET_RATIO:.0f}x)",
            ]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"Themata export benchmark on {url.rsplit('@', 1)[-1]}, {os.cpu_count()} CPUs")
    for line in lines:
        print(line)
