"""The team dashboard (managers and reviewers): live counts and the background figures."""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from config.http import AuthenticatedHttpRequest

from ..access import Capability, ProjectAccess, get_project_for_user
from ..charts import bar_rows, progress_chart
from ..models import Label
from ..services.reports import Dashboard, dashboard_read, figures_request

# How often an open dashboard asks for its figures again; faster while they are computed.
POLL_SECONDS = 10
POLL_SECONDS_BUSY = 2


class RecomputeForm(forms.Form):
    """No fields: the POST itself is the request (read through a form, as every POST)."""


def _kappa_rows(kappa: dict[str, dict[str, float | None]], shared: dict[str, dict[str, int]]):
    names = list(kappa)
    return names, [
        (
            name,
            [
                {
                    "value": kappa[name].get(other) if other != name else None,
                    "self": other == name,
                    "shared": shared.get(name, {}).get(other, 0),
                    "level": _level(kappa[name].get(other)) if other != name else "",
                }
                for other in names
            ],
        )
        for name in names
    ]


def _level(value: float | None) -> str:
    """Landis & Koch's bands, coarsened to four colours."""
    if value is None:
        return "none"
    if value >= 0.8:
        return "high"
    if value >= 0.6:
        return "good"
    if value >= 0.4:
        return "fair"
    return "low"


def _context(access: ProjectAccess, board: Dashboard) -> dict[str, Any]:
    project = access.project
    data = board.data
    report = data.get("report", {})
    labels = list(Label.objects.filter(label_set_id=project.label_set_id))
    per_label = report.get("agreement", {}).get("labels", {})
    distribution = data.get("distribution", {})
    submitted = report.get("answers", {}).get("submitted", 0)
    kappa_names, kappa_rows = _kappa_rows(
        report.get("agreement", {}).get("cohen_kappa", {}), data.get("kappa_shared", {})
    )
    needed = project.collection.segment_count * project.annotators_per_segment
    bars = bar_rows(
        [(label.name, label.color, distribution.get(label.slug, 0)) for label in labels],
        total=submitted,
    )
    gold = board.gold
    return {
        "access": access,
        "project": project,
        "board": board,
        "report": report,
        "poll_seconds": POLL_SECONDS_BUSY if board.busy else POLL_SECONDS,
        "team_needed": needed,
        "team_percent": min(100, round(100 * board.submitted / needed)) if needed else 0,
        "chart": progress_chart(data.get("timeline", {}).get("points", [])),
        "label_rows": [
            {"bar": bar, **per_label.get(label.slug, {"alpha": None, "percent_agreement": None})}
            for label, bar in zip(labels, bars, strict=True)
        ],
        "gold": gold,
        "gold_total": sum(gold[source] or 0 for source in ("unanimous", "majority", "adjudicated")),
        "kappa_names": kappa_names,
        "kappa_rows": kappa_rows,
    }


@require_GET
def dashboard(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The page, or (htmx) its ``live`` partial, which the page polls."""
    access = get_project_for_user(request.user, slug, need=Capability.REVIEW)
    board = dashboard_read(project=access.project)
    template = "annotations/dashboard.html"
    if request.htmx:
        template += "#live"
    return render(request, template, _context(access, board))


@require_POST
def dashboard_recompute(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Queue a recomputation of the figures now (if none is waiting or running)."""
    access = get_project_for_user(request.user, slug, need=Capability.REVIEW)
    RecomputeForm(request.POST).is_valid()
    figures_request(project=access.project)
    if request.htmx:
        board = dashboard_read(project=access.project, refresh=False)
        return render(request, "annotations/dashboard.html#live", _context(access, board))
    return redirect("annotations:dashboard", slug=access.project.slug)
