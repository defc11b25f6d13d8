"""Inter-annotator agreement on label sets: pure functions over ratings, no ORM.

A *unit* is one segment; its *ratings* map each annotator to the label set of their
submitted answer. Skipped answers are missing values: the caller leaves them out. Unsure
answers count like any other. Units with fewer than two ratings contribute nothing.

- **Per label**: Krippendorff's alpha (nominal) on "has the label" 1/0, computed by the
  ``krippendorff`` package from per-unit value counts, and percent agreement = agreeing
  pairs of ratings / all pairs of ratings on the same unit, pooled over the units.
- **Overall**: Krippendorff's alpha with the MASI distance (nltk's ``masi_distance``) on the
  label sets, from the coincidence matrix (Krippendorff 2011, "Computing Krippendorff's
  alpha-reliability", section C), and exact-set agreement pooled as above.
- **Cohen's kappa** for every pair of annotators, over the units both rated (scikit-learn's
  ``cohen_kappa_score``). How two label sets are compared: in a multi-label project each
  unit gives one yes/no decision per label of the label set (kappa over all those
  decisions, so partial agreement counts); in a single-label project the label is the
  category (one decision per unit).

Every figure is ``None`` where it is undefined: no pairable ratings, or no variation at all
(alpha and kappa divide by the expected disagreement, which is then zero).

``agreement_from_arrays`` is what the project figures use: every rating is one row of three
integer arrays (unit, coder, label-set value), and all counting is vectorised with numpy —
pairs of ratings on the same unit are enumerated by offset within each unit, coincidences and
kappa contingency tables are accumulated with ``np.unique``/``bincount``, and the few set
operations left run once per distinct (pair of coders, value, value), not once per pair of
ratings. ``AgreementCounter`` is the readable reference it is tested against (one unit at a
time, set operations per pair); ``agreement_figures`` runs the fast path.
"""

from __future__ import annotations

import math
import warnings
from array import array
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Any

import krippendorff
import numpy as np

Ratings = Mapping[Any, frozenset[Any]]
"""One unit: annotator -> the label set of their submitted answer."""


@dataclass(frozen=True, slots=True)
class LabelAgreement:
    alpha: float | None
    percent_agreement: float | None


@dataclass(frozen=True, slots=True)
class AgreementFigures:
    alpha_masi: float | None
    exact_agreement: float | None
    labels: dict[Any, LabelAgreement]
    # (a, b) with a < b in the order annotators were first seen -> kappa, and how many
    # units the two both rated.
    kappa: dict[tuple[Any, Any], float | None]
    shared_units: dict[tuple[Any, Any], int]
    units: int  # units with at least two ratings
    pairs: int  # pairs of ratings on the same unit, over those units


def set_distance(a: frozenset[Any], b: frozenset[Any]) -> float:
    """nltk's MASI distance, with two empty sets at distance 0 (nltk divides by zero)."""
    if not a and not b:
        return 0.0
    # Imported here: nltk takes ~1.4 s to import, and most processes never compare sets.
    from nltk.metrics.distance import masi_distance  # type: ignore[import-untyped]

    return float(masi_distance(set(a), set(b)))


# The cells of a yes/no table, in the order ``add_arrays`` sums them.
_CELLS = ((True, True), (True, False), (False, True), (False, False))


def _pairs(n: int) -> int:
    return n * (n - 1) // 2


class AgreementCounter:
    """Agreement over units given one at a time; ``figures()`` at the end."""

    def __init__(self, labels: Sequence[Hashable], *, multi_label: bool = True) -> None:
        self.labels = list(labels)
        self.multi_label = multi_label
        self._units = 0
        self._pairs = 0
        self._exact_pairs = 0
        self._sizes = array("l")  # ratings per pairable unit
        self._has = {label: array("l") for label in self.labels}  # ratings with the label
        self._values: dict[frozenset[Any], int] = {}  # label set -> value index
        self._coincidences: Counter[tuple[int, int]] = Counter()
        self._coincidence_weights: Counter[tuple[int, int, int]] = Counter()
        self._coders: dict[Any, int] = {}  # annotator -> first-seen order
        self._tables: dict[tuple[Any, Any], Counter[tuple[Any, Any]]] = {}
        self._shared: Counter[tuple[Any, Any]] = Counter()

    def add(self, ratings: Ratings) -> None:
        """One unit's ratings (submitted answers only). Fewer than two: nothing to add."""
        m = len(ratings)
        if m < 2:
            return
        self._units += 1
        self._pairs += _pairs(m)
        self._sizes.append(m)
        values = Counter(ratings.values())
        self._exact_pairs += sum(_pairs(n) for n in values.values())
        for label in self.labels:
            self._has[label].append(sum(n for value, n in values.items() if label in value))
        # Coincidences, unnormalised per unit size: o[v, w] += n_v * n_w (v != w) or
        # n_v * (n_v - 1), all divided by m - 1 at the end (exact integers until then).
        index = [self._value_index(value) for value in values]
        counts = list(values.values())
        for i, v in enumerate(index):
            for j, w in enumerate(index):
                product = counts[i] * (counts[j] - (i == j))
                if product:
                    self._coincidence_weights[v, w, m] += product
        for coder in ratings:
            self._coders.setdefault(coder, len(self._coders))
        coders = sorted(ratings, key=self._coders.__getitem__)
        for a, b in combinations(coders, 2):
            self._shared[a, b] += 1
            table = self._tables.setdefault((a, b), Counter())
            first, second = ratings[a], ratings[b]
            if self.multi_label:
                both = len(first & second)
                table[True, True] += both
                table[True, False] += len(first) - both
                table[False, True] += len(second) - both
                table[False, False] += len(self.labels) - len(first | second)
            else:
                table[tuple(sorted(first)), tuple(sorted(second))] += 1

    def _value_index(self, value: frozenset[Any]) -> int:
        return self._values.setdefault(value, len(self._values))

    def add_arrays(
        self,
        *,
        unit: np.ndarray,
        coder: np.ndarray,
        value: np.ndarray,
        values: Sequence[frozenset[Any]],
    ) -> None:
        """Many units at once, as ``add`` would take them one by one (used by exports, which
        stream a project's answers in chunks of whole units).

        One entry per rating: ``unit`` (equal units adjacent, whole units only: a unit never
        continues in the next call), ``coder`` (integer keys) and ``value``, an index into
        ``values`` (each a label set). Counting is vectorised; the state is ``add``'s.
        """
        unit = np.asarray(unit, dtype=np.int64)
        coder = np.asarray(coder, dtype=np.int64)
        value = np.asarray(value, dtype=np.int64)
        if len(unit) < 2:
            return
        starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
        sizes = np.diff(np.r_[starts, len(unit)])
        keep = np.repeat(sizes >= 2, sizes)
        unit, coder, value = unit[keep], coder[keep], value[keep]
        sizes = sizes[sizes >= 2]
        if not len(sizes):
            return
        starts = np.r_[0, np.cumsum(sizes)[:-1]]
        self._units += len(sizes)
        self._pairs += int((sizes * (sizes - 1) // 2).sum())
        self._sizes.extend(sizes.tolist())
        for label in self.labels:
            member = np.array([label in v for v in values], dtype=np.int64)
            self._has[label].extend(np.add.reduceat(member[value], starts).tolist())

        # Every pair of ratings on one unit, once: row i with row i + d.
        firsts, seconds = [], []
        for d in range(1, int(sizes.max())):
            same = np.flatnonzero(unit[:-d] == unit[d:])
            firsts.append(same)
            seconds.append(same + d)
        first, second = np.concatenate(firsts), np.concatenate(seconds)
        v1, v2 = value[first], value[second]
        self._exact_pairs += int(np.count_nonzero(v1 == v2))

        # Coincidences, both orders of each pair, by unit size (as ``add``).
        m = np.repeat(sizes, sizes)[first]
        n_values = len(values)
        top = int(sizes.max()) + 1
        keys = np.concatenate(((v1 * n_values + v2) * top + m, (v2 * n_values + v1) * top + m))
        combos, counts = np.unique(keys, return_counts=True)
        for key, count in zip(combos.tolist(), counts.tolist(), strict=True):
            rest, size = divmod(key, top)
            a, b = divmod(rest, n_values)
            v = self._value_index(frozenset(values[a]))
            w = self._value_index(frozenset(values[b]))
            self._coincidence_weights[v, w, size] += count

        # Coders in first-seen order (units with two ratings or more), then per pair of
        # coders one table from the counts of (pair, value, value).
        seen, where = np.unique(coder, return_index=True)
        for key in seen[np.argsort(where, kind="stable")].tolist():
            self._coders.setdefault(key, len(self._coders))
        c1, c2 = coder[first], coder[second]
        order = np.array([self._coders[c] for c in seen.tolist()], dtype=np.int64)
        r1, r2 = order[np.searchsorted(seen, c1)], order[np.searchsorted(seen, c2)]
        swap = r1 > r2
        c1, c2 = np.where(swap, c2, c1), np.where(swap, c1, c2)
        w1, w2 = np.where(swap, v2, v1), np.where(swap, v1, v2)
        i1, i2 = np.searchsorted(seen, c1), np.searchsorted(seen, c2)
        n_coders = len(seen)
        n_labels = len(self.labels)
        coders = seen.tolist()
        if self.multi_label and len(values) <= 1024:
            # Yes/no per label: the four cells of each pair's table are sums over its
            # pairs of ratings of |A & B|, |A| - |A & B|, ... (A & B from a values x values
            # table of shared labels): one bincount per cell, no Python per pair of ratings.
            member = np.array(
                [[label in v for label in self.labels] for v in values], dtype=np.int64
            )
            shared_labels = member @ member.T
            size = member.sum(axis=1)
            both = shared_labels[w1, w2]
            s1, s2 = size[w1], size[w2]
            pairs, inverse, shared = np.unique(
                i1 * n_coders + i2, return_inverse=True, return_counts=True
            )
            cells = [
                np.bincount(inverse.reshape(-1), weights=cell, minlength=len(pairs))
                for cell in (both, s1 - both, s2 - both, n_labels - (s1 + s2 - both))
            ]
            for k, (key, count) in enumerate(zip(pairs.tolist(), shared.tolist(), strict=True)):
                a, b = divmod(key, n_coders)
                pair = (coders[a], coders[b])
                self._shared[pair] += count
                table = self._tables.get(pair)
                if table is None:
                    table = self._tables[pair] = Counter()
                for cell, answers in zip(_CELLS, cells, strict=True):
                    table[cell] += round(float(answers[k]))
            return
        keys = ((i1 * n_coders + i2) * n_values + w1) * n_values + w2
        combos, counts = np.unique(keys, return_counts=True)
        for key, count in zip(combos.tolist(), counts.tolist(), strict=True):
            rest, b_value = divmod(key, n_values)
            rest, a_value = divmod(rest, n_values)
            a, b = divmod(rest, n_coders)
            pair = (coders[a], coders[b])
            self._shared[pair] += count
            table = self._tables.get(pair)
            if table is None:
                table = self._tables[pair] = Counter()
            one, other = values[a_value], values[b_value]
            if self.multi_label:
                common = len(one & other)
                table[True, True] += common * count
                table[True, False] += (len(one) - common) * count
                table[False, True] += (len(other) - common) * count
                table[False, False] += (n_labels - len(one | other)) * count
            else:
                table[tuple(sorted(one)), tuple(sorted(other))] += count

    def figures(self) -> AgreementFigures:
        sizes = np.frombuffer(self._sizes, dtype=self._sizes.typecode).astype(np.int64)
        labels = {}
        for label in self.labels:
            has = np.frombuffer(self._has[label], dtype=self._has[label].typecode)
            labels[label] = LabelAgreement(
                alpha=_nominal_alpha(sizes, has.astype(np.int64)),
                percent_agreement=_pooled_binary_agreement(sizes, has.astype(np.int64)),
            )
        return AgreementFigures(
            alpha_masi=self._masi_alpha(),
            exact_agreement=self._exact_pairs / self._pairs if self._pairs else None,
            labels=labels,
            kappa={pair: _kappa(table) for pair, table in self._tables.items()},
            shared_units=dict(self._shared),
            units=self._units,
            pairs=self._pairs,
        )

    def _masi_alpha(self) -> float | None:
        if not self._units:
            return None
        size = len(self._values)
        coincidences = np.zeros((size, size))
        for (v, w, m), weight in self._coincidence_weights.items():
            coincidences[v, w] += weight / (m - 1)
        return alpha_from_coincidences(coincidences, distances(list(self._values)))


def distances(values: Sequence[frozenset[Any]]) -> np.ndarray:
    """The MASI distance between every two of ``values``."""
    return np.array([[set_distance(a, b) for b in values] for a in values])


def alpha_from_coincidences(coincidences: np.ndarray, delta: np.ndarray) -> float | None:
    """Krippendorff's alpha = 1 - D_o / D_e from a coincidence matrix and a distance matrix.

    D_o = sum(o_vw * d_vw) / n and D_e = sum(n_v * n_w * d_vw) / (n * (n - 1)), where n_v
    are the coincidence matrix's row sums and n their total. ``None`` when D_e is zero.
    """
    n_v = coincidences.sum(axis=1)
    n = float(n_v.sum())
    if n < 2:
        return None
    observed = float((coincidences * delta).sum()) / n
    expected = float((np.outer(n_v, n_v) * delta).sum()) / (n * (n - 1))
    if expected <= 0 or math.isclose(expected, 0.0, abs_tol=1e-12):
        return None
    return 1.0 - observed / expected


def _nominal_alpha(sizes: np.ndarray, has: np.ndarray) -> float | None:
    """Krippendorff's alpha (nominal) on 1/0, via the ``krippendorff`` package."""
    if not len(sizes) or not has.any() or (has == sizes).all():
        return None  # no ratings, or everyone always said the same: no variation
    value_counts = np.column_stack((sizes - has, has))
    return float(krippendorff.alpha(value_counts=value_counts, level_of_measurement="nominal"))


def _pooled_binary_agreement(sizes: np.ndarray, has: np.ndarray) -> float | None:
    pairs = int((sizes * (sizes - 1) // 2).sum())
    if not pairs:
        return None
    yes = has * (has - 1) // 2
    no = (sizes - has) * (sizes - has - 1) // 2
    return int((yes + no).sum()) / pairs


def _kappa(table: Counter[tuple[Any, Any]]) -> float | None:
    """Cohen's kappa from a table of (first's answer, second's answer) -> count."""
    cells = [(a, b, n) for (a, b), n in table.items() if n]
    if not cells:
        return None
    categories = {
        value: i for i, value in enumerate(sorted({c for a, b, _ in cells for c in (a, b)}))
    }
    first = [categories[a] for a, _, _ in cells]
    second = [categories[b] for _, b, _ in cells]
    weights = [n for _, _, n in cells]
    # Imported here: scikit-learn takes ~1 s to import; only kappa needs it.
    from sklearn.metrics import cohen_kappa_score  # type: ignore[import-untyped]

    with warnings.catch_warnings():
        # Undefined (both always gave the same one answer) is reported as None, not warned.
        warnings.simplefilter("ignore")
        value = cohen_kappa_score(first, second, sample_weight=weights)
    return None if math.isnan(value) else float(value)


def agreement_figures(
    units: Iterable[Ratings], *, labels: Sequence[Hashable], multi_label: bool = True
) -> AgreementFigures:
    """Every agreement figure over ``units`` (see the module docstring), by the fast path."""
    unit_rows: list[int] = []
    coder_rows: list[int] = []
    value_rows: list[int] = []
    coders: dict[Any, int] = {}
    values: dict[frozenset[Any], int] = {}
    for number, ratings in enumerate(units):
        for coder, value in ratings.items():
            unit_rows.append(number)
            coder_rows.append(coders.setdefault(coder, len(coders)))
            value_rows.append(values.setdefault(frozenset(value), len(values)))
    return agreement_from_arrays(
        unit=np.array(unit_rows, dtype=np.int64),
        coder=np.array(coder_rows, dtype=np.int64),
        value=np.array(value_rows, dtype=np.int64),
        coders=list(coders),
        values=list(values),
        labels=labels,
        multi_label=multi_label,
    )


def agreement_from_arrays(
    *,
    unit: np.ndarray,
    coder: np.ndarray,
    value: np.ndarray,
    coders: Sequence[Any],
    values: Sequence[frozenset[Any]],
    labels: Sequence[Hashable],
    multi_label: bool = True,
) -> AgreementFigures:
    """The figures of ``AgreementCounter`` from one row per rating, vectorised.

    ``unit``, ``coder`` and ``value`` are integer arrays of the same length, one entry per
    rating (submitted answers only), grouped by unit (equal units adjacent) with at most one
    rating per coder and unit; ``coders[c]`` is the key reported for coder index ``c`` and
    ``values[v]`` the label set of value index ``v``. The result equals the reference's up to
    floating-point summation order.
    """
    unit = np.asarray(unit, dtype=np.int64)
    coder = np.asarray(coder, dtype=np.int64)
    value = np.asarray(value, dtype=np.int64)
    empty = AgreementFigures(
        alpha_masi=None,
        exact_agreement=None,
        labels={label: LabelAgreement(None, None) for label in labels},
        kappa={},
        shared_units={},
        units=0,
        pairs=0,
    )
    if len(unit) < 2:
        return empty
    # Ratings per unit, then only the units with at least two.
    starts = np.flatnonzero(np.r_[True, unit[1:] != unit[:-1]])
    sizes_all = np.diff(np.r_[starts, len(unit)])
    keep = np.repeat(sizes_all >= 2, sizes_all)
    unit, coder, value = unit[keep], coder[keep], value[keep]
    sizes = sizes_all[sizes_all >= 2].astype(np.int64)
    if not len(sizes):
        return empty
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    size_of_row = np.repeat(sizes, sizes)
    pairs = int((sizes * (sizes - 1) // 2).sum())

    # Every pair of ratings on the same unit, once: row i with row i + d, d = 1 .. max - 1.
    firsts, seconds = [], []
    for d in range(1, int(sizes.max())):
        same = np.flatnonzero(unit[:-d] == unit[d:])
        firsts.append(same)
        seconds.append(same + d)
    first = np.concatenate(firsts)
    second = np.concatenate(seconds)
    del firsts, seconds  # (the arrays per pair are the memory peak: freed as soon as done)
    v1, v2 = value[first], value[second]
    exact_pairs = int(np.count_nonzero(v1 == v2))

    # Per label: how many ratings of each unit have it.
    label_figures = {}
    for label in labels:
        with_label = np.array([label in v for v in values], dtype=np.int64)
        has = np.add.reduceat(with_label[value], starts)
        label_figures[label] = LabelAgreement(
            alpha=_nominal_alpha(sizes, has),
            percent_agreement=_pooled_binary_agreement(sizes, has),
        )

    # Coincidences over the values that occur: every pair counted both ways, / (m - 1).
    used, local = np.unique(value, return_inverse=True)
    n_used = len(used)
    local1, local2 = local[first], local[second]
    pair_sizes = size_of_row[first]
    coincidences = np.zeros((n_used, n_used))
    for m in np.unique(pair_sizes):
        chosen = pair_sizes == m
        cells = np.bincount(
            np.concatenate(
                (local1[chosen] * n_used + local2[chosen], local2[chosen] * n_used + local1[chosen])
            ),
            minlength=n_used * n_used,
        ).reshape(n_used, n_used)
        coincidences += cells / (int(m) - 1)
    del local, local1, local2, pair_sizes, size_of_row
    alpha_masi = alpha_from_coincidences(coincidences, distances([values[v] for v in used]))

    # Kappa: pairs of coders oriented by first appearance (as the reference), one
    # contingency table per pair from the counts of (pair, value, value).
    n_coders = int(coder.max()) + 1
    seen_first = np.full(n_coders, len(coder), dtype=np.int64)
    np.minimum.at(seen_first, coder, np.arange(len(coder)))
    c1, c2 = coder[first], coder[second]
    del first, second
    swap = seen_first[c1] > seen_first[c2]
    n_values = len(values)
    # keys = ((first coder * n_coders + second coder) * n_values + its value) * n_values +
    # the other's value, built in place.
    keys = np.where(swap, c2, c1)
    keys *= n_coders
    keys += np.where(swap, c1, c2)
    del c1, c2
    keys *= n_values
    keys += np.where(swap, v2, v1)
    keys *= n_values
    keys += np.where(swap, v1, v2)
    del v1, v2, swap
    combos, counts = np.unique(keys, return_counts=True)
    del keys
    tables: dict[tuple[Any, Any], Counter[tuple[Any, Any]]] = {}
    shared: Counter[tuple[Any, Any]] = Counter()
    n_labels = len(labels)
    for key, count in zip(combos.tolist(), counts.tolist(), strict=True):
        rest, b_value = divmod(key, n_values)
        rest, a_value = divmod(rest, n_values)
        a, b = divmod(rest, n_coders)
        pair = (coders[a], coders[b])
        shared[pair] += count
        table = tables.setdefault(pair, Counter())
        one, other = values[a_value], values[b_value]
        if multi_label:
            both = len(one & other)
            table[True, True] += both * count
            table[True, False] += (len(one) - both) * count
            table[False, True] += (len(other) - both) * count
            table[False, False] += (n_labels - len(one | other)) * count
        else:
            table[tuple(sorted(one)), tuple(sorted(other))] += count
    return AgreementFigures(
        alpha_masi=alpha_masi,
        exact_agreement=exact_pairs / pairs if pairs else None,
        labels=label_figures,
        kappa={pair: _kappa(table) for pair, table in tables.items()},
        shared_units=dict(shared),
        units=len(sizes),
        pairs=pairs,
    )


def agreement_figures_reference(
    units: Iterable[Ratings], *, labels: Sequence[Hashable], multi_label: bool = True
) -> AgreementFigures:
    """The same figures by ``AgreementCounter`` (the reference the fast path is tested on)."""
    counter = AgreementCounter(labels, multi_label=multi_label)
    for ratings in units:
        counter.add(ratings)
    return counter.figures()
