from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.forms import Textarea

from .models import Label, LabelSet, Membership, Project


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


class MembershipInline(admin.TabularInline):
    model = Membership
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


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "role", "created_at"]
    list_filter = ["role", "project"]
    search_fields = ["user__username", "user__email", "project__name"]
    list_select_related = ["user", "project"]
    autocomplete_fields = ["user", "project"]
