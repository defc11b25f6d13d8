"""Members: accounts and their roles in a project."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

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
