"""Regression tests for the four findings of the import's security probe (issue 10), and
for a refusal that comes after rows were already written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from articles import services
from articles.models import Article, ImportBatch, Segment
from articles.services import STALE_IMPORT_MESSAGE, articles_import, imports_fail_stale
from tests.factories import CollectionFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


# --- Windows-1252 text is never stored garbled


WESTERN = "Naïve résumé déjà façade"


@pytest.mark.parametrize("suffix", ["csv", "txt"])
def test_windows_1252_text_is_never_garbled(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"legacy.{suffix}"
    if suffix == "csv":
        path.write_bytes(f"title,text\nT,{WESTERN}\n".encode("cp1252"))
    else:
        path.write_bytes(
            (
                f"{WESTERN}: a headline\n\n"
                f"The {WESTERN.lower()} of the old town hall was restored this week after two"
                " years of work, the mayor said on Monday at a ceremony in the square.\n"
            ).encode("cp1252")
        )

    result = articles_import(collection=CollectionFactory(), paths=[path])

    assert result.succeeded, result.errors
    text = " ".join(Article.objects.values_list("body", flat=True)) + " ".join(
        Article.objects.values_list("title", flat=True)
    )
    assert WESTERN in text or WESTERN.lower() in text


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("Министр заявил в понедельник, что порт откроется после шторма.", "cp1251"),
        ("Minister powiedział w poniedziałek, że żółty port zostanie otwarty.", "cp1250"),
    ],
)
def test_other_legacy_encodings_are_not_read_as_windows_1252(
    tmp_path: Path, text: str, encoding: str
) -> None:
    path = tmp_path / "legacy.csv"
    path.write_bytes(f'text\n"{text}"\n'.encode(encoding))

    result = articles_import(collection=CollectionFactory(), paths=[path])

    # Right, or refused with a reason: never garbled.
    if result.succeeded:
        assert Article.objects.get().body == text
    else:
        assert "UTF-8" in result.errors[0].message


# --- A zip with many members is read in linear time


def test_a_zip_with_many_members_reads_its_index_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = tmp_path / "crawl.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(2000):
            zf.writestr(f"page-{i:05}.jsonl", json.dumps({"text": f"Story number {i}."}) + "\n")
    index_reads = 0
    real = zipfile.ZipFile._RealGetContents

    def counting(self: zipfile.ZipFile) -> None:
        nonlocal index_reads
        index_reads += 1
        real(self)

    monkeypatch.setattr(zipfile.ZipFile, "_RealGetContents", counting)
    started = time.perf_counter()

    result = articles_import(collection=CollectionFactory(), paths=[archive])

    assert result.succeeded and result.articles_created == 2000
    # Before: the index (2,000 entries) was read again for every member, 4 million entries.
    assert index_reads == 1
    assert time.perf_counter() - started < 120


# --- A large HTML page stays within the memory bound


def test_an_html_page_over_its_own_limit_is_refused(tmp_path: Path, settings) -> None:
    assert settings.THEMATA_IMPORT_MAX_HTML_BYTES < settings.THEMATA_IMPORT_MAX_FILE_BYTES
    settings.THEMATA_IMPORT_MAX_HTML_BYTES = 10_000
    page = tmp_path / "huge.html"
    page.write_text("<html><body>" + "<p>Words of a story.</p>" * 600 + "</body></html>")
    zipped = tmp_path / "pages.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.write(page, "inner.html")
    jsonl = tmp_path / "records.jsonl"
    jsonl.write_text(json.dumps({"text": "x " * 8000}) + "\n")  # same size, not HTML: fine

    result = articles_import(collection=CollectionFactory(), paths=[page, zipped, jsonl])

    assert [p.message for p in result.errors] == [
        "HTML page is too large (max 0.00953674 MB)",
        "HTML page is too large (max 0.00953674 MB)",
    ]


def big_page(size: int) -> str:
    paragraph = (
        "<p>Officials said on Monday that the harbour would reopen after the storm number {n},"
        " and traders in the old market welcomed the news with visible relief.</p>\n"
    )
    parts = ["<html><head><title>A long page</title></head><body><article><h1>Long</h1>"]
    total = n = 0
    while total < size:
        block = paragraph.format(n=n)
        parts.append(block)
        total += len(block)
        n += 1
    parts.append("</article></body></html>")
    return "".join(parts)


def test_an_html_page_at_the_limit_is_imported_in_under_300_mb(tmp_path: Path, settings) -> None:
    # A page just under THEMATA_IMPORT_MAX_HTML_BYTES, imported (dry run) by the command in
    # a fresh process whose peak memory is measured.
    limit = settings.THEMATA_IMPORT_MAX_HTML_BYTES
    page = tmp_path / "big.html"
    page.write_text(big_page(limit - 10_000), encoding="utf-8")
    assert limit - 20_000 < page.stat().st_size < limit
    script = (
        "import sys, django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings')\n"
        "django.setup()\n"
        "from articles.ingestion.html import extract_html\n"
        "page = extract_html(open(sys.argv[1], encoding='utf-8').read())\n"
        "assert page is not None and len(page.paragraphs) > 1000, page\n"
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over an exec, so the child would
        # report the pytest process's own peak (345 MB late in a whole-suite run).
        "print(next(int(line.split()[1]) for line in open('/proc/self/status')"
        " if line.startswith('VmHWM:')))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(page)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=900,
        check=True,
    )
    peak_mb = int(done.stdout.split()[-1]) / 1024
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB"


# --- Stale "running" imports


def test_stale_running_imports_are_marked_failed_and_their_files_removed(
    tmp_path: Path, settings, seed_page: Path
) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.THEMATA_IMPORT_STALE_AFTER = 3600
    collection = CollectionFactory()
    stale = ImportBatch.objects.create(collection=collection, format="auto")
    fresh = ImportBatch.objects.create(collection=collection, format="auto")
    # Its heartbeat stopped two hours ago (the other started as long ago but still beats).
    ImportBatch.objects.filter(pk=stale.pk).update(
        created_at=timezone.now() - timedelta(hours=2),
        updated_at=timezone.now() - timedelta(hours=2),
    )
    ImportBatch.objects.filter(pk=fresh.pk).update(created_at=timezone.now() - timedelta(hours=2))
    old_upload = tmp_path / f"{services.UPLOAD_DIRECTORY_PREFIX}abc"
    old_upload.mkdir()
    (old_upload / "001.jsonl").write_text("{}")
    two_hours_ago = time.time() - 7200
    os.utime(old_upload, (two_hours_ago, two_hours_ago))
    new_upload = tmp_path / f"{services.UPLOAD_DIRECTORY_PREFIX}def"
    new_upload.mkdir()
    someone_elses = tmp_path / "other-old-dir"
    someone_elses.mkdir()
    os.utime(someone_elses, (two_hours_ago, two_hours_ago))

    # The next import recognises them.
    articles_import(collection=collection, paths=[seed_page])

    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.status == ImportBatch.Status.FAILED and stale.finished_at is not None
    assert stale.errors[-1]["message"] == STALE_IMPORT_MESSAGE
    assert fresh.status == ImportBatch.Status.RUNNING
    assert not old_upload.exists()
    assert new_upload.exists() and someone_elses.exists()
    assert imports_fail_stale() == 0


# --- A refusal after the first written chunk leaves nothing behind


def test_a_refusal_after_the_first_written_chunk_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chunk = services.WRITE_CHUNK
    path = tmp_path / "big.jsonl"
    lines = [
        json.dumps({"text": f"Story {i} about the harbour.\n\nIt reopened on day {i}."})
        for i in range(chunk + 50)
    ]
    path.write_text("\n".join([*lines, '{"text": broken']) + "\n", encoding="utf-8")
    written: list[int] = []
    real_flush = services._ArticleWriter.flush

    def flush_and_count(self: services._ArticleWriter) -> None:
        real_flush(self)
        written.append(Article.objects.count())

    monkeypatch.setattr(services._ArticleWriter, "flush", flush_and_count)
    collection = CollectionFactory()

    result = articles_import(collection=collection, paths=[path])

    assert not result.succeeded
    assert result.errors[0].line == chunk + 51
    assert written and written[0] == chunk  # a whole chunk was in the table before the refusal
    assert Article.objects.count() == 0 and Segment.objects.count() == 0
    collection.refresh_from_db()
    assert (collection.article_count, collection.segment_count) == (0, 0)
    assert ImportBatch.objects.get().status == ImportBatch.Status.FAILED
