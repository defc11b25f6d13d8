"""Every URL × every role: the documented access rules, for full pages and htmx requests.

A URL that is not classified in ``MATRIX`` fails ``test_every_url_is_in_the_matrix``, so a
new view cannot ship without a decision about who may use it. The admin site has its own
rules (staff only) and is left out.
"""

from __future__ import annotations

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from annotations.models import Membership
from annotations.services.exports import (
    ExportOptions,
    export_build,
    export_create,
    export_default_path,
)
from articles.models import Segment
from tests.factories import MembershipFactory

# Who may use a URL:
#   public    anyone, logged in or not
#   login     anyone logged in
#   create    superusers, holders of annotations.add_project, managers of any project
#   view      members of the project (any role) and superusers
#   annotate  annotators and managers of the project, superusers
#   review    reviewers and managers of the project, superusers
#   manage    managers of the project, superusers
MATRIX: dict[str, tuple[str, set[str]]] = {
    "login": ("public", {"GET", "POST"}),
    "logout": ("login", {"POST"}),
    "password_change": ("login", {"GET", "POST"}),
    "password_change_done": ("login", {"GET"}),
    "annotations:home": ("login", {"GET"}),
    "annotations:project_create": ("create", {"GET", "POST"}),
    "annotations:project_detail": ("view", {"GET"}),
    "annotations:annotate": ("annotate", {"GET"}),
    "annotations:article_detail": ("annotate", {"GET"}),
    "annotations:annotation_save": ("annotate", {"POST"}),
    "annotations:segment_history": ("manage", {"GET"}),
    "annotations:review": ("review", {"GET"}),
    "annotations:gold_save": ("review", {"POST"}),
    "annotations:data_browser": ("review", {"GET"}),
    "annotations:reviewed": ("annotate", {"GET"}),
    "annotations:dashboard": ("review", {"GET"}),
    "annotations:dashboard_recompute": ("review", {"POST"}),
    "annotations:project_edit": ("manage", {"GET", "POST"}),
    "annotations:label_set_edit": ("manage", {"GET"}),
    "annotations:label_create": ("manage", {"POST"}),
    "annotations:label_update": ("manage", {"POST"}),
    "annotations:label_move": ("manage", {"POST"}),
    "annotations:label_active": ("manage", {"POST"}),
    "annotations:label_delete": ("manage", {"POST"}),
    "annotations:member_list": ("manage", {"GET"}),
    "annotations:member_add": ("manage", {"POST"}),
    "annotations:member_create": ("manage", {"POST"}),
    "annotations:member_password_set": ("manage", {"POST"}),
    "annotations:member_role_change": ("manage", {"POST"}),
    "annotations:member_remove": ("manage", {"POST"}),
    "annotations:import_upload": ("manage", {"GET", "POST"}),
    "annotations:export_list": ("manage", {"GET", "POST"}),
    "annotations:export_status": ("manage", {"GET"}),
    "annotations:export_download": ("manage", {"GET"}),
}

ROLES = ["anonymous", "outsider", "reviewer", "annotator", "manager", "admin_user"]
ALLOWED = {
    "public": set(ROLES),
    "login": set(ROLES) - {"anonymous"},
    "create": {"manager", "admin_user"},
    "view": {"reviewer", "annotator", "manager", "admin_user"},
    "annotate": {"annotator", "manager", "admin_user"},
    "review": {"reviewer", "manager", "admin_user"},
    "manage": {"manager", "admin_user"},
}
PROJECT_SCOPED = {"view", "annotate", "review", "manage"}


def routes() -> dict[str, str]:
    """Every named URL outside the admin, with its route."""
    found: dict[str, str] = {}

    def walk(patterns, namespace: str | None, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if route.startswith("admin/"):
                    continue
                walk(pattern.url_patterns, pattern.namespace or namespace, route)
            elif isinstance(pattern, URLPattern):
                found[f"{namespace}:{pattern.name}" if namespace else pattern.name] = route

    walk(get_resolver().url_patterns, None, "")
    return found


def test_every_url_is_in_the_matrix() -> None:
    assert set(routes()) == set(MATRIX)


def finished_export(project) -> int:
    """A succeeded export of ``project`` with its file in place (so downloads can succeed)."""
    export = export_create(project=project, options=ExportOptions(), by=None)
    export_build(export=export, out=export_default_path(export))
    return export.pk


def url_for(name: str, project) -> str:
    segment = Segment.objects.filter(article__collection=project.collection).first()
    victim = MembershipFactory(project=project, role=Membership.Role.ANNOTATOR)
    values = {
        "slug": project.slug,
        "segment_id": segment.pk,
        "article_id": segment.article_id,
        "label_id": project.label_set.labels.first().pk,
        "membership_id": victim.pk,
    }
    needed = re.findall(r"<(?:\w+:)?(\w+)>", routes()[name])
    if "export_id" in needed:
        values["export_id"] = finished_export(project)
    return reverse(name, kwargs={key: values[key] for key in needed})


CASES = [
    (name, method, role, htmx)
    for name, (_, methods) in MATRIX.items()
    for method in sorted(methods)
    for role in ROLES
    for htmx in (False, True)
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "method", "role", "htmx"), CASES)
def test_the_role_matrix(client, request, project, name, method, role, htmx) -> None:
    capability = MATRIX[name][0]
    if role != "anonymous":
        client.force_login(request.getfixturevalue(role))
    url = url_for(name, project)
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}

    response = client.get(url, **headers) if method == "GET" else client.post(url, **headers)

    if role in ALLOWED[capability]:
        assert response.status_code not in {401, 403, 404, 405}, response.status_code
        assert response.status_code < 500
    elif role == "anonymous":
        if htmx:
            assert response.status_code == 401
        else:
            assert response.status_code == 302
            assert response["Location"].startswith("/accounts/login/?next=")
    elif role == "outsider" and capability in PROJECT_SCOPED:
        assert response.status_code == 404
    else:
        assert response.status_code == 403
    if response.status_code in {401, 403, 404}:
        # A refusal carries no project data.
        assert project.name.encode() not in response.content


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(MATRIX))
def test_methods_outside_the_matrix_are_refused(client, admin_user, project, name) -> None:
    client.force_login(admin_user)
    url = url_for(name, project)
    allowed = MATRIX[name][1]

    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        if method in allowed:
            continue
        response = getattr(client, method.lower())(url)
        assert response.status_code == 405, (method, response.status_code)


@pytest.mark.django_db
def test_another_projects_ids_give_404_to_its_manager(client, project, other_project) -> None:
    manager_elsewhere = MembershipFactory(project=other_project, role=Membership.Role.MANAGER).user
    client.force_login(manager_elsewhere)

    for name, (capability, methods) in MATRIX.items():
        if capability not in PROJECT_SCOPED:
            continue
        url = url_for(name, project)
        for method in methods:
            response = client.get(url) if method == "GET" else client.post(url)
            assert response.status_code == 404, (name, method)
