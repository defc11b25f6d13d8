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
import unicodedata
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from .reflow import reflow


@dataclass(frozen=True, slots=True)
class ScrapedArticle:
    title: str  # the headline, "" if none could be found
    paragraphs: tuple[str, ...]  # clean body paragraphs, in order; the title is not one of them
    published_at: datetime | None  # naive, as written on the page (a bare date is midnight)


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
    count: int = 1  # how often the same words make a line on this page
    date: datetime | None = None
    repeat: bool = False  # a later copy of a prose line
    stop: bool = False  # comments or copyright footer: nothing after it belongs to the article
    enclosed: bool = False  # in a short run of short lines with prose on both sides
    credit: bool = False  # a photo credit


_WORD_RE = re.compile(r"\w+")
_DIGIT_RE = re.compile(r"\d")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_TRAILING_CLOSERS = "\"'”’»)]」』*"
_TRAILING_CATS = frozenset(("So", "Sk", "Cf", "Mn", "Zs"))
_BREADCRUMB_SEPARATORS = ("›", "»", ">", "/", "→")
_BULLETS = ("*", "•", "·", "- ", "– ", "— ", "► ", "▪")
_SENTENCE_END = ".!?。！？…"
_SENTENCE_BREAK_RE = re.compile(r"[.!?。！？…][\"'”’»)\]]*\s+\S|[。！？]\S")


def _phrases(*groups: str) -> frozenset[str]:
    """Phrases written as "a|b c|d", compared with a line's lowercased words joined by spaces."""
    return frozenset(" ".join(p.split()) for group in groups for p in group.split("|") if p.strip())


# Lines made only of these words are navigation or widget chrome.
_CHROME_KEYS = _phrases(
    "advert|advertisement|advertisements|advertising|ad|ads|anzeige|publicidad|publicité|werbung",
    "iklan|sponsored|sponsored content|sponsored link|sponsored links|sponsored stories|promoted",
    "partner content|share|shares|tweet|email|e mail|email me|e mail me|copy|copy link",
    "copy this link|copied|permalink|comment|comments|view comments|reply|report|report error",
    "report an error|report a error|log in|login|log out|logout|sign in|signin|sign out|signout",
    "sign up|signup|subscribe|subscribe now|register|my account|account|profile|menu|search",
    "close|open|toggle|back to top|back to gallery|top|home|next|prev|previous|next post",
    "previous post|more|continue reading|loading|facebook|twitter|instagram|linkedin|whatsapp",
    "pinterest|reddit|youtube|flipboard|telegram|tumblr|rss|google|image|photo|video|gallery",
    "audio|listen|watch|play|caption|image caption|image copyright|live|breaking|trending|latest",
    "popular|false|true|null|undefined",
    *(
        f"{verb}|{verb} this|{verb} this article|{verb} this story|{verb} this page"
        f"|{verb} this post"
        for verb in ("print", "save", "email", "e mail", "bookmark", "download", "share")
    ),
    *(f"{verb} more|{verb} all|{verb} less" for verb in ("read", "show", "load", "see", "view")),
)
_CHROME_PREFIXES = ("share this ", "share on ", "share via ", "share with ", "skip to ", "jump to ")

# Wording that marks a short line as chrome wherever it appears in it. Matched against the
# line's lowercased words joined by single spaces and padded with one, so a leading and trailing
# space stand for word boundaries (plain substring tests are much faster than a big regex).
_CHROME_PHRASES = (
    " cookie ",
    " cookies ",
    " privacy policy ",
    " privacy notice ",
    " privacy settings ",
    " terms of use ",
    " terms of service ",
    " terms and conditions ",
    " terms conditions ",
    " all rights reserved ",
    " copyright ",
    " newsletter ",
    " newsletters ",
    " opens in new window ",
    " opens in a new window ",
    " click here ",
    " click to ",
    " javascript ",
    " getty images ",
    " shutterstock ",
    " image credit ",
    " image copyright ",
    " image caption ",
    " image source ",
    " photo credit ",
    " photo courtesy ",
    " min read ",
    " mins read ",
    " minute read ",
    " minutes read ",
    " sign up ",
    " sign in ",
    " signed in ",
    " signed up ",
    " log in ",
    " login ",
    " subscribe ",
    " subscribed ",
    " subscription ",
    " subscriptions ",
    " follow us ",
    " follow me ",
    " follow on ",
    " story continues ",
    " continues below ",
    " slideshow ",
    " download the app ",
    " download our app ",
    " external link ",
    " external links ",
    " contact us ",
    " advertise ",
    " advertisement ",
    " advertisements ",
    " advertising ",
    " advertiser ",
    " advertisers ",
    " password ",
    " your account ",
    " your profile ",
)
_CHROME_FIRST_WORDS = frozenset(phrase.split()[0] for phrase in _CHROME_PHRASES)

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

# Headings of what follows an article: related links, author boxes, tag lists.
_TAIL_KEYS = _phrases(
    "related|related article|related articles|related stories|related posts|related news",
    "related content|related topics|related coverage|related links|related video",
    "related videos|related reading|related items|recommended|recommended article",
    "recommended articles|recommended stories|recommended posts|recommended for you",
    "recommended reading|recommended video|recommended videos|also read|read also|read next",
    "further reading|don t miss|dont miss|around the web|trending|trending now|popular posts",
    "popular stories|popular articles|popular now|latest news|latest stories|latest posts",
    "latest articles|latest video|latest videos|recent posts|about the author|about the authors",
    "share this|share this story|share this article|share this post|tag|tags|topic|topics",
    "filed under|filed to|sponsored content|sponsored stories|sponsored links|previous article",
    "previous post|previous story|next article|next post|next story",
    # The same headings in a few other languages.
    "ähnliche beiträge|ähnliche artikel|mehr zum thema|lesen sie auch|articles similaires",
    "article similaire|articles liés|articles connexes|à lire aussi|lire aussi",
    "artículos relacionados|noticias relacionadas|notícias relacionadas|artigos relacionados",
    "posts relacionados|leia também|lee también|te puede interesar|articoli correlati",
    "leggi anche|artikel terkait|baca juga|похожие записи|похожие статьи|похожие новости",
    "читайте также|関連記事|関連ニュース|おすすめ記事|相关文章|相关阅读|推荐阅读|相關文章",
    "관련 기사|관련기사",
)
_TAIL_PREFIXES = (
    "more from ",
    "more on ",
    "more in ",
    "more stories",
    "more news",
    "more articles",
    "more posts",
    "more videos",
    "most read",
    "most popular",
    "most viewed",
    "most watched",
    "most shared",
    "most commented",
    "most recent",
    "you may also ",
    "you might also ",
    "you may like",
    "you might like",
    "you will also ",
    "you would also ",
    "you may be interested",
    "you might be interested",
    "we think you ",
    "weitere beiträge",
    "weitere artikel",
    "weitere nachrichten",
    "вам также",
    "вам может",
)

# A credit in brackets at the end of a caption: "(Photo: AP)", "[File: Reuters]", "(Getty)".
_CREDIT_TAIL_RE = re.compile(
    r"[(\[][^()\[\]]{0,80}(?:photo|image|file|credit|getty|reuters|\bap\b|afp|©|/)[^()\[\]]{0,80}"
    r"[)\]]\W*$",
    re.IGNORECASE,
)
# A "Photographer/Agency" credit run into the end of a caption: "... isn't easy.Jane Doe/Getty".
_CREDIT_SLASH_RE = re.compile(
    r"\b[A-Z][\w'.-]*\s+[A-Z][\w'.-]*\s*/\s*(?:getty|reuters|ap|afp|epa|alamy|shutterstock|"
    r"bloomberg|xinhua|dpa|ansa|pa|istock|corbis|ddp|imago)(?:\s+images)?\W*$",
    re.IGNORECASE,
)
_CREDIT_END_RE = re.compile(
    r"\b(?:(?:photo|image|picture)\s+)?credits?\s*:\s*[^.:!?]{1,60}$", re.IGNORECASE
)
_CREDIT_LINE_RE = re.compile(
    r"^\W*(?:(?:photo|image|picture|foto|bild)s?(?:\ (?:credit|by|courtesy))?\s*[:|]|courtesy\b)"
    r"|getty images|\bshutterstock\b|\bimage (?:copyright|caption)\b",
    re.IGNORECASE,
)

# Labels of buttons and toggles: a UI verb and a UI noun, "Close share panel", "Hide caption".
_CONTROL_VERBS = _phrases(
    "close|open|show|hide|toggle|expand|collapse|dismiss|skip|view|enlarge|zoom"
)
_CONTROL_NOUNS = _phrases(
    "panel|menu|navigation|nav|window|dialog|popup|overlay|modal|caption|captions|image|photo",
    "gallery|video|search|sharing|share|comments|transcript|sidebar|details",
)

_CREDIT_WORDS = ("photo", "image", "picture", "foto", "bild", "courtesy", "getty", "shutterstock")
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
_TIME = (
    r"(?:[\s,]*(?:at|às|um|à|a\ las|alle|om|kl\.?|-|–|—|\||@)?\s*"
    r"(?P<hh>\d{1,2})[:h.](?P<mm>\d{2})(?::(?P<ss>\d{2}))?(?!\d)\s*(?P<ampm>[ap]\.?m\b\.?)?)?"
)
_CLOCK_RE = re.compile(
    r"(?<![\d:])(?P<hh>\d{1,2}):(?P<mm>\d{2})(?::(?P<ss>\d{2}))?(?![\d:])\s*"
    r"(?P<ampm>[ap]\.?m\b\.?)?",
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
        r"\b(?P<mon>[^\W\d_]{3,10})\.?\s+(?P<d>\d{1,2})(?:st|nd|rd|th)?\.?,?\s+"
        r"(?P<y>(?:19|20)\d\d)" + _TIME,
        re.IGNORECASE,
    ),
    # 19 November 2019; 30. Juli 2018; 22 de outubro de 2010 às 20:13
    re.compile(
        r"(?<!\d)(?P<d>\d{1,2})(?:st|nd|rd|th|er)?\.?\s+(?:de\s+)?(?P<mon>[^\W\d_]{3,10})"
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
_COMMENT_WORDS = _phrases(
    "comment|comments|response|responses|replies|kommentare|commentaires|comentarios",
    "comentários|commenti|komentar|комментарии|コメント|评论|評論|댓글",
)
_COMMENT_KEYS = _phrases(
    "reader comments|leave a comment|leave a reply|post a comment|add a comment",
    "write a comment|join the conversation|join the discussion|show comments|view comments",
)
_COPYRIGHT_RE = re.compile(
    r"(?:©|\(c\)|\bcopyright\b)\s*(?:©\s*)?(?:\d{4})|\ball rights reserved\b", re.IGNORECASE
)
_UPDATED_START_RE = re.compile(r"^\W*(?:last\s+)?(?:updated|modified|edited)\b", re.IGNORECASE)

# A Title Case badge run into a headline that starts with a number: "Evidence Based15 Tips to…".
_GLUED_BADGE_RE = re.compile(r"^(?:[A-Z][a-z]+ ){1,3}[A-Z][a-z]+(?=\d+\s+\S+\s+\S+\s+\S)")

# Handles, links, pipes and clock times mark bylines, credits and datelines, not headlines.
_NOT_TITLE_RE = re.compile(r"@|https?://|www\.|\||\d:\d\d", re.IGNORECASE)

# Line lengths are in characters, a CJK character counting as three.
_GOOD_LENGTH = 80  # prose: at least this long, with sentence punctuation
_NEAR_LENGTH = 30  # a short sentence
_LONG_UNPUNCTUATED = 100  # a long line without final punctuation still reads as text
_DATE_LINE_WORDS = 16  # a line this short that holds a date is a dateline
_ENCLOSED_RUN = 12  # short lines between prose, at most this many in a row, are body parts
_EDGE_SENTENCES = 2  # short sentences taken in at each edge of the body
_MIN_ARTICLE_SCORE = 1.5  # about one paragraph of prose
# The body is the first stretch between hard stops whose best run scores this much, or this
# share of the best run on the page: comments may outscore a short article.
_MIN_BODY_SCORE = 6.0
_BODY_SHARE = 0.3
_TITLE_WINDOW = 12  # lines above the body searched for its headline
_BYLINED_TITLE_WINDOW = 40  # lines above the body searched for a headline over its byline
_BYLINE_GAP = 2  # a headline this close above a byline or date belongs to it
_LINK_LIST_RUN = 3  # this many headline-length phrases in a row are a list of links
_DATE_WINDOW = 25  # lines above the body searched for its date


def split_scraped_text(text: str) -> list[ScrapedArticle]:
    """Return the real articles found in one scraped page (usually one, sometimes more).

    Hard-wrapped text is re-flowed first (see ``reflow``), so that its paragraphs are judged
    as paragraphs, not as short lines.
    """
    lines = _read_lines(reflow(text))
    if not lines:
        return []
    _classify(lines)
    region = _densest_region(lines)
    if region is None:
        return _plain_text_article(lines)
    articles: list[ScrapedArticle] = []
    previous_end = -1
    previous_title_key = ""
    for start, end in _split_region(lines, *_widen(lines, *region)):
        title_index = _find_title(lines, start, end, previous_end, previous_title_key)
        body_start = start
        # A headline right above the body makes an opening line that reads like one a standfirst.
        if title_index != start - 1 and _opens_with_headline(lines, start, end):
            title_index, body_start = start, start + 1
        paragraphs = _body_paragraphs(lines, body_start, end)
        if not paragraphs:
            continue
        title = _unglued(lines[title_index].text) if title_index is not None else ""
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


def _plain_text_article(lines: list[_Line]) -> list[ScrapedArticle]:
    """Text too short to score as a body is still an article when nothing in it is chrome."""
    title = lines[0].text if len(lines) > 1 and lines[0].headline_like else ""
    body = lines[1:] if title else lines
    if not all(_reads_as_text(line) for line in body):
        return []
    return [ScrapedArticle(title, tuple(line.text for line in body), None)]


def _reads_as_text(line: _Line) -> bool:
    if line.kind is _Kind.SHORT:
        return not line.menu_like
    return line.kind in (_Kind.GOOD, _Kind.NEAR)


def _read_lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    for raw in text.splitlines():
        stripped = " ".join(raw.split())
        if not stripped:
            continue
        tokens = _WORD_RE.findall(stripped.lower())
        cjk = 0 if stripped.isascii() else len(_CJK_RE.findall(stripped))
        # A CJK character carries about as much text as a short word, so it counts thrice.
        lines.append(
            _Line(
                text=stripped,
                key=" ".join(tokens),
                length=len(stripped) + 2 * cjk,
                words=max(len(tokens), cjk // 2),
            )
        )
    return lines


def _ends_sentence(text: str) -> bool:
    end = len(text)
    # Closing quotes and brackets, emoji and other symbols may follow the full stop.
    while end and (
        text[end - 1] in _TRAILING_CLOSERS or unicodedata.category(text[end - 1]) in _TRAILING_CATS
    ):
        end -= 1
    return end > 0 and text[end - 1] in _SENTENCE_END


def _is_menu_like(line: _Line) -> bool:
    if line.words > 6 or _ends_sentence(line.text):
        return False
    lower = [w for w in _WORD_RE.findall(line.text) if w[0].isalpha() and w[0].islower()]
    if not lower and not any(c.isupper() for c in line.text):
        return line.length < 20
    # Menu entries are Title Case or a single word; subheads and list items read as phrases.
    return not any(len(w) > 3 for w in lower)


def _is_headline_like(line: _Line, full_stop: bool = False) -> bool:
    if line.words < 3 or line.words > 30 or line.length > 220:
        return False
    if line.text.startswith(_BULLETS):  # a list item or a footnote
        return False
    if line.text.endswith(_BREADCRUMB_SEPARATORS):
        return False
    if not full_stop and line.text.rstrip(_TRAILING_CLOSERS).endswith("."):
        return False
    first = next((c for c in line.text if c.isalpha()), "")
    return not first or first.lower() != first or first.upper() == first.lower()


def _classify(lines: list[_Line]) -> None:
    counts = Counter(line.key for line in lines)
    seen: set[str] = set()
    for index, line in enumerate(lines):
        line.count = counts[line.key]
        line.kind = _kind_of(line)
        line.menu_like = _is_menu_like(line)
        line.headline_like = line.kind is not _Kind.BAD and _is_headline_like(line)
        if index and line.key == lines[index - 1].key:
            line.kind = _Kind.BAD
        elif line.kind in (_Kind.GOOD, _Kind.NEAR):
            line.repeat = line.key in seen
            seen.add(line.key)
            if line.kind is _Kind.NEAR and line.count > 1 and not _ends_sentence(line.text):
                line.kind = _Kind.SHORT
    for index, line in enumerate(lines):
        if line.kind is _Kind.BAD or index + 1 >= len(lines):
            continue
        following = lines[index + 1].text
        # A line right before a photo credit is the photo's caption. "Image copyright" labels
        # are left out: sites that use them put the credit above the photo.
        if lines[index + 1].credit and not _IMAGE_LABEL_RE.search(following):
            line.kind = _Kind.BAD
    for index, line in enumerate(lines[1:], start=1):
        if lines[index - 1].key == "image caption":
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
    lowered = text.lower()
    padded = f" {line.key} "
    line.credit = len(text) < 80 and _is_credit_line(lowered)
    if len(text) <= 200 and _DIGIT_RE.search(text):
        line.date = _parse_date(text)
    key = line.key
    if (line.words <= 12 and _is_comments_heading(key)) or (
        line.words <= 80 and _is_copyright(lowered)
    ):
        line.stop = True
        return _Kind.TAIL
    if line.words <= 8 and (key in _TAIL_KEYS or key.startswith(_TAIL_PREFIXES)):
        return _Kind.TAIL
    if (
        key in _CHROME_KEYS
        or key.startswith(_CHROME_PREFIXES)
        or key.replace(" ", "").isdigit()
        or _is_control_label(key)
    ):
        return _Kind.BAD
    if line.words <= 15 and ("©" in text or _has_chrome_phrase(padded) or _LABEL_RE.match(text)):
        return _Kind.BAD
    if line.credit:
        return _Kind.BAD
    if _is_captioned(text, lowered):
        return _Kind.BAD
    sentence_end = _ends_sentence(text)
    if (
        line.date is not None
        and line.words <= _DATE_LINE_WORDS
        and not (sentence_end and _lowercase_words(text) >= 4)
    ):
        return _Kind.BAD
    if line.words <= 12 and not sentence_end and _BYLINE_RE.match(text):
        return _Kind.BAD
    has_sentence = sentence_end or bool(_SENTENCE_BREAK_RE.search(text))
    if line.length >= _GOOD_LENGTH and has_sentence:
        return _Kind.GOOD
    if line.length >= _NEAR_LENGTH and sentence_end and line.words >= 4:
        return _Kind.NEAR
    if len(text) >= _LONG_UNPUNCTUATED and not _is_menu_like(line):
        return _Kind.NEAR
    return _Kind.SHORT


def _lowercase_words(text: str) -> int:
    return sum(1 for word in _WORD_RE.findall(text) if word[0].islower())


def _is_comments_heading(key: str) -> bool:
    """Headings like "Comments", "34 Comments", "Comments (3)", "12 responses to …"."""
    words = key.split()
    if words and words[0].isdigit():
        words = words[1:]
    if words and words[-1].isdigit():
        words = words[:-1]
    if not words:
        return False
    if words[0] in _COMMENT_WORDS:
        return len(words) == 1 or words[1] in ("to", "on", "for", "feed")
    return " ".join(words) in _COMMENT_KEYS


# These run a cheap substring test first: most lines contain none of the words.
def _is_copyright(lowered: str) -> bool:
    if "©" not in lowered and "copyright" not in lowered and "reserved" not in lowered:
        return False
    return bool(_COPYRIGHT_RE.search(lowered))


def _is_credit_line(lowered: str) -> bool:
    if not any(word in lowered for word in _CREDIT_WORDS):
        return False
    return bool(_CREDIT_LINE_RE.search(lowered))


def _is_control_label(key: str) -> bool:
    words = key.split()
    return (
        2 <= len(words) <= 4
        and words[0] in _CONTROL_VERBS
        and not _CONTROL_NOUNS.isdisjoint(words[1:])
    )


def _is_captioned(text: str, lowered: str) -> bool:
    """A caption that ends with its photo credit."""
    if "credit" in lowered and _CREDIT_END_RE.search(lowered):
        return True
    if "/" in text and _CREDIT_SLASH_RE.search(text):
        return True
    return text.rstrip(" .").endswith((")", "]")) and bool(_CREDIT_TAIL_RE.search(lowered))


def _has_chrome_phrase(padded: str) -> bool:
    if _CHROME_FIRST_WORDS.isdisjoint(padded.split()):
        return False
    return any(phrase in padded for phrase in _CHROME_PHRASES)


def _score(line: _Line) -> float:
    if line.repeat and line.kind is not _Kind.BAD:
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
    if strongest < _MIN_ARTICLE_SCORE:
        return None
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


def _widen(lines: list[_Line], start: int, end: int) -> tuple[int, int]:
    """Take in short sentences right at the edges of the body ("He declined to comment.")."""

    def is_sentence(index: int) -> bool:
        line = lines[index]
        return (
            line.kind is _Kind.SHORT
            and not line.menu_like
            and line.count == 1
            and _ends_sentence(line.text)
        )

    for _ in range(_EDGE_SENTENCES):
        if start > 0 and is_sentence(start - 1):
            start -= 1
    for _ in range(_EDGE_SENTENCES):
        if end + 1 < len(lines) and is_sentence(end + 1):
            end += 1
    return start, end


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
    return [
        lines[index].text
        for index in range(start, end + 1)
        if _is_body_line(lines, index, start, end, outside)
    ]


def _is_body_line(lines: list[_Line], index: int, start: int, end: int, outside: set[str]) -> bool:
    line = lines[index]
    if line.kind in (_Kind.GOOD, _Kind.NEAR):
        return True
    # Short lines are subheads, list items and one-line quotes, unless the page shows them
    # elsewhere too (headlines, menu entries) or they read as a label away from prose.
    return (
        line.kind is _Kind.SHORT
        and line.key not in outside
        and (not line.menu_like or _between_prose(lines, index, start, end))
    )


def _between_prose(lines: list[_Line], index: int, start: int, end: int) -> bool:
    prose = (_Kind.GOOD, _Kind.NEAR)
    before = index > start and lines[index - 1].kind in prose
    after = index < end and lines[index + 1].kind in prose
    return before and after


def _opens_with_headline(lines: list[_Line], start: int, end: int) -> bool:
    """A long headline (one that reads as text) can open the body run itself."""
    first = lines[start]
    return (
        start < end
        and first.kind is _Kind.NEAR
        and first.headline_like
        and not first.text.rstrip(_TRAILING_CLOSERS).endswith((".", ":"))
        and lines[start + 1].kind in (_Kind.GOOD, _Kind.NEAR)
    )


def _find_title(
    lines: list[_Line], start: int, end: int, previous_end: int, previous_title_key: str
) -> int | None:
    top = max(previous_end + 1, start - _BYLINED_TITLE_WINDOW)
    listed = _link_list_lines(lines, top, start)

    def can_be_title(i: int, bylined: bool = False) -> bool:
        line = lines[i]
        # Right above its byline a headline may end with a full stop, or close a list of links.
        full_stop = bylined and line.kind is not _Kind.GOOD
        return (
            (line.headline_like or (full_stop and _is_headline_like(line, full_stop=True)))
            and line.kind not in (_Kind.BAD, _Kind.TAIL)
            and line.key != previous_title_key
            and (i not in listed or bylined)
            and not _NOT_TITLE_RE.search(line.text)
        )

    # Headlines sit right above their byline or date, however much chrome (share widgets,
    # photo credits, e-mail forms) stands between those and the body. Of two such lines the
    # first is the headline and the second its standfirst. A byline block may span lines.
    bylines = [
        i
        for i in range(start - 1, top - 1, -1)
        if _is_byline(lines[i]) and not (i > top and _is_byline(lines[i - 1]))
    ]
    for below in bylines:
        for i in range(max(top, below - _BYLINE_GAP), below):
            if can_be_title(i, bylined=i == below - 1) and not lines[i].menu_like:
                return i

    def best_above(below: int) -> tuple[float, int] | None:
        best: tuple[float, int] | None = None
        for i in range(below - 1, max(top, below - _TITLE_WINDOW) - 1, -1):
            if not can_be_title(i):
                continue
            line = lines[i]
            # Nearest wins, but headlines are often shown twice (page heading and share
            # widget), while section and author names look like headlines and read as labels.
            score = -0.15 * (below - i)
            if line.count > 1:
                score += 1.0
            if line.menu_like:
                score -= 2.0
            if line.words > 20:
                score -= 1.0
            if best is None or score > best[0]:
                best = (score, i)
        return best

    # Otherwise the best headline near the body, or near the byline block nearest to it.
    found = [best for best in map(best_above, (start, *bylines[:1])) if best is not None]
    if found:
        return max(found)[1]
    for i in range(end + 1, min(len(lines), end + 4)):
        if lines[i].headline_like and lines[i].count > 1:
            return i
    return None


def _unglued(title: str) -> str:
    return _GLUED_BADGE_RE.sub("", title, count=1)


def _is_byline(line: _Line) -> bool:
    """A byline or dateline: "By Jane Doe", "Posted Nov 18, 8:19 PM", a bare date."""
    return line.key == "by" or (
        line.kind is _Kind.BAD
        and line.words <= _DATE_LINE_WORDS
        and (
            line.date is not None
            or bool(_BYLINE_RE.match(line.text))
            or bool(_UPDATED_START_RE.match(line.text))
            or bool(_PUBLISHED_RE.search(line.text))
        )
    )


def _link_list_lines(lines: list[_Line], top: int, stop: int) -> set[int]:
    """Lines in runs of headline-length phrases: related links, not the article's headline."""
    listed: set[int] = set()
    run: list[int] = []
    for i in range(top, stop + 1):
        line = lines[i] if i < stop else None
        if (
            line is not None
            and line.kind is _Kind.SHORT
            and line.headline_like
            and line.words >= 4
            and not line.menu_like
            and not _ends_sentence(line.text)
        ):
            run.append(i)
            continue
        if len(run) >= _LINK_LIST_RUN:
            listed.update(run)
        run = []
    return listed


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
        for match in pattern.finditer(text):
            parsed = _date_from_match(text, match)
            if parsed is not None:
                return parsed
    return None


def _date_from_match(text: str, match: re.Match[str]) -> datetime | None:
    parts = match.groupdict()
    year = int(parts["y"])
    if year < 100:
        year += 2000
    if parts.get("mon"):
        month = _MONTHS.get(parts["mon"].lower(), 0)
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
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    hour = minute = second = 0
    if not parts.get("hh"):
        # Some sites write the time first: "5:27 am CST, Wednesday, November 20, 2019".
        clock = _CLOCK_RE.search(text[: match.start()])
        if clock is not None:
            parts.update(clock.groupdict())
    if parts.get("hh"):
        hour, minute = int(parts["hh"]), int(parts["mm"])
        second = int(parts["ss"] or 0)
        ampm = (parts.get("ampm") or "").lower()
        if ampm.startswith("p") and hour < 12:
            hour += 12
        elif ampm.startswith("a") and hour == 12:
            hour = 0
    try:
        return datetime(year, month, day, hour, minute, second)
    except ValueError:
        try:
            return datetime(year, month, day)
        except ValueError:
            return None
