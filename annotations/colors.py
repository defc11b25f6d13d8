"""Text on a label's colour: WCAG 2 relative luminance and contrast ratio."""

from __future__ import annotations

BLACK = "#000000"
WHITE = "#ffffff"


def relative_luminance(color: str) -> float:
    """WCAG 2 relative luminance of ``#rrggbb`` (0 for black, 1 for white)."""
    channels = [int(color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_ratio(first: str, second: str) -> float:
    """WCAG 2 contrast ratio of two ``#rrggbb`` colours, from 1 to 21."""
    lighter, darker = sorted((relative_luminance(first), relative_luminance(second)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def text_color_on(background: str) -> str:
    """Black or white, whichever contrasts more with ``background``: always at least 4.58:1,
    so text on any label colour meets WCAG AA (4.5:1)."""
    if contrast_ratio(background, BLACK) >= contrast_ratio(background, WHITE):
        return BLACK
    return WHITE
