"""Burgerservicenummer (BSN): normalisation and the 11-proef."""

from __future__ import annotations

import random

_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, -1)


def _checksum(digits: str) -> int:
    return sum(int(d) * w for d, w in zip(digits, _WEIGHTS))


def is_valid_bsn(s: str) -> bool:
    """Exactly 9 digits, not all zero, and the 11-proef holds."""
    return len(s) == 9 and s.isascii() and s.isdigit() and s != "000000000" and _checksum(s) % 11 == 0


def normalise_bsn(raw: str) -> str:
    """Strip spaces, dots and dashes; pad an 8-digit number with one leading zero (BRP practice).

    Raises ValueError with a short reason a person can act on.
    """
    s = "".join(ch for ch in str(raw).strip() if ch not in " .-")
    if len(s) == 8 and s.isdigit():
        s = "0" + s
    if not (len(s) == 9 and s.isascii() and s.isdigit()):
        raise ValueError("not 9 digits")
    if s == "000000000" or _checksum(s) % 11 != 0:
        raise ValueError("fails the 11-proef")
    return s


def random_bsn(rng: random.Random) -> str:
    """A uniformly random valid BSN (rejection sampling over 9-digit numbers)."""
    while True:
        s = f"{rng.randrange(10_000_000, 1_000_000_000):09d}"
        if is_valid_bsn(s):
            return s


def random_invalid_bsn(rng: random.Random) -> str:
    """A 9-digit number that fails the 11-proef."""
    while True:
        s = f"{rng.randrange(100_000_000, 1_000_000_000):09d}"
        if not is_valid_bsn(s):
            return s
