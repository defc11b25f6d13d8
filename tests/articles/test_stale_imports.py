"""Imports left "running" by a worker that died: recognised by their heartbeat, marked failed
with the reason, their upload folders removed; by the next import, the import page, the
admin's collection and batch lists, and ``manage.py import_sweep``."""

from __future__ import annotations

import io
import json
import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.urls import reverse
from django.utils import timezone

from articles import services
from articles.models import ImportBatch
from articles.services import (
    STALE_IMPORT_MESSAGE,
    ImportProgress,
    ImportResult,
    articles_import_steps,
    imports_fail_stale,
)
from tests.factories import CollectionFactory

pytestmark = pytest.mark.django_db

TWO_HOURS = timedelta(hours=2)


@pytest.fixture
def upload_root(settings, tmp_path: Path) -> Path:
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    settings.THEMATA_IMPORT_STALE_AFTER = 3600
    return tmp_path


def running_batch(*, started_ago: timedelta, last_beat_ago: timedelta, collection=None):
    batch = ImportBatch.objects.create(collection=collection or CollectionFactory(), format="auto")
    now = timezone.now()
    ImportBatch.objects.filter(pk=batch.pk).update(
        created_at=now - started_ago, updated_at=now - last_beat_ago
    )
    return batch


def upload_folder(root: Path, name: str, *, silent_for: float) -> Path:
    folder = root / f"{services.UPLOAD_DIRECTORY_PREFIX}{name}"
    folder.mkdir()
    (folder / "001.jsonl").write_text("{}\n")
    then = time.time() - silent_for
    os.utime(folder, (then, then))
    return folder


def assert_swept(batch: ImportBatch) -> None:
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED
    assert batch.finished_at is not None
    assert batch.errors[-1]["message"] == STALE_IMPORT_MESSAGE


def test_a_batch_without_a_heartbeat_is_failed_with_the_reason(upload_root: Path) -> None:
    dead = running_batch(started_ago=TWO_HOURS, last_beat_ago=TWO_HOURS)
    dead_folder = upload_folder(upload_root, "dead", silent_for=7200)

    assert imports_fail_stale() == 1

    assert_swept(dead)
    assert not dead_folder.exists()
    assert imports_fail_stale() == 0


def test_a_long_import_whose_heartbeat_is_fresh_is_never_swept(upload_root: Path) -> None:
    # Started two hours ago (twice the limit) but beat a minute ago: alive.
    alive = running_batch(started_ago=TWO_HOURS, last_beat_ago=timedelta(minutes=1))
    alive_folder = upload_folder(upload_root, "alive", silent_for=60)

    assert imports_fail_stale() == 0

    alive.refresh_from_db()
    assert alive.status == ImportBatch.Status.RUNNING
    assert alive_folder.exists()


def test_finished_batches_are_left_as_they_are(upload_root: Path) -> None:
    done = running_batch(started_ago=TWO_HOURS, last_beat_ago=TWO_HOURS)
    ImportBatch.objects.filter(pk=done.pk).update(status=ImportBatch.Status.SUCCEEDED)

    assert imports_fail_stale() == 0
    done.refresh_from_db()
    assert done.status == ImportBatch.Status.SUCCEEDED and done.errors == []


def test_opening_the_import_page_sweeps_stale_imports(
    upload_root: Path, client, project, manager
) -> None:
    dead = running_batch(
        started_ago=TWO_HOURS, last_beat_ago=TWO_HOURS, collection=project.collection
    )
    client.force_login(manager)

    response = client.get(reverse("annotations:import_upload", args=[project.slug]))

    assert response.status_code == 200
    assert_swept(dead)
    assert "Failed" in response.content.decode()


def test_the_import_history_partial_sweeps_stale_imports(
    upload_root: Path, client, project, manager
) -> None:
    dead = running_batch(
        started_ago=TWO_HOURS, last_beat_ago=TWO_HOURS, collection=project.collection
    )
    client.force_login(manager)

    response = client.get(
        reverse("annotations:import_upload", args=[project.slug]), headers={"HX-Request": "true"}
    )

    assert response.status_code == 200
    assert "<html" not in response.content.decode()
    assert_swept(dead)


@pytest.mark.parametrize("model", ["collection", "importbatch"])
def test_the_admin_collection_and_batch_lists_sweep_stale_imports(
    upload_root: Path, client, admin_user, model: str
) -> None:
    dead = running_batch(started_ago=TWO_HOURS, last_beat_ago=TWO_HOURS)
    client.force_login(admin_user)

    response = client.get(reverse(f"admin:articles_{model}_changelist"))

    assert response.status_code == 200
    assert_swept(dead)


def test_the_import_sweep_command_marks_stale_batches_and_removes_their_folders(
    upload_root: Path,
) -> None:
    dead = running_batch(started_ago=TWO_HOURS, last_beat_ago=TWO_HOURS)
    alive = running_batch(started_ago=TWO_HOURS, last_beat_ago=timedelta(seconds=5))
    dead_folder = upload_folder(upload_root, "dead", silent_for=7200)
    out = io.StringIO()

    call_command("import_sweep", "--dry-run", stdout=out)
    assert "1 stale import" in out.getvalue()
    dead.refresh_from_db()
    assert dead.status == ImportBatch.Status.RUNNING and dead_folder.exists()

    call_command("import_sweep", stdout=out)

    assert "Marked 1 stale import" in out.getvalue()
    assert_swept(dead)
    assert not dead_folder.exists()
    alive.refresh_from_db()
    assert alive.status == ImportBatch.Status.RUNNING


def write_records(path: Path, count: int) -> Path:
    path.write_text(
        "".join(
            json.dumps({"text": f"Story {i} about the harbour.\n\nIt reopened on day {i}."}) + "\n"
            for i in range(count)
        ),
        encoding="utf-8",
    )
    return path


def test_a_running_import_touches_its_upload_folder(
    upload_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "heartbeat_interval", lambda: 0.0)
    folder = upload_folder(upload_root, "live", silent_for=0)
    path = write_records(folder / "002.jsonl", 5)

    steps = articles_import_steps(collection=CollectionFactory(), paths=[path], progress_interval=0)
    assert isinstance(next(steps), ImportProgress)
    # The upload has been waiting for two hours since (a very slow import).
    os.utime(folder, (time.time() - 7200, time.time() - 7200))
    for step in steps:
        if isinstance(step, ImportProgress) and step.articles_read:
            # Mid-import: the heartbeat touched the folder; a sweep now leaves it alone.
            assert time.time() - folder.stat().st_mtime < 60
            imports_fail_stale()
            assert folder.exists()

    assert isinstance(step, ImportResult)
    assert step.succeeded, step.errors


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="SQLite cannot take a heartbeat's write while the import holds the database",
)
@pytest.mark.django_db(transaction=True)
def test_a_running_import_beats_from_outside_its_transaction(
    upload_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(services, "heartbeat_interval", lambda: 0.0)
    steps = articles_import_steps(
        collection=CollectionFactory(),
        paths=[write_records(tmp_path / "a.jsonl", 20)],
        progress_interval=0,
    )
    first = next(steps)
    assert isinstance(first, ImportProgress)
    batch = ImportBatch.objects.filter(status=ImportBatch.Status.RUNNING).get()
    # Make the batch look silent for two hours, from another connection (as a dead worker's
    # batch would); the import's transaction cannot see or write the row otherwise.
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    with other.cursor() as cursor:
        cursor.execute(
            "UPDATE articles_importbatch SET created_at = %s, updated_at = %s WHERE id = %s",
            [timezone.now() - TWO_HOURS, timezone.now() - TWO_HOURS, batch.pk],
        )
    other.close()

    swept_midway = None
    for step in steps:
        if isinstance(step, ImportProgress) and step.articles_read and swept_midway is None:
            # The heartbeat is committed by its own connection, so others see it at once.
            beat = ImportBatch.objects.values_list("updated_at", flat=True).get(pk=batch.pk)
            assert timezone.now() - beat < timedelta(minutes=1)
            swept_midway = imports_fail_stale()

    assert swept_midway == 0
    assert isinstance(step, ImportResult) and step.succeeded
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.SUCCEEDED
