"""Recipes over Paillier and packing: seal the spine, aggregate under encryption, add noise, open.

Protocol code calls only these; key material stays in key objects.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable, Iterable, Sequence

from gmpy2 import mpz

from wijkindex.errors import CryptoError
from wijkindex.protocol.packing import PackingLayout
from wijkindex.protocol.paillier import Encryptor, PaillierPrivateKey, PaillierPublicKey

PROGRESS_EVERY = 500


@lru_cache(maxsize=8)
def _encryptor(public_key: PaillierPublicKey) -> Encryptor:
    """One fixed-base table per round key (building it costs ~0.2 s at 2048 bits)."""
    return Encryptor(public_key)


class SpineSealer:
    """Encrypts each child's one-hot cell: ``layout.n_ciphertexts`` fixed-size ciphertexts per child."""

    def __init__(self, public_key: PaillierPublicKey, layout: PackingLayout) -> None:
        self.public_key = public_key
        self.layout = layout
        self._enc = _encryptor(public_key)
        self._plain = [layout.one_hot(c) for c in range(layout.n_cells)]

    def seal_cells(self, cells: Sequence[int], progress: Callable[[int], None] | None = None,
                   mask: Sequence[bool] | None = None) -> list[bytes]:
        """Each child's one-hot cell; with ``mask``, children masked out get a sealed all-zero vector
        (indistinguishable from a one-hot without the key)."""
        size = self.public_key.ciphertext_bytes
        enc, plain = self._enc.encrypt, self._plain
        zero = [0] * self.layout.n_ciphertexts
        out: list[bytes] = []
        for i, cell in enumerate(cells):
            ms = plain[cell] if mask is None or mask[i] else zero
            out.append(b"".join(enc(m).to_bytes(size, "big") for m in ms))
            if progress and (i + 1) % PROGRESS_EVERY == 0:
                progress(i + 1)
        if progress:
            progress(len(cells))
        return out


def aggregate_sealed(public_key: PaillierPublicKey, layout: PackingLayout, sealed: Iterable[bytes]) -> list[int]:
    """Per-cell sums of the given children, re-randomised so an empty set is a fresh encryption of 0."""
    size, k = public_key.ciphertext_bytes, layout.n_ciphertexts
    n_sq = mpz(public_key.n_sq)
    enc = _encryptor(public_key)
    acc = [mpz(enc.encrypt_zero()) for _ in range(k)]
    for idx, item in enumerate(sealed):
        if len(item) != size * k:
            raise CryptoError(f"sealed item {idx}: {len(item)} bytes, expected {size * k}")
        for j in range(k):
            c = mpz(int.from_bytes(item[j * size:(j + 1) * size], "big"))
            if not 0 < c < n_sq:
                raise CryptoError(f"sealed item {idx}: ciphertext {j} out of range")
            acc[j] = acc[j] * c % n_sq
    return [int(a) for a in acc]


def seal_noise(public_key: PaillierPublicKey, layout: PackingLayout, noise: Sequence[int]) -> list[int]:
    """Signed per-cell noise, sealed: each slot holds noise + layout.offset (one noise term)."""
    if len(noise) != layout.n_cells:
        raise ValueError("noise does not match the layout")
    if any(abs(z) >= layout.offset for z in noise):
        raise ValueError("noise beyond the slot offset")
    return _encryptor(public_key).encrypt_many(layout.pack([int(z) + layout.offset for z in noise]))


def add_noise_sealed(public_key: PaillierPublicKey, layout: PackingLayout, ciphertexts: Sequence[int],
                     noise: Sequence[int]) -> list[int]:
    """Add signed per-cell noise under encryption (one more noise term)."""
    if len(ciphertexts) != layout.n_ciphertexts:
        raise ValueError("ciphertexts do not match the layout")
    return [public_key.add(c, z) for c, z in zip(ciphertexts, seal_noise(public_key, layout, noise))]


def open_noised(private_key: PaillierPrivateKey, layout: PackingLayout, ciphertexts: Sequence[int],
                noise_terms: int = 1) -> list[int]:
    """Decrypt and unpack noised counts, removing ``noise_terms`` offsets per slot."""
    if len(ciphertexts) != layout.n_ciphertexts:
        raise CryptoError(f"{len(ciphertexts)} ciphertexts, expected {layout.n_ciphertexts}")
    values = layout.unpack([private_key.decrypt(c) for c in ciphertexts])
    return [v - noise_terms * layout.offset for v in values]

# The chain protocol for joint indicators (a later issue) adds shift_sealed here.
