"""The admin of Django's own ``User``: deleting an account keeps every project managed.

Deleting a user deletes their memberships with them (``on_delete=CASCADE``). Without this,
deleting the only manager of a project in the admin silently left it with nobody who can
manage it, which the members page and the membership admin refuse. The same rule
(``membership_changes_check``) now refuses the deletion, all or nothing, with its reason.

Registered from ``config/urls.py``, before the admin's URLs are built.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from annotations.admin import RefusedDeletionMessageMixin
from annotations.models import Membership
from annotations.services.members import MembershipRejected, membership_changes_check


def users_delete_check(user_ids: Iterable[int]) -> None:
    """Refuse (``MembershipRejected``) deleting these users when that would leave a project
    without a manager. Call it inside the transaction that deletes them: the projects'
    manager rows stay locked until it ends."""
    leaving: dict[int, list[Membership]] = {}
    managed = Membership.objects.filter(
        user_id__in=list(user_ids), role=Membership.Role.MANAGER
    ).select_related("project", "user")
    for membership in managed:
        leaving.setdefault(membership.project_id, []).append(membership)
    for _, group in sorted(leaving.items()):
        project = group[0].project
        try:
            membership_changes_check(project=project, removed=[m.pk for m in group])
        except MembershipRejected as refused:
            names = ", ".join(sorted(m.user.get_username() for m in group))
            raise MembershipRejected(
                f"Not deleted: {names} would leave “{project.name}” without a manager. {refused}"
            ) from None


class ThemataUserAdmin(RefusedDeletionMessageMixin, UserAdmin[User]):
    def delete_model(self, request: HttpRequest, obj: User) -> None:
        with transaction.atomic():
            users_delete_check([obj.pk])
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        with transaction.atomic():
            users_delete_check(queryset.values_list("pk", flat=True))
            super().delete_queryset(request, queryset)


admin.site.unregister(User)
admin.site.register(User, ThemataUserAdmin)
