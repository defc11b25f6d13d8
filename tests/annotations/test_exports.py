"""Dataset exports: what each label mode writes, the file formats read back, reproducibility,
CSV safety, failures, and the command line."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from django.core.management import CommandError, call_command

from annotations.exporting import writers
from annotations.models import Annotation, Export, GoldLabel, Label, Project
from annotations.services import exports as exports_service
from annotations.services.answers import annotation_submit
from annotations.services.exports import (
    ExportOptions,
    ExportRefused,
    export_build,
    export_create,
)
from articles.models import Article, Segment
from tests.factories import SegmentedArticleFactory, UserFactory, labelled_project


@pytest.fixture
def team(db):
    """A project wanting 3 answers per segment, and three annotators."""
    project = labelled_project(name="Export team", slug="export-team", articles=4, paragraphs=3)
    project.annotators_per_segment = 3
    project.save()
    people = [UserFactory(username=name) for name in ("zoe", "adam", "mia")]
    return project, people


def labels_of(project: Project) -> dict[str, Label]:
    return {label.slug: label for label in project.label_set.labels.all()}


def segments_of(project: Project) -> list[Segment]:
    return list(Segment.objects.filter(article__collection=project.collection).order_by("id"))


def answer(project, segment, person, slugs, **fields) -> Annotation:
    labels = labels_of(project)
    return annotation_submit(
        project=project,
        segment=segment,
        annotator=person,
        labels=[labels[slug] for slug in slugs],
        **fields,
    ).annotation


def build(project, tmp_path: Path, name: str, **options) -> tuple[Export, Path, dict]:
    export = export_create(project=project, options=ExportOptions(**options), by=None)
    out = tmp_path / name
    result = export_build(export=export, out=out)
    return export, out, result.as_dict()


def read_jsonl(path: Path) -> list[dict]:
    # Split on "\n" only: str.splitlines() also splits inside text at U+2028 and friends.
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line]


# --- Label modes -----------------------------------------------------------------------


def test_raw_has_one_row_per_answer_with_pseudonyms(team, tmp_path) -> None:
    project, (zoe, adam, mia) = team
    first, second = segments_of(project)[:2]
    answer(project, first, zoe, ["theme-3", "theme-1"], comment="both", time_spent_ms=1200)
    answer(project, first, adam, [], status=Annotation.Status.SKIPPED)
    answer(project, second, mia, ["theme-2"], unsure=True)

    _, out, summary = build(project, tmp_path, "raw.jsonl", labels="raw")

    rows = read_jsonl(out)
    assert summary["rows"] == 3
    assert [(r["segment_id"], r["annotator"]) for r in rows] == [
        (first.pk, "annotator-1"),  # zoe: the oldest account of the three
        (first.pk, "annotator-2"),
        (second.pk, "annotator-3"),
    ]
    assert rows[0]["labels"] == ["theme-1", "theme-3"]  # label-set order, not click order
    assert rows[0]["comment"] == "both" and rows[0]["time_spent_ms"] == 1200
    assert rows[1]["status"] == "skipped" and rows[1]["labels"] == []
    assert rows[2]["unsure"] is True and rows[2]["version"] == 1
    assert rows[0]["text"] == first.text
    article = first.article
    assert rows[0]["start"] == first.start and rows[0]["end"] == first.end
    assert article.body[rows[0]["start"] : rows[0]["end"]] == rows[0]["text"]
    assert rows[0]["article_id"] == article.pk and rows[0]["title"] == article.title
    assert rows[0]["published_at"] is None
    assert rows[0]["created_at"].endswith("+00:00")
    assert list(rows[0]) == [
        "segment_id",
        "article_id",
        "external_id",
        "title",
        "url",
        "published_at",
        "position",
        "start",
        "end",
        "text",
        "labels",
        "annotator",
        "status",
        "unsure",
        "comment",
        "time_spent_ms",
        "version",
        "created_at",
        "updated_at",
    ]


def test_raw_with_real_names(team, tmp_path) -> None:
    project, (zoe, adam, _) = team
    answer(project, segments_of(project)[0], adam, ["theme-1"])

    _, out, _ = build(project, tmp_path, "raw.jsonl", labels="raw", real_names=True)

    assert [row["annotator"] for row in read_jsonl(out)] == ["adam"]


def test_majority_keeps_labels_more_than_half_agree_on(team, tmp_path) -> None:
    project, (zoe, adam, mia) = team
    agreed, split_vote, too_few, no_majority, *_ = segments_of(project)
    for person, slugs in ((zoe, ["theme-1", "theme-2"]), (adam, ["theme-1"]), (mia, ["theme-1"])):
        answer(project, agreed, person, slugs)
    for person, slugs in ((zoe, ["theme-2"]), (adam, ["theme-2", "theme-3"]), (mia, ["theme-3"])):
        answer(project, split_vote, person, slugs)
    answer(project, too_few, zoe, ["theme-1"])
    answer(project, too_few, adam, ["theme-1"])
    answer(project, too_few, mia, [], status=Annotation.Status.SKIPPED)  # skips do not count
    for person, slug in ((zoe, "theme-1"), (adam, "theme-2"), (mia, "theme-3")):
        answer(project, no_majority, person, [slug])

    _, out, summary = build(project, tmp_path, "majority.jsonl", labels="majority")

    rows = read_jsonl(out)
    assert [(r["segment_id"], r["labels"], r["answers"]) for r in rows] == [
        (agreed.pk, ["theme-1"], 3),
        (split_vote.pk, ["theme-2", "theme-3"], 3),
    ]
    total = len(segments_of(project))
    assert summary["skipped"] == {
        "fewer_answers_than_min": total - 3,
        "no_label_with_majority": 1,
    }


def test_majority_min_answers_and_unsure(team, tmp_path) -> None:
    project, (zoe, adam, mia) = team
    segment = segments_of(project)[0]
    answer(project, segment, zoe, ["theme-1"], unsure=True)
    answer(project, segment, adam, ["theme-2"])

    _, out, _ = build(project, tmp_path, "two.jsonl", labels="majority", min_answers=2)
    _, out_sure, summary = build(
        project, tmp_path, "sure.jsonl", labels="majority", min_answers=1, exclude_unsure=True
    )
    _, out_one, _ = build(project, tmp_path, "one.jsonl", labels="majority", min_answers=1)

    # Two answers that disagree: no label has more than half.
    assert read_jsonl(out) == []
    assert [(r["labels"], r["answers"]) for r in read_jsonl(out_sure)] == [(["theme-2"], 1)]
    assert read_jsonl(out_one) == []
    assert summary["skipped"]["no_label_with_majority"] == 0


def gold(project, segment, slugs, source=GoldLabel.Source.UNANIMOUS, reviewer=None) -> GoldLabel:
    labels = labels_of(project)
    decided = GoldLabel.objects.create(
        project=project, segment=segment, source=source, reviewer=reviewer
    )
    decided.labels.set([labels[slug] for slug in slugs])
    return decided


def test_gold_has_one_row_per_gold_label_and_says_how_it_was_reached(team, tmp_path) -> None:
    project, (zoe, *_) = team
    first, second, third, *rest = segments_of(project)
    gold(project, first, ["theme-4", "theme-2"])
    gold(project, third, ["theme-1"], GoldLabel.Source.ADJUDICATED, reviewer=zoe)
    other = labelled_project(name="Elsewhere", slug="elsewhere")
    gold(other, segments_of(other)[0], ["theme-1"])

    _, out, summary = build(project, tmp_path, "gold.jsonl", labels="gold")

    rows = read_jsonl(out)
    assert [(r["segment_id"], r["labels"], r["gold_source"]) for r in rows] == [
        (first.pk, ["theme-2", "theme-4"], "unanimous"),
        (third.pk, ["theme-1"], "adjudicated"),
    ]
    assert rows[0]["text"] == first.text
    assert summary["skipped"] == {"no_gold_label": len(rest) + 1}


def test_gold_folder_card_counts_the_sources(team, tmp_path) -> None:
    project, (zoe, *_) = team
    for n, segment in enumerate(segments_of(project)):
        source = GoldLabel.Source.MAJORITY if n % 2 else GoldLabel.Source.UNANIMOUS
        gold(project, segment, [f"theme-{1 + n % 4}"], source, reviewer=zoe)

    _, folder, summary = build(
        project, tmp_path, "gold", labels="gold", format="folder", split=(0.5, 0.25, 0.25)
    )

    assert summary["rows"] == 12
    card = (folder / "README.md").read_text()
    assert "Gold labels by how they were reached: majority: 6, unanimous: 6." in card


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"format": "xml"}, "Format"),
        ({"labels": "best"}, "Labels"),
        ({"min_answers": 0}, "At least 1"),
        ({"format": "jsonl", "split": (0.8, 0.1, 0.1)}, "folder"),
        ({"format": "folder", "split": (0.8, 0.3, 0.1)}, "add up"),
    ],
)
def test_bad_options_are_refused(options, message) -> None:
    with pytest.raises(ExportRefused, match=message):
        ExportOptions(**options)


# --- Formats read back -----------------------------------------------------------------


@pytest.fixture
def answered(team):
    """Every segment answered by all three, with a comment that looks like a formula."""
    project, people = team
    for n, segment in enumerate(segments_of(project)):
        for m, person in enumerate(people):
            slugs = ["theme-1"] if (n + m) % 3 else ["theme-1", f"theme-{2 + n % 3}"]
            answer(project, segment, person, slugs, comment="=1+1" if m == 0 else "")
    return project


def test_parquet_has_typed_columns_and_the_same_rows_as_jsonl(answered, tmp_path) -> None:
    _, jsonl, _ = build(answered, tmp_path, "raw.jsonl", labels="raw")
    _, parquet, summary = build(answered, tmp_path, "raw.parquet", labels="raw", format="parquet")

    table = pq.read_table(parquet)
    assert table.schema.field("segment_id").type == pa.int64()
    assert table.schema.field("labels").type == pa.list_(pa.string())
    assert table.schema.field("unsure").type == pa.bool_()
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    expected = read_jsonl(jsonl)
    got = table.to_pylist()
    assert len(got) == len(expected) == summary["rows"] == 36
    for mine, theirs in zip(got, expected, strict=True):
        assert mine["created_at"].isoformat() == theirs["created_at"]
        for key in ("segment_id", "text", "labels", "annotator", "comment", "unsure"):
            assert mine[key] == theirs[key]
    assert got[0]["comment"] == "=1+1"  # exact text: only CSV is neutralised


def test_parquet_is_written_in_row_groups(answered, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(writers, "PARQUET_ROW_GROUP", 10)

    _, parquet, _ = build(answered, tmp_path, "raw.parquet", labels="raw", format="parquet")

    assert pq.ParquetFile(parquet).metadata.num_row_groups == 4  # 36 rows, 10 at a time


def test_folder_with_splits_reads_back_with_its_card(answered, tmp_path) -> None:
    export, folder, summary = build(
        answered,
        tmp_path,
        "dataset",
        labels="majority",
        format="folder",
        split=(0.5, 0.25, 0.25),
        seed=7,
    )

    names = sorted(p.name for p in folder.iterdir())
    assert names == ["README.md", "labels.json", "test.jsonl", "train.jsonl", "validation.jsonl"]
    splits = {
        name: read_jsonl(folder / f"{name}.jsonl") for name in ("train", "validation", "test")
    }
    assert {k: len(v) for k, v in splits.items()} == summary["rows_per_split"]
    assert sum(summary["rows_per_split"].values()) == summary["rows"] == 12
    # Whole articles: no article in two splits.
    articles = {name: {row["article_id"] for row in rows} for name, rows in splits.items()}
    assert not articles["train"] & articles["validation"]
    assert not articles["train"] & articles["test"]
    assert not articles["validation"] & articles["test"]

    labels = json.loads((folder / "labels.json").read_text())
    assert [label["slug"] for label in labels] == ["theme-1", "theme-2", "theme-3", "theme-4"]
    assert set(labels[0]) == {"slug", "name", "color", "guideline", "active"}

    card = (folder / "README.md").read_text()
    assert card.startswith("---\n")
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta["task_categories"] == ["text-classification"]
    assert meta["task_ids"] == ["multi-label-classification"]
    assert meta["language"] == ["en"]
    assert meta["size_categories"] == ["n<1K"]
    assert meta["dataset_info"]["features"][1]["sequence"]["class_label"]["names"] == {
        0: "theme-1",
        1: "theme-2",
        2: "theme-3",
        3: "theme-4",
    }
    assert {s["name"]: s["num_examples"] for s in meta["dataset_info"]["splits"]} == summary[
        "rows_per_split"
    ]
    body = card.split("---\n", 2)[2]
    for heading in ("## Splits and labels", "## Agreement", "## Guidelines", "## How to load"):
        assert heading in body
    assert "Use theme 1 when the segment is about it." in body
    assert "Unicode code points" in body
    assert "on the 12 segments with two or more of them" in body
    export.refresh_from_db()
    assert export.status == Export.Status.SUCCEEDED
    assert export.rows_per_split == summary["rows_per_split"]
    assert len(export.files) == 5


def test_folder_as_zip_holds_the_same_files(answered, tmp_path) -> None:
    options = {"labels": "majority", "format": "folder", "split": (0.5, 0.25, 0.25)}
    _, folder, _ = build(answered, tmp_path, "dataset", **options)
    _, archive, summary = build(answered, tmp_path, "dataset.zip", **options)

    with zipfile.ZipFile(archive) as zf:
        assert sorted(zf.namelist()) == sorted(p.name for p in folder.iterdir())
        for name in zf.namelist():
            assert zf.read(name) == (folder / name).read_bytes()
    assert summary["files"][0]["name"] == "dataset.zip"


def test_folder_without_split_has_one_data_file(answered, tmp_path) -> None:
    _, folder, summary = build(answered, tmp_path, "plain", labels="raw", format="folder")

    assert (folder / "data.jsonl").exists() and not (folder / "train.jsonl").exists()
    assert summary["rows_per_split"] == {"data": 36}


# --- Reproducible ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"labels": "raw", "format": "jsonl"},
        {"labels": "raw", "format": "csv"},
        {"labels": "raw", "format": "parquet"},
        {"labels": "majority", "format": "folder", "split": (0.5, 0.25, 0.25), "seed": 3},
    ],
)
def test_a_re_export_is_byte_identical(answered, tmp_path, options) -> None:
    suffix = {"jsonl": ".jsonl", "csv": ".csv", "parquet": ".parquet", "folder": ".zip"}
    name = "a" + suffix[options["format"]]
    first, out_a, summary_a = build(answered, tmp_path / "one", name, **options)
    second, out_b, summary_b = build(answered, tmp_path / "two", name, **options)

    assert out_a.read_bytes() == out_b.read_bytes()
    assert summary_a["sha256"] == summary_b["sha256"]
    assert first.pk != second.pk


def test_another_seed_can_give_other_splits_but_the_same_rows(answered, tmp_path) -> None:
    options = {"labels": "majority", "format": "folder", "split": (0.5, 0.25, 0.25)}
    _, a, _ = build(answered, tmp_path, "a", seed=1, **options)
    _, b, _ = build(answered, tmp_path, "b", seed=2, **options)

    def rows(folder):
        return sorted(
            line
            for name in ("train", "validation", "test")
            for line in read_jsonl(folder / f"{name}.jsonl")
            for line in [json.dumps(line, sort_keys=True)]
        )

    assert rows(a) == rows(b)


# --- CSV -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "comment", ['=HYPERLINK("http://x")', "+cmd", "-2+3", "@SUM(A1)", "\tnote", "\rnote"]
)
def test_csv_neutralises_formula_cells(team, tmp_path, comment) -> None:
    project, (zoe, *_) = team
    stored = answer(project, segments_of(project)[0], zoe, ["theme-1"])
    # Set in the table directly: the labelling screen trims comments, an import might not.
    Annotation.objects.filter(pk=stored.pk).update(comment=comment)

    _, out, _ = build(project, tmp_path, "raw.csv", labels="raw", format="csv")
    _, jsonl, _ = build(project, tmp_path, "raw.jsonl", labels="raw")

    (row,) = csv.DictReader(io.StringIO(out.read_bytes().decode(), newline=""))
    assert row["comment"] == "'" + comment
    assert read_jsonl(jsonl)[0]["comment"] == comment


def test_csv_quotes_every_field_and_has_label_columns(answered, tmp_path) -> None:
    _, out, _ = build(answered, tmp_path, "majority.csv", labels="majority", format="csv")

    text = out.read_text(encoding="utf-8")
    header, first = text.splitlines()[:2]
    assert header.endswith(
        '"answers","label:theme-1","label:theme-2","label:theme-3","label:theme-4"'
    )
    assert first.startswith('"') and '",' in first and ",1," not in first
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    for row in rows:
        chosen = set(row["labels"].split("|")) if row["labels"] else set()
        for n in range(1, 5):
            assert row[f"label:theme-{n}"] == ("1" if f"theme-{n}" in chosen else "0")


def test_neutralise_leaves_ordinary_text_alone() -> None:
    assert writers.neutralise("Plain text = fine") == "Plain text = fine"
    assert writers.neutralise("") == ""
    assert writers.neutralise("-") == "'-"


# --- Failures ----------------------------------------------------------------------------


def test_a_failed_export_records_why_and_leaves_no_file(answered, tmp_path, monkeypatch) -> None:
    written = []

    def failing_write(self, row):
        written.append(row)
        if len(written) == 5:
            raise OSError("No space left on device")

    monkeypatch.setattr(writers.JsonlWriter, "write", failing_write)
    monkeypatch.setattr(exports_service, "SQL_JSON_LINES", False)  # through JsonlWriter
    export = export_create(project=answered, options=ExportOptions(labels="raw"), by=None)
    out = tmp_path / "raw.jsonl"

    with pytest.raises(OSError):
        export_build(export=export, out=out)

    export.refresh_from_db()
    assert export.status == Export.Status.FAILED
    assert export.error == "No space left on device"
    assert export.finished_at is not None
    assert list(tmp_path.iterdir()) == []  # no partial file, no temporary folder


def test_a_failed_re_export_keeps_the_previous_file(answered, tmp_path, monkeypatch) -> None:
    _, out, _ = build(answered, tmp_path, "raw.jsonl", labels="raw")
    before = out.read_bytes()
    monkeypatch.setattr(writers.JsonlWriter, "close", lambda self: 1 / 0)
    monkeypatch.setattr(exports_service, "SQL_JSON_LINES", False)  # through JsonlWriter

    with pytest.raises(ZeroDivisionError):
        build(answered, tmp_path, "raw.jsonl", labels="raw")

    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.jsonl"]


# --- Command line ------------------------------------------------------------------------


def test_the_command_prints_one_json_object(answered, tmp_path, capsys) -> None:
    out = tmp_path / "ds.zip"

    call_command(
        "export_dataset",
        answered.slug,
        "--out",
        str(out),
        "--format",
        "folder",
        "--labels",
        "majority",
        "--split",
        "0.5,0.25,0.25",
        "--seed",
        "4",
        "--json",
    )

    printed = capsys.readouterr().out
    summary = json.loads(printed)  # exactly one object: anything else fails to parse
    assert summary["rows"] == 12
    assert set(summary["rows_per_split"]) == {"train", "validation", "test"}
    assert summary["skipped"] == {"fewer_answers_than_min": 0, "no_label_with_majority": 0}
    assert summary["files"][0]["sha256"] == summary["sha256"]
    assert out.exists()
    export = Export.objects.get(pk=summary["export_id"])
    assert export.options["seed"] == 4 and export.created_by is None


@pytest.mark.parametrize("labels", ["raw", "majority", "gold"])
@pytest.mark.parametrize(
    ("fmt", "name"),
    [
        ("jsonl", "d.jsonl"),
        ("csv", "d.csv"),
        ("parquet", "d.parquet"),
        ("folder", "d"),
        ("folder", "d.zip"),
    ],
)
def test_the_command_exports_every_format_and_label_mode(
    answered, tmp_path, capsys, fmt, name, labels
) -> None:
    first = segments_of(answered)[0]
    if not GoldLabel.objects.filter(project=answered, segment=first).exists():
        gold(answered, first, ["theme-1"], GoldLabel.Source.ADJUDICATED, reviewer=first_user())
    out = tmp_path / name

    call_command(
        "export_dataset",
        answered.slug,
        "--out",
        str(out),
        "--format",
        fmt,
        "--labels",
        labels,
        "--json",
    )

    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] > 0
    if out.is_file():
        assert writers.file_sha256(out) == summary["sha256"]
    else:
        assert sorted(p.name for p in out.iterdir()) == sorted(f["name"] for f in summary["files"])
        for info in summary["files"]:
            assert writers.file_sha256(out / info["name"]) == info["sha256"]


def first_user():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.order_by("pk").first()


def test_the_command_summarises_without_json(answered, tmp_path, capsys) -> None:
    call_command(
        "export_dataset", answered.slug, "--out", str(tmp_path / "a.csv"), "--format", "csv"
    )

    assert "36 rows" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "--out", "x.jsonl"], "No project"),
        (["export-team", "--out", "x.jsonl", "--split", "0.5,0.5"], "three ratios"),
        (["export-team", "--out", "x.jsonl", "--split", "0.8,0.1,0.1"], "folder"),
    ],
)
def test_the_command_refuses_bad_input(team, args, message) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("export_dataset", *args)


def test_published_dates_are_iso_8601(team, tmp_path) -> None:
    project, (zoe, *_) = team
    article = SegmentedArticleFactory(
        collection=project.collection,
        body="One paragraph only.",
        published_at="2024-12-10T08:52:00+08:00",
    )
    answer(project, article.segments.get(), zoe, ["theme-4"])

    _, out, _ = build(project, tmp_path, "raw.jsonl", labels="raw")

    (row,) = read_jsonl(out)
    assert row["published_at"] == "2024-12-10T00:52:00+00:00"


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_near_copies_of_an_article_stay_in_its_split(team, tmp_path, seed) -> None:
    project, people = team
    for n in range(12):
        SegmentedArticleFactory(
            collection=project.collection,
            body="\n\n".join(f"Story {n} paragraph {p}." for p in range(2)),
        )
    articles = list(Article.objects.filter(collection=project.collection).order_by("id"))
    # Three groups of near copies: 0 <- 1, 2, 3; 4 <- 5; 6 <- 7, 8.
    for first, copies in ((0, (1, 2, 3)), (4, (5,)), (6, (7, 8))):
        Article.objects.filter(pk__in=[articles[c].pk for c in copies]).update(
            duplicate_of=articles[first]
        )
    for n, segment in enumerate(segments_of(project)):
        answer(project, segment, people[0], [f"theme-{1 + n % 4}"])

    _, folder, summary = build(
        project,
        tmp_path,
        "dataset",
        labels="raw",
        format="folder",
        split=(0.6, 0.2, 0.2),
        seed=seed,
    )

    group = {
        a.pk: a.duplicate_of_id or a.pk
        for a in Article.objects.filter(pk__in=[a.pk for a in articles])
    }
    split_of_group: dict[int, set[str]] = {}
    for name in ("train", "validation", "test"):
        for row in read_jsonl(folder / f"{name}.jsonl"):
            split_of_group.setdefault(group[row["article_id"]], set()).add(name)
    assert all(len(splits) == 1 for splits in split_of_group.values()), split_of_group
    assert len(split_of_group) == len(articles) - 6  # 16 articles, 6 of them copies
    assert summary["rows"] == len(segments_of(project))


@pytest.mark.parametrize("real_names", [False, True])
def test_postgres_json_lines_are_the_same_bytes_as_the_python_writer(
    team, tmp_path, monkeypatch, real_names
) -> None:
    from django.db import connection

    from annotations.services import exports

    if connection.vendor != "postgresql":
        pytest.skip("the database formats JSON lines on PostgreSQL only")
    project, (zoe, adam, mia) = team
    first, second, third, *_ = segments_of(project)
    tricky = 'Quote " backslash \\ tab \t newline \n bell \x07 é 中文 \u2028 </script>'
    for person, segment, slugs in (
        (zoe, first, ["theme-3", "theme-1"]),
        (adam, first, []),
        (mia, second, ["theme-2"]),
        (zoe, third, ["theme-4"]),
    ):
        stored = (
            answer(project, segment, person, slugs)
            if slugs
            else answer(project, segment, person, [], status=Annotation.Status.SKIPPED)
        )
        Annotation.objects.filter(pk=stored.pk).update(comment=tricky, unsure=person == mia)
    # Microseconds with trailing zeros, none at all, and a published date.
    Annotation.objects.filter(annotator=zoe).update(
        created_at="2026-01-05T08:00:00.120000+00:00", updated_at="2026-01-05T08:00:00+00:00"
    )
    first.article.__class__.objects.filter(pk=first.article_id).update(
        published_at="2024-12-10T08:52:00.5+08:00", title=tricky
    )

    _, fast, _ = build(project, tmp_path, "fast.jsonl", labels="raw", real_names=real_names)
    monkeypatch.setattr(exports, "SQL_JSON_LINES", False)
    _, slow, _ = build(project, tmp_path, "slow.jsonl", labels="raw", real_names=real_names)

    assert fast.read_bytes() == slow.read_bytes()
    rows = read_jsonl(fast)
    assert len(rows) == 4 and rows[0]["comment"] == tricky
    assert rows[0]["created_at"] == "2026-01-05T08:00:00.120000+00:00"
