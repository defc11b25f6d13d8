from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from articles.models import Article, Segment, content_hash_for
from articles.services import articles_delete
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


def test_deleting_the_first_article_of_a_duplicate_group_keeps_its_copies_one_group() -> None:
    collection = CollectionFactory()
    first = ArticleFactory(collection=collection)
    copies = [ArticleFactory(collection=collection, duplicate_of=first) for _ in range(3)]
    loner = ArticleFactory(collection=collection)
    collection.recount()

    assert articles_delete(Article.objects.filter(pk=first.pk)) == 1

    for copy in copies:
        copy.refresh_from_db()
    assert copies[0].duplicate_of_id is None
    assert [c.duplicate_of_id for c in copies[1:]] == [copies[0].pk, copies[0].pk]
    assert {c.duplicate_group_id for c in copies} == {copies[0].pk}
    loner.refresh_from_db()
    assert loner.duplicate_group_id == loner.pk
    collection.refresh_from_db()
    assert collection.article_count == 4


def test_a_whole_collection_with_duplicate_groups_can_be_deleted() -> None:
    collection = CollectionFactory()
    first = ArticleFactory(collection=collection)
    ArticleFactory(collection=collection, duplicate_of=first)

    collection.delete()

    assert not Article.objects.exists()


def test_without_regrouping_the_foreign_key_only_clears_the_link() -> None:
    # What articles_delete protects against: a plain delete splits the group.
    first = ArticleFactory()
    copy = ArticleFactory(collection=first.collection, duplicate_of=first)

    first.delete()

    copy.refresh_from_db()
    assert copy.duplicate_of_id is None
