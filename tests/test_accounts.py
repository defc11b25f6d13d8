"""Accounts in the browser: log in and out, change the password, and the attacks on them
(security checklist items 1–9 and 12)."""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from config.accounts import RepetitivePasswordValidator, client_ip_address
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"
LOGIN = "/accounts/login/"
HOME = "/"
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def alice(project):
    """An annotator in `project` who logs in through the form."""
    return MembershipFactory(project=project, user__username="alice", role="annotator").user


def log_in(client: Client, username: str = "alice", password: str = PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, **extra)


def members_url(project) -> str:
    return reverse("annotations:member_list", args=[project.slug])


def is_logged_in(client: Client) -> bool:
    return SESSION_KEY in client.session


# --- Logging in and out --------------------------------------------------------------------


def test_the_login_page_renders_for_anonymous_visitors(client) -> None:
    response = client.get(LOGIN)

    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="username"' in body
    assert 'autocomplete="current-password"' in body
    assert "There is no sign-up" in body
    assert "style=" not in body


def test_a_correct_password_logs_in_and_goes_home(client, alice) -> None:
    response = log_in(client)

    assert response.status_code == 302
    assert response.url == HOME
    assert is_logged_in(client)


def test_a_logged_in_visitor_is_sent_away_from_the_login_page(client, alice) -> None:
    client.force_login(alice)

    response = client.get(LOGIN)

    assert response.status_code == 302
    assert response.url == HOME


def test_next_inside_the_site_is_followed(client, alice, project) -> None:
    response = client.post(
        LOGIN, {"username": "alice", "password": PASSWORD, "next": members_url(project)}
    )

    assert response.url == members_url(project)


@pytest.mark.parametrize(
    "target", ["https://evil.example", "//evil.example", "/\\evil.example", "http:/evil.example"]
)
def test_next_outside_the_site_is_ignored(client, alice, target: str) -> None:
    response = client.post(LOGIN, {"username": "alice", "password": PASSWORD, "next": target})

    assert response.status_code == 302
    assert response.url == HOME


def test_wrong_password_and_unknown_user_get_the_same_answer(client, alice) -> None:
    wrong = log_in(client, password="not the password")
    unknown = log_in(Client(), username="nobody-here")

    assert wrong.status_code == unknown.status_code == 200
    assert wrong.context["form"].errors == unknown.context["form"].errors
    assert "Please enter a correct username and password" in wrong.content.decode()
    assert not is_logged_in(client)


def test_a_deactivated_user_gets_the_same_answer_as_a_wrong_password(client, alice) -> None:
    alice.is_active = False
    alice.save()

    response = log_in(client)

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert not is_logged_in(client)


def test_logging_out_needs_a_post(client, alice) -> None:
    client.force_login(alice)

    assert client.get(reverse("logout")).status_code == 405
    assert is_logged_in(client)


def test_logging_out_ends_the_session_and_returns_to_the_login(client, alice) -> None:
    client.force_login(alice)

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == LOGIN
    assert not is_logged_in(client)


def test_the_login_form_needs_the_csrf_token(alice) -> None:
    client = Client(enforce_csrf_checks=True)

    response = log_in(client)

    assert response.status_code == 403
    assert not is_logged_in(client)


def test_logging_out_needs_the_csrf_token(alice) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert client.post(reverse("logout")).status_code == 403
    assert is_logged_in(client)


@pytest.mark.parametrize("path", ["/accounts/signup/", "/accounts/register/", "/signup/"])
def test_there_is_no_self_signup(path: str) -> None:
    response = Client(enforce_csrf_checks=True).post(
        path, {"username": "mallory", "password1": PASSWORD, "password2": PASSWORD}
    )

    assert response.status_code == 404


# --- Throttling (django-axes) --------------------------------------------------------------


def fail(client: Client, times: int, username: str = "alice", **extra) -> list:
    return [log_in(client, username, "wrong password", **extra) for _ in range(times)]


def test_the_limit_locks_the_pair_out_with_a_friendly_page(client, alice) -> None:
    answers = fail(client, 5)

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]
    body = answers[-1].content.decode()
    assert "Logging in is paused" in body
    assert "Try again in 15 minutes." in body
    assert "“alice”" in body


def test_the_correct_password_is_refused_during_the_lockout(client, alice) -> None:
    fail(client, 5)

    response = log_in(client)

    assert response.status_code == 429
    assert not is_logged_in(client)


def test_failures_are_written_to_the_audit_tables(client, alice) -> None:
    fail(client, 5)

    attempt = AccessAttempt.objects.get(username="alice")
    assert attempt.failures_since_start == 5
    assert attempt.ip_address == "127.0.0.1"
    assert AccessFailureLog.objects.filter(username="alice").count() == 5
    assert AccessFailureLog.objects.filter(username="alice", locked_out=True).exists()


def test_a_successful_login_is_logged(client, alice) -> None:
    log_in(client)

    assert AccessLog.objects.filter(username="alice").count() == 1


def test_the_same_user_from_another_address_can_still_log_in(client, alice) -> None:
    fail(client, 5, REMOTE_ADDR="203.0.113.66")

    elsewhere = Client()
    response = log_in(elsewhere, REMOTE_ADDR="198.51.100.7")

    assert response.status_code == 302
    assert is_logged_in(elsewhere)


def test_a_colleague_behind_the_same_address_can_still_log_in(client, alice, project) -> None:
    MembershipFactory(project=project, user__username="bob")
    fail(client, 5)

    colleague = Client()
    response = log_in(colleague, "bob")

    assert response.status_code == 302
    assert is_logged_in(colleague)


def test_guessing_many_usernames_from_one_address_locks_each_of_them(client, alice) -> None:
    for name in ["alice", "bob", "carol"]:
        assert fail(client, 5, name)[-1].status_code == 429


def test_a_forged_forwarded_for_header_does_not_escape_the_lockout(client, alice) -> None:
    fail(client, 5)

    response = log_in(client, HTTP_X_FORWARDED_FOR="192.0.2.99")

    assert response.status_code == 429


def test_the_failure_limit_follows_the_setting(client, alice, settings) -> None:
    settings.AXES_FAILURE_LIMIT = 2

    assert [a.status_code for a in fail(client, 2)] == [200, 429]


def test_after_the_cool_off_the_user_can_log_in(client, alice) -> None:
    fail(client, 5)
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=16))

    response = log_in(client)

    assert response.status_code == 302
    assert is_logged_in(client)


def test_an_attempt_during_the_lockout_restarts_the_wait(client, alice) -> None:
    fail(client, 5)
    AccessAttempt.objects.update(attempt_time=timezone.now() - datetime.timedelta(minutes=14))

    retry = log_in(client)
    AccessAttempt.objects.update(
        attempt_time=AccessAttempt.objects.get().attempt_time - datetime.timedelta(minutes=2)
    )

    assert retry.status_code == 429
    assert log_in(client).status_code == 429


def test_a_successful_login_resets_the_count(client, alice) -> None:
    fail(client, 4)
    log_in(client)
    client.post(reverse("logout"))

    answers = fail(client, 4)

    assert [a.status_code for a in answers] == [200] * 4
    assert log_in(client).status_code == 302


def test_an_admin_unlocks_by_deleting_the_attempt_in_the_admin(client, alice, admin_user) -> None:
    fail(client, 5)
    attempt = AccessAttempt.objects.get(username="alice")
    admin = Client()
    admin.force_login(admin_user)

    listing = admin.get(reverse("admin:axes_accessattempt_changelist"))
    deleted = admin.post(
        reverse("admin:axes_accessattempt_delete", args=[attempt.pk]), {"post": "yes"}
    )

    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    assert deleted.status_code == 302
    assert log_in(client).status_code == 302


@pytest.mark.parametrize(
    ("command", "args"), [("axes_reset", []), ("axes_reset_username", ["alice"])]
)
def test_the_axes_reset_commands_unlock(client, alice, command: str, args: list[str]) -> None:
    fail(client, 5)

    call_command(command, *args)

    assert log_in(client).status_code == 302


# --- The client address behind proxies -----------------------------------------------------


def request_from(remote: str, forwarded: str | None = None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().post(LOGIN, **extra)


def test_without_a_proxy_count_forwarded_for_is_ignored(settings) -> None:
    settings.AXES_IPWARE_PROXY_COUNT = None

    assert client_ip_address(request_from("10.0.0.1", "192.0.2.5")) == "10.0.0.1"


@pytest.mark.parametrize(
    ("count", "forwarded", "expected"),
    [
        (1, "192.0.2.5", "192.0.2.5"),
        # The client may send its own header: only the proxy's own entry counts.
        (1, "6.6.6.6, 192.0.2.5", "192.0.2.5"),
        (2, "6.6.6.6, 192.0.2.5, 10.0.0.9", "192.0.2.5"),
        (1, "2001:db8::1", "2001:db8::1"),
        # Fewer entries than proxies, or garbage: the request did not come through them all.
        (2, "192.0.2.5", "10.0.0.1"),
        (1, "not-an-address", "10.0.0.1"),
        (1, "", "10.0.0.1"),
    ],
)
def test_with_a_proxy_count_the_proxys_entry_is_the_client(
    settings, count: int, forwarded: str, expected: str
) -> None:
    settings.AXES_IPWARE_PROXY_COUNT = count

    assert client_ip_address(request_from("10.0.0.1", forwarded)) == expected


def test_behind_a_proxy_colleagues_do_not_lock_each_other_out(client, alice, settings) -> None:
    settings.AXES_IPWARE_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    fail(client, 5, HTTP_X_FORWARDED_FOR="203.0.113.66", **proxy)

    response = log_in(Client(), HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)

    assert AccessAttempt.objects.get().ip_address == "203.0.113.66"
    assert response.status_code == 302


def settings_of(*names: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Start Django in a fresh process with ``env`` and print the named settings."""
    code = "import django; django.setup(); from django.conf import settings; " + "; ".join(
        f"print(repr(settings.{name}))" for name in names
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": "sqlite:///:memory:",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_throttling_reads_its_settings_from_the_environment() -> None:
    result = settings_of(
        "AXES_FAILURE_LIMIT",
        "AXES_COOLOFF_TIME",
        "AXES_IPWARE_PROXY_COUNT",
        "SESSION_COOKIE_AGE",
        AXES_FAILURE_LIMIT="3",
        AXES_COOLOFF_MINUTES="30",
        AXES_IPWARE_PROXY_COUNT="1",
        SESSION_COOKIE_AGE_HOURS="8",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["3", "0.5", "1", "28800"]


def test_throttling_defaults_and_no_startup_banner() -> None:
    result = settings_of(
        "AXES_FAILURE_LIMIT",
        "AXES_COOLOFF_TIME",
        "AXES_IPWARE_PROXY_COUNT",
        "AXES_LOCKOUT_PARAMETERS",
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["5", "0.25", "None", "[['username', 'ip_address']]"]
    assert "AXES: BEGIN" not in result.stdout + result.stderr


def test_a_malformed_failure_limit_stops_the_start() -> None:
    result = settings_of("AXES_FAILURE_LIMIT", AXES_FAILURE_LIMIT="five")

    assert result.returncode != 0
    assert "AXES_FAILURE_LIMIT='five' is not a whole number" in result.stderr


# --- Sessions ------------------------------------------------------------------------------


def test_logging_in_rotates_the_session_key(alice, project) -> None:
    planted = SessionStore()
    planted["planted"] = True
    planted.create()
    client = Client()
    client.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key

    log_in(client)

    assert client.cookies[settings.SESSION_COOKIE_NAME].value != planted.session_key
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = planted.session_key
    assert replay.get(members_url(project)).status_code == 302


def test_after_logout_the_old_cookie_gets_401_on_htmx_with_no_data(project, manager) -> None:
    client = Client()
    client.force_login(manager)
    old_cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    assert client.get(members_url(project), **HTMX).status_code == 200
    client.post(reverse("logout"))

    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old_cookie
    response = replay.get(members_url(project), **HTMX)

    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/plain")
    body = response.content.decode()
    assert manager.username not in body
    assert project.name not in body


def test_a_deactivated_users_next_request_is_not_authenticated(project, manager) -> None:
    client = Client()
    client.force_login(manager)
    assert client.get(members_url(project)).status_code == 200

    manager.is_active = False
    manager.save()
    response = client.get(members_url(project))

    assert response.status_code == 302
    assert response.url.startswith(LOGIN)


# --- Changing the password -----------------------------------------------------------------


def change_password(client: Client, new: str, old: str = PASSWORD, again: str | None = None):
    return client.post(
        reverse("password_change"),
        {
            "old_password": old,
            "new_password1": new,
            "new_password2": new if again is None else again,
        },
    )


def test_the_password_page_needs_a_login(client) -> None:
    response = client.get(reverse("password_change"))

    assert response.status_code == 302
    assert response.url.startswith(LOGIN)


def test_the_password_page_renders_with_the_rules(client, alice) -> None:
    client.force_login(alice)

    response = client.get(reverse("password_change"))

    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="old_password"' in body
    assert "at least 12 characters" in body
    assert "style=" not in body


def test_changing_the_password_keeps_this_session_and_ends_the_others(alice, project) -> None:
    browser_a, browser_b = Client(), Client()
    log_in(browser_a)
    log_in(browser_b)
    new = "a quieter orchard of plums"

    response = change_password(browser_a, new)

    assert response.status_code == 302
    assert response.url == reverse("password_change_done")
    assert browser_a.get(reverse("password_change_done")).status_code == 200
    assert is_logged_in(browser_a)
    assert browser_b.get(reverse("password_change")).status_code == 302
    assert not is_logged_in(browser_b)


def test_the_done_page_says_other_sessions_were_logged_out(client, alice) -> None:
    client.force_login(alice)

    body = client.get(reverse("password_change_done")).content.decode()

    assert "Password changed" in body
    assert "log in again with the new password" in body


@pytest.mark.parametrize(
    ("new", "message"),
    [
        ("password1234", "This password is too common."),
        ("aaaaaaaaaaaa", "This password repeats too few characters"),
        ("abababababab", "This password repeats too few characters"),
        ("short pass", "This password is too short. It must contain at least 12 characters."),
        ("123456789012345", "This password is entirely numeric."),
    ],
)
def test_weak_passwords_are_refused_with_a_clear_message(
    client, alice, new: str, message: str
) -> None:
    client.force_login(alice)

    response = change_password(client, new)

    assert response.status_code == 200
    assert message in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_a_wrong_old_password_changes_nothing(client, alice) -> None:
    client.force_login(alice)

    response = change_password(client, "a quieter orchard of plums", old="wrong")

    assert "Your old password was entered incorrectly" in response.content.decode()
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_a_long_unicode_passphrase_is_accepted_and_works_next_time(client, alice) -> None:
    passphrase = "Zöë’s 猫 naps by the ☕ while 🌧 falls on Αθήνα и Москва — gut so!!"
    assert len(passphrase) == 64
    client.force_login(alice)

    response = change_password(client, passphrase)
    client.post(reverse("logout"))
    again = Client()

    assert response.status_code == 302
    assert log_in(again, password=passphrase).status_code == 302
    assert is_logged_in(again)


def test_the_password_change_needs_the_csrf_token(alice) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    response = change_password(client, "a quieter orchard of plums")

    assert response.status_code == 403
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_the_repetition_validator_explains_itself() -> None:
    validator = RepetitivePasswordValidator(min_unique=5)

    validator.validate("correct horse battery staple")
    with pytest.raises(Exception, match="2 different, at least 5"):
        validator.validate("abababababab")
    assert "5 different characters" in validator.get_help_text()


# --- Regression tests from the security probe of issue 7 -----------------------------------


@pytest.mark.parametrize("path", [LOGIN, "/admin/login/"])
def test_a_username_over_255_characters_gets_the_usual_answer_not_a_500(
    client, alice, path: str
) -> None:
    # PostgreSQL refused to store it in axes' varchar(255) column: a 500 before the fix.
    response = client.post(path, {"username": "x" * 300, "password": "not the password"})

    assert response.status_code == 200
    # "Please enter a correct username and password", or "the correct … for a staff account".
    assert "correct username and password" in response.content.decode()
    assert AccessFailureLog.objects.get().username == "x" * 255


def test_a_long_username_is_throttled_like_any_other(client, alice) -> None:
    answers = fail(client, 5, "y" * 400)

    assert [a.status_code for a in answers] == [200, 200, 200, 200, 429]


def test_twelve_wrong_old_passwords_lock_the_password_change(client, alice) -> None:
    log_in(client)
    new = "a quieter orchard of plums"

    wrong = [change_password(client, new, old=f"guess number {n}") for n in range(12)]
    right = change_password(client, new)

    assert [a.status_code for a in wrong] == [200] * 4 + [429] * 8
    assert right.status_code == 429
    body = right.content.decode()
    assert "Changing the password is paused" in body
    assert "Try again in 15 minutes." in body
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert AccessAttempt.objects.get(username="alice").path_info == "/accounts/password/"


def test_wrong_old_passwords_count_with_failed_logins(client, alice) -> None:
    fail(Client(), 3)
    client.force_login(alice)

    answers = [change_password(client, "a quieter orchard of plums", old="no") for _ in range(2)]

    assert [a.status_code for a in answers] == [200, 429]
    assert log_in(Client()).status_code == 429


def test_a_right_old_password_after_some_wrong_ones_changes_it_and_resets_the_count(
    client, alice
) -> None:
    client.force_login(alice)
    for _ in range(4):
        change_password(client, "a quieter orchard of plums", old="no")

    response = change_password(client, "a quieter orchard of plums")

    assert response.status_code == 302
    assert not AccessAttempt.objects.filter(username="alice").exists()


def test_deactivating_a_user_in_the_admin_ends_their_sessions(alice, admin_user, project) -> None:
    browser = Client()
    log_in(browser)
    old_cookie = browser.cookies[settings.SESSION_COOKIE_NAME].value
    admin = Client()
    admin.force_login(admin_user)
    url = reverse("admin:auth_user_change", args=[alice.pk])
    form = admin.get(url).context["adminform"].form
    data = {
        "username": alice.username,
        "first_name": "",
        "last_name": "",
        "email": "",
        "date_joined_0": form["date_joined"].value().strftime("%Y-%m-%d"),
        "date_joined_1": form["date_joined"].value().strftime("%H:%M:%S"),
        "is_active": "",  # unticked
    }

    deactivated = admin.post(url, data)
    alice.is_active = True  # an administrator changes their mind
    alice.save()
    replay = Client()
    replay.cookies[settings.SESSION_COOKIE_NAME] = old_cookie

    assert deactivated.status_code == 302, deactivated.context["adminform"].form.errors
    assert not SessionStore().exists(old_cookie)
    assert replay.get(members_url(project)).status_code == 302
    assert SESSION_KEY not in replay.session


def test_any_save_that_deactivates_a_user_ends_only_their_sessions(alice, manager) -> None:
    alices, managers = Client(), Client()
    alices.force_login(alice)
    managers.force_login(manager)

    alice.is_active = False
    alice.save(update_fields=["is_active"])

    assert not SessionStore().exists(alices.cookies[settings.SESSION_COOKIE_NAME].value)
    assert SessionStore().exists(managers.cookies[settings.SESSION_COOKIE_NAME].value)


def test_saving_an_active_user_keeps_their_sessions(alice) -> None:
    browser = Client()
    browser.force_login(alice)

    alice.first_name = "Alice"
    alice.save()

    assert SessionStore().exists(browser.cookies[settings.SESSION_COOKIE_NAME].value)
    assert is_logged_in(browser)
