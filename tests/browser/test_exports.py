"""The Export page in headless Chromium: start an export, watch its progress, download it."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from annotations.exporting import writers
from annotations.models import Export, Membership
from annotations.services.answers import annotation_submit
from annotations.services.exports import export_run_queued
from articles.models import Segment
from tests.browser.conftest import log_in
from tests.factories import MembershipFactory, UserFactory, labelled_project


@pytest.fixture
def project(transactional_db):
    project = labelled_project(name="Export desk", slug="export-desk", articles=8, paragraphs=5)
    label = project.label_set.labels.first()
    person = UserFactory(username="labeller")
    for segment in Segment.objects.filter(article__collection=project.collection):
        annotation_submit(project=project, segment=segment, annotator=person, labels=[label])
    return project


@pytest.fixture
def editor(project):
    user = UserFactory(username="editor")
    MembershipFactory(project=project, user=user, role=Membership.Role.MANAGER)
    return user


def run_worker_slowly(export_id: int, monkeypatch) -> threading.Thread:
    """What the db_worker does with the queued export, in a thread and slowed down to about
    4 s (0.1 s a row) so that the page can be seen polling a running export."""
    from annotations.services import exports

    monkeypatch.setattr(exports, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(exports, "SQL_JSON_LINES", False)  # row by row, through JsonlWriter
    write = writers.JsonlWriter.write

    def slow_write(self, row):
        time.sleep(0.1)
        write(self, row)

    monkeypatch.setattr(writers.JsonlWriter, "write", slow_write)

    def work() -> None:
        from django.db import connection

        try:
            export_run_queued(export_id=export_id)
        finally:
            connection.close()

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_manager_starts_an_export_watches_it_and_downloads_it(
    page, live_server, project, editor, monkeypatch
) -> None:
    log_in(page, live_server, "editor")
    page.goto(f"{live_server.url}/p/{project.slug}/")
    page.click("a:has-text('Export')")
    page.wait_for_selector("h1:has-text('Export Export desk')")
    assert page.input_value("select[name=format]") == "folder"
    assert page.input_value("input[name=split]") == "0.8,0.1,0.1"
    page.select_option("select[name=format]", "jsonl")
    page.select_option("select[name=labels]", "raw")
    page.click("button:has-text('Start export')")

    row = page.locator("tr[data-status]").first
    row.wait_for()
    assert row.get_attribute("data-status") == "queued"
    export = Export.objects.get(project=project)
    # Every state the row shows from now on, with its progress bar's value.
    page.evaluate(
        """() => {
          window.__seen = [];
          const body = document.querySelector(".export-table tbody");
          new MutationObserver(() => {
            const row = body.querySelector("tr[data-status]");
            const bar = row.querySelector("progress");
            window.__seen.push([row.dataset.status, bar ? Number(bar.value) : null]);
          }).observe(body, {childList: true, subtree: true});
        }"""
    )
    worker = run_worker_slowly(export.pk, monkeypatch)
    page.wait_for_selector("tr[data-status=succeeded] a:has-text('Download')", timeout=20_000)
    worker.join()

    seen = page.evaluate("window.__seen")
    running = [value for status, value in seen if status == "running"]
    assert running, seen
    assert any(0 < value < 100 for value in running), seen
    assert seen[-1] == ["succeeded", None]
    with page.expect_download() as download_info:
        page.click("tr[data-status=succeeded] a:has-text('Download')")
    download = download_info.value
    assert download.suggested_filename == "export-desk-raw.jsonl"
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 40
    assert json.loads(lines[0])["annotator"] == "annotator-1"
