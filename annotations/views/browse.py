"""The data browser (reviewers and managers): every segment with its answers and gold
label, filtered, in keyset pages (``?after=<segment id>``)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from config.http import AuthenticatedHttpRequest

from ..access import Capability, get_project_for_user
from ..forms import BrowseForm
from ..models import Label, Membership
from ..services.browse import BrowsedSegment, BrowseFilters, browse_segments
from .review import label_chips

TEMPLATE = "annotations/data_browse.html"


@require_GET
def data_browser(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The browser page; htmx gets the ``results`` partial (filters changed, next page)."""
    access = get_project_for_user(request.user, slug, need=Capability.REVIEW)
    project = access.project
    labels = list(project.label_set.labels.all())
    members = (
        Membership.objects.filter(project=project)
        .exclude(role=Membership.Role.REVIEWER)
        .select_related("user")
        .order_by("user__username")
    )
    annotators = [(m.user_id, m.user.get_username()) for m in members]
    form = BrowseForm(request.GET or None, labels=labels, annotators=annotators)
    status = 200
    if form.is_bound and not form.is_valid():
        filters, after, status = BrowseFilters(), 0, 400
    elif form.is_bound:
        filters, after = form.filters(), form.cleaned_data["after"] or 0
    else:
        filters, after = BrowseFilters(), 0
    page = browse_segments(project=project, filters=filters, after=after)
    query = request.GET.copy()
    query.pop("after", None)
    labels_by_id = {label.pk: label for label in labels}
    context = {
        "access": access,
        "project": project,
        "form": form,
        "page": page,
        "rows": [_display(row, labels_by_id) for row in page.rows],
        "query": query.urlencode(),
        "first_page": after == 0,
    }
    partial = request.htmx and not request.htmx.history_restore_request
    template = f"{TEMPLATE}#results" if partial else TEMPLATE
    return render(request, template, context, status=status)


def _display(row: BrowsedSegment, labels_by_id: dict[int, Label]) -> dict[str, object]:
    agreement = row.review.agreement if row.review else None
    return {
        "segment": row.segment,
        "agreement": round(100 * agreement) if agreement is not None else None,
        "answers": [
            {
                "annotator": answer.annotator,
                "rating": answer.rating,
                "labels": label_chips(answer.rating.label_ids, labels_by_id),
            }
            for answer in row.answers
        ],
        "gold": row.gold,
        "gold_labels": label_chips(row.gold_label_ids, labels_by_id),
    }
