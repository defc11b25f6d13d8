"""Site-wide error views."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.csrf import csrf_failure as django_csrf_failure


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """For htmx requests, a sentence the page can show; otherwise Django's own page."""
    if request.headers.get("HX-Request") == "true":
        return HttpResponse(
            "The page's security token has expired (for example after logging out "
            "elsewhere). Reload the page, then retry; nothing was saved.",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    return django_csrf_failure(request, reason)
