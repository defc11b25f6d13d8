from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.forms import Textarea
from django.http import HttpRequest, HttpResponse

from .models import Article, Collection, ImportBatch, Segment
from .services import articles_delete, imports_fail_stale


class SweepsStaleImportsMixin:
    """Lists that show imports sweep the stale ones first: a batch whose worker died reads
    "failed", with the reason, instead of "running" for ever."""

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, object] | None = None
    ) -> HttpResponse:
        imports_fail_stale()
        return super().changelist_view(request, extra_context)  # type: ignore[misc]


@admin.register(Collection)
class CollectionAdmin(SweepsStaleImportsMixin, admin.ModelAdmin):
    list_display = ["name", "slug", "article_count", "segment_count", "created_at"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}


class SegmentInline(admin.TabularInline):
    # Segments are cut from the body by the importer; hand-made ones could break offsets.
    model = Segment
    fields = ["position", "start", "end", "text"]
    readonly_fields = ["position", "start", "end", "text"]
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Article | None = None) -> bool:
        return False


class MadeByImportsMixin:
    """Articles, segments and batches come from the importer, which keeps hashes and offsets
    consistent; the admin may view, correct titles and delete, but not add."""

    def has_add_permission(self, request: HttpRequest, obj: object | None = None) -> bool:
        return False


@admin.register(Article)
class ArticleAdmin(MadeByImportsMixin, admin.ModelAdmin):
    list_display = [
        "title",
        "collection",
        "published_at",
        "external_id",
        "segmentation",
        "id",
        "duplicate_of_id",
    ]
    list_filter = [
        "collection",
        "segmentation",
        ("published_at", admin.DateFieldListFilter),
        ("duplicate_of", admin.EmptyFieldListFilter),
    ]
    search_fields = ["title", "external_id", "source_url"]
    list_select_related = ["collection"]
    # The body, and what its segments and hash depend on, only change through a re-import.
    readonly_fields = [
        "collection",
        "segmentation",
        "content_hash",
        "import_batch",
        "duplicate_of",
        "duplicate_similarity",
        "created_at",
        "updated_at",
        "body",
    ]
    formfield_overrides = {models.TextField: {"widget": Textarea(attrs={"rows": 2, "cols": 80})}}
    date_hierarchy = "published_at"
    inlines = [SegmentInline]
    show_full_result_count = False

    def delete_model(self, request: HttpRequest, obj: Article) -> None:
        articles_delete(Article.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Article]) -> None:
        articles_delete(queryset)


@admin.register(Segment)
class SegmentAdmin(MadeByImportsMixin, admin.ModelAdmin):
    list_display = ["__str__", "article", "position", "start", "end", "short_text"]
    list_filter = ["article__collection"]
    search_fields = ["text"]
    list_select_related = ["article"]
    readonly_fields = ["article", "position", "start", "end", "text"]
    show_full_result_count = False

    @admin.display(description="Text")
    def short_text(self, obj: Segment) -> str:
        return obj.text[:120]


@admin.register(ImportBatch)
class ImportBatchAdmin(SweepsStaleImportsMixin, MadeByImportsMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "collection",
        "format",
        "status",
        "articles_created",
        "duplicates_skipped",
        "near_duplicates",
        "segments_created",
        "created_by",
        "created_at",
        "updated_at",
    ]
    list_filter = ["status", "format", "collection"]
    search_fields = ["source_names"]
    list_select_related = ["collection", "created_by"]
    readonly_fields = [f.name for f in ImportBatch._meta.get_fields() if f.concrete]
