"""Matching encodings: Dice scores with blocking, a fixed-threshold best-candidate rule, and (for
evaluation) an automatic threshold with a one-to-one assignment.

1. **Candidates.** Small problems are compared all-pairs (chunked popcounts of the AND of two
   packed encodings: ``np.bitwise_count``). Large ones are blocked first with Hamming LSH on
   the encodings: each of ``tables`` blocking keys samples ``bits_per_key`` encoding bits, and
   only pairs that agree on some key are scored. The blocking uses the encodings only, so it
   reveals nothing the encodings do not.
2. **The round's rule** (``best_candidates``, ``link_best``): each record links to its single
   best-scoring row of the other side (the lowest position among equal scores) when that score
   is at least a fixed constant (``FIXED_THRESHOLD``, chosen once from the measured score
   distributions; docs/linkage.md, "Sensitivity"). A record's link depends on that record and
   the other side only: no threshold fitted on the data, no assignment, so no record can move
   another's link.
3. **Evaluation** (``match``; ``wijkindex linkage evaluate`` and the benchmarks). The candidates
   (each record's few best-scoring partners) hold its true match, if it has one, and its
   closest non-matches: two modes. A two-component Gaussian mixture of their evidence (-log of
   the share of disagreeing bits), fitted by EM, gives each score a match probability; the
   threshold is where that probability crosses one half (Fellegi-Sunter with one comparison
   feature). Pairs at or above it are taken greedily from the highest score down, each record
   at most once on each side. This depends on all the records at once, so a round does not
   use it.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from wijkindex.linkage.encoding import Encodings

DENSE_MAX_PAIRS = 400_000_000  # above this, block with LSH
_FLOOR = 0.5  # scores below this are never kept as candidates (random pairs score ~0.5-0.7)
# The round's fixed thresholds, one per schema (a score's meaning depends on the schema's fields and
# weights). Chosen from the measured scores (docs/linkage.md, "Sensitivity"), never from a round's data.
FIXED_THRESHOLD = 0.78  # DUTCH_CHILD_SCHEMA: the federation's encodings
FEBRL_THRESHOLD = 0.63  # FEBRL_SCHEMA: the benchmark's


@dataclass(frozen=True)
class MatchModel:
    """The EM fit: weight of the match component, each component's (centre as a score, sd of the
    evidence), the threshold and how many EM steps it took."""

    p_match: float
    match: tuple[float, float]
    nonmatch: tuple[float, float]
    threshold: float
    iterations: int


@dataclass(frozen=True)
class MatchResult:
    pairs: np.ndarray  # (m, 2) int64: row in a, row in b
    scores: np.ndarray  # (m,) float
    threshold: float
    model: MatchModel | None
    n_comparisons: int
    n_candidates: int


def _top_of_block(blk: np.ndarray, b: np.ndarray, keep: int, floor: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows of ``blk``: their ``keep`` best partners in ``b`` with Dice >= floor."""
    common = np.zeros((len(blk), len(b)), dtype=np.uint16)
    scratch = np.empty((len(blk), len(b)), dtype=np.uint64)
    for w in range(blk.shape[1]):
        np.bitwise_and(blk[:, w:w + 1], b[:, w][None, :], out=scratch)
        common += np.bitwise_count(scratch)
    if keep < len(b):
        top = np.argpartition(common, -keep, axis=1)[:, -keep:]
    else:
        top = np.broadcast_to(np.arange(len(b)), (len(blk), len(b)))
    sc = np.take_along_axis(common, top, axis=1) / (blk.shape[1] * 32)
    ok = sc >= floor
    return np.nonzero(ok)[0], top[ok], sc[ok]


def dice_all_pairs(a: np.ndarray, b: np.ndarray, *, keep: int = 3, floor: float = _FLOOR,
                   chunk: int = 32, workers: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every row of ``a``, its ``keep`` best rows of ``b`` with Dice >= floor.

    Balanced encodings all weigh half their bits, so Dice = popcount(a & b) / (bits / 2).
    Chunks of ``a`` run on every core (numpy releases the GIL). Returns (ia, ib, score).
    """
    keep = min(keep, len(b))
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    bt = np.ascontiguousarray(b.T)  # word-major: one word of every b is contiguous
    b_words = bt.T
    starts = range(0, len(a), chunk)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        parts = list(pool.map(lambda s0: _top_of_block(a[s0:s0 + chunk], b_words, keep, floor), starts))
    ia = np.concatenate([rows + s0 for (rows, _, _), s0 in zip(parts, starts)])
    ib = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return ia, ib, np.concatenate([p[2] for p in parts])


def lsh_candidates(a: np.ndarray, b: np.ndarray, *, tables: int = 60, bits_per_key: int = 12,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (ia, ib) that agree on all sampled bits of at least one of ``tables`` LSH keys."""
    rng = np.random.default_rng(seed)
    nbits = a.shape[1] * 64
    ua = np.unpackbits(a.view(np.uint8), axis=1, bitorder="little")
    ub = np.unpackbits(b.view(np.uint8), axis=1, bitorder="little")
    weights = (1 << np.arange(bits_per_key, dtype=np.uint64))
    pairs = []
    for _ in range(tables):
        sel = rng.choice(nbits, size=bits_per_key, replace=False)
        ka = (ua[:, sel].astype(np.uint64) * weights).sum(axis=1)
        kb = (ub[:, sel].astype(np.uint64) * weights).sum(axis=1)
        order_b = np.argsort(kb, kind="stable")
        sorted_kb = kb[order_b]
        lo = np.searchsorted(sorted_kb, ka, side="left")
        hi = np.searchsorted(sorted_kb, ka, side="right")
        counts = hi - lo
        ia = np.repeat(np.arange(len(a)), counts)
        offs = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        ib = order_b[np.repeat(lo, counts) + offs]
        pairs.append(ia * len(b) + ib)
    flat = np.unique(np.concatenate(pairs)) if pairs else np.zeros(0, np.int64)
    return flat // len(b), flat % len(b)


def dice_pairs(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Dice of the given pairs of balanced encodings."""
    half_bits = a.shape[1] * 32
    out = np.empty(len(ia))
    for s in range(0, len(ia), chunk):
        x, y = a[ia[s:s + chunk]], b[ib[s:s + chunk]]
        out[s:s + chunk] = np.bitwise_count(x & y).sum(axis=1) / half_bits
    return out


def _normal_pdf(x: np.ndarray, mu: float, sd: float) -> np.ndarray:
    return np.exp(-0.5 * ((x - mu) / sd) ** 2) / (sd * np.sqrt(2 * np.pi))


_EVIDENCE_CAP = 4.0  # a score above 1 - e^-4 (0.98) is as good as exact: exact matches form no spike


def _evidence(scores: np.ndarray, half_bits: int) -> np.ndarray:
    """-log of the share of disagreeing bits, capped: non-matches crowd in a narrow band,
    matches (0, 1, 2 ... errors) spread over the upper range, so two Gaussians describe both."""
    return np.minimum(-np.log(1.0 - np.asarray(scores, dtype=float) + 1.0 / half_bits), _EVIDENCE_CAP)


def _score(evidence: float, half_bits: int) -> float:
    """The score with this evidence (the inverse of ``_evidence`` below its cap)."""
    return float(1.0 + 1.0 / half_bits - np.exp(-evidence))


def fit_threshold(scores: np.ndarray, *, half_bits: int = 1024, max_iter: int = 300) -> MatchModel:
    """EM for a two-component Gaussian mixture of the candidates' evidence (see ``_evidence``);
    the threshold is the score at which the match probability crosses one half."""
    x = _evidence(scores, half_bits)
    if len(x) < 4 or np.ptp(x) < 1e-6:
        raise ValueError("too few distinct scores to fit a match model")
    mu = np.array([np.quantile(x, 0.25), np.quantile(x, 0.90)])
    sd = np.array([max(x.std() / 4, 0.01)] * 2)
    w = np.array([0.6, 0.4])
    it = 0
    for it in range(1, max_iter + 1):
        dens = np.stack([w[j] * _normal_pdf(x, mu[j], sd[j]) for j in range(2)]) + 1e-300
        resp = dens / dens.sum(axis=0)
        nk = resp.sum(axis=1) + 1e-12
        new_mu = (resp * x).sum(axis=1) / nk
        new_sd = np.maximum(np.sqrt((resp * (x - new_mu[:, None]) ** 2).sum(axis=1) / nk), 0.05)
        new_w = nk / nk.sum()
        done = np.allclose(new_mu, mu, atol=1e-7) and np.allclose(new_sd, sd, atol=1e-7)
        mu, sd, w = new_mu, new_sd, new_w
        if done:
            break
    m, u = (1, 0) if mu[1] > mu[0] else (0, 1)
    grid = np.linspace(mu[u], mu[m], 4001)
    pm = w[m] * _normal_pdf(grid, mu[m], sd[m])
    post = pm / (pm + w[u] * _normal_pdf(grid, mu[u], sd[u]))
    cross = grid[np.argmax(post >= 0.5)] if (post >= 0.5).any() else mu[m]
    return MatchModel(float(w[m]), (_score(mu[m], half_bits), float(sd[m])), (_score(mu[u], half_bits), float(sd[u])),
                      _score(cross, half_bits), it)


def greedy_one_to_one(ia: np.ndarray, ib: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Indices into the candidate arrays of the accepted pairs, highest score first, each row once."""
    ok = np.nonzero(scores >= threshold)[0]
    order = ok[np.argsort(-scores[ok], kind="stable")]
    used_a: set[int] = set()
    used_b: set[int] = set()
    keep = []
    for i in order.tolist():
        x, y = int(ia[i]), int(ib[i])
        if x in used_a or y in used_b:
            continue
        used_a.add(x)
        used_b.add(y)
        keep.append(i)
    return np.asarray(keep, dtype=np.int64)


def match(a: Encodings, b: Encodings, *, threshold: float | None = None, block: bool | None = None,
          keep: int = 3) -> MatchResult:
    """Link the rows of ``a`` to rows of ``b`` one-to-one; threshold from EM unless given."""
    if a.schema_fingerprint != b.schema_fingerprint:
        raise ValueError("the two sides were encoded with different schemas: "
                         f"{a.schema_fingerprint} vs {b.schema_fingerprint}")
    A, B = a.bits, b.bits
    n_pairs = len(A) * len(B)
    if block is None:
        block = n_pairs > DENSE_MAX_PAIRS
    if block:
        ia, ib = lsh_candidates(A, B)
        sc = dice_pairs(A, B, ia, ib)
        n_comp = len(ia)
        ok = sc >= _FLOOR
        ia, ib, sc = ia[ok], ib[ok], sc[ok]
    else:
        ia, ib, sc = dice_all_pairs(A, B, keep=keep)
        n_comp = n_pairs
    ok = ~(a.empty[ia] | b.empty[ib])  # rows with no usable identifier never link
    ia, ib, sc = ia[ok], ib[ok], sc[ok]
    model = None
    if threshold is None:
        model = fit_threshold(sc, half_bits=A.shape[1] * 32)
        threshold = model.threshold
    sel = greedy_one_to_one(ia, ib, sc, threshold)
    pairs = np.stack([ia[sel], ib[sel]], axis=1) if len(sel) else np.zeros((0, 2), np.int64)
    return MatchResult(pairs, sc[sel], float(threshold), model, n_comp, len(ia))


@dataclass(frozen=True)
class Best:
    """Each record's best candidate on the other side: its row (-1: none) and Dice score (0: none)."""

    rows: np.ndarray  # (n,) int64
    scores: np.ndarray  # (n,) float
    n_comparisons: int


def _best_of_block(blk: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``blk``: the position of their best row of ``b`` (the first among equals) and its
    count of common bits."""
    common = np.zeros((len(blk), len(b)), dtype=np.uint16)
    scratch = np.empty((len(blk), len(b)), dtype=np.uint64)
    for w in range(blk.shape[1]):
        np.bitwise_and(blk[:, w:w + 1], b[:, w][None, :], out=scratch)
        common += np.bitwise_count(scratch)
    best = np.argmax(common, axis=1)  # argmax returns the first maximum: the lowest position
    return best, common[np.arange(len(blk)), best]


def best_candidates(a: Encodings, b: Encodings, *, block: bool = False, chunk: int = 32,
                    workers: int | None = None) -> Best:
    """For every row of ``a``: the row of ``b`` with the highest Dice score, the lowest position of
    ``b`` among equal scores. Rows with no usable identifier (``empty``) on either side take part
    in no pair.

    Row ``i``'s answer is a function of ``a.bits[i]`` and ``b`` alone, whatever the other rows of
    ``a`` are. ``block`` (Hamming LSH, for very large problems) must therefore be decided by the
    caller from something that does not depend on the records: a configuration, not their number.
    """
    if a.schema_fingerprint != b.schema_fingerprint:
        raise ValueError("the two sides were encoded with different schemas: "
                         f"{a.schema_fingerprint} vs {b.schema_fingerprint}")
    rows = np.full(len(a), -1, dtype=np.int64)
    scores = np.zeros(len(a))
    ia_all = np.nonzero(~a.empty)[0]
    ib_all = np.nonzero(~b.empty)[0]  # positions of b kept in order: the lowest-position rule holds
    if len(ia_all) == 0 or len(ib_all) == 0:
        return Best(rows, scores, 0)
    A, B = a.bits[ia_all], b.bits[ib_all]
    half_bits = A.shape[1] * 32
    if block:
        ia, ib = lsh_candidates(A, B)
        sc = dice_pairs(A, B, ia, ib)
        n_comp = len(ia)
        order = np.lexsort((ib, -sc, ia))  # by record, then highest score, then lowest position
        ia, ib, sc = ia[order], ib[order], sc[order]
        first = np.ones(len(ia), dtype=bool)
        first[1:] = ia[1:] != ia[:-1]
        rows[ia_all[ia[first]]] = ib_all[ib[first]]
        scores[ia_all[ia[first]]] = sc[first]
        return Best(rows, scores, n_comp)
    b_words = np.ascontiguousarray(B.T).T  # word-major: one word of every b is contiguous
    starts = range(0, len(A), chunk)
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        parts = list(pool.map(lambda s0: _best_of_block(A[s0:s0 + chunk], b_words), starts))
    best = np.concatenate([p[0] for p in parts]).astype(np.int64)
    common = np.concatenate([p[1] for p in parts])
    rows[ia_all] = ib_all[best]
    scores[ia_all] = common / half_bits
    return Best(rows, scores, len(A) * len(B))


def link_best(a: Encodings, b: Encodings, *, threshold: float = FIXED_THRESHOLD, block: bool = False) -> MatchResult:
    """The round's rule: each row of ``a`` links to its best row of ``b`` (``best_candidates``) when
    that score is at least ``threshold``, a constant. Many rows of ``a`` may link to one row of
    ``b``; no row's link depends on another row of ``a``."""
    best = best_candidates(a, b, block=block)
    ok = (best.rows >= 0) & (best.scores >= threshold)
    rec = np.nonzero(ok)[0].astype(np.int64)
    pairs = np.stack([rec, best.rows[rec]], axis=1) if len(rec) else np.zeros((0, 2), np.int64)
    return MatchResult(pairs, best.scores[rec], float(threshold), None, best.n_comparisons, int((best.rows >= 0).sum()))
