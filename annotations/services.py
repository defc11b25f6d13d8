"""Workflows of the annotations app that touch several models and own their transaction."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F

from articles.models import Segment
from articles.services import ImportResult, articles_import, collection_get_or_create

from .models import (
    Annotation,
    AnnotationLabel,
    AnnotatorProgress,
    Label,
    LabelSet,
    Membership,
    Project,
)

DEMO_ARTICLE = Path(__file__).resolve().parent / "demo_data" / "mfa-briefing-2024-12-10.txt"
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


class AnnotationRejected(ValueError):
    """The answer breaks a project rule (labels, status); the message says which."""


class AnnotationConflict(Exception):
    """The annotation changed since the client read it; ``current`` is what is stored."""

    def __init__(self, current: Annotation) -> None:
        super().__init__(
            f"This answer was changed elsewhere (now version {current.version}); reload to see it."
        )
        self.current = current


# Time on a segment longer than this is a coffee break, not labelling effort.
MAX_TIME_SPENT_MS = 60 * 60 * 1000
MAX_COMMENT_LENGTH = 2000


def annotation_submit(
    *,
    project: Project,
    segment: Segment,
    annotator: AbstractBaseUser,
    labels: Sequence[Label],
    status: str = Annotation.Status.SUBMITTED,
    unsure: bool = False,
    comment: str = "",
    time_spent_ms: int = 0,
    expected_version: int = 0,
) -> Annotation:
    """Store ``annotator``'s answer for ``segment``: create it, or revise it in place.

    ``expected_version`` is the version the client last saw (0 for "no answer yet"). If the
    stored answer is at another version, ``AnnotationConflict`` is raised and nothing
    changes, unless the stored answer already says exactly this (a double submit), which
    is then returned as it is. Rules broken raise ``AnnotationRejected``.
    """
    status = Annotation.Status(status)
    labels = list(dict.fromkeys(labels))
    if any(label.label_set_id != project.label_set_id for label in labels):
        raise AnnotationRejected("A label from another label set was sent; it was not stored.")
    if segment.article.collection_id != project.collection_id:
        raise AnnotationRejected("This segment does not belong to this project.")
    if status == Annotation.Status.SKIPPED:
        labels = []
    elif not labels:
        raise AnnotationRejected("Choose at least one label, or skip the segment.")
    elif not project.multi_label and len(labels) != 1:
        raise AnnotationRejected("This project takes exactly one label per segment.")
    comment = comment.strip()
    if len(comment) > MAX_COMMENT_LENGTH:
        raise AnnotationRejected(f"A comment can be at most {MAX_COMMENT_LENGTH} characters.")
    time_spent_ms = max(0, min(int(time_spent_ms), MAX_TIME_SPENT_MS))
    label_ids = {label.pk for label in labels}

    with transaction.atomic():
        current = (
            Annotation.objects.select_for_update()
            .filter(project=project, segment=segment, annotator=annotator)
            .first()
        )
        if current is None:
            if expected_version != 0:
                raise AnnotationRejected("The answer you edited no longer exists; reload the page.")
            try:
                with transaction.atomic():
                    annotation = Annotation.objects.create(
                        project=project,
                        segment=segment,
                        annotator=annotator,
                        status=status,
                        unsure=unsure,
                        comment=comment,
                        time_spent_ms=time_spent_ms,
                    )
            except IntegrityError:
                # A simultaneous request (double click, second tab) created it first.
                current = Annotation.objects.select_for_update().get(
                    project=project, segment=segment, annotator=annotator
                )
                if _says_the_same(current, status, unsure, comment, label_ids):
                    return current
                raise AnnotationConflict(current) from None
            AnnotationLabel.objects.bulk_create(
                AnnotationLabel(annotation=annotation, label=label) for label in labels
            )
            _progress_add(project, annotator, status, +1)
            return annotation

        if current.version != expected_version:
            if _says_the_same(current, status, unsure, comment, label_ids):
                return current
            raise AnnotationConflict(current)
        previous_status = current.status
        current.revise(status=status, unsure=unsure, comment=comment, time_spent_ms=time_spent_ms)
        current.save()
        stored = set(
            AnnotationLabel.objects.filter(annotation=current).values_list("label_id", flat=True)
        )
        if stored != label_ids:
            AnnotationLabel.objects.filter(annotation=current).exclude(
                label_id__in=label_ids
            ).delete()
            AnnotationLabel.objects.bulk_create(
                AnnotationLabel(annotation=current, label=label)
                for label in labels
                if label.pk not in stored
            )
        if previous_status != status:
            _progress_add(project, annotator, previous_status, -1)
            _progress_add(project, annotator, status, +1)
        return current


def _says_the_same(
    annotation: Annotation, status: str, unsure: bool, comment: str, label_ids: set[int]
) -> bool:
    if (annotation.status, annotation.unsure, annotation.comment) != (status, unsure, comment):
        return False
    stored = AnnotationLabel.objects.filter(annotation=annotation).values_list(
        "label_id", flat=True
    )
    return set(stored) == label_ids


def _progress_add(project: Project, annotator: AbstractBaseUser, status: str, delta: int) -> None:
    field = "submitted" if status == Annotation.Status.SUBMITTED else "skipped"
    updated = AnnotatorProgress.objects.filter(project=project, annotator=annotator).update(
        **{field: F(field) + delta}
    )
    if not updated:
        # The person's first answer in this project; the unique constraint settles a race.
        progress, _ = AnnotatorProgress.objects.get_or_create(project=project, annotator=annotator)
        AnnotatorProgress.objects.filter(pk=progress.pk).update(**{field: F(field) + delta})


# --- Project set-up services (project_create, label edits) ---

# --- end project set-up services ---


# --- Member services (accounts and memberships) ---

# --- end member services ---
