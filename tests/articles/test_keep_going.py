"""Keep-going imports (``--skip-invalid``): unusable pages and records are listed, the rest
imported; malformed files still refuse the import."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from articles.models import Article, ImportBatch, Segment

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def run_import(*args: str) -> tuple[dict, str]:
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("import_articles", *args, "--json", stdout=stdout, stderr=stderr)
    except CommandError as exc:
        stderr.write(str(exc))
    return json.loads(stdout.getvalue()), stderr.getvalue()


@pytest.fixture
def crawl(tmp_path: Path, seed_page: Path) -> Path:
    """A crawl: two good pages and two that hold no article."""
    folder = tmp_path / "crawl"
    folder.mkdir()
    shutil.copy(seed_page, folder / "a-briefing.txt")
    shutil.copy(FIXTURES / "html" / "news_article.html", folder / "b-story.html")
    (folder / "c-chrome.txt").write_text("Home\nNews\nSports\nLog In\n", encoding="utf-8")
    (folder / "d-empty.html").write_text(
        "<html><body><nav>Home</nav></body></html>", encoding="utf-8"
    )
    return folder


def test_without_the_flag_one_unusable_page_refuses_the_crawl(crawl: Path) -> None:
    summary, _ = run_import("--collection", "Crawl", str(crawl))

    assert len(summary["errors"]) == 2 and summary["skipped"] == []
    assert not Article.objects.exists()


def test_keep_going_imports_the_good_pages_and_lists_the_others(crawl: Path) -> None:
    summary, _ = run_import("--collection", "Crawl", "--skip-invalid", str(crawl))

    assert summary["errors"] == []
    assert summary["articles_created"] == 3  # the briefing page holds two articles
    assert [(Path(s["source"]).name, s["line"], s["message"]) for s in summary["skipped"]] == [
        ("c-chrome.txt", None, "no article text found"),
        ("d-empty.html", None, "no main article text found in the page"),
    ]
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert batch.options["skip_invalid"] is True
    assert [Path(s["source"]).name for s in batch.skipped] == ["c-chrome.txt", "d-empty.html"]
    assert Segment.objects.count() > 3


def test_keep_going_summary_names_the_skipped_files(crawl: Path) -> None:
    stdout, stderr = io.StringIO(), io.StringIO()

    call_command(
        "import_articles",
        "--collection",
        "C",
        "--skip-invalid",
        str(crawl),
        stdout=stdout,
        stderr=stderr,
    )

    assert "left out 2 page(s) or record(s)" in stdout.getvalue()
    assert "skipped: " in stderr.getvalue() and "c-chrome.txt: no article text found" in (
        stderr.getvalue()
    )


def test_keep_going_skips_bad_records_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text(
        json.dumps({"text": "A good story about the harbour."})
        + "\n"
        + json.dumps({"title": "No text at all"})
        + "\n"
        + json.dumps({"text": "Another good one.", "url": "javascript:alert(1)"})
        + "\n"
        + json.dumps({"text": "The last good story."})
        + "\n",
        encoding="utf-8",
    )
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text('text,title\n"Fine row.",T\n"Too",many,fields\n', encoding="utf-8")

    summary, _ = run_import("--collection", "R", "--skip-invalid", str(path), str(csv_path))

    assert summary["errors"] == [] and summary["articles_created"] == 3
    assert [(Path(s["source"]).name, s["line"]) for s in summary["skipped"]] == [
        ("records.jsonl", 2),
        ("records.jsonl", 3),
        ("rows.csv", 3),
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.jsonl", b'{"text": "fine"}\n{"text": broken\n', "invalid JSON"),
        ("latin.jsonl", b'{"text": "caf\xe9"}\n', "not valid UTF-8"),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "PNG image"),
        ("bad.csv", b'text\n"unterminated\n', "malformed CSV"),
    ],
)
def test_malformed_files_still_refuse_a_keep_going_import(
    tmp_path: Path, seed_page: Path, name: str, content: bytes, reason: str
) -> None:
    (tmp_path / name).write_bytes(content)
    shutil.copy(seed_page, tmp_path / "good.txt")

    summary, _ = run_import("--collection", "M", "--skip-invalid", str(tmp_path))

    assert reason in summary["errors"][0]["message"]
    assert not Article.objects.exists()


def test_the_upload_page_has_a_keep_going_checkbox(
    client, manager, project, tmp_path: Path, settings
) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    client.force_login(manager)
    manager_client = client
    url = reverse("annotations:import_upload", kwargs={"slug": project.slug})
    good = json.dumps({"text": "A good story about the harbour."}) + "\n"
    bad = json.dumps({"title": "No text"}) + "\n"
    upload = SimpleUploadedFile("feed.jsonl", (good + bad).encode())
    data = {"format": "auto", "segmentation": "paragraph", "time_zone": "UTC"}

    assert 'name="skip_invalid"' in manager_client.get(url).content.decode()
    refused = manager_client.post(url, {**data, "files": [upload]})
    assert refused.status_code == 400
    upload.seek(0)
    response = manager_client.post(
        url, {**data, "files": [upload], "skip_invalid": "on"}, follow=True
    )

    html = response.content.decode()
    assert "left out 1 page(s) or record(s)" in html
    assert "Left out feed.jsonl, line 2: no text" in html
    batch = ImportBatch.objects.filter(status=ImportBatch.Status.SUCCEEDED).get()
    assert batch.articles_created == 1 and batch.options["skip_invalid"] is True
