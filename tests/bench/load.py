"""Team load benchmark: ``python -m tests.bench.run load [options]`` (also part of ``make bench``).

gunicorn (production settings, several workers) on PostgreSQL (``BENCH_DATABASE_URL``,
dropped and re-created), and 50 simulated annotators, each with their own session, driven by
one asyncio + httpx process on 127.0.0.1. Each annotator opens the labelling screen, then
loops "submit the segment on screen → the next one comes back in the answer" (the htmx
request the page itself sends) on a project with ``annotators_per_segment`` = 3:

- **a**: for ``--duration`` seconds (60) with ``--think`` seconds (1) between the answer
  arriving and the next submit;
- **b**: for ``--duration`` seconds with no think time;
- **c**: on a small project (``--drain-segments``, 100), until every annotator's queue is
  empty (bounded by ``--drain-timeout``).

Each scenario has its own project (the same collection for a and b), so they do not
disturb each other. Reported per scenario: client latency of the submits (p50/p95/p99/max),
throughput (acknowledged submits per second of the window), server CPU per submit (user +
system time of the gunicorn master and workers from ``/proc``, before and after the window)
and of the PostgreSQL backends serving the bench database; the client's own CPU too (the
client shares the machine). Then the database is checked: every acknowledged submit is
stored as a submitted answer, nothing more is stored, no 5xx, no segment has more than k
submitted answers (how many answers landed beyond k is shown), and after c none has fewer.

Sessions are made in the set-up process with ``Client.force_login`` (the login view would
spend ~0.5 s of PBKDF2 per annotator); the client keeps each annotator's cookies itself and
sends ``X-Forwarded-Proto: https`` as the TLS proxy would, so ``SECURE_SSL_REDIRECT``, the
secure cookies and the HTTPS CSRF origin check all stay as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

import psycopg

ROOT = Path(__file__).resolve().parents[2]
K = 3
LABELS = 8
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BIG_ARTICLES = 2_000  # x 10 paragraph segments: more than b can use up in 60 s
SEGMENTS_PER_ARTICLE = 10

# Targets from issue 7, on the 2-core machine.
TARGET_P95_MS = 100.0
TARGET_SUBMITS_PER_S = 100.0

_SEGMENT = re.compile(r'class="segment-card"[^>]*data-segment-id="(\d+)"')
_FORM = re.compile(r'<form id="answer-form"[^>]*action="([^"]+)"')
_VERSION = re.compile(r'name="version"[^>]*value="(\d*)"|value="(\d*)"[^>]*name="version"')
_CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_REFUSED = 'class="alert alert-error save-error"'


# --- Set-up (a child with Django and the production settings) ----------------------------


def setup(annotators: int, drain_segments: int) -> dict[str, Any]:
    """Import the articles, make the projects and the annotators' sessions; returns them."""
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from annotations.models import Label, LabelSet, Membership
    from annotations.services.setup import project_create
    from articles.services import articles_import, collection_get_or_create
    from tests.bench.run import synthetic_jsonl

    User = get_user_model()
    manager = User(username="load-manager", is_staff=True)
    manager.set_unusable_password()
    manager.save()
    label_set = LabelSet.objects.create(name="Load labels", slug="load-labels")
    Label.objects.bulk_create(
        Label(label_set=label_set, name=f"Theme {n}", slug=f"theme-{n}", shortcut=str(n), order=n)
        for n in range(1, LABELS + 1)
    )
    workdir = Path(tempfile.mkdtemp(prefix="themata-load-"))
    collections = {}
    try:
        for name, articles in (
            ("Load big", BIG_ARTICLES),
            ("Load drain", max(1, drain_segments // SEGMENTS_PER_ARTICLE)),
        ):
            path = workdir / f"{name}.jsonl"
            synthetic_jsonl(path, articles, paragraphs=SEGMENTS_PER_ARTICLE, seed=len(name))
            collection, _ = collection_get_or_create(name=name)
            result = articles_import(collection=collection, paths=[path], created_by=manager)
            if not result.succeeded:
                raise SystemExit(f"import of {name} failed: {result.errors}")
            collection.refresh_from_db()
            collections[name] = collection
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    projects = {}
    for key, collection in (
        ("warmup", collections["Load big"]),
        ("a", collections["Load big"]),
        ("b", collections["Load big"]),
        ("c", collections["Load drain"]),
    ):
        project = project_create(
            creator=manager,
            name=f"Load {key}",
            slug=f"load-{key}",
            collection=collection,
            label_set=label_set,
            multi_label=True,
            annotators_per_segment=K,
        )
        projects[key] = {
            "id": project.pk,
            "slug": project.slug,
            "segments": collection.segment_count,
        }

    users = []
    for n in range(1, annotators + 1):
        user = User(username=f"annotator-{n:02d}")
        user.set_unusable_password()
        users.append(user)
    User.objects.bulk_create(users)
    users = list(User.objects.filter(username__startswith="annotator-").order_by("username"))
    Membership.objects.bulk_create(
        Membership(project_id=project["id"], user=user, role=Membership.Role.ANNOTATOR)
        for project in projects.values()
        for user in users
    )
    sessions = []
    for user in users:
        client = Client()
        client.force_login(user)
        sessions.append(
            {"user_id": user.pk, "session": client.cookies[settings.SESSION_COOKIE_NAME].value}
        )
    label_ids = list(label_set.labels.values_list("pk", flat=True))
    return {"projects": projects, "sessions": sessions, "label_ids": label_ids}


# --- Profile: the whole request through the WSGI handler (a child, production settings) ---


def profile(slug: str, requests: int, out: str) -> dict[str, Any]:
    """CPU time per request through Django's WSGI application, called as gunicorn calls it
    (every middleware, the session backend, the template), in rounds:

    - ``submit``: the htmx answer POST that returns the next segment (the load's request);
    - ``page``: a full GET of the labelling screen;
    - ``floor``: a GET of the answer URL, refused with 405 by the view's first line, so it
      costs only the middleware, the session and the user: the fixed cost of any request.

    With ``out``, then ``requests`` more submits run under cProfile (CPU clock) and the
    stats are written there (``python -m pstats``).
    """
    import cProfile
    import io
    import logging
    import random
    from urllib.parse import urlencode

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.wsgi import get_wsgi_application
    from django.db import connection
    from django.test import Client

    from annotations.models import Project

    assert not settings.DEBUG, "measure with DEBUG off"
    logging.disable(logging.WARNING)  # the 405s would be logged
    application = get_wsgi_application()
    project = Project.objects.get(slug=slug)
    label_ids = list(project.label_set.labels.values_list("pk", flat=True))
    user = get_user_model().objects.filter(memberships__project=project).order_by("pk").first()
    client = Client()
    client.force_login(user)
    cookies = {"sessionid": client.cookies[settings.SESSION_COOKIE_NAME].value}
    rng = random.Random(1)

    def call(method: str, path: str, body: bytes = b"", **headers: str) -> tuple[str, str]:
        status: list[str] = []
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "HTTP_HOST": "127.0.0.1:8000",
            "HTTP_X_FORWARDED_PROTO": "https",
            "HTTP_COOKIE": "; ".join(f"{k}={v}" for k, v in cookies.items()),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            **{"HTTP_" + k.upper(): v for k, v in headers.items()},
        }

        def start_response(code: str, response_headers: list[tuple[str, str]], *_: Any):
            status.append(code)
            for name, value in response_headers:
                if name.lower() == "set-cookie":
                    key, _, rest = value.partition("=")
                    cookies[key] = rest.split(";", 1)[0]

        result = application(environ, start_response)
        try:
            text = b"".join(result).decode()
        finally:
            getattr(result, "close", lambda: None)()
        return status[0], text

    screen = f"/p/{slug}/annotate/"
    code, text = call("GET", screen)
    shown = Shown.parse(text)
    csrf = shown.csrf or ""

    def submit() -> None:
        nonlocal shown
        body = urlencode(
            {
                "csrfmiddlewaretoken": csrf,
                "labels": rng.sample(label_ids, 2 if rng.random() < 0.3 else 1),
                "action": "submit",
                "version": shown.version,
                "time_spent_ms": rng.randint(1_500, 40_000),
            },
            doseq=True,
        ).encode()
        code, text = call("POST", shown.action or "", body, hx_request="true", origin=ORIGIN)
        if not code.startswith("200"):
            raise SystemExit(f"POST {shown.action}: {code}\n{text[:1000]}")
        shown = Shown.parse(text)

    def page() -> None:
        code, text = call("GET", screen)
        if not code.startswith("200"):
            raise SystemExit(f"GET {screen}: {code}\n{text[:1000]}")

    def floor() -> None:
        code, text = call("GET", shown.action or "")
        if not code.startswith("405"):
            raise SystemExit(f"GET {shown.action}: {code}, expected 405")

    kinds = {"submit": submit, "page": page, "floor": floor}
    for run in kinds.values():
        for _ in range(20):
            run()
    # Statements per submit as the database receives them (BEGIN/COMMIT, which psycopg
    # sends itself, not included), and the text of one submit's.
    seen: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        seen.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        for _ in range(20):
            submit()
    statements = len(seen) / 20
    with connection.execute_wrapper(count):
        seen.clear()
        submit()
    one_submit = list(seen)
    rounds = 3
    cpu: dict[str, list[float]] = {name: [] for name in kinds}
    # The PostgreSQL backend's own CPU for the same requests (one connection, kept open
    # for the whole run): the database's share of a request without any concurrency.
    connection.settings_dict["CONN_MAX_AGE"] = None
    backend_pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
    database_cpu: dict[str, list[float]] = {name: [] for name in kinds}
    for _ in range(rounds):
        for name, run in kinds.items():
            count = max(1, requests // rounds)
            started = time.process_time()
            database_started = _cpu_seconds(backend_pid) if backend_pid else 0.0
            for _ in range(count):
                run()
            cpu[name].append(1000 * (time.process_time() - started) / count)
            if backend_pid:
                used = _cpu_seconds(backend_pid) - database_started
                database_cpu[name].append(1000 * used / count)
    if backend_pid:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            if cursor.fetchone()[0] != backend_pid:
                database_cpu = {}  # it reconnected: the figures are not of these requests
    if out:
        profiler = cProfile.Profile(time.process_time)
        profiler.enable()
        for _ in range(requests):
            submit()
        profiler.disable()
        profiler.dump_stats(out)
    figures: dict[str, Any] = {
        name: {"median_ms": statistics.median(values), "rounds_ms": values}
        for name, values in cpu.items()
    }
    for name, values in database_cpu.items():
        figures[name]["database_ms"] = statistics.median(values)
    figures["submit"]["statements"] = statements
    figures["submit"]["sql"] = one_submit
    if out:
        import pstats

        # Python function calls per submit: unlike CPU time, the same on a busy machine.
        figures["submit"]["calls"] = pstats.Stats(out).total_calls / requests  # type: ignore[attr-defined]
    return figures


ORIGIN = "https://127.0.0.1:8000"


# --- Server ------------------------------------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of one process (its own, not its waited-for children)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the ")": state is field 3 of stat(5), utime 14 and stime 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        children = (task / "children").read_text().split()
        found.extend(int(child) for child in children)
    return found


def gunicorn_cpu(master: int) -> dict[int, float]:
    pids = [master, *_children(master)]
    return {pid: _cpu_seconds(pid) for pid in pids}


def postgres_cpu(url: str) -> dict[int, float]:
    """CPU of the PostgreSQL backends connected to the bench database (other than ours)."""
    with psycopg.connect(url, autocommit=True) as conn:
        pids = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    return {pid: _cpu_seconds(pid) for pid in pids}


def _cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


class PostgresSampler:
    """CPU of the bench database's backends over a window, sampled every half second.

    Django closes a connection after ``CONN_MAX_AGE`` (60 s) and opens another: a before and
    after reading alone would lose the CPU of every backend that ended in the window.
    """

    def __init__(self, url: str) -> None:
        import threading

        self.url = url
        self.first = postgres_cpu(url)
        self.last = dict(self.first)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(0.5):
            self._sample()

    def _sample(self) -> None:
        for pid, seconds in postgres_cpu(self.url).items():
            self.last[pid] = max(seconds, self.last.get(pid, 0.0))

    def stop(self) -> float:
        self.stopping.set()
        self.thread.join()
        self._sample()
        return _cpu_delta(self.first, self.last)


@dataclass
class Server:
    process: subprocess.Popen
    base: str

    @property
    def master(self) -> int:
        return self.process.pid


def start_server(
    env: dict[str, str], *, workers: int, worker_class: str, threads: int, port: int
) -> Server:
    import urllib.request

    base = f"http://127.0.0.1:{port}"
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--log-level",
        "warning",
        "--backlog",
        "256",
        "--timeout",
        "60",
    ]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    server = Server(process=process, base=base)
    for _ in range(200):
        try:
            request = urllib.request.Request(
                f"{base}/accounts/login/", headers={"X-Forwarded-Proto": "https"}
            )
            urllib.request.urlopen(request, timeout=2).read()
            break
        except OSError:
            if process.poll() is not None:
                raise SystemExit("gunicorn exited at start-up") from None
            time.sleep(0.1)
    else:
        stop_server(server)
        raise SystemExit("gunicorn did not answer within 20 s")
    return server


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=5)


# --- Client ------------------------------------------------------------------------------


@dataclass
class Shown:
    segment_id: int | None
    action: str | None
    version: int
    csrf: str | None

    @classmethod
    def parse(cls, text: str) -> Shown:
        segment = _SEGMENT.search(text)
        form = _FORM.search(text)
        version = _VERSION.search(text)
        csrf = _CSRF.search(text)
        return cls(
            segment_id=int(segment.group(1)) if segment else None,
            action=form.group(1).replace("&amp;", "&") if form else None,
            version=int(next(g for g in version.groups() if g is not None) or 0) if version else 0,
            csrf=csrf.group(1) if csrf else None,
        )


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)  # submits in the window
    page_ms: list[float] = field(default_factory=list)  # GETs of the screen
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # connection errors, timeouts
    acknowledged: list[tuple[int, int]] = field(default_factory=list)  # (user, segment)
    finished: int = 0  # annotators told their queue is empty
    refused: int = 0  # 200s that refused the answer in place (late answers)

    def status(self, code: int) -> None:
        self.statuses[code] = self.statuses.get(code, 0) + 1


class Annotator:
    """One person: their own connection, session cookie and CSRF cookie."""

    def __init__(self, base: str, session: dict[str, Any], label_ids: list[int], seed: int):
        import random

        import httpx

        self.user_id = session["user_id"]
        self.cookies = {"sessionid": session["session"]}
        self.labels = label_ids
        self.rng = random.Random(seed)
        self.origin = base.replace("http://", "https://")
        self.client = httpx.AsyncClient(
            base_url=base,
            timeout=httpx.Timeout(30.0),
            limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            # The TLS proxy's header: the app sees an HTTPS request, as in production.
            headers={"X-Forwarded-Proto": "https"},
        )

    def _cookie_header(self) -> str:
        return "; ".join(f"{name}={value}" for name, value in self.cookies.items())

    def _keep_cookies(self, response: httpx.Response) -> None:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]

    async def get_screen(self, slug: str, tally: Tally) -> Shown | None:
        started = time.perf_counter()
        try:
            response = await self.client.get(
                f"/p/{slug}/annotate/", headers={"Cookie": self._cookie_header()}
            )
        except Exception as error:  # noqa: BLE001 - every failure is counted and shown
            tally.errors.append(f"GET: {type(error).__name__}: {error}")
            return None
        tally.page_ms.append((time.perf_counter() - started) * 1000)
        tally.status(response.status_code)
        self._keep_cookies(response)
        if response.status_code != 200:
            tally.errors.append(f"GET {response.status_code}: {response.text[:200]}")
            return None
        return Shown.parse(response.text)

    async def submit(self, shown: Shown, csrf: str, tally: Tally, timed: bool) -> Shown | None:
        """Submit an answer for the segment on screen; the next segment, or None on failure."""
        picked = self.rng.sample(self.labels, 2 if self.rng.random() < 0.3 else 1)
        data = {
            "csrfmiddlewaretoken": csrf,
            "labels": [str(label) for label in picked],
            "action": "submit",
            "comment": "",
            "version": str(shown.version),
            "time_spent_ms": str(self.rng.randint(1_500, 40_000)),
        }
        headers = {
            "Cookie": self._cookie_header(),
            "HX-Request": "true",
            "Origin": self.origin,
        }
        started = time.perf_counter()
        try:
            response = await self.client.post(shown.action, data=data, headers=headers)
        except Exception as error:  # noqa: BLE001
            tally.errors.append(f"POST: {type(error).__name__}: {error}")
            return None
        elapsed = (time.perf_counter() - started) * 1000
        if timed:
            tally.latencies_ms.append(elapsed)
        tally.status(response.status_code)
        self._keep_cookies(response)
        if response.status_code != 200:
            if response.status_code >= 500 or len(tally.errors) < 20:
                tally.errors.append(f"POST {response.status_code}: {response.text[:200]}")
            return None
        if _REFUSED in response.text:
            # A 200 that refuses in place (a late answer for a segment that others finished
            # meanwhile) and shows the next segment: not stored, and not an error.
            tally.refused += 1
        else:
            tally.acknowledged.append((self.user_id, shown.segment_id))
        return Shown.parse(response.text)

    async def run(
        self,
        slug: str,
        tally: Tally,
        *,
        start: asyncio.Event,
        ready: Callable[[], None],
        deadline_box: list[float],
        think: float,
    ) -> None:
        shown = await self.get_screen(slug, tally)
        ready()
        await start.wait()
        csrf = shown.csrf if shown else None
        while time.perf_counter() < deadline_box[0]:
            if shown is None or shown.segment_id is None or shown.action is None:
                # A refusal, or the answer said nothing is left: ask the screen itself.
                shown = await self.get_screen(slug, tally)
                if shown is not None and shown.csrf:
                    csrf = shown.csrf
                if shown is None:
                    await asyncio.sleep(0.2)
                    continue
                if shown.segment_id is None:
                    tally.finished += 1
                    return
            if think:
                await asyncio.sleep(think)
                if time.perf_counter() >= deadline_box[0]:
                    return
            shown = await self.submit(shown, csrf or "", tally, timed=True)

    async def close(self) -> None:
        await self.client.aclose()


async def drive(
    base: str,
    slug: str,
    sessions: list[dict[str, Any]],
    label_ids: list[int],
    *,
    duration: float,
    think: float,
    on_start: Callable[[], None],
) -> tuple[Tally, float]:
    """All annotators open the screen, then submit until ``duration`` s have passed or their
    queues are empty. Returns the tally and the window's length in seconds."""
    tally = Tally()
    start = asyncio.Event()
    waiting = [len(sessions)]
    deadline_box = [float("inf")]

    def ready() -> None:
        waiting[0] -= 1
        if waiting[0] == 0:
            on_start()
            deadline_box[0] = time.perf_counter() + duration
            start.set()

    people = [Annotator(base, session, label_ids, seed=n) for n, session in enumerate(sessions, 1)]
    try:
        tasks = [
            asyncio.create_task(
                person.run(
                    slug, tally, start=start, ready=ready, deadline_box=deadline_box, think=think
                )
            )
            for person in people
        ]
        await start.wait()
        started = time.perf_counter()
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - started
    finally:
        await asyncio.gather(*(person.close() for person in people))
    return tally, elapsed


# --- Checks in the database --------------------------------------------------------------


def check_database(url: str, project: dict[str, Any], tally: Tally, *, drained: bool) -> dict:
    with psycopg.connect(url) as conn:
        stored = set(
            conn.execute(
                "SELECT annotator_id, segment_id FROM annotations_annotation"
                " WHERE project_id = %s AND status = 'submitted'",
                [project["id"]],
            ).fetchall()
        )
        per_segment = dict(
            conn.execute(
                "SELECT s.id, count(a.id) FROM articles_segment s"
                " JOIN articles_article ar ON ar.id = s.article_id"
                " JOIN annotations_project p ON p.collection_id = ar.collection_id"
                " LEFT JOIN annotations_annotation a ON a.segment_id = s.id"
                "  AND a.project_id = p.id AND a.status = 'submitted'"
                " WHERE p.id = %s GROUP BY s.id",
                [project["id"]],
            ).fetchall()
        )
    acknowledged = set(tally.acknowledged)
    touched = [count for count in per_segment.values() if count]
    beyond = sum(max(0, count - K) for count in per_segment.values())
    return {
        "acknowledged": len(tally.acknowledged),
        "acknowledged_distinct": len(acknowledged),
        "stored": len(stored),
        "acknowledged_missing": len(acknowledged - stored),
        "stored_unacknowledged": len(stored - acknowledged),
        "segments_answered": len(touched),
        "segments_over_k": sum(1 for count in touched if count > K),
        "answers_beyond_k": beyond,
        "answers_beyond_k_percent": 100 * beyond / len(stored) if stored else 0.0,
        "max_answers_per_segment": max(touched, default=0),
        "segments_under_k": sum(1 for count in per_segment.values() if count < K)
        if drained
        else None,
        "segments": len(per_segment),
    }


# --- Orchestration -----------------------------------------------------------------------


def _percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def run_scenario(
    name: str,
    server: Server,
    url: str,
    data: dict[str, Any],
    *,
    duration: float,
    think: float,
    drained: bool,
) -> dict[str, Any]:
    project = data["projects"][name]
    snapshot: dict[str, Any] = {}

    def on_start() -> None:
        snapshot["gunicorn"] = gunicorn_cpu(server.master)
        snapshot["postgres"] = PostgresSampler(url)
        snapshot["client"] = time.process_time()

    tally, elapsed = asyncio.run(
        drive(
            server.base,
            project["slug"],
            data["sessions"],
            data["label_ids"],
            duration=duration,
            think=think,
            on_start=on_start,
        )
    )
    server_cpu = _cpu_delta(snapshot["gunicorn"], gunicorn_cpu(server.master))
    db_cpu = snapshot["postgres"].stop()
    client_cpu = time.process_time() - snapshot["client"]
    latencies = sorted(tally.latencies_ms)
    submits = len(tally.acknowledged)
    checks = check_database(url, project, tally, drained=drained)
    return {
        "scenario": name,
        "think_s": think,
        "window_s": elapsed,
        "annotators": len(data["sessions"]),
        "finished_annotators": tally.finished,
        "refused_in_place": tally.refused,
        "submits": submits,
        "submits_per_s": submits / elapsed if elapsed else 0.0,
        "p50_ms": _percentile(latencies, 0.50),
        "p95_ms": _percentile(latencies, 0.95),
        "p99_ms": _percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else float("nan"),
        "page_p50_ms": statistics.median(tally.page_ms) if tally.page_ms else float("nan"),
        "statuses": dict(sorted(tally.statuses.items())),
        "server_5xx": sum(n for code, n in tally.statuses.items() if code >= 500),
        "client_errors": len([e for e in tally.errors if not e.startswith(("POST 4", "GET 4"))]),
        "error_sample": tally.errors[:5],
        "server_cpu_s": server_cpu,
        "server_cpu_ms_per_submit": 1000 * server_cpu / submits if submits else float("nan"),
        "db_cpu_ms_per_submit": 1000 * db_cpu / submits if submits else float("nan"),
        "client_cpu_ms_per_submit": 1000 * client_cpu / submits if submits else float("nan"),
        "checks": checks,
    }


def _line(result: dict[str, Any]) -> list[str]:
    checks = result["checks"]
    lines = [
        f"({result['scenario']}) {result['annotators']} annotators, think {result['think_s']:g} s,"
        f" {result['window_s']:.1f} s: {result['submits']:,} submits,"
        f" {result['submits_per_s']:.1f} submits/s; latency p50 {result['p50_ms']:.1f},"
        f" p95 {result['p95_ms']:.1f}, p99 {result['p99_ms']:.1f}, max {result['max_ms']:.1f} ms",
        f"    server CPU {result['server_cpu_ms_per_submit']:.1f} ms/submit (gunicorn),"
        f" PostgreSQL {result['db_cpu_ms_per_submit']:.1f} ms/submit,"
        f" client {result['client_cpu_ms_per_submit']:.1f} ms/submit;"
        f" statuses {result['statuses']}; 5xx {result['server_5xx']};"
        f" connection errors {result['client_errors']}",
        f"    database: {checks['stored']:,} stored of {checks['acknowledged']:,} acknowledged"
        f" ({checks['acknowledged_missing']} acknowledged but missing,"
        f" {result['refused_in_place']} refused in place as late,"
        f" {checks['stored_unacknowledged']} stored unacknowledged);"
        f" {checks['segments_over_k']:,} of {checks['segments_answered']:,} answered segments"
        f" over k={K} (max {checks['max_answers_per_segment']}),"
        f" {checks['answers_beyond_k']:,} answers beyond k"
        f" ({checks['answers_beyond_k_percent']:.0f} %)",
    ]
    if checks["segments_under_k"] is not None:
        lines[-1] += (
            f"; {checks['segments_under_k']} of {checks['segments']} segments under k,"
            f" {result['finished_annotators']} of {result['annotators']} annotators told"
            " their queue is empty"
        )
    if result["error_sample"]:
        lines.append(f"    first errors: {result['error_sample']}")
    return lines


def verdicts(results: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    if "a" in results:
        p95 = results["a"]["p95_ms"]
        found.append(
            f"(a) p95 {p95:.1f} ms < {TARGET_P95_MS:.0f} ms:"
            f" {'met' if p95 < TARGET_P95_MS else 'MISSED'}"
        )
    if "b" in results:
        rate = results["b"]["submits_per_s"]
        found.append(
            f"(b) {rate:.1f} submits/s >= {TARGET_SUBMITS_PER_S:.0f}:"
            f" {'met' if rate >= TARGET_SUBMITS_PER_S else 'MISSED'}"
        )
    fives = sum(result["server_5xx"] for result in results.values())
    found.append(f"5xx: {fives} ({'met' if fives == 0 else 'MISSED'})")
    missing = sum(result["checks"]["acknowledged_missing"] for result in results.values())
    found.append(f"acknowledged but not stored: {missing} ({'met' if not missing else 'MISSED'})")
    over = sum(result["checks"]["segments_over_k"] for result in results.values())
    found.append(f"segments over k: {over} ({'met' if not over else 'MISSED'})")
    if "c" in results:
        under = results["c"]["checks"]["segments_under_k"]
        found.append(f"(c) segments under k: {under} ({'met' if not under else 'MISSED'})")
    return found


def main(argv: list[str] | None = None) -> None:
    from tests.bench.annotate import _free_port, _production_env
    from tests.bench.run import DEFAULT_URL, reset_database

    parser = argparse.ArgumentParser(prog="python -m tests.bench.run load")
    parser.add_argument("--scenarios", default="abc", help="any of a, b, c (default abc)")
    parser.add_argument("--annotators", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds, a and b")
    parser.add_argument("--think", type=float, default=1.0, help="seconds, a")
    parser.add_argument("--drain-segments", type=int, default=100, help="segments, c")
    parser.add_argument("--drain-timeout", type=float, default=300.0, help="seconds, c")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--worker-class", default="sync", choices=["sync", "gthread"])
    parser.add_argument("--threads", type=int, default=4, help="per worker, gthread only")
    parser.add_argument("--json", default="", help="also write the results to this file")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="instead of the HTTP scenarios: CPU per request in process, N requests per kind",
    )
    parser.add_argument("--profile-out", default="", help="with --profile: cProfile stats file")
    options = parser.parse_args(argv)
    scenarios = [s for s in "abc" if s in options.scenarios]

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    # A SIGTERM (timeout, Ctrl-C from a wrapper) still stops gunicorn through the finally.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started_at = datetime.now(UTC)
    load_before = " ".join(f"{value:.2f}" for value in os.getloadavg())
    reset_database(url)
    workdir = Path(tempfile.mkdtemp(prefix="themata-load-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        env = _production_env({**os.environ, "DATABASE_URL": url}, workdir)
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
        )
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.bench.load",
                "setup",
                str(options.annotators),
                str(options.drain_segments),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
        )
        if made.returncode != 0:
            raise SystemExit(f"set-up failed:\n{made.stdout[-2000:]}\n{made.stderr[-4000:]}")
        data = json.loads(made.stdout.strip().splitlines()[-1])
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        if options.profile:
            probe = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "tests.bench.load",
                    "profile",
                    "load-b",
                    str(options.profile),
                    options.profile_out,
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            if probe.returncode != 0:
                raise SystemExit(f"profile failed:\n{probe.stderr[-4000:]}")
            figures = json.loads(probe.stdout.strip().splitlines()[-1])
            load_after = " ".join(f"{value:.2f}" for value in os.getloadavg())
            print(
                f"Themata request CPU in process (WSGI handler, production settings),"
                f" {started_at:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs;"
                f" load average before {load_before}, after {load_after}"
            )
            for name, figure in figures.items():
                rounds = ", ".join(f"{value:.2f}" for value in figure["rounds_ms"])
                calls = f"; {figure['calls']:,.0f} Python calls" if "calls" in figure else ""
                if "database_ms" in figure:
                    calls += f"; PostgreSQL backend CPU {figure['database_ms']:.2f} ms"
                if "statements" in figure:
                    calls += f"; {figure['statements']:.1f} SQL statements"
                print(
                    f"  {name:<7} CPU {figure['median_ms']:.2f} ms per request"
                    f" (median of rounds: {rounds}){calls}"
                )
            print("  statements of one submit (without BEGIN/COMMIT):")
            for sql in figures["submit"]["sql"]:
                print(f"    {' '.join(sql.split())[:110]}")
            if options.profile_out:
                print(f"  cProfile stats of {options.profile} submits: {options.profile_out}")
            return

        server = start_server(
            env,
            workers=options.workers,
            worker_class=options.worker_class,
            threads=options.threads,
            port=_free_port(),
        )
        try:
            # Warm-up: every worker loads its templates and connects to the database.
            run_scenario("warmup", server, url, data, duration=5.0, think=0.0, drained=False)
            for name in scenarios:
                if name == "c":
                    results[name] = run_scenario(
                        name,
                        server,
                        url,
                        data,
                        duration=options.drain_timeout,
                        think=0.0,
                        drained=True,
                    )
                else:
                    results[name] = run_scenario(
                        name,
                        server,
                        url,
                        data,
                        duration=options.duration,
                        think=options.think if name == "a" else 0.0,
                        drained=False,
                    )
        finally:
            stop_server(server)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    load_after = " ".join(f"{value:.2f}" for value in os.getloadavg())
    server_line = f"gunicorn {options.workers} {options.worker_class} workers" + (
        f" x {options.threads} threads" if options.worker_class == "gthread" else ""
    )
    print(
        f"Themata team load benchmark, {started_at:%Y-%m-%d %H:%M} UTC, on"
        f" {url.rsplit('@', 1)[-1]}, {os.cpu_count()} CPUs, {server_line}, k={K};"
        f" load average before {load_before}, after {load_after}"
    )
    for name in scenarios:
        for line in _line(results[name]):
            print(line)
    print("Targets: " + "; ".join(verdicts(results)))
    if options.json:
        Path(options.json).write_text(
            json.dumps(
                {
                    "started_at": started_at.isoformat(),
                    "options": vars(options),
                    "load_before": load_before,
                    "load_after": load_after,
                    "results": results,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "setup":
        print(json.dumps(setup(int(sys.argv[2]), int(sys.argv[3]))))
    elif len(sys.argv) == 5 and sys.argv[1] == "profile":
        print(json.dumps(profile(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
    else:
        main(sys.argv[1:])
