"""Dashboard benchmark: ``python -m tests.bench.run dashboard`` (also part of ``make bench``).

Builds the labelling benchmark's big database (``annotate.build_database``: 200,000
segments, 1,000,000 answers by 7 annotators, 8 labels, k = 5) and adds a manager. Then, each
in a child process with ``DEBUG=false``:

1. **compute**: the background task's body, ``figures_refresh`` (the whole report over the
   1M answers, stored in ``ProjectFigures``), timed: wall time, the child's own CPU time
   (``time.process_time``) and its PostgreSQL backend's (``/proc/<pid>/stat``, when the
   server runs on this machine), since on a shared machine only CPU time is comparable;
   with the child's peak RSS before and after (``VmHWM``).
2. **page**: the dashboard as the manager with the Django test client: the first visit
   (which queues a recomputation), then full pages and htmx polls with stored figures,
   each timed, their queries counted.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import psycopg

from tests.bench.annotate import BIG, PROJECT_SLUG, Scale, build_database, child_result, summary

ROOT = Path(__file__).resolve().parents[2]
MANAGER = "bench-manager"
TARGET_PAGE_MS = 200.0


def _peak_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _add_manager(url: str) -> None:
    with psycopg.connect(url) as conn:
        (user_id,) = conn.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name,"
            " email, is_staff, is_active, date_joined)"
            " VALUES ('!', false, %s, '', '', '', false, true, now()) RETURNING id",
            [MANAGER],
        ).fetchone()
        conn.execute(
            "INSERT INTO annotations_membership (role, created_at, user_id, project_id)"
            " SELECT 'manager', now(), %s, id FROM annotations_project WHERE slug = %s",
            [user_id, PROJECT_SLUG],
        )


def _backend_cpu_seconds() -> float | None:
    """CPU time (user + system) of this process's PostgreSQL backend so far, if readable."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None  # the server runs elsewhere (another host or container)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compute() -> dict:
    """Run the background computation once, as the worker would."""
    import django

    django.setup()
    from annotations.models import Project, ProjectFigures
    from annotations.services.reports import figures_refresh

    project = Project.objects.get(slug=PROJECT_SLUG)
    ProjectFigures.objects.filter(project=project).delete()
    ProjectFigures.objects.create(project=project)
    baseline = _peak_kb()
    backend_before = _backend_cpu_seconds()
    cpu_before = time.process_time()
    started = time.perf_counter()
    figures_refresh(project_id=project.pk)
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    backend_after = _backend_cpu_seconds()
    figures = ProjectFigures.objects.get(project=project)
    report = figures.data["report"]
    return {
        "seconds": seconds,
        "cpu_seconds": cpu,
        "postgres_cpu_seconds": (
            backend_after - backend_before
            if backend_before is not None and backend_after is not None
            else None
        ),
        "load": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "status": figures.status,
        "peak_mb": _peak_kb() / 1024,
        "baseline_mb": baseline / 1024,
        "answers": figures.data["answers_read"],
        "submitted": report["answers"]["submitted"],
        "alpha_masi": report["agreement"]["overall"]["alpha_masi"],
        "segments_complete": report["segments_complete"],
        "json_kb": len(json.dumps(figures.data)) / 1024,
    }


def page(loads: int) -> dict:
    """Time the dashboard page and its polled partial with the test client."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from annotations.models import ProjectFigures

    assert not settings.DEBUG, "measure with DEBUG off"
    client = Client()
    client.force_login(get_user_model().objects.get(username=MANAGER))
    url = reverse("annotations:dashboard", args=[PROJECT_SLUG])

    def timed(**headers: str) -> tuple[float, int]:
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url, **headers)
            elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"GET {url}: {response.status_code}")
        return elapsed, len(queries)

    # The figures from the compute step, made a minute old with answers "changed" since:
    # the first visit queues a recomputation (the worker is not running here).
    ProjectFigures.objects.update(computed_at="2026-01-01T00:00:00Z", requested_at=None)
    first_ms, first_queries = timed()
    queued = ProjectFigures.objects.get().status
    for _ in range(3):
        timed()
    results: dict[str, dict] = {}
    for name, headers in (("full", {}), ("poll", {"HTTP_HX_REQUEST": "true"})):
        times, counts = [], []
        for _ in range(loads):
            ms, count = timed(**headers)
            times.append(ms)
            counts.append(count)
        results[name] = {"ms": summary(times), "queries": sorted(set(counts))}
    size = len(client.get(url).content)
    return {
        "first_ms": first_ms,
        "first_queries": first_queries,
        "status_after_first": queued,
        "bytes": size,
        **results,
    }


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def _fmt(summary: dict[str, float]) -> str:
    return (
        f"median {summary['median']:.1f} ms, p95 {summary['p95']:.1f} ms,"
        f" max {summary['max']:.1f} ms (n={summary['n']})"
    )


def main(argv: list[str] | None = None) -> None:
    from tests.bench.run import DEFAULT_URL

    parser = argparse.ArgumentParser(prog="python -m tests.bench.run dashboard")
    parser.add_argument("--loads", type=int, default=30)
    parser.add_argument("--scale", type=float, default=1.0, help="Fraction of the big data.")
    parser.add_argument("--reuse", action="store_true", help="Keep an already built database.")
    options = parser.parse_args(argv)
    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    scale = Scale(
        articles=round(BIG.articles * options.scale),
        annotations=round(BIG.annotations * options.scale),
        bench_history=round(BIG.bench_history * options.scale),
    )
    workdir = Path(tempfile.mkdtemp(prefix="themata-bench-dashboard-"))
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "testserver",
        "BENCH_WORKDIR": str(workdir),
    }
    rows: list[tuple[str, str]] = []
    load_before = " ".join(f"{value:.2f}" for value in os.getloadavg())
    if not options.reuse:
        started = time.perf_counter()
        counts = build_database(url, scale, env=env)
        _add_manager(url)
        rows.append(
            (
                "Data (annotate.build_database + a manager)",
                f"{counts['segments']:,} segments, {counts['annotations']:,} answers,"
                f" {counts['annotation_labels']:,} answer labels in"
                f" {time.perf_counter() - started:.0f} s",
            )
        )
    runs = [child_result("tests.bench.dashboard", "compute", env) for _ in range(2)]
    best = min(runs, key=lambda run: run["seconds"])
    rows.append(
        (
            "Background figures (figures_refresh)",
            f"{', '.join(f'{run["seconds"]:.1f} s' for run in runs)} wall over"
            f" {best['answers']:,} answers (CPU: this process"
            f" {', '.join(f'{run["cpu_seconds"]:.2f} s' for run in runs)}, its PostgreSQL"
            f" backend {', '.join(_seconds(run['postgres_cpu_seconds']) for run in runs)};"
            f" load average {' / '.join(run['load'] for run in runs)});"
            f" peak RSS {max(r['peak_mb'] for r in runs):.0f} MB"
            f" (Django loaded: {best['baseline_mb']:.0f} MB); stored JSON"
            f" {best['json_kb']:.0f} kB; alpha (MASI) {best['alpha_masi']:.3f},"
            f" {best['segments_complete']:,} segments complete",
        )
    )
    result = child_result("tests.bench.dashboard", "page", env, "--loads", str(options.loads))
    rows.append(
        (
            "Dashboard, first visit (queues a recompute)",
            f"{result['first_ms']:.1f} ms, {result['first_queries']} queries;"
            f" figures then {result['status_after_first']}",
        )
    )
    for name, label in (("full", "Dashboard page GET"), ("poll", "Dashboard htmx poll")):
        summary = result[name]["ms"]
        verdict = "met" if summary["median"] < TARGET_PAGE_MS else "MISSED"
        rows.append(
            (
                f"{label}, in process",
                f"{_fmt(summary)} [target < {TARGET_PAGE_MS:.0f} ms: {verdict}];"
                f" queries {'/'.join(map(str, result[name]['queries']))}",
            )
        )
    rows.append(("Dashboard page size", f"{result['bytes'] / 1024:.0f} kB"))
    load_after = " ".join(f"{value:.2f}" for value in os.getloadavg())
    width = max(len(name) for name, _ in rows)
    print(
        f"Themata dashboard benchmark on {url.rsplit('@', 1)[-1]}, {os.cpu_count()} CPUs,"
        f" load average at the start {load_before}, at the end {load_after}"
    )
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def _child_main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["compute", "page"])
    parser.add_argument("--loads", type=int, default=30)
    options = parser.parse_args()
    result = compute() if options.mode == "compute" else page(options.loads)
    print(json.dumps(result))


if __name__ == "__main__":
    _child_main()
