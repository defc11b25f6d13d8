"""The import pipeline end to end: files in, articles and segments out, all or nothing."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from articles.ingestion.errors import ImportProblem
from articles.models import Article, Collection, ImportBatch, Segment
from articles.services import ImportProgress, ImportResult, articles_import, articles_import_steps
from tests.factories import CollectionFactory

pytestmark = pytest.mark.django_db

CHROME_LINES = [
    "Skip to Content",
    "Facebook",
    "Last Updated At",
    "Recommended Articles",
]


def run_import(*args: str) -> tuple[dict, str]:
    """Run the command with --json; returns the parsed stdout object and stderr."""
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("import_articles", *args, "--json", stdout=stdout, stderr=stderr)
    except CommandError as exc:
        stderr.write(str(exc))
    out = stdout.getvalue().strip()
    return json.loads(out), stderr.getvalue()


def assert_segments_match_bodies() -> None:
    for segment in Segment.objects.select_related("article"):
        assert segment.text == segment.article.body[segment.start : segment.end]
        assert segment.text == segment.text.strip() and segment.text


def assert_nothing_stored() -> None:
    assert Article.objects.count() == 0
    assert Segment.objects.count() == 0


def write_jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_seed_page_becomes_two_clean_articles(seed_page: Path) -> None:
    summary, _ = run_import(
        "--collection", "Briefings", "--timezone", "Asia/Shanghai", str(seed_page)
    )

    assert summary == {
        "articles_created": 2,
        "duplicates_skipped": 0,
        "segments_created": 12,
        "near_duplicates": 0,
        "errors": [],
        "skipped": [],
    }
    first, second = Article.objects.order_by("id")
    assert first.title == (
        "China urges certain countries to stop using human rights to meddle in others' "
        "domestic affairs: spokeswoman"
    )
    assert first.published_at == datetime(2024, 12, 10, 16, 52, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert first.external_id == "mfa-briefing-2024-12-10"
    assert second.title == (
        "Chinese, Vietnamese officials pledge to promote China-Vietnam community with shared future"
    )
    assert [a.segments.count() for a in (first, second)] == [7, 5]
    assert first.segments.first().text.startswith("China urges certain countries to refrain")
    assert second.segments.last().text.endswith("he added.")
    for segment in Segment.objects.all():
        assert not any(chrome in segment.text for chrome in CHROME_LINES)
        assert segment.text not in {first.title, second.title, "China"}
    assert_segments_match_bodies()
    assert Collection.objects.get().name == "Briefings"


def test_reimporting_the_same_file_creates_nothing_and_says_so(seed_page: Path) -> None:
    run_import("--collection", "Briefings", str(seed_page))
    stdout = io.StringIO()
    call_command("import_articles", "--collection", "Briefings", str(seed_page), stdout=stdout)

    assert "Created 0 articles and 0 segments; skipped 2 duplicates." in stdout.getvalue()
    assert Article.objects.count() == 2
    assert Segment.objects.count() == 12


def test_sentence_segmentation_splits_paragraphs_into_sentences(seed_page: Path) -> None:
    summary, _ = run_import("--collection", "B", "--segment", "sentence", str(seed_page))

    assert summary["segments_created"] > 12
    article = Article.objects.order_by("id").first()
    assert article.segmentation == "sentence"
    texts = list(article.segments.values_list("text", flat=True))
    assert texts[0].startswith("China urges certain countries to refrain")
    assert texts[0].endswith("on Tuesday.")
    assert_segments_match_bodies()


def test_jsonl_fields_are_recognised_and_the_rest_kept_as_metadata(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(
        b"\xef\xbb\xbf"
        + json.dumps(
            {
                "id": "a-1",
                "title": "Budget passes",
                "text": "The budget passed.\n\nIt funds schools.",
                "url": "https://news.example/budget",
                "published": "2024-05-01T08:30:00Z",
                "section": "Politics",
                "tags": ["budget", "schools"],
            }
        ).encode()
        + b"\n\n"
        + json.dumps({"body": "Only one paragraph.", "headline": "Second"}).encode()
        + b"\n"
    )

    summary, _ = run_import("--collection", "Feed", str(path))

    assert summary["articles_created"] == 2 and summary["segments_created"] == 3
    budget = Article.objects.get(external_id="a-1")
    assert budget.title == "Budget passes"
    assert budget.source_url == "https://news.example/budget"
    assert budget.published_at == datetime(2024, 5, 1, 8, 30, tzinfo=ZoneInfo("UTC"))
    assert budget.metadata == {"section": "Politics", "tags": ["budget", "schools"]}
    assert list(budget.segments.values_list("text", flat=True)) == [
        "The budget passed.",
        "It funds schools.",
    ]
    second = Article.objects.get(title="Second")
    assert second.external_id == "feed:3"
    assert_segments_match_bodies()


def test_csv_with_bom_crlf_and_quoted_newlines_imports(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_bytes(
        b"\xef\xbb\xbfid,Title,Body,source\r\n"
        b'1,"Rates rise","Rates rose.\r\n\r\nMarkets fell, a little.",wire\r\n'
        b'2,"=HYPERLINK(1)","Plain text only.",blog\r\n'
    )

    summary, _ = run_import("--collection", "CSV", str(path))

    assert summary["articles_created"] == 2 and summary["errors"] == []
    rates = Article.objects.get(external_id="1")
    assert rates.title == "Rates rise"
    assert rates.metadata == {"source": "wire"}
    assert list(rates.segments.values_list("text", flat=True)) == [
        "Rates rose.",
        "Markets fell, a little.",
    ]


def test_csv_in_windows_1252_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "legacy.csv"
    text = (
        "title,text\n"
        'Café owners protest,"Owners of cafés in Zürich say the new levy “hurts” them."\n'
    )
    path.write_bytes(text.encode("cp1252"))

    summary, _ = run_import("--collection", "Legacy", str(path))

    assert summary["errors"] == []
    article = Article.objects.get()
    assert article.title == "Café owners protest"
    assert "“hurts”" in article.body


def test_gzip_zip_and_directory_inputs_are_read(tmp_path: Path) -> None:
    records = [{"id": str(i), "text": f"Story number {i} is here."} for i in range(3)]
    plain = json.dumps(records[0]) + "\n"
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "one.jsonl.gz").write_bytes(gzip.compress(plain.encode()))
    (tmp_path / "dir" / ".hidden.jsonl").write_text("not json at all")
    with zipfile.ZipFile(tmp_path / "bundle.zip", "w") as archive:
        archive.writestr("a/two.jsonl", json.dumps(records[1]) + "\n")
        archive.writestr(
            "b/three.txt", "A plain text story about rivers.\n\nIt has two paragraphs."
        )

    summary, _ = run_import(
        "--collection", "Mixed", str(tmp_path / "dir"), str(tmp_path / "bundle.zip")
    )

    assert summary["errors"] == []
    assert summary["articles_created"] == 3
    assert set(Article.objects.values_list("external_id", flat=True)) == {"0", "1", "three"}


def test_duplicates_within_one_input_are_skipped(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path / "dupes.jsonl",
        [
            {"text": "Same story."},
            {"text": "Same   story.", "id": "x"},
            {"text": "Other story."},
        ],
    )

    summary, _ = run_import("--collection", "D", str(path))

    assert summary["articles_created"] == 2
    assert summary["duplicates_skipped"] == 1


def test_dry_run_counts_but_stores_nothing(seed_page: Path) -> None:
    summary, _ = run_import("--collection", "Dry", "--dry-run", str(seed_page))

    assert summary["articles_created"] == 2 and summary["segments_created"] == 12
    assert_nothing_stored()
    assert not Collection.objects.exists()
    assert not ImportBatch.objects.exists()


def test_html_page_is_imported_with_title_url_and_date() -> None:
    page = Path(__file__).resolve().parents[1] / "fixtures" / "html" / "news_article.html"

    summary, _ = run_import("--collection", "Web", str(page))

    assert summary["errors"] == [] and summary["articles_created"] == 1
    article = Article.objects.get()
    assert article.title
    assert article.source_url.startswith("https://")
    assert article.published_at is not None
    assert "alert(1)" not in article.body and "onerror" not in article.body
    assert_segments_match_bodies()


def test_corpus_html_pages_import_as_a_directory(corpus: Path, tmp_path: Path) -> None:
    pages = sorted((corpus / "news-html" / "pages").glob("*.html.gz"))[:5]
    for page in pages:
        (tmp_path / page.name).write_bytes(page.read_bytes())

    summary, _ = run_import("--collection", "Corpus", str(tmp_path))

    assert summary["errors"] == []
    assert summary["articles_created"] == 5
    assert summary["segments_created"] >= 5 * 3
    assert_segments_match_bodies()


def test_import_records_a_batch(seed_page: Path) -> None:
    collection = CollectionFactory()

    result = articles_import(collection=collection, paths=[seed_page])

    batch = ImportBatch.objects.get()
    assert batch == result.batch
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert (batch.articles_created, batch.segments_created) == (2, 12)
    assert batch.options["segmentation"] == "paragraph"
    assert set(Article.objects.values_list("import_batch", flat=True)) == {batch.pk}


# --- bad input: the whole import is refused, nothing is stored, the message names the place


def problem(summary: dict) -> dict:
    assert summary["articles_created"] == 0
    assert summary["errors"], "the import should have been refused"
    return summary["errors"][0]


def test_malformed_jsonl_line_refuses_the_whole_import(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    lines = [json.dumps({"text": f"Story {i}."}) for i in range(1, 8)]
    lines[4] = '{"text": "broken",'
    path.write_text("\n".join(lines) + "\n")
    good = write_jsonl(tmp_path / "good.jsonl", [{"text": "A good story."}])

    summary, stderr = run_import("--collection", "Feed", str(good), str(path))

    error = problem(summary)
    assert error["source"].endswith("feed.jsonl") and error["line"] == 5
    assert "invalid JSON" in error["message"]
    assert "feed.jsonl, line 5" in stderr or "refused" in stderr
    assert_nothing_stored()
    assert not Collection.objects.exists()


def test_refused_import_into_an_existing_collection_is_recorded_as_failed(tmp_path: Path) -> None:
    collection = CollectionFactory()
    path = tmp_path / "feed.jsonl"
    path.write_text('{"text": "ok"}\n[1, 2]\n')

    result = articles_import(collection=collection, paths=[path])

    assert not result.succeeded
    assert str(result.errors[0]).endswith("feed.jsonl, line 2: each line must be a JSON object")
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors == [result.errors[0].as_dict()]
    assert_nothing_stored()


def test_every_bad_line_is_reported_at_once(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"text": "ok"}\n{bad\n{"text": ""}\n{"title": "no text"}\n')

    summary, _ = run_import("--collection", "F", str(path))

    assert [(e["line"], e["message"]) for e in summary["errors"]] == [
        (2, "invalid JSON: Expecting property name enclosed in double quotes at column 2"),
        (3, "field 'text' is empty"),
        (4, "no text: the record needs a 'text' or 'body' field"),
    ]
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"text": "a", "text": "b"}', "duplicate key 'text'"),
        ("[" * 10_000 + "]" * 10_000, "nested too deeply"),
        ('{"text": "a", "published": "yesterday"}', "is not a date"),
        ('{"text": "a", "url": "javascript:alert(1)"}', "is not an http(s) URL"),
        ('{"text": "nul \\u0000 inside"}', "NUL character"),
        ('{"text": 42}', "must be a string"),
    ],
)
def test_bad_jsonl_records_are_refused_with_their_line(
    tmp_path: Path, line: str, reason: str
) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text('{"text": "fine"}\n' + line + "\n")

    summary, _ = run_import("--collection", "F", str(path))

    error = problem(summary)
    assert error["line"] == 2
    assert reason in error["message"]
    assert_nothing_stored()


def test_csv_without_a_text_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text("title,summary\nA,B\n")

    summary, _ = run_import("--collection", "C", str(path))

    error = problem(summary)
    assert error["line"] == 1
    assert "no text column" in error["message"] and "title, summary" in error["message"]
    assert_nothing_stored()


def test_csv_row_with_wrong_field_count_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    rows = ["title,text"] + [f"T{i},Body {i}." for i in range(1, 10)]
    rows[7] = 'T7,"Body\nover two lines",extra'
    path.write_text("\n".join(rows) + "\n")

    summary, _ = run_import("--collection", "C", str(path))

    error = problem(summary)
    assert error["line"] == 8
    assert error["message"] == "has 3 fields but the header has 2"
    assert_nothing_stored()


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.jsonl", b"", "file is empty"),
        ("blank.txt", b"\n\n   \n", "file is empty"),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "PNG image"),
        ("nul.txt", b"Some text\x00with a NUL byte", "binary file"),
        ("zipped.csv", b"PK\x03\x04" + b"\x00" * 64, "ZIP archive"),
        ("chrome.txt", b"Home\nNews\nSports\nLog In\n", "no article text found"),
        ("page.html", b"<html><body><nav>Home</nav></body></html>", "no main article text"),
    ],
)
def test_unreadable_files_are_refused_with_a_reason(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    good = write_jsonl(tmp_path / "good.jsonl", [{"text": "A good story."}])

    summary, _ = run_import("--collection", "Bad", str(good), str(path))

    error = problem(summary)
    assert error["source"].endswith(name)
    assert reason in error["message"]
    assert_nothing_stored()


def test_a_file_over_the_size_limit_is_refused(tmp_path: Path, settings) -> None:
    settings.THEMATA_IMPORT_MAX_FILE_BYTES = 1024
    path = write_jsonl(tmp_path / "big.jsonl", [{"text": "x" * 2000}])
    compressed = tmp_path / "big2.jsonl.gz"
    compressed.write_bytes(gzip.compress((json.dumps({"text": "y" * 5000}) + "\n").encode()))

    summary, _ = run_import("--collection", "Big", str(path), str(compressed))

    messages = [(Path(e["source"]).name, e["message"]) for e in summary["errors"]]
    assert messages == [
        ("big.jsonl", "file is too large (max 0.000976562 MB)"),
        ("big2.jsonl.gz", "file is too large (max 0.000976562 MB)"),
    ]
    assert_nothing_stored()


def test_a_missing_path_is_refused(tmp_path: Path) -> None:
    summary, _ = run_import("--collection", "M", str(tmp_path / "nope.jsonl"))

    assert problem(summary)["message"] == "no such file or directory"


def test_text_in_an_undetectable_encoding_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_bytes(b'{"text": "caf\xe9"}\n')

    summary, _ = run_import("--collection", "E", str(path))

    error = problem(summary)
    assert error["line"] == 1 and "JSONL must be UTF-8" in error["message"]


def test_command_without_json_prints_a_summary_and_fails_on_errors(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text("{oops\n")
    stdout, stderr = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command(
            "import_articles", "--collection", "X", str(path), stdout=stdout, stderr=stderr
        )

    assert "feed.jsonl, line 1: invalid JSON" in stderr.getvalue()
    assert stdout.getvalue() == ""


def test_progress_is_reported_in_bytes_up_to_the_total(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "feed.jsonl", [{"text": f"Story {i}. " * 50} for i in range(300)])
    calls: list[tuple[int, int]] = []

    articles_import(
        collection=CollectionFactory(),
        paths=[path],
        on_progress=lambda done, total: calls.append((done, total)),
    )

    assert calls, "no progress was reported"
    assert {total for _, total in calls} == {path.stat().st_size}
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    assert calls[-1][0] == path.stat().st_size


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_command_shows_a_progress_bar_on_a_terminal(seed_page: Path) -> None:
    terminal, stdout = Terminal(), io.StringIO()

    call_command(
        "import_articles", "--collection", "B", str(seed_page), stdout=stdout, stderr=terminal
    )

    size = seed_page.stat().st_size
    assert "Importing: 100%" in terminal.getvalue()
    assert f"{size / 1000:.2f}k/{size / 1000:.2f}k" in terminal.getvalue()
    assert stdout.getvalue().startswith("Created 2 articles")


def test_command_shows_no_progress_bar_when_not_on_a_terminal(seed_page: Path) -> None:
    stderr = io.StringIO()

    call_command(
        "import_articles", "--collection", "B", str(seed_page), stdout=io.StringIO(), stderr=stderr
    )

    assert stderr.getvalue() == ""


def test_a_reader_crash_is_reported_as_a_problem_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(text: str, **kwargs: object) -> None:
        raise RuntimeError("parser bug")

    monkeypatch.setattr("articles.ingestion.readers.extract_html", explode)
    page = tmp_path / "page.html"
    page.write_text("<html><body><p>Some article text here.</p></body></html>")

    summary, _ = run_import("--collection", "Crash", str(page))

    assert problem(summary)["message"] == "could not be read (internal error, see server log)"
    assert_nothing_stored()


def test_scraped_text_in_latin_1_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "page.txt"
    text = (
        "Les députés ont adopté mardi la réforme des retraites après un débat très animé.\n\n"
        "Le gouvernement a salué un « pas décisif » tandis que l'opposition dénonçait une loi"
        " injuste pour les salariés les plus âgés."
    )
    path.write_bytes(text.encode("latin-1"))

    summary, _ = run_import("--collection", "FR", str(path))

    assert summary["errors"] == []
    assert "« pas décisif »" in Article.objects.get().body


def test_tab_separated_files_are_read_as_csv(tmp_path: Path) -> None:
    path = tmp_path / "rows.tsv"
    path.write_text("id\ttitle\ttext\n7\tTabs, commas\tA body, with commas, in it.\n")

    summary, _ = run_import("--collection", "TSV", str(path))

    assert summary["errors"] == []
    article = Article.objects.get()
    assert (article.external_id, article.title) == ("7", "Tabs, commas")
    assert article.body == "A body, with commas, in it."


def test_reading_stops_after_a_hundred_problems(tmp_path: Path) -> None:
    path = tmp_path / "feed.jsonl"
    path.write_text("not json\n" * 500)

    result = articles_import(collection=CollectionFactory(), paths=[path])

    assert len(result.errors) == 100
    assert result.errors[-1].line == 100
    assert result.summary() == "Import refused: 100+ problems; nothing was imported."


def test_a_corrupt_gzip_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    good = gzip.compress(b'{"text": "A story that will be cut off."}\n' * 200)
    path = tmp_path / "feed.jsonl.gz"
    path.write_bytes(good[: len(good) // 2])

    summary, _ = run_import("--collection", "Gz", str(path))

    error = problem(summary)
    assert error["source"].endswith("feed.jsonl.gz")
    assert error["message"].startswith("could not be read: Compressed file ended")
    assert_nothing_stored()


# --- step by step (the browser upload streams these)


def test_import_steps_yield_progress_between_records_and_end_with_the_result(
    tmp_path: Path,
) -> None:
    path = write_jsonl(tmp_path / "feed.jsonl", [{"text": f"Story {i}."} for i in range(30)])

    steps = list(
        articles_import_steps(collection=CollectionFactory(), paths=[path], progress_interval=0)
    )

    *progress, result = steps
    assert isinstance(result, ImportResult) and result.articles_created == 30
    assert all(isinstance(step, ImportProgress) for step in progress)
    assert progress[0] == ImportProgress(
        bytes_done=0, bytes_total=path.stat().st_size, articles_read=0
    )
    assert [p.articles_read for p in progress[1:]] == list(range(1, 31))
    assert progress[-1].bytes_done == path.stat().st_size


def test_import_steps_are_throttled(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "feed.jsonl", [{"text": f"Story {i}."} for i in range(300)])

    steps = list(articles_import_steps(collection=CollectionFactory(), paths=[path]))

    assert len(steps) < 10  # the start, perhaps a few timed events, the result


def test_stopping_the_steps_early_stores_nothing_and_records_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("articles.services.WRITE_CHUNK", 5)
    collection = CollectionFactory()
    path = write_jsonl(tmp_path / "feed.jsonl", [{"text": f"Story {i}."} for i in range(30)])
    steps = articles_import_steps(collection=collection, paths=[path], progress_interval=0)

    for step in steps:
        if step.articles_read == 20:
            break
    assert Article.objects.count() >= 15  # written so far, inside the import's transaction
    steps.close()

    assert_nothing_stored()
    collection.refresh_from_db()
    assert (collection.article_count, collection.segment_count) == (0, 0)
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.errors[0]["message"] == (
        "the import was stopped before it finished; nothing was imported"
    )


def test_names_stand_for_paths_in_problems_ids_and_the_batch(tmp_path: Path) -> None:
    stored = tmp_path / "001.txt"
    stored.write_text("A perfectly ordinary article about the harbour and its many boats.")
    bad = tmp_path / "002.jsonl"
    bad.write_text('{"text": "fine"}\n{oops\n')
    names = {stored: "harbour news.txt", bad: "feed.jsonl"}

    result = articles_import(collection=CollectionFactory(), paths=[stored, bad], names=names)

    assert [str(problem) for problem in result.errors] == [
        "feed.jsonl, line 2: invalid JSON: Expecting property name enclosed in double quotes"
        " at column 2"
    ]
    assert ImportBatch.objects.get().source_names == ["harbour news.txt", "feed.jsonl"]

    result = articles_import(collection=CollectionFactory(), paths=[stored], names=names)

    assert result.succeeded
    assert Article.objects.get().external_id == "harbour news"


def test_problems_found_beforehand_refuse_the_import(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "feed.jsonl", [{"text": "Story."}])
    early = ImportProblem("big.csv", "file is too large (max 1 MB)")

    result = articles_import(collection=CollectionFactory(), paths=[path], problems=[early])

    assert result.errors == [early]
    assert_nothing_stored()
    assert ImportBatch.objects.get().status == ImportBatch.Status.FAILED


def test_a_successful_import_adds_to_the_collection_counts(tmp_path: Path) -> None:
    collection = CollectionFactory()
    path = write_jsonl(
        tmp_path / "feed.jsonl", [{"text": f"Story {i}.\n\nMore {i}."} for i in range(4)]
    )

    articles_import(collection=collection, paths=[path])
    articles_import(collection=collection, paths=[path])

    collection.refresh_from_db()
    assert (collection.article_count, collection.segment_count) == (4, 8)


def test_the_postgresql_copy_writes_every_article_and_segment_column() -> None:
    # The COPY lists its columns by hand (no model instances): a new column must be added
    # there, or PostgreSQL imports would leave it at NULL (or fail on NOT NULL).
    from articles.models import Article, Segment
    from articles.services import ARTICLE_COPY_FIELDS, SEGMENT_COPY_FIELDS

    assert sorted(ARTICLE_COPY_FIELDS) == sorted(f.name for f in Article._meta.concrete_fields)
    assert sorted(("id", *SEGMENT_COPY_FIELDS)) == sorted(
        f.name for f in Segment._meta.concrete_fields
    )


def test_backslashes_and_line_breaks_in_segments_are_stored_as_written(tmp_path: Path) -> None:
    # PostgreSQL's segment rows are written as COPY text: a backslash, "\N" (COPY's NULL) and
    # a line break inside a paragraph must come back unchanged.
    paragraphs = [
        "A path C:\\news\\today and \\N stays text.",
        "First line of a poem\nits second line, tab\tkept.",
    ]
    path = write_jsonl(tmp_path / "a.jsonl", [{"text": "\n\n".join(paragraphs)}])

    result = articles_import(collection=CollectionFactory(), paths=[path])

    assert result.succeeded
    texts = list(Segment.objects.order_by("position").values_list("text", flat=True))
    assert texts[0] == paragraphs[0]
    assert texts[1].startswith("First line of a poem\nits second line")
    assert_segments_match_bodies()
