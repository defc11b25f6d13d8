"""Project set-up: creating and changing projects and their label sets."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, ProtectedError, QuerySet
from django.utils.text import slugify

from articles.models import Collection

from ..models import AnnotationLabel, Label, LabelSet, Membership, Project
from ..queue import queue_mark_duplicates, queue_reopen, queue_reorder
from ..tasks import review_backfill_run


class SetupRejected(ValueError):
    """A set-up change breaks a rule; ``field`` names the form field it is about, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _free_slug(taken: QuerySet[Any], name: str, *, max_length: int, fallback: str) -> str:
    """A slug made from ``name`` that no row of ``taken`` has: ``name``, ``name-2``…"""
    base = slugify(name)[: max_length - 5].strip("-") or fallback
    used = set(taken.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, suffix = base, 2
    while slug in used:
        slug = f"{base}-{suffix}"
        suffix += 1
    return slug


def _plural(count: int, singular: str, plural: str) -> str:
    return f"{count} {singular if count == 1 else plural}"


def project_create(
    *,
    creator: User,
    name: str,
    slug: str = "",
    description: str = "",
    collection: Collection | None = None,
    new_collection_name: str = "",
    label_set: LabelSet | None = None,
    new_label_set_name: str = "",
    multi_label: bool = True,
    annotators_per_segment: int = 1,
) -> Project:
    """Create a project, with a new empty collection or label set when named, and make
    ``creator`` its manager; all or nothing.

    ``slug`` is derived from ``name`` (made unique) when empty. The caller checks that the
    creator may create projects and may use the picked collection and label set.
    """
    if (collection is None) == (not new_collection_name):
        raise SetupRejected("Pick a collection or name a new one.", field="new_collection")
    if (label_set is None) == (not new_label_set_name):
        raise SetupRejected("Pick a label set or name a new one.", field="new_label_set")
    try:
        with transaction.atomic():
            if collection is None:
                if Collection.objects.filter(name=new_collection_name).exists():
                    raise SetupRejected(
                        "A collection with this name already exists; pick it above if your "
                        "projects use it, or choose another name.",
                        field="new_collection",
                    )
                collection = Collection.objects.create(
                    name=new_collection_name,
                    slug=_free_slug(
                        Collection.objects.all(),
                        new_collection_name,
                        max_length=200,
                        fallback="collection",
                    ),
                )
            if label_set is None:
                label_set = LabelSet.objects.create(
                    name=new_label_set_name,
                    slug=_free_slug(
                        LabelSet.objects.all(),
                        new_label_set_name,
                        max_length=200,
                        fallback="labels",
                    ),
                )
            if not slug:
                slug = _free_slug(Project.objects.all(), name, max_length=200, fallback="project")
            elif Project.objects.filter(slug=slug).exists():
                raise SetupRejected("Another project has this address.", field="slug")
            project = Project.objects.create(
                name=name,
                slug=slug,
                description=description,
                collection=collection,
                label_set=label_set,
                multi_label=multi_label,
                annotators_per_segment=annotators_per_segment,
            )
            Membership.objects.create(project=project, user=creator, role=Membership.Role.MANAGER)
    except IntegrityError as error:
        # Someone created a project, collection or label set of the same name just now.
        raise SetupRejected(
            "A project, collection or label set with this name or address was just created "
            "by someone else; change the name and try again."
        ) from error
    return project


def project_multi_labelled_count(project: Project) -> int:
    """How many of the project's annotations carry two labels or more."""
    return (
        AnnotationLabel.objects.filter(annotation__project=project)
        .values("annotation_id")
        .annotate(labels=Count("pk"))
        .filter(labels__gte=2)
        .count()
    )


def project_update(
    *,
    project: Project,
    name: str,
    description: str,
    multi_label: bool,
    annotators_per_segment: int,
    auto_accept_unanimous: bool | None = None,
    review_sample_percent: int | None = None,
    queue_order: str | None = None,
    queue_seed: int | None = None,
    reservation_minutes: int | None = None,
    one_per_duplicate_group: bool | None = None,
) -> Project:
    """Change a project's settings. Going from several labels per segment to one is refused
    while any annotation has several labels (``SetupRejected`` says how many).

    The review and queue settings are left as they are when ``None``. When k or the
    automatic acceptance changed, the review rows and automatic gold labels are recomputed
    in the background (``review_backfill_run``) once this commits. A new k opens or closes
    segments in the queue; a new order or seed reorders it."""
    with transaction.atomic():
        current = Project.objects.select_for_update().get(pk=project.pk)
        if current.multi_label and not multi_label:
            count = project_multi_labelled_count(current)
            if count:
                raise SetupRejected(
                    f"{_plural(count, 'annotation has', 'annotations have')} several labels, "
                    "so the project cannot switch to one label per segment. Have them revised "
                    "to one label first.",
                    field="multi_label",
                )
        current.name = name
        current.description = description
        current.multi_label = multi_label
        review_changed = current.annotators_per_segment != annotators_per_segment
        k_changed = review_changed
        current.annotators_per_segment = annotators_per_segment
        if auto_accept_unanimous is not None:
            review_changed |= current.auto_accept_unanimous != auto_accept_unanimous
            current.auto_accept_unanimous = auto_accept_unanimous
        if review_sample_percent is not None:
            current.review_sample_percent = review_sample_percent
        reorder = (queue_order is not None and queue_order != current.queue_order) or (
            queue_seed is not None and queue_seed != current.queue_seed
        )
        if queue_order is not None:
            current.queue_order = queue_order
        if queue_seed is not None:
            current.queue_seed = queue_seed
        if reservation_minutes is not None:
            current.reservation_minutes = reservation_minutes
        duplicates_changed = (
            one_per_duplicate_group is not None
            and one_per_duplicate_group != current.one_per_duplicate_group
        )
        if one_per_duplicate_group is not None:
            current.one_per_duplicate_group = one_per_duplicate_group
        current.save(update_fields=["name", "description", *Project.SETTINGS_FIELDS])
        if duplicates_changed:
            queue_mark_duplicates(project=current)
        if k_changed:
            queue_reopen(project=current)
        if reorder:
            queue_reorder(project=current)
        if review_changed:
            project_id = current.pk
            transaction.on_commit(lambda: review_backfill_run.enqueue(project_id))
    return current


def _labels_in_order(label_set_id: int) -> list[Label]:
    return list(
        Label.objects.select_for_update()
        .filter(label_set_id=label_set_id)
        .order_by("order", "name", "pk")
    )


def _renumber(labels: list[Label]) -> None:
    """Give ``labels`` the orders 0, 1, 2… in list order, writing only those that change."""
    changed = []
    for order, label in enumerate(labels):
        if label.order != order:
            label.order = order
            changed.append(label)
    if changed:
        Label.objects.bulk_update(changed, ["order"])


_LABEL_CLASH = "Another label of this set just took this name, slug or key; choose another."


def label_create(
    *,
    label_set: LabelSet,
    name: str,
    slug: str = "",
    description: str = "",
    color: str = "#4c78a8",
    shortcut: str = "",
) -> Label:
    """Add a label at the end of ``label_set``; ``slug`` is made from the name when empty."""
    try:
        with transaction.atomic():
            # Locks the set, so two labels added at once get different places.
            LabelSet.objects.select_for_update().filter(pk=label_set.pk).values_list("pk").get()
            order = label_set.labels.aggregate(last=Max("order"))["last"]
            return Label.objects.create(
                label_set=label_set,
                name=name,
                slug=slug
                or _free_slug(label_set.labels.all(), name, max_length=100, fallback="label"),
                description=description,
                color=color,
                shortcut=shortcut,
                order=0 if order is None else order + 1,
            )
    except IntegrityError as error:
        raise SetupRejected(_LABEL_CLASH) from error


def label_update(
    *,
    label: Label,
    name: str,
    slug: str = "",
    description: str = "",
    color: str,
    shortcut: str = "",
) -> Label:
    """Change a label's name, slug (kept when empty), guideline, colour and key."""
    label.name = name
    label.slug = slug or label.slug
    label.description = description
    label.color = color
    label.shortcut = shortcut
    try:
        with transaction.atomic():
            label.save(update_fields=["name", "slug", "description", "color", "shortcut"])
    except IntegrityError as error:
        raise SetupRejected(_LABEL_CLASH) from error
    return label


def label_move(*, label: Label, by: int) -> None:
    """Move ``label`` ``by`` places (-1 up, +1 down) within its set; orders stay 0, 1, 2…"""
    with transaction.atomic():
        labels = _labels_in_order(label.label_set_id)
        here = next(index for index, other in enumerate(labels) if other.pk == label.pk)
        there = max(0, min(len(labels) - 1, here + by))
        labels.insert(there, labels.pop(here))
        _renumber(labels)


def label_delete(*, label: Label) -> None:
    """Delete a label no annotation uses (in any project sharing the set), closing the gap
    in the order. A used label is refused: deactivate it instead."""
    in_use = SetupRejected(
        f"“{label.name}” is used by annotations, so it cannot be deleted; deactivate it instead."
    )
    try:
        with transaction.atomic():
            uses = AnnotationLabel.objects.filter(label=label).count()
            if uses:
                raise SetupRejected(
                    f"“{label.name}” is used by {_plural(uses, 'annotation', 'annotations')}, "
                    "so it cannot be deleted; deactivate it instead."
                )
            labels = _labels_in_order(label.label_set_id)
            deleted = label.pk
            label.delete()
            _renumber([other for other in labels if other.pk != deleted])
    except (ProtectedError, IntegrityError) as error:
        # An annotation used it between the check and the delete.
        raise in_use from error
