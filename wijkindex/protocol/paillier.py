"""Paillier with g = n + 1 (hazmat layer; gmpy2 for all big-integer arithmetic).

``Encryptor`` uses the Damgard-Jurik-Nielsen randomness: with h = -x^2 mod n and
h_s = h^n mod n^2 fixed per key, r^n is replaced by h_s^a for a uniform a of
ceil(|n|/2) bits, computed from a fixed-base table of 11-bit windows, so one encryption
costs about |n|/22 multiplications mod n^2 instead of a full |n|-bit exponentiation.
See docs/crypto.md for the security argument.
"""

from __future__ import annotations

import secrets
import struct
from dataclasses import dataclass
from typing import Iterable, Sequence

import gmpy2
from gmpy2 import mpz

from wijkindex.errors import CryptoError

_PK_MAGIC = b"WIPK1"
_SK_MAGIC = b"WISK1"
WINDOW_BITS = 11  # 94 multiplications per encryption at 2048 bits; the table is about 115 MB


@dataclass(frozen=True)
class PaillierPublicKey:
    n: int

    @property
    def n_sq(self) -> int:
        return self.n * self.n

    @property
    def bits(self) -> int:
        return int(self.n).bit_length()

    @property
    def ciphertext_bytes(self) -> int:
        return (int(self.n_sq).bit_length() + 7) // 8

    def to_bytes(self) -> bytes:
        nb = int(self.n).to_bytes((self.bits + 7) // 8, "big")
        return _PK_MAGIC + struct.pack(">I", len(nb)) + nb

    @classmethod
    def from_bytes(cls, data: bytes) -> "PaillierPublicKey":
        if not data.startswith(_PK_MAGIC) or len(data) < len(_PK_MAGIC) + 4:
            raise CryptoError("not a wijkindex Paillier public key")
        (length,) = struct.unpack(">I", data[5:9])
        if len(data) != 9 + length or length < 64:
            raise CryptoError("truncated or oversized Paillier public key")
        return cls(int.from_bytes(data[9:], "big"))

    def add(self, c1: int, c2: int) -> int:
        """Homomorphic addition of the plaintexts."""
        return int(mpz(c1) * mpz(c2) % mpz(self.n_sq))

    def add_many(self, cs: Iterable[int]) -> int:
        """Product of all ciphertexts (1 for none: not a randomised encryption of 0; re-randomise)."""
        n_sq = mpz(self.n_sq)
        acc = mpz(1)
        for c in cs:
            acc = acc * c % n_sq
        return int(acc)

    def add_plain(self, c: int, m: int) -> int:
        """Homomorphic addition of a known plaintext m (mod n; negative m subtracts): c * g^m with
        g = n + 1, so g^m = 1 + m n mod n^2. Not re-randomised: c's randomness carries over."""
        return int(mpz(c) * (1 + mpz(m % self.n) * self.n) % mpz(self.n_sq))

    def mul_scalar(self, c: int, k: int) -> int:
        """Homomorphic multiplication of the plaintext by k."""
        return int(gmpy2.powmod(mpz(c), mpz(k), mpz(self.n_sq)))

    def ciphertext_to_bytes(self, c: int) -> bytes:
        return int(c).to_bytes(self.ciphertext_bytes, "big")

    def ciphertext_from_bytes(self, data: bytes) -> int:
        if len(data) != self.ciphertext_bytes:
            raise CryptoError(f"ciphertext of {len(data)} bytes, expected {self.ciphertext_bytes}")
        c = int.from_bytes(data, "big")
        if not 0 < c < self.n_sq:
            raise CryptoError("ciphertext out of range")
        return c


class PaillierPrivateKey:
    """p, q and CRT decryption constants; its repr never shows the factors."""

    def __init__(self, p: int, q: int) -> None:
        if p == q:
            raise CryptoError("p and q must differ")
        self._p, self._q = mpz(p), mpz(q)
        self.public_key = PaillierPublicKey(int(self._p * self._q))
        n = mpz(self.public_key.n)
        self._p_sq, self._q_sq = self._p * self._p, self._q * self._q
        g = n + 1
        self._hp = gmpy2.invert((gmpy2.powmod(g, self._p - 1, self._p_sq) - 1) // self._p, self._p)
        self._hq = gmpy2.invert((gmpy2.powmod(g, self._q - 1, self._q_sq) - 1) // self._q, self._q)
        self._p_inv_q = gmpy2.invert(self._p, self._q)

    def decrypt(self, c: int) -> int:
        c = mpz(c)
        if not 0 < c < self._p_sq * self._q_sq:
            raise CryptoError("ciphertext out of range")
        mp = (gmpy2.powmod(c, self._p - 1, self._p_sq) - 1) // self._p * self._hp % self._p
        mq = (gmpy2.powmod(c, self._q - 1, self._q_sq) - 1) // self._q * self._hq % self._q
        return int(mp + (mq - mp) * self._p_inv_q % self._q * self._p)

    def to_bytes(self) -> bytes:
        pb, qb = (int(x).to_bytes((int(x).bit_length() + 7) // 8, "big") for x in (self._p, self._q))
        return _SK_MAGIC + struct.pack(">II", len(pb), len(qb)) + pb + qb

    @classmethod
    def from_bytes(cls, data: bytes) -> "PaillierPrivateKey":
        if not data.startswith(_SK_MAGIC) or len(data) < 13:
            raise CryptoError("not a wijkindex Paillier private key")
        lp, lq = struct.unpack(">II", data[5:13])
        if len(data) != 13 + lp + lq:
            raise CryptoError("truncated Paillier private key")
        return cls(int.from_bytes(data[13:13 + lp], "big"), int.from_bytes(data[13 + lp:], "big"))

    def __repr__(self) -> str:
        return f"PaillierPrivateKey(bits={self.public_key.bits})"


def _prime(bits: int) -> mpz:
    while True:
        candidate = mpz(secrets.randbits(bits)) | (mpz(3) << (bits - 2)) | 1  # top two bits: |pq| = 2*bits
        p = gmpy2.next_prime(candidate)
        if p.bit_length() == bits and gmpy2.is_prime(p, 50):
            return p


def generate_keypair(bits: int = 2048) -> PaillierPrivateKey:
    """A fresh key pair with n of exactly ``bits`` bits (two primes of bits/2 bits)."""
    if bits % 2 or bits < 512:
        raise ValueError("bits must be even and at least 512")
    while True:
        p, q = _prime(bits // 2), _prime(bits // 2)
        if p != q and (p * q).bit_length() == bits and gmpy2.gcd(p * q, (p - 1) * (q - 1)) == 1:
            return PaillierPrivateKey(int(p), int(q))


def encrypt_plain(public_key: PaillierPublicKey, m: int) -> int:
    """Textbook encryption with a uniform r in Z_n* (reference for tests; slow)."""
    n, n_sq = mpz(public_key.n), mpz(public_key.n_sq)
    while True:
        r = mpz(secrets.randbelow(int(n) - 1) + 1)
        if gmpy2.gcd(r, n) == 1:
            break
    return int((1 + mpz(m) * n) % n_sq * gmpy2.powmod(r, n, n_sq) % n_sq)


class Encryptor:
    """Fast encryption under one public key (DJN randomness, fixed-base windowed table).

    With ``table=False`` the same h_s^a is one exponentiation instead of a table lookup per
    window: about ten times slower per encryption but with nothing to build, which is what a
    handful of encryptions (noise shares, a fresh zero) should cost.
    """

    def __init__(self, public_key: PaillierPublicKey, table: bool = True) -> None:
        self.public_key = public_key
        n, n_sq = mpz(public_key.n), mpz(public_key.n_sq)
        self._n, self._n_sq = n, n_sq
        while True:
            x = mpz(secrets.randbelow(int(n) - 2) + 2)
            if gmpy2.gcd(x, n) == 1:
                break
        h = (-x * x) % n
        base = gmpy2.powmod(h, n, n_sq)
        self.exponent_bits = (public_key.bits + 1) // 2  # DJN: a uniform in [0, 2^ceil(|n|/2))
        self._base = base
        self._windows = (self.exponent_bits + WINDOW_BITS - 1) // WINDOW_BITS if table else 0
        self._table: list[list[mpz]] = []
        for _ in range(self._windows):
            row = [mpz(1), base]
            for _ in range(2, 1 << WINDOW_BITS):
                row.append(row[-1] * base % n_sq)
            self._table.append(row)
            base = row[-1] * base % n_sq  # base^(2^WINDOW_BITS) for the next window

    def _randomiser(self) -> mpz:
        """h_s^a for a uniform a of exponent_bits bits."""
        return self._power(secrets.randbits(self.exponent_bits))

    def _power(self, a: int) -> mpz:
        """h_s^a: one table entry per non-zero window, or one exponentiation without a table."""
        if not self._table:
            return gmpy2.powmod(self._base, a, self._n_sq)
        n_sq, table, mask = self._n_sq, self._table, (1 << WINDOW_BITS) - 1
        acc = mpz(1)
        for row in table:
            w = a & mask
            if w:
                acc = acc * row[w] % n_sq
            a >>= WINDOW_BITS
        return acc

    def encrypt(self, m: int) -> int:
        if not 0 <= m < self._n:
            raise ValueError("plaintext out of range [0, n)")
        return int((1 + mpz(m) * self._n) * self._randomiser() % self._n_sq)

    def encrypt_many(self, ms: Sequence[int]) -> list[int]:
        return [self.encrypt(m) for m in ms]

    def encrypt_zero(self) -> int:
        return int(self._randomiser())
