"""The labelling screen for keyboard and low-vision use: guidelines and pressed-label contrast."""

from __future__ import annotations

import re

import pytest

from annotations.colors import contrast_ratio
from annotations.models import Membership
from annotations.services.demo import demo_load
from tests.browser.conftest import PASSWORD, log_in
from tests.factories import MembershipFactory, UserFactory

DEMO = "foreign-ministry-briefings"


@pytest.fixture
def demo(transactional_db):
    project = demo_load(admin_password=PASSWORD).project
    MembershipFactory(
        project=project, user=UserFactory(username="analyst"), role=Membership.Role.ANNOTATOR
    )
    return project


def hex_of(css: str) -> str:
    red, green, blue = (int(part) for part in re.findall(r"\d+", css)[:3])
    return f"#{red:02x}{green:02x}{blue:02x}"


def test_guidelines_open_with_the_keyboard_and_describe_each_label(page, live_server, demo) -> None:
    labels = list(demo.label_set.labels.filter(active=True).order_by("order"))
    log_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/p/{DEMO}/annotate/")
    help_panel = page.locator("#shortcut-help")
    assert help_panel.is_hidden()

    page.keyboard.press("?")

    assert help_panel.is_visible()
    for label in labels:
        guideline = page.locator(f"#guideline-{label.pk}")
        assert guideline.is_visible()
        assert guideline.inner_text() == label.description
    # The same text is each button's accessible description, read out when it has focus.
    button = page.locator(f'.label-button[data-label-id="{labels[0].pk}"]')
    assert button.get_attribute("aria-describedby") == f"guideline-{labels[0].pk}"
    page.keyboard.press("Escape")
    assert help_panel.is_hidden()


def test_every_pressed_label_button_has_aa_contrast(page, live_server, demo) -> None:
    labels = list(demo.label_set.labels.filter(active=True).order_by("order"))
    log_in(page, live_server, "analyst")
    page.goto(f"{live_server.url}/p/{DEMO}/annotate/")

    for label in labels:
        button = page.locator(f'.label-button[data-label-id="{label.pk}"]')
        button.click()
        assert button.get_attribute("aria-pressed") == "true"
        text, background = button.evaluate(
            "(b) => { const s = getComputedStyle(b); return [s.color, s.backgroundColor]; }"
        )
        assert hex_of(background) == label.color.lower()
        assert contrast_ratio(hex_of(text), hex_of(background)) >= 4.5, label.name
        if not demo.multi_label:
            break
