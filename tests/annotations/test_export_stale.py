"""Exports whose worker died: a running export with no heartbeat for
``THEMATA_EXPORT_STALE_MINUTES`` is marked failed, with the reason, and its partial files go.

A killed worker is simulated as it leaves things: the export's row still "running" with an
old heartbeat, and its temporary folder half written beside the target.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from annotations.models import Export
from annotations.services import exports as exports_service
from annotations.services.answers import annotation_submit
from annotations.services.exports import (
    ExportOptions,
    ExportRefused,
    export_build,
    export_create,
    export_default_path,
    export_run_queued,
    exports_fail_stale,
)
from articles.models import Segment

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def answered(project, annotator):
    labels = list(project.label_set.labels.all())
    for n, segment in enumerate(Segment.objects.filter(article__collection=project.collection)):
        annotation_submit(
            project=project, segment=segment, annotator=annotator, labels=[labels[n % 2]]
        )
    return project


def left_running(project, *, minutes_silent: float) -> tuple[Export, Path]:
    """An export as a worker leaves it when killed ``minutes_silent`` minutes after its
    last progress: still running, and a partial folder beside its target."""
    export = export_create(project=project, options=ExportOptions(format="jsonl"), by=None)
    out = export_default_path(export)
    beat = timezone.now() - timedelta(minutes=minutes_silent)
    Export.objects.filter(pk=export.pk).update(
        status=Export.Status.RUNNING,
        started_at=beat - timedelta(minutes=1),
        progress_at=beat,
        rows_done=40,
        rows_total=100,
        path=str(out),
    )
    partial = out.parent / f".{out.name}.export-{export.pk}.k9x2.partial"
    partial.mkdir(parents=True)
    (partial / "data").write_text('{"segment_id": 1}\n{"segm')
    return export, partial


def test_an_export_whose_worker_was_killed_is_marked_failed_and_its_partial_files_removed(
    client, manager, project
) -> None:
    killed, killed_partial = left_running(project, minutes_silent=11)
    alive, alive_partial = left_running(project, minutes_silent=0.1)
    client.force_login(manager)

    response = client.get(reverse("annotations:export_list", args=[project.slug]))

    killed.refresh_from_db()
    alive.refresh_from_db()
    assert killed.status == Export.Status.FAILED
    assert "Its worker stopped: no progress since" in killed.error
    assert "more than 10 minutes" in killed.error
    assert killed.finished_at is not None
    assert not killed_partial.exists()
    assert killed_partial.parent.is_dir()  # only the partial folder goes
    assert alive.status == Export.Status.RUNNING
    assert alive_partial.exists()
    html = response.content.decode()
    assert f'id="export-{killed.pk}"' in html and "Its worker stopped" in html


def test_the_polled_row_of_a_killed_export_turns_failed(client, manager, project) -> None:
    killed, partial = left_running(project, minutes_silent=30)
    client.force_login(manager)

    response = client.get(
        reverse("annotations:export_status", args=[project.slug, killed.pk]), **HTMX
    )

    html = response.content.decode()
    assert 'data-status="failed"' in html
    assert "hx-trigger" not in html  # it stops polling
    assert not partial.exists()


def test_the_admin_list_marks_killed_exports_failed(client, admin_user, project) -> None:
    killed, partial = left_running(project, minutes_silent=11)
    client.force_login(admin_user)

    response = client.get(reverse("admin:annotations_export_changelist"))

    assert response.status_code == 200
    killed.refresh_from_db()
    assert killed.status == Export.Status.FAILED
    assert not partial.exists()


def test_a_worker_starting_an_export_marks_killed_ones_failed(answered) -> None:
    killed, partial = left_running(answered, minutes_silent=11)
    queued = export_create(project=answered, options=ExportOptions(format="jsonl"), by=None)

    export_run_queued(export_id=queued.pk)

    killed.refresh_from_db()
    queued.refresh_from_db()
    assert killed.status == Export.Status.FAILED
    assert not partial.exists()
    assert queued.status == Export.Status.SUCCEEDED


def test_the_silence_allowed_is_a_setting(project, settings) -> None:
    settings.THEMATA_EXPORT_STALE_MINUTES = 60
    export, partial = left_running(project, minutes_silent=11)

    assert exports_fail_stale() == []

    settings.THEMATA_EXPORT_STALE_MINUTES = 5
    assert exports_fail_stale(project=project) == [export.pk]
    assert not partial.exists()


def test_another_projects_page_leaves_this_projects_exports_alone(
    client, manager, project, other_project
) -> None:
    elsewhere, partial = left_running(other_project, minutes_silent=11)
    client.force_login(manager)

    client.get(reverse("annotations:export_list", args=[project.slug]))

    elsewhere.refresh_from_db()
    assert elsewhere.status == Export.Status.RUNNING
    assert partial.exists()


def test_progress_moves_the_heartbeat(answered, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(exports_service, "PROGRESS_SECONDS", 0)
    export = export_create(project=answered, options=ExportOptions(format="csv"), by=None)
    beats = []

    def on_progress(done: int, total: int) -> None:
        beats.append(Export.objects.values_list("progress_at", flat=True).get(pk=export.pk))

    export_build(export=export, out=tmp_path / "data.csv", on_progress=on_progress)

    assert len(beats) >= 2 and all(beats)
    assert beats == sorted(beats)


def test_an_export_declared_lost_while_it_ran_does_not_succeed(answered, tmp_path) -> None:
    export = export_create(project=answered, options=ExportOptions(format="jsonl"), by=None)
    out = tmp_path / "data.jsonl"

    def declared_lost(done: int, total: int) -> None:
        Export.objects.filter(pk=export.pk).update(
            status=Export.Status.FAILED, error="Its worker stopped."
        )

    with pytest.raises(ExportRefused, match="marked failed while it ran"):
        export_build(export=export, out=out, on_progress=declared_lost)

    export.refresh_from_db()
    assert export.status == Export.Status.FAILED
    assert export.error == "Its worker stopped."
    assert not out.exists()
    assert not list(tmp_path.iterdir())
