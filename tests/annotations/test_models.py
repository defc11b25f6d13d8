from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotations.models import GoldLabel, Label, Membership
from articles.models import Segment
from tests.factories import (
    LabelFactory,
    LabelSetFactory,
    MembershipFactory,
    UserFactory,
    labelled_project,
)

pytestmark = pytest.mark.django_db


def test_label_slug_and_shortcut_are_unique_within_a_set() -> None:
    label_set = LabelSetFactory()
    LabelFactory(label_set=label_set, slug="poverty", shortcut="p")

    with pytest.raises(IntegrityError), transaction.atomic():
        LabelFactory(label_set=label_set, slug="poverty", shortcut="q")
    with pytest.raises(IntegrityError), transaction.atomic():
        LabelFactory(label_set=label_set, slug="other", shortcut="p")

    LabelFactory(label_set=LabelSetFactory(), slug="poverty", shortcut="p")
    assert Label.objects.count() == 2


def test_labels_without_a_shortcut_may_coexist() -> None:
    label_set = LabelSetFactory()

    LabelFactory(label_set=label_set, shortcut="")
    LabelFactory(label_set=label_set, shortcut="")

    assert label_set.labels.count() == 2


@pytest.mark.parametrize(
    ("field", "value"), [("color", "red"), ("shortcut", "?"), ("shortcut", "A")]
)
def test_label_colour_and_shortcut_are_validated(field: str, value: str) -> None:
    label = LabelFactory.build(label_set=LabelSetFactory(), **{field: value})

    with pytest.raises(ValidationError) as error:
        label.full_clean()

    assert field in error.value.message_dict


def test_a_user_has_one_role_per_project() -> None:
    membership = MembershipFactory(role=Membership.Role.ANNOTATOR)

    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(project=membership.project, user=membership.user, role="reviewer")


def test_a_segment_has_one_gold_label_per_project() -> None:
    project = labelled_project()
    segment = Segment.objects.filter(article__collection=project.collection).first()
    GoldLabel.objects.create(project=project, segment=segment, source=GoldLabel.Source.UNANIMOUS)

    with pytest.raises(IntegrityError), transaction.atomic():
        GoldLabel.objects.create(
            project=project, segment=segment, source=GoldLabel.Source.UNANIMOUS
        )


@pytest.mark.parametrize(
    ("source", "reviewed", "allowed"),
    [
        (GoldLabel.Source.UNANIMOUS, False, True),
        (GoldLabel.Source.UNANIMOUS, True, True),
        (GoldLabel.Source.MAJORITY, False, False),
        (GoldLabel.Source.MAJORITY, True, True),
        (GoldLabel.Source.ADJUDICATED, False, False),
        ("guessed", True, False),
    ],
)
def test_only_an_automatic_gold_label_has_no_reviewer(
    source: str, reviewed: bool, allowed: bool
) -> None:
    project = labelled_project()
    segment = Segment.objects.filter(article__collection=project.collection).first()
    reviewer = UserFactory() if reviewed else None

    def create() -> None:
        with transaction.atomic():
            GoldLabel.objects.create(
                project=project, segment=segment, source=source, reviewer=reviewer
            )

    if allowed:
        create()
        assert GoldLabel.objects.count() == 1
    else:
        with pytest.raises(IntegrityError):
            create()


def test_review_sample_is_a_percentage() -> None:
    project = labelled_project()
    project.review_sample_percent = 101

    with pytest.raises(IntegrityError), transaction.atomic():
        project.save()
