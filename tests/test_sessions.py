"""The session store (config/sessions.py): Django's database sessions with a plain SQL read.

It must behave exactly as ``django.contrib.sessions.backends.db`` for every key a browser
can send: a live session loads, an expired, unknown, deleted or malformed one loads as empty
and is never adopted (so a planted key cannot become a logged-in session).
"""

from __future__ import annotations

import datetime

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore as DjangoSessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from config.sessions import SessionStore

pytestmark = pytest.mark.django_db


def stored(data: dict[str, object]) -> str:
    session = SessionStore()
    session.update(data)
    session.create()
    assert session.session_key is not None
    return session.session_key


def test_the_settings_use_this_store() -> None:
    assert settings.SESSION_ENGINE == "config.sessions"


def test_a_live_session_loads_as_djangos_store_loads_it() -> None:
    key = stored({"answer": 42, "name": "ünïcode"})

    ours = SessionStore(key)
    django = DjangoSessionStore(key)

    assert dict(ours.items()) == dict(django.items()) == {"answer": 42, "name": "ünïcode"}
    assert ours.session_key == key


def test_loading_a_session_is_one_query() -> None:
    key = stored({"answer": 42})

    with CaptureQueriesContext(connection) as queries:
        SessionStore(key).load()

    assert len(queries) == 1
    assert "django_session" in queries[0]["sql"]


@pytest.mark.parametrize("key", ["", "x" * 32, "not a key; DROP TABLE django_session", "a" * 41])
def test_an_unknown_or_malformed_key_loads_empty_and_is_not_adopted(key: str) -> None:
    stored({"answer": 42})
    session = SessionStore(key)

    assert session.load() == {}
    assert session.session_key is None
    assert Session.objects.count() == 1


def test_an_expired_session_loads_empty_and_is_not_adopted() -> None:
    key = stored({"answer": 42})
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - datetime.timedelta(seconds=1)
    )

    session = SessionStore(key)

    assert session.load() == {}
    assert session.session_key is None
    assert DjangoSessionStore(key).load() == {}


def test_a_deleted_session_loads_empty() -> None:
    key = stored({"answer": 42})
    SessionStore(key).delete()

    assert SessionStore(key).load() == {}


def test_a_saved_change_is_read_back() -> None:
    key = stored({"answer": 42})
    session = SessionStore(key)
    session["answer"] = 43
    session.save()

    assert SessionStore(key)["answer"] == 43


def test_logging_out_ends_the_session_for_every_later_request(project, manager) -> None:
    client = Client()
    client.force_login(manager)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert SessionStore(key).get("_auth_user_id") == str(manager.pk)

    client.post(reverse("logout"))

    assert SessionStore(key).load() == {}
    assert not Session.objects.filter(session_key=key).exists()
