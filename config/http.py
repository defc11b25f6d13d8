"""The request type the app's views receive, for the type checker."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class AuthenticatedHttpRequest(HttpRequest):
    """A request past ``LoginRequiredMiddleware`` (a signed-in ``user``) and
    ``HtmxMiddleware`` (``htmx``): what every view behind the login receives."""

    user: User
    htmx: HtmxDetails
