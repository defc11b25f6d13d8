from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def label_set_edit(request: HttpRequest, slug: str) -> HttpResponse:
    raise Http404("Not built yet")
