"""Issue 8's "done when", end to end in Chromium: three people label the demo project with
k = 3, the dashboard shows their agreement per theme and overall with charts, a reviewer
turns their disagreements into gold labels from the review queue, and ``project_report
--json`` gives the same figures as the dashboard.

As ``make run`` does, the background figures are computed by the ``django-tasks-db`` worker
(here one batch of it, run when the page has queued work), never inline.
"""

from __future__ import annotations

import io
import json

from django.core.management import call_command

from annotations.models import GoldLabel, Membership, ProjectFigures
from annotations.services.demo import demo_load
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, UserFactory

DEMO = "foreign-ministry-briefings"
# What each annotator presses on the first four segments of the queue (label shortcuts):
# s1 all agree (accepted as unanimous gold), s2 and s4 split 2:1, s3 split 1:1:1.
KEYS = {"ana": "1123", "ben": "1213", "cleo": "1132"}


def _worker() -> None:
    call_command("db_worker", "--batch", "--interval", "0", verbosity=0)


def _label(page, live_server, keys: str) -> None:
    page.goto(f"{live_server.url}/p/{DEMO}/annotate/")
    page.wait_for_load_state()
    page.wait_for_selector(".segment-card")
    for key in keys:
        shown = page.get_attribute(".segment-card", "data-segment-id")
        page.keyboard.press(key)
        page.keyboard.press("Enter")
        page.wait_for_function(
            "(id) => { const card = document.querySelector('.segment-card');"
            " return !card || card.dataset.segmentId !== id; }",
            arg=shown,
        )


def _report() -> dict:
    out = io.StringIO()
    call_command("project_report", DEMO, "--json", stdout=out)
    return json.loads(out.getvalue())


def test_three_people_label_the_demo_and_a_reviewer_turns_disagreements_into_gold(
    browser, live_server, transactional_db
) -> None:
    project = demo_load(admin_password=PASSWORD).project
    for name in KEYS:
        MembershipFactory(
            project=project, user=UserFactory(username=name), role=Membership.Role.ANNOTATOR
        )
    MembershipFactory(
        project=project, user=UserFactory(username="rita"), role=Membership.Role.REVIEWER
    )
    problems: list[str] = []

    def new_page():
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(30_000)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
        return page

    # The manager sets k = 3 on the settings page.
    admin = new_page()
    log_in(admin, live_server, "admin")
    admin.goto(f"{live_server.url}/p/{DEMO}/settings/")
    admin.fill("input[name=annotators_per_segment]", "3")
    admin.click("#project-form button[type=submit]")
    admin.wait_for_selector("text=Settings saved", timeout=30_000)
    project.refresh_from_db()
    assert project.annotators_per_segment == 3

    # Three people label four segments each, with the keyboard.
    for name, keys in KEYS.items():
        page = new_page()
        log_in(page, live_server, name)
        _label(page, live_server, keys)
        page.context.close()
    assert GoldLabel.objects.filter(project=project).count() == 1  # s1, unanimous

    # The dashboard: the first visit queues the figures, the worker computes them, the open
    # page shows them by itself.
    rita = new_page()
    log_in(rita, live_server, "rita")
    rita.goto(f"{live_server.url}/p/{DEMO}/dashboard/")
    _worker()
    rita.wait_for_selector("text=Figures as of")
    assert rita.locator(".chart polyline").count() == 2  # progress over time
    assert rita.locator("svg.bar").count() == project.label_set.labels.count()
    assert rita.locator("table.kappa tbody tr").count() == 3
    report = _report()
    assert report["answers"]["submitted"] == 12
    assert report["segments_complete"] == 4
    assert report["gold"] == {"unanimous": 1, "majority": 0, "adjudicated": 0, "awaiting_review": 3}
    shown = ProjectFigures.objects.get(project=project).data["report"]
    assert shown == report  # the dashboard's figures are project_report's
    alpha_tile = rita.locator(".tile", has_text="Agreement, α (MASI)").inner_text()
    assert f"{report['agreement']['overall']['alpha_masi']:.2f}" in alpha_tile
    theme_rows = rita.locator("table.labels-table tbody tr")
    first_theme = next(iter(report["agreement"]["labels"].values()))
    assert f"{100 * first_theme['percent_agreement']:.0f}%" in theme_rows.nth(0).inner_text()
    assert rita.inner_text("#awaiting-review") == "3"

    # The reviewer resolves the three disagreements from the queue, keyboard only, lowest
    # agreement first: s3 (no majority) gets theme 3; on s2 and s4 the majority's labels are
    # already chosen and Enter accepts them.
    rita.goto(f"{live_server.url}/p/{DEMO}/review/")
    rita.wait_for_load_state()
    for keys in ("3", "", ""):
        rita.wait_for_selector(".segment-card")
        shown_id = rita.get_attribute(".segment-card", "data-segment-id")
        for key in keys:
            rita.keyboard.press(key)
        rita.keyboard.press("Enter")
        rita.wait_for_function(
            "(id) => { const card = document.querySelector('.segment-card');"
            " return !card || card.dataset.segmentId !== id; }",
            arg=shown_id,
        )
    rita.wait_for_selector("text=Nothing to review")
    assert GoldLabel.objects.filter(project=project).count() == 4

    # Back on the dashboard: the gold counts are live; recomputed figures match the report.
    rita.goto(f"{live_server.url}/p/{DEMO}/dashboard/")
    assert rita.inner_text("#gold-total") == "4"
    assert rita.inner_text("#awaiting-review") == "0"
    rita.click("text=Recompute now")
    rita.wait_for_selector("text=Recomputation waiting for the background worker")
    _worker()
    rita.wait_for_selector("text=Figures as of")
    rita.wait_for_selector("button:has-text('Recompute now'):not([disabled])")
    report = _report()
    assert ProjectFigures.objects.get(project=project).data["report"] == report
    assert report["gold"]["awaiting_review"] == 0
    assert report["gold"] == {"unanimous": 1, "majority": 2, "adjudicated": 1, "awaiting_review": 0}
    agreement = {
        name: person["agreement_with_gold"] for name, person in report["annotators"].items()
    }
    assert all(value is not None for value in agreement.values()), agreement
    assert not problems, problems
