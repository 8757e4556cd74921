"""Attacks on the encodings by a party that knows the population's name frequencies, not the key.

The pattern-mining attack (tests/attacks.py) re-identifies a quarter of plain Bloom-filter
encodings of names: that shows the attack is real. Against the encodings a node sends
(record-level, Rule 90, balanced, keyed permutation) it, and the frequency attack, must
re-identify at most 1%.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from attacks import frequency_attack, pattern_mining_attack
from wijkindex.linkage.encoding import DUTCH_CHILD_SCHEMA, Encoder, EncodingSchema
from wijkindex.linkage.pseudonym import EncodingKey
from wijkindex.synth.names import FIRST_NAMES_F, FIRST_NAMES_M, SURNAMES

N = 10_000
_KEY = EncodingKey(bytes(range(32)), "attack-test")  # fixed: the test is the same every run
K = 12  # bits per name bigram in the Dutch schema: the attacker knows the scheme


@pytest.fixture(scope="module")
def population() -> tuple[pd.DataFrame, Counter, Counter]:
    """Children with Zipf-distributed names (as common Dutch names are), and the name
    frequencies the attacker knows: the exact ones of the population."""
    rng = np.random.default_rng(3)
    fw = 1 / np.arange(1, len(FIRST_NAMES_M) + 1) ** 0.7
    fw /= fw.sum()
    sw = 1 / np.arange(1, len(SURNAMES) + 1) ** 0.8
    sw /= sw.sum()
    boy = rng.random(N) < 0.5
    given = np.where(boy, rng.choice(FIRST_NAMES_M, N, p=fw), rng.choice(FIRST_NAMES_F, N, p=fw))
    frame = pd.DataFrame({
        "voornaam": given, "achternaam": rng.choice(SURNAMES, N, p=sw),
        "geboortedatum": [f"20{rng.integers(0, 18):02d}-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}"
                          for _ in range(N)],
        "geslacht": np.where(boy, "M", "V"),
        "postcode": [f"80{rng.integers(10, 47)} {chr(65 + rng.integers(20))}{chr(65 + rng.integers(20))}"
                     for _ in range(N)],
    })
    return frame, Counter(frame["voornaam"]), Counter(frame["achternaam"])


def _bits(packed: np.ndarray) -> np.ndarray:
    return np.unpackbits(packed.view(np.uint8), axis=1, bitorder="little").astype(bool)


def _truth(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["voornaam"], frame["achternaam"]))


def test_the_attack_breaks_plain_name_encodings(population) -> None:
    frame, given, surnames = population
    names_only = Encoder(_KEY, EncodingSchema(DUTCH_CHILD_SCHEMA.fields[:2]))
    plain, _ = names_only.plain_filters(frame)
    result = pattern_mining_attack(_bits(plain), given, surnames, _truth(frame), k=K)
    assert result.rate >= 0.10, result  # the known weakness of unhardened Bloom filters


def test_hardened_encodings_resist_pattern_mining(population) -> None:
    frame, given, surnames = population
    sent = Encoder(_KEY, DUTCH_CHILD_SCHEMA).encode(frame)  # what leaves a node
    result = pattern_mining_attack(_bits(sent.bits), given, surnames, _truth(frame), k=K)
    assert result.rate <= 0.01, result
    # the hardening alone, on names only, defeats it too (not just the extra fields)
    names_only = Encoder(_KEY, EncodingSchema(DUTCH_CHILD_SCHEMA.fields[:2])).encode(frame)
    assert pattern_mining_attack(_bits(names_only.bits), given, surnames, _truth(frame), k=K).rate <= 0.01


def test_hardened_encodings_resist_the_frequency_attack(population) -> None:
    frame, given, surnames = population
    sent = Encoder(_KEY, DUTCH_CHILD_SCHEMA).encode(frame)
    result = frequency_attack(_bits(sent.bits), given, surnames, _truth(frame))
    assert result.rate <= 0.01, result
    # encodings are record-level: identical ones are as rare as identical records
    assert len(np.unique(sent.bits, axis=0)) >= 0.99 * N
