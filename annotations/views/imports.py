"""Upload articles from the browser into a project's collection.

The files go through the same pipeline as ``import_articles`` (``articles_import_steps``),
so the same problems are reported with file and line, and a refused import stores nothing.
A plain form post runs the import and redirects. upload.js sends the form by
XMLHttpRequest with ``Accept: application/x-ndjson`` instead: the answer then streams one
JSON object per line (progress while the import runs, the result last) from the request's
own thread, so nothing about a running import is kept between requests.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.files.uploadedfile import UploadedFile
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.http import HttpResponse, StreamingHttpResponse, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_http_methods

from articles.ingestion.errors import ImportProblem
from articles.models import ImportBatch
from articles.services import (
    UPLOAD_DIRECTORY_PREFIX,
    ImportProgress,
    ImportResult,
    articles_import_steps,
    imports_fail_stale,
)
from config.http import AuthenticatedHttpRequest

from ..access import Capability, ProjectAccess, get_project_for_user
from ..forms import ImportUploadForm

logger = logging.getLogger(__name__)

TEMPLATE = "annotations/import_upload.html"
NDJSON = "application/x-ndjson"
HISTORY_SIZE = 20
# Extensions kept on the server-made file names, so that formats are still told by name.
_SUFFIX = re.compile(r"\.[a-z0-9]{1,10}")


def _megabytes(n: int) -> str:
    return f"{n / 1_048_576:g} MB"


class StoredUpload(UploadedFile):
    """An uploaded file already written to ``path``.

    ``name`` is what the browser sent (without any directory part): it is shown in
    messages, escaped, and never used as a path.
    """

    def __init__(
        self, *, path: Path, name: str, size: int, too_large: bool, content_type: str
    ) -> None:
        super().__init__(file=None, name=name, content_type=content_type, size=size)
        self.path = path
        self.too_large = too_large

    def close(self) -> None:
        # Nothing is held open; the whole upload directory is removed after the import.
        pass


class UploadToDirectory(FileUploadHandler):
    """Writes each file of the ``files`` field into ``directory`` under a server-made name.

    The name keeps only the original's format extensions (``003.jsonl.gz``). A file that
    grows past ``max_bytes`` stops being stored at once: the rest of it is read from the
    request and dropped, so the answer can still say which file was too large.
    """

    def __init__(
        self, request: AuthenticatedHttpRequest, *, directory: Path, max_bytes: int
    ) -> None:
        super().__init__(request)
        self.directory = directory
        self.max_bytes = max_bytes
        self.count = 0
        self._path = directory
        self._stream: BinaryIO | None = None
        self._too_large = False

    def new_file(self, field_name: str, file_name: str, *args: Any, **kwargs: Any) -> None:
        if field_name != "files":
            raise SkipFile
        super().new_file(field_name, file_name, *args, **kwargs)
        self.count += 1
        suffixes = [suffix.lower() for suffix in PurePosixPath(file_name).suffixes[-2:]]
        extension = "".join(suffix for suffix in suffixes if _SUFFIX.fullmatch(suffix))
        self._path = self.directory / f"{self.count:03d}{extension}"
        self._stream = self._path.open("xb", buffering=0)
        self._too_large = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> None:
        if self._stream is None:
            return None
        if start + len(raw_data) > self.max_bytes:
            self._too_large = True
            self.close()
            self._path.unlink()
            return None
        self._stream.write(raw_data)
        return None

    def file_complete(self, file_size: int) -> StoredUpload:
        self.close()
        return StoredUpload(
            path=self._path,
            name=self.file_name or "",
            size=file_size,
            too_large=self._too_large,
            content_type=self.content_type or "",
        )

    def close(self) -> None:
        """Close the file being written, if any (also after a broken request)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None


@csrf_exempt  # CSRF is checked by _import_post, once the upload handler is in place.
@require_http_methods(["GET", "POST"])
def import_upload(request: AuthenticatedHttpRequest, slug: str) -> HttpResponseBase:
    """The upload form and the collection's import history; POST imports the files."""
    access = get_project_for_user(request.user, slug, need=Capability.MANAGE)
    if request.method == "GET":
        # An import whose worker died shows as failed, not "running" for ever.
        imports_fail_stale()
        if request.htmx:
            return render(request, f"{TEMPLATE}#import-history", _history_context(access))
        return _render_page(request, access, ImportUploadForm())

    # Access is settled before the body is read: only managers can make the server store
    # an upload, and the files go to a private directory that this request removes.
    directory = Path(
        tempfile.mkdtemp(prefix=UPLOAD_DIRECTORY_PREFIX, dir=settings.FILE_UPLOAD_TEMP_DIR)
    )
    handler = UploadToDirectory(
        request, directory=directory, max_bytes=settings.THEMATA_IMPORT_MAX_FILE_BYTES
    )
    request.upload_handlers = [handler]
    streamed = False
    try:
        try:
            # Parsed here rather than in the CSRF check, so that its errors get an answer.
            request.FILES  # noqa: B018
        except (TooManyFilesSent, TooManyFieldsSent) as exc:
            what = "files" if isinstance(exc, TooManyFilesSent) else "form fields"
            limit = (
                settings.DATA_UPLOAD_MAX_NUMBER_FILES
                if isinstance(exc, TooManyFilesSent)
                else settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            )
            return _refuse_request(
                request,
                access,
                f"Too many {what}: send at most {limit} in one upload (a .zip of many files"
                " counts as one). Nothing was imported.",
            )
        except (RequestDataTooBig, MultiPartParserError, UnreadablePostError):
            return _refuse_request(
                request,
                access,
                "The upload did not arrive complete or could not be read; nothing was"
                " imported. Try again.",
            )
        response = _import_post(request, access, directory)
        streamed = response.streaming
        return response
    finally:
        handler.close()
        if not streamed:
            shutil.rmtree(directory, ignore_errors=True)


@csrf_protect
def _import_post(
    request: AuthenticatedHttpRequest, access: ProjectAccess, directory: Path
) -> HttpResponseBase:
    form = ImportUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        if _wants_stream(request):
            problems: list[dict[str, object]] = [
                {"source": _field_label(form, name), "line": None, "message": message}
                for name, errors in form.errors.items()
                for message in errors
            ]
            return _stream_refusal("The form has problems; nothing was imported.", problems)
        return _render_page(request, access, form, status=400)

    uploads: list[StoredUpload] = form.cleaned_data["files"]
    limit = _megabytes(settings.THEMATA_IMPORT_MAX_FILE_BYTES)
    steps = articles_import_steps(
        collection=access.project.collection,
        paths=[upload.path for upload in uploads if not upload.too_large],
        names={upload.path: upload.name or "" for upload in uploads},
        problems=[
            ImportProblem(upload.name or "", f"file is too large (max {limit})")
            for upload in uploads
            if upload.too_large
        ],
        format=form.cleaned_data["format"],
        segmentation=form.cleaned_data["segmentation"],
        time_zone=form.cleaned_data["time_zone"],
        skip_invalid=form.cleaned_data["skip_invalid"],
        created_by=request.user,
    )
    if _wants_stream(request):
        return StreamingHttpResponse(
            ImportStream(steps, directory),
            content_type=NDJSON,
            # Each line must reach the browser when it is written: no proxy buffering
            # (nginx reads X-Accel-Buffering), no caching.
            headers={"X-Accel-Buffering": "no", "Cache-Control": "no-cache"},
        )

    result = _last(steps)
    if result.succeeded:
        messages.success(request, result.summary())
        return redirect("annotations:import_upload", slug=access.project.slug)
    options = {
        name: form.cleaned_data[name]
        for name in ("format", "segmentation", "time_zone", "skip_invalid")
    }
    return _render_page(
        request, access, ImportUploadForm(initial=options), result=result, status=400
    )


class ImportStream:
    """The streamed answer to an upload: NDJSON progress events, then the result.

    It owns the upload directory: closing the response (the import ended, failed, or the
    browser went away) stops the import, which then rolls back, and removes the files.
    """

    def __init__(self, steps: Iterator[ImportProgress | ImportResult], directory: Path) -> None:
        self._steps = steps
        self._directory = directory

    def __iter__(self) -> Iterator[bytes]:
        try:
            for step in self._steps:
                if isinstance(step, ImportProgress):
                    yield _ndjson({"event": "progress", **step.as_dict()})
                else:
                    yield _ndjson(_result_event(step))
        except Exception:
            # The status line has gone out already: the failure becomes the last event.
            logger.exception("A streamed import failed")
            yield _ndjson(
                {
                    "event": "result",
                    "ok": False,
                    "summary": "The import failed because of a server error; nothing was"
                    " imported. Try again, or tell an administrator.",
                    "errors": [],
                }
            )

    def close(self) -> None:
        try:
            if isinstance(self._steps, Generator):
                self._steps.close()
        finally:
            shutil.rmtree(self._directory, ignore_errors=True)


def _field_label(form: ImportUploadForm, name: str) -> str:
    field = form.fields.get(name)
    return str(field.label) if field is not None else ""


def _wants_stream(request: AuthenticatedHttpRequest) -> bool:
    # A browser's own form post accepts */*; only upload.js asks for NDJSON first.
    return request.get_preferred_type(["text/html", NDJSON]) == NDJSON


def _last(steps: Iterator[ImportProgress | ImportResult]) -> ImportResult:
    for step in steps:
        if isinstance(step, ImportResult):
            return step
    raise AssertionError("articles_import_steps() always ends with its result")


def _ndjson(event: dict[str, object]) -> bytes:
    return (json.dumps(event, separators=(",", ":")) + "\n").encode()


def _result_event(result: ImportResult) -> dict[str, object]:
    return {
        "event": "result",
        "ok": result.succeeded,
        "summary": result.summary(),
        **result.as_dict(),
    }


def _stream_refusal(summary: str, problems: list[dict[str, object]]) -> HttpResponse:
    event = {"event": "result", "ok": False, "summary": summary, "errors": problems}
    return HttpResponse(_ndjson(event), content_type=NDJSON, status=400)


def _refuse_request(
    request: AuthenticatedHttpRequest, access: ProjectAccess, message: str
) -> HttpResponse:
    if _wants_stream(request):
        return _stream_refusal(message, [])
    return _render_page(request, access, ImportUploadForm(), refusal=message, status=400)


def _history_context(access: ProjectAccess) -> dict[str, object]:
    batches = list(
        ImportBatch.objects.filter(collection=access.project.collection)
        .select_related("created_by")
        .order_by("-created_at", "-pk")[:HISTORY_SIZE]
    )
    for batch in batches:
        # Command-line imports record the paths given on the server; the page needs only
        # the file names, and should not show the server's directories.
        names = [PurePosixPath(name).name or name for name in batch.source_names]
        batch.file_names = names  # type: ignore[attr-defined]  # for the template
    return {"project": access.project, "collection": access.project.collection, "batches": batches}


def _render_page(
    request: AuthenticatedHttpRequest,
    access: ProjectAccess,
    form: ImportUploadForm,
    *,
    result: ImportResult | None = None,
    refusal: str = "",
    status: int = 200,
) -> HttpResponse:
    context = {
        **_history_context(access),
        "form": form,
        "result": result,
        "refusal": refusal or (result.summary() if result else ""),
        "max_file_bytes": settings.THEMATA_IMPORT_MAX_FILE_BYTES,
        "max_file_size": _megabytes(settings.THEMATA_IMPORT_MAX_FILE_BYTES),
        "max_files": settings.DATA_UPLOAD_MAX_NUMBER_FILES,
    }
    return render(request, TEMPLATE, context, status=status)
