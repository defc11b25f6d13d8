from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from articles.models import Article, Segment, content_hash_for
from tests.factories import ArticleFactory, CollectionFactory

pytestmark = pytest.mark.django_db


def test_segments_are_cut_from_the_body() -> None:
    article = ArticleFactory(body="Alpha beta.\n\nGamma 🙂 delta.")

    segments = article.build_segments([(0, 11), (13, 27)])

    assert [s.text for s in segments] == ["Alpha beta.", "Gamma 🙂 delta."]
    assert [s.position for s in segments] == [0, 1]


@pytest.mark.parametrize("span", [(-1, 3), (5, 5), (0, 999), (7, 2)])
def test_a_span_outside_the_body_is_refused(span: tuple[int, int]) -> None:
    article = ArticleFactory(body="Short body.")

    with pytest.raises(ValueError, match="outside a body"):
        article.build_segments([span])


def test_the_database_refuses_a_segment_that_ends_before_it_starts() -> None:
    article = ArticleFactory()

    with pytest.raises(IntegrityError), transaction.atomic():
        Segment.objects.create(article=article, position=0, start=5, end=5, text="")


def test_the_same_text_cannot_be_stored_twice_in_one_collection() -> None:
    collection = CollectionFactory()
    ArticleFactory(collection=collection, body="Same text.")

    with pytest.raises(IntegrityError), transaction.atomic():
        ArticleFactory(collection=collection, body="Same   text.")
    ArticleFactory(body="Same text.")  # another collection may hold it

    assert Article.objects.count() == 2


def test_content_hash_ignores_whitespace_only() -> None:
    assert content_hash_for("A  b\n\nc") == content_hash_for("A b c")
    assert content_hash_for("A b c") != content_hash_for("a b c")
