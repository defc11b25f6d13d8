from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from annotations.models import LabelSet, Membership, Project
from annotations.services.answers import annotation_submit
from articles.models import Collection, Segment
from tests.factories import MembershipFactory, UserFactory, labelled_project

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
CREATE = reverse("annotations:project_create")
INJECTION = "{{7*7}} {% debug %} <script>alert(1)</script>"
SHOWN = "{{7*7}} {% debug %} &lt;script&gt;alert(1)&lt;/script&gt;"


def select_of(html: str, name: str) -> str:
    """The markup of the <select name=…> in ``html`` (collection and label-set ids overlap)."""
    match = re.search(rf'<select name="{name}".*?</select>', html, re.S)
    assert match, f"no <select name={name}>"
    return match.group(0)


def edit_url(project) -> str:
    return reverse("annotations:project_edit", kwargs={"slug": project.slug})


def new_project(**fields: object) -> dict[str, object]:
    data = {
        "name": "Climate coverage",
        "slug": "",
        "description": "Label each paragraph with its themes.",
        "collection": "",
        "new_collection": "Climate articles",
        "label_set": "",
        "new_label_set": "Climate themes",
        "multi_label": "on",
        "annotators_per_segment": "2",
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def settings_of(project, **fields: object) -> dict[str, object]:
    data = {
        "name": project.name,
        "description": project.description,
        "multi_label": "on" if project.multi_label else None,
        "annotators_per_segment": str(project.annotators_per_segment),
    }
    data.update(fields)
    return {key: value for key, value in data.items() if value is not None}


def answer_with_labels(project, how_many_labels: list[int]) -> None:
    """One annotation per entry, by a fresh annotator, with that many labels."""
    annotator = MembershipFactory(project=project).user
    # Each call adds another person's answers to the same segments: room for all of them.
    Project.objects.filter(pk=project.pk).update(annotators_per_segment=10)
    project.annotators_per_segment = 10
    labels = list(project.label_set.labels.order_by("order"))
    segments = Segment.objects.filter(article__collection=project.collection).order_by("pk")
    for segment, count in zip(segments, how_many_labels, strict=False):
        annotation_submit(
            project=project, segment=segment, annotator=annotator, labels=labels[:count]
        )


# --- Creating a project: access ---


def test_a_manager_sees_the_new_project_form(client, manager) -> None:
    client.force_login(manager)

    response = client.get(CREATE)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert 'name="new_collection"' in html
    assert 'name="annotators_per_segment"' in html


def test_an_htmx_request_gets_the_form_partial(client, manager) -> None:
    client.force_login(manager)

    response = client.get(CREATE, **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert html.lstrip().startswith('<form id="project-form"')


def test_creating_rejects_other_methods(client, manager) -> None:
    client.force_login(manager)

    assert client.put(CREATE).status_code == 405
    assert client.delete(CREATE).status_code == 405


def test_anonymous_is_sent_to_log_in_or_gets_401_from_htmx(client, db) -> None:
    response = client.get(CREATE)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert client.post(CREATE, new_project(), **HTMX).status_code == 401
    assert not Project.objects.exists()


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "outsider"])
def test_people_who_manage_nothing_may_not_create_projects(client, persona, request) -> None:
    client.force_login(request.getfixturevalue(persona))

    assert client.get(CREATE).status_code == 403
    assert client.post(CREATE, new_project()).status_code == 403
    assert not Project.objects.filter(name="Climate coverage").exists()


def test_holders_of_the_add_project_permission_may_create_projects(client, db) -> None:
    user = UserFactory()
    user.user_permissions.add(Permission.objects.get(codename="add_project"))
    client.force_login(user)

    assert client.get(CREATE).status_code == 200
    response = client.post(CREATE, new_project())

    project = Project.objects.get(name="Climate coverage")
    assert response.status_code == 302
    assert Membership.objects.get(project=project, user=user).role == Membership.Role.MANAGER


# --- Creating a project: what is offered and what is made ---


def test_the_pick_lists_offer_only_what_my_managed_projects_use(
    client, project, other_project, manager
) -> None:
    reviewed = labelled_project(name="Reviewed elsewhere")
    MembershipFactory(project=reviewed, user=manager, role=Membership.Role.REVIEWER)
    client.force_login(manager)

    html = client.get(CREATE).content.decode()
    collections, label_sets = select_of(html, "collection"), select_of(html, "label_set")

    assert f'<option value="{project.collection.pk}">{project.collection.name} (' in collections
    assert f'<option value="{project.label_set.pk}">{project.label_set.name} (4 labels)' in (
        label_sets
    )
    for foreign in (other_project, reviewed):
        assert f'<option value="{foreign.collection.pk}">' not in collections
        assert f'<option value="{foreign.label_set.pk}">' not in label_sets


def test_a_superuser_is_offered_every_collection_and_label_set(
    client, project, other_project, admin_user
) -> None:
    client.force_login(admin_user)

    html = client.get(CREATE).content.decode()

    for shown in (project, other_project):
        assert f'<option value="{shown.collection.pk}">' in select_of(html, "collection")
        assert f'<option value="{shown.label_set.pk}">' in select_of(html, "label_set")


@pytest.mark.parametrize("field", ["collection", "label_set"])
def test_another_teams_collection_or_label_set_is_refused(
    client, project, other_project, manager, field
) -> None:
    client.force_login(manager)
    foreign = getattr(other_project, field)
    data = new_project(**{field: str(foreign.pk), f"new_{field}": ""})

    response = client.post(CREATE, data)

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not Project.objects.filter(name="Climate coverage").exists()


def test_creating_with_a_new_collection_and_label_set_leads_to_the_label_editor(
    client, manager
) -> None:
    client.force_login(manager)

    response = client.post(CREATE, new_project())

    project = Project.objects.get(name="Climate coverage")
    assert response.status_code == 302
    assert response.url == reverse("annotations:label_set_edit", kwargs={"slug": project.slug})
    assert project.slug == "climate-coverage"
    assert project.collection.name == "Climate articles"
    assert project.collection.slug == "climate-articles"
    assert project.label_set.name == "Climate themes"
    assert not project.label_set.labels.exists()
    assert (project.multi_label, project.annotators_per_segment) == (True, 2)
    assert project.description == "Label each paragraph with its themes."
    assert project.memberships.get().user == manager
    assert project.memberships.get().role == Membership.Role.MANAGER


def test_creating_with_a_picked_label_set_shares_it_and_leads_to_the_project(
    client, project, manager
) -> None:
    client.force_login(manager)
    data = new_project(
        collection=str(project.collection.pk),
        new_collection="",
        label_set=str(project.label_set.pk),
        new_label_set="",
        multi_label=None,
    )

    response = client.post(CREATE, data)

    created = Project.objects.get(name="Climate coverage")
    assert response.status_code == 302
    assert response.url == reverse("annotations:project_detail", kwargs={"slug": created.slug})
    assert created.label_set == project.label_set
    assert created.collection == project.collection
    assert created.multi_label is False


def test_an_htmx_create_answers_with_a_client_redirect(client, manager) -> None:
    client.force_login(manager)

    response = client.post(CREATE, new_project(), **HTMX)

    project = Project.objects.get(name="Climate coverage")
    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse(
        "annotations:label_set_edit", kwargs={"slug": project.slug}
    )


def test_a_derived_slug_is_made_unique(client, project, manager) -> None:
    client.force_login(manager)

    client.post(CREATE, new_project(name=project.name))

    assert Project.objects.filter(name=project.name).order_by("pk").last().slug == "team-project-2"


def test_a_chosen_slug_that_is_taken_is_refused_and_nothing_is_created(
    client, project, manager
) -> None:
    client.force_login(manager)
    collections, label_sets = Collection.objects.count(), LabelSet.objects.count()

    response = client.post(CREATE, new_project(slug=project.slug), **HTMX)

    assert response.status_code == 400
    assert "Another project has this address." in response.content.decode()
    assert (Collection.objects.count(), LabelSet.objects.count()) == (collections, label_sets)


def test_a_new_collection_name_that_is_taken_is_refused_and_nothing_is_created(
    client, project, other_project, manager
) -> None:
    client.force_login(manager)
    label_sets = LabelSet.objects.count()

    response = client.post(CREATE, new_project(new_collection=other_project.collection.name))

    assert response.status_code == 400
    assert "A collection with this name already exists" in response.content.decode()
    assert LabelSet.objects.count() == label_sets
    assert not Project.objects.filter(name="Climate coverage").exists()


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"collection": "{pk}"}, "Pick an existing collection or name a new one, not both."),
        ({"new_collection": ""}, "Pick an existing collection or name a new one."),
        ({"new_label_set": ""}, "Pick an existing label set or name a new one."),
        ({"annotators_per_segment": "0"}, "greater than or equal to 1"),
        ({"annotators_per_segment": "11"}, "less than or equal to 10"),
        ({"name": ""}, "This field is required."),
        ({"slug": "not a slug"}, "Enter a valid"),
    ],
)
def test_an_invalid_project_is_refused_with_its_message(
    client, project, manager, fields, message
) -> None:
    client.force_login(manager)
    fields = {key: value.format(pk=project.collection.pk) for key, value in fields.items()}

    response = client.post(CREATE, new_project(**fields))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert Project.objects.count() == 1


def test_template_syntax_and_markup_in_a_new_project_are_kept_literally(client, manager) -> None:
    client.force_login(manager)

    client.post(
        CREATE,
        new_project(name=INJECTION, description=INJECTION, new_label_set=INJECTION),
    )

    project = Project.objects.get(name=INJECTION)
    assert project.slug == "77-debug-scriptalert1script"
    html = client.get(edit_url(project)).content.decode()
    assert html.count(SHOWN) >= 4  # title, heading, name field, description, label set
    assert "<script>alert(1)" not in html


def test_creating_needs_the_csrf_token(manager) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    client.get(CREATE)
    token = client.cookies["csrftoken"].value

    assert client.post(CREATE, new_project()).status_code == 403
    assert not Project.objects.filter(name="Climate coverage").exists()
    response = client.post(CREATE, new_project(), HTTP_X_CSRFTOKEN=token, **HTMX)
    assert response.status_code == 200
    assert Project.objects.filter(name="Climate coverage").exists()


def test_creating_needs_a_constant_number_of_queries(
    client, manager, django_assert_max_num_queries
) -> None:
    client.force_login(manager)
    for count in (1, 8):
        for _ in range(count):
            MembershipFactory(
                project=labelled_project(labels=2, articles=1),
                user=manager,
                role=Membership.Role.MANAGER,
            )
        with django_assert_max_num_queries(7):
            assert client.get(CREATE).status_code == 200
        picked = Project.objects.filter(memberships__user=manager).last()
        data = new_project(
            name=f"Climate {count}",
            collection=str(picked.collection_id),
            new_collection="",
            new_label_set=f"Themes {count}",
        )
        with django_assert_max_num_queries(14):
            assert client.post(CREATE, data).status_code == 302


# --- Project settings ---


def test_a_manager_sees_the_settings_form(client, project, manager) -> None:
    client.force_login(manager)

    response = client.get(edit_url(project))

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" in html
    assert f'value="{project.name}"' in html
    assert reverse("annotations:label_set_edit", kwargs={"slug": project.slug}) in html


def test_settings_for_htmx_are_the_form_partial(client, project, manager) -> None:
    client.force_login(manager)

    response = client.get(edit_url(project), **HTMX)

    assert response.status_code == 200
    assert "<html" not in response.content.decode()


def test_settings_reject_other_methods(client, project, manager) -> None:
    client.force_login(manager)

    assert client.put(edit_url(project)).status_code == 405
    assert client.delete(edit_url(project)).status_code == 405


def test_settings_send_anonymous_to_log_in_or_401_for_htmx(client, project) -> None:
    assert client.get(edit_url(project)).url.startswith("/accounts/login/")
    assert client.post(edit_url(project), settings_of(project), **HTMX).status_code == 401


def test_settings_are_404_for_an_outsider(client, project, outsider) -> None:
    client.force_login(outsider)

    assert client.get(edit_url(project)).status_code == 404
    assert client.post(edit_url(project), settings_of(project, name="Taken")).status_code == 404


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
def test_settings_are_403_for_members_who_do_not_manage(client, project, persona, request):
    client.force_login(request.getfixturevalue(persona))

    assert client.get(edit_url(project)).status_code == 403
    assert client.post(edit_url(project), settings_of(project, name="Taken")).status_code == 403
    project.refresh_from_db()
    assert project.name == "Team project"


def test_a_manager_changes_the_settings(client, project, manager) -> None:
    client.force_login(manager)

    response = client.post(
        edit_url(project),
        settings_of(project, name="Renamed", description="New intro.", annotators_per_segment="3"),
    )

    project.refresh_from_db()
    assert response.status_code == 302
    assert response.url == reverse("annotations:project_detail", kwargs={"slug": project.slug})
    assert (project.name, project.description, project.annotators_per_segment) == (
        "Renamed",
        "New intro.",
        3,
    )


def test_an_htmx_save_returns_the_form_saying_so(client, project, manager) -> None:
    client.force_login(manager)

    response = client.post(edit_url(project), settings_of(project, name="Renamed"), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in html
    assert "Settings saved." in html
    assert 'value="Renamed"' in html


@pytest.mark.parametrize("value", ["0", "11", "many"])
def test_annotators_per_segment_must_be_between_1_and_10(client, project, manager, value):
    client.force_login(manager)

    response = client.post(edit_url(project), settings_of(project, annotators_per_segment=value))

    project.refresh_from_db()
    assert response.status_code == 400
    assert project.annotators_per_segment == 1


def test_switching_to_one_label_is_refused_while_answers_have_several(
    client, project, manager
) -> None:
    answer_with_labels(project, [2, 3, 1])
    client.force_login(manager)

    response = client.post(
        edit_url(project), settings_of(project, name="Renamed", multi_label=None), **HTMX
    )

    html = response.content.decode()
    project.refresh_from_db()
    assert response.status_code == 400
    assert "2 annotations have several labels" in html
    assert project.multi_label is True
    assert project.name == "Team project"  # nothing half-changed


def test_one_multi_labelled_answer_is_named_in_the_singular(client, project, manager) -> None:
    answer_with_labels(project, [2])
    client.force_login(manager)

    response = client.post(edit_url(project), settings_of(project, multi_label=None))

    assert "1 annotation has several labels" in response.content.decode()


def test_switching_to_one_label_works_when_every_answer_has_one(client, project, manager) -> None:
    answer_with_labels(project, [1, 1])
    client.force_login(manager)

    response = client.post(edit_url(project), settings_of(project, multi_label=None))

    project.refresh_from_db()
    assert response.status_code == 302
    assert project.multi_label is False


def test_settings_show_template_syntax_and_markup_literally(client, project, manager) -> None:
    client.force_login(manager)

    client.post(edit_url(project), settings_of(project, name=INJECTION, description=INJECTION))

    project.refresh_from_db()
    assert project.name == INJECTION
    html = client.get(edit_url(project)).content.decode()
    assert SHOWN in html
    assert "<script>alert(1)" not in html


def test_settings_need_the_csrf_token(project, manager) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    client.get(edit_url(project))
    token = client.cookies["csrftoken"].value

    assert client.post(edit_url(project), settings_of(project, name="X")).status_code == 403
    response = client.post(
        edit_url(project), settings_of(project, name="X"), HTTP_X_CSRFTOKEN=token, **HTMX
    )
    assert response.status_code == 200
    project.refresh_from_db()
    assert project.name == "X"


def test_settings_need_a_constant_number_of_queries(
    client, manager, django_assert_max_num_queries
) -> None:
    client.force_login(manager)
    for labels in ([1] * 2, [2] * 6):
        project = labelled_project(articles=2, paragraphs=3)
        MembershipFactory(project=project, user=manager, role=Membership.Role.MANAGER)
        answer_with_labels(project, labels)
        with django_assert_max_num_queries(4):
            assert client.get(edit_url(project)).status_code == 200
        with django_assert_max_num_queries(8):
            client.post(edit_url(project), settings_of(project, multi_label=None))
