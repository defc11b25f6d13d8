"""Text on label colours meets WCAG AA (4.5:1) for every colour, the demo's included."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from annotations.colors import BLACK, WHITE, contrast_ratio, relative_luminance, text_color_on
from annotations.models import Label
from annotations.services.demo import DEMO_LABELS

AA = 4.5


def test_the_ratio_follows_the_wcag_formula() -> None:
    assert contrast_ratio(BLACK, WHITE) == pytest.approx(21.0)
    assert contrast_ratio(WHITE, BLACK) == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#777777") == pytest.approx(1.0)
    # WebAIM's checker: #767676 on white is 4.54:1, the lightest grey that passes AA.
    assert contrast_ratio("#767676", WHITE) == pytest.approx(4.54, abs=0.01)
    assert relative_luminance("#ff0000") == pytest.approx(0.2126)


@pytest.mark.parametrize(("name", "color"), [(label[0], label[3]) for label in DEMO_LABELS])
def test_every_demo_colour_gets_text_that_meets_aa(name: str, color: str) -> None:
    text = Label(name=name, color=color).text_color

    assert contrast_ratio(color, text) >= AA, (name, color, text)


def test_light_demo_colours_get_black_text_where_white_failed() -> None:
    light = [label[3] for label in DEMO_LABELS if contrast_ratio(label[3], WHITE) < AA]

    assert light, "the demo has light colours (white on them failed AA before)"
    assert {text_color_on(color) for color in light} == {BLACK}


def test_dark_colours_keep_white_text() -> None:
    assert text_color_on("#000080") == WHITE
    assert text_color_on("#ffff00") == BLACK


@given(st.integers(min_value=0, max_value=0xFFFFFF))
def test_any_colour_gets_text_that_meets_aa(value: int) -> None:
    color = f"#{value:06x}"

    assert contrast_ratio(color, text_color_on(color)) >= AA
