from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from django.db.models import F

from annotations.models import Label, LabelSet, Membership, Project
from articles.ingestion.segmenting import paragraph_spans
from articles.models import Article, Collection, Segment, content_hash_for


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("correct horse battery staple")


class CollectionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Collection

    name = factory.Sequence(lambda n: f"Collection {n}")
    slug = factory.Sequence(lambda n: f"collection-{n}")


class ArticleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Article

    collection = factory.SubFactory(CollectionFactory)
    title = factory.Sequence(lambda n: f"Article {n}")
    body = factory.Sequence(lambda n: f"First paragraph {n}.\n\nSecond paragraph {n}.")
    content_hash = factory.LazyAttribute(lambda a: content_hash_for(a.body))


class SegmentedArticleFactory(ArticleFactory):
    """An article cut into paragraph segments, counted in its collection as an import would."""

    class Meta:
        skip_postgeneration_save = True

    @factory.post_generation
    def segments(obj: Article, create: bool, extracted: object, **kwargs: object) -> None:
        if not create:
            return
        segments = Segment.objects.bulk_create(obj.build_segments(paragraph_spans(obj.body)))
        Collection.objects.filter(pk=obj.collection_id).update(
            article_count=F("article_count") + 1, segment_count=F("segment_count") + len(segments)
        )


class LabelSetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabelSet

    name = factory.Sequence(lambda n: f"Label set {n}")
    slug = factory.Sequence(lambda n: f"label-set-{n}")


class LabelFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Label

    label_set = factory.SubFactory(LabelSetFactory)
    name = factory.Sequence(lambda n: f"Label {n}")
    slug = factory.Sequence(lambda n: f"label-{n}")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")
    collection = factory.SubFactory(CollectionFactory)
    label_set = factory.SubFactory(LabelSetFactory)


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Membership.Role.ANNOTATOR


def labelled_project(
    *, labels: int = 4, articles: int = 2, paragraphs: int = 3, **project_fields: object
) -> Project:
    """A project whose collection holds ``articles`` articles of ``paragraphs`` segments each,
    and whose label set has ``labels`` active labels with shortcuts 1, 2, 3…"""
    project = ProjectFactory(**project_fields)
    for order in range(labels):
        LabelFactory(
            label_set=project.label_set,
            name=f"Theme {order + 1}",
            slug=f"theme-{order + 1}",
            shortcut=str(order + 1),
            order=order,
            description=f"Use theme {order + 1} when the segment is about it.",
        )
    for index in range(articles):
        SegmentedArticleFactory(
            collection=project.collection,
            title=f"Article {index + 1} of {project.name}",
            body="\n\n".join(
                f"Paragraph {p + 1} of article {index + 1} in {project.name}."
                for p in range(paragraphs)
            ),
        )
    project.collection.refresh_from_db()
    return project
