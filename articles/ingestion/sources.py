"""Expand import paths into named, size-limited byte streams.

A path may be a file, a directory (walked in name order, hidden files skipped) or a ``.zip``;
any file may be gzip-compressed. Formats are told by extension, else by a look at the content.
"""

from __future__ import annotations

import gzip
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

import charset_normalizer

from .errors import ImportProblem, ImportRejected

FORMATS = ("txt", "jsonl", "csv", "html")
_EXTENSION_FORMATS = {
    ".txt": "txt",
    ".text": "txt",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "csv",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
}
# Magic numbers of files that are never text, so they get a precise reason.
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a ZIP archive (name it .zip to import the files inside)",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PAR1": "a Parquet file",
    b"\x7fELF": "an executable",
}
_GZIP_MAGIC = b"\x1f\x8b"
_SNIFF_BYTES = 8192


class ProgressCounter:
    """Bytes read so far across all sources, reported to an optional callback."""

    def __init__(self, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.total = total
        self.done = 0
        self._callback = callback

    def add(self, n: int) -> None:
        self.done += n
        if self._callback is not None:
            self._callback(self.done, self.total)


class Readable(Protocol):
    """What the readers need of an open input: a file, a zip member, a gzip stream."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class _Passthrough(io.RawIOBase):
    """A raw stream over ``source`` that closes ``source`` and anything else it holds."""

    def __init__(self, source: Readable, *also_close: Readable) -> None:
        self._source = source
        self._also_close = also_close

    def readable(self) -> bool:
        return True

    def _pull(self, size: int) -> bytes:
        return self._source.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self._pull(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._source.close()
        for resource in self._also_close:
            resource.close()
        super().close()


class _CountingReader(_Passthrough):
    """Counts the bytes pulled from the underlying (possibly compressed) file."""

    def __init__(self, source: Readable, counter: ProgressCounter) -> None:
        super().__init__(source)
        self._counter = counter

    def _pull(self, size: int) -> bytes:
        data = self._source.read(size)
        self._counter.add(len(data))
        return data


class _LimitedReader(_Passthrough):
    """Refuses to yield more than ``limit`` decompressed bytes (zip and gzip bombs)."""

    def __init__(self, source: Readable, limit: int, name: str) -> None:
        super().__init__(source)
        self._left = limit
        self._limit = limit
        self._name = name

    def _pull(self, size: int) -> bytes:
        data = self._source.read(min(size, self._left + 1))
        if len(data) > self._left:
            raise ImportRejected(self._name, f"file is too large (max {_megabytes(self._limit)})")
        self._left -= len(data)
        return data


def _megabytes(n: int) -> str:
    return f"{n / 1_048_576:g} MB"


@dataclass(slots=True)
class SourceFile:
    name: str  # shown to people: a path, or "archive.zip!inner/name.txt"
    stem: str  # the file name without its extensions
    format: str  # one of FORMATS
    size: int  # bytes that reading will count for progress: on disk, or unzipped in a zip
    opener: Callable[[], Readable]
    max_bytes: int
    archive: zipfile.ZipFile | None = None  # shared by the members of one .zip

    def close(self) -> None:
        """Release what the source holds open (a .zip's archive; closing it twice is fine)."""
        if self.archive is not None:
            self.archive.close()

    def open(self, counter: ProgressCounter) -> BufferedSource:
        """The decompressed content as a buffered, size-limited binary stream."""
        buffered = io.BufferedReader(_CountingReader(self.opener(), counter), buffer_size=1 << 16)
        stream: Readable = buffered
        if buffered.peek(2)[:2] == _GZIP_MAGIC:
            stream = gzip.GzipFile(fileobj=buffered)  # buffers by itself
        limited = _LimitedReader(stream, self.max_bytes, self.name)
        return BufferedSource(self, io.BufferedReader(limited, buffer_size=1 << 16))


@dataclass(slots=True)
class BufferedSource:
    source: SourceFile
    stream: io.BufferedReader

    def check_not_binary(self) -> None:
        head = self.stream.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]
        if not head.strip():
            raise ImportRejected(self.source.name, "file is empty")
        for signature, what in _BINARY_SIGNATURES.items():
            if head.startswith(signature):
                raise ImportRejected(self.source.name, f"this is {what}, not a text file")
        if b"\x00" in head:
            raise ImportRejected(self.source.name, "binary file (contains NUL bytes), not text")

    def read_text(self) -> str:
        """The whole file as text: UTF-8 (with or without BOM), else a detected encoding."""
        self.check_not_binary()
        data = self.stream.read()
        if b"\x00" in data:
            raise ImportRejected(self.source.name, "binary file (contains NUL bytes), not text")
        return decode_text(data, self.source.name)


_DETECTION_SAMPLE = 1 << 16


def decode_text(data: bytes, name: str) -> str:
    """A whole file as text: UTF-8 (with or without BOM), else its detected encoding."""
    encoding = detect_encoding(
        data[:_DETECTION_SAMPLE], name, complete=len(data) <= _DETECTION_SAMPLE
    )
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ImportRejected(
            name, f"not valid {encoding} at byte {exc.start + 1}; save the file as UTF-8"
        ) from None


def detect_encoding(sample: bytes, name: str, *, complete: bool = False) -> str:
    """The encoding of a file from its first bytes (``complete``: the sample is all of it)."""
    try:
        sample.decode("utf-8-sig")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        # A multi-byte character cut off at the end of a sample is still UTF-8.
        if not complete and exc.reason == "unexpected end of data":
            return "utf-8-sig"
        utf8_error = exc
    if _looks_western(sample):
        return "cp1252"
    best = charset_normalizer.from_bytes(sample).best()
    if best is None or best.encoding in {"utf_8", "utf_8_sig"}:
        raise ImportRejected(
            name,
            f"not valid UTF-8 (byte {sample[utf8_error.start]:#04x} at offset"
            f" {utf8_error.start}) and its encoding could not be detected; save it as UTF-8",
        )
    garbled = _garbled_word(sample.decode(best.encoding, errors="replace"))
    if garbled:
        # A wrong guess shows as a symbol inside a word ("powiedzia³" for "powiedział"):
        # refusing is better than storing it garbled.
        raise ImportRejected(
            name,
            f"not valid UTF-8, and read as {best.encoding} it would have {garbled!r}"
            " in a word, so its encoding is uncertain; save it as UTF-8",
        )
    return best.encoding


# Windows-1252 characters that are not letters but are common in Western European text.
_WESTERN_MARKS = frozenset("\xa0\xad“”‘’‚„–—…€«»°§©®·•™¡¿´¨¸×÷±µ¶ªº£¥¢¤†‡‰‹›ˆ˜¦¬¯")
# Share of non-ASCII letters among all letters above which a text is not Western European
# (French has about 4%, Icelandic about 15%; Cyrillic or Greek read as Windows-1252: ~100%).
_WESTERN_MAX_ACCENTED = 0.3


# A symbol between two letters that no language writes there: the mark of a wrong encoding.
_INSIDE_WORDS = frozenset("'’‘·-‐‑\xad.,:;/&@_+")
_WORD_WITH_SYMBOL = re.compile(r"\S+")


def _garbled_word(text: str) -> str:
    """The first word with a non-ASCII symbol between two letters ("powiedzia³"), or ""."""
    for match in _WORD_WITH_SYMBOL.finditer(text):
        word = match.group()
        if word.isascii():
            continue
        for i in range(1, len(word) - 1):
            char = word[i]
            if (
                not char.isascii()
                and not char.isalpha()
                and char not in _INSIDE_WORDS
                and word[i - 1].isalpha()
                and any(c.isalpha() for c in word[i + 1 :])
            ):
                return word
    return ""


def _looks_western(sample: bytes) -> bool:
    """Whether ``sample`` reads as Western European text in Windows-1252 (a superset of
    Latin-1): mostly ASCII letters, the others accented letters or common marks.

    charset_normalizer guesses short Western texts as cp1250, cp1257 or cp775 ("Naïve" would
    become "Naļve"), so this is tried first. Central European text fails it (its ł and ą are
    ³ and ¹ in Windows-1252), and so do Cyrillic and Greek (nearly all letters accented).
    """
    try:
        text = sample.decode("cp1252")
    except UnicodeDecodeError:
        return False
    letters = accented = 0
    for char in text:
        if char.isascii():
            letters += char.isalpha()
        elif char.isalpha():
            letters += 1
            accented += 1
        elif char not in _WESTERN_MARKS:
            return False
    return letters > 0 and accented <= _WESTERN_MAX_ACCENTED * letters


def _split_name(name: str) -> tuple[str, str]:
    """(stem, format-extension) of a file name, looking through a ``.gz`` suffix."""
    pure = PurePosixPath(name)
    suffixes = [s.lower() for s in pure.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    extension = suffixes[-1] if suffixes else ""
    stem = pure.name.split(".", 1)[0] if not pure.name.startswith(".") else pure.name
    return stem, extension


def _format_for(name: str, forced: str, opener: Callable[[], Readable]) -> str:
    if forced != "auto":
        return forced
    _, extension = _split_name(name)
    if extension in _EXTENSION_FORMATS:
        return _EXTENSION_FORMATS[extension]
    stream = opener()
    try:
        head = stream.read(_SNIFF_BYTES)
    finally:
        stream.close()
    if head[:2] == _GZIP_MAGIC:
        try:
            head = gzip.GzipFile(fileobj=io.BytesIO(head)).read1(_SNIFF_BYTES)
        except (OSError, EOFError, zlib.error):
            head = b""  # unreadable: reading it for real will report why
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"{"):
        return "jsonl"
    if text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")):
        return "html"
    return "txt"


def _is_hidden(part: str) -> bool:
    return part.startswith(".") or part == "__MACOSX"


def iter_sources(
    paths: list[Path], *, forced_format: str, max_bytes: int, max_html_bytes: int | None = None
) -> Iterator[SourceFile | ImportProblem]:
    """Every importable file under ``paths`` in a stable order, and a problem for each that
    cannot even be opened (missing, empty, too large, a broken archive).

    HTML pages have their own, smaller limit ``max_html_bytes``: parsing a page takes about
    35 times its size in memory. Sources from a ``.zip`` share one open archive: call
    ``close()`` on each source when done with them.
    """
    if forced_format != "auto" and forced_format not in FORMATS:
        raise ValueError(f"unknown format {forced_format!r}")
    limits = _Limits(max_bytes, min(max_bytes, max_html_bytes or max_bytes))
    for path in paths:
        if path.is_dir():
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and not any(_is_hidden(x) for x in p.relative_to(path).parts)
            )
            if not files:
                yield ImportProblem(str(path), "directory holds no files")
            for file in files:
                yield from _sources_in_file(file, forced_format, limits)
        elif path.is_file():
            yield from _sources_in_file(path, forced_format, limits)
        else:
            yield ImportProblem(str(path), "no such file or directory")


@dataclass(frozen=True, slots=True)
class _Limits:
    any_file: int
    html: int

    def of(self, format: str) -> int:
        return self.html if format == "html" else self.any_file

    def problem(self, name: str, format: str) -> ImportProblem:
        if format == "html" and self.html < self.any_file:
            return ImportProblem(name, f"HTML page is too large (max {_megabytes(self.html)})")
        return ImportProblem(name, f"file is too large (max {_megabytes(self.any_file)})")


def _sources_in_file(
    path: Path, forced_format: str, limits: _Limits
) -> Iterator[SourceFile | ImportProblem]:
    if path.suffix.lower() == ".zip":
        yield from _sources_in_zip(path, forced_format, limits)
        return
    size = path.stat().st_size
    if size == 0:
        yield ImportProblem(str(path), "file is empty")
        return
    compressed = path.name.lower().endswith(".gz")
    if size > limits.any_file and not compressed:
        yield limits.problem(str(path), "")
        return

    def opener(path: Path = path) -> Readable:
        return path.open("rb")

    stem, _ = _split_name(path.name)
    format = _format_for(path.name, forced_format, opener)
    if size > limits.of(format) and not compressed:
        yield limits.problem(str(path), format)
        return
    yield SourceFile(
        name=str(path),
        stem=stem,
        format=format,
        size=size,
        opener=opener,
        max_bytes=limits.of(format),
    )


def _sources_in_zip(
    path: Path, forced_format: str, limits: _Limits
) -> Iterator[SourceFile | ImportProblem]:
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile:
        yield ImportProblem(str(path), "not a valid ZIP archive")
        return
    # One open archive for all its members: opening it again for each member re-reads its
    # whole index, which made an archive of n members cost n² (20,000 members: hours).
    members = sorted(
        (
            info
            for info in archive.infolist()
            if not info.is_dir() and not any(_is_hidden(p) for p in info.filename.split("/"))
        ),
        key=lambda info: info.filename,
    )
    if not members:
        archive.close()
        yield ImportProblem(str(path), "ZIP archive holds no files")
        return
    for info in members:
        name = f"{path}!{info.filename}"
        if info.file_size > limits.any_file:
            yield limits.problem(name, "")
            continue
        if info.file_size == 0:
            yield ImportProblem(name, "file is empty")
            continue

        def opener(info: zipfile.ZipInfo = info) -> Readable:
            return archive.open(info)

        stem, _ = _split_name(PurePosixPath(info.filename).name)
        format = _format_for(info.filename, forced_format, opener)
        if info.file_size > limits.of(format):
            yield limits.problem(name, format)
            continue
        yield SourceFile(
            name=name,
            stem=stem,
            format=format,
            size=info.file_size,
            opener=opener,
            max_bytes=limits.of(format),
            archive=archive,
        )
