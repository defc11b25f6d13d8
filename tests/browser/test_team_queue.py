"""Three annotators label the demo project at the same time, each in their own browser,
with k = 3 (and k = 2) answers wanted per segment: nobody is handed a finished segment,
and every segment ends with exactly k answers."""

from __future__ import annotations

from collections import Counter

import pytest

from annotations.models import Annotation, Membership, Project
from annotations.services.demo import demo_load
from annotations.services.setup import project_update
from articles.models import Segment
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import UserFactory

DEMO = "foreign-ministry-briefings"


def shown(page) -> str | None:
    if page.locator(".queue-done").count():
        return None
    return page.get_attribute(".segment-card", "data-segment-id")


def submit_and_wait(page, segment_id: str, key: str) -> None:
    page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(id) => document.querySelector('.queue-done')"
        " || document.querySelector('.segment-card').dataset.segmentId !== id",
        arg=segment_id,
    )


@pytest.mark.parametrize("k", [3, 2])
def test_three_annotators_label_the_demo_and_every_segment_ends_with_exactly_k_answers(
    browser, live_server, transactional_db, k
) -> None:
    demo_load(admin_password=PASSWORD)
    project = Project.objects.get(slug=DEMO)
    project_update(
        project=project,
        name=project.name,
        description=project.description,
        multi_label=project.multi_label,
        annotators_per_segment=k,
    )
    total = Segment.objects.filter(article__collection=project.collection).count()
    names = ["ana", "ben", "chloe"]
    pages = {}
    problems: list[str] = []
    for name in names:
        user = UserFactory(username=name)
        user.set_password(PASSWORD)
        user.save()
        Membership.objects.create(project=project, user=user, role=Membership.Role.ANNOTATOR)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(10_000)
        page = context.new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        log_in(page, live_server, name)
        page.goto(f"{live_server.url}/p/{DEMO}/annotate/")
        page.wait_for_load_state()
        pages[name] = page

    handed_finished = []
    answers = Counter()
    keys = {"ana": "1", "ben": "2", "chloe": "3"}
    for _ in range(total + 2):
        active = 0
        for name, page in pages.items():
            segment_id = shown(page)
            if segment_id is None:
                continue
            active += 1
            # At the moment it is on screen, the segment still needs this person's answer.
            done = Annotation.objects.filter(
                project=project, segment_id=segment_id, status=Annotation.Status.SUBMITTED
            ).count()
            if done >= k:
                handed_finished.append((name, segment_id, done))
            submit_and_wait(page, segment_id, keys[name])
            answers[name] += 1
        if not active:
            break

    for page in pages.values():
        assert shown(page) is None
        page.context.close()
    assert handed_finished == []
    assert sum(answers.values()) == k * total
    per_segment = Counter(
        Annotation.objects.filter(project=project, status=Annotation.Status.SUBMITTED)
        .values_list("segment_id", flat=True)
        .order_by()
    )
    assert len(per_segment) == total
    assert set(per_segment.values()) == {k}
    assert problems == []
