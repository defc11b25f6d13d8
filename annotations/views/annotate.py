"""The labelling screen: one segment at a time, or a whole article, always through htmx.

Both modes are the same page (``annotations/annotate.html``); every answer posts to
``annotation_save``, which answers an htmx request with the ``workspace`` partial for the
next segment, and a plain form post with a redirect to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from articles.models import Segment

from ..access import Capability, ProjectAccess, get_project_for_user
from ..models import Annotation, AnnotationLabel, AnnotatorProgress, Label
from ..queue import (
    project_segments,
    queue_next_segment,
    queue_next_segments,
    queue_previous_answered,
)
from ..services.answers import AnnotationConflict, AnnotationRejected, annotation_submit

SEGMENT_VIEW = "segment"
ARTICLE_VIEW = "article"
TEMPLATE = "annotations/annotate.html"


@dataclass
class Answer:
    """What the form shows as chosen: a stored answer, or what the person just sent."""

    label_ids: set[int] = field(default_factory=set)
    status: str = ""
    unsure: bool = False
    comment: str = ""
    version: int = 0

    @classmethod
    def of(cls, annotation: Annotation | None, label_ids: set[int]) -> Answer:
        if annotation is None:
            return cls()
        return cls(
            label_ids=label_ids,
            status=annotation.status,
            unsure=annotation.unsure,
            comment=annotation.comment,
            version=annotation.version,
        )


@dataclass
class Known:
    """What a caller already knows, so that drawing the page need not ask the database.

    After a submit the service returns the new counts, "back" is the answer just given, and
    in a sequential walk the neighbours of the next segment are the segment just answered
    and the queue's following one.
    """

    back_segment_id: int | None = None
    progress: tuple[int, int] | None = None  # (submitted, skipped)
    neighbours: dict[int, Segment | None] | None = None  # position -> segment (or none there)


def _int_or_404(raw: str | None) -> int | None:
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise Http404("No such segment.") from None
    if value < 1:
        raise Http404("No such segment.")
    return value


def _segment_or_404(access: ProjectAccess, segment_id: int) -> Segment:
    segment = (
        project_segments(access.project).select_related("article").filter(pk=segment_id).first()
    )
    if segment is None:
        raise Http404("No such segment in this project.")
    return segment


def _my_answer(access: ProjectAccess, user, segment: Segment) -> Answer:
    annotation = Annotation.objects.filter(
        project=access.project, annotator=user, segment=segment
    ).first()
    if annotation is None:
        return Answer()
    return Answer.of(annotation, annotation.label_ids())


def _my_progress(access: ProjectAccess, user, counts: tuple[int, int] | None) -> dict[str, int]:
    if counts is None:
        row = AnnotatorProgress.objects.filter(project=access.project, annotator=user).first()
        counts = (row.submitted, row.skipped) if row else (0, 0)
    submitted, skipped = counts
    done = submitted + skipped
    total = access.project.collection.segment_count
    return {
        "done": min(done, total),
        "total": total,
        "submitted": submitted,
        "skipped": skipped,
        "percent": min(100, round(100 * done / total)) if total else 0,
    }


def _article_rows(
    access: ProjectAccess, user, segment: Segment
) -> tuple[list[Segment], dict[int, Answer]]:
    """Every segment of ``segment``'s article, and my answers to them (two queries)."""
    segments = list(Segment.objects.filter(article_id=segment.article_id).order_by("position"))
    annotations = {
        a.segment_id: a
        for a in Annotation.objects.filter(
            project=access.project, annotator=user, segment__article_id=segment.article_id
        )
    }
    label_ids: dict[int, set[int]] = {}
    for annotation_id, label_id in AnnotationLabel.objects.filter(
        annotation__in=[a.pk for a in annotations.values()]
    ).values_list("annotation_id", "label_id"):
        label_ids.setdefault(annotation_id, set()).add(label_id)
    answers = {
        segment_id: Answer.of(a, label_ids.get(a.pk, set()))
        for segment_id, a in annotations.items()
    }
    return segments, answers


def _render_workspace(
    request: HttpRequest,
    access: ProjectAccess,
    segment: Segment | None,
    *,
    view: str,
    answer: Answer | None = None,
    labels: list[Label] | None = None,
    message: str = "",
    conflict: Answer | None = None,
    status: int = 200,
    known: Known | None = None,
) -> HttpResponse:
    """The labelling page (or its ``workspace`` partial for htmx) showing ``segment``.

    ``answer`` is what the form shows as chosen; when ``None`` it is my stored answer.
    """
    known = known or Known()
    user = request.user
    project = access.project
    if labels is None:
        labels = list(project.label_set.labels.all())
    labels_by_id = {label.pk: label for label in labels}
    context: dict[str, object] = {
        "access": access,
        "project": project,
        "view": view,
        "segment": segment,
        "labels_by_id": labels_by_id,
        "message": message,
        "progress": _my_progress(access, user, known.progress),
        # The address of exactly this segment and view: annotate.js puts it in the address
        # bar, so that reloading or going back shows this segment, not the queue's next.
        "canonical_url": _annotate_url(access, segment, view),
    }
    if segment is not None:
        if view == ARTICLE_VIEW:
            segments, answers = _article_rows(access, user, segment)
            if answer is None:
                answer = answers.get(segment.pk, Answer())
            context["article_rows"] = [
                {
                    "segment": s,
                    "answer": answers.get(s.pk),
                    "chips": [
                        labels_by_id[i]
                        for i in sorted(answers[s.pk].label_ids, key=_label_order(labels_by_id))
                    ]
                    if s.pk in answers
                    else [],
                }
                for s in segments
            ]
            following = [s for s in segments if s.position > segment.position]
            context["next_in_article"] = following[0] if following else None
            preceding = [s for s in segments if s.position < segment.position]
            context["previous_in_article"] = preceding[-1] if preceding else None
        else:
            if answer is None:
                answer = _my_answer(access, user, segment)
            neighbours = known.neighbours
            if neighbours is None:
                neighbours = {
                    s.position: s
                    for s in Segment.objects.filter(
                        article_id=segment.article_id,
                        position__in=[segment.position - 1, segment.position + 1],
                    )
                }
            context["before"] = neighbours.get(segment.position - 1)
            context["after"] = neighbours.get(segment.position + 1)
        context["back_segment_id"] = known.back_segment_id or queue_previous_answered(
            project=project, annotator=user, before=segment.pk
        )
    else:
        context["back_segment_id"] = queue_previous_answered(
            project=project, annotator=user, before=None
        )
    answer = answer or Answer()
    context["answer"] = answer
    # Retired labels stay on the answers that have them, so that an edit keeps or drops
    # them on purpose; they are not offered for new answers.
    context["labels"] = [label for label in labels if label.active or label.pk in answer.label_ids]
    context["conflict"] = conflict
    if conflict is not None:
        context["conflict_labels"] = [
            labels_by_id[i] for i in sorted(conflict.label_ids) if i in labels_by_id
        ]
    # A history restore (Back in the browser after htmx pushed a URL, with nothing cached)
    # replaces the whole body, so it gets the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    template = f"{TEMPLATE}#workspace" if partial else TEMPLATE
    return render(request, template, context, status=status)


def _label_order(labels_by_id: dict[int, Label]):
    return lambda label_id: (labels_by_id[label_id].order, labels_by_id[label_id].name)


def _annotate_url(access: ProjectAccess, segment: Segment | None, view: str) -> str:
    if view == ARTICLE_VIEW and segment is not None:
        url = reverse(
            "annotations:article_detail",
            kwargs={"slug": access.project.slug, "article_id": segment.article_id},
        )
        return f"{url}?segment={segment.pk}"
    url = reverse("annotations:annotate", kwargs={"slug": access.project.slug})
    return f"{url}?segment={segment.pk}" if segment is not None else url


@require_GET
def annotate(request: HttpRequest, slug: str) -> HttpResponse:
    """Segment view: ``?segment=<id>`` opens that segment, else the next one in my queue."""
    access = get_project_for_user(request.user, slug, need=Capability.ANNOTATE)
    segment_id = _int_or_404(request.GET.get("segment"))
    if segment_id is not None:
        segment = _segment_or_404(access, segment_id)
    else:
        segment = queue_next_segment(project=access.project, annotator=request.user)
        if segment is not None:
            # Nothing is stored for a segment fresh from the queue: skip that lookup.
            return _render_workspace(request, access, segment, view=SEGMENT_VIEW, answer=Answer())
    return _render_workspace(request, access, segment, view=SEGMENT_VIEW)


@require_GET
def article_detail(request: HttpRequest, slug: str, article_id: int) -> HttpResponse:
    """Article view: the whole article, my labels on each segment, one segment selected."""
    access = get_project_for_user(request.user, slug, need=Capability.ANNOTATE)
    segment_id = _int_or_404(request.GET.get("segment"))
    segments = project_segments(access.project).select_related("article")
    if segment_id is not None:
        segment = segments.filter(pk=segment_id, article_id=article_id).first()
    else:
        segment = segments.filter(article_id=article_id).order_by("position").first()
    if segment is None:
        raise Http404("No such article in this project.")
    return _render_workspace(request, access, segment, view=ARTICLE_VIEW)


@require_POST
def annotation_save(request: HttpRequest, slug: str, segment_id: int) -> HttpResponse:
    """Store my answer for a segment, then show the next one (or the refusal, in place)."""
    access = get_project_for_user(request.user, slug, need=Capability.ANNOTATE)
    project = access.project
    segment = _segment_or_404(access, segment_id)
    view = ARTICLE_VIEW if request.POST.get("view") == ARTICLE_VIEW else SEGMENT_VIEW
    labels = list(project.label_set.labels.all())
    labels_by_id = {label.pk: label for label in labels}

    action = request.POST.get("action", "submit")
    sent = Answer(
        status=Annotation.Status.SKIPPED if action == "skip" else Annotation.Status.SUBMITTED,
        unsure=request.POST.get("unsure") == "on",
        comment=request.POST.get("comment", ""),
    )

    def refuse(message: str) -> HttpResponse:
        return _refuse(request, access, segment, view, sent, labels, message)

    try:
        sent.version = int(request.POST.get("version", "0"))
        time_spent_ms = int(request.POST.get("time_spent_ms") or 0)
        posted_ids = [int(raw) for raw in request.POST.getlist("labels")]
    except ValueError:
        return refuse("The form was malformed.")
    if action not in {"submit", "skip"}:
        return refuse("Unknown action.")
    sent.label_ids = {i for i in posted_ids if i in labels_by_id}
    if len(sent.label_ids) != len(set(posted_ids)):
        return refuse(
            "A label that is not in this project's label set was sent; nothing was saved."
        )
    inactive = [labels_by_id[i] for i in sent.label_ids if not labels_by_id[i].active]
    if inactive and sent.status == Annotation.Status.SUBMITTED:
        stored = _my_answer(access, request.user, segment)
        if any(label.pk not in stored.label_ids for label in inactive):
            return refuse(f"“{inactive[0].name}” is no longer in use; choose another label.")
    try:
        saved = annotation_submit(
            project=project,
            segment=segment,
            annotator=request.user,
            labels=[labels_by_id[i] for i in sorted(sent.label_ids)],
            status=sent.status,
            unsure=sent.unsure,
            comment=sent.comment,
            time_spent_ms=time_spent_ms,
            expected_version=sent.version,
        )
    except AnnotationRejected as rejected:
        return refuse(str(rejected))
    except AnnotationConflict as conflict:
        current = conflict.current
        stored_answer = Answer.of(current, current.label_ids())
        return _render_workspace(
            request,
            access,
            segment,
            view=view,
            # Keep the person's own choice on screen, now based on the stored version, so
            # that submitting again is a deliberate overwrite of what they were shown.
            answer=Answer(
                label_ids=sent.label_ids,
                status=sent.status,
                unsure=sent.unsure,
                comment=sent.comment,
                version=current.version,
            ),
            labels=labels,
            conflict=stored_answer,
            message=(
                "Not saved: this answer was changed elsewhere (another tab or window) "
                "since you opened it. What is stored now is shown below; submit again to "
                "replace it with your choice, or go on."
            ),
            status=409,
        )

    next_segment, known = _next_after(access, request.user, segment, view)
    known.progress = getattr(saved, "progress", None)
    if not request.htmx:
        return HttpResponseRedirect(_annotate_url(access, next_segment, view))
    # A segment fresh from the queue has no answer of mine; in the article it may have.
    fresh = Answer() if view == SEGMENT_VIEW else None
    response = _render_workspace(
        request, access, next_segment, view=view, answer=fresh, labels=labels, known=known
    )
    return push_url(response, _annotate_url(access, next_segment, view))


def _next_after(
    access: ProjectAccess, user, segment: Segment, view: str
) -> tuple[Segment | None, Known]:
    """The segment to show after ``segment`` was answered, and what is known about it."""
    if view == ARTICLE_VIEW:
        # In context, go on down the article; the queue takes over at its end.
        following = (
            Segment.objects.filter(article_id=segment.article_id, position__gt=segment.position)
            .select_related("article")
            .order_by("position")
            .first()
        )
        if following is not None:
            return following, Known(back_segment_id=segment.pk)
    upcoming = queue_next_segments(
        project=access.project, annotator=user, after=segment.pk, count=2
    )
    if not upcoming:
        return None, Known()
    shown = upcoming[0]
    known = Known()
    if shown.pk > segment.pk:
        # "Back" first returns to the answer just given, then walks earlier ones in order.
        known.back_segment_id = segment.pk
    known.neighbours = _neighbours_known(shown, answered=segment, upcoming=upcoming[1:])
    return shown, known


def _neighbours_known(
    shown: Segment, *, answered: Segment, upcoming: list[Segment]
) -> dict[int, Segment | None] | None:
    """``shown``'s neighbours if the segments at hand settle both, else ``None``."""
    position = shown.position
    if position == 0:
        before = None
    elif answered.article_id == shown.article_id and answered.position == position - 1:
        before = answered
    else:
        return None
    following = upcoming[0] if upcoming else None
    if following is None or following.article_id != shown.article_id:
        return None
    if following.position != position + 1:
        return None
    return {position - 1: before, position + 1: following}


def _refuse(
    request: HttpRequest,
    access: ProjectAccess,
    segment: Segment,
    view: str,
    sent: Answer,
    labels: list[Label],
    message: str,
) -> HttpResponse:
    """The same segment again with the person's choice kept and the reason, as a 400."""
    return _render_workspace(
        request, access, segment, view=view, answer=sent, labels=labels, message=message, status=400
    )
