"""Benchmarks: ``make bench`` (PostgreSQL; not part of ``make test``) runs both parts.

``python -m tests.bench.run ingest`` runs only the ingestion part below;
``python -m tests.bench.run annotate [options]`` only the labelling part (``annotate.py``);
``python -m tests.bench.run load [options]`` only the team load part (``load.py``: gunicorn,
50 annotators over HTTP, integrity checked in the database);
``python -m tests.bench.run exports [--reuse]`` only the dataset exports (``exports.py``);
``python -m tests.bench.run dashboard [options]`` only the team dashboard (``dashboard.py``);
``python -m tests.bench.run review [options]`` only the review queue and data browser
(``review.py``); ``python -m tests.bench.run queue`` only the queue's "next" (``queue.py``).

Ingestion benchmark:

Generates a deterministic synthetic JSONL corpus, imports it end to end with
``manage.py import_articles`` in a child process (so the wall time includes start-up and the
peak RSS is the importer's own), and compares with PostgreSQL's own ``COPY`` of the very rows
the import stored. Then imports the 45 HTML sample pages from ../shared/corpus.

The database is ``BENCH_DATABASE_URL`` (default: a ``themata_bench`` database on the local
PostgreSQL, created if missing and emptied before each run).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from tests.corpus import CORPUS, html_scores, mean_score, txt_scores

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/themata_bench"
WORDS = [
    "government",
    "minister",
    "said",
    "the",
    "on",
    "in",
    "of",
    "and",
    "to",
    "a",
    "reform",
    "poverty",
    "law",
    "court",
    "election",
    "health",
    "school",
    "economy",
    "trade",
    "talks",
    "border",
    "agreement",
    "budget",
    "people",
    "country",
    "president",
    "parliament",
    "vote",
    "rights",
    "development",
    "cooperation",
    "security",
    "growth",
    "report",
    "week",
    "year",
    "city",
    "officials",
    "announced",
    "plan",
    "new",
    "national",
    "public",
    "policy",
    "crisis",
    "support",
    "million",
    "percent",
]


def synthetic_jsonl(path: Path, articles: int, paragraphs: int = 10, seed: int = 7) -> int:
    """Write ``articles`` records of ``paragraphs`` paragraphs each; returns the byte size."""
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as out:
        for n in range(articles):
            body = "\n\n".join(
                " ".join(
                    (" ".join(rng.choices(WORDS, k=rng.randint(12, 24))).capitalize() + ".")
                    for _ in range(rng.randint(2, 4))
                )
                for _ in range(paragraphs)
            )
            record = {
                "id": f"syn-{n}",
                "title": " ".join(rng.choices(WORDS, k=8)).capitalize(),
                "text": body,
                "url": f"https://news.example/{n}",
                "published": f"2024-{1 + n % 12:02d}-{1 + n % 28:02d}T12:00:00Z",
                "section": rng.choice(["world", "politics", "economy"]),
            }
            out.write(json.dumps(record) + "\n")
    return path.stat().st_size


def synthetic_with_copies(path: Path, articles: int, share: float = 0.2, seed: int = 11) -> int:
    """Like ``synthetic_jsonl``, but ``share`` of the records are near-copies of an earlier
    one (a wire story as another outlet ran it: one sentence rewritten, a byline added). Each
    record's ``story`` field names the original, so the groups found can be scored."""
    rng = random.Random(seed)
    originals: list[tuple[str, list[list[str]]]] = []

    def sentence() -> str:
        return " ".join(rng.choices(WORDS, k=rng.randint(12, 24))).capitalize() + "."

    with path.open("w", encoding="utf-8") as out:
        for n in range(articles):
            if originals and rng.random() < share:
                story, paragraphs = rng.choice(originals)
                paragraphs = [list(p) for p in paragraphs]
                which = rng.randrange(len(paragraphs))
                paragraphs[which][rng.randrange(len(paragraphs[which]))] = sentence()
                paragraphs.insert(0, [f"By {rng.choice(WORDS).capitalize()} Reporter {n}"])
            else:
                story = f"syn-{n}"
                paragraphs = [[sentence() for _ in range(rng.randint(2, 4))] for _ in range(10)]
                originals.append((story, paragraphs))
            record = {
                "id": f"syn-{n}",
                "title": " ".join(rng.choices(WORDS, k=8)).capitalize(),
                "text": "\n\n".join(" ".join(p) for p in paragraphs),
                "story": story,
            }
            out.write(json.dumps(record) + "\n")
    return path.stat().st_size


def duplicate_group_quality(url: str, collection_name: str) -> tuple[int, float, float]:
    """(generated copies, recall, precision) of the near-duplicate groups the import found.

    Recall: copies placed in their original's group. Precision: articles marked as a copy
    whose group's first article is the story they were made from.
    """
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT a.external_id, a.metadata->>'story', f.external_id"
            " FROM articles_article a JOIN articles_collection c ON c.id = a.collection_id"
            " LEFT JOIN articles_article f ON f.id = a.duplicate_of_id WHERE c.name = %s",
            [collection_name],
        ).fetchall()
    copies = [(story, first) for ext, story, first in rows if story != ext]
    marked = [(story, first) for ext, story, first in rows if first is not None]
    found = sum(1 for story, first in copies if first == story)
    right = sum(1 for story, first in marked if first == story)
    return len(copies), found / max(1, len(copies)), right / max(1, len(marked))


# Runs manage.py in this child and records the child's own peak resident memory (VmHWM,
# which exec resets, unlike getrusage's ru_maxrss that keeps the forking parent's peak) and
# its CPU time (user and system seconds: what load on a shared machine inflates least).
_CHILD = """
import atexit, resource, runpy, sys
peak_file = sys.argv[1]
def _peak():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            kb = line.split()[1]
            open(peak_file, "w").write(f"{kb} {usage.ru_utime} {usage.ru_stime}")
atexit.register(_peak)
sys.argv = ["manage.py", *sys.argv[2:]]
runpy.run_path("manage.py", run_name="__main__")
"""


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``manage.py args``; returns (wall seconds, peak RSS MB of that child, stdout)."""
    peak_file = Path(env["BENCH_WORKDIR"]) / "peak-kb"
    started = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-c", _CHILD, str(peak_file), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    elapsed = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{process.stderr}")
    return elapsed, int(peak_file.read_text().split()[0]) / 1024, process.stdout


def last_child_cpu(env: dict[str, str]) -> float:
    """User + system CPU seconds of the last ``run_child``."""
    _, user, system = (Path(env["BENCH_WORKDIR"]) / "peak-kb").read_text().split()
    return float(user) + float(system)


def reset_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def copy_same_rows(url: str, collection_name: str) -> tuple[float, int, int]:
    """COPY the articles and segments the import stored, again, into the same tables.

    The rows are read back from the import (every column of both tables, as text: bodies,
    signatures, near-duplicate links and all), given a new collection and new ids (near-copy
    links moved with them), and written with two COPYs and a commit: the same columns,
    indexes, constraints, compression and deferred foreign-key checks the import pays for,
    with none of its parsing. The timing includes formatting the rows in Python. The copy
    is removed afterwards. Returns (seconds, articles, segments).
    """
    with psycopg.connect(url) as conn:
        (source_id,) = conn.execute(
            "SELECT id FROM articles_collection WHERE name = %s", [collection_name]
        ).fetchone()
        (target_id,) = conn.execute(
            "INSERT INTO articles_collection"
            " (name, slug, description, created_at, article_count, segment_count)"
            " VALUES (%s, %s, '', now(), 0, 0) RETURNING id",
            [f"{collection_name}-copy", f"{collection_name}-copy"],
        ).fetchone()
        (offset,) = conn.execute("SELECT coalesce(max(id), 0) FROM articles_article").fetchone()

        def rows_of(table: str, where: str, replace: dict[str, str]) -> tuple[list[str], list]:
            # Every column as text, in table order: exactly what COPY's text format reads.
            columns = [
                name
                for (name,) in conn.execute(
                    "SELECT column_name FROM information_schema.columns"
                    " WHERE table_name = %s ORDER BY ordinal_position",
                    [table],
                )
                if name != "id" or "id" in replace
            ]
            select = ", ".join(f"({replace.get(name, f't."{name}"')})::text" for name in columns)
            rows = conn.execute(f"SELECT {select} FROM {table} t {where}", [source_id]).fetchall()
            return columns, rows

        article_columns, articles = rows_of(
            "articles_article",
            "WHERE t.collection_id = %s",
            {
                "id": f"t.id + {offset}",
                "collection_id": str(target_id),
                "duplicate_of_id": f"t.duplicate_of_id + {offset}",
            },
        )
        segment_columns, segments = rows_of(
            "articles_segment",
            "JOIN articles_article a ON a.id = t.article_id WHERE a.collection_id = %s",
            {"article_id": f"t.article_id + {offset}"},
        )
        conn.commit()

        started = time.perf_counter()
        with conn.cursor() as cursor:
            for table, columns, rows in (
                ("articles_article", article_columns, articles),
                ("articles_segment", segment_columns, segments),
            ):
                quoted = ", ".join(f'"{c}"' for c in columns)
                with cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        conn.commit()
        elapsed = time.perf_counter() - started

        conn.execute(
            "DELETE FROM articles_segment s USING articles_article a"
            " WHERE a.id = s.article_id AND a.collection_id = %s",
            [target_id],
        )
        conn.execute("DELETE FROM articles_article WHERE collection_id = %s", [target_id])
        conn.execute("DELETE FROM articles_collection WHERE id = %s", [target_id])
        conn.commit()
        return elapsed, len(articles), len(segments)


def import_jsonl(
    path: Path, collection: str, env: dict[str, str], *extra: str
) -> tuple[float, float, dict]:
    seconds, rss, stdout = run_child(
        ["import_articles", "--collection", collection, "--json", *extra, str(path)], env
    )
    return seconds, rss, {**json.loads(stdout), "cpu": last_child_cpu(env)}


def ingestion_benchmark() -> None:
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    repeats = int(os.environ.get("BENCH_REPEATS", "3"))
    reset_database(url)
    workdir = Path(tempfile.mkdtemp(prefix="themata-bench-"))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "BENCH_WORKDIR": str(workdir),
    }
    rows: list[tuple[str, str]] = []
    try:
        run_child(["migrate", "--noinput", "-v", "0"], env)
        path = workdir / "synthetic-10000.jsonl"
        size = synthetic_jsonl(path, 10_000)

        # Median of several runs, each into a new collection so that every run inserts all.
        runs = [import_jsonl(path, f"bench-10k-{n}", env) for n in range(repeats)]
        seconds = statistics.median(run[0] for run in runs)
        segments = runs[0][2]["segments_created"]
        cpu = statistics.median(run[2]["cpu"] for run in runs)
        rows.append(
            (
                f"JSONL import, 10,000 articles ({size / 1e6:.0f} MB), median of {repeats}",
                f"{seconds:.2f} s; {segments:,} segments; {segments / seconds:,.0f} segments/s;"
                f" peak RSS {max(run[1] for run in runs):.0f} MB; importer CPU {cpu:.2f} s",
            )
        )
        copies = [copy_same_rows(url, "bench-10k-0") for _ in range(repeats)]
        copy_seconds = statistics.median(copy[0] for copy in copies)
        rows.append(
            (
                f"PostgreSQL COPY of the same {copies[0][1]:,} + {copies[0][2]:,} rows",
                f"{copy_seconds:.2f} s; import / COPY = {seconds / copy_seconds:.2f}x",
            )
        )
        seconds, rss, summary = import_jsonl(path, "bench-10k-0", env)
        rows.append(
            (
                "Re-import of the same 10,000 (all duplicates)",
                f"{seconds:.2f} s; {summary['duplicates_skipped']:,} skipped",
            )
        )
        seconds, rss, summary = import_jsonl(path, "bench-sentences", env, "--segment", "sentence")
        segments = summary["segments_created"]
        rows.append(
            (
                "JSONL import, 10,000 articles, sentence segments",
                f"{seconds:.2f} s; {segments:,} segments; {segments / seconds:,.0f} segments/s;"
                f" peak RSS {rss:.0f} MB",
            )
        )
        big = workdir / "synthetic-40000.jsonl"
        size = synthetic_jsonl(big, 40_000)
        seconds, rss, summary = import_jsonl(big, "bench-40k", env)
        segments = summary["segments_created"]
        rows.append(
            (
                f"JSONL import, 40,000 articles ({size / 1e6:.0f} MB)",
                f"{seconds:.2f} s; {segments:,} segments; {segments / seconds:,.0f} segments/s;"
                f" peak RSS {rss:.0f} MB; importer CPU {summary['cpu']:.2f} s",
            )
        )
        wire = workdir / "synthetic-40000-copies.jsonl"
        size = synthetic_with_copies(wire, 40_000)
        seconds, rss, summary = import_jsonl(wire, "bench-40k-copies", env)
        segments = summary["segments_created"]
        copies, recall, precision = duplicate_group_quality(url, "bench-40k-copies")
        rows.append(
            (
                f"JSONL import, 40,000 articles, {copies:,} near-copies ({size / 1e6:.0f} MB)",
                f"{seconds:.2f} s; {segments:,} segments; {segments / seconds:,.0f} segments/s;"
                f" peak RSS {rss:.0f} MB; importer CPU {summary['cpu']:.2f} s;"
                f" {summary['near_duplicates']:,} found;"
                f" group recall {recall:.3f}, precision {precision:.3f}",
            )
        )

        html_pages = CORPUS / "news-html" / "pages"
        if html_pages.is_dir():
            seconds, rss, summary = import_jsonl(html_pages, "bench-html", env)
            created = summary["articles_created"]
            rows.append(
                (
                    f"HTML import, {created} sample pages",
                    f"{seconds:.2f} s; {created / seconds:.1f} pages/s; peak RSS {rss:.0f} MB",
                )
            )
            started = time.perf_counter()
            txt = txt_scores()
            txt_seconds = time.perf_counter() - started
            cleaned = mean_score([score for _, score, _ in txt])
            raw = mean_score([score for _, _, score in txt])
            rows.append(
                (
                    f"Scraped-text cleaning, {len(txt)} pages, shingle F1",
                    f"{cleaned.f1:.3f} (P {cleaned.precision:.3f}, R {cleaned.recall:.3f});"
                    f" raw dumps {raw.f1:.3f} (P {raw.precision:.3f}); {txt_seconds:.2f} s",
                )
            )
            html = mean_score([score for _, score in html_scores()])
            rows.append(
                (
                    "HTML extraction, 45 pages, shingle F1",
                    f"{html.f1:.3f} (P {html.precision:.3f}, R {html.recall:.3f})",
                )
            )
        else:
            rows.append(("HTML import and text quality", f"skipped: {html_pages} is absent"))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    width = max(len(name) for name, _ in rows)
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"Themata ingestion benchmark on {url.rsplit('@', 1)[-1]}, {os.cpu_count()} CPUs,"
        f" load average at the end {load}"
    )
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    part = args[0] if args and not args[0].startswith("-") else "all"
    if part not in {"all", "ingest", "annotate", "load", "exports", "dashboard", "review", "queue"}:
        raise SystemExit(
            "usage: python -m tests.bench.run [all | ingest | annotate [options] |"
            " load [options] | exports [--reuse] | dashboard [options] | review [options] |"
            " queue]"
        )
    if part in {"all", "ingest"}:
        ingestion_benchmark()
    if part == "all":
        print()
    if part in {"all", "annotate"}:
        from tests.bench import annotate

        annotate.main(args[1:] if part == "annotate" else [])
    if part == "all":
        print()
    if part in {"all", "load"}:
        from tests.bench import load

        load.main(args[1:] if part == "load" else [])
    if part == "all":
        print()
    if part in {"all", "exports"}:
        from tests.bench import exports

        exports.main(args[1:] if part == "exports" else ["--reuse"])
    if part == "all":
        print()
    if part in {"all", "dashboard"}:
        from tests.bench import dashboard

        dashboard.main(args[1:] if part == "dashboard" else [])
    if part == "all":
        print()
    if part in {"all", "review"}:
        from tests.bench import review

        review.main(args[1:] if part == "review" else [])
    if part == "all":
        print()
    if part in {"all", "queue"}:
        from tests.bench import queue

        queue.main(args[1:] if part == "queue" else [])


if __name__ == "__main__":
    main()
