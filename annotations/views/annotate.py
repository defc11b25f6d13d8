"""The labelling screen: one segment at a time, or a whole article, always through htmx.

Both modes are the same page (``annotations/annotate.html``); every answer posts to
``annotation_save``, which answers an htmx request with the ``workspace`` partial for the
next segment, and a plain form post with a redirect to it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any

from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.template.loader import get_template
from django.urls import get_script_prefix, reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import push_url

from articles.models import Segment
from config.http import AuthenticatedHttpRequest

from ..access import Capability, ProjectAccess, get_project_for_user, get_segment_for_user
from ..forms import AnswerForm
from ..models import Annotation, AnnotationLabel, AnnotatorProgress, Label, Progress
from ..queue import (
    SegmentFull,
    project_segments,
    queue_empty_reasons,
    queue_previous_answered,
    queue_reserve,
)
from ..services.answers import AnnotationConflict, AnnotationRejected, annotation_submit
from ..services.review import gold_decisions_for_answers

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

    After a submit the service returns the new counts, and "back" is the answer just given.
    """

    back_segment_id: int | None = None
    progress: Progress | None = None
    labels: list[Label] | None = None  # the project's labels, retired ones too
    neighbours: tuple[str | None, str | None] | None = None  # texts before and after


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


@dataclass(frozen=True)
class Refusal:
    """Why an answer was not stored, shown above the form; ``conflict`` is what is stored."""

    message: str
    status: int = 400
    conflict: Answer | None = None


def _workspace(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    segment: Segment | None,
    view: str,
    *,
    answer: Answer | None = None,
    known: Known | None = None,
    refusal: Refusal | None = None,
) -> HttpResponse:
    """The labelling page (or its ``workspace`` partial for htmx) showing ``segment`` in
    ``view``; ``answer`` is what the form shows as chosen (``None``: my stored answer)."""
    known = known or Known()
    if segment is None:
        context = _context(request, access, None, SEGMENT_VIEW, known)
        context["back_segment_id"] = queue_previous_answered(
            project=access.project, annotator=request.user, before=None
        )
        context["empty"] = queue_empty_reasons(
            project=access.project, annotator=request.user, answered=context["progress"].done
        )
    elif view == ARTICLE_VIEW:
        context = _article_context(request, access, segment, answer, known)
    else:
        context = _segment_context(request, access, segment, answer, known)
    return _render(request, context, refusal)


def _context(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    segment: Segment | None,
    view: str,
    known: Known,
) -> dict[str, Any]:
    """What both views show: the project, my progress, the labels, this place's address."""
    project = access.project
    labels = known.labels
    if labels is None:
        labels = list(project.label_set.labels.all())
    progress = known.progress
    if progress is None:
        progress = AnnotatorProgress.objects.progress(project=project, annotator=request.user)
    return {
        "access": access,
        "project": project,
        "view": view,
        "segment": segment,
        "all_labels": labels,
        "labels_by_id": {label.pk: label for label in labels},
        "progress": progress,
        # The address of exactly this segment and view: annotate.js puts it in the address
        # bar, so that reloading or going back shows this segment, not the queue's next.
        "canonical_url": _annotate_url(access, segment, view),
        "answer": Answer(),
    }


def _segment_context(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    segment: Segment,
    answer: Answer | None,
    known: Known,
) -> dict[str, Any]:
    """Segment view: the segment between its neighbours, and my answer to it."""
    context = _context(request, access, segment, SEGMENT_VIEW, known)
    context["answer"] = answer or _my_answer(access, request.user, segment)
    if known.neighbours is None:
        texts = dict(
            Segment.objects.filter(
                article_id=segment.article_id,
                position__in=[segment.position - 1, segment.position + 1],
            ).values_list("position", "text")
        )
        known.neighbours = (texts.get(segment.position - 1), texts.get(segment.position + 1))
    context["before"], context["after"] = known.neighbours
    context["back_segment_id"] = _back(request, access, segment, known)
    return context


def _article_context(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    segment: Segment,
    answer: Answer | None,
    known: Known,
) -> dict[str, Any]:
    """Article view: every segment of the article with my chips, ``segment`` selected."""
    context = _context(request, access, segment, ARTICLE_VIEW, known)
    labels_by_id: dict[int, Label] = context["labels_by_id"]
    segments, answers = _article_rows(access, request.user, segment)
    context["answer"] = answer or answers.get(segment.pk, Answer())
    # The reviewers' decisions on my answers (one query; review.py owns it).
    decisions = gold_decisions_for_answers(
        project=access.project,
        answers={pk: (a.status, frozenset(a.label_ids)) for pk, a in answers.items()},
        labels_by_id=labels_by_id,
    )
    context["article_rows"] = [
        {
            "segment": s,
            "answer": answers.get(s.pk),
            "chips": _chips(answers.get(s.pk), labels_by_id),
            "decision": decisions.get(s.pk),
        }
        for s in segments
    ]
    following = [s for s in segments if s.position > segment.position]
    context["next_in_article"] = following[0] if following else None
    preceding = [s for s in segments if s.position < segment.position]
    context["previous_in_article"] = preceding[-1] if preceding else None
    context["near_copies"] = segment.article.near_copy_count()
    context["back_segment_id"] = _back(request, access, segment, known)
    return context


def _back(
    request: AuthenticatedHttpRequest, access: ProjectAccess, segment: Segment, known: Known
) -> int | None:
    return known.back_segment_id or queue_previous_answered(
        project=access.project, annotator=request.user, before=segment.pk
    )


def _chips(answer: Answer | None, labels_by_id: dict[int, Label]) -> list[Label]:
    """An answer's labels in label-set order (retired ones included)."""
    if answer is None:
        return []
    chosen = [labels_by_id[i] for i in answer.label_ids if i in labels_by_id]
    return sorted(chosen, key=lambda label: (label.order, label.name))


def _render(
    request: AuthenticatedHttpRequest, context: dict[str, Any], refusal: Refusal | None
) -> HttpResponse:
    answer: Answer = context["answer"]
    # Retired labels stay on the answers that have them, so that an edit keeps or drops
    # them on purpose; they are not offered for new answers.
    labels = [
        label for label in context.pop("all_labels") if label.active or label.pk in answer.label_ids
    ]
    context["labels"] = labels
    context["label_choices"] = _label_choices(
        labels, multi_label=context["project"].multi_label, chosen=answer.label_ids
    )
    context["urls"] = _screen_urls(
        context["project"].slug, context["segment"], context.get("back_segment_id")
    )
    context["message"] = refusal.message if refusal else ""
    conflict = refusal.conflict if refusal else None
    context["conflict"] = conflict
    context["conflict_labels"] = _chips(conflict, context["labels_by_id"])
    # A history restore (Back in the browser after htmx pushed a URL, with nothing cached)
    # replaces the whole body, so it gets the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    template = f"{TEMPLATE}#workspace" if partial else TEMPLATE
    return render(request, template, context, status=refusal.status if refusal else 200)


# Rendered label choices by what they show; bounded, and a changed label never matches.
_CHOICES: dict[tuple[object, ...], str] = {}
_CHOICES_MAX = 512


def _label_choices(labels: list[Label], *, multi_label: bool, chosen: set[int]) -> str:
    """``_label_choices.html`` for these labels, rendered once per process: the
    labelling screen's largest part, and the same on every segment until the labels
    change or an answer is shown with its labels pressed."""
    key = (
        multi_label,
        frozenset(chosen),
        tuple(
            (label.pk, label.name, label.color, label.shortcut, label.description, label.active)
            for label in labels
        ),
    )
    html = _CHOICES.get(key)
    if html is None:
        html = get_template("annotations/_label_choices.html").render(
            {"labels": labels, "multi_label": multi_label, "chosen": chosen}
        )
        if len(_CHOICES) >= _CHOICES_MAX:
            _CHOICES.clear()
        _CHOICES[key] = html
    return html


def _annotate_url(access: ProjectAccess, segment: Segment | None, view: str) -> str:
    slug = access.project.slug
    if view == ARTICLE_VIEW and segment is not None:
        return f"{_url('article_detail', slug, segment.article_id)}?segment={segment.pk}"
    url = _url("annotate", slug)
    return f"{url}?segment={segment.pk}" if segment is not None else url


# An id that stands in for the real one while a URL pattern is reversed once.
_ID = 918_273_645


@functools.lru_cache(maxsize=2048)
def _url_parts(name: str, slug: str, key: str, prefix: str) -> tuple[str, str]:
    kwargs: dict[str, str | int] = {"slug": slug}
    if key:
        kwargs[key] = _ID
    url = reverse(f"annotations:{name}", kwargs=kwargs)
    head, found, tail = url.partition(f"/{_ID}/")
    return (head, "") if not found else (f"{head}/", f"/{tail}")


_URL_KEYS = {
    "annotate": "",
    "project_detail": "",
    "article_detail": "article_id",
    "annotation_save": "segment_id",
    "segment_history": "segment_id",
}


def _url(name: str, slug: str, value: int | None = None) -> str:
    """``reverse("annotations:<name>", …)`` for the labelling screen's few URLs, each
    pattern reversed once per process and project (the screen draws about ten per answer)."""
    head, tail = _url_parts(name, slug, _URL_KEYS[name], get_script_prefix())
    return head if value is None else f"{head}{value}{tail}"


def _screen_urls(slug: str, segment: Segment | None, back: int | None) -> dict[str, str]:
    """The addresses the workspace links to."""
    annotate = _url("annotate", slug)
    urls = {"annotate": annotate, "project": _url("project_detail", slug)}
    if back is not None:
        urls["back"] = f"{annotate}?segment={back}"
    if segment is not None:
        article = _url("article_detail", slug, segment.article_id)
        urls |= {
            "segment_view": f"{annotate}?segment={segment.pk}",
            "article": article,
            "article_view": f"{article}?segment={segment.pk}",
            "save": _url("annotation_save", slug, segment.pk),
            "history": _url("segment_history", slug, segment.pk),
        }
    return urls


@require_GET
def annotate(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    """Segment view: ``?segment=<id>`` opens that segment, else the next one in my queue."""
    access = get_project_for_user(request.user, slug, need=Capability.ANNOTATE)
    segment_id = _int_or_404(request.GET.get("segment"))
    segment: Segment | None
    if segment_id is not None:
        segment = _segment_or_404(access, segment_id)
    else:
        # "My next segment" reserves it for me; asked again, it gives the same one back.
        handed = queue_reserve(project=access.project, annotator=request.user)
        segment = handed.segment
        if segment is not None:
            # Nothing is stored for a segment fresh from the queue: skip that lookup.
            known = Known(neighbours=handed.neighbours)
            return _workspace(request, access, segment, SEGMENT_VIEW, answer=Answer(), known=known)
    return _workspace(request, access, segment, SEGMENT_VIEW)


@require_GET
def article_detail(request: AuthenticatedHttpRequest, slug: str, article_id: int) -> HttpResponse:
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
    return _workspace(request, access, segment, ARTICLE_VIEW)


@require_POST
def annotation_save(request: AuthenticatedHttpRequest, slug: str, segment_id: int) -> HttpResponse:
    """Store my answer for a segment, then show the next one (or the refusal, in place)."""
    gate = get_segment_for_user(request.user, slug, segment_id, need=Capability.ANNOTATE)
    access, segment = gate.access, gate.segment
    project = access.project
    labels = list(gate.labels)
    form = AnswerForm(
        request.POST,
        labels=labels,
        stored_label_ids=lambda: _my_answer(access, request.user, segment).label_ids,
    )
    valid = form.is_valid()
    view = ARTICLE_VIEW if form.cleaned_data.get("view") == ARTICLE_VIEW else SEGMENT_VIEW
    chosen: list[Label] = form.cleaned_data.get("labels", [])
    sent = Answer(
        label_ids={label.pk for label in chosen},
        status=form.status,
        unsure=form.cleaned_data.get("unsure", False),
        comment=form.cleaned_data.get("comment", ""),
        version=form.cleaned_data.get("version", 0),
    )
    known = Known(labels=labels, neighbours=(gate.before, gate.after))
    if not valid:
        refusal = Refusal(form.first_error())
        return _workspace(request, access, segment, view, answer=sent, known=known, refusal=refusal)
    try:
        result = annotation_submit(
            project=project,
            segment=segment,
            annotator=request.user,
            labels=chosen,
            status=sent.status,
            unsure=sent.unsure,
            comment=sent.comment,
            time_spent_ms=form.cleaned_data["time_spent_ms"],
            expected_version=sent.version,
        )
    except AnnotationRejected as rejected:
        refusal = Refusal(str(rejected))
        return _workspace(request, access, segment, view, answer=sent, known=known, refusal=refusal)
    except SegmentFull as full:
        # A late answer for a segment that others finished meanwhile: say so, and go on.
        next_segment, known = _next_after(access, request.user, segment, view)
        known.labels = labels
        response = _workspace(
            request, access, next_segment, view, known=known, refusal=Refusal(str(full), 200)
        )
        return push_url(response, _annotate_url(access, next_segment, view))
    except AnnotationConflict as conflict:
        current = conflict.current
        refusal = Refusal(
            "Not saved: this answer was changed elsewhere (another tab or window) "
            "since you opened it. What is stored now is shown below; submit again to "
            "replace it with your choice, or go on.",
            status=409,
            conflict=Answer.of(current, current.label_ids()),
        )
        # Keep the person's own choice on screen, now based on the stored version, so that
        # submitting again is a deliberate overwrite of what they were shown.
        mine = replace(sent, version=current.version)
        return _workspace(request, access, segment, view, answer=mine, known=known, refusal=refusal)

    next_segment, known = _next_after(access, request.user, segment, view)
    if not request.htmx:
        return HttpResponseRedirect(_annotate_url(access, next_segment, view))
    known.progress = result.progress
    known.labels = labels
    # A segment fresh from the queue has no answer of mine; in the article it may have.
    fresh = Answer() if view == SEGMENT_VIEW else None
    response = _workspace(request, access, next_segment, view, answer=fresh, known=known)
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
    handed = queue_reserve(project=access.project, annotator=user)
    shown = handed.segment
    if shown is None:
        return None, Known()
    # "Back" first returns to the answer just given, then walks earlier ones in order.
    return shown, Known(back_segment_id=segment.pk, neighbours=handed.neighbours)
