"""A project's members page: who is in it with which role and how far they got, and the forms
a manager uses to add, create, re-role and remove people.

Every change answers an htmx request with the ``members`` partial (the table and the forms,
with the outcome on top) and a plain POST with a redirect and a message, except where a form
has errors (re-shown in place, 400) or a generated password must be shown once (see
``member_create``).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.db.models import BooleanField, ExpressionWrapper, OuterRef, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from config.http import AuthenticatedHttpRequest

from ..access import Capability, ProjectAccess, get_project_for_user
from ..forms import AccountCreateForm, MemberAddForm, MemberPasswordForm, MemberRoleForm
from ..models import AnnotatorProgress, Membership, Project, progress_of
from ..services.members import (
    PASSWORD_RULE,
    MembershipRejected,
    account_create,
    account_password_set,
    membership_add,
    membership_remove,
    membership_role_change,
    password_settable_filter,
    password_settable_members,
)

TEMPLATE = "annotations/member_list.html"


def _members(project: Project, by: AbstractBaseUser | AnonymousUser) -> QuerySet[Membership]:
    """The members with their user, their progress counts, and whether ``by`` may set their
    password, in one query for all."""
    progress = AnnotatorProgress.objects.count_columns(project=project, annotator=OuterRef("user"))
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .annotate(
            **progress,
            password_settable=ExpressionWrapper(
                password_settable_filter(by), output_field=BooleanField()
            ),
        )
        .order_by("user__username")
    )


def _password_choices(members: list[Membership]) -> list[tuple[int, str]]:
    return [
        (m.pk, m.user.get_username())
        for m in members
        if m.password_settable  # type: ignore[attr-defined]  # annotated by _members()
    ]


def _render(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    *,
    status: int = 200,
    add_form: MemberAddForm | None = None,
    create_form: AccountCreateForm | None = None,
    password_form: MemberPasswordForm | None = None,
    notice: str = "",
    error: str = "",
    created: dict[str, str] | None = None,
) -> HttpResponse:
    members = list(_members(access.project, request.user))
    total = access.project.collection.segment_count
    for member in members:
        member.progress = progress_of(member, total=total)  # type: ignore[attr-defined]
    managers = [m for m in members if m.role == Membership.Role.MANAGER]
    context = {
        "project": access.project,
        "access": access,
        "members": members,
        "only_manager_id": managers[0].pk if len(managers) == 1 else None,
        "roles": Membership.Role.choices,
        "add_form": add_form or MemberAddForm(auto_id="add-%s"),
        "create_form": create_form or AccountCreateForm(auto_id="new-%s"),
        "password_form": password_form
        or MemberPasswordForm(auto_id="pw-%s", members=_password_choices(members)),
        "password_rule": PASSWORD_RULE,
        "notice": notice,
        "error": error,
        "created": created,
    }
    template = f"{TEMPLATE}#members" if request.htmx else TEMPLATE
    return render(request, template, context, status=status)


def _done(request: AuthenticatedHttpRequest, access: ProjectAccess, notice: str) -> HttpResponse:
    if request.htmx:
        return _render(request, access, notice=notice)
    messages.success(request, notice)
    return redirect("annotations:member_list", slug=access.project.slug)


def _done_with_password(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    notice: str,
    *,
    username: str,
    password: str | None,
) -> HttpResponse:
    """``_done``, or, when a password was generated, a page that shows it once.

    The generated password goes out in this answer and is stored nowhere (not in the
    session, not in a message cookie), so this is the one POST answered with a page
    instead of a redirect, and it must not be cached.
    """
    if password is None:
        return _done(request, access, notice)
    response = _render(
        request, access, notice=notice, created={"username": username, "password": password}
    )
    add_never_cache_headers(response)
    return response


def _refused(request: AuthenticatedHttpRequest, access: ProjectAccess, error: str) -> HttpResponse:
    if request.htmx:
        return _render(request, access, status=400, error=error)
    messages.error(request, error)
    return redirect("annotations:member_list", slug=access.project.slug)


def _gone(request: AuthenticatedHttpRequest, url: str, notice: str) -> HttpResponse:
    """After managers took away their own power to manage: leave the members page."""
    messages.success(request, notice)
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _manageable(request: AuthenticatedHttpRequest, slug: str) -> ProjectAccess:
    return get_project_for_user(request.user, slug, need=Capability.MANAGE)


def _membership(access: ProjectAccess, membership_id: int) -> Membership:
    # Looked up inside this project: another project's membership id is a 404.
    return get_object_or_404(
        Membership.objects.filter(project=access.project).select_related("user"),
        pk=membership_id,
    )


@require_GET
def member_list(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    return _render(request, _manageable(request, slug))


@require_POST
def member_add(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = _manageable(request, slug)
    form = MemberAddForm(request.POST, auto_id="add-%s")
    if form.is_valid():
        try:
            membership = membership_add(
                project=access.project,
                username=form.cleaned_data["username"],
                role=form.cleaned_data["role"],
            )
        except MembershipRejected as error:
            form.add_error("username", str(error))
        else:
            return _done(
                request,
                access,
                f"Added {membership.user.get_username()} as {membership.get_role_display()}.",
            )
    return _render(request, access, status=400, add_form=form)


@require_POST
def member_create(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = _manageable(request, slug)
    form = AccountCreateForm(request.POST, auto_id="new-%s")
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = account_create(
                project=access.project,
                username=data["username"],
                role=data["role"],
                password=data["password1"] or None,
                first_name=data["first_name"],
                last_name=data["last_name"],
                email=data["email"],
            )
        except MembershipRejected as error:
            form.add_error(None, str(error))
        else:
            membership = result.membership
            username = membership.user.get_username()
            role = membership.get_role_display()
            notice = f"Created the account {username} and added it as {role}."
            return _done_with_password(
                request, access, notice, username=username, password=result.generated_password
            )
    return _render(request, access, status=400, create_form=form)


@require_POST
def member_password_set(request: AuthenticatedHttpRequest, slug: str) -> HttpResponse:
    access = _manageable(request, slug)
    settable = password_settable_members(project=access.project, by=request.user).select_related(
        "user"
    )
    form = MemberPasswordForm(
        request.POST, auto_id="pw-%s", members=[(m.pk, m.user.get_username()) for m in settable]
    )
    if form.is_valid():
        data = form.cleaned_data
        try:
            result = account_password_set(
                membership=_membership(access, data["member"]),
                by=request.user,
                password=data["password1"] or None,
            )
        except MembershipRejected as error:
            form.add_error("password1", str(error))
        else:
            username = result.membership.user.get_username()
            notice = (
                f"Set a new password for {username}; they were logged out everywhere and "
                "log in with the new one."
            )
            return _done_with_password(
                request, access, notice, username=username, password=result.generated_password
            )
    return _render(request, access, status=400, password_form=form)


@require_POST
def member_role_change(
    request: AuthenticatedHttpRequest, slug: str, membership_id: int
) -> HttpResponse:
    access = _manageable(request, slug)
    membership = _membership(access, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _refused(request, access, "Choose one of the roles in the list.")
    try:
        membership = membership_role_change(membership=membership, role=form.cleaned_data["role"])
    except MembershipRejected as error:
        return _refused(request, access, str(error))
    notice = f"{membership.user.get_username()} is now {membership.get_role_display()}."
    gave_up_managing = membership.role != Membership.Role.MANAGER
    if gave_up_managing and membership.user_id == request.user.pk and not request.user.is_superuser:
        url = reverse("annotations:project_detail", kwargs={"slug": slug})
        return _gone(request, url, notice)
    return _done(request, access, notice)


@require_POST
def member_remove(request: AuthenticatedHttpRequest, slug: str, membership_id: int) -> HttpResponse:
    access = _manageable(request, slug)
    membership = _membership(access, membership_id)
    try:
        membership_remove(membership=membership)
    except MembershipRejected as error:
        return _refused(request, access, str(error))
    username = membership.user.get_username()
    notice = f"Removed {username} from {access.project.name}; their annotations are kept."
    if membership.user_id == request.user.pk and not request.user.is_superuser:
        return _gone(request, reverse("annotations:home"), notice)
    return _done(request, access, notice)
