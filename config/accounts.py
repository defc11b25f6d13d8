"""Account safety that the settings point at: the client address and username for login
throttling, a password validator Django lacks, the throttled password change, and ending a
user's sessions."""

from __future__ import annotations

import functools
import ipaddress
from importlib import import_module
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_ip_address
from django.conf import settings
from django.contrib.auth import SESSION_KEY, authenticate
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.forms import PasswordChangeForm
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connections, router
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from annotations.rows import Columns

# django-axes stores the username it counts failures against in a varchar(255) column.
_AXES_USERNAME_MAX = 255


def client_ip_address(request: HttpRequest) -> str | None:
    """The address django-axes counts login failures against.

    ``REMOTE_ADDR``, unless ``AXES_IPWARE_PROXY_COUNT`` trusted proxies stand in front of
    the app: then the entry that many places from the right of ``X-Forwarded-For``, the one
    the outermost proxy wrote. A header with fewer entries did not pass through all proxies
    and is ignored, as is anything that is not an IP address.
    """
    remote = request.META.get("REMOTE_ADDR")
    count = settings.AXES_IPWARE_PROXY_COUNT
    if not count:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    hops = [hop for hop in hops if hop]
    if len(hops) < count:
        return remote
    try:
        return str(ipaddress.ip_address(hops[-count]))
    except ValueError:
        return remote


def client_username(
    request: HttpRequest | None, credentials: dict[str, Any] | None = None
) -> str | None:
    """The username django-axes counts login failures against: the one typed, cut to the 255
    characters its tables hold.

    Without the cut a 300-character username was a database error (500) on PostgreSQL, on
    the login page and the admin's; no account has such a name (150 at most), so cutting
    cannot merge a real account's count with another's.
    """
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    if credentials:
        username = credentials.get(field)
    elif request is not None:
        username = request.POST.get(field)
    else:
        username = None
    if not isinstance(username, str):
        return None
    return username[:_AXES_USERNAME_MAX]


class ThrottledPasswordChangeForm(PasswordChangeForm):
    """Django's password change, with the old password checked through ``authenticate()``.

    django-axes then counts a wrong old password exactly like a failed login of that
    username from that address: after ``AXES_FAILURE_LIMIT`` of them the page answers with
    the lockout page (429), the right password included, until the cool-off has passed.
    Without this, anyone at an unlocked, logged-in computer could guess the old password
    without limit.
    """

    def __init__(self, user: Any, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(user, *args, **kwargs)
        self.request = request

    def clean_old_password(self) -> str:
        old_password: str = self.cleaned_data["old_password"]
        checked = authenticate(
            self.request, username=self.user.get_username(), password=old_password
        )
        if checked is None or checked.pk != self.user.pk:
            raise ValidationError(
                self.error_messages["password_incorrect"], code="password_incorrect"
            )
        return old_password


class ThrottledPasswordChangeView(auth_views.PasswordChangeView):
    form_class = ThrottledPasswordChangeForm

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}

    def form_valid(self, form: PasswordChangeForm) -> HttpResponse:
        # A right old password ends the count, as a successful login does.
        AxesProxyHandler.reset_attempts(
            username=self.request.user.get_username(),
            ip_address=get_client_ip_address(self.request),
        )
        return super().form_valid(form)


def user_sessions_end(user_id: int) -> int:
    """Delete every live session of the user ``user_id``; return how many there were.

    Django keeps no index from a user to their sessions, so the unexpired sessions are read
    and decoded (a working day's sessions of the whole site: few, and this runs only when an
    account is deactivated or its password is set by a manager). Works with the database
    session engines (``db``, ``cached_db``, the default); with signed-cookie sessions there
    is nothing on the server to delete.
    """
    store_class = import_module(settings.SESSION_ENGINE).SessionStore
    get_model_class = getattr(store_class, "get_model_class", None)
    if get_model_class is None:
        return 0
    decoder = store_class()
    wanted = str(user_id)
    ended = 0
    for session_key, session_data in (
        get_model_class()
        .objects.filter(expire_date__gt=timezone.now())
        .values_list("session_key", "session_data")
        .iterator()
    ):
        if str(decoder.decode(session_data).get(SESSION_KEY)) == wanted:
            # Through the store, so that cached_db also forgets its cached copy.
            store_class(session_key=session_key).delete()
            ended += 1
    return ended


def end_sessions_of_deactivated_user(
    sender: type[AbstractBaseUser],
    instance: AbstractBaseUser,
    update_fields: frozenset[str] | None = None,
    **kwargs: Any,
) -> None:
    """``post_save`` of the user model: a deactivated account loses its sessions at once.

    Django already refuses an inactive user's session, but kept it, so reactivating the
    account brought the old cookie back to life. A signal, because the account can be
    deactivated from anywhere that saves a user (the admin, the shell, a script), and the
    user model is Django's own.
    """
    if getattr(instance, "is_active", True):
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    user_sessions_end(instance.pk)


class RepetitivePasswordValidator:
    """Refuse passwords made of only a few distinct characters ("aaaaaaaaaaaa", "abababab…")."""

    def __init__(self, min_unique: int = 5) -> None:
        self.min_unique = min_unique

    def validate(self, password: str, user: AbstractBaseUser | None = None) -> None:
        unique = len(set(password))
        if unique < self.min_unique:
            raise ValidationError(
                "This password repeats too few characters (%(unique)d different, at least "
                "%(min_unique)d needed). A few unrelated words make a strong password.",
                code="password_too_repetitive",
                params={"unique": unique, "min_unique": self.min_unique},
            )

    def get_help_text(self) -> str:
        return f"Your password must use at least {self.min_unique} different characters."


class ModelBackend(DjangoModelBackend):
    """Django's model backend, with the signed-in user read by one precompiled statement.

    Every request loads its user (``get_user``); building that ``SELECT`` through the ORM
    cost about as much CPU as the rest of the session handling. The same row, the same
    ``user_can_authenticate`` test; logging in, permissions and everything else are Django's.
    """

    def get_user(self, user_id: Any) -> User | None:
        db = connections[router.db_for_read(User)]
        with db.cursor() as cursor:
            cursor.execute(_user_sql(db.alias), [user_id])
            row = cursor.fetchone()
        if row is None:
            return None
        user = _USER.build(db, row)
        return user if self.user_can_authenticate(user) else None


_USER = Columns(User)


@functools.cache
def _user_sql(alias: str) -> str:
    db = connections[alias]
    table = db.ops.quote_name(User._meta.db_table)
    return f"SELECT {_USER.sql('u', db)} FROM {table} u WHERE u.id = %s"
