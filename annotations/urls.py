from __future__ import annotations

from django.urls import path

from .views import (
    annotate,
    browse,
    dashboard,
    exports,
    history,
    imports,
    labels,
    members,
    projects,
    review,
    setup,
)

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
        "p/<slug:slug>/segments/<int:segment_id>/history/",
        history.segment_history,
        name="segment_history",
    ),
    path(
        "p/<slug:slug>/articles/<int:article_id>/",
        annotate.article_detail,
        name="article_detail",
    ),
    # Review and the data browser (views/review.py, views/browse.py)
    path("p/<slug:slug>/review/", review.review, name="review"),
    path("p/<slug:slug>/review/<int:segment_id>/", review.gold_save, name="gold_save"),
    path("p/<slug:slug>/reviewed/", review.reviewed, name="reviewed"),
    path("p/<slug:slug>/browse/", browse.data_browser, name="data_browser"),
    # Team dashboard (views/dashboard.py)
    path("p/<slug:slug>/dashboard/", dashboard.dashboard, name="dashboard"),
    path(
        "p/<slug:slug>/dashboard/recompute/",
        dashboard.dashboard_recompute,
        name="dashboard_recompute",
    ),
    # Project set-up (views/setup.py, views/labels.py)
    path("projects/new/", setup.project_create, name="project_create"),
    path("p/<slug:slug>/settings/", setup.project_edit, name="project_edit"),
    path("p/<slug:slug>/labels/", labels.label_set_edit, name="label_set_edit"),
    path("p/<slug:slug>/labels/add/", labels.label_create, name="label_create"),
    path("p/<slug:slug>/labels/<int:label_id>/edit/", labels.label_update, name="label_update"),
    path("p/<slug:slug>/labels/<int:label_id>/move/", labels.label_move, name="label_move"),
    path("p/<slug:slug>/labels/<int:label_id>/active/", labels.label_active, name="label_active"),
    path("p/<slug:slug>/labels/<int:label_id>/delete/", labels.label_delete, name="label_delete"),
    # Members (views/members.py)
    path("p/<slug:slug>/members/", members.member_list, name="member_list"),
    path("p/<slug:slug>/members/add/", members.member_add, name="member_add"),
    path("p/<slug:slug>/members/new/", members.member_create, name="member_create"),
    path(
        "p/<slug:slug>/members/password/", members.member_password_set, name="member_password_set"
    ),
    path(
        "p/<slug:slug>/members/<int:membership_id>/role/",
        members.member_role_change,
        name="member_role_change",
    ),
    path(
        "p/<slug:slug>/members/<int:membership_id>/remove/",
        members.member_remove,
        name="member_remove",
    ),
    # Imports (views/imports.py)
    path("p/<slug:slug>/import/", imports.import_upload, name="import_upload"),
    # Dataset exports (views/exports.py)
    path("p/<slug:slug>/exports/", exports.export_list, name="export_list"),
    path("p/<slug:slug>/exports/<int:export_id>/", exports.export_status, name="export_status"),
    path(
        "p/<slug:slug>/exports/<int:export_id>/download/",
        exports.export_download,
        name="export_download",
    ),
]
