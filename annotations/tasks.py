"""Background tasks, run by the ``django-tasks-db`` worker (``manage.py db_worker``)."""

from __future__ import annotations

from django.tasks import task


@task
def review_backfill_run(project_id: int) -> None:
    """Recompute a project's review rows and automatic gold labels (after its k or its
    automatic acceptance changed)."""
    from .models import Project
    from .services.review import review_backfill

    project = Project.objects.filter(pk=project_id).first()
    if project is not None:
        review_backfill(project=project)


@task
def export_run(export_id: int) -> None:
    """Build a queued dataset export; failures are recorded on the export itself."""
    from .services.exports import export_run_queued

    export_run_queued(export_id=export_id)


@task
def figures_compute(project_id: int) -> None:
    """Recompute a project's dashboard figures (services.reports.figures_refresh)."""
    from .services.reports import figures_refresh

    figures_refresh(project_id=project_id)
