"""Deleting accounts in the admin never leaves a project without a manager."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from annotations.models import Membership
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    return client


def test_deleting_a_projects_only_manager_in_the_admin_is_refused_with_the_reason(
    admin_client, project
) -> None:
    only = MembershipFactory(project=project, role=Membership.Role.MANAGER).user
    url = reverse("admin:auth_user_delete", args=[only.pk])

    response = admin_client.post(url, {"post": "yes"}, follow=True)

    assert User.objects.filter(pk=only.pk).exists()
    assert Membership.objects.filter(user=only, project=project).exists()
    text = response.content.decode()
    assert f"would leave “{project.name}” without a manager" in text
    assert "only manager" in text


def test_deleting_the_last_managers_together_in_the_bulk_action_is_refused(
    admin_client, project
) -> None:
    first = MembershipFactory(project=project, role=Membership.Role.MANAGER).user
    second = MembershipFactory(project=project, role=Membership.Role.MANAGER).user
    data = {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"}

    response = admin_client.post(reverse("admin:auth_user_changelist"), data, follow=True)

    assert User.objects.filter(pk__in=[first.pk, second.pk]).count() == 2
    assert "without a manager" in response.content.decode()


def test_deleting_a_manager_who_is_not_the_last_one_is_allowed(admin_client, project) -> None:
    leaving = MembershipFactory(project=project, role=Membership.Role.MANAGER).user
    MembershipFactory(project=project, role=Membership.Role.MANAGER)
    url = reverse("admin:auth_user_delete", args=[leaving.pk])

    admin_client.post(url, {"post": "yes"})

    assert not User.objects.filter(pk=leaving.pk).exists()
    assert Membership.objects.filter(project=project, role=Membership.Role.MANAGER).count() == 1
