"""Workflows of the annotations app that touch several models and own their transaction."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, router, transaction
from django.db.models import Count, Max, ProtectedError, QuerySet
from django.utils.text import slugify

from articles.models import Collection, Segment
from articles.services import ImportResult, articles_import, collection_get_or_create

from .models import (
    Annotation,
    AnnotationLabel,
    AnnotatorProgress,
    Label,
    LabelSet,
    Membership,
    Project,
)

DEMO_ARTICLE = Path(__file__).resolve().parent / "demo_data" / "mfa-briefing-2024-12-10.txt"
DEMO_PROJECT_NAME = "Foreign-ministry briefings"
DEMO_LABELS = [
    # (name, slug, guideline, colour, shortcut)
    (
        "Poverty",
        "poverty",
        "The segment discusses poverty, its reduction or people's livelihoods.",
        "#e15759",
        "1",
    ),
    (
        "Legislation",
        "legislation",
        "The segment refers to laws, legal safeguards or the rule of law.",
        "#4e79a7",
        "2",
    ),
    (
        "Bilateral ties",
        "bilateral-ties",
        "The segment is about relations between two named countries.",
        "#f28e2b",
        "3",
    ),
    (
        "Human rights",
        "human-rights",
        "The segment concerns human rights, their protection or their use in diplomacy.",
        "#76b7b2",
        "4",
    ),
    (
        "Democracy",
        "democracy",
        "The segment concerns elections, representation or people's participation in government.",
        "#59a14f",
        "5",
    ),
    (
        "Development",
        "development",
        "The segment is about economic or sustainable development and cooperation for it.",
        "#edc948",
        "6",
    ),
    (
        "Health & education",
        "health-education",
        "The segment mentions health care, life expectancy, schooling or social security.",
        "#b07aa1",
        "7",
    ),
    (
        "Reform",
        "reform",
        "The segment describes reforms, reform measures or plans to change institutions.",
        "#ff9da7",
        "8",
    ),
]


@dataclass(frozen=True, slots=True)
class DemoResult:
    project: Project
    admin_password: str | None  # set only when this run chose or changed the password
    articles: ImportResult


def demo_load(*, admin_password: str | None = None) -> DemoResult:
    """Create (or bring up to date) the demo project, its data and the ``admin`` superuser.

    Safe to run again: nothing is duplicated. The admin's password is ``admin_password``
    when given, else generated the first time and left alone afterwards.
    """
    User = get_user_model()
    with transaction.atomic():
        admin = User.objects.filter(username="admin").first()
        chosen_password = admin_password
        if admin is None:
            chosen_password = chosen_password or secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", email="", password=chosen_password)
        elif admin_password:
            admin.set_password(admin_password)
            admin.save(update_fields=["password"])

        collection, _ = collection_get_or_create(name=DEMO_PROJECT_NAME)
        label_set, _ = LabelSet.objects.get_or_create(
            slug="news-themes",
            defaults={
                "name": "News themes",
                "description": "Themes of foreign-policy and domestic-policy news.",
            },
        )
        for order, (name, slug, guideline, color, shortcut) in enumerate(DEMO_LABELS):
            Label.objects.get_or_create(
                label_set=label_set,
                slug=slug,
                defaults={
                    "name": name,
                    "description": guideline,
                    "color": color,
                    "shortcut": shortcut,
                    "order": order,
                },
            )
        project, _ = Project.objects.get_or_create(
            slug="foreign-ministry-briefings",
            defaults={
                "name": DEMO_PROJECT_NAME,
                "description": "Tag each paragraph of the briefings with the themes it raises.",
                "collection": collection,
                "label_set": label_set,
                "multi_label": True,
            },
        )
        Membership.objects.get_or_create(
            project=project, user=admin, defaults={"role": Membership.Role.MANAGER}
        )
        articles = articles_import(
            collection=collection,
            paths=[DEMO_ARTICLE],
            created_by=admin,
            # The sample comes from a Hong Kong news site; its times are local (UTC+8).
            time_zone="Asia/Hong_Kong",
        )
        if not articles.succeeded:
            raise RuntimeError(f"The demo article could not be imported: {articles.errors}")
    return DemoResult(project=project, admin_password=chosen_password, articles=articles)


class AnnotationRejected(ValueError):
    """The answer breaks a project rule (labels, status); the message says which."""


class AnnotationConflict(Exception):
    """The annotation changed since the client read it; ``current`` is what is stored."""

    def __init__(self, current: Annotation) -> None:
        super().__init__(
            f"This answer was changed elsewhere (now version {current.version}); reload to see it."
        )
        self.current = current


# Time on a segment longer than this is a coffee break, not labelling effort.
MAX_TIME_SPENT_MS = 60 * 60 * 1000
MAX_COMMENT_LENGTH = 2000


def annotation_submit(
    *,
    project: Project,
    segment: Segment,
    annotator: AbstractBaseUser,
    labels: Sequence[Label],
    status: str = Annotation.Status.SUBMITTED,
    unsure: bool = False,
    comment: str = "",
    time_spent_ms: int = 0,
    expected_version: int = 0,
) -> Annotation:
    """Store ``annotator``'s answer for ``segment``: create it, or revise it in place.

    ``expected_version`` is the version the client last saw (0 for "no answer yet"). If the
    stored answer is at another version, ``AnnotationConflict`` is raised and nothing
    changes, unless the stored answer already says exactly this (a double submit), which
    is then returned as it is. Rules broken raise ``AnnotationRejected``.

    When the person's counts changed, the returned annotation carries them as
    ``progress = (submitted, skipped)``; otherwise it has no ``progress`` attribute.
    """
    status = Annotation.Status(status)
    labels = list(dict.fromkeys(labels))
    if any(label.label_set_id != project.label_set_id for label in labels):
        raise AnnotationRejected("A label from another label set was sent; it was not stored.")
    if segment.article.collection_id != project.collection_id:
        raise AnnotationRejected("This segment does not belong to this project.")
    if status == Annotation.Status.SKIPPED:
        labels = []
    elif not labels:
        raise AnnotationRejected("Choose at least one label, or skip the segment.")
    elif not project.multi_label and len(labels) != 1:
        raise AnnotationRejected("This project takes exactly one label per segment.")
    comment = comment.strip()
    if "\x00" in comment:
        raise AnnotationRejected("A comment cannot contain a NUL character.")
    if len(comment) > MAX_COMMENT_LENGTH:
        raise AnnotationRejected(f"A comment can be at most {MAX_COMMENT_LENGTH} characters.")
    time_spent_ms = max(0, min(int(time_spent_ms), MAX_TIME_SPENT_MS))
    label_ids = {label.pk for label in labels}

    with transaction.atomic():
        if expected_version == 0:
            annotation = Annotation(
                project=project,
                segment=segment,
                annotator=annotator,
                status=status,
                unsure=unsure,
                comment=comment,
                time_spent_ms=time_spent_ms,
            )
            if _insert_if_absent(annotation):
                AnnotationLabel.objects.bulk_create(
                    AnnotationLabel(annotation=annotation, label=label) for label in labels
                )
                annotation.progress = _progress_add(project, annotator, status, +1)
                return annotation
            # An answer was stored first (a double click, another tab): compare with it.
        current = (
            # of=self: lock this row only, not the rows of the tables it refers to.
            Annotation.objects.select_for_update(of=("self",))
            .filter(project=project, segment=segment, annotator=annotator)
            .first()
        )
        if current is None:
            raise AnnotationRejected("The answer you edited no longer exists; reload the page.")
        if current.version != expected_version:
            if _says_the_same(current, status, unsure, comment, label_ids):
                return current
            raise AnnotationConflict(current)
        previous_status = current.status
        current.revise(status=status, unsure=unsure, comment=comment, time_spent_ms=time_spent_ms)
        current.save()
        stored = current.label_ids()
        if stored != label_ids:
            AnnotationLabel.objects.filter(annotation=current).exclude(
                label_id__in=label_ids
            ).delete()
            AnnotationLabel.objects.bulk_create(
                AnnotationLabel(annotation=current, label=label)
                for label in labels
                if label.pk not in stored
            )
        if previous_status != status:
            _progress_add(project, annotator, previous_status, -1)
            current.progress = _progress_add(project, annotator, status, +1)
        return current


def _insert_if_absent(annotation: Annotation) -> bool:
    """Insert ``annotation`` unless this person already answered this segment; True if new.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` (PostgreSQL, SQLite ≥ 3.35)
    instead of a locked read, a savepoint, the insert and its release: the statement that
    every first answer runs, so four round trips become one. A racing insert of the same
    answer makes this one wait for it and then return False.
    """
    meta = Annotation._meta
    db = connections[router.db_for_write(Annotation)]
    quote = db.ops.quote_name
    fields = [field for field in meta.concrete_fields if not field.primary_key]
    values = [field.get_db_prep_save(field.pre_save(annotation, True), db) for field in fields]
    unique = [meta.get_field(name).column for name in ("project", "annotator", "segment")]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)})"
        f" VALUES ({', '.join(['%s'] * len(fields))})"
        f" ON CONFLICT ({', '.join(quote(c) for c in unique)}) DO NOTHING"
        f" RETURNING {quote(meta.pk.column)}"
    )
    with db.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return False
    annotation.pk = row[0]
    annotation._state.adding = False
    annotation._state.db = db.alias
    return True


def _says_the_same(
    annotation: Annotation, status: str, unsure: bool, comment: str, label_ids: set[int]
) -> bool:
    if (annotation.status, annotation.unsure, annotation.comment) != (status, unsure, comment):
        return False
    return annotation.label_ids() == label_ids


def _progress_add(
    project: Project, annotator: AbstractBaseUser, status: str, delta: int
) -> tuple[int, int]:
    """Move this person's count for ``status`` by ``delta``; returns (submitted, skipped).

    ``UPDATE … RETURNING`` (PostgreSQL, SQLite ≥ 3.35): the new counts come back with the
    change, so the page after a submit needs no query to draw its progress bar.
    """
    field = "submitted" if status == Annotation.Status.SUBMITTED else "skipped"
    db = connections[router.db_for_write(AnnotatorProgress)]
    quote = db.ops.quote_name
    meta = AnnotatorProgress._meta
    column = quote(meta.get_field(field).column)
    sql = (
        f"UPDATE {quote(meta.db_table)} SET {column} = {column} + %s"
        f" WHERE {quote(meta.get_field('project').column)} = %s"
        f" AND {quote(meta.get_field('annotator').column)} = %s"
        f" RETURNING {quote('submitted')}, {quote('skipped')}"
    )
    for _ in range(2):
        with db.cursor() as cursor:
            cursor.execute(sql, [delta, project.pk, annotator.pk])
            row = cursor.fetchone()
        if row is not None:
            return row[0], row[1]
        # The person's first answer in this project; the unique constraint settles a race.
        AnnotatorProgress.objects.get_or_create(project=project, annotator=annotator)
    raise RuntimeError("The progress row vanished while it was being updated.")


# Project set-up services (project_create, label edits)


class SetupRejected(ValueError):
    """A set-up change breaks a rule; ``field`` names the form field it is about, if any."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _free_slug(taken: QuerySet, name: str, *, max_length: int, fallback: str) -> str:
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
    creator: AbstractBaseUser,
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
) -> Project:
    """Change a project's settings. Going from several labels per segment to one is refused
    while any annotation has several labels (``SetupRejected`` says how many)."""
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
        current.annotators_per_segment = annotators_per_segment
        current.save(update_fields=["name", "description", "multi_label", "annotators_per_segment"])
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


# Member services (accounts and memberships)


class MembershipRejected(ValueError):
    """A membership or account change breaks a rule; the message says which, for the manager."""


# Letters and digits that cannot be mistaken for each other when read out or copied by hand.
_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def _password_generate() -> str:
    """Four groups of five characters, about 99 bits of randomness, e.g. ``k7dmq-…``."""
    groups = ("".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(5)) for _ in range(4))
    return "-".join(groups)


def _role(role: str) -> Membership.Role:
    try:
        return Membership.Role(role)
    except ValueError:
        raise MembershipRejected(f"“{role}” is not a role; choose one from the list.") from None


def _managers_locked(project_id: int) -> list[int]:
    """The ids of the project's manager memberships, locked until the transaction ends, so that
    two managers demoting each other at once cannot leave the project with none."""
    return list(
        Membership.objects.select_for_update()
        .filter(project_id=project_id, role=Membership.Role.MANAGER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def membership_add(*, project: Project, username: str, role: str) -> Membership:
    """Give the existing, active account ``username`` (exact spelling) ``role`` in ``project``."""
    role = _role(role)
    User = get_user_model()
    user = User._default_manager.filter(**{User.USERNAME_FIELD: username.strip()}).first()
    if user is None:
        raise MembershipRejected(
            f"There is no account named “{username.strip()}”. Check the spelling (it must be "
            "exact), or create a new account."
        )
    if not user.is_active:
        raise MembershipRejected(
            f"The account “{user.get_username()}” is deactivated; an administrator can "
            "reactivate it."
        )
    with transaction.atomic():
        existing = Membership.objects.filter(project=project, user=user).first()
        if existing is not None:
            raise MembershipRejected(
                f"{user.get_username()} is already a member ({existing.get_role_display()}); "
                "change their role in the table instead."
            )
        try:
            with transaction.atomic():
                return Membership.objects.create(project=project, user=user, role=role)
        except IntegrityError:
            # Someone else added them in the meantime.
            raise MembershipRejected(f"{user.get_username()} is already a member.") from None


@dataclass(frozen=True, slots=True)
class AccountCreated:
    membership: Membership
    generated_password: str | None  # set only when none was given: show it once, store nowhere


def account_create(
    *,
    project: Project,
    username: str,
    role: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    email: str = "",
) -> AccountCreated:
    """Create an ordinary account (never staff, never superuser) and add it to ``project``.

    ``password`` must pass the site's password validators; when it is empty a random one is
    generated and returned, so that the manager can hand it over.
    """
    role = _role(role)
    User = get_user_model()
    username = User.normalize_username(username.strip())
    if not username:
        raise MembershipRejected("Choose a username.")
    email = User._default_manager.normalize_email(email.strip())
    user = User(
        username=username,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        email=email,
        is_staff=False,
        is_superuser=False,
        is_active=True,
    )
    generated = None
    if not password:
        password = generated = _password_generate()
    try:
        user.full_clean(exclude=["password"], validate_unique=False)
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise MembershipRejected(" ".join(error.messages)) from None
    user.set_password(password)
    with transaction.atomic():
        if User._default_manager.filter(username__iexact=username).exists():
            raise MembershipRejected(
                f"An account named “{username}” already exists; add it with “Add an existing "
                "account” instead."
            )
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            raise MembershipRejected(f"An account named “{username}” already exists.") from None
        membership = Membership.objects.create(project=project, user=user, role=role)
    return AccountCreated(membership=membership, generated_password=generated)


def membership_role_change(*, membership: Membership, role: str) -> Membership:
    """Give ``membership`` another role; the project's last manager keeps theirs."""
    role = _role(role)
    with transaction.atomic():
        managers = _managers_locked(membership.project_id)
        current = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if current is None:
            raise MembershipRejected("This person is no longer a member of the project.")
        if current.role == role:
            return current
        if current.role == Membership.Role.MANAGER and managers == [current.pk]:
            raise MembershipRejected(
                f"{current.user.get_username()} is the project's only manager. Make someone "
                "else a manager first."
            )
        current.role = role
        current.save(update_fields=["role"])
    return current


def membership_remove(*, membership: Membership) -> None:
    """Take a person out of the project. Their annotations and progress stay; the project's
    last manager cannot be removed."""
    with transaction.atomic():
        managers = _managers_locked(membership.project_id)
        current = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if current is None:
            return
        if current.role == Membership.Role.MANAGER and managers == [current.pk]:
            raise MembershipRejected(
                f"{current.user.get_username()} is the project's only manager. Make someone "
                "else a manager first."
            )
        current.delete()
