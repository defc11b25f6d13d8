"""Split an article body into paragraph or sentence spans with exact character offsets.

A span is ``(start, end)``: Python ``str`` indices (code points) into the body, ``end``
exclusive. For every span ``body[start:end]`` is the segment's text, non-empty, with no leading or
trailing whitespace (``str.isspace``); spans come in increasing order and never overlap.

Canonical body (``build_body``): paragraphs joined by one blank line (``"\\n\\n"``). Inside a
paragraph every line is stripped and its runs of whitespace collapse to one space; single
newlines (``<br>`` in the source) are kept and blank lines are dropped, so a paragraph never
contains a blank line and ``paragraph_spans(build_body(ps))`` yields exactly one span per
non-empty paragraph, whose text is that paragraph in canonical form. Nothing else changes (no
Unicode normalisation), so offsets computed on the body stay valid as long as the body is stored
as built.

Sentences come from sentencex (Wikimedia's rule-based splitter, ~300 languages), run on one
paragraph at a time so that a sentence never crosses a paragraph boundary.
"""

from __future__ import annotations

from collections.abc import Iterable

import sentencex

__all__ = ["Span", "build_body", "paragraph_spans", "sentence_spans"]

Span = tuple[int, int]  # [start, end) character offsets (Python str indices) into the body

# sentencex (1.0.32) panics in Rust, raising pyo3's PanicException, a BaseException, when an
# uppercase letter, a multi-byte whitespace character and a period follow each other
# ("B\xa0."). Swapping each such character for an ASCII space avoids it, and keeps every offset
# because the replacement is one code point for one code point.
_WIDE_SPACES = {code: " " for code in range(0x80, 0x3001) if chr(code).isspace()}

# sentencex splits after some titles and number abbreviations that, in news text, are nearly
# always followed by the rest of the sentence ("Ms. Ardern", "Vol. 3", "approx. 40"). A split
# after one of these is undone. Case matters: "ms." after a number is milliseconds and may end a
# sentence. Only applied to English.
# fmt: off
_TITLES = frozenset({
    "Mr", "Mrs", "Ms", "Mses", "Messrs", "Mmes", "Dr", "Prof", "Gov", "Sen", "Rep", "Gen", "Lt",
    "Col", "Capt", "Sgt", "Maj", "Adm", "Cmdr", "Rev", "Fr", "Msgr", "Supt", "Det", "Insp", "Atty",
    "Hon", "Ft", "Mt",
})
_BEFORE_NUMBERS = frozenset({
    "No", "Nos", "Nr", "Vol", "Vols", "pp", "Fig", "Figs", "Art", "Sec", "Ch", "approx", "est",
    "ca",
})
# fmt: on
_OPENERS = "([{\"'“‘«"


def paragraph_spans(body: str) -> list[Span]:
    """Non-empty paragraphs: blocks separated by one or more blank lines; each span trimmed of
    surrounding whitespace.

    Lines end at ``"\\n"``; a blank line is empty or whitespace only (so ``"\\r\\n\\r\\n"`` also
    separates paragraphs). Linear time: one ``str.find`` per line, no regular expression.
    """
    spans: list[Span] = []
    length = len(body)
    start = -1  # offset of the current paragraph's first non-blank line, -1 when outside one
    end = 0
    position = 0
    while position <= length:
        newline = body.find("\n", position)
        if newline == -1:
            newline = length
        line = body[position:newline]
        if line and not line.isspace():
            if start < 0:
                start = position + len(line) - len(line.lstrip())
            end = newline - (len(line) - len(line.rstrip()))
        elif start >= 0:
            spans.append((start, end))
            start = -1
        position = newline + 1
    if start >= 0:
        spans.append((start, end))
    return spans


def sentence_spans(body: str, *, language: str = "en") -> list[Span]:
    """Sentences within each paragraph (never crossing a paragraph boundary), trimmed."""
    english = language.lower().startswith("en")
    spans: list[Span] = []
    for paragraph_start, paragraph_end in paragraph_spans(body):
        paragraph = body[paragraph_start:paragraph_end]
        sentences = _split_paragraph(paragraph, language)
        if english and len(sentences) > 1:
            sentences = _rejoin_after_abbreviations(paragraph, sentences)
        spans.extend((paragraph_start + start, paragraph_start + end) for start, end in sentences)
    return spans


def build_body(paragraphs: Iterable[str]) -> str:
    """Canonical body: each paragraph's lines stripped, runs of whitespace within a line collapsed
    to one space, single newlines kept, blank lines and empty paragraphs dropped; paragraphs
    joined by ``"\\n\\n"``."""
    return build_body_and_spans(paragraphs)[0]


def build_body_and_spans(paragraphs: Iterable[str]) -> tuple[str, list[Span]]:
    """``build_body(paragraphs)`` and its ``paragraph_spans``, taken from the paragraphs' own
    lengths instead of scanning the body again (a canonical paragraph has no blank line and
    no surrounding whitespace, so each is exactly one span)."""
    canonical = [p for p in map(_canonical_paragraph, paragraphs) if p]
    spans: list[Span] = []
    start = 0
    for paragraph in canonical:
        end = start + len(paragraph)
        spans.append((start, end))
        start = end + 2
    return "\n\n".join(canonical), spans


def _canonical_paragraph(paragraph: str) -> str:
    # Most paragraphs are already canonical: one line (isprintable() is False for every
    # whitespace character but the space), single spaces, trimmed. String methods test that
    # several times faster than the split-and-join below.
    if (
        paragraph.isprintable()
        and "  " not in paragraph
        and not paragraph.startswith(" ")
        and not paragraph.endswith(" ")
    ):
        return paragraph
    lines = (" ".join(line.split()) for line in paragraph.splitlines())
    return "\n".join(line for line in lines if line)


def _split_paragraph(paragraph: str, language: str) -> list[Span]:
    """Trimmed sentence spans relative to the paragraph; the whole paragraph if splitting fails."""
    text = paragraph if paragraph.isascii() else paragraph.translate(_WIDE_SPACES)
    try:
        pieces = sentencex.segment(language, text)
    except Exception:  # e.g. UnicodeEncodeError on a lone surrogate: keep the paragraph whole
        pieces = None
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if type(exc).__name__ != "PanicException":
            raise
        pieces = None
    if not pieces:
        return [(0, len(paragraph))]
    ends = _piece_ends(text, pieces)
    if ends is None:
        return [(0, len(paragraph))]
    spans: list[Span] = []
    start = 0
    for end in ends:
        span = _trim(paragraph, start, end)
        if span is not None:
            spans.append(span)
        start = end
    return spans or [(0, len(paragraph))]


def _piece_ends(text: str, pieces: list[str]) -> list[int] | None:
    """End offset in ``text`` of each piece the splitter returned.

    sentencex returns contiguous pieces that concatenate to its input; that is checked, and if a
    future version normalises whitespace the pieces are aligned on their non-whitespace
    characters instead. None when even that fails (the splitter changed characters).
    """
    if "".join(pieces) == text:
        ends = []
        offset = 0
        for piece in pieces:
            offset += len(piece)
            ends.append(offset)
        return ends
    ends = []
    position = 0
    length = len(text)
    for piece in pieces:
        for char in piece:
            if char.isspace():
                continue
            while position < length and text[position].isspace():
                position += 1
            if position >= length or text[position] != char:
                return None
            position += 1
        ends.append(position)
    if text[position:].strip():
        return None
    ends[-1] = length
    return ends


def _trim(text: str, start: int, end: int) -> Span | None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return None
    start += len(piece) - len(piece.lstrip())
    return start, start + len(stripped)


def _rejoin_after_abbreviations(paragraph: str, sentences: list[Span]) -> list[Span]:
    merged = [sentences[0]]
    for start, end in sentences[1:]:
        previous_start, previous_end = merged[-1]
        if _ends_with_abbreviation(paragraph[previous_start:previous_end], paragraph[start]):
            merged[-1] = (previous_start, end)
        else:
            merged.append((start, end))
    return merged


def _ends_with_abbreviation(sentence: str, next_char: str) -> bool:
    if not sentence.endswith("."):
        return False
    words = sentence[-16:].split()
    if not words:
        return False
    word = words[-1][:-1].lstrip(_OPENERS)
    return word in _TITLES or (word in _BEFORE_NUMBERS and next_char.isdigit())
