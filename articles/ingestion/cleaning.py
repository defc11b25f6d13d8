"""Clean plain text scraped from news pages into articles.

The input is a browser "copy all" or a scraper's text dump of a page: one block element per line
(blank lines between them are ignored), with site chrome left in. The cleaner works on lines only,
with language-neutral signals: prose lines are long and carry sentence punctuation, chrome lines
are short, repeated, or match well-known boilerplate wording. The article body is the densest run
of prose (a maximum-sum segment over per-line scores, the way boilerpipe and jusText find it);
a repeated headline between two prose runs splits the page into several articles.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import Enum


@dataclass(frozen=True, slots=True)
class ScrapedArticle:
    title: str
    paragraphs: tuple[str, ...]
    published_at: datetime | None


class _Kind(Enum):
    GOOD = "good"  # long prose line
    NEAR = "near"  # short sentence, or long line without final punctuation
    SHORT = "short"  # short line: a subhead inside the body, a menu item outside it
    BAD = "bad"  # chrome: boilerplate wording, dates, bylines, captions, duplicates
    TAIL = "tail"  # heading of a section that follows articles ("Related", "Comments")


@dataclass(slots=True)
class _Line:
    text: str
    key: str
    length: int
    words: int
    kind: _Kind = _Kind.SHORT
    menu_like: bool = False
    headline_like: bool = False
    date: datetime | None = None
    duplicate_of: int | None = None
    stop: bool = False
    enclosed: bool = False


_WORD_RE = re.compile(r"\w+")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_TRAILING_CLOSERS = "\"'”’»)]」』*  \u200b"
_SENTENCE_END = ".!?。！？…"
_SENTENCE_BREAK_RE = re.compile(r"[.!?。！？…][\"'”’»)\]]*\s+\S|[。！？]\S")

# Lines made only of these words are navigation or widget chrome.
_CHROME_LINE_RE = re.compile(
    r"""^\W*(?:
        advert(?:isement|isements|ising)?|ads?|anzeige|publicidad|publicité|werbung|iklan|
        sponsored(?:\ (?:content|links?|stories))?|promoted|partner\ content|
        share(?:\ (?:this|on|via|with|the)\b.*)?|shares?|tweet|e-?mail(?:\ (?:this|me))?|print|
        save|copy(?:\ (?:this\ )?link)?|copied|permalink|
        (?:\d+\ )?comments?|view\ comments|reply|report(?:\ (?:error|an?\ error))?|
        log\ ?in|log\ ?out|sign\ ?in|sign\ ?out|sign\ ?up|subscribe(?:\ now)?|register|
        my\ account|account|profile|
        menu|search|close|open|toggle|skip\ to\ \w+|jump\ to\ \w+|back\ to\ (?:top|gallery)|
        home|next|prev(?:ious)?|next\ post|previous\ post|
        (?:read|show|load|see|view)\ (?:more|all|less)|more|continue\ reading|loading\W*|
        facebook|twitter|instagram|linkedin|whatsapp|pinterest|reddit|youtube|flipboard|
        telegram|tumblr|rss|google\+?|
        image|photo|video|gallery|audio|listen|watch|play|
        caption|image\ caption|image\ copyright|
        live|breaking|trending|latest|popular|
        false|true|null|undefined
    )\W*$""",
    re.IGNORECASE | re.VERBOSE,
)

# Wording that marks a short line as chrome wherever it appears in the line.
_CHROME_WORDS_RE = re.compile(
    r"""(?:\bcookies?\b|privacy\ (?:policy|notice|settings)|terms\ (?:of|and)\ (?:use|service)|
        all\ rights\ reserved|\bcopyright\b|©|newsletters?\b|opens\ in\ (?:a\ )?new\ window|
        click\ (?:here|to)\b|\bjavascript\b|getty\ images|\bshutterstock\b|
        image\ (?:credit|copyright|caption|source)|photo\ (?:credit|courtesy)|
        \bmin(?:ute)?s?\ read\b|\bsign\ (?:up|in)\b|\blog\ ?in\b|\bsubscribe\b|
        \bfollow\ (?:us|me|on)\b|\bstory\ continues\b|\bcontinues\ below\b|
        \bslideshow\b|\bdownload\ (?:the|our)\ app\b|\bexternal\ links?\b|
        \bterms\ &\ conditions\b|\bcontact\ us\b|\badvertis)""",
    re.IGNORECASE | re.VERBOSE,
)

# Labels that start metadata lines: credits, tags, sources, inline "Related: ..." links.
_LABEL_RE = re.compile(
    r"""^\W*(?:(?:photo|image|picture|foto|bild)s?(?:\ (?:credit|by|courtesy))?|credits?|
        courtesy(?:\ of)?|source|sources|tags?|topics?|filed\ (?:under|to)|categor(?:y|ies)|
        labels?|keywords?|related|see\ also|also\ read|read\ (?:also|more|next)|more\ on|
        more\ from|recommended|featured|editor'?s?\ picks?|posted\ in|published\ in)\b
        \s*[:|/]""",
    re.IGNORECASE | re.VERBOSE,
)

_BYLINE_RE = re.compile(
    r"^\W*(?:(?:written|posted|reported|published|edited|researched)\s+)?"
    r"(?:by|von|par|por|di|oleh|door|av|af)\b[\s:]",
    re.IGNORECASE,
)

# Headings of what follows an article: related links, comments, author boxes, tag lists.
_TAIL_RE = re.compile(
    r"""^\W*(?:
        related(?:\ (?:articles?|stories|posts|news|content|topics|coverage|links|videos?|
            reading|items))?|
        recommended(?:\ (?:articles?|stories|posts|for\ you|reading|videos?))?|
        more\ (?:from|on|in|stories|news|articles|posts|videos)\b.*|
        most\ (?:read|popular|viewed|watched|shared|commented|recent)\b.*|
        (?:you|we\ think\ you)\ (?:may|might|will|would)\ (?:also\ )?(?:like|enjoy|be\ interested)\b.*|
        also\ read|read\ (?:also|next)|further\ reading|don'?t\ miss|around\ the\ web|
        trending(?:\ now)?|popular\ (?:posts|stories|articles|now)|
        latest\ (?:news|stories|posts|articles|videos?)|recent\ posts|
        (?:\d+\ )?comments?|leave\ a\ (?:comment|reply)|post\ a\ comment|add\ a\ comment|
        join\ the\ (?:conversation|discussion)|show\ comments|
        about\ the\ authors?|share\ this(?:\ (?:story|article|post))?|tags?|topics?|
        filed\ (?:under|to)|sponsored\ (?:content|stories|links)|
        (?:previous|next)\ (?:article|post|story)|
        # The same headings in a few other languages.
        weitere\ (?:beiträge|artikel|nachrichten)\b.*|ähnliche\ (?:beiträge|artikel)|
        kommentare|mehr\ zum\ thema|lesen\ sie\ auch|
        articles?\ (?:similaires|liés|connexes)|à\ lire\ aussi|lire\ aussi|commentaires|
        (?:artículos|noticias|notícias|artigos|posts)\ relacionad[oa]s|
        comentarios|comentários|leia\ também|lee\ también|te\ puede\ interesar|
        articoli\ correlati|leggi\ anche|commenti|
        artikel\ terkait|baca\ juga|komentar|
        похожие\ (?:записи|статьи|новости)|читайте\ также|комментарии|
        вам\ (?:также\ )?(?:может\ быть\ )?(?:интересно|понравится)|
        関連記事|関連ニュース|おすすめ記事|コメント|相关文章|相关阅读|推荐阅读|相關文章|
        관련\ ?기사|댓글
    )\W*$""",
    re.IGNORECASE | re.VERBOSE,
)

# A credit in brackets at the end of a caption: "(Photo: AP)", "[File: Reuters]", "(Getty)".
_CREDIT_TAIL_RE = re.compile(
    r"[(\[][^()\[\]]{0,80}(?:photo|image|file|credit|getty|reuters|\bap\b|afp|©|/)[^()\[\]]{0,80}"
    r"[)\]]\W*$",
    re.IGNORECASE,
)
_CREDIT_LINE_RE = re.compile(
    r"^\W*(?:(?:photo|image|picture|foto|bild)s?(?:\ (?:credit|by|courtesy))?\s*[:|]|courtesy\b)"
    r"|getty images|\bshutterstock\b|\bimage (?:copyright|caption)\b",
    re.IGNORECASE,
)

_IMAGE_LABEL_RE = re.compile(r"\bimage (?:copyright|caption)\b", re.IGNORECASE)

_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            "january jan januar janvier enero janeiro gennaio januari janv января январь",
            "february feb februar février fevrier febrero fevereiro febbraio februari févr "
            "февраля февраль",
            "march mar märz maerz mars marzo março marco maret мар марта март",
            "april apr avril abril aprile апр апреля апрель",
            "may mai mayo maio maggio mei мая май",
            "june jun juni juin junio junho giugno июня июнь",
            "july jul juli juillet julio julho luglio июля июль",
            "august aug août aout agosto agustus авг августа август",
            "september sep sept septembre septiembre setiembre setembro settembre сен "
            "сентября сентябрь",
            "october oct oktober octobre octubre outubro ottobre okt окт октября октябрь",
            "november nov novembre noviembre novembro нояб ноября ноябрь",
            "december dec dezember décembre diciembre dezembro dicembre desember des дек "
            "декабря декабрь",
        ),
        start=1,
    )
    for name in names.split()
}
_MONTH_ALT = "|".join(sorted(_MONTHS, key=len, reverse=True))
_TIME = (
    r"(?:[\s,]*(?:at|às|um|à|a\ las|alle|om|kl\.?|-|–|—|\||@)?\s*"
    r"(?P<hh>\d{1,2})[:h.](?P<mm>\d{2})(?::(?P<ss>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?)?"
)
_CLOCK_RE = re.compile(
    r"(?<![\d:])(?P<hh>\d{1,2}):(?P<mm>\d{2})(?::(?P<ss>\d{2}))?\s*(?P<ampm>[ap]\.?m\.?)?(?![\d:])",
    re.IGNORECASE,
)
_DATE_RES = (
    # 2024-12-10 16:52, 2019-11-18T20:51:19Z, 2018.04.05, 2019/11/20
    re.compile(
        r"(?<!\d)(?P<y>(?:19|20)\d\d)(?P<sep>[-./])(?P<m>\d{1,2})(?P=sep)(?P<d>\d{1,2})(?!\d)"
        r"(?:T|\s*)" + _TIME,
        re.IGNORECASE,
    ),
    # 2018年8月16日
    re.compile(
        r"(?P<y>(?:19|20)\d\d)\s*年\s*(?P<m>\d{1,2})\s*月\s*(?P<d>\d{1,2})\s*日\s*" + _TIME,
        re.IGNORECASE,
    ),
    # November 19, 2019 9:02 AM; Nov. 19th 2019
    re.compile(
        r"\b(?P<mon>" + _MONTH_ALT + r")\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\.?,?\s+"
        r"(?P<y>(?:19|20)\d\d)" + _TIME,
        re.IGNORECASE,
    ),
    # 19 November 2019; 30. Juli 2018; 22 de outubro de 2010 às 20:13
    re.compile(
        r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th|er)?\.?\s+(?:de\s+)?(?P<mon>" + _MONTH_ALT + r")"
        r"\.?,?\s+(?:de\s+)?(?P<y>(?:19|20)\d\d)" + _TIME,
        re.IGNORECASE,
    ),
    # 13.11.2019, 11/20/19, 21/06/2014
    re.compile(
        r"(?<![\d.:/])(?P<a>\d{1,2})(?P<sep>[./])(?P<b>\d{1,2})(?P=sep)(?P<y>(?:19|20)?\d\d)"
        r"(?![\d/])" + _TIME,
        re.IGNORECASE,
    ),
)
_PUBLISHED_RE = re.compile(
    r"\b(?:published|posted|publié|publicado|veröffentlicht|pubblicato|diterbitkan|"
    r"written|first published)\b",
    re.IGNORECASE,
)
# What ends an article for good: its comments, or the page's copyright footer.
_COMMENTS_RE = re.compile(
    r"""^\W*(?:(?:\d+\ )?(?:comments?|responses?|replies|reader\ comments)(?:\ \(\d+\))?
        (?:\ (?:to|on|for)\b.*)?|
        leave\ a\ (?:comment|reply)|post\ a\ comment|add\ a\ comment|write\ a\ comment|
        join\ the\ (?:conversation|discussion)|show\ comments|view\ comments|
        (?:\d+\ )?comments?\ feed\b.*)\W*$""",
    re.IGNORECASE | re.VERBOSE,
)
_COPYRIGHT_RE = re.compile(
    r"(?:©|\(c\)|\bcopyright\b)\s*(?:©\s*)?(?:\d{4})|\ball rights reserved\b", re.IGNORECASE
)
_UPDATED_START_RE = re.compile(r"^\W*(?:last\s+)?(?:updated|modified|edited)\b", re.IGNORECASE)

_GOOD_LENGTH = 80
_NEAR_LENGTH = 30
_LONG_UNPUNCTUATED = 100
_TITLE_WINDOW = 12
_NOT_TITLE_RE = re.compile(r"@|https?://|www\.|\|", re.IGNORECASE)
_DATE_WINDOW = 25
_MIN_BODY_SCORE = 6.0
_ENCLOSED_RUN = 12
_BODY_SHARE = 0.3


def split_scraped_text(text: str) -> list[ScrapedArticle]:
    """Return the real articles found in one scraped page (usually one, sometimes more)."""
    lines = _read_lines(text)
    if not lines:
        return []
    _classify(lines)
    region = _densest_region(lines)
    if region is None:
        return []
    articles: list[ScrapedArticle] = []
    previous_end = -1
    previous_title_key = ""
    for start, end in _split_region(lines, *region):
        paragraphs = _body_paragraphs(lines, start, end)
        if not paragraphs:
            continue
        title_index = _find_title(lines, start, end, previous_end, previous_title_key)
        title = lines[title_index].text if title_index is not None else ""
        articles.append(
            ScrapedArticle(
                title=title,
                paragraphs=tuple(paragraphs),
                published_at=_find_date(lines, start, end, previous_end),
            )
        )
        previous_end = end
        previous_title_key = lines[title_index].key if title_index is not None else ""
    return articles


def _read_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    for raw in text.splitlines():
        stripped = " ".join(raw.split())
        if not stripped:
            continue
        words = len(_WORD_RE.findall(stripped))
        cjk = len(_CJK_RE.findall(stripped))
        # A CJK character carries about as much text as a short word, so it counts thrice.
        lines.append(
            _Line(
                text=stripped,
                key=" ".join(_WORD_RE.findall(stripped.lower())),
                length=len(stripped) + 2 * cjk,
                words=max(words, cjk // 2),
            )
        )
    return lines


def _ends_sentence(text: str) -> bool:
    trimmed = text.rstrip(_TRAILING_CLOSERS)
    return bool(trimmed) and trimmed[-1] in _SENTENCE_END


def _is_menu_like(line: _Line) -> bool:
    if _ends_sentence(line.text) or line.words > 6:
        return False
    cased = [w for w in _WORD_RE.findall(line.text) if w[0].isalpha() and w[0].lower() != w[0]]
    lower = [w for w in _WORD_RE.findall(line.text) if w[0].isalpha() and w[0].lower() == w[0]]
    if not cased and not lower:
        return line.length < 20
    # Menu entries are Title Case or a single word; subheads and list items read as phrases.
    return len([w for w in lower if len(w) > 3]) == 0


def _is_headline_like(line: _Line) -> bool:
    if line.words < 3 or line.words > 30 or line.length > 220:
        return False
    if line.text.rstrip(_TRAILING_CLOSERS).endswith("."):
        return False
    first = next((c for c in line.text if c.isalpha()), "")
    return not first or first.lower() != first or first.upper() == first.lower()


def _classify(lines: list[_Line]) -> None:
    counts = Counter(line.key for line in lines)
    first_seen: dict[str, int] = {}
    for index, line in enumerate(lines):
        line.kind = _kind_of(line)
        line.menu_like = _is_menu_like(line)
        line.headline_like = line.kind is not _Kind.BAD and _is_headline_like(line)
        if index and line.key == lines[index - 1].key:
            line.kind = _Kind.BAD
        elif line.kind in (_Kind.GOOD, _Kind.NEAR):
            if line.key in first_seen:
                line.duplicate_of = first_seen[line.key]
            else:
                first_seen[line.key] = index
            if line.kind is _Kind.NEAR and counts[line.key] > 1 and not _ends_sentence(line.text):
                line.kind = _Kind.SHORT
    for index, line in enumerate(lines):
        if line.kind is _Kind.BAD or index + 1 >= len(lines):
            continue
        following = lines[index + 1].text
        # A line right before a photo credit is the photo's caption. "Image copyright" labels
        # are left out: sites that use them put the credit above the photo.
        if (
            _CREDIT_LINE_RE.search(following)
            and not _IMAGE_LABEL_RE.search(following)
            and len(following) < 80
        ):
            line.kind = _Kind.BAD
    for index, line in enumerate(lines[1:], start=1):
        if re.fullmatch(r"\W*image caption\W*", lines[index - 1].text, re.IGNORECASE):
            line.kind = _Kind.BAD
    _mark_enclosed(lines)


def _mark_enclosed(lines: list[_Line]) -> None:
    """Flag short runs of short lines with prose on both sides: subheads and list items."""
    prose = (_Kind.GOOD, _Kind.NEAR)
    index = 0
    while index < len(lines):
        if lines[index].kind is not _Kind.SHORT:
            index += 1
            continue
        end = index
        while end + 1 < len(lines) and lines[end + 1].kind is _Kind.SHORT:
            end += 1
        if (
            end - index < _ENCLOSED_RUN
            and index > 0
            and end + 1 < len(lines)
            and lines[index - 1].kind in prose
            and lines[end + 1].kind in prose
        ):
            for line in lines[index : end + 1]:
                line.enclosed = True
        index = end + 1


def _kind_of(line: _Line) -> _Kind:
    text = line.text
    if not line.key:
        return _Kind.BAD
    if len(text) <= 200 and any(c.isdigit() for c in text):
        line.date = _parse_date(text)
    if (line.words <= 12 and _COMMENTS_RE.match(text)) or (
        line.words <= 80 and _COPYRIGHT_RE.search(text)
    ):
        line.stop = True
        return _Kind.TAIL
    if line.words <= 8 and _TAIL_RE.match(text):
        return _Kind.TAIL
    if _CHROME_LINE_RE.match(text) or line.key.replace(" ", "").isdigit():
        return _Kind.BAD
    sentence_end = _ends_sentence(text)
    if line.words <= 15 and (_CHROME_WORDS_RE.search(text) or _LABEL_RE.match(text)):
        return _Kind.BAD
    if line.words <= 25 and _CREDIT_LINE_RE.search(text):
        return _Kind.BAD
    if _CREDIT_TAIL_RE.search(text):
        return _Kind.BAD
    if line.date is not None and line.length <= 120 and not _SENTENCE_BREAK_RE.search(text):
        return _Kind.BAD
    if line.words <= 12 and _BYLINE_RE.match(text) and not sentence_end:
        return _Kind.BAD
    has_sentence = sentence_end or bool(_SENTENCE_BREAK_RE.search(text))
    if line.length >= _GOOD_LENGTH and has_sentence:
        return _Kind.GOOD
    if line.length >= _NEAR_LENGTH and sentence_end and line.words >= 4:
        return _Kind.NEAR
    if len(text) >= _LONG_UNPUNCTUATED and not _is_menu_like(line):
        return _Kind.NEAR
    return _Kind.SHORT


def _score(line: _Line) -> float:
    if line.duplicate_of is not None and line.kind is not _Kind.BAD:
        # Repeats add no evidence: a page may hold its body twice (AMP copy, print view).
        return 0.0
    match line.kind:
        case _Kind.GOOD:
            return 1.0 + min(line.length, 600) / 150
        case _Kind.NEAR:
            return 0.5
        case _Kind.SHORT:
            if line.enclosed:
                return -0.1
            return -0.75 if line.menu_like else -0.25
        case _Kind.BAD:
            # A date line after prose starts the next item of a listing more often than not.
            listing_date = line.date is not None and not line.text.startswith(("—", "–", "-"))
            return -3.0 if listing_date else -1.0
        case _Kind.TAIL:
            return -5.0


def _densest_region(lines: list[_Line]) -> tuple[int, int] | None:
    """The maximum-score run of lines, taken from the first stretch between hard stops
    (comments, copyright footer) that holds a body of its own."""
    runs: list[tuple[float, int, int]] = []
    segment_start = 0
    for index in [i for i, line in enumerate(lines) if line.stop] + [len(lines)]:
        run = _best_run(lines, segment_start, index)
        if run is not None:
            runs.append(run)
        segment_start = index + 1
    if not runs:
        return None
    strongest = max(score for score, _, _ in runs)
    for score, start, end in runs:
        if score >= min(strongest, max(_MIN_BODY_SCORE, _BODY_SHARE * strongest)):
            return start, end
    return None


def _best_run(lines: list[_Line], start: int, stop: int) -> tuple[float, int, int] | None:
    best: tuple[float, int, int] | None = None
    total = 0.0
    run_start = start
    for index in range(start, stop):
        if total <= 0:
            total, run_start = 0.0, index
        total += _score(lines[index])
        if total > 0 and (best is None or total > best[0]):
            best = (total, run_start, index)
    return best


def _split_region(lines: list[_Line], start: int, end: int) -> list[tuple[int, int]]:
    """Cut the body region where a repeated headline separates two runs of prose."""
    parts: list[tuple[int, int]] = []
    index = start
    part_start = start
    while index <= end:
        if lines[index].kind in (_Kind.GOOD, _Kind.NEAR):
            index += 1
            continue
        run_end = index
        while run_end + 1 <= end and lines[run_end + 1].kind not in (_Kind.GOOD, _Kind.NEAR):
            run_end += 1
        run = lines[index : run_end + 1]
        run_keys = Counter(line.key for line in run if line.headline_like)
        if (
            any(count >= 2 for count in run_keys.values())
            and _prose_lines(lines, part_start, index - 1) >= 2
            and _prose_lines(lines, run_end + 1, end) >= 2
        ):
            parts.append((part_start, index - 1))
            part_start = run_end + 1
        index = run_end + 1
    parts.append((part_start, end))
    return parts


def _prose_lines(lines: list[_Line], start: int, end: int) -> int:
    return sum(1 for line in lines[start : end + 1] if line.kind is _Kind.GOOD)


def _body_paragraphs(lines: list[_Line], start: int, end: int) -> list[str]:
    inside = {line.key for line in lines[start : end + 1]}
    outside = {
        line.key for i, line in enumerate(lines) if (i < start or i > end) and line.key in inside
    }
    paragraphs: list[str] = []
    for index in range(start, end + 1):
        line = lines[index]
        if line.kind in (_Kind.GOOD, _Kind.NEAR):
            paragraphs.append(line.text)
        elif line.kind is _Kind.SHORT and line.key not in outside:
            if not line.menu_like or _between_prose(lines, index, start, end):
                paragraphs.append(line.text)
    return paragraphs


def _between_prose(lines: list[_Line], index: int, start: int, end: int) -> bool:
    prose = (_Kind.GOOD, _Kind.NEAR)
    before = index > start and lines[index - 1].kind in prose
    after = index < end and lines[index + 1].kind in prose
    return before and after


def _find_title(
    lines: list[_Line], start: int, end: int, previous_end: int, previous_title_key: str
) -> int | None:
    floor = max(previous_end + 1, start - _TITLE_WINDOW)
    candidates = [
        i
        for i in range(start - 1, floor - 1, -1)
        if lines[i].headline_like
        and lines[i].kind is not _Kind.TAIL
        and lines[i].key != previous_title_key
        and not _NOT_TITLE_RE.search(lines[i].text)
    ]
    # Section names and author names look like short headlines; real headlines read as phrases.
    phrases = [i for i in candidates if not lines[i].menu_like]
    if phrases or candidates:
        return (phrases or candidates)[0]
    counts = Counter(line.key for line in lines)
    for i in range(end + 1, min(len(lines), end + 4)):
        if lines[i].headline_like and counts[lines[i].key] > 1:
            return i
    return None


def _find_date(lines: list[_Line], start: int, end: int, previous_end: int) -> datetime | None:
    floor = max(previous_end + 1, start - _DATE_WINDOW)
    dated = [lines[i] for i in range(floor, start) if lines[i].date is not None]
    if not dated:
        dated = [
            line
            for line in lines[end + 1 : end + 6]
            if line.date is not None and _PUBLISHED_RE.search(line.text)
        ]
    if not dated:
        return None
    for line in dated:
        if _PUBLISHED_RE.search(line.text):
            return line.date
    for line in reversed(dated):
        if not _UPDATED_START_RE.match(line.text):
            return line.date
    return dated[-1].date


def _parse_date(text: str) -> datetime | None:
    for pattern in _DATE_RES:
        match = pattern.search(text)
        if match is None:
            continue
        parts = match.groupdict()
        year = int(parts["y"])
        if year < 100:
            year += 2000
        if parts.get("mon"):
            month = _MONTHS[parts["mon"].lower()]
            day = int(parts["d"])
        elif parts.get("a"):
            first, second = int(parts["a"]), int(parts["b"])
            # Dotted dates are day-first everywhere; slashed ones are month-first unless that
            # cannot be.
            if parts["sep"] == "." or first > 12:
                day, month = first, second
            else:
                month, day = first, second
        else:
            month, day = int(parts["m"]), int(parts["d"])
        hour = minute = second_ = 0
        if not parts.get("hh"):
            # Some sites write the time first: "5:27 am CST, Wednesday, November 20, 2019".
            clock = _CLOCK_RE.search(text[: match.start()])
            if clock is not None:
                parts.update(clock.groupdict())
        if parts.get("hh"):
            hour, minute = int(parts["hh"]), int(parts["mm"])
            second_ = int(parts["ss"] or 0)
            ampm = (parts.get("ampm") or "").lower()
            if ampm.startswith("p") and hour < 12:
                hour += 12
            elif ampm.startswith("a") and hour == 12:
                hour = 0
        try:
            return datetime(year, month, day, hour, minute, second_)
        except ValueError:
            try:
                return datetime(year, month, day)
            except ValueError:
                continue
    return None
