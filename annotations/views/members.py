from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def member_list(request: HttpRequest, slug: str) -> HttpResponse:
    raise Http404("Not built yet")
