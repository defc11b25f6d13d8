"""Review: review rows kept with the answers, automatic unanimous gold labels, the review
queue, and reviewers' decisions with optimistic locking."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_tasks_db.models import DBTaskResult

from annotations.models import Annotation, GoldLabel, GoldLabelEvent, Membership, SegmentReview
from annotations.services.answers import annotation_submit
from annotations.services.review import (
    GoldConflict,
    GoldRejected,
    Rating,
    gold_label_set,
    review_backfill,
    review_counts,
    review_next,
    review_queue,
    review_sample,
    summarise,
)
from annotations.services.setup import project_update
from articles.models import Segment
from tests.factories import MembershipFactory, labelled_project

pytestmark = pytest.mark.django_db


def rating(labels: set[int], *, status: str = "submitted", unsure=False, comment="") -> Rating:
    return Rating(
        annotator_id=0,
        status=status,
        unsure=unsure,
        comment=comment,
        time_spent_ms=0,
        label_ids=frozenset(labels),
    )


# summarise: worked out by hand


def test_three_answers_two_alike_agree_on_one_pair_in_three() -> None:
    summary = summarise([rating({1}), rating({1}), rating({1, 2})])

    assert summary.agreement == pytest.approx(1 / 3)
    assert summary.disagree is True
    assert summary.majority == frozenset({1})
    assert summary.unanimous is None


def test_all_alike_and_unflagged_is_unanimous() -> None:
    summary = summarise([rating({1, 2}), rating({2, 1}), rating({1, 2})])

    assert summary.agreement == 1.0
    assert summary.unanimous == frozenset({1, 2})
    assert summary.majority == frozenset({1, 2})


@pytest.mark.parametrize("flag", [{"unsure": True}, {"comment": "Not sure this is politics"}])
def test_an_unsure_mark_or_a_comment_prevents_unanimity(flag: dict) -> None:
    summary = summarise([rating({1}), rating({1}, **flag)])

    assert summary.agreement == 1.0
    assert summary.unanimous is None


def test_skipped_answers_are_not_ratings_and_one_rating_has_no_agreement() -> None:
    summary = summarise([rating({3}), rating(set(), status="skipped")])

    assert (summary.submitted, summary.skipped) == (1, 1)
    assert summary.agreement is None
    assert summary.unanimous is None
    # One of one is more than half.
    assert summary.majority == frozenset({3})


def test_a_tie_has_no_majority() -> None:
    summary = summarise([rating({1}), rating({2})])

    assert summary.agreement == 0.0
    assert summary.majority is None


# Fixtures: a project that wants 3 answers per segment and three annotators.


@pytest.fixture
def team_project():
    return labelled_project(name="Triple", slug="triple", annotators_per_segment=3)


@pytest.fixture
def team(team_project):
    return [
        MembershipFactory(project=team_project, role=Membership.Role.ANNOTATOR).user
        for _ in range(3)
    ]


@pytest.fixture
def boss(team_project):
    return MembershipFactory(project=team_project, role=Membership.Role.REVIEWER).user


def segments(project) -> list[Segment]:
    return list(
        Segment.objects.filter(article__collection=project.collection)
        .select_related("article")
        .order_by("pk")
    )


def labels(project) -> list:
    return list(project.label_set.labels.order_by("order"))


def answer(project, segment, user, chosen, **fields) -> Annotation:
    return annotation_submit(
        project=project, segment=segment, annotator=user, labels=chosen, **fields
    )


def gold_of(project, segment) -> GoldLabel | None:
    return GoldLabel.objects.filter(project=project, segment=segment).first()


# Automatic acceptance


def test_the_kth_agreeing_answer_makes_a_unanimous_gold_label(team_project, team) -> None:
    segment = segments(team_project)[0]
    one, two = labels(team_project)[:2]

    answer(team_project, segment, team[0], [one, two])
    answer(team_project, segment, team[1], [two, one])
    assert gold_of(team_project, segment) is None  # 2 of 3 answers: not yet

    answer(team_project, segment, team[2], [one, two])

    gold = gold_of(team_project, segment)
    assert gold is not None
    assert gold.source == GoldLabel.Source.UNANIMOUS
    assert gold.reviewer is None
    assert gold.label_ids() == {one.pk, two.pk}
    event = GoldLabelEvent.objects.get(project=team_project, segment=segment)
    assert (event.before, event.actor, event.version) == (None, None, 1)
    assert event.after["labels"] == sorted([one.pk, two.pk])
    row = SegmentReview.objects.get(project=team_project, segment=segment)
    assert (row.submitted, row.agreement, row.gold) == (3, 1.0, "unanimous")
    assert review_counts(team_project).unanimous == 1


def test_no_automatic_gold_when_the_project_says_so(team_project, team) -> None:
    team_project.auto_accept_unanimous = False
    team_project.save()
    segment = segments(team_project)[0]
    one = labels(team_project)[0]

    for user in team:
        answer(team_project, segment, user, [one])

    assert gold_of(team_project, segment) is None
    # Agreed and unflagged: not for review either.
    assert not review_queue(team_project).exists()


def test_a_flagged_or_disagreeing_segment_goes_to_review_not_to_gold(team_project, team) -> None:
    first, second = segments(team_project)[:2]
    one, two = labels(team_project)[:2]
    for user in team:
        answer(team_project, first, user, [one], unsure=user == team[0])
    answer(team_project, second, team[0], [one])
    answer(team_project, second, team[1], [one])
    answer(team_project, second, team[2], [two])

    assert GoldLabel.objects.count() == 0
    # Lowest agreement first: 1 of 3 pairs agree on the second, all on the first.
    assert list(review_queue(team_project).values_list("segment_id", flat=True)) == [
        second.pk,
        first.pk,
    ]
    assert review_counts(team_project).awaiting == 2


def test_a_changed_answer_withdraws_the_automatic_gold_label(team_project, team) -> None:
    segment = segments(team_project)[0]
    one, two = labels(team_project)[:2]
    for user in team:
        answer(team_project, segment, user, [one])
    assert gold_of(team_project, segment) is not None

    answer(team_project, segment, team[0], [two], expected_version=1)

    assert gold_of(team_project, segment) is None
    withdrawal = GoldLabelEvent.objects.filter(project=team_project, segment=segment).last()
    assert withdrawal.after is None
    assert withdrawal.before["labels"] == [one.pk]
    assert list(review_queue(team_project).values_list("segment_id", flat=True)) == [segment.pk]


def test_a_reviewers_gold_label_survives_changed_answers(team_project, team, boss) -> None:
    segment = segments(team_project)[0]
    one, two = labels(team_project)[:2]
    for user in team:
        answer(team_project, segment, user, [one])
    gold_label_set(
        project=team_project,
        segment=segment,
        reviewer=boss,
        labels=[two],
        note="Theme 2 fits",
        expected_version=1,
    )

    answer(team_project, segment, team[0], [two], expected_version=1)

    gold = gold_of(team_project, segment)
    assert (gold.source, gold.reviewer, gold.label_ids()) == ("adjudicated", boss, {two.pk})


def test_backfill_accepts_what_was_answered_before(team_project, team) -> None:
    team_project.auto_accept_unanimous = False
    team_project.save()
    first, second = segments(team_project)[:2]
    one, two = labels(team_project)[:2]
    for user in team:
        answer(team_project, first, user, [one])
        answer(team_project, second, user, [one if user != team[2] else two])
    team_project.auto_accept_unanimous = True
    team_project.save()

    result = review_backfill(project=team_project, batch_size=1)

    assert (result.segments, result.accepted, result.withdrawn) == (2, 1, 0)
    assert gold_of(team_project, first).source == "unanimous"
    assert gold_of(team_project, second) is None


def test_backfill_after_raising_k_withdraws_automatic_gold(team_project, team) -> None:
    segment = segments(team_project)[0]
    one = labels(team_project)[0]
    for user in team:
        answer(team_project, segment, user, [one])
    team_project.annotators_per_segment = 4
    team_project.save()

    result = review_backfill(project=team_project)

    assert result.withdrawn == 1
    assert gold_of(team_project, segment) is None


# Reviewers' decisions


def test_accepting_the_majority_unchanged_is_a_majority_gold_label(
    team_project, team, boss
) -> None:
    segment = segments(team_project)[0]
    one, two = labels(team_project)[:2]
    answer(team_project, segment, team[0], [one])
    answer(team_project, segment, team[1], [one])
    answer(team_project, segment, team[2], [two])

    decision = gold_label_set(
        project=team_project, segment=segment, reviewer=boss, labels=[one], expected_version=0
    )

    assert decision.gold.source == GoldLabel.Source.MAJORITY
    assert decision.gold.reviewer == boss
    assert decision.label_ids == {one.pk}
    assert not review_queue(team_project).exists()
    assert review_counts(team_project).majority == 1


def test_another_choice_is_adjudicated_and_changes_are_versioned(team_project, team, boss) -> None:
    segment = segments(team_project)[0]
    one, two, three = labels(team_project)[:3]
    answer(team_project, segment, team[0], [one])
    answer(team_project, segment, team[1], [one])
    answer(team_project, segment, team[2], [two])
    first = gold_label_set(
        project=team_project, segment=segment, reviewer=boss, labels=[one], expected_version=0
    )

    second = gold_label_set(
        project=team_project,
        segment=segment,
        reviewer=boss,
        labels=[two, three],
        note="Both apply",
        expected_version=first.gold.version,
    )

    gold = gold_of(team_project, segment)
    assert (gold.source, gold.version, gold.note) == ("adjudicated", 2, "Both apply")
    assert gold.label_ids() == {two.pk, three.pk} == second.label_ids
    events = list(GoldLabelEvent.objects.filter(project=team_project, segment=segment))
    assert [e.version for e in events] == [1, 2]
    assert events[1].before == {
        "labels": [one.pk],
        "source": "majority",
        "reviewer": boss.pk,
        "note": "",
    }
    assert events[1].after["labels"] == sorted([two.pk, three.pk])
    assert review_counts(team_project).adjudicated == 1


def test_a_stale_decision_is_refused_with_the_stored_one(team_project, team, boss) -> None:
    segment = segments(team_project)[0]
    one, two = labels(team_project)[:2]
    answer(team_project, segment, team[0], [one])
    gold_label_set(
        project=team_project, segment=segment, reviewer=boss, labels=[one], expected_version=0
    )

    with pytest.raises(GoldConflict) as conflict:
        gold_label_set(
            project=team_project, segment=segment, reviewer=boss, labels=[two], expected_version=0
        )

    assert conflict.value.current.version == 1
    assert conflict.value.label_ids == {one.pk}
    assert gold_of(team_project, segment).label_ids() == {one.pk}


def test_the_same_decision_twice_is_not_a_conflict(team_project, team, boss) -> None:
    segment = segments(team_project)[0]
    one = labels(team_project)[0]
    for _ in range(2):
        decision = gold_label_set(
            project=team_project, segment=segment, reviewer=boss, labels=[one], expected_version=0
        )

    assert decision.changed is False
    assert decision.gold.version == 1


def test_confirming_an_automatic_gold_label_keeps_it_unanimous(team_project, team, boss) -> None:
    segment = segments(team_project)[0]
    one = labels(team_project)[0]
    for user in team:
        answer(team_project, segment, user, [one])

    decision = gold_label_set(
        project=team_project, segment=segment, reviewer=boss, labels=[one], expected_version=1
    )

    assert (decision.gold.source, decision.gold.reviewer, decision.gold.version) == (
        "unanimous",
        boss,
        2,
    )
    assert SegmentReview.objects.get(project=team_project, segment=segment).reviewed is True


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("none", "at least one label"),
        ("foreign", "another label set"),
        ("two_in_single", "exactly one label"),
        ("nul", "NUL"),
    ],
)
def test_broken_rules_are_refused(team_project, boss, other_project, case, message) -> None:
    segment = segments(team_project)[0]
    one, two = labels(team_project)[:2]
    chosen = {
        "none": [],
        "foreign": [labels(other_project)[0]],
        "two_in_single": [one, two],
        "nul": [one],
    }[case]
    if case == "two_in_single":
        team_project.multi_label = False
        team_project.save()

    with pytest.raises(GoldRejected, match=message):
        gold_label_set(
            project=team_project,
            segment=segment,
            reviewer=boss,
            labels=chosen,
            note="a\x00b" if case == "nul" else "",
            expected_version=0,
        )
    assert GoldLabel.objects.count() == 0


def test_a_segment_of_another_project_is_refused(team_project, other_project, boss) -> None:
    with pytest.raises(GoldRejected, match="does not belong"):
        gold_label_set(
            project=team_project,
            segment=segments(other_project)[0],
            reviewer=boss,
            labels=[labels(team_project)[0]],
        )


# The queue's order and the quality-control sample


def test_review_next_walks_the_queue_in_agreement_order(team_project, team) -> None:
    first, second, third = segments(team_project)[:3]
    one, two, three = labels(team_project)[:3]
    for segment, chosen in [
        (first, [[one], [one], [one]]),  # agreed, one is unsure: agreement 1.0
        (second, [[one], [two], [three]]),  # agreement 0.0
        (third, [[one], [one], [two]]),  # agreement 1/3
    ]:
        for user, picked in zip(team, chosen, strict=True):
            answer(team_project, segment, user, picked, unsure=segment == first)

    walked = []
    row = None
    while (item := review_next(project=team_project, after=row)) is not None:
        walked.append(item.segment_id)
        row = SegmentReview.objects.get(project=team_project, segment_id=item.segment_id)

    assert walked == [second.pk, third.pk, first.pk]


def test_the_sample_holds_the_share_of_agreed_segments_asked_for(team_project, team) -> None:
    one = labels(team_project)[0]
    for segment in segments(team_project):
        for user in team:
            answer(team_project, segment, user, [one])
    SegmentReview.objects.filter(project=team_project).update(sample_rank=50)
    SegmentReview.objects.filter(project=team_project, segment=segments(team_project)[0]).update(
        sample_rank=5
    )

    team_project.review_sample_percent = 10
    assert list(review_sample(team_project).values_list("segment_id", flat=True)) == [
        segments(team_project)[0].pk
    ]
    item = review_next(project=team_project)
    assert (item.segment_id, item.sample) == (segments(team_project)[0].pk, True)
    team_project.review_sample_percent = 0
    assert review_next(project=team_project) is None


# Settings changes recompute in the background


def test_raising_k_in_the_settings_withdraws_automatic_gold_through_the_task(
    settings, django_capture_on_commit_callbacks, team_project, team
) -> None:
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    segment = segments(team_project)[0]
    one = labels(team_project)[0]
    for user in team:
        answer(team_project, segment, user, [one])

    with django_capture_on_commit_callbacks(execute=True):
        project_update(
            project=team_project,
            name=team_project.name,
            description="",
            multi_label=True,
            annotators_per_segment=4,
        )

    assert gold_of(team_project, segment) is None


def test_a_settings_change_queues_the_recount_for_the_worker(
    django_capture_on_commit_callbacks, team_project
) -> None:
    # The real backend: a row for the database worker (`manage.py db_worker`).
    with django_capture_on_commit_callbacks(execute=True):
        project_update(
            project=team_project,
            name=team_project.name,
            description="",
            multi_label=True,
            annotators_per_segment=3,
            auto_accept_unanimous=False,
        )

    queued = DBTaskResult.objects.get()
    assert queued.task_path == "annotations.tasks.review_backfill_run"
    assert queued.args_kwargs["args"] == [team_project.pk]


def test_renaming_a_project_queues_nothing(django_capture_on_commit_callbacks, team_project):
    with django_capture_on_commit_callbacks(execute=True):
        project_update(
            project=team_project,
            name="Renamed",
            description="",
            multi_label=True,
            annotators_per_segment=3,
        )

    assert not DBTaskResult.objects.exists()


def test_a_retired_label_is_refused_unless_the_gold_label_has_it(team_project, boss) -> None:
    segment = segments(team_project)[0]
    one, two = labels(team_project)[:2]
    gold_label_set(project=team_project, segment=segment, reviewer=boss, labels=[one])
    one.active = two.active = False
    one.save()
    two.save()

    kept = gold_label_set(
        project=team_project,
        segment=segment,
        reviewer=boss,
        labels=[one],
        note="kept",
        expected_version=1,
    )
    with pytest.raises(GoldRejected, match="no longer in use"):
        gold_label_set(
            project=team_project, segment=segment, reviewer=boss, labels=[two], expected_version=2
        )

    assert kept.gold.version == 2


def test_the_backfill_command_fills_review_rows_for_older_answers(team_project, team) -> None:
    segment = segments(team_project)[0]
    one = labels(team_project)[0]
    for user in team:
        answer(team_project, segment, user, [one])
    # As if answered before review existed.
    GoldLabel.objects.all().delete()
    GoldLabelEvent.objects.all().delete()
    SegmentReview.objects.all().delete()
    out = StringIO()

    call_command("review_backfill", team_project.slug, stdout=out)

    assert out.getvalue() == "triple: 1 answered segments, 1 accepted as unanimous, 0 withdrawn.\n"
    assert gold_of(team_project, segment).source == "unanimous"
    assert SegmentReview.objects.get(project=team_project, segment=segment).submitted == 3


def test_the_backfill_command_needs_a_project(team_project) -> None:
    with pytest.raises(CommandError, match="Name one or more"):
        call_command("review_backfill")
    with pytest.raises(CommandError, match="No such project: nope"):
        call_command("review_backfill", "nope")
