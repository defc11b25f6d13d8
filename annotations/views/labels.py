"""The label editor: a project's labels with their guidelines, colours, keys and order.

Managers only. A label set may be shared by several projects; it can be changed only by
someone who manages every one of them (or a superuser), otherwise the page is read-only
and every change is refused with 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseBadRequest,
    HttpResponseRedirect,
)
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import retarget

from config.http import AuthenticatedHttpRequest

from ..access import Capability, ProjectAccess, get_project_for_user
from ..forms import LabelForm
from ..models import AnnotationLabel, Label, Membership, Project
from ..services import setup as services
from ..services.setup import SetupRejected

TEMPLATE = "annotations/label_set_edit.html"
READ_ONLY = (
    "This label set is also used by a project you do not manage, so you may not change it "
    "here; ask an administrator."
)
MOVES = {"up": -1, "down": +1}


@dataclass
class LabelSetEditor:
    """A project's label set as one manager may edit it."""

    access: ProjectAccess
    editable: bool
    # The other projects that use the set: named only when they are all the user's own.
    shared_with: list[Project] = field(default_factory=list)

    @property
    def project(self) -> Project:
        return self.access.project


def _editor(request: AuthenticatedHttpRequest, slug: str) -> LabelSetEditor:
    access = get_project_for_user(request.user, slug, need=Capability.MANAGE)
    manages = Membership.objects.filter(
        project=OuterRef("pk"), user=request.user, role=Membership.Role.MANAGER
    )
    others: list[Any] = list(
        Project.objects.filter(label_set_id=access.project.label_set_id)
        .exclude(pk=access.project.pk)
        .annotate(managed=Exists(manages))
        .only("name", "slug")
    )
    editable = request.user.is_superuser or all(other.managed for other in others)
    return LabelSetEditor(access=access, editable=editable, shared_with=others if editable else [])


def _editable_or_403(request: AuthenticatedHttpRequest, slug: str) -> LabelSetEditor:
    editor = _editor(request, slug)
    if not editor.editable:
        raise PermissionDenied(READ_ONLY)
    return editor


def _labels(editor: LabelSetEditor) -> list[Label]:
    """The set's labels in order, each with ``uses`` (annotations in any project), in one
    query, and the flags the row needs."""
    uses = (
        AnnotationLabel.objects.filter(label=OuterRef("pk"))
        .order_by()
        .values("label")
        .annotate(count=Count("pk"))
        .values("count")
    )
    # Any: each row also carries what its template needs (uses, is_first, is_last, error, form).
    labels: list[Any] = list(
        Label.objects.filter(label_set_id=editor.project.label_set_id)
        .annotate(uses=Coalesce(Subquery(uses, output_field=IntegerField()), Value(0)))
        .order_by("order", "name", "pk")
    )
    for index, label in enumerate(labels):
        label.is_first = index == 0
        label.is_last = index == len(labels) - 1
        label.error = ""
        label.form = LabelForm(
            label_set=editor.project.label_set, label=label, prefix=_prefix(label)
        )
    return labels


def _prefix(label: Label) -> str:
    return f"label-{label.pk}"


def _pick(labels: list[Any], label_id: int) -> Any:
    # Ids are looked up among this project's own labels: another set's label is a 404.
    for label in labels:
        if label.pk == label_id:
            return label
    raise Http404("No such label in this project.")


def _page_url(editor: LabelSetEditor, label_id: int | None = None) -> str:
    url = reverse("annotations:label_set_edit", args=[editor.project.slug])
    return f"{url}#label-{label_id}" if label_id else url


def _render(
    request: AuthenticatedHttpRequest,
    editor: LabelSetEditor,
    labels: list[Label],
    *,
    partial: str = "label-editor",
    add_form: LabelForm | None = None,
    row: Label | None = None,
    status: int = 200,
) -> HttpResponse:
    """The full page for plain requests, else the named partial."""
    context = {
        "project": editor.project,
        "label_set": editor.project.label_set,
        "editable": editor.editable,
        "shared_with": editor.shared_with,
        "read_only_reason": READ_ONLY,
        "labels": labels,
        "label": row,
        "add_form": add_form or LabelForm(label_set=editor.project.label_set, prefix="new"),
    }
    template = f"{TEMPLATE}#{partial}" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


@require_GET
def label_set_edit(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The label editor (read-only when the set is shared with a project the user does not
    manage)."""
    editor = _editor(request, slug)
    return _render(request, editor, _labels(editor))


@require_POST
def label_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    editor = _editable_or_403(request, slug)
    label_set = editor.project.label_set
    form = LabelForm(request.POST, label_set=label_set, prefix="new")
    if form.is_valid():
        try:
            label = services.label_create(label_set=label_set, **form.cleaned_data)
        except SetupRejected as error:
            form.add_error(None, str(error))
        else:
            if not request.htmx:
                messages.success(request, f"Label “{label.name}” added.")
                return HttpResponseRedirect(_page_url(editor, label.pk))
            return _render(request, editor, _labels(editor))
    return _render(request, editor, _labels(editor), add_form=form, status=400)


@require_POST
def label_update(request: AuthenticatedHttpRequest, slug: str, label_id: int) -> HttpResponse:
    editor = _editable_or_403(request, slug)
    labels = _labels(editor)
    label = _pick(labels, label_id)
    form = LabelForm(
        request.POST, label_set=editor.project.label_set, label=label, prefix=_prefix(label)
    )
    if form.is_valid():
        try:
            services.label_update(label=label, **form.cleaned_data)
        except SetupRejected as error:
            form.add_error(None, str(error))
        else:
            if not request.htmx:
                messages.success(request, f"Label “{label.name}” saved.")
                return HttpResponseRedirect(_page_url(editor, label.pk))
            saved = _pick(_labels(editor), label_id)
            return _render(request, editor, [], partial="label-row", row=saved)
        labels = _labels(editor)  # as stored, not as half-edited
        label = _pick(labels, label_id)
    label.form = form
    return _render(request, editor, labels, partial="label-row", row=label, status=400)


@require_POST
def label_move(request: AuthenticatedHttpRequest, slug: str, label_id: int) -> HttpResponse:
    editor = _editable_or_403(request, slug)
    label = _pick(_labels(editor), label_id)
    by = MOVES.get(request.POST.get("direction", ""))
    if by is None:
        return HttpResponseBadRequest("Move a label “up” or “down”.")
    services.label_move(label=label, by=by)
    if not request.htmx:
        return HttpResponseRedirect(_page_url(editor, label.pk))
    return _render(request, editor, _labels(editor), partial="label-list")


@require_POST
def label_active(request: AuthenticatedHttpRequest, slug: str, label_id: int) -> HttpResponse:
    editor = _editable_or_403(request, slug)
    label = _pick(_labels(editor), label_id)
    active = {"1": True, "0": False}.get(request.POST.get("active", ""))
    if active is None:
        return HttpResponseBadRequest("Send active=1 to reactivate a label or active=0 to hide it.")
    label.active = active
    label.save(update_fields=["active"])
    if not request.htmx:
        state = "reactivated" if active else "deactivated: annotators no longer see it"
        messages.success(request, f"Label “{label.name}” {state}.")
        return HttpResponseRedirect(_page_url(editor, label.pk))
    return _render(request, editor, [], partial="label-row", row=label)


@require_POST
def label_delete(request: AuthenticatedHttpRequest, slug: str, label_id: int) -> HttpResponse:
    editor = _editable_or_403(request, slug)
    label = _pick(_labels(editor), label_id)
    try:
        services.label_delete(label=label)
    except SetupRejected as error:
        if not request.htmx:
            messages.error(request, str(error))
            return HttpResponseRedirect(_page_url(editor, label.pk))
        row = _pick(_labels(editor), label_id)
        row.error = str(error)
        response = _render(request, editor, [], partial="label-row", row=row, status=409)
        return retarget(response, f"#label-{label_id}")
    if not request.htmx:
        messages.success(request, f"Label “{label.name}” deleted.")
        return HttpResponseRedirect(_page_url(editor))
    return _render(request, editor, _labels(editor), partial="label-list")
