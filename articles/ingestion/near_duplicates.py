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

import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from datasketch import MinHash
from datasketch.lsh import _optimal_param

NUM_PERM = 64
SHINGLE_WORDS = 3
DEFAULT_THRESHOLD = 0.8
SIGNATURE_BYTES = NUM_PERM * 4
# One set of permutations for every signature: signatures stored in the database must stay
# comparable across processes and releases, so the seed and scheme are fixed here.
_TEMPLATE = MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32")
_A = np.asarray(_TEMPLATE.permutations[0], dtype=np.uint32)
_B = np.asarray(_TEMPLATE.permutations[1], dtype=np.uint32)
# Odd constants (from the golden ratio and MurmurHash3), one per word of a shingle, so that
# a shingle's hash depends on the order of its words.
_MULTIPLIERS = np.array([0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D], dtype=np.uint32)


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
    values = list(map(_WORD_HASHES.get, words))
    if None in values:
        values = [_word_hash(w) if v is None else v for w, v in zip(words, values, strict=True)]
    hashes = np.array(values, dtype=np.uint32)
    if len(words) <= SHINGLE_WORDS:
        return np.array([np.bitwise_xor.reduce(hashes * _MULTIPLIERS[: len(words)])])
    n = len(words) - SHINGLE_WORDS + 1
    combined: npt.NDArray[np.uint32] = hashes[:n] * _MULTIPLIERS[0]
    for k in range(1, SHINGLE_WORDS):
        combined ^= hashes[k : k + n] * _MULTIPLIERS[k]
    # A repeated shingle leaves the minimum unchanged: no need to make them distinct.
    return combined


_WORD_HASHES: dict[str, int] = {}
_MAX_REMEMBERED_WORDS = 200_000


def _word_hash(word: str) -> int:
    value = zlib.crc32(word.encode())
    if len(_WORD_HASHES) >= _MAX_REMEMBERED_WORDS:
        _WORD_HASHES.clear()
    _WORD_HASHES[word] = value
    return value


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


def _fmix32(values: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    values = values ^ (values >> np.uint32(16))
    values = values * np.uint32(0x85EBCA6B)
    values = values ^ (values >> np.uint32(13))
    values = values * np.uint32(0xC2B2AE35)
    return values ^ (values >> np.uint32(16))


def datasketch_signature(text: str) -> bytes:
    """``signature`` computed by datasketch itself (slower; the tests compare the two)."""
    minhash = MinHash(num_perm=NUM_PERM, seed=1, scheme="affine32", hashfunc=int)
    minhash.update_batch(shingle_hashes(text).tolist())
    return np.asarray(minhash.hashvalues, dtype="<u4").tobytes()


def similarity(a: bytes, b: bytes) -> float:
    """Estimated Jaccard similarity of the texts behind two signatures."""
    left = np.frombuffer(a, dtype="<u4")
    right = np.frombuffer(b, dtype="<u4")
    return float(np.count_nonzero(left == right)) / NUM_PERM


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
        self.bands, self.rows = _optimal_param(threshold, NUM_PERM, 0.05, 0.95)
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
