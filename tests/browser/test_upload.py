"""Uploading articles in headless Chromium: both progress bars, then the summary."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotations.models import Membership
from articles.models import Article, ImportBatch
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory, labelled_project

ARTICLES = 3000


@pytest.fixture
def project(transactional_db):
    return labelled_project(name="Upload desk", slug="upload-desk")


@pytest.fixture
def editor(project):
    user = UserFactory(username="editor")
    MembershipFactory(project=project, user=user, role=Membership.Role.MANAGER)
    return user


@pytest.fixture
def big_feed(tmp_path: Path) -> Path:
    path = tmp_path / "wire <2024>.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for i in range(ARTICLES):
            record = {
                "id": f"wire-{i}",
                "title": f"Story {i}",
                "text": f"Reporters filed story number {i} this morning.\n\n"
                f"Officials said item {i} would be reviewed next week.",
            }
            out.write(json.dumps(record) + "\n")
    return path


def test_manager_uploads_a_feed_and_watches_it_import(
    page, live_server, project, editor, big_feed, monkeypatch
) -> None:
    # Events every 20 ms instead of 200: a few thousand records then surely yield several.
    monkeypatch.setattr("articles.services.PROGRESS_INTERVAL", 0.02)
    log_in(page, live_server, "editor")
    page.goto(f"{live_server.url}/p/{project.slug}/import/")
    page.wait_for_selector("h1:has-text('Import articles')")
    page.evaluate(
        """() => {
          const text = document.querySelector("[data-import-text]");
          window.__importTexts = [];
          new MutationObserver(() => window.__importTexts.push(text.textContent))
            .observe(text, {childList: true, characterData: true, subtree: true});
        }"""
    )

    page.set_input_files("input[name=files]", str(big_feed))
    page.select_option("select[name=segmentation]", "paragraph")
    page.click("button[data-upload-submit]")

    page.wait_for_selector("[data-upload-progress]", state="visible")
    assert page.get_attribute("#upload-bar", "max") is not None
    summary = page.wait_for_selector("[data-upload-result] .alert-ok", timeout=60_000)
    assert summary.text_content() == (
        f"Created {ARTICLES} articles and {2 * ARTICLES} segments; skipped 0 duplicates."
    )
    texts = page.evaluate("window.__importTexts")
    assert any(" read · " in text and " 0 articles" not in text for text in texts), texts
    assert page.evaluate(
        "(() => { const bar = document.querySelector('#import-bar');"
        " return bar.value === bar.max; })()"
    )
    # The history is refreshed in place, and the odd file name is shown as text.
    page.wait_for_selector("#import-history :text('wire <2024>.jsonl')")
    assert page.locator("#import-history .batch-status-succeeded").count() == 1
    assert page.locator(
        f"#import-history :text('The collection holds {2 + ARTICLES} articles')"
    ).is_visible()

    assert Article.objects.filter(collection=project.collection).count() == 2 + ARTICLES
    assert Article.objects.filter(external_id="wire-2999", title="Story 2999").exists()
    batch = ImportBatch.objects.get()
    assert (batch.created_by, batch.status) == (editor, ImportBatch.Status.SUCCEEDED)


def test_a_refused_upload_lists_each_problem(page, live_server, project, editor, tmp_path) -> None:
    bad = tmp_path / "broken.jsonl"
    bad.write_text('{"text": "A fine story."}\n{"text": "cut off",\n')
    log_in(page, live_server, "editor")
    page.goto(f"{live_server.url}/p/{project.slug}/import/")

    page.set_input_files("input[name=files]", str(bad))
    page.click("button[data-upload-submit]")

    alert = page.wait_for_selector("[data-upload-result] .alert-error")
    assert "Import refused: 1 problem(s); nothing was imported." in alert.text_content()
    (problem,) = page.locator(".upload-problems li").all_text_contents()
    assert problem.startswith("broken.jsonl, line 2: invalid JSON")
    assert Article.objects.filter(collection=project.collection).count() == 2
