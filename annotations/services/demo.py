"""The demo project: the sample article, a label set of eight themes and the admin account."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.db import transaction

from articles.services import ImportResult, articles_import, collection_get_or_create

from ..models import Label, LabelSet, Membership, Project

DEMO_ARTICLE = Path(__file__).resolve().parent.parent / "demo_data" / "mfa-briefing-2024-12-10.txt"
DEMO_PROJECT_NAME = "Foreign-ministry briefings"
DEMO_LABELS = [
    # (name, slug, guideline, colour, shortcut)
    (
        "Poverty",
        "poverty",
        "The segment discusses poverty, its reduction or people's livelihoods.",
        "#e15759",
        "1",
    ),
    (
        "Legislation",
        "legislation",
        "The segment refers to laws, legal safeguards or the rule of law.",
        "#4e79a7",
        "2",
    ),
    (
        "Bilateral ties",
        "bilateral-ties",
        "The segment is about relations between two named countries.",
        "#f28e2b",
        "3",
    ),
    (
        "Human rights",
        "human-rights",
        "The segment concerns human rights, their protection or their use in diplomacy.",
        "#76b7b2",
        "4",
    ),
    (
        "Democracy",
        "democracy",
        "The segment concerns elections, representation or people's participation in government.",
        "#59a14f",
        "5",
    ),
    (
        "Development",
        "development",
        "The segment is about economic or sustainable development and cooperation for it.",
        "#edc948",
        "6",
    ),
    (
        "Health & education",
        "health-education",
        "The segment mentions health care, life expectancy, schooling or social security.",
        "#b07aa1",
        "7",
    ),
    (
        "Reform",
        "reform",
        "The segment describes reforms, reform measures or plans to change institutions.",
        "#ff9da7",
        "8",
    ),
]


@dataclass(frozen=True, slots=True)
class DemoResult:
    project: Project
    admin_password: str | None  # set only when this run chose or changed the password
    articles: ImportResult


def demo_load(*, admin_password: str | None = None) -> DemoResult:
    """Create (or bring up to date) the demo project, its data and the ``admin`` superuser.

    Safe to run again: nothing is duplicated. The admin's password is ``admin_password``
    when given, else generated the first time and left alone afterwards.
    """
    User = get_user_model()
    with transaction.atomic():
        admin = User.objects.filter(username="admin").first()
        chosen_password = admin_password
        if admin is None:
            chosen_password = chosen_password or secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", email="", password=chosen_password)
        elif admin_password:
            admin.set_password(admin_password)
            admin.save(update_fields=["password"])

        collection, _ = collection_get_or_create(name=DEMO_PROJECT_NAME)
        label_set, _ = LabelSet.objects.get_or_create(
            slug="news-themes",
            defaults={
                "name": "News themes",
                "description": "Themes of foreign-policy and domestic-policy news.",
            },
        )
        for order, (name, slug, guideline, color, shortcut) in enumerate(DEMO_LABELS):
            Label.objects.get_or_create(
                label_set=label_set,
                slug=slug,
                defaults={
                    "name": name,
                    "description": guideline,
                    "color": color,
                    "shortcut": shortcut,
                    "order": order,
                },
            )
        project, _ = Project.objects.get_or_create(
            slug="foreign-ministry-briefings",
            defaults={
                "name": DEMO_PROJECT_NAME,
                "description": "Tag each paragraph of the briefings with the themes it raises.",
                "collection": collection,
                "label_set": label_set,
                "multi_label": True,
            },
        )
        Membership.objects.get_or_create(
            project=project, user=admin, defaults={"role": Membership.Role.MANAGER}
        )
        articles = articles_import(
            collection=collection,
            paths=[DEMO_ARTICLE],
            created_by=admin,
            # The sample comes from a Hong Kong news site; its times are local (UTC+8).
            time_zone="Asia/Hong_Kong",
        )
        if not articles.succeeded:
            raise RuntimeError(f"The demo article could not be imported: {articles.errors}")
    return DemoResult(project=project, admin_password=chosen_password, articles=articles)
