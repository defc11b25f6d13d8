"""Every model is in the admin, and its pages stay cheap as the data grows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from articles.models import Article
from tests.factories import (
    LabelFactory,
    MembershipFactory,
    SegmentedArticleFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = [
    "articles.collection",
    "articles.article",
    "articles.segment",
    "articles.importbatch",
    "annotations.labelset",
    "annotations.label",
    "annotations.project",
    "annotations.membership",
]


@pytest.fixture
def admin_client_with_data(client):
    admin = UserFactory(username="boss", is_staff=True, is_superuser=True)
    SegmentedArticleFactory.create_batch(3)
    LabelFactory.create_batch(3)
    MembershipFactory.create_batch(3)
    client.force_login(admin)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_changelist_renders_for_every_model(admin_client_with_data, model: str) -> None:
    app, name = model.split(".")

    response = admin_client_with_data.get(reverse(f"admin:{app}_{name}_changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client_with_data, django_assert_max_num_queries, model: str
) -> None:
    app, name = model.split(".")
    with django_assert_max_num_queries(12):
        admin_client_with_data.get(reverse(f"admin:{app}_{name}_changelist"))


def test_article_page_shows_its_segments_inline(admin_client_with_data) -> None:
    article = Article.objects.first()

    response = admin_client_with_data.get(
        reverse("admin:articles_article_change", args=[article.pk])
    )

    assert response.status_code == 200
    for segment in article.segments.all():
        assert segment.text in response.content.decode()


def test_admin_is_closed_to_non_staff(client) -> None:
    client.force_login(UserFactory(username="analyst"))

    response = client.get(reverse("admin:articles_article_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("model", ["article", "segment", "importbatch"])
def test_imported_objects_cannot_be_added_by_hand(admin_client_with_data, model: str) -> None:
    response = admin_client_with_data.get(reverse(f"admin:articles_{model}_add"))

    assert response.status_code == 403
