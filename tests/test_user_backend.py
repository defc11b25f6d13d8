"""The model backend's per-request user read (config.accounts.ModelBackend)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from config.accounts import ModelBackend
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_reads_the_same_user_as_the_orm() -> None:
    made = UserFactory(first_name="Ada", is_staff=True)

    user = ModelBackend().get_user(made.pk)

    stored = User.objects.get(pk=made.pk)
    assert user is not None
    for field in User._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(stored, field.attname), field.name
    assert user._state.adding is False


def test_it_gives_nobody_for_an_inactive_or_missing_user() -> None:
    inactive = UserFactory(is_active=False)

    assert ModelBackend().get_user(inactive.pk) is None
    assert ModelBackend().get_user(inactive.pk + 1000) is None


def test_a_logged_in_session_gets_its_user_through_it(client) -> None:
    user = UserFactory()
    client.force_login(user)

    response = client.get("/")

    assert response.wsgi_request.user.pk == user.pk
    assert client.session["_auth_user_backend"] == "config.accounts.ModelBackend"
