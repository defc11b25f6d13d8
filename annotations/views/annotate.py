from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse


def annotate(request: HttpRequest, slug: str) -> HttpResponse:
    raise Http404("Not built yet")


def annotation_save(request: HttpRequest, slug: str, segment_id: int) -> HttpResponse:
    raise Http404("Not built yet")


def article_detail(request: HttpRequest, slug: str, article_id: int) -> HttpResponse:
    raise Http404("Not built yet")
