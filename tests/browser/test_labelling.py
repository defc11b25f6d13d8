"""The labelling flow as a person does it, in headless Chromium against the live server."""

from __future__ import annotations

import pytest

from annotations.models import Annotation, Membership
from annotations.services.demo import demo_load
from articles.models import Segment
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, SegmentedArticleFactory, UserFactory

DEMO = "foreign-ministry-briefings"


@pytest.fixture
def demo(transactional_db):
    return demo_load(admin_password=PASSWORD).project


@pytest.fixture
def analyst(demo):
    user = UserFactory(username="analyst")
    MembershipFactory(project=demo, user=user, role=Membership.Role.ANNOTATOR)
    return user


def shown(page) -> int:
    return int(page.get_attribute(".segment-card", "data-segment-id"))


def wait_for_segment(page, segment_id: int) -> None:
    page.wait_for_selector(f'.segment-card[data-segment-id="{segment_id}"]')


def wait_for_other_segment(page, than: int) -> int:
    page.wait_for_function(
        "(id) => { const c = document.querySelector('.segment-card');"
        " return c && c.dataset.segmentId !== String(id); }",
        arg=than,
    )
    return shown(page)


def answer_the_first_segment_with_label_1(page, live_server) -> int:
    """Log in as the analyst, answer the first segment of the demo with "1"; its id."""
    log_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/p/{DEMO}/annotate/")
    first = shown(page)
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    wait_for_other_segment(page, first)
    return first


def label_names(annotation: Annotation) -> set[str]:
    return set(annotation.labels.values_list("name", flat=True))


def test_labelling_five_segments_with_the_keyboard_then_changing_one(
    page, live_server, demo, analyst
) -> None:
    log_in(page, live_server, "analyst")
    page.click(f"a[href='/p/{DEMO}/']")
    page.wait_for_selector("text=Guidelines")
    page.click("text=Start labelling")
    # The keyboard is live once the page has loaded (keys pressed earlier go nowhere).
    page.wait_for_load_state()
    page.wait_for_selector(".segment-card")
    # A full page load would lose this; htmx swaps keep it.
    page.evaluate("window.__sameDocument = true")
    segments = list(Segment.objects.filter(article__collection=demo.collection).order_by("pk")[:6])
    keys = ["1", "2", "3", "4", "5"]

    for segment, key in zip(segments, keys, strict=False):
        assert shown(page) == segment.pk
        page.keyboard.press(key)
        page.wait_for_selector(f".label-button[data-shortcut='{key}'][aria-pressed='true']")
        if key == "3":
            page.keyboard.press("u")  # unsure
        page.keyboard.press("Enter")
        wait_for_other_segment(page, segment.pk)

    assert shown(page) == segments[5].pk
    assert page.evaluate("window.__sameDocument") is True
    assert "5 of 12" in page.text_content(".workspace-bar .progress")
    stored = {a.segment_id: a for a in Annotation.objects.filter(project=demo, annotator=analyst)}
    assert len(stored) == 5
    assert label_names(stored[segments[0].pk]) == {"Poverty"}
    assert stored[segments[2].pk].unsure is True

    # Back twice, to the fourth answer; change "Human rights" (4) to "Development" (6).
    page.keyboard.press("b")
    wait_for_segment(page, segments[4].pk)
    page.keyboard.press("b")
    wait_for_segment(page, segments[3].pk)
    assert page.get_attribute(".label-button[data-shortcut='4']", "aria-pressed") == "true"
    page.keyboard.press("4")
    page.keyboard.press("6")
    page.keyboard.press("Enter")
    wait_for_other_segment(page, segments[3].pk)
    assert page.evaluate("window.__sameDocument") is True

    changed = Annotation.objects.get(project=demo, annotator=analyst, segment=segments[3])
    assert label_names(changed) == {"Development"}
    assert changed.version == 2

    # Reload: everything is still there, shown from the server.
    page.goto(f"{live_server.url}/p/{DEMO}/annotate/?segment={segments[3].pk}")
    assert page.get_attribute(".label-button[data-shortcut='6']", "aria-pressed") == "true"
    assert page.get_attribute(".label-button[data-shortcut='4']", "aria-pressed") == "false"
    page.keyboard.press("v")
    page.wait_for_selector("#workspace[data-view='article']")
    chips = [" ".join(c.split()) for c in page.locator(".article-segment .chips").all_inner_texts()]
    assert chips[:6] == [
        "Poverty",
        "Legislation",
        "Bilateral ties unsure",
        "Development",
        "Democracy",
        "",
    ]


def test_keys_typed_ahead_of_the_server_are_applied_to_the_next_segments(
    page, live_server, demo, analyst
) -> None:
    log_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/p/{DEMO}/annotate/")
    segments = list(Segment.objects.filter(article__collection=demo.collection).order_by("pk")[:4])

    for key in ["1", "Enter", "2", "Enter", "7", "8", "Enter"]:
        page.keyboard.press(key)
    wait_for_segment(page, segments[3].pk)

    stored = {
        a.segment_id: label_names(a)
        for a in Annotation.objects.filter(project=demo, annotator=analyst)
    }
    assert stored == {
        segments[0].pk: {"Poverty"},
        segments[1].pk: {"Legislation"},
        segments[2].pk: {"Health & education", "Reform"},
    }


def test_the_help_opens_with_question_mark(page, live_server, demo, analyst) -> None:
    log_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/p/{DEMO}/annotate/")

    page.keyboard.press("?")
    assert page.is_visible("#shortcut-help")
    page.keyboard.press("Escape")
    assert not page.is_visible("#shortcut-help")


def test_an_edit_conflicting_with_another_tab_is_refused_with_a_message(
    context, page, live_server, demo, analyst
) -> None:
    first = answer_the_first_segment_with_label_1(page, live_server)

    # Both tabs open the answer at version 1.
    url = f"{live_server.url}/p/{DEMO}/annotate/?segment={first}"
    page.goto(url)
    other_tab = context.new_page()
    other_tab.goto(url)
    other_tab.keyboard.press("2")
    other_tab.keyboard.press("Enter")
    wait_for_other_segment(other_tab, first)

    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_selector(".save-error")

    message = page.text_content(".save-error")
    assert "changed elsewhere" in message
    assert "Legislation" in message  # what the other tab stored
    assert shown(page) == first
    stored = Annotation.objects.get(project=demo, annotator=analyst, segment_id=first)
    assert label_names(stored) == {"Poverty", "Legislation"}
    assert stored.version == 2
    other_tab.close()


def test_a_failed_save_is_shown_and_the_selection_kept_for_a_retry(
    page, live_server, demo, analyst
) -> None:
    log_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/p/{DEMO}/annotate/")
    first = shown(page)
    page.route("**/answer/", lambda route: route.abort("connectionrefused"))

    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector("#request-error:not([hidden])")

    assert "nothing was saved" in page.text_content("#request-error")
    assert shown(page) == first
    assert page.get_attribute(".label-button[data-shortcut='2']", "aria-pressed") == "true"
    assert not Annotation.objects.exists()

    page.unroute("**/answer/")
    page.keyboard.press("Enter")
    wait_for_other_segment(page, first)
    assert page.is_hidden("#request-error")
    assert Annotation.objects.filter(segment_id=first).count() == 1
    page.problems.clear()  # the aborted request's console line


def test_an_expired_session_is_reported_not_swapped_in(page, live_server, demo, analyst) -> None:
    log_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/p/{DEMO}/annotate/")
    first = shown(page)
    page.context.clear_cookies(name="sessionid")

    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#request-error:not([hidden])")

    assert "session has ended" in page.text_content("#request-error")
    assert shown(page) == first
    assert not page.is_visible("input[name=password]")
    page.problems.clear()  # the 401 and CSRF console lines


def test_hostile_article_text_does_not_run(page, live_server, demo, analyst) -> None:
    SegmentedArticleFactory(
        collection=demo.collection,
        title="<script>alert('title')</script>",
        body="<img src=x onerror=alert(1)> <svg onload=alert(2)>\n\n"
        "<iframe src=javascript:alert(3)></iframe> &lt;script&gt;",
    )
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, live_server, "analyst")
    segment = Segment.objects.filter(article__title__startswith="<script>").first()

    page.goto(f"{live_server.url}/p/{DEMO}/annotate/?segment={segment.pk}")
    page.keyboard.press("v")
    page.wait_for_selector("#workspace[data-view='article']")

    assert dialogs == []
    assert page.locator(".segment-card img, .segment-card svg, iframe, main script").count() == 0
    assert "<img src=x onerror=alert(1)>" in page.text_content(".segment-card")


def test_the_browsers_back_button_returns_to_the_previous_segment_as_a_whole_page(
    page, live_server, demo, analyst
) -> None:
    first = answer_the_first_segment_with_label_1(page, live_server)

    page.go_back()
    wait_for_segment(page, first)

    assert page.is_visible("header.topbar")  # the page around the workspace is whole
    assert page.locator("#workspace").count() == 1
    assert page.get_attribute(".label-button[data-shortcut='1']", "aria-pressed") == "true"
