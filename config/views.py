"""Site-wide error views: the styled 403, 404 and 500 pages, and the CSRF failure.

A refusal keeps its reason: the message of the ``PermissionDenied`` or ``Http404`` that a view
raised ("Your role in this project (Reviewer) does not allow you to annotate.") is shown on the
page, escaped like any other text. htmx requests get the same sentence as ``text/plain``, which
``themata.js`` shows in its banner instead of swapping a whole page into a fragment.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.template.exceptions import TemplateDoesNotExist
from django.urls import Resolver404
from django.views.csrf import csrf_failure as django_csrf_failure

FORBIDDEN = "You are not allowed to see this page."
NOT_FOUND = "There is no page at this address, or you cannot see it."
SERVER_ERROR = (
    "Something went wrong on the server; nothing was saved by the request that failed. "
    "Retry in a moment; if it keeps happening, tell an administrator."
)


def _is_htmx(request: HttpRequest) -> bool:
    # Read the header, not request.htmx: a failure may come before the htmx middleware ran.
    return request.headers.get("HX-Request") == "true"


def _plain(message: str, status: int) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _reason(exception: Exception | None, default: str) -> str:
    """The message a view gave its exception, or ``default``.

    Only a plain string counts: a ``Resolver404`` carries a dict of the URL patterns tried,
    which is for developers and is never shown.
    """
    if exception is None or isinstance(exception, Resolver404) or not exception.args:
        return default
    message = exception.args[0]
    return message if isinstance(message, str) and message.strip() else default


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403: the page says why (the role, the missing permission), never just "Forbidden"."""
    message = _reason(exception, FORBIDDEN)
    if _is_htmx(request):
        return _plain(message, 403)
    return HttpResponse(
        loader.render_to_string("403.html", {"message": message}, request), status=403
    )


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404: "No such segment in this project." and the like, or a general sentence."""
    message = _reason(exception, NOT_FOUND)
    if _is_htmx(request):
        return _plain(message, 404)
    return HttpResponse(
        loader.render_to_string("404.html", {"message": message}, request), status=404
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """500: a page that needs no context, no database and no request data (any of them may
    be what failed)."""
    if _is_htmx(request):
        return _plain(SERVER_ERROR, 500)
    try:
        body = loader.get_template("500.html").render()
    except TemplateDoesNotExist:  # pragma: no cover - the template ships with the code
        body = SERVER_ERROR
    return HttpResponse(body, status=500)


CSRF_FAILED = (
    "The page's security token has expired (for example after logging out "
    "elsewhere). Reload the page, then retry; nothing was saved."
)
CSRF_HINT = (
    "Go back, reload the page and send it again. If it keeps happening, allow cookies for "
    "this site: the form needs one to prove that it came from this site."
)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A refused form (missing or stale CSRF token): the styled 403 page with what to do,
    or for htmx requests the sentence the page shows. Django's reason (``reason``) is for
    developers and is not shown; with ``DEBUG`` on, Django's own page explains it."""
    if _is_htmx(request):
        return _plain(CSRF_FAILED, 403)
    if settings.DEBUG:
        return django_csrf_failure(request, reason)
    return HttpResponse(
        loader.render_to_string(
            "403.html",
            {"title": "Form expired", "message": CSRF_FAILED, "hint": CSRF_HINT},
            request,
        ),
        status=403,
    )
