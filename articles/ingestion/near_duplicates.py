"""Near-duplicate articles (wire copies with small edits): MinHash signatures and LSH.

An article's *shingles* are its consecutive ``SHINGLE_WORDS``-word sequences (lower-cased,
whitespace-separated words of the body; the title is not included). Two articles are
near-duplicates when the Jaccard similarity of their shingle sets is at least a threshold
(0.8 by default), estimated from MinHash signatures of ``NUM_PERM`` values (datasketch's
32-bit affine scheme and permutations over 32-bit shingle hashes). Locality-sensitive hashing
cuts each signature into bands (``datasketch``'s optimum for the threshold); articles sharing
a band are candidates, and a candidate counts when its estimated similarity reaches the
threshold.

``NearDuplicateIndex`` holds the signatures of a collection in memory (a few hundred bytes per
article) and answers, for each new article in reading order, which group it belongs to.
"""

from __future__ import annotations

import functools
import zlib
from array import array
from dataclasses import dataclass
from itertools import chain

import numpy as np
import numpy.typing as npt

NUM_PERM = 64
SHINGLE_WORDS = 3
DEFAULT_THRESHOLD = 0.8
SIGNATURE_BYTES = NUM_PERM * 4


def _permutations(seed: int = 1) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """``(a, b)`` of datasketch's "affine32" permutations for ``seed`` (``a`` odd), drawn as
    datasketch's ``MinHash._init_permutations`` draws them (a test compares the two).

    Signatures stored in the database must stay comparable across processes and releases, so
    the seed and scheme are fixed here. Drawn here rather than taken from datasketch, whose
    import (scipy) costs every import process a third of a second.
    """
    generator = np.random.RandomState(seed)
    a = generator.randint(0, 1 << 31, NUM_PERM, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = generator.randint(0, 1 << 32, NUM_PERM, dtype=np.uint32)
    return a, b


_A, _B = _permutations()
# Odd constants (from the golden ratio and MurmurHash3), one per word of a shingle, so that
# a shingle's hash depends on the order of its words.
_MULTIPLIERS = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D], dtype=np.uint32)
# Signatures of a batch are computed together on at most this many shingles at once
# (NUM_PERM uint32 values each: 2 MB, small enough to stay in the processor's cache).
_BATCH_SHINGLES = 8_000


def shingle_hashes(text: str) -> npt.NDArray[np.uint32]:
    """32-bit hashes of the ``SHINGLE_WORDS``-word shingles of ``text`` (with repeats).

    Each word is hashed once (CRC-32 of its UTF-8, remembered for the words seen most); a
    shingle's hash combines its words' hashes with odd multipliers, modulo 2**32. (A text
    shorter than a shingle is one shingle.)
    """
    # Whitespace-separated words (punctuation stays on them): a regular expression for \w+
    # took longer than all the rest of the signature.
    words = text.lower().split()
    if not words:
        return np.zeros(1, dtype=np.uint32)
    hashes = np.array(list(map(_WORD_HASHES.__getitem__, words)), dtype=np.uint32)
    if len(words) <= SHINGLE_WORDS:
        return np.array([np.bitwise_xor.reduce(hashes * _MULTIPLIERS[: len(words)])])
    n = len(words) - SHINGLE_WORDS + 1
    combined: npt.NDArray[np.uint32] = hashes[:n] * _MULTIPLIERS[0]
    for k in range(1, SHINGLE_WORDS):
        combined ^= hashes[k : k + n] * _MULTIPLIERS[k]
    # A repeated shingle leaves the minimum unchanged: no need to make them distinct.
    return combined


class _WordHashes(dict[str, int]):
    """CRC-32 of a word's UTF-8, remembered for the words seen most: ``hashes[word]``.

    A miss computes it in ``__missing__``, so that lookups of known words stay in C
    (``map(hashes.__getitem__, words)``).
    """

    limit = 200_000

    def __missing__(self, word: str) -> int:
        value = zlib.crc32(word.encode())
        if len(self) >= self.limit:
            self.clear()
        self[word] = value
        return value


_WORD_HASHES = _WordHashes()


def signature(text: str) -> bytes:
    """The MinHash signature of ``text``'s shingles, as ``SIGNATURE_BYTES`` bytes.

    The same values as ``datasketch.MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32")``
    updated with the shingle hashes (MurmurHash3's finaliser, then ``a * h + b`` modulo 2**32
    with its permutations, the minimum per permutation), computed on the whole array at once:
    datasketch's ``update_batch`` calls a Python function per value, six times slower here.
    """
    mixed = _fmix32(shingle_hashes(text))
    permuted = mixed[:, np.newaxis] * _A + _B
    return permuted.min(axis=0).astype("<u4").tobytes()


def signatures(texts: list[str]) -> list[bytes]:
    """``[signature(text) for text in texts]``, computed for many texts at once.

    The words of a batch of texts are hashed in one pass and their shingles permuted in one
    array, and ``np.minimum.reduceat`` takes each text's minima: numpy's per-call overhead
    is paid per batch instead of per text (about 3x faster on news articles). Texts shorter
    than two shingles take ``signature``.
    """
    result: list[bytes | None] = [None] * len(texts)
    batch: list[tuple[int, list[str]]] = []
    shingles = 0
    for position, text in enumerate(texts):
        words = text.lower().split()
        if len(words) <= SHINGLE_WORDS:
            result[position] = signature(text)
            continue
        batch.append((position, words))
        shingles += len(words) - SHINGLE_WORDS + 1
        if shingles >= _BATCH_SHINGLES:
            _batch_signatures(batch, result)
            batch, shingles = [], 0
    if batch:
        _batch_signatures(batch, result)
    return [sig for sig in result if sig is not None]


def _batch_signatures(batch: list[tuple[int, list[str]]], result: list[bytes | None]) -> None:
    words = chain.from_iterable(words for _, words in batch)
    hashes = np.frombuffer(array("I", map(_WORD_HASHES.__getitem__, words)), dtype=np.uint32)
    n = len(hashes) - SHINGLE_WORDS + 1
    combined: npt.NDArray[np.uint32] = hashes[:n] * _MULTIPLIERS[0]
    for k in range(1, SHINGLE_WORDS):
        combined ^= hashes[k : k + n] * _MULTIPLIERS[k]
    # Shingles that start in one text and end in the next are dropped: the last
    # SHINGLE_WORDS - 1 starting positions of every text but the last.
    lengths = np.fromiter((len(words) for _, words in batch), dtype=np.int64, count=len(batch))
    ends = np.cumsum(lengths)[:-1]
    keep = np.ones(n, dtype=bool)
    for k in range(1, SHINGLE_WORDS):
        keep[ends - k] = False
    mixed = _fmix32(combined[keep])
    starts = np.concatenate(([0], np.cumsum(lengths - (SHINGLE_WORDS - 1))[:-1]))
    # One row per permutation, so that each text's minimum is taken along contiguous memory.
    permuted = np.multiply.outer(_A, mixed)
    permuted += _B[:, np.newaxis]
    minima = np.minimum.reduceat(permuted, starts, axis=1).T.astype("<u4")
    for (position, _), row in zip(batch, minima, strict=True):
        result[position] = row.tobytes()


def _fmix32(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def datasketch_signature(text: str) -> bytes:
    """``signature`` computed by datasketch itself (slower; the tests compare the two)."""
    from datasketch import MinHash

    minhash = MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32", hashfunc=int)
    minhash.update_batch(shingle_hashes(text).tolist())
    return np.asarray(minhash.hashvalues, dtype="<u4").tobytes()


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the texts behind two signatures."""
    left = np.frombuffer(a, dtype="<u4")
    right = np.frombuffer(b, dtype="<u4")
    return float(np.count_nonzero(left == right)) / NUM_PERM


@functools.cache
def optimal_bands(
    threshold: float, num_perm: int, false_positive_weight: float, false_negative_weight: float
) -> tuple[int, int]:
    """``(bands, rows)`` minimising the weighted false positive and negative probabilities:
    datasketch's ``MinHashLSH`` optimum (``datasketch.lsh._optimal_param``, which integrates
    with scipy), here with Simpson's rule on 1,000 intervals (a test compares the two)."""
    best, chosen = float("inf"), (0, 0)
    below = np.linspace(0.0, threshold, 1001)
    above = np.linspace(threshold, 1.0, 1001)
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            false_positive = _simpson(1 - (1 - below**rows) ** bands, threshold)
            false_negative = _simpson((1 - above**rows) ** bands, 1.0 - threshold)
            error = false_positive * false_positive_weight + false_negative * false_negative_weight
            if error < best:
                best, chosen = error, (bands, rows)
    return chosen


def _simpson(values: npt.NDArray[np.float64], width: float) -> float:
    step = width / (len(values) - 1)
    total = values[0] + values[-1] + 4 * values[1:-1:2].sum() + 2 * values[2:-1:2].sum()
    return float(total * step / 3)


@dataclass(slots=True)
class Group:
    """A near-duplicate group; ``pk`` is its first article's id once that is known."""

    pk: int | None = None


@dataclass(frozen=True, slots=True)
class Match:
    group: Group
    similarity: float


class NearDuplicateIndex:
    """Signatures of the articles seen so far, banded for LSH, each with its group.

    The bands are chosen for recall (datasketch's optimum with false negatives weighted 19 to
    1: 10 bands of 6 values, so a pair at similarity 0.8 becomes a candidate with probability
    0.95 and at 0.85 with 0.99); every candidate is then checked against the threshold.
    Memory: one 256-byte signature and ten small dictionary entries per article.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError("the near-duplicate threshold must be above 0 and at most 1")
        self.threshold = threshold
        self.bands, self.rows = optimal_bands(threshold, NUM_PERM, 0.05, 0.95)
        # A band's key is Python's hash of (band number, its bytes): in memory only, so the
        # per-process hash seed does not matter; a collision only adds a checked candidate.
        self._buckets: dict[int, int | list[int]] = {}
        self._signatures = bytearray()
        self._groups: list[Group] = []

    def __len__(self) -> int:
        return len(self._groups)

    def _keys(self, sig: bytes) -> list[int]:
        width = self.rows * 4
        return [hash((band, sig[band * width : (band + 1) * width])) for band in range(self.bands)]

    def _signature(self, member: int) -> bytes:
        return bytes(self._signatures[member * SIGNATURE_BYTES : (member + 1) * SIGNATURE_BYTES])

    def match(self, sig: bytes) -> Match | None:
        """The group of the most similar article at or above the threshold, if any (ties go to
        the earliest article)."""
        candidates: set[int] = set()
        for key in self._keys(sig):
            members = self._buckets.get(key)
            if members is None:
                continue
            if isinstance(members, int):
                candidates.add(members)
            else:
                candidates.update(members)
        best: Match | None = None
        for member in sorted(candidates):
            score = similarity(sig, self._signature(member))
            if score >= self.threshold and (best is None or score > best.similarity):
                best = Match(self._groups[member], score)
        return best

    def add(self, sig: bytes, group: Group) -> None:
        if len(sig) != SIGNATURE_BYTES:
            raise ValueError(f"a signature has {SIGNATURE_BYTES} bytes, not {len(sig)}")
        member = len(self._groups)
        self._signatures += sig
        self._groups.append(group)
        buckets = self._buckets
        for key in self._keys(sig):
            members = buckets.get(key)
            if members is None:
                buckets[key] = member
            elif isinstance(members, int):
                buckets[key] = [members, member]
            else:
                members.append(member)
