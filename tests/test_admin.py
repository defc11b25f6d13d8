"""Every model is in the admin, and its pages stay cheap as the data grows."""

from __future__ import annotations

import pytest
from django.urls import reverse

from annotations.models import Annotation, AnnotationEvent, GoldLabel, GoldLabelEvent, Membership
from annotations.services.answers import annotation_submit
from articles.models import Article, Segment
from tests.factories import (
    LabelFactory,
    MembershipFactory,
    SegmentedArticleFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MODELS = [
    "articles.collection",
    "articles.article",
    "articles.segment",
    "articles.importbatch",
    "annotations.labelset",
    "annotations.label",
    "annotations.project",
    "annotations.membership",
    "annotations.annotation",
    "annotations.goldlabel",
    "annotations.goldlabelevent",
    "annotations.annotationevent",
]


@pytest.fixture
def admin_client_with_data(client):
    admin = UserFactory(username="boss", is_staff=True, is_superuser=True)
    SegmentedArticleFactory.create_batch(3)
    LabelFactory.create_batch(3)
    for membership in MembershipFactory.create_batch(3):
        project = membership.project
        SegmentedArticleFactory(collection=project.collection)
        label = LabelFactory(label_set=project.label_set)
        annotation_submit(
            project=project,
            segment=Segment.objects.filter(article__collection=project.collection).first(),
            annotator=membership.user,
            labels=[label],
        )
        segment = Segment.objects.filter(article__collection=project.collection).last()
        gold = GoldLabel.objects.create(
            project=project, segment=segment, source=GoldLabel.Source.ADJUDICATED, reviewer=admin
        )
        gold.labels.set([label])
        GoldLabelEvent.objects.create(
            project=project, segment=segment, actor=admin, version=1, after={"labels": [label.pk]}
        )
    client.force_login(admin)
    return client


@pytest.mark.parametrize("model", MODELS)
def test_changelist_renders_for_every_model(admin_client_with_data, model: str) -> None:
    app, name = model.split(".")

    response = admin_client_with_data.get(reverse(f"admin:{app}_{name}_changelist"))

    assert response.status_code == 200


@pytest.mark.parametrize("model", MODELS)
def test_changelist_queries_do_not_grow_with_rows(
    admin_client_with_data, django_assert_max_num_queries, model: str
) -> None:
    app, name = model.split(".")
    with django_assert_max_num_queries(12):
        admin_client_with_data.get(reverse(f"admin:{app}_{name}_changelist"))


def test_article_page_shows_its_segments_inline(admin_client_with_data) -> None:
    article = Article.objects.first()

    response = admin_client_with_data.get(
        reverse("admin:articles_article_change", args=[article.pk])
    )

    assert response.status_code == 200
    for segment in article.segments.all():
        assert segment.text in response.content.decode()


def test_admin_is_closed_to_non_staff(client) -> None:
    client.force_login(UserFactory(username="analyst"))

    response = client.get(reverse("admin:articles_article_changelist"))

    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


@pytest.mark.parametrize("model", ["article", "segment", "importbatch"])
def test_imported_objects_cannot_be_added_by_hand(admin_client_with_data, model: str) -> None:
    response = admin_client_with_data.get(reverse(f"admin:articles_{model}_add"))

    assert response.status_code == 403


def test_answers_are_read_only_in_the_admin(admin_client_with_data) -> None:
    annotation = Annotation.objects.first()

    page = admin_client_with_data.get(
        reverse("admin:annotations_annotation_change", args=[annotation.pk])
    )
    edit = admin_client_with_data.post(
        reverse("admin:annotations_annotation_change", args=[annotation.pk]), {"version": 9}
    )
    delete = admin_client_with_data.post(
        reverse("admin:annotations_annotation_delete", args=[annotation.pk]), {"post": "yes"}
    )

    assert page.status_code == 200
    assert edit.status_code == 403
    assert delete.status_code == 403
    annotation.refresh_from_db()
    assert annotation.version == 1


def test_answer_history_is_shown_and_read_only_in_the_admin(admin_client_with_data) -> None:
    annotation = Annotation.objects.first()
    event = AnnotationEvent.objects.get(annotation=annotation)
    url = reverse("admin:annotations_annotationevent_change", args=[event.pk])

    answer_page = admin_client_with_data.get(
        reverse("admin:annotations_annotation_change", args=[annotation.pk])
    )
    edit = admin_client_with_data.post(url, {"version": 9})
    delete = admin_client_with_data.post(
        reverse("admin:annotations_annotationevent_delete", args=[event.pk]), {"post": "yes"}
    )

    assert answer_page.status_code == 200
    assert "Annotation events" in answer_page.content.decode()
    assert admin_client_with_data.get(url).status_code == 200
    assert edit.status_code == 403
    assert delete.status_code == 403
    assert AnnotationEvent.objects.filter(pk=event.pk, version=1).exists()


def test_gold_labels_are_read_only_in_the_admin(admin_client_with_data) -> None:
    gold = GoldLabel.objects.first()
    url = reverse("admin:annotations_goldlabel_change", args=[gold.pk])

    page = admin_client_with_data.get(url)
    edit = admin_client_with_data.post(url, {"note": "changed", "version": 9})
    delete = admin_client_with_data.post(
        reverse("admin:annotations_goldlabel_delete", args=[gold.pk]), {"post": "yes"}
    )

    assert page.status_code == 200
    assert edit.status_code == 403
    assert delete.status_code == 403
    gold.refresh_from_db()
    assert (gold.version, gold.note) == (1, "")


# --- A project's last manager (the same rule as the members page) --------------------------


def _value(bound) -> object:
    value = bound.value()
    if value is None or value is False:
        return None
    if value is True:
        return "on"
    if isinstance(value, (list, tuple)):
        return [getattr(v, "pk", v) for v in value]
    return getattr(value, "pk", value)


def change_page_data(response) -> dict[str, object]:
    """The POST data the admin's change page would send as it stands, inlines included."""
    data: dict[str, object] = {}
    forms = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        forms.extend(formset.forms)
    for form in forms:
        for name in form.fields:
            value = _value(form[name])
            if value is not None:
                data[form.add_prefix(name)] = value
    return data


@pytest.fixture
def staff_client(client, admin_user):
    client.force_login(admin_user)
    return client


def project_change(staff_client, project, edit) -> object:
    url = reverse("admin:annotations_project_change", args=[project.pk])
    page = staff_client.get(url)
    data = change_page_data(page)
    prefix = page.context["inline_admin_formsets"][0].formset.prefix
    rows = {
        int(data[f"{prefix}-{i}-id"]): f"{prefix}-{i}"
        for i in range(int(data[f"{prefix}-TOTAL_FORMS"]))
    }
    edit(data, rows)
    return staff_client.post(url, data)


def test_the_admin_inline_cannot_delete_a_projects_last_manager(
    staff_client, project, manager, annotator
) -> None:
    only = Membership.objects.get(user=manager)

    response = project_change(
        staff_client, project, lambda data, rows: data.update({f"{rows[only.pk]}-DELETE": "on"})
    )

    assert response.status_code == 200  # the form again, with the reason
    assert (
        f"{manager.username} is the project&#x27;s only manager. Make someone else a manager first."
        in response.content.decode()
    )
    assert Membership.objects.filter(pk=only.pk, role="manager").exists()


def test_the_admin_inline_cannot_demote_a_projects_last_manager(
    staff_client, project, manager
) -> None:
    only = Membership.objects.get(user=manager)

    response = project_change(
        staff_client, project, lambda data, rows: data.update({f"{rows[only.pk]}-role": "reviewer"})
    )

    assert response.status_code == 200
    assert "only manager" in response.content.decode()
    only.refresh_from_db()
    assert only.role == "manager"


def test_the_admin_inline_cannot_remove_two_managers_at_once(
    staff_client, project, manager
) -> None:
    first = Membership.objects.get(user=manager)
    second = MembershipFactory(project=project, role="manager")

    response = project_change(
        staff_client,
        project,
        lambda data, rows: data.update(
            {f"{rows[first.pk]}-DELETE": "on", f"{rows[second.pk]}-role": "annotator"}
        ),
    )

    assert response.status_code == 200
    assert "without a manager" in response.content.decode()
    assert Membership.objects.filter(project=project, role="manager").count() == 2


def test_the_admin_inline_may_hand_the_manager_role_over_in_one_save(
    staff_client, project, manager, annotator
) -> None:
    old = Membership.objects.get(user=manager)
    new = Membership.objects.get(user=annotator)

    response = project_change(
        staff_client,
        project,
        lambda data, rows: data.update(
            {f"{rows[old.pk]}-DELETE": "on", f"{rows[new.pk]}-role": "manager"}
        ),
    )

    assert response.status_code == 302
    assert list(Membership.objects.filter(project=project).values_list("user", "role")) == [
        (annotator.pk, "manager")
    ]


def test_the_membership_admin_cannot_demote_the_last_manager(staff_client, project, manager):
    only = Membership.objects.get(user=manager)

    response = staff_client.post(
        reverse("admin:annotations_membership_change", args=[only.pk]), {"role": "annotator"}
    )

    assert response.status_code == 200
    assert "only manager" in response.content.decode()
    only.refresh_from_db()
    assert only.role == "manager"


def test_the_membership_admin_delete_page_keeps_the_last_manager(
    staff_client, project, manager
) -> None:
    only = Membership.objects.get(user=manager)

    response = staff_client.post(
        reverse("admin:annotations_membership_delete", args=[only.pk]), {"post": "yes"}, follow=True
    )

    assert "only manager" in response.content.decode()
    assert Membership.objects.filter(pk=only.pk).exists()


def test_the_membership_admin_deletes_a_manager_when_another_remains(
    staff_client, project, manager
) -> None:
    first = Membership.objects.get(user=manager)
    MembershipFactory(project=project, role="manager")

    response = staff_client.post(
        reverse("admin:annotations_membership_delete", args=[first.pk]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Membership.objects.filter(pk=first.pk).exists()


def test_the_bulk_delete_keeps_the_last_manager_and_deletes_nothing(
    staff_client, project, manager, annotator
) -> None:
    chosen = list(Membership.objects.filter(project=project).values_list("pk", flat=True))

    response = staff_client.post(
        reverse("admin:annotations_membership_changelist"),
        {"action": "delete_selected", "_selected_action": chosen, "post": "yes"},
        follow=True,
    )

    assert "only manager" in response.content.decode()
    assert Membership.objects.filter(project=project).count() == len(chosen) == 2


def test_the_admin_cannot_change_settings_that_the_queue_follows(
    staff_client, project, manager
) -> None:
    # A raised k saved straight to the row would leave full segments closed in the queue
    # (and review rows stale): such settings change only on the Settings page, which
    # calls project_update. Name and description stay editable here.
    k = project.annotators_per_segment

    response = project_change(
        staff_client,
        project,
        lambda data, rows: data.update({"annotators_per_segment": str(k + 2), "name": "Renamed"}),
    )

    assert response.status_code == 302
    project.refresh_from_db()
    assert project.name == "Renamed"
    assert project.annotators_per_segment == k
    page = staff_client.get(reverse("admin:annotations_project_change", args=[project.pk]))
    assert 'name="annotators_per_segment"' not in page.content.decode()


def test_the_admin_still_sets_every_setting_when_it_adds_a_project(staff_client) -> None:
    page = staff_client.get(reverse("admin:annotations_project_add"))

    for field in ("annotators_per_segment", "collection", "queue_order"):
        assert f'name="{field}"' in page.content.decode()
