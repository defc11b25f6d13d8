"""Site-wide request handling that is not specific to one app."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.http import HttpRequest, HttpResponse


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's login-required-by-default, with a 401 for htmx requests.

    A redirect would be followed by the browser's XMLHttpRequest and the login page swapped
    into the labelling screen; a 401 lets the page keep the person's unsaved selection and
    tell them to log in again.
    """

    def handle_no_permission(  # type: ignore[override]  # a 401 is no redirect, on purpose
        self, request: HttpRequest, view_func: Callable[..., HttpResponse]
    ) -> HttpResponse:
        if getattr(request, "htmx", False):
            return HttpResponse(
                "Your session has ended. Log in again (in another tab), then retry.",
                status=401,
                content_type="text/plain; charset=utf-8",
            )
        return super().handle_no_permission(request, view_func)
