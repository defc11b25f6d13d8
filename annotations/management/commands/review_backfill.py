from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.models import Project
from annotations.services.review import review_backfill


class Command(BaseCommand):
    help = (
        "Recompute the review rows and automatic (unanimous) gold labels of a project, or of "
        "every project with --all: for answers given before review existed. Gold labels set "
        "by reviewers are left alone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", help="Project slugs.")
        parser.add_argument("--all", action="store_true", help="Every project.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"] == bool(options["slugs"]):
            raise CommandError("Name one or more projects, or pass --all.")
        projects = Project.objects.order_by("pk")
        if not options["all"]:
            projects = projects.filter(slug__in=options["slugs"])
            missing = set(options["slugs"]) - set(projects.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"No such project: {', '.join(sorted(missing))}.")
        for project in projects:
            result = review_backfill(project=project)
            self.stdout.write(
                f"{project.slug}: {result.segments} answered segments, {result.accepted} "
                f"accepted as unanimous, {result.withdrawn} withdrawn."
            )
