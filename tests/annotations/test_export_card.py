"""The dataset card's agreement figures (checked against values worked out by hand), the
vectorised agreement counting exports use, and the database-built lines of every mode and
folder (byte for byte what the row-by-row Python writers give)."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import yaml

from annotations.models import Annotation, GoldLabel
from annotations.services import exports as exports_service
from annotations.services.agreement import AgreementCounter
from annotations.services.exports import ExportOptions, export_build, export_create
from tests.annotations.test_exports import answer, gold, segments_of
from tests.factories import UserFactory, labelled_project


@pytest.fixture
def small(db):
    """Three segments, three annotators (made in this order: annotator-1 is zoe):

    - segment 1: zoe {t1}, adam {t1}, mia {t1}
    - segment 2: zoe {t1}, adam {t2}
    - segment 3: zoe {t2}, adam {t2}, mia skipped
    """
    project = labelled_project(name="Small", slug="small", articles=1, paragraphs=4)
    project.annotators_per_segment = 3
    project.save()
    zoe, adam, mia = (UserFactory(username=name) for name in ("zoe", "adam", "mia"))
    first, second, third, _ = segments_of(project)
    for person, segment, slugs in (
        (zoe, first, ["theme-1"]),
        (adam, first, ["theme-1"]),
        (mia, first, ["theme-1"]),
        (zoe, second, ["theme-1"]),
        (adam, second, ["theme-2"]),
        (zoe, third, ["theme-2"]),
        (adam, third, ["theme-2"]),
    ):
        answer(project, segment, person, slugs)
    answer(project, third, mia, [], status=Annotation.Status.SKIPPED)
    return project


def card_of(project, tmp_path: Path, **options) -> tuple[dict, str]:
    export = export_create(
        project=project, options=ExportOptions(format="folder", **options), by=None
    )
    export_build(export=export, out=tmp_path / "dataset")
    card = (tmp_path / "dataset" / "README.md").read_text(encoding="utf-8")
    _, front, body = card.split("---\n", 2)
    return yaml.safe_load(front), body


def test_the_card_gives_the_agreement_figures_worked_out_by_hand(small, tmp_path) -> None:
    # Label sets A = {t1}, B = {t2}, MASI distance 1 between them. Coincidences: segment 1
    # (m = 3) o_AA += 3*2/2 = 3; segment 2 o_AB = o_BA += 1; segment 3 o_BB += 2.
    # n_A = 4, n_B = 3, n = 7: D_o = 2/7, D_e = 2*4*3/(7*6) = 4/7, alpha = 1 - 1/2 = 0.5.
    # Exact sets: 3 + 0 + 1 agreeing pairs of 5 = 80 %. t1 and t2 alone: the same, 0.5 and
    # 80 %; t3, t4: nobody ever chose them: alpha undefined, percent agreement 100 %.
    # Kappa zoe-adam, 3 segments x 4 labels: yes-yes 2, yes-no 1, no-yes 1, no-no 8:
    # p_o = 10/12, p_e = (3/12)^2 + (9/12)^2 = 0.625, kappa = (5/6 - 5/8)/(3/8) = 5/9.
    # zoe-mia and adam-mia share segment 1 only, where they agree: kappa 1.
    meta, body = card_of(small, tmp_path, labels="majority", min_answers=2)

    assert meta["annotation_agreement"] == {
        "krippendorff_alpha_masi": 0.5,
        "exact_set_agreement": 0.8,
        "segments_with_two_or_more_answers": 3,
        "submitted_answers": 7,
    }
    assert "Over the 7 submitted answers" in body
    assert "on the 3 segments with two or more of them (5 pairs of answers" in body
    assert "- Krippendorff's alpha with the MASI distance on label sets: 0.500" in body
    assert "- Exact-set agreement (pairs of answers with the same label set): 80.0%" in body
    assert "- Segments where every answer has the same label set: 2 of 3 (66.7%)" in body
    assert "| `theme-1` | 0.500 | 80.0% |" in body
    assert "| `theme-2` | 0.500 | 80.0% |" in body
    no_variation = "n/a (no variation: every answer has it, or none has)"
    assert f"| `theme-3` | {no_variation} | 100.0% |" in body
    assert f"| `theme-4` | {no_variation} | 100.0% |" in body
    assert "| annotator-1, annotator-2 | 0.556 | 3 |" in body
    assert "| annotator-1, annotator-3 | 1.000 | 1 |" in body
    assert "| annotator-2, annotator-3 | 1.000 | 1 |" in body


def test_the_card_uses_real_names_only_when_asked(small, tmp_path) -> None:
    _, body = card_of(small, tmp_path, labels="raw", real_names=True)

    assert "| adam, zoe | 0.556 | 3 |" in body


def test_undefined_figures_say_why(db, tmp_path) -> None:
    project = labelled_project(name="Alone", slug="alone", articles=1, paragraphs=2)
    first, second = segments_of(project)
    answer(project, first, UserFactory(), ["theme-1"])

    meta, body = card_of(project, tmp_path, labels="raw")

    assert meta["annotation_agreement"]["krippendorff_alpha_masi"] is None
    assert "No segment has two or more submitted answers, so every agreement figure is n/a" in (
        body
    )


def test_alpha_with_no_variation_is_na_with_the_reason(db, tmp_path) -> None:
    project = labelled_project(name="Same", slug="same", articles=1, paragraphs=2)
    project.annotators_per_segment = 2
    project.multi_label = False  # one label per answer: kappa compares the labels themselves
    project.save()
    people = [UserFactory(), UserFactory()]
    for segment in segments_of(project):
        for person in people:
            answer(project, segment, person, ["theme-2"])

    _, body = card_of(project, tmp_path, labels="raw")

    assert "MASI distance on label sets: n/a (no variation: every answer has the same" in body
    assert "| annotator-1, annotator-2 | n/a (no variation in their decisions) | 2 |" in body


@pytest.mark.parametrize("multi_label", [True, False])
@pytest.mark.parametrize("seed", range(20))
def test_counting_many_units_at_once_gives_what_counting_one_by_one_gives(
    seed, multi_label
) -> None:
    rng = random.Random(seed)
    labels = list(range(rng.randint(1, 5)))
    units = []
    for number in range(rng.randint(0, 60)):
        coders = rng.sample(range(1, 9), rng.randint(1, 6))
        low = 0 if multi_label else 1
        high = len(labels) if multi_label else 1
        units.append(
            (number, {c: frozenset(rng.sample(labels, rng.randint(low, high))) for c in coders})
        )
    one = AgreementCounter(labels, multi_label=multi_label)
    many = AgreementCounter(labels, multi_label=multi_label)
    for _, ratings in units:
        one.add(ratings)
    index: dict[frozenset[int], int] = {}
    rows = [(u, c, index.setdefault(v, len(index))) for u, r in units for c, v in r.items()]
    start = 0
    while start < len(rows):  # blocks of whole units, of random sizes
        end = min(len(rows), start + rng.randint(1, 40))
        while end < len(rows) and rows[end][0] == rows[end - 1][0]:
            end += 1
        block = np.array(rows[start:end], dtype=np.int64).reshape(-1, 3)
        many.add_arrays(unit=block[:, 0], coder=block[:, 1], value=block[:, 2], values=list(index))
        start = end

    expected, got = one.figures(), many.figures()
    assert (got.units, got.pairs, got.shared_units) == (
        expected.units,
        expected.pairs,
        expected.shared_units,
    )
    assert got.alpha_masi == pytest.approx(expected.alpha_masi)
    assert got.exact_agreement == pytest.approx(expected.exact_agreement)
    assert got.kappa.keys() == expected.kappa.keys()
    for pair, value in expected.kappa.items():
        assert got.kappa[pair] == pytest.approx(value)
    for label, value in expected.labels.items():
        assert got.labels[label].alpha == pytest.approx(value.alpha)
        assert got.labels[label].percent_agreement == pytest.approx(value.percent_agreement)


# --- The database's lines: the same bytes as the Python writers ----------------------------


@pytest.fixture
def varied(db):
    """Every kind of value a line holds: text that needs escaping, no and some
    microseconds, skips, unsure answers, near copies of an article, gold labels."""
    from articles.models import Article

    project = labelled_project(name="Varied", slug="varied", articles=8, paragraphs=3)
    project.annotators_per_segment = 3
    project.save()
    people = [UserFactory(username=name) for name in ("zoe", "adam", "mia")]
    rng = random.Random(4)
    segments = segments_of(project)
    for n, segment in enumerate(segments):
        for person in rng.sample(people, rng.randint(0, 3)):
            if rng.random() < 0.15:
                answer(project, segment, person, [], status=Annotation.Status.SKIPPED)
                continue
            slugs = rng.sample([f"theme-{k}" for k in range(1, 5)], rng.randint(1, 2))
            stored = answer(project, segment, person, slugs, unsure=rng.random() < 0.2)
            if n % 5 == 0:
                Annotation.objects.filter(pk=stored.pk).update(
                    comment='Quote " back \\ tab \t line \n é 中文 \u2028 =1+1',
                    created_at="2026-01-05T08:00:00.120000+00:00",
                    updated_at="2026-01-05T08:00:00+00:00",
                )
        if GoldLabel.objects.filter(project=project, segment=segment).exists():
            continue  # accepted already: unanimous answers
        if n % 4 == 1:
            gold(project, segment, rng.sample(["theme-1", "theme-3"], rng.randint(1, 2)))
        elif n % 7 == 2:
            gold(project, segment, ["theme-4"], GoldLabel.Source.ADJUDICATED, reviewer=people[0])
    articles = list(Article.objects.filter(collection=project.collection).order_by("id"))
    Article.objects.filter(pk=articles[3].pk).update(
        duplicate_of=articles[0], title='A "title" \\ with\ttabs', published_at=None
    )
    Article.objects.filter(pk=articles[5].pk).update(
        duplicate_of=articles[0], published_at="2024-12-10T08:52:00.5+08:00"
    )
    return project


def files_of(path: Path) -> dict[str, bytes]:
    if path.is_dir():
        return {p.name: p.read_bytes() for p in sorted(path.iterdir())}
    return {path.name: path.read_bytes()}


@pytest.mark.parametrize(
    "options",
    [
        {"labels": "majority"},
        {"labels": "majority", "min_answers": 1, "exclude_unsure": True},
        {"labels": "gold"},
        {"labels": "raw", "format": "folder"},
        {"labels": "raw", "format": "folder", "split": (0.5, 0.25, 0.25), "seed": 3},
        {"labels": "majority", "format": "folder", "split": (0.6, 0.2, 0.2), "min_answers": 1},
        {"labels": "majority", "format": "folder", "exclude_unsure": True},
        {"labels": "gold", "format": "folder", "split": (0.5, 0.5, 0.0)},
        {"labels": "raw", "format": "folder", "split": (0.8, 0.1, 0.1), "real_names": True},
    ],
)
def test_postgres_lines_of_every_mode_and_folder_are_the_python_writers_bytes(
    varied, tmp_path, monkeypatch, options
) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the database builds the lines on PostgreSQL only")
    name = "out" if options.get("format") == "folder" else "out.jsonl"
    export = export_create(project=varied, options=ExportOptions(**options), by=None)
    fast = export_build(export=export, out=tmp_path / "fast" / name)
    monkeypatch.setattr(exports_service, "SQL_JSON_LINES", False)
    export = export_create(project=varied, options=ExportOptions(**options), by=None)
    slow = export_build(export=export, out=tmp_path / "slow" / name)

    assert files_of(tmp_path / "fast" / name) == files_of(tmp_path / "slow" / name)
    assert (fast.rows, fast.rows_per_split, fast.skipped) == (
        slow.rows,
        slow.rows_per_split,
        slow.skipped,
    )
    assert fast.rows > 0


def test_progress_inside_a_callers_transaction_waits_for_the_copy(
    varied, tmp_path, monkeypatch
) -> None:
    # Inside a transaction (here the test's) progress shares the reading connection: it is
    # written between COPYs, never in the middle of one.
    monkeypatch.setattr(exports_service, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(exports_service, "COPY_BATCH_BYTES", 1)
    monkeypatch.setattr(exports_service, "ANSWER_BLOCK_ROWS", 2)
    seen = []
    options = ExportOptions(format="folder", labels="majority", split=(0.5, 0.25, 0.25))
    export = export_create(project=varied, options=options, by=None)

    export_build(
        export=export, out=tmp_path / "out", on_progress=lambda done, total: seen.append(done)
    )

    assert len(seen) > 3 and seen == sorted(seen)
