"""Parse each input format into ``ArticleRecord`` objects.

Readers stream: JSONL and CSV are read a line at a time, so memory does not grow with the
file. A problem with one record is yielded as an ``ImportProblem`` (reading goes on, so that
one run reports every bad line); a problem that makes the rest of a file unreadable raises
``ImportRejected``.
"""

from __future__ import annotations

import codecs
import csv
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from .cleaning import split_scraped_text
from .errors import ImportProblem, ImportRejected
from .html import extract_html
from .sources import BufferedSource, detect_encoding

# Input field names we understand, in order of preference; matching ignores case.
FIELD_ALIASES: dict[str, tuple[str, ...]] = {
    "body": ("text", "body", "content", "articlebody"),
    "title": ("title", "headline"),
    "url": ("url", "link", "source_url"),
    "published": ("published", "published_at", "date", "datepublished"),
    "id": ("id", "external_id", "guid"),
}
MAX_URL_LENGTH = 2000
MAX_EXTERNAL_ID_LENGTH = 255
_BLANK_LINE = re.compile(r"\n[ \t]*\n")


@dataclass(slots=True)
class ArticleRecord:
    title: str
    paragraphs: list[str]
    line: int | None = None
    source_url: str = ""
    published_at: datetime | None = None
    external_id: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a plain body: blank-line separated, or one per line if it has no blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    parts = _BLANK_LINE.split(text) if _BLANK_LINE.search(text) else text.split("\n")
    return [part.strip() for part in parts if part.strip()]


def parse_published(value: object) -> datetime | None:
    """A date from an input field: ISO 8601, RFC 2822 or Unix seconds; None when empty."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, tz=UTC)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a date")
    text = value.strip()
    if re.fullmatch(r"\d{9,11}(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), tz=UTC)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    try:
        return parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        raise ValueError(f"{value!r} is not a date (use ISO 8601, e.g. 2024-12-10T16:52)") from None


def record_from_fields(fields: dict[str, Any], *, line: int, stem: str) -> ArticleRecord:
    """An ``ArticleRecord`` from one JSONL object or CSV row; raises ValueError with the reason."""
    by_lower = {str(key).strip().lower(): key for key in fields}
    chosen: dict[str, str] = {}
    for role, aliases in FIELD_ALIASES.items():
        for alias in aliases:
            if alias in by_lower:
                chosen[role] = by_lower[alias]
                break
    if "body" not in chosen:
        raise ValueError("no text: the record needs a 'text' or 'body' field")
    body = fields[chosen["body"]]
    if not isinstance(body, str):
        raise ValueError(f"field '{chosen['body']}' must be a string")
    paragraphs = split_paragraphs(body)
    if not paragraphs:
        raise ValueError(f"field '{chosen['body']}' is empty")

    def text_of(role: str) -> str:
        if role not in chosen:
            return ""
        value = fields[chosen[role]]
        if value is None:
            return ""
        if isinstance(value, str | int) and not isinstance(value, bool):
            return str(value).strip()
        raise ValueError(f"field '{chosen[role]}' must be a string")

    title = text_of("title")
    url = text_of("url")
    if url and (len(url) > MAX_URL_LENGTH or not re.match(r"https?://", url, re.IGNORECASE)):
        raise ValueError(
            f"field '{chosen['url']}' is not an http(s) URL of at most 2000 characters"
        )
    external_id = text_of("id") or f"{stem}:{line}"
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise ValueError(f"field '{chosen['id']}' is longer than 255 characters")
    published_at = parse_published(fields[chosen["published"]]) if "published" in chosen else None
    used = set(chosen.values())
    return ArticleRecord(
        title=title,
        paragraphs=paragraphs,
        line=line,
        source_url=url,
        published_at=published_at,
        external_id=external_id,
        metadata={str(k): v for k, v in fields.items() if k not in used},
    )


def read_txt(source: BufferedSource) -> Iterator[ArticleRecord | ImportProblem]:
    name = source.source.name
    articles = split_scraped_text(source.read_text())
    if not articles:
        yield ImportProblem(name, "no article text found", skippable=True)
    for article in articles:
        yield ArticleRecord(
            title=article.title,
            paragraphs=list(article.paragraphs),
            published_at=article.published_at,
            external_id=source.source.stem,
        )


def read_html(source: BufferedSource) -> Iterator[ArticleRecord | ImportProblem]:
    name = source.source.name
    page = extract_html(source.read_text())
    if page is None or not page.paragraphs:
        yield ImportProblem(name, "no main article text found in the page", skippable=True)
        return
    url = page.url if len(page.url) <= MAX_URL_LENGTH else ""
    yield ArticleRecord(
        title=page.title,
        paragraphs=list(page.paragraphs),
        source_url=url,
        published_at=page.published_at,
        external_id=source.source.stem,
    )


class _DuplicateKey(ValueError):
    pass


def _object_without_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _lines(source: BufferedSource, max_record_bytes: int) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line) pairs; a line longer than the record limit is a problem."""
    stream = source.stream
    number = 0
    while True:
        raw = stream.readline(max_record_bytes + 1)
        if not raw:
            return
        number += 1
        if len(raw) > max_record_bytes and not raw.endswith(b"\n"):
            raise ImportRejected(
                source.source.name,
                f"line is longer than the {max_record_bytes / 1_048_576:g} MB record limit",
                line=number,
            )
        yield number, raw


def read_jsonl(
    source: BufferedSource, *, max_record_bytes: int
) -> Iterator[ArticleRecord | ImportProblem]:
    name = source.source.name
    source.check_not_binary()
    decoder = json.JSONDecoder(object_pairs_hook=_object_without_duplicate_keys)
    for number, raw in _lines(source, max_record_bytes):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield ImportProblem(
                name, f"not valid UTF-8 at byte {exc.start + 1}; JSONL must be UTF-8", number
            )
            continue
        if not line.strip():
            continue
        try:
            fields = decoder.decode(line)
        except _DuplicateKey as exc:
            yield ImportProblem(name, f"invalid record: {exc}", number)
            continue
        except json.JSONDecodeError as exc:
            yield ImportProblem(name, f"invalid JSON: {exc.msg} at column {exc.colno}", number)
            continue
        except RecursionError:
            yield ImportProblem(name, "invalid JSON: nested too deeply", number)
            continue
        if not isinstance(fields, dict):
            yield ImportProblem(name, "each line must be a JSON object", number)
            continue
        try:
            yield record_from_fields(fields, line=number, stem=source.source.stem)
        except ValueError as exc:
            yield ImportProblem(name, str(exc), number, skippable=True)


def _decoded_lines(source: BufferedSource, encoding: str, max_record_bytes: int) -> Iterator[str]:
    decoder = codecs.getincrementaldecoder(encoding)()
    for number, raw in _lines(source, max_record_bytes):
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            raise ImportRejected(
                source.source.name,
                f"not valid {encoding} at byte {exc.start + 1}; save the file as UTF-8",
                line=number,
            ) from None


def read_csv(
    source: BufferedSource, *, max_record_bytes: int
) -> Iterator[ArticleRecord | ImportProblem]:
    name = source.source.name
    source.check_not_binary()
    encoding = detect_encoding(source.stream.peek(1 << 16), name)
    delimiter = "\t" if name.lower().removesuffix(".gz").endswith(".tsv") else ","
    # The csv module refuses fields over 128 KB by default; our limit is the record size.
    csv.field_size_limit(max(max_record_bytes, csv.field_size_limit()))
    reader = csv.reader(
        _decoded_lines(source, encoding, max_record_bytes), delimiter=delimiter, strict=True
    )
    try:
        header = next(reader)
    except StopIteration:
        raise ImportRejected(name, "file is empty") from None
    except csv.Error as exc:
        raise ImportRejected(name, f"malformed CSV header: {exc}", line=1) from None
    columns = [column.strip() for column in header]
    lowered = [column.lower() for column in columns]
    if "" in columns or len(set(lowered)) != len(lowered):
        raise ImportRejected(name, "the header has an empty or repeated column name", line=1)
    if not any(alias in lowered for alias in FIELD_ALIASES["body"]):
        raise ImportRejected(
            name,
            "no text column: the header needs a 'text' or 'body' column"
            f" (found: {', '.join(columns)})",
            line=1,
        )
    previous_line = reader.line_num
    while True:
        start_line = previous_line + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportRejected(name, f"malformed CSV: {exc}", line=start_line) from None
        previous_line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            yield ImportProblem(
                name,
                f"has {len(row)} fields but the header has {len(columns)}",
                start_line,
                skippable=True,
            )
            continue
        try:
            yield record_from_fields(
                dict(zip(columns, row, strict=True)), line=start_line, stem=source.source.stem
            )
        except ValueError as exc:
            yield ImportProblem(name, str(exc), start_line, skippable=True)
