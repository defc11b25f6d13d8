"""Agreement figures against values worked out by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math
import random

import krippendorff
import numpy as np
import pytest
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import masi_distance

from annotations.services.agreement import (
    AgreementFigures,
    agreement_figures,
    agreement_figures_reference,
    set_distance,
)

A, B, AB = frozenset("a"), frozenset("b"), frozenset("ab")
LABELS = ["a", "b", "c"]  # nobody uses "c"

# Annotators X, Y, Z. u3 has one rating (ignored); in u4, Y skipped (missing).
UNITS = [
    {"X": A, "Y": A, "Z": AB},  # u1
    {"X": B, "Y": A},  # u2
    {"X": A},  # u3
    {"X": AB, "Z": AB},  # u4
    {"X": B, "Y": B, "Z": B},  # u5
]


@pytest.fixture
def figures():
    return agreement_figures(UNITS, labels=LABELS)


def test_units_with_one_rating_are_left_out(figures) -> None:
    # u1, u2, u4, u5 are pairable; their pairs: 3 + 1 + 1 + 3.
    assert figures.units == 4
    assert figures.pairs == 8


def test_exact_set_agreement_is_pooled_over_pairs(figures) -> None:
    # Identical pairs: u1 1 (X, Y), u2 0, u4 1, u5 3 -> 5 / 8.
    assert figures.exact_agreement == pytest.approx(5 / 8)


def test_percent_agreement_per_label(figures) -> None:
    # "a": u1 3 of 3 (all yes), u2 0 of 1, u4 1 of 1, u5 3 of 3 (all no) -> 7 / 8.
    # "b": u1 1 (X, Y say no), u2 0, u4 1, u5 3 -> 5 / 8.
    # "c": nobody used it, so every pair agrees: 8 / 8.
    assert figures.labels["a"].percent_agreement == pytest.approx(7 / 8)
    assert figures.labels["b"].percent_agreement == pytest.approx(5 / 8)
    assert figures.labels["c"].percent_agreement == 1.0


def test_nominal_alpha_per_label(figures) -> None:
    # "a" as 1/0: u1 [1,1,1], u2 [0,1], u4 [1,1], u5 [0,0,0].
    # Coincidences o00 = 3, o01 = o10 = 1, o11 = 3 + 2 = 5; n0 = 4, n1 = 6, n = 10.
    # alpha = 1 - (n - 1) * (o01 + o10) / (2 * n0 * n1) = 1 - 9 * 2 / 48 = 0.625.
    assert figures.labels["a"].alpha == pytest.approx(0.625)
    # "b": u1 [0,0,1], u2 [1,0], u4 [1,1], u5 [1,1,1].
    # o00 = 1, o01 = o10 = 1 + 1 = 2, o11 = 2 + 3 = 5; n0 = 3, n1 = 7.
    # alpha = 1 - 9 * 4 / 42 = 1/7.
    assert figures.labels["b"].alpha == pytest.approx(1 / 7)


def test_alpha_of_a_label_nobody_used_is_undefined(figures) -> None:
    assert figures.labels["c"].alpha is None


def test_masi_alpha_on_label_sets(figures) -> None:
    # MASI distances: d(A, B) = 1 (disjoint); d(A, AB) = d(B, AB) = 1 - 1/2 * 2/3 = 2/3.
    # Coincidences (A, B, AB): u1 A,A,AB -> oAA 1, oA-AB = oAB-A 1; u2 -> oAB = oBA 1;
    # u4 -> oAB-AB 2; u5 -> oBB 3. Rows: A [1 1 1], B [1 3 0], AB [1 0 2]; n = 3, 4, 3.
    # D_o = (1 + 1 + 2/3 + 2/3) / 10 = 1/3; D_e = 2 (12 + 6 * 2/3 + 12 * 2/3) / 90 = 26/45.
    # alpha = 1 - (1/3) / (26/45) = 11/26.
    assert set_distance(A, AB) == pytest.approx(2 / 3)
    assert figures.alpha_masi == pytest.approx(11 / 26)


def test_cohen_kappa_between_every_pair_on_shared_segments(figures) -> None:
    kappa = {frozenset(pair): value for pair, value in figures.kappa.items()}
    # X, Y share u1, u2, u5: decisions per label (a, b, c) give yes-yes 2, no-no 5, one
    # each way 1 + 1 (N = 9). p_o = 7/9, p_e = (3/9)^2 + (6/9)^2 = 5/9 -> (2/9) / (4/9).
    assert kappa[frozenset("XY")] == pytest.approx(0.5)
    # X, Z share u1, u4, u5: yes-yes 4, no-no 4, Z only 1. p_o = 8/9,
    # p_e = 4/9 * 5/9 + 5/9 * 4/9 = 40/81 -> (32/81) / (41/81).
    assert kappa[frozenset("XZ")] == pytest.approx(32 / 41)
    # Y, Z share u1, u5: yes-yes 2, no-no 3, Z only 1 (N = 6). p_o = 5/6,
    # p_e = 2/6 * 3/6 + 4/6 * 3/6 = 1/2 -> (1/3) / (1/2).
    assert kappa[frozenset("YZ")] == pytest.approx(2 / 3)
    shared = {frozenset(pair): n for pair, n in figures.shared_units.items()}
    assert shared == {frozenset("XY"): 3, frozenset("XZ"): 3, frozenset("YZ"): 2}


def test_single_label_kappa_compares_the_labels_as_categories() -> None:
    units = [
        {"X": A, "Y": A},
        {"X": A, "Y": B},
        {"X": B, "Y": B},
        {"X": B, "Y": B},
    ]
    figures = agreement_figures(units, labels=["a", "b"], multi_label=False)
    # p_o = 3/4; X says a 2/4, Y 1/4: p_e = 2/4 * 1/4 + 2/4 * 3/4 = 1/2 -> (1/4) / (1/2).
    (value,) = figures.kappa.values()
    assert value == pytest.approx(0.5)


def test_figures_are_undefined_without_pairs() -> None:
    figures = agreement_figures([{"X": A}, {"Y": B}, {}], labels=LABELS)

    assert figures.units == 0
    assert figures.alpha_masi is None
    assert figures.exact_agreement is None
    assert all(label.alpha is None for label in figures.labels.values())
    assert all(label.percent_agreement is None for label in figures.labels.values())
    assert figures.kappa == {}


def test_perfect_agreement_without_variation_has_no_alpha_or_kappa() -> None:
    # Everyone always chose "a": agreement is total, but chance agreement is total too.
    figures = agreement_figures([{"X": A, "Y": A}, {"X": A, "Y": A}], labels=["a", "b"])

    assert figures.exact_agreement == 1.0
    assert figures.alpha_masi is None
    assert figures.labels["a"].alpha is None
    assert figures.labels["a"].percent_agreement == 1.0
    # Per-label decisions still vary ("a" yes, "b" no, both agree): kappa 1 over them.
    assert list(figures.kappa.values()) == [pytest.approx(1.0)]
    # With only the one label, or as categories, the decisions never vary: undefined.
    only_a = agreement_figures([{"X": A, "Y": A}, {"X": A, "Y": A}], labels=["a"])
    assert list(only_a.kappa.values()) == [None]
    single = agreement_figures(
        [{"X": A, "Y": A}, {"X": A, "Y": A}], labels=["a", "b"], multi_label=False
    )
    assert list(single.kappa.values()) == [None]


def test_perfect_agreement_with_variation_is_one() -> None:
    figures = agreement_figures([{"X": A, "Y": A}, {"X": B, "Y": B}], labels=["a", "b"])

    assert figures.alpha_masi == pytest.approx(1.0)
    assert figures.labels["a"].alpha == pytest.approx(1.0)
    assert list(figures.kappa.values()) == [pytest.approx(1.0)]


def _random_units(seed: int) -> list[dict[str, frozenset[str]]]:
    rng = random.Random(seed)
    values = [A, B, AB, frozenset("c"), frozenset("ac")]
    units = []
    for _ in range(rng.randint(3, 25)):
        coders = rng.sample("VWXYZ", rng.randint(0, 5))
        units.append({coder: rng.choice(values) for coder in coders})
    return units


@pytest.mark.parametrize("seed", range(20))
def test_masi_alpha_matches_the_krippendorff_package_with_the_same_distance(seed) -> None:
    units = _random_units(seed)
    values = sorted({v for unit in units for v in unit.values()}, key=sorted)
    index = {value: i for i, value in enumerate(values)}
    delta = np.array([[set_distance(a, b) for b in values] for a in values])
    coders = sorted({c for unit in units for c in unit})
    data = np.array(
        [[index[u[c]] if c in u else np.nan for u in units] for c in coders], dtype=float
    )

    def masi(v1, v2, i1, i2, n_v, dtype=np.float64):
        return delta[v1.astype(int), v2.astype(int)].astype(dtype)

    ours = agreement_figures(units, labels=["a", "b", "c"]).alpha_masi
    try:
        theirs = krippendorff.alpha(
            reliability_data=data,
            value_domain=np.arange(len(values)),
            level_of_measurement=masi,
        )
    except ValueError:  # the package refuses data with a single value: undefined
        theirs = None
    if ours is None:
        assert theirs is None or np.isnan(theirs)
    else:
        assert ours == pytest.approx(theirs)


@pytest.mark.parametrize("seed", range(20))
def test_masi_alpha_matches_nltk_annotation_task(seed) -> None:
    units = _random_units(seed)
    ours = agreement_figures(units, labels=["a", "b", "c"]).alpha_masi
    triples = [(c, str(i), v) for i, unit in enumerate(units) for c, v in unit.items()]
    pairable = [unit for unit in units if len(unit) >= 2]
    if ours is None:
        return  # nltk reports 1 (or raises) where alpha is undefined
    assert pairable
    nltk_alpha = AnnotationTask(data=triples, distance=masi_distance).alpha()
    assert ours == pytest.approx(nltk_alpha)


@pytest.mark.parametrize("seed", range(20))
def test_label_alpha_matches_the_package_on_reliability_data(seed) -> None:
    units = _random_units(seed)
    ours = agreement_figures(units, labels=["a"]).labels["a"].alpha
    coders = sorted({c for unit in units for c in unit})
    data = np.array(
        [[float("a" in u[c]) if c in u else np.nan for u in units] for c in coders], dtype=float
    )
    pairable = [u for u in units if len(u) >= 2]
    values = {"a" in v for u in pairable for v in u.values()}
    if len(values) < 2:
        assert ours is None
    else:
        theirs = krippendorff.alpha(reliability_data=data, level_of_measurement="nominal")
        assert ours == pytest.approx(theirs)


def _assert_same_figures(fast: AgreementFigures, reference: AgreementFigures) -> None:
    def same(a: float | None, b: float | None) -> bool:
        return (a is None and b is None) or (
            a is not None and b is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
        )

    assert (fast.units, fast.pairs) == (reference.units, reference.pairs)
    assert same(fast.alpha_masi, reference.alpha_masi)
    assert same(fast.exact_agreement, reference.exact_agreement)
    assert list(fast.labels) == list(reference.labels)
    for label, figures in reference.labels.items():
        assert same(fast.labels[label].alpha, figures.alpha), label
        assert fast.labels[label].percent_agreement == figures.percent_agreement, label
    assert fast.shared_units == reference.shared_units
    assert set(fast.kappa) == set(reference.kappa)
    for pair, kappa in reference.kappa.items():
        assert same(fast.kappa[pair], kappa), pair


def _random_rating_units(seed: int, labels: str) -> list[dict[str, frozenset[str]]]:
    """Random units with missing ratings: 0 to 7 coders of 9, label sets of 0 to 3 labels."""
    rng = random.Random(seed)
    units = []
    for _ in range(rng.randint(0, 120)):
        coders = rng.sample("PQRSTUVWX", rng.randint(0, 7))
        units.append(
            {
                coder: frozenset(rng.sample(labels, rng.randint(0, min(3, len(labels)))))
                for coder in coders
            }
        )
    return units


@pytest.mark.parametrize("multi_label", [True, False])
@pytest.mark.parametrize("seed", range(15))
def test_the_fast_path_equals_the_reference_on_random_data(seed, multi_label) -> None:
    labels = "abcde"
    units = _random_rating_units(seed, labels if multi_label else "ab")
    if not multi_label:  # one label (or none) per answer
        units = [{c: frozenset(sorted(v)[:1]) for c, v in unit.items()} for unit in units]
    _assert_same_figures(
        agreement_figures(units, labels=list(labels), multi_label=multi_label),
        agreement_figures_reference(units, labels=list(labels), multi_label=multi_label),
    )
