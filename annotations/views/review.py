"""Review: the review screen (reviewers and managers turn answers into gold labels), and
annotators' view of the decisions on their own answers.

The review screen is one page (``annotations/review.html``) whose ``workspace`` partial
has the same DOM contract as the labelling screen's, so ``annotate.js`` drives both: label
keys toggle, Enter saves and opens the next item of the queue, ``s`` passes to the next
one, ``c`` writes a note.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from articles.models import Segment
from config.http import AuthenticatedHttpRequest

from ..access import Capability, ProjectAccess, get_project_for_user
from ..forms import GoldLabelForm
from ..models import GoldLabel, GoldLabelEvent, Label, SegmentReview
from ..queue import project_segments
from ..services.browse import reviewed_answers
from ..services.review import (
    GoldConflict,
    GoldRejected,
    Rating,
    gold_label_set,
    review_counts,
    review_next,
    segment_ratings,
    summarise,
)

TEMPLATE = "annotations/review.html"
HISTORY_SHOWN = 20


@dataclass
class Shown:
    """What the gold form shows as chosen."""

    label_ids: set[int]
    note: str
    version: int


def _segment_or_404(access: ProjectAccess, raw: str | int | None) -> Segment:
    try:
        segment_id = int(raw or 0)
    except (TypeError, ValueError):
        raise Http404("No such segment.") from None
    segment = (
        project_segments(access.project).select_related("article").filter(pk=segment_id).first()
    )
    if segment is None:
        raise Http404("No such segment in this project.")
    return segment


def _review_url(access: ProjectAccess, segment_id: int | None) -> str:
    url = reverse("annotations:review", kwargs={"slug": access.project.slug})
    return f"{url}?segment={segment_id}" if segment_id is not None else url


def _render(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    segment: Segment | None,
    *,
    shown: Shown | None = None,
    message: str = "",
    conflict: GoldConflict | None = None,
    names: bool = False,
    status: int = 200,
    sample: bool = False,
) -> HttpResponse:
    project = access.project
    labels = list(project.label_set.labels.all())
    labels_by_id = {label.pk: label for label in labels}
    context: dict[str, object] = {
        "access": access,
        "project": project,
        "segment": segment,
        "view": "segment",
        "counts": review_counts(project),
        "message": message,
        "names": names,
        "sample": sample,
        "canonical_url": _review_url(access, segment.pk if segment else None),
    }
    if segment is not None:
        ratings = segment_ratings(project=project, segment_ids=[segment.pk]).get(segment.pk, [])
        summary = summarise(ratings)
        gold = GoldLabel.objects.filter(project=project, segment=segment).first()
        gold_ids = gold.label_ids() if gold else set()
        if shown is None:
            if gold is not None:
                shown = Shown(label_ids=gold_ids, note=gold.note, version=gold.version)
            else:
                shown = Shown(label_ids=set(summary.majority or ()), note="", version=0)
        neighbours = {
            s.position: s
            for s in Segment.objects.filter(
                article_id=segment.article_id,
                position__in=[segment.position - 1, segment.position + 1],
            )
        }
        context.update(
            before=neighbours.get(segment.position - 1),
            after=neighbours.get(segment.position + 1),
            answers=_answer_rows(ratings, labels_by_id, names=names),
            summary=summary,
            agreement_percent=(
                round(100 * summary.agreement) if summary.agreement is not None else None
            ),
            majority_labels=label_chips(summary.majority or (), labels_by_id),
            gold=gold,
            gold_labels=label_chips(gold_ids, labels_by_id),
            history=_history(project, segment, labels_by_id),
        )
        if conflict is not None:
            context["conflict"] = conflict.current
            context["conflict_labels"] = label_chips(conflict.label_ids, labels_by_id)
    shown = shown or Shown(label_ids=set(), note="", version=0)
    context["answer"] = shown
    # Retired labels stay on a gold label that has them; they are not offered otherwise.
    context["labels"] = [label for label in labels if label.active or label.pk in shown.label_ids]
    partial = request.htmx and not request.htmx.history_restore_request
    template = f"{TEMPLATE}#workspace" if partial else TEMPLATE
    return render(request, template, context, status=status)


def label_chips(label_ids: Iterable[int], labels_by_id: dict[int, Label]) -> list[Label]:
    """The labels with these ids, in the label set's order (for chips)."""
    return sorted(
        (labels_by_id[i] for i in label_ids if i in labels_by_id),
        key=lambda label: (label.order, label.name),
    )


def _answer_rows(
    ratings: list[Rating], labels_by_id: dict[int, Label], *, names: bool
) -> list[dict[str, object]]:
    users = {}
    if names:
        users = {
            user.pk: user.get_username()
            for user in get_user_model().objects.filter(pk__in=[r.annotator_id for r in ratings])
        }
    return [
        {
            "who": users.get(rating.annotator_id, "") if names else f"Annotator {chr(65 + i)}",
            "rating": rating,
            "labels": label_chips(rating.label_ids, labels_by_id),
            "seconds": round(rating.time_spent_ms / 1000, 1),
        }
        for i, rating in enumerate(ratings)
    ]


def _history(project, segment: Segment, labels_by_id: dict[int, Label]) -> list[dict]:
    events = list(
        GoldLabelEvent.objects.filter(project=project, segment=segment)
        .select_related("actor")
        .order_by("-id")[:HISTORY_SHOWN]
    )
    rows = []
    for event in events:
        after = event.after or {}
        rows.append(
            {
                "event": event,
                "withdrawn": event.after is None,
                "labels": label_chips(after.get("labels", []), labels_by_id),
                "source": GoldLabel.Source(after["source"]).label if after else "",
                "note": after.get("note", ""),
            }
        )
    return rows


def _names(request: AuthenticatedHttpRequest) -> bool:
    return request.GET.get("names") == "1" or request.POST.get("names") == "1"


@require_GET
def review(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """The review screen: ``?segment=<id>`` opens that segment, else the queue's first."""
    access = get_project_for_user(request.user, slug, need=Capability.REVIEW)
    names = _names(request)
    if request.GET.get("segment"):
        return _render(
            request, access, _segment_or_404(access, request.GET["segment"]), names=names
        )
    item = review_next(project=access.project)
    following = _segment_or_404(access, item.segment_id) if item else None
    return _render(request, access, following, names=names, sample=bool(item and item.sample))


@require_POST
def gold_save(request: AuthenticatedHttpRequest, slug: str, segment_id: int) -> HttpResponse:
    """Store the reviewer's gold label for a segment (or pass on it), then show the next
    item of the review queue; refusals come back in place (400, 409 with the stored one)."""
    access = get_project_for_user(request.user, slug, need=Capability.REVIEW)
    project = access.project
    segment = _segment_or_404(access, segment_id)
    labels = list(project.label_set.labels.all())
    form = GoldLabelForm(request.POST, labels=labels)
    names = _names(request)
    row = SegmentReview.objects.filter(project=project, segment=segment).first()
    if not form.is_valid():
        shown = Shown(label_ids=form.sent_label_ids(), note=request.POST.get("note", ""), version=0)
        return _render(
            request,
            access,
            segment,
            shown=shown,
            message=form.messages(),
            names=names,
            status=400,
        )
    data = form.cleaned_data
    if data["action"] == "submit":
        chosen = data["labels"]
        shown = Shown(
            label_ids={label.pk for label in chosen}, note=data["note"], version=data["version"]
        )
        try:
            gold_label_set(
                project=project,
                segment=segment,
                reviewer=request.user,
                labels=chosen,
                note=data["note"],
                expected_version=data["version"],
            )
        except GoldRejected as rejected:
            return _render(
                request,
                access,
                segment,
                shown=shown,
                message=str(rejected),
                names=names,
                status=400,
            )
        except GoldConflict as conflict:
            shown.version = conflict.current.version
            return _render(
                request,
                access,
                segment,
                shown=shown,
                conflict=conflict,
                message=(
                    "Not saved: someone else changed this gold label since you opened it. "
                    "What is stored now is shown below; save again to replace it with your "
                    "choice, or go on."
                ),
                names=names,
                status=409,
            )
    item = review_next(project=project, after=row)
    next_url = _review_url(access, item.segment_id if item else None)
    if not request.htmx:
        return HttpResponseRedirect(next_url)
    following = _segment_or_404(access, item.segment_id) if item else None
    response = _render(request, access, following, names=names, sample=bool(item and item.sample))
    return push_url(response, next_url)


@require_GET
def reviewed(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """My answers next to the gold labels decided for their segments (annotators)."""
    access = get_project_for_user(request.user, slug, need=Capability.ANNOTATE)
    try:
        after = max(0, int(request.GET.get("after") or 0))
    except ValueError:
        raise Http404("No such page.") from None
    page = reviewed_answers(project=access.project, annotator=request.user, after=after)
    labels_by_id = {label.pk: label for label in access.project.label_set.labels.all()}
    rows = [
        {
            "row": row,
            "mine": label_chips(row.label_ids, labels_by_id),
            "gold": label_chips(row.gold_label_ids, labels_by_id),
        }
        for row in page.rows
    ]
    context = {
        "access": access,
        "project": access.project,
        "rows": rows,
        "next_after": page.next_after,
        "first_page": after == 0,
    }
    partial = request.htmx and not request.htmx.history_restore_request
    template = "annotations/reviewed_list.html"
    return render(request, f"{template}#rows" if partial else template, context)
