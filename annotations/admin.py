from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import ActionLocation
from django.contrib.auth.models import User
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import Textarea
from django.forms.formsets import DELETION_FIELD_NAME
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from .forms import ExportForm
from .models import (
    Annotation,
    AnnotationEvent,
    AnnotationLabel,
    Export,
    GoldLabel,
    GoldLabelEvent,
    GoldLabelLabel,
    Label,
    LabelSet,
    Membership,
    Project,
)
from .services.exports import export_start, exports_fail_stale, gold_available
from .services.members import MembershipRejected, membership_changes_check, memberships_delete


class LabelInline(admin.TabularInline):
    model = Label
    fields = ["order", "name", "slug", "shortcut", "color", "active", "description"]
    prepopulated_fields = {"slug": ["name"]}
    formfield_overrides = {models.TextField: {"widget": Textarea(attrs={"rows": 2, "cols": 50})}}
    extra = 0


@admin.register(LabelSet)
class LabelSetAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug", "description"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [LabelInline]


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ["name", "label_set", "shortcut", "color", "order", "active"]
    list_filter = ["label_set", "active"]
    search_fields = ["name", "slug", "description"]
    list_select_related = ["label_set"]
    prepopulated_fields = {"slug": ["name"]}


def _was_manager(form: forms.ModelForm) -> bool:
    return bool(form.instance.pk) and form.initial.get("role") == Membership.Role.MANAGER


class MembershipInlineFormSet(BaseInlineFormSet):
    """The project's members as one formset: refused as a whole, with the reason above the
    table, when the rows as submitted (deleted, re-roled, added) leave no manager."""

    def clean(self) -> None:
        super().clean()
        if any(self.errors) or self.instance.pk is None:
            return
        removed: list[int] = []
        demoted: list[int] = []
        new_managers = 0
        for form in self.forms:
            if not hasattr(form, "cleaned_data") or not form.cleaned_data:
                continue
            if self.can_delete and form.cleaned_data.get(DELETION_FIELD_NAME):
                if form.instance.pk:
                    removed.append(form.instance.pk)
                continue
            is_manager = form.cleaned_data.get("role") == Membership.Role.MANAGER
            if _was_manager(form) and not is_manager:
                demoted.append(form.instance.pk)
            elif is_manager and not _was_manager(form):
                new_managers += 1
        try:
            # The admin saves inside one transaction: the managers stay locked until then.
            membership_changes_check(
                project=self.instance, removed=removed, demoted=demoted, new_managers=new_managers
            )
        except MembershipRejected as error:
            raise forms.ValidationError(str(error)) from None


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    fields = ["user", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["user"]
    extra = 0


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "collection",
        "label_set",
        "multi_label",
        "annotators_per_segment",
        "created_at",
    ]
    list_filter = ["multi_label", "collection", "label_set"]
    search_fields = ["name", "slug", "description"]
    list_select_related = ["collection", "label_set"]
    prepopulated_fields = {"slug": ["name"]}
    inlines = [MembershipInline]
    actions = ["export_dataset"]
    # The queue's open segments, the review rows and the automatic gold labels follow these
    # settings; ``project_update`` (the project's Settings page) moves them together. A plain
    # model save here would leave them behind (a raised k would keep segments closed), so
    # once a project exists they change only there. The collection and label set never
    # change under existing answers.
    SETTINGS_PAGE_ONLY = ("collection", "label_set", *Project.SETTINGS_FIELDS)

    def get_readonly_fields(
        self, request: HttpRequest, obj: Project | None = None
    ) -> list[str] | tuple[str, ...]:
        if obj is None:
            return super().get_readonly_fields(request, obj)
        return (*super().get_readonly_fields(request, obj), *self.SETTINGS_PAGE_ONLY)

    def get_prepopulated_fields(
        self, request: HttpRequest, obj: Project | None = None
    ) -> dict[str, Sequence[str]]:
        return {} if obj is not None else {"slug": ("name",)}

    @admin.action(description="Export a dataset of the selected projects")
    def export_dataset(
        self, request: HttpRequest, queryset: QuerySet[Project]
    ) -> HttpResponse | None:
        """Asks for the export options (the Export page's form), then queues one export per
        project for the background worker; the exports are listed under Exports."""
        gold = gold_available()
        form = ExportForm(request.POST if "apply" in request.POST else None, gold=gold)
        if "apply" in request.POST and form.is_valid():
            for project in queryset:
                by = request.user if isinstance(request.user, User) else None
                export = export_start(project=project, options=form.options, by=by)
                url = reverse("admin:annotations_export_change", args=[export.pk])
                self.message_user(
                    request,
                    format_html(
                        'Export <a href="{}">#{}</a> of {} queued.', url, export.pk, project
                    ),
                    messages.SUCCESS,
                )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Export a dataset",
            "projects": queryset,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/annotations/project/export_dataset.html", context)


class MembershipAdminForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "project", "role"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        role = cleaned.get("role")
        if _was_manager(self) and role and role != Membership.Role.MANAGER:
            try:
                membership_changes_check(project=self.instance.project, demoted=[self.instance.pk])
            except MembershipRejected as error:
                raise forms.ValidationError(str(error)) from None
        return cleaned


class RefusedDeletionMessageMixin(admin.ModelAdmin):
    """Deletions that ``MembershipRejected`` refuses (the last manager of a project) end
    with its reason as an error message, one object or a bulk "delete selected", nothing
    deleted, instead of a 500."""

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        try:
            with transaction.atomic():
                return super().delete_view(request, object_id, extra_context)
        except MembershipRejected as error:
            self.message_user(request, str(error), messages.ERROR)
            opts = self.opts
            url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            return HttpResponseRedirect(url)

    def response_action(
        self,
        request: HttpRequest,
        queryset: QuerySet[Any],
        action_location: ActionLocation = ActionLocation.CHANGE_LIST,
    ) -> HttpResponse | None:
        try:
            with transaction.atomic():
                return super().response_action(request, queryset, action_location)
        except MembershipRejected as error:
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(Membership)
class MembershipAdmin(RefusedDeletionMessageMixin):
    """Memberships one by one. A project's last manager can be neither re-roled nor deleted
    here (the same rule as on the members page, ``membership_changes_check``), and an existing
    membership cannot be moved to another user or project: add a new one instead."""

    form = MembershipAdminForm
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "user__email", "project__name"]
    list_select_related = ["user", "project"]
    autocomplete_fields = ["user", "project"]

    def get_readonly_fields(
        self, request: HttpRequest, obj: Membership | None = None
    ) -> list[str] | tuple[str, ...]:
        return ["user", "project"] if obj is not None else []

    def delete_model(self, request: HttpRequest, obj: Membership) -> None:
        memberships_delete(memberships=[obj])

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Membership]) -> None:
        memberships_delete(memberships=queryset.select_related("project"))


class AnnotationLabelInline(admin.TabularInline):
    model = AnnotationLabel
    fields = ["label"]
    readonly_fields = ["label"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Annotation | None = None) -> bool:
        return False


class AnnotationEventInline(admin.TabularInline):
    """The answer's history: every version, who made it, before and after."""

    model = AnnotationEvent
    fields = ["version", "actor", "created_at", "before", "after"]
    readonly_fields = ["version", "actor", "created_at", "before", "after"]
    ordering = ["version"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Annotation | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Annotation | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Annotation | None = None) -> bool:
        return False


class ReadOnlyModelAdmin(admin.ModelAdmin):
    """A list and detail pages that only show: rows written by a service (answers, gold
    labels and their histories) are never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Annotation)
class AnnotationAdmin(ReadOnlyModelAdmin):
    """Read-only: answers change only on the labelling screen, which keeps their versions,
    the progress counts and the conflict checks right."""

    list_display = ["id", "project", "annotator", "segment", "status", "unsure", "version"]
    list_filter = ["status", "unsure", "project"]
    search_fields = ["annotator__username", "comment"]
    list_select_related = ["project", "annotator", "segment"]
    readonly_fields = [
        "project",
        "segment",
        "annotator",
        "status",
        "unsure",
        "comment",
        "time_spent_ms",
        "version",
        "created_at",
        "updated_at",
    ]
    fields = list(readonly_fields)
    inlines = [AnnotationLabelInline, AnnotationEventInline]
    show_full_result_count = False
    # A million answers: no date hierarchy or counts over the whole table.
    list_per_page = 50


class GoldLabelLabelInline(admin.TabularInline):
    model = GoldLabelLabel
    fields = ["label"]
    readonly_fields = ["label"]
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: GoldLabel | None = None) -> bool:
        return False


@admin.register(GoldLabel)
class GoldLabelAdmin(ReadOnlyModelAdmin):
    """Read-only: gold labels change on the review screen, which keeps their versions and
    history; the admin only shows them."""

    list_display = ["id", "project", "segment", "source", "reviewer", "version", "updated_at"]
    list_filter = ["source", "project"]
    search_fields = ["reviewer__username", "note"]
    list_select_related = ["project", "segment", "reviewer"]
    readonly_fields = [
        "project",
        "segment",
        "source",
        "reviewer",
        "note",
        "version",
        "created_at",
        "updated_at",
    ]
    fields = list(readonly_fields)
    inlines = [GoldLabelLabelInline]
    show_full_result_count = False
    list_per_page = 50


@admin.register(GoldLabelEvent)
class GoldLabelEventAdmin(ReadOnlyModelAdmin):
    """The gold labels' history, read-only."""

    list_display = ["id", "project", "segment", "version", "actor", "created_at"]
    list_filter = ["project"]
    list_select_related = ["project", "segment", "actor"]
    readonly_fields = ["project", "segment", "version", "actor", "before", "after", "created_at"]
    fields = list(readonly_fields)
    show_full_result_count = False
    list_per_page = 50


@admin.register(AnnotationEvent)
class AnnotationEventAdmin(ReadOnlyModelAdmin):
    """The answers' history, read-only: written only by annotation_submit."""

    list_display = ["id", "project", "segment", "annotation", "version", "actor", "created_at"]
    list_filter = ["project"]
    list_select_related = ["project", "segment", "actor", "annotation"]
    search_fields = ["actor__username"]
    readonly_fields = [
        "annotation",
        "project",
        "segment",
        "actor",
        "version",
        "before",
        "after",
        "created_at",
    ]
    fields = list(readonly_fields)
    show_full_result_count = False
    list_per_page = 50


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    """Read-only: exports are started from a project (the action above), the Export page or
    ``manage.py export_dataset``; files are downloaded through the access-checked view."""

    list_display = ["id", "project", "status", "rows", "created_by", "created_at", "download"]
    list_filter = ["status", "project"]
    list_select_related = ["project", "created_by"]
    readonly_fields = [
        "project",
        "options",
        "status",
        "rows_done",
        "rows_total",
        "progress_at",
        "created_by",
        "created_at",
        "started_at",
        "finished_at",
        "rows",
        "rows_per_split",
        "skipped",
        "files",
        "path",
        "size",
        "sha256",
        "error",
        "download",
    ]
    fields = list(readonly_fields)

    @admin.display(description="File")
    def download(self, obj: Export) -> str:
        if obj.status != Export.Status.SUCCEEDED:
            return "—"
        url = reverse("annotations:export_download", args=[obj.project.slug, obj.pk])
        return format_html('<a href="{}">Download</a>', url)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Export | None = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        # Exports whose worker died are marked failed before they are listed.
        exports_fail_stale()
        return super().changelist_view(request, extra_context)
