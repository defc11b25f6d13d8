"""The members page: managers see who is in their project and add, create, re-role and remove
people; everyone else is kept out, and the rules (last manager, no staff) always hold."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from annotations.models import Annotation, AnnotatorProgress, Membership
from annotations.services.answers import annotation_submit
from annotations.services.members import (
    MembershipRejected,
    account_create,
    account_password_set,
    membership_add,
    membership_remove,
    membership_role_change,
)
from articles.models import Segment
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()
HTMX = {"HTTP_HX_REQUEST": "true"}
STRONG = "plum orchard quietly hums"


def url(name: str, project, *args: object) -> str:
    return reverse(f"annotations:{name}", args=[project.slug, *args])


@pytest.fixture
def manager_client(client, manager):
    client.force_login(manager)
    return client


def membership_of(user, project) -> Membership:
    return Membership.objects.get(user=user, project=project)


# --- The page ------------------------------------------------------------------------------


def test_manager_sees_every_member_with_role_and_progress(
    manager_client, project, manager, annotator, reviewer
) -> None:
    annotator.first_name, annotator.last_name = "Ada", "Lovelace"
    annotator.save()
    AnnotatorProgress.objects.create(project=project, annotator=annotator, submitted=7, skipped=2)

    response = manager_client.get(url("member_list", project))

    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body
    for person in (manager, annotator, reviewer):
        assert person.username in body
    assert "Ada Lovelace" in body
    rows = {m.user_id: m for m in response.context["members"]}
    assert (rows[annotator.pk].progress.submitted, rows[annotator.pk].progress.skipped) == (7, 2)
    assert (rows[reviewer.pk].progress.submitted, rows[reviewer.pk].progress.skipped) == (0, 0)
    assert rows[annotator.pk].role == Membership.Role.ANNOTATOR


def test_the_page_links_its_stylesheet_and_sends_no_inline_style(manager_client, project) -> None:
    body = manager_client.get(url("member_list", project)).content.decode()

    assert "css/members.css" in body
    assert "style=" not in body
    assert "<script>" not in body


def test_htmx_gets_the_members_partial_only(manager_client, project, annotator) -> None:
    response = manager_client.get(url("member_list", project), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert 'id="members"' in body
    assert annotator.username in body


def test_the_only_manager_is_marked_and_has_no_remove_button(
    manager_client, project, manager
) -> None:
    membership = membership_of(manager, project)

    body = manager_client.get(url("member_list", project)).content.decode()

    assert "Only manager" in body
    assert url("member_remove", project, membership.pk) not in body


def test_an_administrator_who_is_not_a_member_may_manage(client, project, admin_user) -> None:
    client.force_login(admin_user)

    assert client.get(url("member_list", project)).status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_page_rejects_other_methods(manager_client, project, method: str) -> None:
    response = getattr(manager_client, method)(url("member_list", project))

    assert response.status_code == 405


@pytest.mark.parametrize("name", ["member_role_change", "member_remove"])
def test_change_endpoints_reject_get(manager_client, project, annotator, name: str) -> None:
    membership = membership_of(annotator, project)

    response = manager_client.get(url(name, project, membership.pk))

    assert response.status_code == 405
    assert membership_of(annotator, project).role == Membership.Role.ANNOTATOR


@pytest.mark.parametrize("name", ["member_add", "member_create"])
def test_form_endpoints_reject_get(manager_client, project, name: str) -> None:
    assert manager_client.get(url(name, project)).status_code == 405


def add_people(project, n: int) -> None:
    for _ in range(n):
        membership = MembershipFactory(project=project)
        AnnotatorProgress.objects.create(project=project, annotator=membership.user, submitted=3)


@pytest.mark.parametrize("extra_members", [2, 40])
def test_page_queries_do_not_grow_with_members(
    manager_client, project, django_assert_max_num_queries, extra_members: int
) -> None:
    add_people(project, extra_members)

    # Session, user, project with role, members with their progress.
    with django_assert_max_num_queries(4):
        response = manager_client.get(url("member_list", project))

    assert len(response.context["members"]) == extra_members + 1


@pytest.mark.parametrize("extra_members", [2, 40])
def test_change_queries_do_not_grow_with_members(
    manager_client, project, annotator, django_assert_max_num_queries, extra_members: int
) -> None:
    add_people(project, extra_members)
    membership = membership_of(annotator, project)

    with django_assert_max_num_queries(12):
        response = manager_client.post(
            url("member_role_change", project, membership.pk), {"role": "reviewer"}, **HTMX
        )

    assert response.status_code == 200


# --- Who may reach it ----------------------------------------------------------------------

ENDPOINTS = ["member_list", "member_add", "member_create", "member_role_change", "member_remove"]


def request_endpoint(client: Client, project, name: str, membership: Membership, **extra):
    if name == "member_list":
        return client.get(url(name, project), **extra)
    if name in {"member_role_change", "member_remove"}:
        return client.post(url(name, project, membership.pk), {"role": "reviewer"}, **extra)
    return client.post(url(name, project), {"username": "newbie", "role": "annotator"}, **extra)


@pytest.mark.parametrize("name", ENDPOINTS)
def test_anonymous_visitors_are_sent_to_the_login(client, project, annotator, name: str) -> None:
    response = request_endpoint(client, project, name, membership_of(annotator, project))

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


@pytest.mark.parametrize("name", ENDPOINTS)
def test_anonymous_htmx_requests_get_401(client, project, annotator, name: str) -> None:
    response = request_endpoint(client, project, name, membership_of(annotator, project), **HTMX)

    assert response.status_code == 401
    assert annotator.username not in response.content.decode()


@pytest.mark.parametrize("persona", ["annotator", "reviewer"])
@pytest.mark.parametrize("name", ENDPOINTS)
def test_members_without_manage_rights_get_403(
    client, project, annotator, reviewer, persona: str, name: str
) -> None:
    client.force_login({"annotator": annotator, "reviewer": reviewer}[persona])
    target = membership_of(annotator, project)

    response = request_endpoint(client, project, name, target)

    assert response.status_code == 403
    assert membership_of(annotator, project).role == Membership.Role.ANNOTATOR
    assert not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize("name", ENDPOINTS)
def test_outsiders_get_404(client, project, annotator, outsider, name: str) -> None:
    client.force_login(outsider)

    response = request_endpoint(client, project, name, membership_of(annotator, project))

    assert response.status_code == 404
    assert membership_of(annotator, project).role == Membership.Role.ANNOTATOR


@pytest.mark.parametrize("name", ["member_role_change", "member_remove"])
def test_another_projects_membership_id_is_404(
    manager_client, project, other_project, outsider, name: str
) -> None:
    foreign = membership_of(outsider, other_project)

    response = manager_client.post(url(name, project, foreign.pk), {"role": "manager"})

    assert response.status_code == 404
    assert membership_of(outsider, other_project).role == Membership.Role.ANNOTATOR


def test_a_manager_of_another_project_cannot_use_its_ids_here(
    client, project, other_project, annotator
) -> None:
    other_manager = MembershipFactory(project=other_project, role="manager").user
    client.force_login(other_manager)
    target = membership_of(annotator, project)

    response = client.post(url("member_remove", other_project, target.pk))

    assert response.status_code == 404
    assert Membership.objects.filter(pk=target.pk).exists()


# --- Adding an existing account ------------------------------------------------------------


def test_adding_an_existing_account_redirects_with_a_message(manager_client, project) -> None:
    colleague = UserFactory(username="colleague")

    response = manager_client.post(
        url("member_add", project), {"username": "colleague", "role": "reviewer"}, follow=True
    )

    assert response.redirect_chain == [(url("member_list", project), 302)]
    assert membership_of(colleague, project).role == Membership.Role.REVIEWER
    assert "Added colleague as Reviewer." in response.content.decode()


def test_adding_over_htmx_returns_the_refreshed_partial(manager_client, project) -> None:
    UserFactory(username="colleague")

    response = manager_client.post(
        url("member_add", project), {"username": "colleague", "role": "annotator"}, **HTMX
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert "Added colleague as Annotator." in body
    assert f"role-{Membership.objects.get(user__username='colleague').pk}" in body


@pytest.mark.parametrize("username", ["nobody", "COLLEAGUE", "colleag"])
def test_adding_needs_the_exact_username_of_an_account(
    manager_client, project, username: str
) -> None:
    UserFactory(username="colleague")

    response = manager_client.post(
        url("member_add", project), {"username": username, "role": "annotator"}, **HTMX
    )

    assert response.status_code == 400
    assert "There is no account named" in response.content.decode()
    assert not Membership.objects.filter(user__username="colleague").exists()


def test_adding_someone_twice_says_they_are_a_member(manager_client, project, annotator) -> None:
    response = manager_client.post(
        url("member_add", project), {"username": annotator.username, "role": "manager"}
    )

    assert response.status_code == 400
    assert "already a member (Annotator)" in response.content.decode()
    assert membership_of(annotator, project).role == Membership.Role.ANNOTATOR


def test_a_deactivated_account_cannot_be_added(manager_client, project) -> None:
    UserFactory(username="gone", is_active=False)

    response = manager_client.post(
        url("member_add", project), {"username": "gone", "role": "annotator"}
    )

    assert response.status_code == 400
    assert "deactivated" in response.content.decode()


def test_adding_with_an_unknown_role_is_refused(manager_client, project) -> None:
    UserFactory(username="colleague")

    response = manager_client.post(
        url("member_add", project), {"username": "colleague", "role": "admin"}, **HTMX
    )

    assert response.status_code == 400
    assert not Membership.objects.filter(user__username="colleague").exists()


def test_adding_ignores_attempts_to_grant_staff_rights(manager_client, project) -> None:
    colleague = UserFactory(username="colleague")

    manager_client.post(
        url("member_add", project),
        {"username": "colleague", "role": "annotator", "is_superuser": "1", "is_staff": "1"},
    )

    colleague.refresh_from_db()
    assert not colleague.is_staff
    assert not colleague.is_superuser


# --- Creating an account -------------------------------------------------------------------


def new_account(**fields: str) -> dict[str, str]:
    return {
        "username": "newbie",
        "first_name": "New",
        "last_name": "Person",
        "email": "new@example.org",
        "password1": STRONG,
        "password2": STRONG,
        "role": "annotator",
        **fields,
    }


def test_creating_an_account_with_a_chosen_password(manager_client, project) -> None:
    response = manager_client.post(url("member_create", project), new_account(), follow=True)

    assert response.redirect_chain == [(url("member_list", project), 302)]
    newbie = User.objects.get(username="newbie")
    assert newbie.check_password(STRONG)
    assert (newbie.first_name, newbie.last_name, newbie.email) == (
        "New",
        "Person",
        "new@example.org",
    )
    assert membership_of(newbie, project).role == Membership.Role.ANNOTATOR
    assert "Created the account newbie" in response.content.decode()


def test_created_accounts_are_never_staff_or_superuser(manager_client, project) -> None:
    manager_client.post(
        url("member_create", project),
        new_account(is_superuser="1", is_staff="1", user_permissions="1", groups="1"),
    )

    newbie = User.objects.get(username="newbie")
    assert not newbie.is_staff
    assert not newbie.is_superuser
    assert newbie.is_active
    assert not newbie.user_permissions.exists()
    assert not newbie.groups.exists()


def test_a_blank_password_is_generated_and_shown_once(manager_client, project) -> None:
    response = manager_client.post(
        url("member_create", project), new_account(password1="", password2="")
    )

    assert response.status_code == 200
    password = response.context["created"]["password"]
    assert len(password) >= 20
    assert password in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert User.objects.get(username="newbie").check_password(password)
    # Nowhere to be seen again: not on the next page, not in the session.
    later = manager_client.get(url("member_list", project))
    assert password not in later.content.decode()
    assert password not in str(dict(manager_client.session))


def test_a_generated_password_comes_in_the_htmx_partial(manager_client, project) -> None:
    response = manager_client.post(
        url("member_create", project), new_account(password1="", password2=""), **HTMX
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert response.context["created"]["password"] in body


def test_the_new_account_can_log_in_with_its_password(manager_client, project) -> None:
    manager_client.post(url("member_create", project), new_account())

    response = Client().post(reverse("login"), {"username": "newbie", "password": STRONG})

    assert response.status_code == 302
    assert response.url == reverse("annotations:home")


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("password1234", "This password is too common."),
        ("aaaaaaaaaaaa", "This password repeats too few characters"),
        ("Sh0rt!", "This password is too short."),
        ("Newcomer Personhood", "The password is too similar to the last name."),
    ],
)
def test_weak_chosen_passwords_are_refused(
    manager_client, project, password: str, message: str
) -> None:
    response = manager_client.post(
        url("member_create", project),
        new_account(last_name="Newcomer Personhood", password1=password, password2=password),
        **HTMX,
    )

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not User.objects.filter(username="newbie").exists()


def test_mismatched_passwords_are_refused(manager_client, project) -> None:
    response = manager_client.post(
        url("member_create", project), new_account(password2=STRONG + "!")
    )

    assert response.status_code == 400
    assert "The two passwords differ." in response.content.decode()
    assert not User.objects.filter(username="newbie").exists()


@pytest.mark.parametrize("username", ["colleague", "Colleague"])
def test_an_existing_username_cannot_be_created_again(
    manager_client, project, username: str
) -> None:
    UserFactory(username="colleague")

    response = manager_client.post(url("member_create", project), new_account(username=username))

    assert response.status_code == 400
    assert "already exists" in response.content.decode()
    assert User.objects.filter(username__iexact="colleague").count() == 1


def test_an_invalid_username_is_refused(manager_client, project) -> None:
    response = manager_client.post(url("member_create", project), new_account(username="a b<c>"))

    assert response.status_code == 400
    assert not User.objects.filter(username="a b<c>").exists()
    assert "a b<c>" not in response.content.decode()


def test_the_create_form_shows_the_password_rules(manager_client, project) -> None:
    body = manager_client.get(url("member_list", project)).content.decode()

    assert "at least 12 characters" in body
    assert "leave both password fields blank" in body


# --- Changing roles ------------------------------------------------------------------------


def test_changing_a_role_redirects_with_a_message(manager_client, project, annotator) -> None:
    membership = membership_of(annotator, project)

    response = manager_client.post(
        url("member_role_change", project, membership.pk), {"role": "reviewer"}, follow=True
    )

    assert response.redirect_chain == [(url("member_list", project), 302)]
    assert membership_of(annotator, project).role == Membership.Role.REVIEWER
    assert f"{annotator.username} is now Reviewer." in response.content.decode()


def test_changing_a_role_over_htmx_returns_the_partial(manager_client, project, annotator) -> None:
    membership = membership_of(annotator, project)

    response = manager_client.post(
        url("member_role_change", project, membership.pk), {"role": "manager"}, **HTMX
    )

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert membership_of(annotator, project).role == Membership.Role.MANAGER


def test_an_unknown_role_is_refused(manager_client, project, annotator) -> None:
    membership = membership_of(annotator, project)

    response = manager_client.post(
        url("member_role_change", project, membership.pk), {"role": "superuser"}, **HTMX
    )

    assert response.status_code == 400
    assert "Choose one of the roles" in response.content.decode()
    assert membership_of(annotator, project).role == Membership.Role.ANNOTATOR


def test_the_last_manager_cannot_be_demoted(manager_client, project, manager) -> None:
    membership = membership_of(manager, project)

    response = manager_client.post(
        url("member_role_change", project, membership.pk), {"role": "annotator"}, **HTMX
    )

    assert response.status_code == 400
    assert "the project&#x27;s only manager" in response.content.decode()
    assert membership_of(manager, project).role == Membership.Role.MANAGER


def test_without_javascript_the_last_manager_rule_comes_as_a_message(
    manager_client, project, manager
) -> None:
    membership = membership_of(manager, project)

    response = manager_client.post(
        url("member_role_change", project, membership.pk), {"role": "annotator"}, follow=True
    )

    assert response.redirect_chain == [(url("member_list", project), 302)]
    assert "only manager" in response.content.decode()
    assert membership_of(manager, project).role == Membership.Role.MANAGER


def test_a_manager_may_step_down_when_another_manager_remains(
    manager_client, project, manager
) -> None:
    MembershipFactory(project=project, role="manager")
    membership = membership_of(manager, project)

    response = manager_client.post(
        url("member_role_change", project, membership.pk), {"role": "annotator"}
    )

    assert response.status_code == 302
    assert response.url == reverse("annotations:project_detail", args=[project.slug])
    assert membership_of(manager, project).role == Membership.Role.ANNOTATOR


def test_stepping_down_over_htmx_leaves_the_page(manager_client, project, manager) -> None:
    MembershipFactory(project=project, role="manager")
    membership = membership_of(manager, project)

    response = manager_client.post(
        url("member_role_change", project, membership.pk), {"role": "reviewer"}, **HTMX
    )

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse("annotations:project_detail", args=[project.slug])


def test_role_change_ignores_attempts_to_grant_staff_rights(
    manager_client, project, annotator
) -> None:
    membership = membership_of(annotator, project)

    manager_client.post(
        url("member_role_change", project, membership.pk),
        {"role": "manager", "is_superuser": "1", "is_staff": "1", "user": "1", "project": "2"},
    )

    annotator.refresh_from_db()
    assert not annotator.is_staff
    assert not annotator.is_superuser
    membership.refresh_from_db()
    assert (membership.project_id, membership.user_id) == (project.pk, annotator.pk)


# --- Removing ------------------------------------------------------------------------------


def answer_something(project, annotator) -> Annotation:
    segment = Segment.objects.filter(article__collection=project.collection).first()
    label = project.label_set.labels.first()
    return annotation_submit(
        project=project, segment=segment, annotator=annotator, labels=[label]
    ).annotation


def test_removing_a_member_keeps_their_annotations(manager_client, project, annotator) -> None:
    annotation = answer_something(project, annotator)
    membership = membership_of(annotator, project)

    response = manager_client.post(url("member_remove", project, membership.pk), follow=True)

    assert response.redirect_chain == [(url("member_list", project), 302)]
    assert not Membership.objects.filter(pk=membership.pk).exists()
    assert Annotation.objects.filter(pk=annotation.pk).exists()
    assert AnnotatorProgress.objects.get(project=project, annotator=annotator).submitted == 1
    assert "their annotations are kept" in response.content.decode()


def test_removing_over_htmx_returns_the_partial_without_them(
    manager_client, project, annotator
) -> None:
    membership = membership_of(annotator, project)

    response = manager_client.post(url("member_remove", project, membership.pk), **HTMX)

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert f"role-{membership.pk}" not in body


def test_the_last_manager_cannot_be_removed(manager_client, project, manager) -> None:
    membership = membership_of(manager, project)

    response = manager_client.post(url("member_remove", project, membership.pk), **HTMX)

    assert response.status_code == 400
    assert "only manager" in response.content.decode()
    assert Membership.objects.filter(pk=membership.pk).exists()


def test_a_manager_who_removes_themself_leaves_the_page(manager_client, project, manager) -> None:
    MembershipFactory(project=project, role="manager")
    membership = membership_of(manager, project)

    response = manager_client.post(url("member_remove", project, membership.pk))

    assert response.status_code == 302
    assert response.url == reverse("annotations:home")
    assert not Membership.objects.filter(pk=membership.pk).exists()


# --- CSRF ----------------------------------------------------------------------------------


@pytest.fixture
def csrf_client(manager):
    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    return client


def csrf_token(client: Client, project) -> str:
    client.get(url("member_list", project))
    return client.cookies["csrftoken"].value


def post_each(client: Client, project, annotator, name: str, **extra):
    if name == "member_add":
        UserFactory(username="colleague")
        return client.post(
            url(name, project), {"username": "colleague", "role": "reviewer"}, **extra
        )
    if name == "member_create":
        return client.post(url(name, project), new_account(), **extra)
    membership = membership_of(annotator, project)
    return client.post(url(name, project, membership.pk), {"role": "reviewer"}, **extra)


@pytest.mark.parametrize(
    "name", ["member_add", "member_create", "member_role_change", "member_remove"]
)
def test_every_change_needs_the_csrf_token(csrf_client, project, annotator, name: str) -> None:
    response = post_each(csrf_client, project, annotator, name)

    assert response.status_code == 403
    assert membership_of(annotator, project).role == Membership.Role.ANNOTATOR
    assert not Membership.objects.filter(user__username__in=["colleague", "newbie"]).exists()


@pytest.mark.parametrize(
    "name", ["member_add", "member_create", "member_role_change", "member_remove"]
)
def test_the_csrf_header_htmx_sends_is_accepted(csrf_client, project, annotator, name: str) -> None:
    token = csrf_token(csrf_client, project)

    response = post_each(csrf_client, project, annotator, name, HTTP_X_CSRFTOKEN=token, **HTMX)

    assert response.status_code == 200


# --- Services ------------------------------------------------------------------------------


def test_services_take_keyword_arguments_only(project, annotator) -> None:
    membership = membership_of(annotator, project)

    with pytest.raises(TypeError):
        membership_role_change(membership, "reviewer")  # type: ignore[misc]
    with pytest.raises(TypeError):
        membership_remove(membership)  # type: ignore[misc]


def test_rule_violations_are_value_errors_with_a_readable_message(project, manager) -> None:
    with pytest.raises(ValueError, match="only manager"):
        membership_remove(membership=membership_of(manager, project))
    assert issubclass(MembershipRejected, ValueError)


def test_account_create_refuses_a_weak_password_and_leaves_nothing(project) -> None:
    with pytest.raises(MembershipRejected, match="too common"):
        account_create(project=project, username="weak", role="annotator", password="password1234")

    assert not User.objects.filter(username="weak").exists()


def test_account_create_generates_a_password_only_when_none_is_given(project) -> None:
    chosen = account_create(project=project, username="a1", role="reviewer", password=STRONG)
    generated = account_create(project=project, username="a2", role="reviewer")

    assert chosen.generated_password is None
    assert generated.generated_password
    assert generated.membership.user.check_password(generated.generated_password)


def test_membership_add_and_role_change_work_together(project, manager) -> None:
    colleague = UserFactory(username="colleague")

    membership = membership_add(project=project, username="colleague", role="manager")
    membership_role_change(membership=membership_of(manager, project), role="annotator")

    assert membership.user == colleague
    with pytest.raises(MembershipRejected, match="only manager"):
        membership_role_change(membership=membership, role="reviewer")


# --- A manager sets a member's password (the login page promises it) ----------------------


def set_password(client: Client, project, membership: Membership, password: str = "", **extra):
    return client.post(
        url("member_password_set", project),
        {"member": membership.pk, "password1": password, "password2": password},
        **extra,
    )


def test_the_members_page_offers_to_set_a_password_and_says_for_whom(
    manager_client, project, annotator
) -> None:
    body = manager_client.get(url("member_list", project)).content.decode()

    assert "Set a new password" in body
    assert url("member_password_set", project) in body
    assert "belong only to projects you manage" in body
    assert f'<option value="{membership_of(annotator, project).pk}">{annotator.username}' in body


def test_a_manager_sets_a_members_password_and_their_sessions_end(
    manager_client, project, annotator
) -> None:
    theirs = Client()
    theirs.force_login(annotator)

    response = set_password(manager_client, project, membership_of(annotator, project), STRONG)

    assert response.status_code == 302
    annotator.refresh_from_db()
    assert annotator.check_password(STRONG)
    assert theirs.get(url("project_detail", project)).status_code == 302  # to the login page
    fresh = Client()
    assert fresh.post("/accounts/login/", {"username": annotator.username, "password": STRONG})[
        "Location"
    ] == reverse("annotations:home")


def test_a_blank_password_is_generated_and_shown_once_uncached(
    manager_client, project, annotator
) -> None:
    response = set_password(manager_client, project, membership_of(annotator, project), **HTMX)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    assert "<html" not in body
    assert "shown <strong>only this once</strong>" in body
    generated = response.context["created"]["password"]
    assert generated in body
    annotator.refresh_from_db()
    assert annotator.check_password(generated)


def test_a_weak_password_is_refused_with_the_validators_reason(
    manager_client, project, annotator
) -> None:
    response = set_password(
        manager_client, project, membership_of(annotator, project), "password1234", **HTMX
    )

    assert response.status_code == 400
    assert "This password is too common." in response.content.decode()
    annotator.refresh_from_db()
    assert not annotator.check_password("password1234")


def test_two_different_passwords_are_refused(manager_client, project, annotator) -> None:
    response = manager_client.post(
        url("member_password_set", project),
        {"member": membership_of(annotator, project).pk, "password1": STRONG, "password2": "x"},
    )

    assert response.status_code == 400
    assert "The two passwords differ." in response.content.decode()


def test_a_manager_cannot_set_the_password_of_someone_in_a_project_they_do_not_manage(
    manager_client, project, other_project, annotator
) -> None:
    MembershipFactory(project=other_project, user=annotator, role=Membership.Role.REVIEWER)
    before = annotator.password

    page = manager_client.get(url("member_list", project)).content.decode()
    response = set_password(manager_client, project, membership_of(annotator, project), STRONG)

    assert f">{annotator.username}</option>" not in page
    assert response.status_code == 400
    annotator.refresh_from_db()
    assert annotator.password == before


def test_a_manager_may_set_it_when_every_project_of_the_member_is_theirs(
    manager_client, manager, project, other_project, annotator
) -> None:
    MembershipFactory(project=other_project, user=manager, role=Membership.Role.MANAGER)
    MembershipFactory(project=other_project, user=annotator, role=Membership.Role.REVIEWER)

    response = set_password(manager_client, project, membership_of(annotator, project), STRONG)

    assert response.status_code == 302
    annotator.refresh_from_db()
    assert annotator.check_password(STRONG)


@pytest.mark.parametrize("flag", ["is_staff", "is_superuser"])
def test_a_manager_cannot_set_an_administrators_password(
    manager_client, project, flag: str
) -> None:
    boss = MembershipFactory(project=project, user=UserFactory(**{flag: True}))

    with pytest.raises(MembershipRejected, match="not administrators or staff"):
        account_password_set(membership=boss, by=membership_of_manager(project), password=STRONG)
    response = set_password(manager_client, project, boss, STRONG)

    assert response.status_code == 400
    boss.user.refresh_from_db()
    assert not boss.user.check_password(STRONG)


def membership_of_manager(project):
    return Membership.objects.get(project=project, role=Membership.Role.MANAGER).user


def test_a_manager_cannot_set_their_own_password_here(manager_client, project, manager) -> None:
    response = set_password(manager_client, project, membership_of(manager, project), STRONG)

    assert response.status_code == 400
    manager.refresh_from_db()
    assert not manager.check_password(STRONG)


def test_a_member_of_another_project_is_a_404(manager_client, project, other_project) -> None:
    elsewhere = MembershipFactory(project=other_project)

    response = set_password(manager_client, project, elsewhere, STRONG)

    assert response.status_code == 400  # not among the choices
    elsewhere.user.refresh_from_db()
    assert not elsewhere.user.check_password(STRONG)


def test_an_administrator_may_set_an_ordinary_members_password(
    client, admin_user, project, other_project, annotator
) -> None:
    MembershipFactory(project=other_project, user=annotator)
    client.force_login(admin_user)

    response = set_password(client, project, membership_of(annotator, project), STRONG)

    assert response.status_code == 302
    annotator.refresh_from_db()
    assert annotator.check_password(STRONG)


def test_setting_a_password_lifts_the_members_login_lockout(
    manager_client, project, annotator
) -> None:
    locked = Client()
    for _ in range(5):
        locked.post("/accounts/login/", {"username": annotator.username, "password": "wrong"})
    assert (
        locked.post(
            "/accounts/login/", {"username": annotator.username, "password": "wrong"}
        ).status_code
        == 429
    )

    set_password(manager_client, project, membership_of(annotator, project), STRONG)
    response = locked.post("/accounts/login/", {"username": annotator.username, "password": STRONG})

    assert response.status_code == 302


def test_a_reviewer_cannot_set_passwords(client, project, reviewer, annotator) -> None:
    client.force_login(reviewer)

    response = set_password(client, project, membership_of(annotator, project), STRONG)

    assert response.status_code == 403
    annotator.refresh_from_db()
    assert not annotator.check_password(STRONG)
