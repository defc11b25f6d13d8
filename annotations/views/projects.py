"""My projects, and one project's page: overview, guidelines, my queue, recent activity."""

from __future__ import annotations

from django.db.models import IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from articles.models import ImportBatch

from ..access import Capability, can_create_projects, get_project_for_user, projects_for_user
from ..models import Annotation, AnnotationLabel, AnnotatorProgress, Membership, Project
from ..queue import queue_next_segment

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


def _with_progress(projects, user):
    mine = AnnotatorProgress.objects.filter(project=OuterRef("pk"), annotator=user)
    return projects.select_related("collection").annotate(
        my_submitted=Coalesce(Subquery(mine.values("submitted")[:1]), Value(0)),
        my_skipped=Coalesce(Subquery(mine.values("skipped")[:1]), Value(0)),
        team_submitted=_team_answers(),
    )


def _progress_of(project: Project) -> dict[str, int]:
    total = project.collection.segment_count
    mine = project.my_submitted + project.my_skipped
    needed = total * project.annotators_per_segment
    return {
        "total": total,
        "mine": mine,
        "my_percent": _percent(mine, total),
        "team": project.team_submitted,
        "team_needed": needed,
        "team_percent": _percent(project.team_submitted, needed),
    }


@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    """Home: every project I may open, with my progress and the team's (one query)."""
    projects = list(_with_progress(projects_for_user(request.user), request.user))
    rows = [
        {
            "project": project,
            "role": Membership.Role(project.user_role).label
            if project.user_role
            else "Administrator",
            "progress": _progress_of(project),
        }
        for project in projects
    ]
    return render(
        request,
        "annotations/project_list.html",
        {"rows": rows, "can_create": can_create_projects(request.user)},
    )


@require_GET
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    access = get_project_for_user(request.user, slug, need=Capability.VIEW)
    project = (
        _with_progress(Project.objects.filter(pk=access.project.pk), request.user)
        .select_related("label_set")
        .get()
    )
    labels = [label for label in project.label_set.labels.all() if label.active]
    # Annotators see their own answers only; managers, reviewers and admins see the team's.
    activity = Annotation.objects.filter(project=project).select_related("segment", "annotator")
    sees_team = access.role != Membership.Role.ANNOTATOR
    if not sees_team:
        activity = activity.filter(annotator=request.user)
    recent = list(activity.order_by("-updated_at")[:RECENT])
    chips: dict[int, list] = {}
    for link in AnnotationLabel.objects.filter(annotation__in=recent).select_related("label"):
        chips.setdefault(link.annotation_id, []).append(link.label)
    for annotation in recent:
        annotation.chips = sorted(chips.get(annotation.pk, []), key=lambda label: label.order)
    next_segment = (
        queue_next_segment(project=project, annotator=request.user) if access.can_annotate else None
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
            "progress": _progress_of(project),
            "labels": labels,
            "recent": recent,
            "sees_team": sees_team,
            "next_segment": next_segment,
            "imports": imports,
        },
    )
