"""Who may reach which project, and with which powers: the one gate every view goes through.

Roles (``Membership.Role``) grant capabilities; superusers have all of them on every project.

=============  ====  ========  ======  ======
capability     view  annotate  review  manage
=============  ====  ========  ======  ======
reviewer       yes   no        yes     no
annotator      yes   yes       no      no
manager        yes   yes       yes     yes
superuser      yes   yes       yes     yes
=============  ====  ========  ======  ======

``review`` is deciding gold labels and browsing every answer of the project.

A project the user is not a member of does not exist for them (404); a member without the
needed capability gets 403.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser, User
from django.core.exceptions import PermissionDenied
from django.db import connections, router
from django.db.models import Model, OuterRef, QuerySet, Subquery
from django.http import Http404

from articles.models import Article, Collection, Segment

from .models import Label, Membership, Project
from .rows import (
    ARTICLE,
    SEGMENT,
    Columns,
    labels_from_json,
    labels_json_sql,
    neighbour_sql,
    segment_with_article,
)

ADMIN_ROLE = "admin"


class Capability(enum.StrEnum):
    VIEW = "view"
    ANNOTATE = "annotate"
    REVIEW = "review"
    MANAGE = "manage"


ROLE_CAPABILITIES: dict[str, frozenset[Capability]] = {
    Membership.Role.REVIEWER: frozenset({Capability.VIEW, Capability.REVIEW}),
    Membership.Role.ANNOTATOR: frozenset({Capability.VIEW, Capability.ANNOTATE}),
    Membership.Role.MANAGER: frozenset(Capability),
    ADMIN_ROLE: frozenset(Capability),
}


# The end of "Your role in this project (Reviewer) does not allow you to …", on the 403 page.
_REFUSED_ACTION: dict[Capability, str] = {
    Capability.VIEW: "open it",
    Capability.ANNOTATE: "label its segments",
    Capability.REVIEW: "review its answers",
    Capability.MANAGE: "manage it (settings, labels, members, imports)",
}


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    """A project as one user may use it: the project and that user's role in it."""

    project: Project
    role: str

    def allows(self, capability: Capability) -> bool:
        return capability in ROLE_CAPABILITIES.get(self.role, frozenset())

    @property
    def can_annotate(self) -> bool:
        return self.allows(Capability.ANNOTATE)

    @property
    def can_review(self) -> bool:
        return self.allows(Capability.REVIEW)

    @property
    def can_manage(self) -> bool:
        return self.allows(Capability.MANAGE)

    @property
    def role_label(self) -> str:
        if self.role == ADMIN_ROLE:
            return "Administrator"
        return Membership.Role(self.role).label


def projects_for_user(user: User | AnonymousUser) -> QuerySet[Project]:
    """The projects ``user`` may open, each annotated with ``user_role``."""
    if not user.is_authenticated or not user.is_active:
        return Project.objects.none()
    role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
    projects = Project.objects.annotate(user_role=Subquery(role))
    if user.is_superuser:
        return projects
    return projects.filter(memberships__user=user)


def get_project_for_user(
    user: User | AnonymousUser,
    slug: str,
    *,
    need: Capability = Capability.VIEW,
) -> ProjectAccess:
    """The project ``slug`` as ``user`` may use it, in one query.

    Raises ``Http404`` when the user is not a member (so that other teams' projects cannot
    even be confirmed to exist) and ``PermissionDenied`` when their role lacks ``need``.
    """
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such project.")
    if user.is_superuser:
        project = (
            Project.objects.select_related("collection", "label_set").filter(slug=slug).first()
        )
        role = ADMIN_ROLE
    else:
        # From the membership side: a plain join, cheaper to build than a role subquery on
        # the one path every request of the labelling screen takes.
        membership = (
            Membership.objects.select_related("project__collection", "project__label_set")
            .filter(user=user, project__slug=slug)
            .first()
        )
        project, role = (membership.project, membership.role) if membership else (None, "")
    if project is None:
        raise Http404("No such project.")
    access = ProjectAccess(project=project, role=role)
    if not access.allows(need):
        raise PermissionDenied(
            f"Your role in this project ({access.role_label}) does not allow you to "
            f"{_REFUSED_ACTION.get(need, str(need))}."
        )
    return access


def can_create_projects(user: User | AnonymousUser) -> bool:
    """Superusers, holders of the ``add_project`` permission, and managers of any project."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or user.has_perm("annotations.add_project"):
        return True
    return Membership.objects.filter(user=user, role=Membership.Role.MANAGER).exists()


@dataclass(frozen=True, slots=True)
class SegmentAccess:
    """One segment of a project as a user may label it, with what the labelling screen
    draws it with: the project's labels (retired ones too, in label-set order) and the
    texts of the segment's neighbours in its article."""

    access: ProjectAccess
    segment: Segment
    labels: tuple[Label, ...]
    before: str | None
    after: str | None


def get_segment_for_user(
    user: User | AnonymousUser,
    slug: str,
    segment_id: int,
    *,
    need: Capability = Capability.ANNOTATE,
) -> SegmentAccess:
    """The segment ``segment_id`` of project ``slug`` as ``user`` may use it, in one
    statement (the gate of every answer the labelling screen posts).

    Refuses as ``get_project_for_user`` does (404 for a non-member, 403 for a role without
    ``need``), then with 404 a segment that is not in the project's collection.
    """
    if not user.is_authenticated or not user.is_active:
        raise Http404("No such project.")
    db = connections[router.db_for_read(Project)]
    with db.cursor() as cursor:
        cursor.execute(_segment_gate_sql(db.alias), [user.pk, segment_id, slug])
        row = cursor.fetchone()
    if row is None:
        raise Http404("No such project.")
    role = ADMIN_ROLE if user.is_superuser else row[0]
    if role is None:
        raise Http404("No such project.")
    at = 1
    project = _PROJECT.build(db, row[at : at + _PROJECT.width])
    at += _PROJECT.width
    project.collection = _COLLECTION.build(db, row[at : at + _COLLECTION.width])
    at += _COLLECTION.width
    labels = labels_from_json(db, row[at])
    at += 1
    access = ProjectAccess(project=project, role=role)
    if not access.allows(need):
        raise PermissionDenied(
            f"Your role in this project ({access.role_label}) does not allow you to "
            f"{_REFUSED_ACTION.get(need, str(need))}."
        )
    # The article is joined only when it is in the project's collection.
    if row[at + SEGMENT.width] is None:
        raise Http404("No such segment in this project.")
    segment = segment_with_article(db, row[at:])
    at += SEGMENT.width + ARTICLE.width
    return SegmentAccess(access, segment, labels, before=row[at], after=row[at + 1])


_PROJECT = Columns(Project)
_COLLECTION = Columns(Collection)


@functools.cache
def _segment_gate_sql(alias: str) -> str:
    db = connections[alias]
    quote = db.ops.quote_name

    def table(model: type[Model]) -> str:
        return quote(model._meta.db_table)

    return (
        f"SELECT m.{quote('role')}, {_PROJECT.sql('p', db)}, {_COLLECTION.sql('c', db)},"
        f" {labels_json_sql(db, 'p.' + quote('label_set_id'))},"
        f" {SEGMENT.sql('s', db)}, {ARTICLE.sql('a', db)},"
        f" {neighbour_sql(db, 's', -1)}, {neighbour_sql(db, 's', +1)}"
        f" FROM {table(Project)} p"
        f" JOIN {table(Collection)} c ON c.id = p.{quote('collection_id')}"
        f" LEFT JOIN {table(Membership)} m"
        f" ON m.{quote('project_id')} = p.id AND m.{quote('user_id')} = %s"
        f" LEFT JOIN {table(Segment)} s ON s.id = %s"
        f" LEFT JOIN {table(Article)} a ON a.id = s.{quote('article_id')}"
        f" AND a.{quote('collection_id')} = p.{quote('collection_id')}"
        f" WHERE p.{quote('slug')} = %s"
    )
