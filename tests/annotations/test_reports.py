"""project_figures / project_report on real answers, against figures worked out by hand."""

from __future__ import annotations

import io
import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from annotations.models import Annotation, AnnotationLabel, GoldLabel, GoldLabelLabel, Label
from annotations.services.answers import annotation_submit
from annotations.services.reports import project_figures
from articles.models import Segment
from tests.annotations.reports_reference import project_figures_reference
from tests.factories import UserFactory, labelled_project

SKIP = "skip"
# The units of tests/annotations/test_agreement.py, as answers: "a" is theme-1, "b" theme-2,
# theme-3 and theme-4 are never used; (labels or SKIP, seconds on screen, unsure).
ANSWERS = {
    "xena": [("a", 1.0, False), ("b", 3.0, True), ("a", 5.0, False), ("ab", 7.0, False),
             ("b", 9.0, False)],
    "yuri": [("a", 1.5, False), ("a", 2.5, False), (SKIP, 1.0, False), (SKIP, 4.0, False),
             ("b", 6.0, False)],
    "zoe": [("ab", 2.0, False), (SKIP, 8.0, True), None, ("ab", 3.0, False),
            ("b", 0.5, False)],
}  # fmt: skip


@pytest.fixture
def answered(project):
    project.annotators_per_segment = 3
    # The gold labels here are set by the tests (u5's unanimous answers would be accepted).
    project.auto_accept_unanimous = False
    project.save()
    segments = list(
        Segment.objects.filter(article__collection=project.collection)
        .select_related("article")
        .order_by("pk")
    )
    labels = {label.slug: label for label in Label.objects.filter(label_set=project.label_set)}
    letters = {"a": labels["theme-1"], "b": labels["theme-2"]}
    for username, answers in ANSWERS.items():
        user = UserFactory(username=username)
        for segment, answer in zip(segments, answers, strict=False):
            if answer is None:
                continue
            chosen, seconds, unsure = answer
            annotation_submit(
                project=project,
                segment=segment,
                annotator=user,
                labels=[] if chosen == SKIP else [letters[c] for c in chosen],
                status=Annotation.Status.SKIPPED if chosen == SKIP else "submitted",
                unsure=unsure,
                time_spent_ms=int(seconds * 1000),
            )
    return project


@pytest.mark.django_db
def test_counts_and_agreement_from_the_answers(answered) -> None:
    report = project_figures(project=answered)["report"]

    assert report["project"] == "team-project"
    assert report["segments"] == 6
    # At least 3 submitted answers: u1 and u5.
    assert report["segments_complete"] == 2
    assert report["answers"] == {"submitted": 11, "skipped": 3, "unsure": 2}
    overall = report["agreement"]["overall"]
    assert overall["exact_agreement"] == pytest.approx(5 / 8)
    assert overall["alpha_masi"] == pytest.approx(11 / 26)
    labels = report["agreement"]["labels"]
    assert list(labels) == ["theme-1", "theme-2", "theme-3", "theme-4"]
    assert labels["theme-1"] == {"alpha": pytest.approx(0.625), "percent_agreement": 7 / 8}
    assert labels["theme-2"] == {"alpha": pytest.approx(1 / 7), "percent_agreement": 5 / 8}
    assert labels["theme-3"] == {"alpha": None, "percent_agreement": 1.0}


@pytest.mark.django_db
def test_kappa_matrix_counts_every_label_as_a_decision(answered) -> None:
    kappa = project_figures(project=answered)["report"]["agreement"]["cohen_kappa"]
    # As in test_agreement, with a fourth label: one more no-no per shared segment.
    # xena-yuri: yes-yes 2, no-no 8, one each way 1 + 1 (N 12): p_o 5/6, p_e 5/8 -> 5/9.
    # xena-zoe: yes-yes 4, no-no 7, zoe only 1: p_o 11/12, p_e 76/144 -> 56/68 = 14/17.
    # yuri-zoe (zoe skipped u2): yes-yes 2, no-no 5, zoe only 1: p_o 7/8, p_e 36/64 -> 5/7.
    assert kappa["xena"] == {"yuri": pytest.approx(5 / 9), "zoe": pytest.approx(14 / 17)}
    assert kappa["yuri"] == {"xena": pytest.approx(5 / 9), "zoe": pytest.approx(5 / 7)}
    assert kappa["zoe"] == {"xena": pytest.approx(14 / 17), "yuri": pytest.approx(5 / 7)}


@pytest.mark.django_db
def test_per_annotator_signals(answered) -> None:
    people = project_figures(project=answered)["report"]["annotators"]

    assert list(people) == ["xena", "yuri", "zoe"]
    xena, yuri, zoe = people["xena"], people["yuri"], people["zoe"]
    assert (xena["submitted"], xena["skipped"], xena["unsure"]) == (5, 0, 1)
    assert (yuri["submitted"], yuri["skipped"], yuri["unsure"]) == (3, 2, 0)
    assert (zoe["submitted"], zoe["skipped"], zoe["unsure"]) == (3, 1, 1)
    # Medians of 1 3 5 7 9; 1 1.5 2.5 4 6; 0.5 2 3 8 seconds.
    assert [p["median_seconds"] for p in (xena, yuri, zoe)] == [5.0, 2.5, 2.5]
    # Under 2 s: 1 of 5; 1 and 1.5 of 5; 0.5 of 4 (2.0 is not under 2 s).
    assert [p["fast_share"] for p in (xena, yuri, zoe)] == [0.2, 0.4, 0.25]
    assert xena["last_active"] is not None
    assert xena["agreement_with_gold"] is None  # no gold labels yet


@pytest.mark.django_db
def test_distribution_and_timeline_for_the_dashboard(answered) -> None:
    figures = project_figures(project=answered)

    assert figures["distribution"] == {"theme-1": 7, "theme-2": 7, "theme-3": 0, "theme-4": 0}
    assert figures["kappa_shared"]["yuri"] == {"xena": 3, "zoe": 2}
    last = figures["timeline"]["points"][-1]
    assert last[1:] == [11, 2]
    assert figures["answers_read"] == 14
    assert figures["pairable_segments"] == 4


@pytest.mark.django_db
def test_an_empty_project_has_null_figures(project) -> None:
    report = project_figures(project=project)["report"]

    assert report["answers"] == {"submitted": 0, "skipped": 0, "unsure": 0}
    assert report["agreement"]["overall"] == {"alpha_masi": None, "exact_agreement": None}
    assert report["agreement"]["labels"]["theme-1"] == {"alpha": None, "percent_agreement": None}
    assert report["agreement"]["cohen_kappa"] == {}
    assert report["annotators"] == {}


@pytest.mark.django_db
def test_queries_do_not_grow_with_the_answers(answered, django_assert_max_num_queries) -> None:
    with django_assert_max_num_queries(7):
        project_figures(project=answered)
    # More answers and annotators (u6 had none; full segments refuse more answers).
    label = Label.objects.get(label_set=answered.label_set, slug="theme-4")
    last = Segment.objects.filter(article__collection=answered.collection).order_by("pk")
    for name in ("walt", "wynn", "wade"):
        annotation_submit(
            project=answered,
            segment=last.select_related("article").last(),
            annotator=UserFactory(username=name),
            labels=[label],
        )
    with django_assert_max_num_queries(7):
        report = project_figures(project=answered)["report"]
    assert report["answers"]["submitted"] == 14


@pytest.mark.django_db
def test_project_report_json_is_the_documented_object(answered) -> None:
    out = io.StringIO()
    call_command("project_report", "team-project", "--json", stdout=out)

    report = json.loads(out.getvalue())
    assert set(report) == {
        "project",
        "segments",
        "segments_complete",
        "answers",
        "agreement",
        "annotators",
        "gold",
    }
    assert set(report["answers"]) == {"submitted", "skipped", "unsure"}
    assert set(report["agreement"]) == {"overall", "labels", "cohen_kappa"}
    assert set(report["agreement"]["overall"]) == {"alpha_masi", "exact_agreement"}
    assert set(report["gold"]) == {"unanimous", "majority", "adjudicated", "awaiting_review"}
    assert report["agreement"]["overall"]["alpha_masi"] == pytest.approx(11 / 26)
    assert report["agreement"]["labels"]["theme-4"]["alpha"] is None  # JSON null


@pytest.mark.django_db
def test_project_report_summary_and_unknown_project(answered) -> None:
    out = io.StringIO()
    call_command("project_report", "team-project", stdout=out)
    assert "2 of 6 segments complete; 11 submitted, 3 skipped, 2 unsure" in out.getvalue()
    assert "theme-1: alpha 0.625, agreement 0.875" in out.getvalue()

    with pytest.raises(CommandError, match="No project"):
        call_command("project_report", "nope", "--json")


def _gold(project, segment, source: str, letters: str, reviewer=None) -> None:
    labels = {label.slug: label for label in Label.objects.filter(label_set=project.label_set)}
    gold = GoldLabel.objects.create(
        project=project, segment=segment, source=source, reviewer=reviewer
    )
    for letter in letters:
        GoldLabelLabel.objects.create(
            gold_label=gold, label=labels[{"a": "theme-1", "b": "theme-2"}[letter]]
        )


@pytest.mark.django_db
def test_agreement_with_gold_and_gold_counts(answered) -> None:
    u1, _, _, u4, u5, _ = Segment.objects.filter(article__collection=answered.collection).order_by(
        "pk"
    )
    boss = UserFactory(username="boss")
    _gold(answered, u1, GoldLabel.Source.ADJUDICATED, "ab", reviewer=boss)
    _gold(answered, u4, GoldLabel.Source.MAJORITY, "ab", reviewer=boss)
    _gold(answered, u5, GoldLabel.Source.UNANIMOUS, "b")

    report = project_figures(project=answered)["report"]

    people = report["annotators"]
    # xena: u1 {a} no, u4 {a,b} yes, u5 {b} yes. yuri: u1 no, u4 skipped, u5 yes.
    # zoe: u1 {a,b}, u4 {a,b}, u5 {b}: all three.
    assert people["xena"]["agreement_with_gold"] == pytest.approx(2 / 3)
    assert people["yuri"]["agreement_with_gold"] == pytest.approx(1 / 2)
    assert people["zoe"]["agreement_with_gold"] == 1.0
    assert [people[name]["gold_answers"] for name in ("xena", "yuri", "zoe")] == [3, 2, 3]
    gold = report["gold"]
    assert (gold["unanimous"], gold["majority"], gold["adjudicated"]) == (1, 1, 1)
    assert gold["awaiting_review"] == 0  # u1, the one disagreement with k answers, has gold


@pytest.mark.django_db
def test_segments_awaiting_review(answered) -> None:
    # k = 3 answers: u1 disagrees ({a}, {a}, {a,b}); u5 agrees; u2 has an unsure mark but
    # only 2 submitted answers.
    assert project_figures(project=answered)["report"]["gold"] == {
        "unanimous": 0,
        "majority": 0,
        "adjudicated": 0,
        "awaiting_review": 1,
    }
    u5 = Segment.objects.filter(article__collection=answered.collection).order_by("pk")[4]
    Annotation.objects.filter(segment=u5, annotator__username="yuri").update(comment="Hm.")

    assert project_figures(project=answered)["report"]["gold"]["awaiting_review"] == 2


@pytest.mark.django_db
def test_automatically_accepted_unanimous_answers_count_as_gold(answered) -> None:
    answered.auto_accept_unanimous = True
    answered.save()
    call_command("review_backfill", "team-project", stdout=io.StringIO())

    report = project_figures(project=answered)["report"]

    # u5: three submitted {b}, nothing flagged: accepted; everyone agrees with it.
    assert report["gold"]["unanimous"] == 1
    assert report["annotators"]["yuri"]["agreement_with_gold"] == 1.0
    assert report["annotators"]["yuri"]["gold_answers"] == 1


def _random_answers(project, seed: int) -> None:
    """Answers written directly (no services): random label sets including empty ones, skips,
    missing answers, unsure marks, comments, times around 2 s, creation times over days, and
    gold labels on some segments (some equal to an answer)."""
    rng = random.Random(seed)
    segments = list(Segment.objects.filter(article__collection=project.collection))
    labels = list(Label.objects.filter(label_set=project.label_set))
    people = [UserFactory(username=f"rater-{seed}-{n}") for n in range(5)]
    start = datetime(2026, 3, 1, tzinfo=UTC)
    sets = [[]] + [rng.sample(labels, rng.randint(1, 3)) for _ in range(6)]
    if not project.multi_label:
        sets = [[label] for label in labels] + [[]]
    for segment in segments:
        for person in rng.sample(people, rng.randint(0, 5)):
            skipped = rng.random() < 0.15
            answer = Annotation.objects.create(
                project=project,
                segment=segment,
                annotator=person,
                status=Annotation.Status.SKIPPED if skipped else Annotation.Status.SUBMITTED,
                unsure=rng.random() < 0.1,
                comment="why" if rng.random() < 0.1 else "",
                time_spent_ms=rng.choice([500, 1999, 2000, 2500, rng.randint(0, 60_000)]),
            )
            Annotation.objects.filter(pk=answer.pk).update(
                created_at=start + timedelta(minutes=rng.randint(0, 60 * 24 * 9))
            )
            if not skipped:
                for label in rng.choice(sets):
                    AnnotationLabel.objects.create(annotation=answer, label=label)
        if rng.random() < 0.3:
            gold = GoldLabel.objects.create(
                project=project, segment=segment, source=GoldLabel.Source.UNANIMOUS
            )
            for label in rng.choice(sets):
                GoldLabelLabel.objects.create(gold_label=gold, label=label)


def _same(fast, reference, path: str = "") -> None:
    """Equal, floats up to summation order."""
    if isinstance(reference, dict):
        assert list(fast) == list(reference), path
        for key in reference:
            _same(fast[key], reference[key], f"{path}.{key}")
    elif isinstance(reference, float):
        assert fast == pytest.approx(reference, rel=1e-9, abs=1e-12), path
    else:
        assert fast == reference, path


@pytest.mark.django_db
@pytest.mark.parametrize(("seed", "multi_label", "k"), [(1, True, 3), (2, False, 2), (3, True, 1)])
def test_fast_figures_equal_the_reference_on_random_answers(seed, multi_label, k) -> None:
    project = labelled_project(
        name=f"Random {seed}", slug=f"random-{seed}", labels=5, articles=6, paragraphs=8
    )
    project.multi_label = multi_label
    project.annotators_per_segment = k
    project.save()
    _random_answers(project, seed)

    fast = project_figures(project=project)
    reference = project_figures_reference(project=project)

    assert fast["answers_read"] > 100
    assert fast["report"]["agreement"]["overall"]["alpha_masi"] is not None
    _same(fast, reference)


@pytest.mark.django_db
def test_fast_figures_of_a_project_without_answers(project) -> None:
    assert project_figures(project=project) == project_figures_reference(project=project)
