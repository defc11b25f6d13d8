from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotations.models import Project
from annotations.services.reports import project_figures


class Command(BaseCommand):
    help = (
        "A project's team figures: progress, answers, agreement per label and overall, "
        "Cohen's kappa between annotators, per-annotator signals and gold labels. "
        "Computed now from all answers (null where a figure is undefined)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The project's address name.")
        parser.add_argument("--json", action="store_true", help="Print one JSON object.")

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.select_related("collection").filter(slug=options["slug"]).first()
        if project is None:
            raise CommandError(f"No project with the address name “{options['slug']}”.")
        report = project_figures(project=project)["report"]
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2))
            return
        self._summary(report)

    def _summary(self, report: dict[str, Any]) -> None:
        def figure(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        answers = report["answers"]
        overall = report["agreement"]["overall"]
        self.stdout.write(
            f"{report['project']}: {report['segments_complete']} of {report['segments']} "
            f"segments complete; {answers['submitted']} submitted, {answers['skipped']} "
            f"skipped, {answers['unsure']} unsure."
        )
        self.stdout.write(
            f"Agreement: alpha (MASI) {figure(overall['alpha_masi'])}, exact sets "
            f"{figure(overall['exact_agreement'])}."
        )
        for slug, values in report["agreement"]["labels"].items():
            self.stdout.write(
                f"  {slug}: alpha {figure(values['alpha'])}, "
                f"agreement {figure(values['percent_agreement'])}"
            )
        gold = report["gold"]
        self.stdout.write(
            f"Gold: {gold['unanimous']} unanimous, {gold['majority']} majority, "
            f"{gold['adjudicated']} adjudicated; {gold['awaiting_review']} awaiting review."
        )
