from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def project_list(request: HttpRequest) -> HttpResponse:
    raise Http404("Not built yet")


def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    raise Http404("Not built yet")
