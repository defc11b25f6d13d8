from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotations.models import Label, Membership, Project
from articles.models import Article, Segment

pytestmark = pytest.mark.django_db


def run_demo(monkeypatch: pytest.MonkeyPatch, password: str | None = None) -> str:
    if password is None:
        monkeypatch.delenv("THEMATA_ADMIN_PASSWORD", raising=False)
    else:
        monkeypatch.setenv("THEMATA_ADMIN_PASSWORD", password)
    out = io.StringIO()
    call_command("demo", stdout=out)
    return out.getvalue()


def test_demo_builds_the_project_from_the_sample_article(monkeypatch) -> None:
    run_demo(monkeypatch)

    project = Project.objects.get(name="Foreign-ministry briefings")
    assert project.multi_label
    first, second = Article.objects.filter(collection=project.collection).order_by("id")
    assert first.published_at == datetime(2024, 12, 10, 16, 52, tzinfo=ZoneInfo("Asia/Hong_Kong"))
    assert second.published_at is None
    assert Segment.objects.filter(article__collection=project.collection).count() == 12
    labels = list(project.label_set.labels.order_by("order"))
    assert {label.slug for label in labels} >= {
        "poverty",
        "legislation",
        "bilateral-ties",
        "human-rights",
        "democracy",
        "development",
        "health-education",
        "reform",
    }
    assert all(label.description.endswith(".") and label.shortcut for label in labels)
    assert len({label.shortcut for label in labels}) == len(labels)
    assert Membership.objects.get(project=project).role == Membership.Role.MANAGER


def test_demo_is_idempotent(monkeypatch) -> None:
    run_demo(monkeypatch)
    second = run_demo(monkeypatch)

    assert Project.objects.count() == 1
    assert Label.objects.count() == 8
    assert Article.objects.count() == 2
    assert "0 new articles, 2 already there" in second
    assert "Password (shown once)" not in second


def test_demo_generates_a_password_once_and_prints_it(monkeypatch) -> None:
    output = run_demo(monkeypatch)

    password = output.split("Password (shown once): ")[1].split()[0]
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and len(password) >= 12
    assert admin.check_password(password)


def test_demo_takes_the_admin_password_from_the_environment(monkeypatch) -> None:
    output = run_demo(monkeypatch, password="a long chosen passphrase")

    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("a long chosen passphrase")
    assert "a long chosen passphrase" not in output
    assert "THEMATA_ADMIN_PASSWORD" in output
