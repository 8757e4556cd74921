"""Paillier, packing, sealing and envelopes: known answers, a reference library, properties, tampering."""

from __future__ import annotations

import json
import random
from functools import lru_cache
from pathlib import Path

import gmpy2
import phe
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkindex.errors import CryptoError
from wijkindex.protocol.envelope import (EnvelopeKeyPair, open_envelope, seal_envelope, sign_envelope_key,
                                         verify_envelope_key)
from wijkindex.protocol.packing import PackingLayout
from wijkindex.protocol.paillier import Encryptor, PaillierPrivateKey, PaillierPublicKey, encrypt_plain, generate_keypair
from wijkindex.protocol import sealing
from wijkindex.protocol.sealing import (SpineSealer, add_noise_sealed, aggregate_sealed, merge_noise_shares, open_noised, seal_batches,
                                        seal_noise, seal_slots, transform_sealed)

KAT = json.loads((Path(__file__).parent / "vectors" / "paillier_kat.json").read_text())


@pytest.fixture(scope="module")
def kat_key() -> PaillierPrivateKey:
    return PaillierPrivateKey(int(KAT["p"]), int(KAT["q"]))


@pytest.fixture(scope="module")
def key() -> PaillierPrivateKey:
    return generate_keypair(1024)


def test_known_answer_encryptions_decrypt(kat_key: PaillierPrivateKey) -> None:
    n = kat_key.public_key.n
    for v in KAT["encryptions"]:
        m, r, c = int(v["m"]), int(v["r"]), int(v["c"])
        assert (1 + m * n) * pow(r, n, n * n) % (n * n) == c  # the vector itself
        assert kat_key.decrypt(c) == m


def test_known_answer_packed_sums(kat_key: PaillierPrivateKey) -> None:
    pk = KAT["packing"]
    layout = PackingLayout.for_key(pk["n_cells"], pk["key_bits"], pk["slot_bits"])
    sealed = SpineSealer(kat_key.public_key, layout).seal_cells(pk["cells"])
    assert open_noised(kat_key, layout, aggregate_sealed(kat_key.public_key, layout, sealed), noise_terms=0) \
        == pk["expected_counts"]


def test_agrees_with_python_paillier(key: PaillierPrivateKey) -> None:
    """Our fast encryptions open with phe's decryption, and phe's with ours."""
    pk = phe.PaillierPublicKey(key.public_key.n)
    sk = phe.PaillierPrivateKey(pk, int(key._p), int(key._q))
    enc = Encryptor(key.public_key)
    for m in (0, 1, 2**200 + 7, key.public_key.n - 1):
        assert sk.raw_decrypt(enc.encrypt(m)) == m
        assert key.decrypt(pk.raw_encrypt(m)) == m
        assert key.decrypt(encrypt_plain(key.public_key, m)) == m


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**1024 - 1))
def test_table_and_tableless_randomisers_are_the_same_power(key: PaillierPrivateKey, a: int) -> None:
    """The fixed-base table computes exactly h_s^a; without a table it is one exponentiation."""
    enc = _table_encryptor(key)
    a %= 2 ** enc.exponent_bits  # the DJN exponent's range
    assert enc._power(a) == gmpy2.powmod(enc._base, a, key.public_key.n_sq)
    light = Encryptor(key.public_key, table=False)
    assert not light._table and key.decrypt(light.encrypt(12345)) == 12345 and key.decrypt(light.encrypt_zero()) == 0


@lru_cache(maxsize=1)
def _table_encryptor(key: PaillierPrivateKey) -> Encryptor:
    return Encryptor(key.public_key)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**500), st.integers(0, 2**500), st.integers(0, 1000))
def test_homomorphic_properties(key: PaillierPrivateKey, a: int, b: int, k: int) -> None:
    enc = Encryptor(key.public_key)
    ca, cb = enc.encrypt(a), enc.encrypt(b)
    assert key.decrypt(key.public_key.add(ca, cb)) == a + b
    assert key.decrypt(key.public_key.mul_scalar(ca, k)) == a * k
    assert key.decrypt(key.public_key.add_plain(ca, b)) == a + b
    assert key.decrypt(key.public_key.add_plain(ca, -a)) == 0  # a negative plaintext subtracts (mod n)
    assert ca != enc.encrypt(a)  # randomised


def test_add_plain_known_answer(kat_key: PaillierPrivateKey) -> None:
    """c * (1 + m n) mod n^2 from the known-answer ciphertexts: g = n + 1, so g^m = 1 + m n."""
    n = kat_key.public_key.n
    for v in KAT["encryptions"][:5]:
        c, m = int(v["c"]), int(v["m"])
        assert kat_key.public_key.add_plain(c, 7) == c * (1 + 7 * n) % (n * n)
        assert kat_key.decrypt(kat_key.public_key.add_plain(c, 7)) == (m + 7) % n


@settings(max_examples=15, deadline=None)
@given(st.integers(2, 9), st.integers(1, 40), st.data())
def test_merged_noise_shares_are_one_noise_term(key: PaillierPrivateKey, n_shares: int, n_cells: int,
                                                 data: st.DataObject) -> None:
    """A region's spines each noise their own cells (zero elsewhere); merged, every slot holds one
    offset: what the chain's count of noise terms, and the packed slots, allow for."""
    from wijkindex.protocol.sealing import merge_noise_shares, seal_noise

    layout = PackingLayout.for_levels(n_cells, 3, key.public_key.bits)
    owner = data.draw(st.lists(st.integers(0, n_shares - 1), min_size=layout.n_cells, max_size=layout.n_cells))
    noise = data.draw(st.lists(st.integers(-layout.offset + 1, layout.offset - 1), min_size=layout.n_cells,
                               max_size=layout.n_cells))
    shares = [seal_noise(key.public_key, layout, [z if o == s else 0 for z, o in zip(noise, owner)])
              for s in range(n_shares)]
    assert open_noised(key, layout, merge_noise_shares(key.public_key, layout, shares), noise_terms=1) == noise


def test_keys_serialise_and_hide_factors(key: PaillierPrivateKey) -> None:
    again = PaillierPrivateKey.from_bytes(key.to_bytes())
    assert again.public_key == key.public_key
    assert PaillierPublicKey.from_bytes(key.public_key.to_bytes()) == key.public_key
    assert str(key._p) not in repr(key)
    for bad in (b"", b"WIPK1", b"junk" * 10, key.public_key.to_bytes()[:-1]):
        with pytest.raises(CryptoError):
            PaillierPublicKey.from_bytes(bad)
    with pytest.raises(CryptoError):
        key.public_key.ciphertext_from_bytes(b"\x00" * key.public_key.ciphertext_bytes)


@given(st.integers(1, 300), st.sampled_from([512, 1024, 2048]), st.integers(16, 64), st.data())
def test_pack_unpack_round_trip(n_cells: int, bits: int, slot_bits: int, data: st.DataObject) -> None:
    layout = PackingLayout.for_key(n_cells, bits, slot_bits)
    values = data.draw(st.lists(st.integers(0, 2**slot_bits - 1), min_size=n_cells, max_size=n_cells))
    packed = layout.pack(values)
    assert all(p < 2 ** (bits - 2) for p in packed)  # always below n
    assert layout.unpack(packed) == values
    assert sum(layout.pack([1 if i == c else 0 for i in range(n_cells)]) == layout.one_hot(c)
               for c in range(min(n_cells, 5))) == min(n_cells, 5)


def test_pack_rejects_overflow() -> None:
    layout = PackingLayout.for_key(3, 1024, 16)
    with pytest.raises(ValueError):
        layout.pack([0, 2**16, 0])
    with pytest.raises(ValueError):
        layout.pack([0, -1, 0])
    with pytest.raises(ValueError):
        layout.one_hot(3)


def test_sealed_join_equals_plain_count(key: PaillierPrivateKey) -> None:
    """The private path against a plain reference: sealed sums + sealed noise open to count + noise."""
    rng = random.Random(5)
    layout = PackingLayout.for_key(48, key.public_key.bits)  # 1024 bits: 2 ciphertexts per child
    assert layout.n_ciphertexts == 2
    cells = [rng.randrange(48) for _ in range(300)]
    flagged = [rng.random() < 0.3 for _ in cells]
    sealed = SpineSealer(key.public_key, layout).seal_cells(cells)
    agg = aggregate_sealed(key.public_key, layout, [s for s, f in zip(sealed, flagged) if f])
    noise = [rng.randint(-50, 50) for _ in range(48)]
    opened = open_noised(key, layout, add_noise_sealed(key.public_key, layout, agg, noise))
    plain = [sum(1 for c, f in zip(cells, flagged) if f and c == i) for i in range(48)]
    assert opened == [p + z for p, z in zip(plain, noise)]
    empty = aggregate_sealed(key.public_key, layout, [])
    assert open_noised(key, layout, empty, noise_terms=0) == [0] * 48
    with pytest.raises(CryptoError, match="sealed item 1"):
        aggregate_sealed(key.public_key, layout, [sealed[0], sealed[1][:-1]])


# ---- envelopes ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def parties() -> tuple[ec.EllipticCurvePrivateKey, EnvelopeKeyPair]:
    return ec.generate_private_key(ec.SECP256R1()), EnvelopeKeyPair.generate()


@settings(max_examples=25, deadline=None)
@given(st.binary(max_size=4096), st.binary(max_size=64))
def test_envelope_round_trip(parties, plaintext: bytes, context: bytes) -> None:
    sender, rcpt = parties
    env = seal_envelope(plaintext, recipient_public=rcpt.public_bytes(), sender_key=sender, context=context)
    assert len(plaintext) < 16 or plaintext not in env
    assert open_envelope(env, recipient=rcpt, sender_public_key=sender.public_key(), context=context) == plaintext


def test_every_byte_flip_and_truncation_is_rejected(parties) -> None:
    sender, rcpt = parties
    env = seal_envelope(b"sealed spine chunk", recipient_public=rcpt.public_bytes(), sender_key=sender, context=b"c")
    for i in range(len(env)):
        bad = env[:i] + bytes([env[i] ^ 0x01]) + env[i + 1:]
        with pytest.raises(CryptoError):
            open_envelope(bad, recipient=rcpt, sender_public_key=sender.public_key(), context=b"c")
    for cut in (0, 10, 48, len(env) - 1):
        with pytest.raises(CryptoError):
            open_envelope(env[:cut], recipient=rcpt, sender_public_key=sender.public_key(), context=b"c")


def test_wrong_recipient_context_or_sender_is_rejected(parties) -> None:
    sender, rcpt = parties
    env = seal_envelope(b"x", recipient_public=rcpt.public_bytes(), sender_key=sender, context=b"round-1|0/3")
    with pytest.raises(CryptoError, match="does not open"):
        open_envelope(env, recipient=EnvelopeKeyPair.generate(), sender_public_key=sender.public_key(),
                      context=b"round-1|0/3")
    with pytest.raises(CryptoError, match="signature"):
        open_envelope(env, recipient=rcpt, sender_public_key=sender.public_key(), context=b"round-1|1/3")
    with pytest.raises(CryptoError, match="signature"):
        open_envelope(env, recipient=rcpt, sender_public_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
                      context=b"round-1|0/3")


def test_envelope_key_binding(parties) -> None:
    signer, rcpt = parties
    pub = rcpt.public_bytes()
    sig = sign_envelope_key(pub, round_id="r1", party="ggd", signer=signer)
    verify_envelope_key(pub, sig, round_id="r1", party="ggd", signer_public_key=signer.public_key())
    for kwargs in ({"round_id": "r2", "party": "ggd"}, {"round_id": "r1", "party": "school"}):
        with pytest.raises(CryptoError):
            verify_envelope_key(pub, sig, signer_public_key=signer.public_key(), **kwargs)
    with pytest.raises(CryptoError):  # an aggregator substituting its own key
        verify_envelope_key(EnvelopeKeyPair.generate().public_bytes(), sig, round_id="r1", party="ggd",
                            signer_public_key=signer.public_key())


# ---- the chain protocol's primitives ------------------------------------------------------


def test_level_layout_keeps_a_cells_levels_in_one_ciphertext() -> None:
    layout = PackingLayout.for_levels(48, 6, 2048)
    assert layout.slots_per_ciphertext % 6 == 0 and layout.n_cells == 48 * 6
    for cell in range(48):
        cts = {(cell * 6 + k) // layout.slots_per_ciphertext for k in range(6)}
        assert len(cts) == 1
    with pytest.raises(ValueError):
        PackingLayout.for_levels(4, 200, 1024)


@settings(max_examples=8, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 2), st.integers(0, 1), st.integers(0, 1)),
                min_size=1, max_size=12))
def test_chain_of_shifts_counts_stacked_factors(key: PaillierPrivateKey,
                                                children: list[tuple[int, int, int, int]]) -> None:
    """spine seals (cell, k0), hop 1 shifts by k1 and re-randomises, the last node aggregates shifted by k2:
    the opened histogram is the plain count of (cell, k0 + k1 + k2)."""
    levels = 5
    layout = PackingLayout.for_levels(7, levels, key.public_key.bits)
    sealed = seal_slots(key.public_key, layout, [c * levels + k0 for c, k0, _, _ in children])
    hop = transform_sealed(key.public_key, layout, sealed, [k1 for _, _, k1, _ in children])
    assert not set(hop) & set(sealed)  # every ciphertext is fresh: the next node cannot tell who changed
    agg = aggregate_sealed(key.public_key, layout, hop, shifts=[k2 for *_, k2 in children])
    expected = [0] * layout.n_cells
    for c, k0, k1, k2 in children:
        expected[c * levels + k0 + k1 + k2] += 1
    assert open_noised(key, layout, agg, noise_terms=0) == expected


def test_conditioning_hop_drops_children_without_the_attribute(key: PaillierPrivateKey) -> None:
    layout = PackingLayout.for_key(5, key.public_key.bits)
    cells = [0, 1, 1, 4, 4, 4]
    sealed = seal_slots(key.public_key, layout, cells)
    keep = [0, None, 0, None, 0, 0]  # None: replaced by a fresh sealed zero
    hop = transform_sealed(key.public_key, layout, sealed, keep)
    assert len({len(h) for h in hop}) == 1 and not set(hop) & set(sealed)
    agg = aggregate_sealed(key.public_key, layout, hop)
    assert open_noised(key, layout, agg, noise_terms=0) == [1, 1, 0, 0, 2]


def test_running_noise_share_opens_with_one_offset_per_party(key: PaillierPrivateKey) -> None:
    layout = PackingLayout.for_levels(3, 4, key.public_key.bits)
    counts = seal_slots(key.public_key, layout, [0, 5, 11])
    agg = aggregate_sealed(key.public_key, layout, counts)
    shares = [[random.randint(-50, 50) for _ in range(layout.n_cells)] for _ in range(3)]
    running = seal_noise(key.public_key, layout, shares[0])
    running = add_noise_sealed(key.public_key, layout, running, shares[1])
    total = [key.public_key.add(a, z) for a, z in zip(agg, running)]
    total = add_noise_sealed(key.public_key, layout, total, shares[2])
    expected = [int(i in (0, 5, 11)) + sum(s[i] for s in shares) for i in range(layout.n_cells)]
    assert open_noised(key, layout, total, noise_terms=3) == expected


@settings(max_examples=12, deadline=None)
@given(st.integers(2, 8), st.data())
def test_a_chain_of_any_length_merges_its_shares_into_one_offset(key: PaillierPrivateKey, k: int,
                                                                 data: st.DataObject) -> None:
    """k nodes' shares, each at most offset/k in size (at the extremes too), merged one node at a
    time into the running share: the slots never borrow from their neighbours, however long the chain."""
    layout = PackingLayout.for_levels(2, 3, key.public_key.bits)
    bound = layout.offset // k - 1
    edge = st.one_of(st.just(bound), st.just(-bound), st.integers(-bound, bound))
    shares = [data.draw(st.lists(edge, min_size=layout.n_cells, max_size=layout.n_cells)) for _ in range(k)]
    counts = data.draw(st.lists(st.sampled_from([0, 1, layout.offset - 1]), min_size=layout.n_cells,
                                max_size=layout.n_cells))
    running = seal_noise(key.public_key, layout, shares[0], k)
    for more in shares[1:]:
        running = merge_noise_shares(key.public_key, layout, [running, seal_noise(key.public_key, layout, more, k)])
    total = [key.public_key.add(c, z) for c, z in zip([encrypt_plain(key.public_key, m) for m in layout.pack(counts)],
                                                                        running)]
    assert open_noised(key, layout, total, noise_terms=1) == [c + sum(s[i] for s in shares)
                                                              for i, c in enumerate(counts)]
    with pytest.raises(ValueError, match="shared by"):
        seal_noise(key.public_key, layout, [layout.offset // k] * layout.n_cells, k)


def test_parallel_sealing_matches_serial(key: PaillierPrivateKey, monkeypatch: pytest.MonkeyPatch) -> None:
    """The multi-process path (used for Zwolle-size spines) seals and transforms the same plaintexts."""
    monkeypatch.setenv("WIJKINDEX_PARALLEL_MIN", "10")
    monkeypatch.setenv("WIJKINDEX_WORKERS", "2")
    layout = PackingLayout.for_levels(4, 3, key.public_key.bits)
    slots = [(i % 4) * 3 + (i % 2) for i in range(600)]
    seen: list[int] = []
    sealed = seal_slots(key.public_key, layout, slots, progress=seen.append)
    assert seen[-1] == 600
    pool = sealing._POOL
    hop = transform_sealed(key.public_key, layout, sealed, [1] * 600)
    assert sealing._POOL is pool and pool is not None  # one set of workers (and tables) for the key's calls
    expected = [0] * layout.n_cells
    for s in slots:
        expected[s + 1] += 1
    assert open_noised(key, layout, aggregate_sealed(key.public_key, layout, hop), noise_terms=0) == expected
    base = PackingLayout.for_key(4, key.public_key.bits)  # another layout, same workers
    flat = seal_slots(key.public_key, base, [i % 4 for i in range(40)])
    assert sealing._POOL is pool
    assert open_noised(key, base, aggregate_sealed(key.public_key, base, flat), noise_terms=0) == [10] * 4
    # several batches in one queue: each comes back whole, in order, as seal_slots would seal it
    seen.clear()
    levels, flat2 = seal_batches(key.public_key, [(layout, slots[:300]), (base, [i % 4 for i in range(40)])],
                                 progress=seen.append)
    assert len(levels) == 300 and len(flat2) == 40 and seen[-1] == 340
    expected = [0] * layout.n_cells
    for s in slots[:300]:
        expected[s] += 1
    assert open_noised(key, layout, aggregate_sealed(key.public_key, layout, levels), noise_terms=0) == expected
    assert open_noised(key, base, aggregate_sealed(key.public_key, base, flat2), noise_terms=0) == [10] * 4
    sealing.close_pool()
    assert sealing._POOL is None


def test_malformed_sealed_item_is_named(key: PaillierPrivateKey) -> None:
    layout = PackingLayout.for_key(5, key.public_key.bits)
    sealed = seal_slots(key.public_key, layout, [1, 2])
    with pytest.raises(CryptoError, match="sealed item 1"):
        transform_sealed(key.public_key, layout, [sealed[0], sealed[1][:-1]], [0, 0])


def test_sealing_workers_end_with_their_node_process(tmp_path: Path) -> None:
    """A node process killed mid-seal (SIGKILL: no clean-up runs) leaves no worker behind: the
    workers see they were re-parented and exit, instead of sealing on at full CPU."""
    import os
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "node_like.py"
    script.write_text(
        "import sys, time\n"
        "from wijkindex.protocol.paillier import generate_keypair\n"
        "from wijkindex.protocol.packing import PackingLayout\n"
        "from wijkindex.protocol import sealing\n"
        "if __name__ == '__main__':\n"
        "    key = generate_keypair(1024).public_key\n"
        "    pool = sealing._pool(key)\n"
        "    jobs = [pool.submit(sealing._seal_chunk, (PackingLayout(4, 20, 1), [0] * 200000)) for _ in range(2)]\n"
        "    time.sleep(2)\n"
        "    print(' '.join(str(p) for p in pool._processes), flush=True)\n"
        "    time.sleep(600)\n", encoding="utf-8")
    env = {**os.environ, "WIJKINDEX_WORKERS": "2"}
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        workers = [int(p) for p in proc.stdout.readline().split()]  # type: ignore[union-attr]
        assert len(workers) == 2 and all(_alive(p) for p in workers)  # busy sealing
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not any(_alive(p) for p in workers), "a sealing worker outlived its node process"
    finally:
        proc.kill()
        for p in workers if "workers" in locals() else []:
            if _alive(p):
                os.kill(p, signal.SIGKILL)  # a failed test leaves no orphan at full CPU


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            return f.read().split(") ", 1)[1][0] not in "ZX"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
