from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from annotations.models import Label, Membership
from annotations.services.answers import annotation_submit
from articles.models import Segment
from tests.factories import (
    LabelFactory,
    MembershipFactory,
    ProjectFactory,
    labelled_project,
)

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
INJECTION = "{{7*7}} {% debug %} <script>alert(1)</script>"
LABEL_POST_URLS = ["label_update", "label_move", "label_active", "label_delete"]
VALID_POSTS = {
    "label_update": {
        "label-{pk}-name": "Renamed",
        "label-{pk}-slug": "",
        "label-{pk}-description": "",
        "label-{pk}-color": "#123456",
        "label-{pk}-shortcut": "",
    },
    "label_move": {"direction": "down"},
    "label_active": {"active": "0"},
    "label_delete": {},
}


def page_url(project) -> str:
    return reverse("annotations:label_set_edit", kwargs={"slug": project.slug})


def create_url(project) -> str:
    return reverse("annotations:label_create", kwargs={"slug": project.slug})


def label_url(name: str, project, label) -> str:
    return reverse(f"annotations:{name}", kwargs={"slug": project.slug, "label_id": label.pk})


def post_data(name: str, label) -> dict[str, str]:
    return {key.format(pk=label.pk): value for key, value in VALID_POSTS[name].items()}


def labels_of(project) -> list[Label]:
    return list(project.label_set.labels.order_by("order"))


def new_label(**fields: str) -> dict[str, str]:
    data = {"name": "Migration", "slug": "", "description": "", "color": "#e15759", "shortcut": ""}
    data.update(fields)
    return {f"new-{key}": value for key, value in data.items()}


def edit_data(label, **fields: str) -> dict[str, str]:
    data = {
        "name": label.name,
        "slug": label.slug,
        "description": label.description,
        "color": label.color,
        "shortcut": label.shortcut,
    }
    data.update(fields)
    return {f"label-{label.pk}-{key}": value for key, value in data.items()}


def project_with_labels(count: int, **fields: object):
    """A project with ``count`` labels (keys 1…9, then none), managed through fixtures."""
    project = labelled_project(labels=min(count, 9), **fields)
    for order in range(9, count):
        LabelFactory(label_set=project.label_set, name=f"Theme {order + 1}", order=order)
    return project


def use(project, label, count: int = 1) -> None:
    """``count`` annotations of ``project`` that carry ``label``, by a fresh annotator."""
    annotator = MembershipFactory(project=project).user
    # Each call adds another person's answers to the same segments: room for all of them.
    project.annotators_per_segment = 10
    project.save(update_fields=["annotators_per_segment"])
    segments = Segment.objects.filter(article__collection=project.collection).order_by("pk")
    for segment in segments[:count]:
        annotation_submit(project=project, segment=segment, annotator=annotator, labels=[label])


@pytest.fixture
def shared_project(project):
    """Another team's project that labels with `project`'s label set."""
    other = ProjectFactory(name="Other team sharing", label_set=project.label_set)
    MembershipFactory(project=other, role=Membership.Role.MANAGER)
    return other


# --- The page ---


def test_manager_sees_the_labels_in_order_with_their_guidelines_and_uses(
    client, project, manager
) -> None:
    first, second, *_ = labels_of(project)
    use(project, second, 2)
    client.force_login(manager)

    response = client.get(page_url(project))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert html.index("Theme 1") < html.index("Theme 2") < html.index("Theme 4")
    assert "Use theme 1 when the segment is about it." in html
    assert "Used by 2 annotations" in html
    assert f'data-color="{first.color}"' in html
    assert 'type="color"' in html
    assert " style=" not in html


def test_the_page_offers_delete_only_for_unused_labels(client, project, manager) -> None:
    first, second, *_ = labels_of(project)
    use(project, second)
    client.force_login(manager)

    html = client.get(page_url(project)).content.decode()

    assert label_url("label_delete", project, first) in html
    assert label_url("label_delete", project, second) not in html


def test_an_htmx_request_gets_the_editor_partial(client, project, manager) -> None:
    client.force_login(manager)

    response = client.get(page_url(project), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="label-editor"' in html


def test_the_page_rejects_post(client, project, manager) -> None:
    client.force_login(manager)

    assert client.post(page_url(project)).status_code == 405


def test_anonymous_is_sent_to_log_in_or_gets_401_from_htmx(client, project) -> None:
    response = client.get(page_url(project))

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert client.get(page_url(project), **HTMX).status_code == 401
    assert client.post(create_url(project), new_label(), **HTMX).status_code == 401
    assert not project.label_set.labels.filter(name="Migration").exists()


def test_outsider_gets_404(client, project, outsider) -> None:
    client.force_login(outsider)

    assert client.get(page_url(project)).status_code == 404
    assert client.post(create_url(project), new_label()).status_code == 404


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_members_who_do_not_manage_get_403(client, project, persona, request) -> None:
    client.force_login(request.getfixturevalue(persona))
    label = labels_of(project)[0]

    assert client.get(page_url(project)).status_code == 403
    assert client.post(create_url(project), new_label()).status_code == 403
    for name in LABEL_POST_URLS:
        assert (
            client.post(label_url(name, project, label), post_data(name, label)).status_code == 403
        )
    assert labels_of(project)[0].name == "Theme 1"


def test_the_page_needs_a_constant_number_of_queries(
    client, manager, django_assert_max_num_queries
) -> None:
    client.force_login(manager)
    small = project_with_labels(4)
    big = project_with_labels(30, articles=4)
    for project in (small, big):
        MembershipFactory(project=project, user=manager, role=Membership.Role.MANAGER)
        for label in labels_of(project)[:3]:
            use(project, label, 3)

    for project in (small, big):
        with django_assert_max_num_queries(5):
            response = client.get(page_url(project))
        assert response.status_code == 200


def test_template_syntax_and_markup_in_names_is_shown_literally(client, project, manager) -> None:
    LabelFactory(label_set=project.label_set, name=INJECTION, description=INJECTION, order=9)
    project.label_set.name = INJECTION
    project.label_set.save()
    project.name = INJECTION
    project.save()
    client.force_login(manager)

    html = client.get(page_url(project)).content.decode()

    assert "{{7*7}} {% debug %} &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html


# --- Adding ---


def test_manager_adds_a_label_at_the_end_with_a_slug_from_its_name(
    client, project, manager
) -> None:
    client.force_login(manager)

    response = client.post(
        create_url(project),
        new_label(name="Migration & asylum", description="People moving.", shortcut="M"),
    )

    label = project.label_set.labels.get(name="Migration & asylum")
    assert response.status_code == 302
    assert response.url == f"{page_url(project)}#label-{label.pk}"
    assert (label.slug, label.order, label.shortcut, label.color) == (
        "migration-asylum",
        4,
        "m",
        "#e15759",
    )
    assert label.description == "People moving."


def test_a_derived_slug_is_made_unique_within_the_set(client, project, manager) -> None:
    client.force_login(manager)

    client.post(create_url(project), new_label(name="Theme-1"))

    assert project.label_set.labels.get(name="Theme-1").slug == "theme-1-2"


def test_adding_with_htmx_returns_the_editor_with_the_new_label(client, project, manager) -> None:
    client.force_login(manager)

    response = client.post(create_url(project), new_label(), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert 'id="label-editor"' in html
    assert "Migration" in html


def test_the_first_label_of_an_empty_set_gets_order_zero(client, manager) -> None:
    empty = labelled_project(labels=0)
    MembershipFactory(project=empty, user=manager, role=Membership.Role.MANAGER)
    client.force_login(manager)

    assert "No labels yet" in client.get(page_url(empty)).content.decode()
    client.post(create_url(empty), new_label())

    assert [label.order for label in labels_of(empty)] == [0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"shortcut": "s"}, "labelling screen&#x27;s key for skip"),
        ({"shortcut": "u"}, "labelling screen&#x27;s key for unsure"),
        ({"shortcut": "1"}, "already the key of “Theme 1”"),
        ({"shortcut": "?"}, "single lowercase letter or digit"),
        ({"name": "theme 2"}, "already has a label called “Theme 2”"),
        ({"slug": "theme-3"}, "“Theme 3” already has this slug"),
        ({"slug": "Not a slug!"}, "Enter a valid"),
        ({"color": "red"}, "Use a colour like #1f77b4."),
        ({"name": ""}, "This field is required."),
    ],
)
def test_an_invalid_label_is_refused_with_its_message_and_400(
    client, project, manager, fields, message
) -> None:
    client.force_login(manager)

    response = client.post(create_url(project), new_label(**fields), **HTMX)

    assert response.status_code == 400
    assert message in response.content.decode()
    assert project.label_set.labels.count() == 4


def test_an_invalid_label_without_htmx_gets_the_full_page_with_400(
    client, project, manager
) -> None:
    client.force_login(manager)

    response = client.post(create_url(project), new_label(shortcut="s"))

    assert response.status_code == 400
    assert "<html" in response.content.decode()


# --- Editing ---


def test_an_htmx_edit_returns_the_saved_row(client, project, manager) -> None:
    label = labels_of(project)[1]
    client.force_login(manager)

    response = client.post(
        label_url("label_update", project, label),
        edit_data(label, name="Renamed", color="#abcdef", shortcut="x", description="New rule."),
        **HTMX,
    )

    html = response.content.decode()
    label.refresh_from_db()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith(f'<li id="label-{label.pk}"')
    assert (label.name, label.color, label.shortcut, label.description) == (
        "Renamed",
        "#abcdef",
        "x",
        "New rule.",
    )
    assert label.slug == "theme-2"  # kept
    assert 'data-color="#abcdef"' in html


def test_an_empty_slug_keeps_the_current_one(client, project, manager) -> None:
    label = labels_of(project)[0]
    client.force_login(manager)

    response = client.post(label_url("label_update", project, label), edit_data(label, slug=""))

    label.refresh_from_db()
    assert response.status_code == 302
    assert label.slug == "theme-1"


def test_an_invalid_edit_rerenders_the_row_with_errors_and_changes_nothing(
    client, project, manager
) -> None:
    label = labels_of(project)[0]
    client.force_login(manager)

    response = client.post(
        label_url("label_update", project, label),
        edit_data(label, name="Half-edited", shortcut="b"),
        **HTMX,
    )

    html = response.content.decode()
    label.refresh_from_db()
    assert response.status_code == 400
    assert html.lstrip().startswith(f'<li id="label-{label.pk}"')
    assert "labelling screen&#x27;s key for back" in html
    assert '<details class="label-edit" open>' in html
    assert label.name == "Theme 1"
    assert label.shortcut == "1"
    chip = '<span class="chip" data-color="#4c78a8"><span class="swatch"></span>Theme 1</span>'
    assert chip in html


def test_a_label_may_keep_its_own_shortcut(client, project, manager) -> None:
    label = labels_of(project)[0]
    client.force_login(manager)

    response = client.post(
        label_url("label_update", project, label), edit_data(label, name="Theme one")
    )

    assert response.status_code == 302


# --- Order, activity, deletion ---


def test_moving_swaps_neighbours_and_keeps_the_order_dense(client, project, manager) -> None:
    first, second, third, fourth = labels_of(project)
    client.force_login(manager)

    client.post(label_url("label_move", project, third), {"direction": "up"})
    client.post(label_url("label_move", project, first), {"direction": "up"})  # already first
    client.post(label_url("label_move", project, fourth), {"direction": "down"})  # already last
    response = client.post(label_url("label_move", project, first), {"direction": "down"}, **HTMX)

    assert response.status_code == 200
    assert 'id="label-list"' in response.content.decode()
    assert [label.pk for label in labels_of(project)] == [
        third.pk,
        first.pk,
        second.pk,
        fourth.pk,
    ]
    assert [label.order for label in labels_of(project)] == [0, 1, 2, 3]


def test_a_move_needs_a_direction(client, project, manager) -> None:
    label = labels_of(project)[0]
    client.force_login(manager)

    response = client.post(label_url("label_move", project, label), {"direction": "sideways"})

    assert response.status_code == 400


def test_deactivating_and_reactivating_a_label(client, project, manager) -> None:
    label = labels_of(project)[0]
    client.force_login(manager)

    response = client.post(label_url("label_active", project, label), {"active": "0"}, **HTMX)
    label.refresh_from_db()
    assert response.status_code == 200
    assert not label.active
    assert "Reactivate" in response.content.decode()

    response = client.post(label_url("label_active", project, label), {"active": "1"})
    label.refresh_from_db()
    assert response.status_code == 302
    assert label.active

    response = client.post(label_url("label_active", project, label), {"active": "maybe"})
    assert response.status_code == 400


def test_deleting_an_unused_label_closes_the_gap(client, project, manager) -> None:
    first, second, third, fourth = labels_of(project)
    client.force_login(manager)

    response = client.post(label_url("label_delete", project, second), **HTMX)

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert not Label.objects.filter(pk=second.pk).exists()
    assert [(label.pk, label.order) for label in labels_of(project)] == [
        (first.pk, 0),
        (third.pk, 1),
        (fourth.pk, 2),
    ]


def test_deleting_a_used_label_is_refused_with_a_message(client, project, manager) -> None:
    label = labels_of(project)[0]
    use(project, label, 3)
    client.force_login(manager)

    response = client.post(label_url("label_delete", project, label), follow=True)

    assert response.status_code == 200
    assert "“Theme 1” is used by 3 annotations" in response.content.decode()
    assert Label.objects.filter(pk=label.pk).exists()


def test_deleting_a_used_label_with_htmx_rerenders_its_row_with_409(
    client, project, manager
) -> None:
    label = labels_of(project)[0]
    use(project, label)
    client.force_login(manager)

    response = client.post(label_url("label_delete", project, label), **HTMX)

    assert response.status_code == 409
    assert response["HX-Retarget"] == f"#label-{label.pk}"
    assert "is used by 1 annotation," in response.content.decode()
    assert Label.objects.filter(pk=label.pk).exists()


# --- Scope and sharing ---


@pytest.mark.parametrize("name", LABEL_POST_URLS)
def test_a_label_of_another_projects_set_is_404(client, project, other_project, manager, name):
    foreign = labels_of(other_project)[0]
    client.force_login(manager)

    response = client.post(label_url(name, project, foreign), post_data(name, foreign))

    assert response.status_code == 404
    assert Label.objects.get(pk=foreign.pk).name == foreign.name
    assert Label.objects.get(pk=foreign.pk).active


def test_a_set_shared_with_another_teams_project_is_read_only(
    client, project, shared_project, manager
) -> None:
    client.force_login(manager)

    response = client.get(page_url(project))

    html = response.content.decode()
    assert response.status_code == 200
    assert "also used by a project you do not manage" in html
    assert '<form method="post" action="/p/' not in html
    assert shared_project.name not in html
    assert "Theme 1" in html


@pytest.mark.parametrize("name", LABEL_POST_URLS)
def test_every_change_to_a_shared_set_is_403(client, project, shared_project, manager, name):
    label = labels_of(project)[0]
    client.force_login(manager)

    response = client.post(label_url(name, project, label), post_data(name, label))

    assert response.status_code == 403
    assert Label.objects.get(pk=label.pk).name == "Theme 1"
    assert client.post(create_url(project), new_label()).status_code == 403
    assert project.label_set.labels.count() == 4


def test_a_superuser_may_edit_a_shared_set(client, project, shared_project, admin_user) -> None:
    client.force_login(admin_user)

    html = client.get(page_url(project)).content.decode()

    assert "you do not manage" not in html
    assert shared_project.name in html
    assert client.post(create_url(project), new_label()).status_code == 302


def test_a_manager_of_every_sharing_project_may_edit_and_is_told_of_them(
    client, project, shared_project, manager
) -> None:
    MembershipFactory(project=shared_project, user=manager, role=Membership.Role.MANAGER)
    client.force_login(manager)

    html = client.get(page_url(project)).content.decode()

    assert "changes here apply there too" in html
    assert shared_project.name in html
    assert client.post(create_url(project), new_label()).status_code == 302


# --- Methods and CSRF ---


@pytest.mark.parametrize("name", LABEL_POST_URLS)
def test_label_actions_reject_get(client, project, manager, name) -> None:
    client.force_login(manager)

    assert client.get(label_url(name, project, labels_of(project)[0])).status_code == 405
    assert client.get(create_url(project)).status_code == 405


@pytest.mark.parametrize("name", ["label_create", *LABEL_POST_URLS])
def test_label_actions_need_the_csrf_token(project, manager, name) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    client.get(page_url(project))
    token = client.cookies["csrftoken"].value
    label = labels_of(project)[0]
    if name == "label_create":
        url, data = create_url(project), new_label()
    else:
        url, data = label_url(name, project, label), post_data(name, label)

    assert client.post(url, data).status_code == 403
    assert client.post(url, data, HTTP_X_CSRFTOKEN=token, **HTMX).status_code == 200


@pytest.mark.parametrize(
    ("name", "queries"),
    [
        ("label_create", 12),
        ("label_update", 10),
        ("label_move", 10),
        ("label_active", 6),
        # Deleting checks the PROTECT links: answers and gold labels.
        ("label_delete", 14),
    ],
)
def test_label_actions_need_a_constant_number_of_queries(
    client, manager, name, queries, django_assert_max_num_queries
) -> None:
    client.force_login(manager)
    for size in (4, 30):
        project = project_with_labels(size)
        MembershipFactory(project=project, user=manager, role=Membership.Role.MANAGER)
        label = labels_of(project)[1]
        use(project, labels_of(project)[0], 3)
        if name == "label_create":
            url, data = create_url(project), new_label()
        else:
            url, data = label_url(name, project, label), post_data(name, label)
        with django_assert_max_num_queries(queries):
            response = client.post(url, data, **HTMX)
        assert response.status_code == 200
