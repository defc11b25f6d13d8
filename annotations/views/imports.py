from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def import_upload(request: HttpRequest, slug: str) -> HttpResponse:
    raise Http404("Not built yet")
