"""A project's Export page: start a dataset export, watch it run, download earlier ones.

Exports run in the background worker (``annotations.tasks.export_run``); the page polls the
running export's row with htmx until it has finished. Opening the page or polling marks failed
an export whose worker died (``exports_fail_stale``). Files are served by ``export_download``
after the same role check as the page, never from a public URL. Managers and admins only.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from config.http import AuthenticatedHttpRequest

from ..access import Capability, ProjectAccess, get_project_for_user
from ..forms import ExportForm
from ..models import Export
from ..services.exports import (
    export_file_for_download,
    export_start,
    exports_fail_stale,
    gold_available,
)

TEMPLATE = "annotations/export_list.html"
HISTORY_SIZE = 20


def _render(
    request: AuthenticatedHttpRequest, access: ProjectAccess, form: ExportForm, *, status: int = 200
) -> HttpResponse:
    exports = list(
        access.project.exports.select_related("created_by").order_by("-created_at", "-id")[
            :HISTORY_SIZE
        ]
    )
    context = {"project": access.project, "access": access, "form": form, "exports": exports}
    template = f"{TEMPLATE}#exports" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@require_http_methods(["GET", "POST"])
def export_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The form (GET) and starting an export (POST), with the project's recent exports."""
    access = get_project_for_user(request.user, slug, need=Capability.MANAGE)
    exports_fail_stale(project=access.project)
    gold = gold_available()
    if request.method == "GET":
        return _render(request, access, ExportForm(gold=gold))
    form = ExportForm(request.POST, gold=gold)
    if not form.is_valid():
        return _render(request, access, form, status=400)
    export = export_start(project=access.project, options=form.options, by=request.user)
    if request.htmx:
        return _render(request, access, ExportForm(gold=gold))
    messages.success(request, f"Export #{export.pk} started; it appears below when it is ready.")
    return redirect("annotations:export_list", slug=access.project.slug)


@require_GET
def export_status(request: AuthenticatedHttpRequest, slug: str, export_id: int) -> HttpResponse:
    """One export's row (htmx polls it while the export runs); the whole page otherwise."""
    access = get_project_for_user(request.user, slug, need=Capability.MANAGE)
    # A worker killed while the page watches: the row turns "Failed" instead of polling on.
    exports_fail_stale(project=access.project)
    export = get_object_or_404(access.project.exports.select_related("created_by"), pk=export_id)
    if not request.htmx:
        return redirect("annotations:export_list", slug=access.project.slug)
    return render(
        request,
        f"{TEMPLATE}#export-row",
        {"project": access.project, "export": export},
    )


@require_GET
def export_download(request: AuthenticatedHttpRequest, slug: str, export_id: int) -> FileResponse:
    """The file of a finished export, as an attachment, to the project's managers only."""
    access = get_project_for_user(request.user, slug, need=Capability.MANAGE)
    export: Export = get_object_or_404(access.project.exports, pk=export_id)
    path = export_file_for_download(export)
    if path is None:
        raise Http404("This export has no file to download.")
    response = FileResponse(path.open("rb"), as_attachment=True, filename=path.name)
    response["X-Content-Type-Options"] = "nosniff"
    return response
