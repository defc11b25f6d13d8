"""Creating a project and changing its settings."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from config.http import AuthenticatedHttpRequest

from ..access import Capability, can_create_projects, get_project_for_user
from ..forms import ProjectCreateForm, ProjectSettingsForm
from ..services import setup as services
from ..services.setup import SetupRejected

TEMPLATE = "annotations/project_form.html"


def _render(
    request: AuthenticatedHttpRequest, context: dict[str, object], *, status: int
) -> HttpResponse:
    template = f"{TEMPLATE}#project-form" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
def project_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    """A new project, managed by its creator; on to the label editor when it has no labels."""
    if not can_create_projects(request.user):
        raise PermissionDenied("You may not create projects; ask an administrator.")
    data = request.POST if request.method == "POST" else None
    form = ProjectCreateForm(data, user=request.user)
    if form.is_bound and form.is_valid():
        fields = form.cleaned_data
        try:
            project = services.project_create(
                creator=request.user,
                name=fields["name"],
                slug=fields["slug"],
                description=fields["description"],
                collection=fields["collection"],
                new_collection_name=fields["new_collection"],
                label_set=fields["label_set"],
                new_label_set_name=fields["new_label_set"],
                multi_label=fields["multi_label"],
                annotators_per_segment=fields["annotators_per_segment"],
            )
        except SetupRejected as error:
            form.add_error(error.field, str(error))
        else:
            if project.label_set.labels.exists():
                messages.success(request, f"Project “{project.name}” created.")
                url = reverse("annotations:project_detail", args=[project.slug])
            else:
                messages.success(
                    request, f"Project “{project.name}” created. Now give its label set labels."
                )
                url = reverse("annotations:label_set_edit", args=[project.slug])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = {"form": form, "action": reverse("annotations:project_create"), "project": None}
    return _render(request, context, status=400 if form.is_bound else 200)


@require_http_methods(["GET", "POST"])
def project_edit(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """A project's name, guidelines introduction, labels per segment and annotators per
    segment (managers)."""
    access = get_project_for_user(request.user, slug, need=Capability.MANAGE)
    project = access.project
    action = reverse("annotations:project_edit", args=[project.slug])
    initial = ProjectSettingsForm.initial_for(project)
    if request.method == "GET":
        form = ProjectSettingsForm(initial=initial)
        return _render(request, {"form": form, "action": action, "project": project}, status=200)

    form = ProjectSettingsForm(request.POST, initial=initial)
    if form.is_valid():
        try:
            project = services.project_update(project=project, **form.cleaned_data)
        except SetupRejected as error:
            form.add_error(error.field, str(error))
        else:
            if not request.htmx:
                messages.success(request, "Settings saved.")
                return redirect("annotations:project_detail", slug=project.slug)
            form = ProjectSettingsForm(initial=ProjectSettingsForm.initial_for(project))
            context = {"form": form, "action": action, "project": project, "saved": True}
            return _render(request, context, status=200)
    return _render(request, {"form": form, "action": action, "project": project}, status=400)
