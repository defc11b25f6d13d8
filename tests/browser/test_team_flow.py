"""A manager brings a colleague in, and the colleague labels: the whole way in the browser."""

from __future__ import annotations

from annotations.models import Annotation, Membership
from annotations.services.demo import demo_load
from tests.browser.conftest import PASSWORD, log_in

DEMO = "foreign-ministry-briefings"
NEW_PASSWORD = "violet tractor under the moon"


def test_a_manager_creates_an_account_and_the_colleague_labels_with_it(
    page, live_server, transactional_db
) -> None:
    demo_load(admin_password=PASSWORD)

    log_in(page, live_server, "admin")
    page.click(f"a[href='/p/{DEMO}/']")
    page.click("text=Members")
    form = page.locator("form", has_text="Create a new account")
    form.locator("input[name$=username]").fill("mei")
    form.locator("input[name$=password1]").fill(NEW_PASSWORD)
    form.locator("input[name$=password2]").fill(NEW_PASSWORD)
    form.locator("select[name$=role]").select_option("annotator")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#members td:has-text('mei')")
    page.click("text=Log out")
    page.wait_for_url(f"{live_server.url}/accounts/login/")

    log_in(page, live_server, "mei", NEW_PASSWORD)
    page.click(f"a[href='/p/{DEMO}/']")
    assert not page.is_visible("text=Members")  # an annotator does not manage
    page.click("text=Start labelling")
    # The keyboard is live once the page has loaded (keys pressed earlier go nowhere).
    page.wait_for_load_state()
    page.wait_for_selector(".segment-card")
    first = page.get_attribute(".segment-card", "data-segment-id")
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "(id) => document.querySelector('.segment-card').dataset.segmentId !== id", arg=first
    )

    membership = Membership.objects.get(user__username="mei")
    assert membership.role == Membership.Role.ANNOTATOR
    answer = Annotation.objects.get(annotator__username="mei")
    assert str(answer.segment_id) == first
    assert list(answer.labels.values_list("name", flat=True)) == ["Bilateral ties"]
