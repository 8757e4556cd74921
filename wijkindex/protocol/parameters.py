"""A round's parameters as a node derives and checks them: cells, packing, key, binding.

A hostile aggregator relays every task, so nothing a node computes with may be taken from
a task on trust. The coordinator signs the cell list's digest (``cells_sha256``) and the
slot width (``slot_bits``) into the spec; a node checks the task's cells against that
digest, computes the packing layout itself, checks the Paillier key, and binds all of it
(``round_binding``) into every envelope and envelope-key signature, so that two nodes
given different parameters cannot exchange a payload.
"""

from __future__ import annotations

import hashlib
import json
from typing import Sequence

import gmpy2

from wijkindex.errors import CryptoError
from wijkindex.protocol import messages as m
from wijkindex.protocol.packing import PackingLayout
from wijkindex.protocol.paillier import PaillierPublicKey

MIN_KEY_BITS = 2048  # a node refuses smaller moduli unless its config sets test_only_small_keys
TEST_KEY_BITS = 1024  # the smallest modulus even the test-only switch allows
_PRIMORIAL = gmpy2.primorial(20_000)  # every prime below 20,000: a real modulus has no such factor


def cells_digest(cells: Sequence[m.Cell]) -> str:
    """SHA-256 (hex) of the canonical cell list: (area code, area name, age band) in round order,
    and a cell's members (the folded areas it counts) as a fourth item where it has any, so a
    cell list without folded areas keeps the digest it always had."""
    canon = json.dumps([[c.area_code, c.area_name, c.age_band, *([list(c.members)] if c.members else [])]
                        for c in cells], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(b"wijkindex/v1/cells|" + canon.encode("utf-8")).hexdigest()


def check_cells(cells: Sequence[m.Cell], expected_digest: str, band_labels: Sequence[str]) -> None:
    """The task's cells must be the ones the coordinator signed, each area once per age band."""
    if not expected_digest:
        raise CryptoError("the signed spec carries no cells_sha256: the cells cannot be checked")
    if cells_digest(cells) != expected_digest:
        raise CryptoError("the task's cells differ from the cells the coordinator signed (cells_sha256)")
    bands = list(band_labels)
    if not cells or len(cells) % len(bands):
        raise CryptoError(f"{len(cells)} cells do not divide into the spec's {len(bands)} age bands")
    areas = [c.area_code for c in cells[::len(bands)]]
    if len(set(areas)) != len(areas) or any(
            c.area_code != areas[i // len(bands)] or c.age_band != bands[i % len(bands)] for i, c in enumerate(cells)):
        raise CryptoError("the cells are not every area once x every age band, in order")
    check_members(cells, len(bands))


def check_members(cells: Sequence[m.Cell], n_bands: int) -> None:
    """Each folded area counts in one cell area only, of its own kind (WK or BU) and gemeente,
    the same on every age band of that area, and is not itself an area of the round: otherwise
    a child could be counted twice or moved to another gemeente's cells."""
    areas = {c.area_code for c in cells}
    seen: dict[str, str] = {}
    for i, c in enumerate(cells):
        if c.members != cells[i - i % n_bands].members:
            raise CryptoError(f"area {c.area_code} has different members on different age bands")
        if i % n_bands:
            continue
        for code in c.members:
            if code in areas or code in seen:
                raise CryptoError(f"area code {code} is folded into {c.area_code} but is also "
                                  f"{'an area of the round' if code in areas else 'folded into ' + seen[code]}")
            if code[:2] != c.area_code[:2] or code[2:6] != c.area_code[2:6]:
                raise CryptoError(f"area code {code} is folded into {c.area_code}, an area of another level "
                                  "or gemeente")
            seen[code] = c.area_code


def check_public_key(key: PaillierPublicKey, *, min_bits: int = MIN_KEY_BITS) -> None:
    """Refuse a modulus that is small, even, a square, or has a small factor."""
    n = gmpy2.mpz(key.n)
    if key.bits < min_bits:
        raise CryptoError(f"the round's Paillier modulus has {key.bits} bits; this node requires at least {min_bits}")
    if key.bits % 8:
        raise CryptoError(f"the round's Paillier modulus has {key.bits} bits, not a whole number of bytes")
    if gmpy2.is_square(n) or gmpy2.gcd(n, _PRIMORIAL) != 1:
        raise CryptoError("the round's Paillier modulus is a square or has a small factor")
    if gmpy2.is_prime(n, 25):
        raise CryptoError("the round's Paillier modulus is prime")


def layout_for(n_cells: int, key_bits: int, slot_bits: int) -> PackingLayout:
    """The round's packing, as every party computes it from signed or checked values."""
    return PackingLayout.for_key(n_cells, key_bits, slot_bits)


def check_layout(task_layout: m.Layout, mine: PackingLayout) -> None:
    told = (task_layout.n_cells, task_layout.slot_bits, task_layout.slots_per_ciphertext)
    if told != (mine.n_cells, mine.slot_bits, mine.slots_per_ciphertext):
        raise CryptoError(f"the task's packing layout {told} is not the one the signed spec and key give "
                          f"{(mine.n_cells, mine.slot_bits, mine.slots_per_ciphertext)}")


def round_binding(spec_toml: str, public_key: bytes, layout: PackingLayout, cells: Sequence[m.Cell]) -> bytes:
    """SHA-256 over (spec, key, layout, cells): what every envelope of the round is bound to."""
    h = hashlib.sha256(b"wijkindex/v1/round-binding")
    for part in (spec_toml.encode("utf-8"), public_key,
                 f"{layout.n_cells}/{layout.slot_bits}/{layout.slots_per_ciphertext}".encode(),
                 cells_digest(cells).encode()):
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.digest()
