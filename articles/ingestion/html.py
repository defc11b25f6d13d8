"""Extract the main article (title, paragraphs, canonical URL, date) from a saved HTML page.

Built on trafilatura's ``bare_extraction``. Its output tree uses a small TEI-like vocabulary
(``p``, ``head``, ``list``/``item``, ``quote``, ``table``/``row``/``cell``, ``code``, ``lb``,
inline ``hi``/``ref``/``del``); we render that tree to plain text ourselves so that each block
element becomes one paragraph. Text comes from lxml text nodes, so entities are decoded exactly
once and no markup can leak through.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import urljoin, urlsplit

if TYPE_CHECKING:
    from lxml.etree import _Element

__all__ = ["ExtractedPage", "extract_html"]

_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"

# Tags of trafilatura's output tree that start a new paragraph.
_BLOCK_TAGS = frozenset(
    {"p", "head", "list", "item", "quote", "table", "row", "code", "div", "section", "article"}
)
_CELL_SEPARATOR = " | "
# Between a headline and the site name in <title>: "Headline | Site", "Site - Headline".
_TITLE_SEPARATORS = (" | ", " - ", " – ", " — ", " · ", " :: ", " » ")


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    title: str
    paragraphs: tuple[str, ...]  # main-text paragraphs in order, stripped, none empty; no title
    url: str  # canonical URL if the page declares one, else ""
    published_at: datetime | None  # naive or aware datetime as found, or None


# When the precise extraction keeps less than this share of the words in the page's own
# paragraphs (<p> of at least _PARAGRAPH_WORDS words), a recall-oriented one is tried too.
# Chosen by cross-validation on the corpus (docs/performance.md).
FALLBACK_RATIO = 0.5
_PARAGRAPH_WORDS = 8
MODES = ("precision", "balanced", "recall")


def extract_html(
    html: str,
    *,
    url_hint: str = "",
    mode: str = "precision",
    fallback_ratio: float = FALLBACK_RATIO,
) -> ExtractedPage | None:
    """Extract the main article; None when the page has no extractable main text.

    ``url_hint`` (where the page was fetched from) resolves a relative canonical link and lets
    the date finder read a date from the address; it is never returned as the page's own URL.
    ``mode`` is trafilatura's precision/recall trade-off. When the precise extraction finds
    nothing, or keeps less than ``fallback_ratio`` of the page's paragraph text (a short item
    of one or two paragraphs that precision mode throws away), a recall-oriented extraction
    runs too and the longer result is kept.
    """
    if not html or not html.strip():
        return None
    # Imported here: trafilatura takes an eighth of a second to load, which every import
    # process paid before, HTML or not.
    import trafilatura

    tree = trafilatura.load_html(html)
    if tree is None:
        return None
    visible = paragraph_words(tree)
    page = _extract(tree, url_hint, mode)
    del tree
    if mode == "recall" or not needs_fallback(page, visible, fallback_ratio):
        return page
    # trafilatura prunes the tree it is given: the second pass parses the page again.
    again = trafilatura.load_html(html)
    if again is None:
        return page
    fallback = _extract(again, url_hint, "recall")
    if fallback is not None and not _has_prose(fallback):
        fallback = None  # recall mode keeps menus too: "Home" alone is not an article
    return longer(page, fallback)


def paragraph_words(tree: _Element) -> int:
    """Words in the page's own paragraphs (``<p>`` of at least a few words)."""
    total = 0
    for element in tree.iter("p"):
        words = len(element.text_content().split())
        if words >= _PARAGRAPH_WORDS:
            total += words
    return total


def needs_fallback(page: ExtractedPage | None, visible: int, ratio: float) -> bool:
    if page is None:
        return True
    return ratio > 0 and _words(page) < ratio * visible


def longer(page: ExtractedPage | None, other: ExtractedPage | None) -> ExtractedPage | None:
    if page is None or (other is not None and _words(other) > _words(page)):
        return other
    return page


def _has_prose(page: ExtractedPage) -> bool:
    """At least one paragraph of a sentence's length."""
    return any(len(p.split()) >= _PARAGRAPH_WORDS for p in page.paragraphs)


def _words(page: ExtractedPage) -> int:
    return sum(len(p.split()) for p in page.paragraphs)


def _extract(tree: _Element, url_hint: str, mode: str) -> ExtractedPage | None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    import trafilatura

    # Options chosen on the 45-page news corpus (word-4-gram shingle F1, see
    # tests/articles/test_html_extraction.py and docs/performance.md):
    document = trafilatura.bare_extraction(
        tree,
        url=url_hint or None,
        # Drops more boilerplate (teasers, bylines, share bars) for a small recall cost; scored
        # best of balanced / favor_precision / favor_recall.
        favor_precision=mode == "precision",
        favor_recall=mode == "recall",
        # Skips the readability/jusText fallback comparison: same output on the corpus with
        # favor_precision, about twice as fast.
        fast=True,
        # Some articles keep their body, or data the text refers to, in tables; without them
        # recall dropped by about 1.5 points.
        include_tables=True,
        include_comments=False,
        include_images=False,
        include_links=False,
        include_formatting=False,
        with_metadata=True,
        date_extraction_params=_date_params(),
    )
    if document is None or isinstance(document, dict):
        return None

    title = _clean_line(document.title or "")
    paragraphs = _render_paragraphs(document.body)
    if paragraphs and title and _is_title(paragraphs[0], title):
        paragraphs = paragraphs[1:]
    if not paragraphs:
        return None
    return ExtractedPage(
        title=title,
        paragraphs=tuple(paragraphs),
        url=_canonical_url(tree, url_hint),
        published_at=_parse_date(document.date),
    )


def _date_params() -> dict[str, object]:
    return {
        "original_date": True,  # publication date, not "last updated"
        "extensive_search": True,
        "max_date": datetime.now().astimezone().strftime("%Y-%m-%d"),
        "outputformat": _DATE_FORMAT,
        # A date in the URL has no time of day; prefer the page's own metadata when it has one.
        "deferred_url_extractor": True,
    }


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _canonical_url(tree: _Element, url_hint: str) -> str:
    """``<link rel="canonical">``, else ``og:url``; "" when the page declares neither.

    Not trafilatura's ``document.url``: it prefers ``og:url`` (sometimes a share-domain alias),
    only looks inside ``<head>`` (malformed pages get their links moved into ``<body>`` by the
    parser), and falls back to ``<base href>`` or the URL it was given.
    """
    og_url = ""
    for meta in tree.iterfind(".//meta[@content]"):
        if (meta.get("property") or meta.get("name") or "").strip().lower() == "og:url":
            og_url = _absolute_url(meta.get("content") or "", url_hint)
            break
    for link in tree.iterfind(".//link[@href]"):
        if "canonical" in (link.get("rel") or "").lower().split():
            canonical = _absolute_url(link.get("href") or "", url_hint or og_url)
            if canonical:
                return canonical
    return og_url


def _absolute_url(href: str, base: str) -> str:
    href = href.strip()
    if not href:
        return ""
    url = urljoin(base, href) if base else href
    parts = urlsplit(url)
    return url if parts.scheme in ("http", "https") and parts.netloc else ""


def _render_paragraphs(body: _Element | None) -> list[str]:
    """Plain text of each block element: ``lb`` becomes a newline, cells are joined by " | "."""
    if body is None:
        return []
    paragraphs: list[str] = []
    buffer: list[str] = []

    def flush() -> None:
        text = _clean_block("".join(buffer))
        buffer.clear()
        if text:
            paragraphs.append(text)

    def walk(element: _Element, preserve: bool) -> None:
        tag = element.tag if isinstance(element.tag, str) else ""
        preserve = preserve or tag == "code"
        if tag == "lb":
            buffer.append("\n")
        elif tag in _BLOCK_TAGS:
            flush()
        elif tag == "cell" and element.getprevious() is not None:
            buffer.append(_CELL_SEPARATOR)
        if tag and element.text:
            buffer.append(element.text if preserve else _spaces(element.text))
        for child in element:
            walk(child, preserve)
        if tag in _BLOCK_TAGS:
            flush()
        if element.tail:
            buffer.append(element.tail if preserve else _spaces(element.tail))

    if body.text:
        buffer.append(_spaces(body.text))
    for child in body:
        walk(child, preserve=False)
    flush()
    return paragraphs


def _spaces(text: str) -> str:
    # Source newlines are plain whitespace in HTML; only <br> (lb) makes a line break.
    return text.replace("\n", " ")


def _clean_line(text: str) -> str:
    return " ".join(text.split())


def _clean_block(text: str) -> str:
    lines = (_clean_line(line) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


def _is_title(paragraph: str, title: str) -> bool:
    """The headline repeated as the first block, possibly without the title's site-name part."""
    text = _clean_line(paragraph).casefold()
    full = _clean_line(title).casefold()
    if text == full:
        return True
    return any(
        full.startswith(text + separator) or full.endswith(separator + text)
        for separator in _TITLE_SEPARATORS
    )
