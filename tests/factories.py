from __future__ import annotations

import factory
from django.contrib.auth import get_user_model

from annotations.models import Label, LabelSet, Membership, Project
from articles.models import Article, Collection, content_hash_for


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
