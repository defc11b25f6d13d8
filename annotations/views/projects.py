"""My projects, and one project's page: overview, guidelines, my queue, recent activity."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from articles.models import ImportBatch
from config.http import AuthenticatedHttpRequest

from ..access import (
    ADMIN_ROLE,
    Capability,
    ProjectAccess,
    can_create_projects,
    get_project_for_user,
    projects_for_user,
)
from ..models import (
    Annotation,
    AnnotationLabel,
    AnnotatorProgress,
    Label,
    Membership,
    Progress,
    Project,
    progress_of,
)
from ..queue import queue_peek

RECENT = 10


def _percent(part: int, whole: int) -> int:
    return min(100, round(100 * part / whole)) if whole else 0


def _team_answers() -> Coalesce:
    team = (
        AnnotatorProgress.objects.filter(project=OuterRef("pk"))
        .values("project")
        .annotate(total=Sum("submitted"))
        .values("total")
    )
    return Coalesce(Subquery(team, output_field=IntegerField()), Value(0))


def _with_progress(projects: QuerySet[Project], user: Any) -> QuerySet[Project]:
    """``projects`` with my progress counts and the team's submitted answers (no extra query)."""
    mine = AnnotatorProgress.objects.count_columns(project=OuterRef("pk"), annotator=user)
    return projects.select_related("collection").annotate(**mine, team_submitted=_team_answers())


@dataclass(frozen=True)
class ProjectProgress:
    """My progress of all segments; the team's submitted answers of all the project wants."""

    mine: Progress
    team: int
    team_needed: int

    @property
    def team_percent(self) -> int:
        return _percent(self.team, self.team_needed)

    @classmethod
    def of(cls, project: Project) -> ProjectProgress:
        """From a project annotated by ``_with_progress``."""
        total = project.collection.segment_count
        return cls(
            mine=progress_of(project, total=total),
            team=project.team_submitted,  # type: ignore[attr-defined]  # annotated
            team_needed=total * project.annotators_per_segment,
        )


@require_GET
def project_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Home: every project I may open, with my progress and the team's (one query)."""
    projects = list(_with_progress(projects_for_user(request.user), request.user))
    rows = [
        {
            "project": project,
            "role": ProjectAccess(
                project,
                project.user_role or ADMIN_ROLE,  # type: ignore[attr-defined]  # projects_for_user
            ).role_label,
            "progress": ProjectProgress.of(project),
        }
        for project in projects
    ]
    return render(
        request,
        "annotations/project_list.html",
        {"rows": rows, "can_create": can_create_projects(request.user)},
    )


@require_GET
def project_detail(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, need=Capability.VIEW)
    project = access.project
    progress = ProjectProgress.of(
        _with_progress(Project.objects.filter(pk=project.pk), request.user).get()
    )
    labels = [label for label in project.label_set.labels.all() if label.active]
    # Annotators see their own answers only; managers, reviewers and admins see the team's.
    activity = Annotation.objects.filter(project=project).select_related("segment", "annotator")
    sees_team = access.role != Membership.Role.ANNOTATOR
    if not sees_team:
        activity = activity.filter(annotator=request.user)
    recent = list(activity.order_by("-updated_at")[:RECENT])
    chips: dict[int, list[Label]] = {}
    for link in AnnotationLabel.objects.filter(annotation__in=recent).select_related("label"):
        chips.setdefault(link.annotation_id, []).append(link.label)
    for annotation in recent:
        mine = sorted(chips.get(annotation.pk, []), key=lambda label: label.order)
        annotation.chips = mine  # type: ignore[attr-defined]  # for the answer summary
    next_segment = (
        queue_peek(project=project, annotator=request.user) if access.can_annotate else None
    )
    imports = (
        list(
            ImportBatch.objects.filter(collection_id=project.collection_id)
            .select_related("created_by")
            .order_by("-created_at")[:5]
        )
        if access.can_manage
        else []
    )
    return render(
        request,
        "annotations/project_detail.html",
        {
            "access": access,
            "project": project,
            "progress": progress,
            "labels": labels,
            "recent": recent,
            "sees_team": sees_team,
            "next_segment": next_segment,
            "imports": imports,
        },
    )
