"""Uploading articles from the browser: the import_articles pipeline behind a form."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import StreamingHttpResponse
from django.test import Client
from django.urls import reverse

from annotations.views.imports import UploadToDirectory
from articles.models import Article, Collection, ImportBatch, Segment
from tests.factories import CollectionFactory

pytestmark = pytest.mark.django_db

NDJSON = "application/x-ndjson"
HTML_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def url(project) -> str:
    return reverse("annotations:import_upload", args=[project.slug])


def jsonl(*texts: str) -> bytes:
    lines = (json.dumps({"title": f"T{i}", "text": t}) + "\n" for i, t in enumerate(texts))
    return "".join(lines).encode()


def feed(name: str = "feed.jsonl", count: int = 3) -> SimpleUploadedFile:
    body = jsonl(*(f"Story {i} happened.\n\nIt mattered {i}." for i in range(count)))
    return SimpleUploadedFile(name, body, content_type="application/octet-stream")


def form_data(*files: SimpleUploadedFile, **options: str) -> dict[str, object]:
    return {
        "files": list(files),
        "format": "auto",
        "segmentation": "paragraph",
        "time_zone": "UTC",
        **options,
    }


def counts() -> tuple[int, int]:
    return Article.objects.count(), Segment.objects.count()


def read_stream(response) -> list[dict]:
    assert isinstance(response, StreamingHttpResponse)
    body = b"".join(response.streaming_content).decode()
    assert body.endswith("\n")
    return [json.loads(line) for line in body.splitlines()]


def multipart(files: list[tuple[str, bytes]], **fields: str) -> tuple[bytes, str]:
    """A multipart body built by hand, so that file names reach the server exactly as given
    (the test client would strip their directories first)."""
    boundary = "----themata-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    for filename, content in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@pytest.fixture
def uploads_dir(tmp_path: Path, settings) -> Path:
    """Where the view makes its private upload directories; empty again after each request."""
    directory = tmp_path / "uploads"
    directory.mkdir()
    settings.FILE_UPLOAD_TEMP_DIR = str(directory)
    return directory


@pytest.fixture
def manager_client(client: Client, manager) -> Client:
    client.force_login(manager)
    return client


# --- the page


def test_manager_sees_the_form_and_the_collection_history(manager_client, project, manager):
    ImportBatch.objects.create(
        collection=project.collection,
        created_by=manager,
        source_names=["old-feed.jsonl"],
        format="auto",
        status=ImportBatch.Status.FAILED,
        errors=[{"source": "old-feed.jsonl", "line": 7, "message": "invalid JSON"}],
    )

    response = manager_client.get(url(project))

    assert response.status_code == 200
    html = response.content.decode()
    assert 'enctype="multipart/form-data"' in html
    assert 'name="files"' in html and "multiple" in html
    assert "js/upload.js" in html and "<progress" in html
    assert "old-feed.jsonl, line 7: invalid JSON" in html
    assert 'value="UTC" selected' in html


def test_the_history_shows_file_names_not_server_paths(manager_client, project) -> None:
    ImportBatch.objects.create(
        collection=project.collection,
        format="auto",
        source_names=["/srv/themata/incoming/wire-2024.jsonl"],
        status=ImportBatch.Status.SUCCEEDED,
    )

    html = manager_client.get(url(project)).content.decode()

    assert "wire-2024.jsonl" in html
    assert "/srv/themata/incoming" not in html


def test_time_zone_defaults_to_the_import_setting(manager_client, project, settings):
    settings.THEMATA_IMPORT_TIME_ZONE = "Asia/Shanghai"

    html = manager_client.get(url(project)).content.decode()

    assert 'value="Asia/Shanghai" selected' in html


def test_history_partial_for_htmx_is_only_the_history(manager_client, project):
    response = manager_client.get(url(project), headers={"HX-Request": "true"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert 'id="import-history"' in html
    assert 'name="files"' not in html


@pytest.mark.parametrize("history", [1, 40])
def test_page_query_count_does_not_grow_with_history(
    manager_client, project, manager, history, django_assert_max_num_queries
):
    ImportBatch.objects.bulk_create(
        ImportBatch(
            collection=project.collection,
            created_by=manager,
            source_names=[f"feed-{i}.jsonl"],
            format="auto",
            status=ImportBatch.Status.SUCCEEDED,
            articles_created=i,
        )
        for i in range(history)
    )

    # One of them looks for imports left "running" by a dead worker (none here).
    with django_assert_max_num_queries(5):
        response = manager_client.get(url(project))

    assert response.status_code == 200
    assert response.content.decode().count('class="import-batch"') == min(history, 20)


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_it_rejects_other_methods(manager_client, project, method):
    assert getattr(manager_client, method)(url(project)).status_code == 405


# --- access


def test_anonymous_is_sent_to_log_in(client, project):
    response = client.get(url(project))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_anonymous_htmx_request_gets_401(client, project):
    assert client.get(url(project), headers={"HX-Request": "true"}).status_code == 401


def test_anonymous_post_stores_nothing(client, project):
    before = counts()

    response = client.post(url(project), form_data(feed()))

    assert response.status_code == 302
    assert counts() == before


def test_outsider_gets_404(client, project, outsider):
    client.force_login(outsider)

    assert client.get(url(project)).status_code == 404
    assert client.post(url(project), form_data(feed())).status_code == 404


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_members_without_manage_rights_get_403_and_store_nothing(
    client, project, persona, request, uploads_dir
):
    client.force_login(request.getfixturevalue(persona))
    before = counts()

    assert client.get(url(project)).status_code == 403
    assert client.post(url(project), form_data(feed())).status_code == 403
    assert counts() == before
    assert not ImportBatch.objects.exists()
    assert list(uploads_dir.iterdir()) == []


def test_admin_may_import_into_any_project(client, other_project, admin_user):
    client.force_login(admin_user)

    response = client.post(url(other_project), form_data(feed()))

    assert response.status_code == 302
    assert Article.objects.filter(collection=other_project.collection).count() == 2 + 3


def test_post_without_csrf_token_is_refused(project, manager, uploads_dir):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(manager)
    before = counts()

    response = csrf_client.post(url(project), form_data(feed()))

    assert response.status_code == 403
    assert counts() == before
    assert list(uploads_dir.iterdir()) == []


def test_post_with_csrf_token_in_header_is_accepted(project, manager):
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(manager)
    csrf_client.get(url(project))
    token = csrf_client.cookies["csrftoken"].value

    response = csrf_client.post(url(project), form_data(feed()), headers={"X-CSRFToken": token})

    assert response.status_code == 302
    assert Article.objects.filter(title="T0").exists()


def test_cross_origin_post_is_refused(project, manager, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    csrf_client = Client(enforce_csrf_checks=True)
    csrf_client.force_login(manager)
    csrf_client.get(url(project))
    token = csrf_client.cookies["csrftoken"].value

    response = csrf_client.post(
        url(project),
        form_data(feed()),
        headers={"X-CSRFToken": token, "Origin": "https://evil.example"},
        secure=True,
    )

    assert response.status_code == 403
    assert not Article.objects.filter(title="T0").exists()


# --- plain form posts (no JavaScript)


def test_upload_imports_the_articles_and_redirects_with_the_summary(
    manager_client, project, manager, uploads_dir
):
    collection = project.collection
    before_articles, before_segments = collection.article_count, collection.segment_count

    response = manager_client.post(url(project), form_data(feed(count=3)), follow=True)

    assert response.redirect_chain == [(url(project), 302)]
    html = response.content.decode()
    assert "Created 3 articles and 6 segments; skipped 0 duplicates." in html
    assert "The collection holds 5 articles and 12 segments." in html
    assert Article.objects.filter(collection=collection).count() == 2 + 3
    collection.refresh_from_db()
    assert (collection.article_count, collection.segment_count) == (
        before_articles + 3,
        before_segments + 6,
    )
    batch = ImportBatch.objects.get()
    assert batch.created_by == manager
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert batch.source_names == ["feed.jsonl"]
    assert set(Article.objects.filter(import_batch=batch).values_list("external_id", flat=True))
    assert list(uploads_dir.iterdir()) == []


def test_several_files_and_options_are_used(manager_client, project):
    page = SimpleUploadedFile(
        "briefing.txt",
        b"The minister announced a new budget for schools on Monday morning in the capital.\n\n"
        b"Teachers welcomed the plan. Critics said it was too small to matter at all.",
    )
    dated = SimpleUploadedFile(
        "dated.jsonl",
        b'{"text": "A dated story. It has two sentences.", "published": "2024-05-01 12:00"}\n',
    )

    response = manager_client.post(
        url(project),
        form_data(page, dated, segmentation="sentence", time_zone="Asia/Shanghai"),
    )

    assert response.status_code == 302
    story = Article.objects.get(external_id="dated:1")
    assert story.segmentation == "sentence"
    assert story.segments.count() == 2
    assert story.published_at.isoformat() == "2024-05-01T04:00:00+00:00"
    assert Article.objects.filter(external_id="briefing").exists()


def test_a_bad_line_refuses_the_upload_with_file_and_line_and_stores_nothing(
    manager_client, project, uploads_dir
):
    before = counts()
    bad = SimpleUploadedFile("news.jsonl", jsonl("Fine story.") + b'{"text": "broken",\n')

    response = manager_client.post(url(project), form_data(feed(), bad))

    assert response.status_code == 400
    html = response.content.decode()
    assert "Import refused: 1 problem(s); nothing was imported." in html
    assert "news.jsonl, line 2: invalid JSON" in html
    assert counts() == before
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors[0]["source"] == "news.jsonl"
    assert list(uploads_dir.iterdir()) == []


def test_reuploading_the_same_file_says_it_skipped_the_duplicates(manager_client, project):
    manager_client.post(url(project), form_data(feed(count=3)))
    before = counts()

    response = manager_client.post(url(project), form_data(feed(count=3)), follow=True)

    assert "Created 0 articles and 0 segments; skipped 3 duplicates." in response.content.decode()
    assert counts() == before


def test_without_files_the_form_asks_for_them(manager_client, project):
    response = manager_client.post(url(project), form_data())

    assert response.status_code == 400
    assert "Choose one or more files to import." in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_an_unknown_format_is_refused(manager_client, project):
    response = manager_client.post(url(project), form_data(feed(), format="docx"))

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not ImportBatch.objects.exists()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("image.csv", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "this is a PNG image, not a text file"),
        ("empty.jsonl", b"", "file is empty"),
        ("nul.txt", b"Some text\x00with a NUL byte", "binary file (contains NUL bytes)"),
        ("archive.csv", b"PK\x03\x04" + b"\x00" * 64, "ZIP archive"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(manager_client, project, name, content, reason):
    before = counts()

    response = manager_client.post(
        url(project), form_data(feed(), SimpleUploadedFile(name, content))
    )

    assert response.status_code == 400
    assert f"{name}: " in response.content.decode()
    assert reason in response.content.decode()
    assert counts() == before


def test_a_file_over_the_limit_is_refused_and_not_stored(
    manager_client, project, settings, uploads_dir
):
    settings.THEMATA_IMPORT_MAX_FILE_BYTES = 1024
    before = counts()
    big = SimpleUploadedFile("big.jsonl", jsonl("x " * 2000))

    response = manager_client.post(url(project), form_data(feed(count=1), big))

    assert response.status_code == 400
    assert "big.jsonl: file is too large (max 0.000976562 MB)" in response.content.decode()
    assert counts() == before
    assert ImportBatch.objects.get().status == ImportBatch.Status.FAILED
    assert list(uploads_dir.iterdir()) == []


def test_the_upload_handler_stops_storing_a_file_at_the_limit(rf, tmp_path):
    handler = UploadToDirectory(rf.post("/"), directory=tmp_path, max_bytes=10)
    handler.new_file("files", "../../big.jsonl", "text/plain", None)
    stored = tmp_path / "001.jsonl"

    handler.receive_data_chunk(b"12345678", 0)
    assert stored.read_bytes() == b"12345678"
    handler.receive_data_chunk(b"9abc", 8)
    assert not stored.exists()
    handler.receive_data_chunk(b"more" * 1000, 12)
    upload = handler.file_complete(4012)

    assert upload.too_large and upload.size == 4012
    assert upload.name == "big.jsonl"
    assert list(tmp_path.iterdir()) == []


def test_more_than_a_hundred_files_is_a_clear_400(manager_client, project, uploads_dir):
    files = [SimpleUploadedFile(f"f{i}.jsonl", jsonl(f"Story {i}.")) for i in range(101)]

    response = manager_client.post(url(project), form_data(*files))

    assert response.status_code == 400
    assert "Too many files: send at most 100 in one upload" in response.content.decode()
    assert not Article.objects.filter(title="T0", body="Story 0.").exists()
    assert list(uploads_dir.iterdir()) == []


def test_more_than_a_thousand_fields_is_a_clear_400(manager_client, project):
    data = {**form_data(feed()), **{f"extra{i}": "x" for i in range(1001)}}

    response = manager_client.post(url(project), data)

    assert response.status_code == 400
    assert "Too many form fields: send at most 1000" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_a_hundred_files_are_fine(manager_client, project):
    files = [SimpleUploadedFile(f"f{i}.jsonl", jsonl(f"Story {i}.")) for i in range(100)]

    response = manager_client.post(url(project), form_data(*files))

    assert response.status_code == 302
    assert ImportBatch.objects.get().articles_created == 100


def test_a_zip_of_files_is_imported_and_its_members_named_in_problems(manager_client, project):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("good.jsonl", jsonl("Zipped story."))
        archive.writestr("inner/bad.jsonl", b"{oops\n")

    response = manager_client.post(
        url(project), form_data(SimpleUploadedFile("bundle.zip", buffer.getvalue()))
    )

    assert response.status_code == 400
    assert "bundle.zip!inner/bad.jsonl, line 1: invalid JSON" in response.content.decode()


def test_a_path_in_the_file_name_is_dropped_and_never_used(manager_client, project, uploads_dir):
    body, content_type = multipart(
        [
            (
                "../../etc/passwd.txt",
                b"A perfectly ordinary article about the town fair and its many stalls.",
            )
        ],
        format="auto",
        segmentation="paragraph",
        time_zone="UTC",
    )

    response = manager_client.generic("POST", url(project), body, content_type=content_type)

    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    assert batch.source_names == ["passwd.txt"]
    assert Article.objects.get(import_batch=batch).external_id == "passwd"
    assert list(uploads_dir.iterdir()) == []
    assert not (uploads_dir.parent / "etc").exists()


def test_markup_in_a_file_name_is_shown_escaped(manager_client, project):
    name = 'a"><img src=x onerror=alert(1)>.csv'
    body, content_type = multipart(
        [(name, b"title,summary\nA,B\n")],
        format="auto",
        segmentation="paragraph",
        time_zone="UTC",
    )

    response = manager_client.generic("POST", url(project), body, content_type=content_type)

    assert response.status_code == 400
    html = response.content.decode()
    assert "<img src=x" not in html
    assert "a&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.csv, line 1: no text column" in html
    history = manager_client.get(url(project)).content.decode()
    assert "<img src=x" not in history
    assert "a&quot;&gt;&lt;img src=x onerror=alert(1)&gt;.csv" in history


# --- streamed answers (upload.js)


def test_streamed_upload_sends_progress_events_then_the_result(
    manager_client, project, monkeypatch, uploads_dir
):
    monkeypatch.setattr("articles.services.PROGRESS_INTERVAL", 0)
    big = feed(count=50)

    response = manager_client.post(url(project), form_data(big), headers={"Accept": NDJSON})

    assert response.status_code == 200
    assert response["Content-Type"] == NDJSON
    assert response["X-Accel-Buffering"] == "no"
    assert response["Cache-Control"] == "no-cache"
    events = read_stream(response)
    progress = [e for e in events if e["event"] == "progress"]
    assert progress[0] == {
        "event": "progress",
        "bytes_done": 0,
        "bytes_total": big.size,
        "articles_read": 0,
    }
    assert len(progress) > 2
    assert [e["bytes_done"] for e in progress] == sorted(e["bytes_done"] for e in progress)
    assert progress[-1]["articles_read"] == 50
    assert events[-1] == {
        "event": "result",
        "ok": True,
        "summary": "Created 50 articles and 100 segments; skipped 0 duplicates.",
        "articles_created": 50,
        "duplicates_skipped": 0,
        "segments_created": 100,
        "near_duplicates": 0,
        "errors": [],
        "skipped": [],
    }
    assert Article.objects.filter(collection=project.collection).count() == 2 + 50
    assert list(uploads_dir.iterdir()) == []


def test_streamed_refusal_lists_the_problems_and_stores_nothing(manager_client, project):
    before = counts()
    bad = SimpleUploadedFile("feed.jsonl", b'{"text": "ok"}\n[1, 2]\n')

    response = manager_client.post(url(project), form_data(bad), headers={"Accept": NDJSON})

    result = read_stream(response)[-1]
    assert result["ok"] is False
    assert result["summary"] == "Import refused: 1 problem(s); nothing was imported."
    assert result["errors"] == [
        {"source": "feed.jsonl", "line": 2, "message": "each line must be a JSON object"}
    ]
    assert counts() == before


def test_streamed_form_errors_are_an_ndjson_400(manager_client, project):
    response = manager_client.post(url(project), form_data(), headers={"Accept": NDJSON})

    assert response.status_code == 400
    assert response["Content-Type"] == NDJSON
    (event,) = [json.loads(line) for line in response.content.decode().splitlines()]
    assert event["ok"] is False
    assert event["errors"] == [
        {"source": "Files", "line": None, "message": "Choose one or more files to import."}
    ]


def test_streamed_too_many_files_is_an_ndjson_400(manager_client, project):
    files = [SimpleUploadedFile(f"f{i}.jsonl", b"{}\n") for i in range(101)]

    response = manager_client.post(url(project), form_data(*files), headers={"Accept": NDJSON})

    assert response.status_code == 400
    event = json.loads(response.content)
    assert event["summary"].startswith("Too many files: send at most 100")


def test_a_browser_form_post_is_not_streamed(manager_client, project):
    response = manager_client.post(url(project), form_data(feed()), headers={"Accept": HTML_ACCEPT})

    assert response.status_code == 302


# No test transaction around this one: the import's own transaction is what is rolled back.
@pytest.mark.django_db(transaction=True)
def test_a_stream_closed_early_rolls_everything_back(
    manager_client, project, monkeypatch, uploads_dir
):
    monkeypatch.setattr("articles.services.PROGRESS_INTERVAL", 0)
    monkeypatch.setattr("articles.services.WRITE_CHUNK", 5)
    before = counts()

    response = manager_client.post(
        url(project), form_data(feed(count=20)), headers={"Accept": NDJSON}
    )
    stream = iter(response.streaming_content)
    while json.loads(next(stream))["articles_read"] < 12:
        pass
    assert Article.objects.count() > before[0]  # written, inside the import's transaction
    response.close()  # what the server does when the browser goes away

    assert counts() == before
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors[0]["message"] == (
        "the import was stopped before it finished; nothing was imported"
    )
    assert list(uploads_dir.iterdir()) == []
    assert Collection.objects.get(pk=project.collection.pk).article_count == 2


def test_a_server_error_mid_stream_becomes_the_last_event(manager_client, project, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("database went away")
        yield

    monkeypatch.setattr("annotations.views.imports.articles_import_steps", explode)

    response = manager_client.post(url(project), form_data(feed()), headers={"Accept": NDJSON})

    result = read_stream(response)[-1]
    assert result["ok"] is False
    assert "server error" in result["summary"]


def test_other_collections_are_untouched(manager_client, project, other_project):
    elsewhere = CollectionFactory()

    manager_client.post(url(project), form_data(feed()))

    assert Article.objects.filter(collection=other_project.collection).count() == 2
    assert not Article.objects.filter(collection=elsewhere).exists()
