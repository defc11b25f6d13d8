"""Members: accounts and their roles in a project."""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from config.accounts import user_sessions_end

from ..models import Membership, Project


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


def membership_changes_check(
    *,
    project: Project,
    removed: Collection[int] = (),
    demoted: Collection[int] = (),
    new_managers: int = 0,
) -> None:
    """Refuse a set of membership changes that would leave ``project`` without a manager.

    ``removed`` and ``demoted`` are membership ids leaving the project or losing the manager
    role, ``new_managers`` how many people become managers in the same change. The one rule
    both the members page and the admin (its inline on the project, its own membership
    pages) go through; call it inside the transaction that makes the change: the project's
    manager rows stay locked until it ends, so two people removing each other at once cannot
    leave the project with none.
    """
    managers = _managers_locked(project.pk)
    leaving = set(removed) | set(demoted)
    staying = [pk for pk in managers if pk not in leaving]
    if not managers or staying or new_managers > 0:
        return
    if len(managers) == 1:
        only = Membership.objects.select_related("user").get(pk=managers[0])
        raise MembershipRejected(
            f"{only.user.get_username()} is the project's only manager. Make someone else a "
            "manager first."
        )
    raise MembershipRejected(
        f"This would leave “{project.name}” without a manager. Keep at least one manager."
    )


def _membership_locked(pk: int) -> Membership | None:
    """The membership row locked for a change, with its project (read, not locked: of=self),
    or None when it is gone. Take ``_managers_locked`` first."""
    return (
        Membership.objects.select_for_update(of=("self",))
        .select_related("project")
        .filter(pk=pk)
        .first()
    )


def membership_role_change(*, membership: Membership, role: str) -> Membership:
    """Give ``membership`` another role; the project's last manager keeps theirs."""
    role = _role(role)
    with transaction.atomic():
        # The managers first, always in the same order, then the row: no deadlock between
        # two managers changing each other.
        _managers_locked(membership.project_id)
        current = _membership_locked(membership.pk)
        if current is None:
            raise MembershipRejected("This person is no longer a member of the project.")
        if current.role == role:
            return current
        if current.role == Membership.Role.MANAGER:
            membership_changes_check(project=current.project, demoted=[current.pk])
        current.role = role
        current.save(update_fields=["role"])
    return current


def membership_remove(*, membership: Membership) -> None:
    """Take a person out of the project. Their annotations and progress stay; the project's
    last manager cannot be removed."""
    with transaction.atomic():
        _managers_locked(membership.project_id)
        current = _membership_locked(membership.pk)
        if current is None:
            return
        if current.role == Membership.Role.MANAGER:
            membership_changes_check(project=current.project, removed=[current.pk])
        current.delete()


def memberships_delete(*, memberships: Iterable[Membership]) -> int:
    """Delete several memberships at once (the admin's bulk action), all or none: refused
    when any project would be left without a manager. Returns how many were deleted."""
    with transaction.atomic():
        by_project: dict[int, list[Membership]] = {}
        for membership in memberships:
            by_project.setdefault(membership.project_id, []).append(membership)
        for _, group in sorted(by_project.items()):
            membership_changes_check(project=group[0].project, removed=[m.pk for m in group])
        deleted, _ = Membership.objects.filter(
            pk__in=[m.pk for group in by_project.values() for m in group]
        ).delete()
    return deleted


PASSWORD_RULE = (
    "You can set a new password for members who are not administrators or staff and who "
    "belong only to projects you manage; anyone else asks an administrator."
)


def password_settable_filter(by: AbstractBaseUser | AnonymousUser) -> Q:
    """The memberships whose account ``by`` may give a new password, as a filter.

    Never ``by`` themself (they use the Password page, which asks for the old one), never
    staff or superusers or deactivated accounts, and only people whose every membership is
    in a project ``by`` manages: a manager of one project cannot take over an account that
    another team relies on. Superusers may set any ordinary account's password.
    """
    by_pk: int = by.pk or 0  # an anonymous user has no pk and manages nothing
    rule = Q(user__is_staff=False, user__is_superuser=False, user__is_active=True) & ~Q(
        user_id=by_pk
    )
    if getattr(by, "is_superuser", False):
        return rule
    managed = Membership.objects.filter(user_id=by_pk, role=Membership.Role.MANAGER).values(
        "project_id"
    )
    elsewhere = Membership.objects.filter(user_id=OuterRef("user_id")).exclude(
        project_id__in=managed
    )
    return rule & ~Q(Exists(elsewhere))


def password_settable_members(
    *, project: Project, by: AbstractBaseUser | AnonymousUser
) -> QuerySet[Membership]:
    """The members of ``project`` whose password ``by`` may set (``password_settable_filter``)."""
    return Membership.objects.filter(Q(project=project) & password_settable_filter(by))


@dataclass(frozen=True, slots=True)
class PasswordSet:
    membership: Membership
    generated_password: str | None  # set only when none was given: show it once, store nowhere
    sessions_ended: int


def account_password_set(
    *,
    membership: Membership,
    by: AbstractBaseUser | AnonymousUser,
    password: str | None = None,
) -> PasswordSet:
    """Give a member's account a new password, set by a manager of their project.

    ``password`` must pass the site's validators; when it is empty a random one is generated
    and returned, for the manager to hand over. Every session of the account ends (it must
    log in again with the new password) and its login lockouts are lifted.
    """
    allowed = (
        Membership.objects.filter(
            Q(project_id=membership.project_id) & password_settable_filter(by)
        )
        .select_related("user")
        .filter(pk=membership.pk)
        .first()
    )
    if allowed is None:
        raise MembershipRejected(PASSWORD_RULE)
    user = allowed.user
    generated = None
    if not password:
        password = generated = _password_generate()
    try:
        password_validation.validate_password(password, user)
    except ValidationError as error:
        raise MembershipRejected(" ".join(error.messages)) from None
    user.set_password(password)
    with transaction.atomic():
        user.save(update_fields=["password"])
        ended = user_sessions_end(user.pk)
    AxesProxyHandler.reset_attempts(username=user.get_username())
    return PasswordSet(membership=allowed, generated_password=generated, sessions_ended=ended)
