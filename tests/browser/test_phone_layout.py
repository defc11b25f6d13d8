"""On a 390 px wide phone (an iPhone 12–15 in portrait) no page scrolls sideways: the pages
a manager and an annotator use are measured in Chromium with the demo project's real data."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from annotations.models import Project
from annotations.services.answers import annotation_submit
from annotations.services.demo import demo_load
from articles.models import Segment
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory

DEMO = "foreign-ministry-briefings"
PHONE = {"width": 390, "height": 844}
PAGES = [
    f"/p/{DEMO}/",
    f"/p/{DEMO}/members/",
    f"/p/{DEMO}/annotate/",
    f"/p/{DEMO}/import/",
    "/accounts/password/",
    "/p/no-such-project/",  # the 404 page
]


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    yield page
    context.close()
    assert not problems, problems


def test_no_page_is_wider_than_a_390_px_phone(phone, live_server, transactional_db) -> None:
    demo_load(admin_password=PASSWORD)
    project = Project.objects.get(slug=DEMO)
    admin = get_user_model().objects.get(username="admin")
    # Answers, so that the project page has its activity table with chips in it.
    for segment in Segment.objects.filter(article__collection=project.collection)[:6]:
        annotation_submit(
            project=project,
            segment=segment,
            annotator=admin,
            labels=list(project.label_set.labels.all()[:3]),
        )
    # Members with long names, so that the members table has rows to wrap.
    for name, role in [
        ("mei", "annotator"),
        ("a.very.long.username.for.a.reviewer@example.org", "reviewer"),
    ]:
        MembershipFactory(
            project=project,
            user__username=name,
            user__first_name="Wilhelmina",
            user__last_name="Featherstonehaugh-Cholmondeley",
            role=role,
        )
    log_in(phone, live_server, "admin")

    widths = {}
    for path in PAGES:
        phone.goto(f"{live_server.url}{path}")
        phone.wait_for_load_state()
        widths[path] = phone.evaluate("document.documentElement.scrollWidth")

    too_wide = {path: width for path, width in widths.items() if width > PHONE["width"]}
    assert too_wide == {}
