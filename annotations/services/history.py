"""Answer history: every creation and change of an answer, as ``AnnotationEvent`` rows.

``annotation_submit`` writes one event per stored version inside its own transaction (one
``INSERT``); nothing here or elsewhere changes or deletes an event. The read side turns the
events' JSON snapshots back into typed values for the segment history page.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User

from articles.models import Segment

from ..models import Annotation, AnnotationEvent, GoldLabelEvent, Label, Project


def answer_snapshot(
    annotation: Annotation, labels: Iterable[tuple[int, str, str]]
) -> dict[str, Any]:
    """What an answer says at its current version, as stored in an event's ``before``/``after``.

    ``labels`` are ``(id, slug, name)`` triples: the name as it was, so that the history
    still reads right after a label is renamed.
    """
    return {
        "version": annotation.version,
        "status": annotation.status,
        "unsure": annotation.unsure,
        "comment": annotation.comment,
        "labels": [{"id": pk, "slug": slug, "name": name} for pk, slug, name in sorted(labels)],
    }


def label_triples(labels: Iterable[Label]) -> list[tuple[int, str, str]]:
    return [(label.pk, label.slug, label.name) for label in labels]


def history_event(
    *,
    annotation: Annotation,
    actor: User,
    before: dict[str, Any] | None,
    after: dict[str, Any],
) -> AnnotationEvent:
    """The (unsaved) event recording that ``actor`` moved ``annotation`` to its current version."""
    return AnnotationEvent(
        annotation=annotation,
        project_id=annotation.project_id,
        segment_id=annotation.segment_id,
        actor=actor,
        version=annotation.version,
        before=before,
        after=after,
    )


@dataclass(frozen=True)
class LabelRef:
    """A label as an event recorded it; ``label`` is the label today (for its colour)."""

    id: int
    slug: str
    name: str
    label: Label | None

    @property
    def color(self) -> str:
        return self.label.color if self.label is not None else "#9aa0a6"


@dataclass(frozen=True)
class AnswerState:
    """One version of an answer, read back from an event snapshot."""

    version: int
    status: str
    unsure: bool
    comment: str
    labels: tuple[LabelRef, ...]

    @classmethod
    def of(cls, data: dict[str, Any], labels_by_id: dict[int, Label]) -> AnswerState:
        return cls(
            version=int(data["version"]),
            status=str(data["status"]),
            unsure=bool(data["unsure"]),
            comment=str(data["comment"]),
            labels=tuple(
                LabelRef(
                    id=int(item["id"]),
                    slug=str(item["slug"]),
                    name=str(item["name"]),
                    label=labels_by_id.get(int(item["id"])),
                )
                for item in data["labels"]
            ),
        )


@dataclass(frozen=True)
class HistoryEntry:
    """One stored version: who made it, when, and the answer before and after."""

    annotator: str
    actor: str
    version: int
    created_at: datetime
    before: AnswerState | None
    after: AnswerState

    @property
    def changed(self) -> list[str]:
        """What changed from ``before``: "created", or the names of the parts that differ."""
        if self.before is None:
            return ["created"]
        parts = []
        if {label.id for label in self.before.labels} != {label.id for label in self.after.labels}:
            parts.append("labels")
        for name in ("status", "unsure", "comment"):
            if getattr(self.before, name) != getattr(self.after, name):
                parts.append(name)
        return parts


def project_labels(project: Project) -> dict[int, Label]:
    """The project's labels by id, retired ones too (what the histories draw chips with)."""
    return {label.pk: label for label in project.label_set.labels.all()}


def segment_history(
    *, project: Project, segment: Segment, labels_by_id: dict[int, Label] | None = None
) -> list[HistoryEntry]:
    """Every recorded version of every answer to ``segment`` in ``project``, oldest first,
    grouped by annotator (one query for the events with their people, one for the labels
    unless ``labels_by_id`` is given)."""
    events = (
        AnnotationEvent.objects.filter(project=project, segment=segment)
        .select_related("actor", "annotation__annotator")
        .order_by("annotation__annotator__username", "annotation_id", "version")
    )
    if labels_by_id is None:
        labels_by_id = project_labels(project)
    return [
        HistoryEntry(
            annotator=event.annotation.annotator.get_username(),
            actor=event.actor.get_username(),
            version=event.version,
            created_at=event.created_at,
            before=AnswerState.of(event.before, labels_by_id) if event.before else None,
            after=AnswerState.of(event.after, labels_by_id),
        )
        for event in events
    ]


@dataclass(frozen=True)
class GoldState:
    """A segment's gold label at one version, read back from a ``GoldLabelEvent``."""

    labels: tuple[LabelRef, ...]
    source: str
    note: str

    @classmethod
    def of(cls, data: dict[str, Any], labels_by_id: dict[int, Label]) -> GoldState:
        labels = [labels_by_id.get(int(pk)) for pk in data.get("labels", [])]
        return cls(
            labels=tuple(
                LabelRef(id=label.pk, slug=label.slug, name=label.name, label=label)
                for label in labels
                if label is not None
            ),
            source=str(data.get("source", "")),
            note=str(data.get("note", "")),
        )


@dataclass(frozen=True)
class GoldEntry:
    """One change of the segment's gold label; ``actor`` is empty for an automatic one."""

    actor: str
    version: int
    created_at: datetime
    before: GoldState | None
    after: GoldState | None


def gold_history(
    *, project: Project, segment: Segment, labels_by_id: dict[int, Label] | None = None
) -> list[GoldEntry]:
    """Every recorded change of ``segment``'s gold label in ``project``, oldest first (one
    query for the events with their people, one for the labels unless ``labels_by_id``)."""
    events = GoldLabelEvent.objects.filter(project=project, segment=segment).select_related("actor")
    if labels_by_id is None:
        labels_by_id = project_labels(project)
    return [
        GoldEntry(
            actor=event.actor.get_username() if event.actor is not None else "",
            version=event.version,
            created_at=event.created_at,
            before=GoldState.of(event.before, labels_by_id) if event.before else None,
            after=GoldState.of(event.after, labels_by_id) if event.after else None,
        )
        for event in events.order_by("id")
    ]
