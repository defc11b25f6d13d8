from __future__ import annotations

from django.urls import path

from .views import annotate, imports, labels, members, projects, setup

app_name = "annotations"

urlpatterns = [
    # Projects (views/projects.py)
    path("", projects.project_list, name="home"),
    path("p/<slug:slug>/", projects.project_detail, name="project_detail"),
    # Labelling (views/annotate.py)
    path("p/<slug:slug>/annotate/", annotate.annotate, name="annotate"),
    path(
        "p/<slug:slug>/segments/<int:segment_id>/answer/",
        annotate.annotation_save,
        name="annotation_save",
    ),
    path(
        "p/<slug:slug>/articles/<int:article_id>/",
        annotate.article_detail,
        name="article_detail",
    ),
    # Project set-up (views/setup.py, views/labels.py)
    path("projects/new/", setup.project_create, name="project_create"),
    path("p/<slug:slug>/settings/", setup.project_edit, name="project_edit"),
    path("p/<slug:slug>/labels/", labels.label_set_edit, name="label_set_edit"),
    # Members (views/members.py)
    path("p/<slug:slug>/members/", members.member_list, name="member_list"),
    # Imports (views/imports.py)
    path("p/<slug:slug>/import/", imports.import_upload, name="import_upload"),
]
