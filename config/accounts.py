"""Account safety that the settings point at: the client address for login throttling and a
password validator Django lacks."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest


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
