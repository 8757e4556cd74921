"""A pattern-mining attack on Bloom-filter encodings (after Christen, Ranbaduge, Vatsalan and
Schnell, "Precise and fast cryptanalysis for Bloom filter based privacy-preserving record
linkage", 2018), used by the attack test and the linkage benchmark.

The attacker holds a set of encodings and knows the scheme (bigrams, bits per token) and the
population's name frequencies, but not the key. A frequent name bigram sets the same ``k``
bits in every encoding that contains it, so those bits are set together far more often
than chance: the attacker finds such groups of bits, gives each group the bigram whose
frequency fits it best, reads off which bigrams every encoding contains, and guesses the
most frequent name whose bigrams agree. An encoding is re-identified when that guess is its
true name.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import product

import numpy as np

from wijkindex.linkage.encoding import bigrams
from wijkindex.linkage.normalise import normalise_given_name, split_surname


def name_bigrams(given: str, surname: str) -> frozenset[str]:
    """The bigrams a name contributes in the shared name space of the Dutch schema."""
    prefix, core = split_surname(surname)
    toks = bigrams(normalise_given_name(given).replace(" ", "_")) + bigrams(core)
    return frozenset(toks + ([f"tv:{prefix.replace(' ', '')}"] if prefix else []))


@dataclass(frozen=True)
class AttackResult:
    groups_found: int  # bit groups the attacker assigned a bigram to
    bigrams_right: int  # of those, groups whose bits really are that bigram's (when known)
    reidentified: int  # encodings whose name the attacker guessed right
    total: int

    @property
    def rate(self) -> float:
        return self.reidentified / self.total


def pattern_mining_attack(bits: np.ndarray, given_freq: Counter, surname_freq: Counter, true_names: list[tuple[str, str]],
                          *, k: int, groups_wanted: int = 40, true_positions: dict[str, set[int]] | None = None
                          ) -> AttackResult:
    """Run the attack on ``bits`` (n x L bool). ``given_freq`` / ``surname_freq``: what the attacker
    knows of the population. ``true_names`` and ``true_positions`` only score the attack."""
    n, width = bits.shape
    e = bits.astype(np.float32)
    count = e.sum(axis=0)
    # what the attacker expects: bigram and bigram-pair frequencies, given and surname independent
    g_total, s_total = sum(given_freq.values()), sum(surname_freq.values())
    names = [(g, s, (gf / g_total) * (sf / s_total)) for (g, gf), (s, sf)
             in product(given_freq.items(), surname_freq.items())]
    sigs = {(g, s): name_bigrams(g, s) for g, s, _ in names}
    q_freq: Counter = Counter()
    for g, s, p in names:
        for q in sigs[(g, s)]:
            q_freq[q] += p
    labels = [q for q, _ in q_freq.most_common(2 * groups_wanted)]
    li = {q: i for i, q in enumerate(labels)}
    pair = np.zeros((len(labels), len(labels)))
    for g, s, p in names:
        idx = [li[q] for q in sigs[(g, s)] if q in li]
        pair[np.ix_(idx, idx)] += p
    # 1. groups: bits that are set in nearly the same encodings (high Jaccard) are one bigram's
    live = np.nonzero(count >= 0.02 * n)[0]
    el = e[:, live]
    co = el.T @ el
    jac = co / (count[live][:, None] + count[live][None, :] - co)
    np.fill_diagonal(jac, 0)
    free = np.ones(len(live), dtype=bool)
    found: list[tuple[np.ndarray, np.ndarray]] = []
    for b in np.argsort(-count[live]).tolist():
        if not free[b] or len(found) >= groups_wanted:
            continue
        close = np.nonzero(free & (jac[b] > 0.6))[0]
        close = close[np.argsort(-jac[b, close])][:k - 1]
        if len(close) < k // 2:
            continue
        members = np.concatenate([[b], close])
        free[members] = False
        found.append((live[members], bits[:, live[members]].all(axis=1)))
    # 2. labels: the bigram whose frequency, and co-occurrence with the groups labelled so far,
    #    fits the group best
    groups: dict[str, np.ndarray] = {}
    chosen: list[tuple[int, np.ndarray]] = []
    for pos, rows in sorted(found, key=lambda g: -int(g[1].sum())):
        cost = np.abs(rows.mean() - pair.diagonal())
        for label, other in chosen:
            cost += np.abs((rows & other).mean() - pair[:, label])
        cost[[label for label, _ in chosen]] = np.inf
        best = int(np.argmin(cost))
        groups[labels[best]] = pos
        chosen.append((best, rows))
    right = sum(1 for q, pos in groups.items() if true_positions and set(pos.tolist()) <= true_positions.get(q, set()))
    if not groups:
        return AttackResult(0, 0, 0, n)
    order = list(groups)
    present = np.stack([bits[:, groups[q]].all(axis=1) for q in order], axis=1).astype(np.float32)
    # each name's likelihood of the bigrams seen (a found bigram is rarely missed or faked)
    sig = np.array([[q in sigs[(g, s)] for q in order] for g, s, _ in names], dtype=np.float32)
    p_seen = np.where(sig > 0, 0.97, 0.03)
    log_a, log_b = np.log(p_seen).T, np.log(1 - p_seen).T
    prior = np.log(np.array([p for _, _, p in names], dtype=np.float32))
    hits = 0
    for start in range(0, n, 1000):
        x = present[start:start + 1000]
        ll = x @ log_a + (1 - x) @ log_b + prior
        for row, truth in zip(np.argmax(ll, axis=1).tolist(), true_names[start:start + 1000]):
            hits += (names[row][0], names[row][1]) == tuple(truth)
    return AttackResult(len(groups), right, hits, n)


def frequency_attack(bits: np.ndarray, given_freq: Counter, surname_freq: Counter,
                     true_names: list[tuple[str, str]]) -> AttackResult:
    """Identical encodings, ranked by how often they occur, are given the names ranked by how
    often the attacker expects them; an encoding is re-identified when its name is right."""
    n = bits.shape[0]
    g_total, s_total = sum(given_freq.values()), sum(surname_freq.values())
    ranked_names = sorted(((gf / g_total) * (sf / s_total), (g, s)) for (g, gf), (s, sf)
                          in product(given_freq.items(), surname_freq.items()))[::-1]
    packed = np.packbits(bits, axis=1)
    _, inverse, counts = np.unique(packed, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    by_rank = np.argsort(-counts, kind="stable")
    guess = {int(enc): ranked_names[r][1] for r, enc in enumerate(by_rank[:len(ranked_names)]) if counts[enc] > 1}
    hits = sum(1 for i, truth in zip(inverse.tolist(), true_names) if guess.get(i) == tuple(truth))
    return AttackResult(len(guess), 0, hits, n)
