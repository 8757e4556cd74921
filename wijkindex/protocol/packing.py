"""Packing many per-cell counters into few Paillier plaintexts.

Slot i lives in plaintext i // slots_per_ciphertext at bit (i % slots_per_ciphertext) *
slot_bits. Slots never reach n (``for_key`` leaves two bits spare), and ``offset`` lets a
slot carry signed noise: a node adds noise + offset, the aggregator subtracts offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

LEVEL_SLOT_BITS = 20  # a (cell, level) slot of a cumulative-risk vector: counts below 2^18 per slot


@dataclass(frozen=True)
class PackingLayout:
    n_cells: int
    slot_bits: int
    slots_per_ciphertext: int

    def __post_init__(self) -> None:
        if self.n_cells < 1 or self.slot_bits < 8 or self.slots_per_ciphertext < 1:
            raise ValueError(f"invalid packing layout {self}")

    @classmethod
    def for_key(cls, n_cells: int, key_bits: int, slot_bits: int = 40) -> "PackingLayout":
        return cls(n_cells, slot_bits, (key_bits - 2) // slot_bits)

    @classmethod
    def for_levels(cls, n_cells: int, levels: int, key_bits: int, slot_bits: int = LEVEL_SLOT_BITS) -> "PackingLayout":
        """Slots (cell, level) at index cell * levels + level, a cell's levels never split across
        ciphertexts, so multiplying a plaintext by ``shift(k)`` moves every child up k levels."""
        per_ct = (key_bits - 2) // slot_bits // levels
        if per_ct < 1:
            raise ValueError(f"{levels} levels of {slot_bits} bits do not fit a {key_bits}-bit plaintext")
        return cls(n_cells * levels, slot_bits, per_ct * levels)

    def shift(self, k: int) -> int:
        """The plaintext factor that moves every slot up ``k`` places (within its ciphertext)."""
        return 1 << (self.slot_bits * k)

    @property
    def n_ciphertexts(self) -> int:
        return -(-self.n_cells // self.slots_per_ciphertext)

    @property
    def offset(self) -> int:
        return 1 << (self.slot_bits - 2)

    def one_hot(self, cell: int) -> list[int]:
        if not 0 <= cell < self.n_cells:
            raise ValueError(f"cell {cell} outside 0..{self.n_cells - 1}")
        out = [0] * self.n_ciphertexts
        out[cell // self.slots_per_ciphertext] = 1 << ((cell % self.slots_per_ciphertext) * self.slot_bits)
        return out

    def pack(self, values: Sequence[int]) -> list[int]:
        if len(values) != self.n_cells:
            raise ValueError(f"{len(values)} values for {self.n_cells} cells")
        limit = 1 << self.slot_bits
        out = [0] * self.n_ciphertexts
        for i, v in enumerate(values):
            if not 0 <= v < limit:
                raise ValueError(f"value {v} of cell {i} does not fit a {self.slot_bits}-bit slot")
            out[i // self.slots_per_ciphertext] |= int(v) << ((i % self.slots_per_ciphertext) * self.slot_bits)
        return out

    def unpack(self, plaintexts: Sequence[int]) -> list[int]:
        if len(plaintexts) != self.n_ciphertexts:
            raise ValueError(f"{len(plaintexts)} plaintexts, expected {self.n_ciphertexts}")
        mask = (1 << self.slot_bits) - 1
        return [(int(plaintexts[i // self.slots_per_ciphertext]) >> ((i % self.slots_per_ciphertext) * self.slot_bits)) & mask
                for i in range(self.n_cells)]
