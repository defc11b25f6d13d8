from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from annotations.models import Label, Membership
from tests.factories import LabelFactory, LabelSetFactory, MembershipFactory

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
