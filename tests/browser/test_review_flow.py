"""A reviewer resolves a disagreement with the keyboard only, and the dashboard shows the new
gold count."""

from __future__ import annotations

from django.core.management import call_command

from annotations.models import GoldLabel, Membership
from annotations.services.answers import annotation_submit
from articles.models import Segment
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory, labelled_project


def test_a_reviewer_resolves_a_disagreement_with_the_keyboard(
    page, live_server, transactional_db
) -> None:
    project = labelled_project(name="Review flow", slug="review-flow", annotators_per_segment=2)
    alice, bob = (
        MembershipFactory(project=project, role=Membership.Role.ANNOTATOR).user for _ in range(2)
    )
    reviewer = UserFactory(username="rita")
    MembershipFactory(project=project, user=reviewer, role=Membership.Role.REVIEWER)
    first, second = Segment.objects.filter(article__collection=project.collection).order_by("pk")[
        :2
    ]
    one, two, three = project.label_set.labels.order_by("order")[:3]
    for segment in (first, second):
        annotation_submit(project=project, segment=segment, annotator=alice, labels=[one])
        annotation_submit(project=project, segment=segment, annotator=bob, labels=[two])

    # The live server's first pages can be slow on a busy machine.
    page.set_default_timeout(30_000)
    log_in(page, live_server, "rita")
    page.goto(f"{live_server.url}/p/{project.slug}/dashboard/")
    assert page.inner_text("#gold-total") == "0"
    # That first visit queued the figures; the worker computes them as `make run` would.
    call_command("db_worker", "--batch", "--interval", "0", verbosity=0)
    page.wait_for_selector("text=Figures as of")
    assert "0 adjudicated; 2 awaiting review" in page.inner_text(".tile:has(#gold-total)")

    page.goto(f"{live_server.url}/p/{project.slug}/review/")
    page.wait_for_load_state()
    page.wait_for_selector(".segment-card")
    assert page.inner_text("[data-testid=gold-count]") == "0"
    assert page.inner_text("[data-testid=awaiting-count]") == "2"
    shown = page.get_attribute(".segment-card", "data-segment-id")
    assert shown == str(first.pk)

    # Keyboard only: "3" picks Theme 3, "c" opens the note, Enter in the note saves.
    page.keyboard.press("3")
    page.keyboard.press("c")
    page.keyboard.type("Neither: it is about theme 3")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(id) => document.querySelector('.segment-card').dataset.segmentId !== id", arg=shown
    )

    assert page.inner_text("[data-testid=gold-count]") == "1"
    assert page.inner_text("[data-testid=awaiting-count]") == "1"
    assert page.url.endswith(f"?segment={second.pk}")
    gold = GoldLabel.objects.get(project=project, segment=first)
    assert (gold.source, gold.reviewer, gold.note) == (
        "adjudicated",
        reviewer,
        "Neither: it is about theme 3",
    )
    assert gold.label_ids() == {three.pk}

    # The next one has no majority (1 of 2 each): "1" then Enter accepts Theme 1.
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Nothing to review")
    assert page.inner_text("[data-testid=gold-count]") == "2"
    assert GoldLabel.objects.get(project=project, segment=second).label_ids() == {one.pk}

    # The dashboard: gold counts are live (one GROUP BY), so they show at once; "awaiting
    # review" is a background figure, recomputed by the worker since answers are unchanged
    # only when asked ("Recompute now", by keyboard too).
    page.goto(f"{live_server.url}/p/{project.slug}/dashboard/")
    assert page.inner_text("#gold-total") == "2"
    assert "2 adjudicated" in page.inner_text(".tile:has(#gold-total)")
