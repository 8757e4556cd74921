"""Recipes over Paillier and packing: seal the spine, aggregate under encryption, add noise, open.

Protocol code calls only these; key material stays in key objects.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from typing import Callable, Iterable, Sequence, TypeVar

import gmpy2
from gmpy2 import mpz

from wijkindex.errors import CryptoError
from wijkindex.protocol.packing import PackingLayout
from wijkindex.protocol.paillier import Encryptor, PaillierPrivateKey, PaillierPublicKey

PROGRESS_EVERY = 500
T = TypeVar("T")


@lru_cache(maxsize=2)  # a table is ~115 MB at 2048 bits: keep the current round's and one more
def _encryptor(public_key: PaillierPublicKey) -> Encryptor:
    """One fixed-base table per round key (building it costs 1.2-1.6 s at 2048 bits)."""
    return Encryptor(public_key)


@lru_cache(maxsize=2)
def _few_encryptor(public_key: PaillierPublicKey) -> Encryptor:
    """For a handful of encryptions (noise shares, a fresh zero): no table to build."""
    return Encryptor(public_key, table=False)


def _parallel_min() -> int:
    return int(os.environ.get("WIJKINDEX_PARALLEL_MIN", "4000"))


def _workers() -> int:
    return max(1, min(int(os.environ.get("WIJKINDEX_WORKERS", "0")) or (os.cpu_count() or 1), 8))


# ---- per-process worker state (spawned processes: safe next to gRPC threads) -----------
# One pool per round key, kept across a task's calls: spawning workers and building their
# fixed-base tables costs seconds, which the chain would otherwise pay at every joint indicator.

_WORKER: dict[str, object] = {}
_POOL: tuple[bytes, ProcessPoolExecutor] | None = None
_POOL_LOCK = threading.Lock()
_BUSY = 0  # parallel maps in flight: several nodes in one process (the demo, the tests) share the pool


def _init_worker(public_key: bytes) -> None:
    _exit_with_parent()
    pk = PaillierPublicKey.from_bytes(public_key)
    _WORKER.update(pk=pk, enc=_encryptor(pk))


def _exit_with_parent(every: float = 1.0) -> None:
    """End this worker when the node process that started it is gone. A worker busy on a chunk
    does not read its task queue, so it would not see the parent die: after a node was stopped
    mid-round, its workers went on sealing for 20 minutes at full CPU (Amsterdam at full size)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(every)
            if os.getppid() != parent:  # re-parented: the node process has ended
                os._exit(1)
    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _ready() -> bool:
    return "enc" in _WORKER


def _seal_chunk(job: tuple[PackingLayout, Sequence[int | None]]) -> list[bytes]:
    return _seal_serial(_WORKER["pk"], *job)  # type: ignore[arg-type]


def _transform_chunk(job: tuple[PackingLayout, Sequence[bytes], Sequence[int | None]]) -> list[bytes]:
    return _transform_serial(_WORKER["pk"], *job)  # type: ignore[arg-type]


def warm_pool(public_key: PaillierPublicKey, n_items: int) -> None:
    """Start the workers for this key now if ``n_items`` will be sealed or transformed in
    parallel: they build their tables while the caller goes on."""
    if n_items >= _parallel_min() and _workers() > 1 and (pool := _pool(public_key)) is not None:
        pool.submit(_ready)


def close_pool() -> None:
    """Stop the workers (a node calls this when its step of a round is done), unless another
    node of this process is using them; they stop with the last user or the next round key."""
    with _POOL_LOCK:
        if _BUSY == 0:
            _shutdown_locked()


def _shutdown_locked() -> None:
    global _POOL
    if _POOL is not None:
        _POOL[1].shutdown(wait=True, cancel_futures=True)
        _POOL = None


def _pool(public_key: PaillierPublicKey, *, use: bool = False) -> ProcessPoolExecutor | None:
    """The workers for this round key (started if need be); None while another round key's are
    in use in this process. ``use`` counts the caller as a user until it calls ``_release``."""
    global _POOL, _BUSY
    key = public_key.to_bytes()
    with _POOL_LOCK:
        if _POOL is not None and _POOL[0] != key:  # a new round key: its own workers and tables
            if _BUSY:
                return None
            _shutdown_locked()
        if _POOL is None:
            _POOL = (key, ProcessPoolExecutor(max_workers=_workers(), mp_context=mp.get_context("spawn"),
                                              initializer=_init_worker, initargs=(key,)))
        _BUSY += use
        return _POOL[1]


def _release() -> None:
    global _BUSY
    with _POOL_LOCK:
        _BUSY -= 1


def _in_parallel(public_key: PaillierPublicKey, fn: Callable[[T], list[bytes]], serial: Callable[..., list[bytes]],
                 jobs: list[T], sizes: list[int], progress: Callable[[int], None] | None) -> list[bytes]:
    """``fn`` over ``jobs`` in the round key's workers, in order; ``serial(public_key, *job)`` here
    instead while another round key's workers are busy in this process."""
    out: list[bytes] = []
    done = 0
    pool = _pool(public_key, use=True)
    try:
        parts = (pool.map(fn, jobs) if pool is not None
                 else (serial(public_key, *job) for job in jobs))  # type: ignore[misc]
        for size, part in zip(sizes, parts):  # map keeps the order
            out.extend(part)
            done += size
            if progress:
                progress(done)
        return out
    finally:
        if pool is not None:
            _release()


def _chunks(n: int) -> list[slice]:
    step = max(250, min(1000, n // (4 * _workers()) or 1))  # small chunks: short tails
    return [slice(i, i + step) for i in range(0, n, step)]


# ---- sealing --------------------------------------------------------------------------


def _seal_serial(public_key: PaillierPublicKey, layout: PackingLayout, slots: Sequence[int | None],
                 progress: Callable[[int], None] | None = None) -> list[bytes]:
    size, enc = public_key.ciphertext_bytes, _encryptor(public_key)
    zero = [0] * layout.n_ciphertexts
    out: list[bytes] = []
    for i, slot in enumerate(slots):
        ms = zero if slot is None else layout.one_hot(slot)
        out.append(b"".join(enc.encrypt(m).to_bytes(size, "big") for m in ms))
        if progress and (i + 1) % PROGRESS_EVERY == 0:
            progress(i + 1)
    return out


def seal_slots(public_key: PaillierPublicKey, layout: PackingLayout, slots: Sequence[int | None],
               progress: Callable[[int], None] | None = None) -> list[bytes]:
    """Each child's one-hot slot, sealed (``layout.n_ciphertexts`` ciphertexts per child).

    ``None`` seals an all-zero vector, indistinguishable from a one-hot without the key.
    Large batches are sealed on every core (``WIJKINDEX_WORKERS`` caps the processes).
    """
    return seal_batches(public_key, [(layout, slots)], progress)[0]


def seal_batches(public_key: PaillierPublicKey, batches: Sequence[tuple[PackingLayout, Sequence[int | None]]],
                 progress: Callable[[int], None] | None = None) -> list[list[bytes]]:
    """``seal_slots`` of several (layout, slots) batches in one go: on every core, the batches'
    chunks share one queue, so no core waits at the end of a batch. ``progress`` counts sealed
    vectors over all batches."""
    for layout, slots in batches:
        for i, s in enumerate(slots):
            if s is not None and not 0 <= s < layout.n_cells:
                raise ValueError(f"child {i}: slot {s} outside 0..{layout.n_cells - 1}")
    total = sum(len(slots) for _, slots in batches)
    if total >= _parallel_min() and _workers() > 1:
        jobs = [(layout, list(slots[part])) for layout, slots in batches for part in _chunks(len(slots))]
        flat = _in_parallel(public_key, _seal_chunk, _seal_serial, jobs, [len(j[1]) for j in jobs], progress)
        out, at = [], 0  # the jobs keep the batches' order: cut the flat result back into them
        for _, slots in batches:
            out.append(flat[at:at + len(slots)])
            at += len(slots)
        return out
    out, done = [], 0
    for layout, slots in batches:
        out.append(_seal_serial(public_key, layout, slots, _offset(progress, done)))
        done += len(slots)
    if progress:
        progress(total)
    return out


def _offset(progress: Callable[[int], None] | None, base: int) -> Callable[[int], None] | None:
    """``progress`` counting on from ``base``."""
    return None if progress is None else (lambda k: progress(base + k))


class SpineSealer:
    """Seals each child's one-hot cell of the round's layout (the spine node's step)."""

    def __init__(self, public_key: PaillierPublicKey, layout: PackingLayout) -> None:
        self.public_key = public_key
        self.layout = layout

    def seal_cells(self, cells: Sequence[int], progress: Callable[[int], None] | None = None,
                   mask: Sequence[bool] | None = None) -> list[bytes]:
        """With ``mask``, children masked out get a sealed all-zero vector."""
        slots = [c if mask is None or mask[i] else None for i, c in enumerate(cells)]
        return seal_slots(self.public_key, self.layout, slots, progress)


def _split(public_key: PaillierPublicKey, layout: PackingLayout, item: bytes, idx: int) -> list[mpz]:
    size, k, n_sq = public_key.ciphertext_bytes, layout.n_ciphertexts, public_key.n_sq
    if len(item) != size * k:
        raise CryptoError(f"sealed item {idx}: {len(item)} bytes, expected {size * k}")
    out = []
    for j in range(k):
        c = mpz(int.from_bytes(item[j * size:(j + 1) * size], "big"))
        if not 0 < c < n_sq:
            raise CryptoError(f"sealed item {idx}: ciphertext {j} out of range")
        out.append(c)
    return out


def _transform_serial(public_key: PaillierPublicKey, layout: PackingLayout, items: Sequence[bytes],
                      shifts: Sequence[int | None], progress: Callable[[int], None] | None = None) -> list[bytes]:
    size, enc, n_sq = public_key.ciphertext_bytes, _encryptor(public_key), mpz(public_key.n_sq)
    out: list[bytes] = []
    for i, (item, k) in enumerate(zip(items, shifts)):
        cts = _split(public_key, layout, item, i)
        if k is None:
            fresh = [enc.encrypt_zero() for _ in cts]
        else:
            factor = layout.shift(k)
            fresh = [int((gmpy2.powmod(c, factor, n_sq) if k else c) * enc.encrypt_zero() % n_sq) for c in cts]
        out.append(b"".join(int(c).to_bytes(size, "big") for c in fresh))
        if progress and (i + 1) % PROGRESS_EVERY == 0:
            progress(i + 1)
    return out


def transform_sealed(public_key: PaillierPublicKey, layout: PackingLayout, items: Sequence[bytes],
                     shifts: Sequence[int | None], progress: Callable[[int], None] | None = None) -> list[bytes]:
    """A chain hop: each child's sealed vector shifted up ``k`` levels, or replaced by a sealed
    zero where ``k`` is None, and re-randomised, so the next node cannot tell which children
    this node changed (not even with the previous node's help)."""
    if len(items) != len(shifts):
        raise ValueError("one shift per sealed item")
    if len(items) >= _parallel_min() and _workers() > 1:
        parts = _chunks(len(items))
        return _in_parallel(public_key, _transform_chunk, _transform_serial,
                            [(layout, items[p], shifts[p]) for p in parts], [len(items[p]) for p in parts], progress)
    out = _transform_serial(public_key, layout, items, shifts, progress)
    if progress:
        progress(len(items))
    return out


def aggregate_sealed(public_key: PaillierPublicKey, layout: PackingLayout, sealed: Iterable[bytes],
                     shifts: Iterable[int] | None = None) -> list[int]:
    """Per-slot sums of the given children (each first shifted up its ``shifts`` levels), re-randomised
    so an empty set is a fresh encryption of 0. Shifts are applied once per group, not per child."""
    k = layout.n_ciphertexts
    n_sq = mpz(public_key.n_sq)
    enc = _few_encryptor(public_key)
    groups: dict[int, list[mpz]] = {}
    shift_iter = iter(shifts) if shifts is not None else None
    for idx, item in enumerate(sealed):
        level = next(shift_iter) if shift_iter is not None else 0
        acc = groups.get(level)
        cts = _split(public_key, layout, item, idx)
        if acc is None:
            groups[level] = cts
        else:
            groups[level] = [a * c % n_sq for a, c in zip(acc, cts)]
    total = [mpz(enc.encrypt_zero()) for _ in range(k)]
    for level, acc in groups.items():
        factor = layout.shift(level)
        total = [t * (gmpy2.powmod(a, factor, n_sq) if level else a) % n_sq for t, a in zip(total, acc)]
    return [int(a) for a in total]


def joint_layout(base: PackingLayout, levels: int, key_bits: int) -> PackingLayout:
    """The packing of a joint indicator's sealed vector: the round's layout, or (cell, level) slots."""
    return base if levels == 1 else PackingLayout.for_levels(base.n_cells, levels, key_bits)


def seal_noise(public_key: PaillierPublicKey, layout: PackingLayout, noise: Sequence[int], shares: int = 1
               ) -> list[int]:
    """Signed per-cell noise, sealed: each slot holds noise + layout.offset (one noise term).

    ``shares``: how many such noise shares will be summed into one slot (a chain's nodes,
    `merge_noise_shares`). Each is bounded by offset / shares, so their sum never leaves
    (-offset, offset) and a slot never borrows from its neighbour, however long the chain."""
    if len(noise) != layout.n_cells:
        raise ValueError("noise does not match the layout")
    if shares < 1 or any(abs(z) >= layout.offset // shares for z in noise):
        raise ValueError(f"noise beyond the slot offset shared by {shares} noise share(s)")
    return _few_encryptor(public_key).encrypt_many(layout.pack([int(z) + layout.offset for z in noise]))


def add_noise_sealed(public_key: PaillierPublicKey, layout: PackingLayout, ciphertexts: Sequence[int],
                     noise: Sequence[int]) -> list[int]:
    """Add signed per-cell noise under encryption (one more noise term)."""
    if len(ciphertexts) != layout.n_ciphertexts:
        raise ValueError("ciphertexts do not match the layout")
    return [public_key.add(c, z) for c, z in zip(ciphertexts, seal_noise(public_key, layout, noise))]


def merge_noise_shares(public_key: PaillierPublicKey, layout: PackingLayout, shares: Sequence[Sequence[int]]
                       ) -> list[int]:
    """Several sealed noise shares as one noise term: their sum, less the offsets of all but one
    (each share carries one per slot). Every node of a chain merges its own share into the running
    one, so a released joint carries one offset whatever the chain's length; a region's spines,
    whose shares are zero outside their own gemeente's cells, merge the same way."""
    if not shares or any(len(sh) != layout.n_ciphertexts for sh in shares):
        raise ValueError("noise shares do not match the layout")
    one = layout.pack([layout.offset] * layout.n_cells)  # one offset per slot, packed
    out = list(shares[0])
    for more in shares[1:]:  # one share at a time: a slot never holds more than two offsets
        out = [public_key.add_plain(public_key.add(a, b), -one[k]) for k, (a, b) in enumerate(zip(out, more))]
    return out


def open_noised(private_key: PaillierPrivateKey, layout: PackingLayout, ciphertexts: Sequence[int],
                noise_terms: int = 1) -> list[int]:
    """Decrypt and unpack noised counts, removing ``noise_terms`` offsets per slot."""
    if len(ciphertexts) != layout.n_ciphertexts:
        raise CryptoError(f"{len(ciphertexts)} ciphertexts, expected {layout.n_ciphertexts}")
    values = layout.unpack([private_key.decrypt(c) for c in ciphertexts])
    return [v - noise_terms * layout.offset for v in values]

