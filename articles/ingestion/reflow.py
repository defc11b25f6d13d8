"""Undo hard wrapping: text saved at a fixed width gets its paragraphs back.

A page saved at a fixed width (a terminal dump, ``fmt``, a newswire feed) breaks its prose into
lines of about 60-80 characters, so every line looks short, like chrome. ``reflow`` rejoins the
lines that continue a sentence before the cleaner judges them:

- The text counts as hard-wrapped when its lines stop at a common width ``W`` (at most 100):
  no line with a space in it is longer, and a large share of the longer lines end within a
  few characters of it. Text with long lines is returned as it is.
- Within a run of non-blank lines, a line joins the next when the next line's first word would
  not have fitted after it (the wrapper broke there), or when it ends without closing
  punctuation and the next line starts in lower case.
- A line indented more than the lines around it starts a paragraph (newswire style), and so does
  a line after a blank line.
- A dateline on a line of its own ("TAIPEI, March 3 -") opens the paragraph after it instead of
  being one.

Paragraphs come out one per line, separated by blank lines: the cleaner's own input shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_WRAP_WIDTH = 100
MIN_WRAP_WIDTH = 30
# Of the lines at least half the width long, this share must end within _BAND of it.
_FULL_SHARE = 0.5
_BAND = 16
_SENTENCE_END = ".!?:;\"'”’»)]…。！？"
# "TAIPEI, March 3 -", "WASHINGTON (Reuters) --", "LONDON, 3 March 2024 —"
_DATELINE = re.compile(
    r"^[A-Z][A-Z.'’ -]{1,40}(?:/[A-Z][A-Za-z ]+)?"
    r"(?:,\s+(?:[A-Z][a-z]{2,8}\.?\s+\d{1,2}|\d{1,2}\s+[A-Z][a-z]{2,8})(?:,?\s+\d{4})?)?"
    r"(?:\s+\([A-Za-z][A-Za-z .&-]{1,30}\))?\s*(?:-{1,2}|–|—)$"
)


@dataclass(frozen=True, slots=True)
class _Raw:
    text: str  # without surrounding whitespace
    indent: int


def wrap_width(lines: list[str]) -> int | None:
    """The width the text was hard-wrapped at, or None when it was not."""
    # A wrapper only lets a line run past the width when it is one long word (a URL).
    lengths = sorted(len(line.rstrip()) for line in lines if " " in line.strip())
    if len(lengths) < 3:
        return None
    width = lengths[-1]
    if not MIN_WRAP_WIDTH <= width <= MAX_WRAP_WIDTH:
        return None
    longer = [n for n in lengths if n >= width / 2]
    full = [n for n in longer if n >= width - _BAND]
    if len(full) < 3 or len(full) < _FULL_SHARE * len(longer):
        return None
    return width


def is_dateline(text: str) -> bool:
    return bool(_DATELINE.match(text.strip()))


def reflow(text: str) -> str:
    """``text`` with hard-wrapped paragraphs joined into one line each (see the module)."""
    raw_lines = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8).split("\n")
    width = wrap_width(raw_lines)
    if width is None:
        return text
    blocks: list[list[_Raw]] = [[]]
    for line in raw_lines:
        if not line.strip():
            if blocks[-1]:
                blocks.append([])
            continue
        blocks[-1].append(_Raw(line.strip(), len(line) - len(line.lstrip())))
    paragraphs: list[str] = []
    for block in blocks:
        paragraphs.extend(_block_paragraphs(block, width))
    return "\n\n".join(paragraphs) + "\n"


def _block_paragraphs(block: list[_Raw], width: int) -> list[str]:
    if not block:
        return []
    base = min(line.indent for line in block)
    paragraphs: list[list[str]] = []
    previous: _Raw | None = None
    pending_dateline = ""
    for line in block:
        starts = (
            previous is None
            or line.indent > base + 1
            or is_dateline(line.text)
            or not _continues(previous, line, width)
        )
        if starts:
            if paragraphs and is_dateline(" ".join(paragraphs[-1])):
                pending_dateline = " ".join(paragraphs.pop())
            paragraphs.append([pending_dateline, line.text] if pending_dateline else [line.text])
            pending_dateline = ""
        else:
            paragraphs[-1].append(line.text)
        previous = line
    return [_join(parts) for parts in paragraphs]


def _continues(previous: _Raw, line: _Raw, width: int) -> bool:
    first_word = line.text.split(" ", 1)[0]
    # The wrapper broke here: the next word would not have fitted on the line.
    if previous.indent + len(previous.text) + 1 + len(first_word) > width - 1:
        return True
    ended = previous.text.endswith(tuple(_SENTENCE_END))
    return not ended and first_word[:1].islower()


def _join(parts: list[str]) -> str:
    text = ""
    for part in parts:
        if not text:
            text = part
        elif text.endswith("-") and not text.endswith(" -") and part[:1].islower():
            text = text + part  # a word hyphenated at the line end ("inter-" + "national")
        else:
            text = text + " " + part
    return text
