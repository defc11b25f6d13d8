"""The team dashboard in Chromium: it fills itself in while open, under the strict CSP."""

from __future__ import annotations

import os

import pytest
from django.core.management import call_command

from annotations.models import Label, Membership
from annotations.services.answers import annotation_submit
from annotations.services.demo import demo_load
from articles.models import Segment
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, UserFactory

DEMO = "foreign-ministry-briefings"


@pytest.fixture
def labelled_demo(transactional_db):
    """The demo project with k = 3 and three annotators who agree on some segments."""
    project = demo_load(admin_password=PASSWORD).project
    project.annotators_per_segment = 3
    project.save()
    labels = list(Label.objects.filter(label_set=project.label_set).order_by("order"))
    segments = list(
        Segment.objects.filter(article__collection=project.collection)
        .select_related("article")
        .order_by("pk")[:8]
    )
    for n, name in enumerate(("ana", "ben", "cleo")):
        user = UserFactory(username=name)
        MembershipFactory(project=project, user=user, role=Membership.Role.ANNOTATOR)
        for i, segment in enumerate(segments):
            chosen = [labels[i % 3]] if (i + n) % 4 else [labels[(i + 1) % 3], labels[3]]
            annotation_submit(
                project=project,
                segment=segment,
                annotator=user,
                labels=chosen,
                time_spent_ms=1_500 + 2_000 * n + 300 * i,
            )
    return project


def test_the_dashboard_fills_itself_in_while_open(page, live_server, labelled_demo):
    reviewer = UserFactory(username="rita")
    MembershipFactory(project=labelled_demo, user=reviewer, role=Membership.Role.REVIEWER)
    # The live server's first page (static files found, templates compiled) can take longer
    # than the default on a busy machine.
    page.set_default_navigation_timeout(30_000)
    page.set_default_timeout(30_000)
    log_in(page, live_server, "rita")

    page.goto(f"{live_server.url}/p/{DEMO}/")
    page.click("text=Team dashboard")
    page.wait_for_url(f"{live_server.url}/p/{DEMO}/dashboard/")
    # The first visit queued the computation for the worker; the open page shows that, and
    # shows the figures by itself (polling) once the worker has run.
    page.wait_for_selector("text=Recomputation waiting for the background worker")
    call_command("db_worker", "--batch", "--interval", "0", verbosity=0)
    page.wait_for_selector("text=Figures as of", timeout=30_000)
    assert page.url == f"{live_server.url}/p/{DEMO}/dashboard/"  # no reload

    assert page.locator(".chart polyline").count() == 2
    assert page.locator("table.kappa tbody tr").count() == 3
    assert page.locator(".tile-value").nth(0).inner_text() == "24"
    # The label bars are painted with the labels' colours (an SVG attribute, not a style).
    assert page.locator("svg.bar rect").first.get_attribute("fill").startswith("#")
    if os.environ.get("DASHBOARD_SCREENSHOT"):
        page.screenshot(path=os.environ["DASHBOARD_SCREENSHOT"], full_page=True)
