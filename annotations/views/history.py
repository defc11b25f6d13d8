"""A segment's answer history, for the project's managers."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.http import AuthenticatedHttpRequest

from ..access import Capability, get_project_for_user
from ..queue import project_segments
from ..services.history import gold_history, project_labels
from ..services.history import segment_history as history_of

TEMPLATE = "annotations/segment_history.html"


@require_GET
def segment_history(request: AuthenticatedHttpRequest, slug: str, segment_id: int) -> HttpResponse:
    """Every version of every answer to one segment, and of its gold label: who, when,
    before and after."""
    access = get_project_for_user(request.user, slug, need=Capability.MANAGE)
    segment = (
        project_segments(access.project).select_related("article").filter(pk=segment_id).first()
    )
    if segment is None:
        raise Http404("No such segment in this project.")
    project = access.project
    labels = project_labels(project)
    context = {
        "access": access,
        "project": project,
        "segment": segment,
        "entries": history_of(project=project, segment=segment, labels_by_id=labels),
        "gold_entries": gold_history(project=project, segment=segment, labels_by_id=labels),
    }
    template = f"{TEMPLATE}#history" if request.htmx else TEMPLATE
    return render(request, template, context)
