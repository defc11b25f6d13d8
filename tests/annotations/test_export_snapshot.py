"""One export reads one snapshot: on PostgreSQL, answers written while it runs are not in it."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from annotations.models import Annotation, Export
from annotations.services.answers import annotation_submit
from annotations.services.exports import ExportOptions, export_build, export_create
from articles.models import Segment
from tests.factories import UserFactory, labelled_project

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="REPEATABLE READ snapshots are PostgreSQL's"
)


def in_another_connection(work) -> None:
    """Run ``work`` in a thread, so through its own connection, committed when it returns."""
    failures: list[BaseException] = []

    def run() -> None:
        from django.db import connection as own

        try:
            work()
        except BaseException as exc:  # re-raised in the test's thread
            failures.append(exc)
        finally:
            own.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("labels", ["raw", "majority"])
def test_a_concurrent_writer_does_not_change_a_running_export(tmp_path, labels) -> None:
    # Three people, then a fourth while the export runs: room for four answers per segment.
    project = labelled_project(
        name="Snapshot", slug="snapshot", articles=3, paragraphs=4, annotators_per_segment=4
    )
    people = [UserFactory(username=f"person{n}") for n in range(3)]
    late = UserFactory(username="late")
    theme = list(project.label_set.labels.all())
    segments = list(Segment.objects.filter(article__collection=project.collection))
    for person in people:
        for segment in segments:
            annotation_submit(project=project, segment=segment, annotator=person, labels=theme[:1])
    options = ExportOptions(labels=labels, min_answers=2)
    before = export_build(
        export=export_create(project=project, options=options, by=None), out=tmp_path / "a.jsonl"
    )

    def write_meanwhile() -> None:
        for segment in segments:
            annotation_submit(project=project, segment=segment, annotator=late, labels=theme[1:2])
        Annotation.objects.filter(project=project).update(comment="changed", version=9)
        for answer in Annotation.objects.filter(project=project, annotator=people[0]):
            answer.labels.set(theme[2:3])

    calls = []

    def on_progress(done: int, total: int) -> None:
        # The first call comes after the export's first read, so its snapshot is taken.
        if not calls:
            in_another_connection(write_meanwhile)
        calls.append(done)

    export = export_create(project=project, options=options, by=None)
    during = export_build(export=export, out=tmp_path / "b.jsonl", on_progress=on_progress)
    after = export_build(
        export=export_create(project=project, options=options, by=None), out=tmp_path / "c.jsonl"
    )

    assert calls, "the export reported no progress"
    assert (tmp_path / "b.jsonl").read_bytes() == (tmp_path / "a.jsonl").read_bytes()
    assert during.sha256 == before.sha256
    assert after.sha256 != before.sha256  # the writer's changes were committed
    assert Export.objects.get(pk=export.pk).status == Export.Status.SUCCEEDED


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_to_others_while_the_export_runs(tmp_path, monkeypatch) -> None:
    from annotations.services import exports

    monkeypatch.setattr(exports, "PROGRESS_SECONDS", 0)
    monkeypatch.setattr(exports, "FETCH_ROWS", 2)  # progress moves a chunk at a time
    monkeypatch.setattr(exports, "COPY_BATCH_BYTES", 1)  # ... also for the database's lines
    project = labelled_project(name="Progress", slug="progress", articles=2, paragraphs=3)
    person = UserFactory(username="someone")
    label = project.label_set.labels.first()
    for segment in Segment.objects.filter(article__collection=project.collection):
        annotation_submit(project=project, segment=segment, annotator=person, labels=[label])
    export = export_create(project=project, options=ExportOptions(labels="raw"), by=None)
    seen: list[tuple[str, int, int]] = []

    def look() -> None:
        row = Export.objects.get(pk=export.pk)
        seen.append((row.status, row.rows_done, row.rows_total))

    export_build(
        export=export,
        out=tmp_path / "raw.jsonl",
        on_progress=lambda done, total: in_another_connection(look),
    )

    assert seen[0] == ("running", 0, 6)
    assert any(status == "running" and 0 < done < 6 for status, done, _ in seen), seen
