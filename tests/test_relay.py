"""The relay's framing: sizes leak only the bucket, chunks open only in their place, padding is dropped."""

from __future__ import annotations

import os

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkindex.errors import CryptoError
from wijkindex.protocol import relay
from wijkindex.protocol.envelope import EnvelopeKeyPair
from wijkindex.protocol.paillier import PaillierPublicKey

PK = PaillierPublicKey((1 << 1023) + 1155)  # only its sizes matter here: no encryption is made
CT = PK.ciphertext_bytes
SENDER = ec.generate_private_key(ec.SECP256R1())
RECIPIENT = EnvelopeKeyPair.generate()
BINDING = os.urandom(32)


def _spine(n: int, columns: int = 1) -> tuple[list[bytes], dict[str, list[bytes]]]:
    pseudonyms = [os.urandom(32) for _ in range(n)]
    return pseudonyms, {f"c{k}": [os.urandom(2 * CT) for _ in range(n)] for k in range(columns)}


def _chunks(n: int, round_id: str = "r1", meta: dict[bytes, bytes] | None = None) -> list:  # type: ignore[type-arg]
    p, cols = _spine(n)
    return relay.build_chunks(round_id, BINDING, "gemeente", "ggd", RECIPIENT.public_bytes(), SENDER, p, cols,
                              meta or {})


def test_buckets_are_powers_of_two_and_one_and_a_half_times_them() -> None:
    assert [relay.bucket(n) for n in range(1, 14)] == [1, 2, 3, 4, 6, 6, 8, 8, 12, 12, 12, 12, 16]
    assert relay.chunk_count(27_158) == 16  # Zwolle's spine: 14 chunks of 2,000 sent as 16


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10**7))
def test_a_bucket_covers_and_wastes_at_most_half(n: int) -> None:
    b = relay.bucket(n)
    assert n <= b and (n <= 2 or b <= 1.5 * n)


def test_two_spines_in_one_bucket_send_identical_message_lengths() -> None:
    """8,001 and 11,999 children both make 6 chunks (5 and 6, bucket 6): every envelope has the same length."""
    small, large = _chunks(8_001), _chunks(11_999)
    assert len(small) == len(large) == 6
    assert [len(c.envelope) for c in small] == [len(c.envelope) for c in large]
    assert {c.total for c in small} == {6}
    assert len(_chunks(12_001)) == 8  # the next bucket


def test_the_receiver_gets_the_real_rows_only_in_order() -> None:
    p, cols = _spine(2_345, columns=2)
    chunks = relay.build_chunks("r1", BINDING, "gemeente", "ggd", RECIPIENT.public_bytes(), SENDER, p, cols,
                                relay.noise_meta({"j": [7, 8]}, PK))
    r = relay.Relay("gemeente", SENDER.public_key())
    for c in reversed(chunks):  # arrival order does not matter
        r.open(c, round_id="r1", binding=BINDING, recipient="ggd", envelope=RECIPIENT, public_key=PK)
    r.check_complete("ggd")
    assert sorted(r.order) == sorted(p) and len(r.order) == 2_345
    assert r.columns["c1"] == dict(zip(p, cols["c1"]))
    assert r.shares == {"j": [7, 8]}


@pytest.mark.parametrize("where", ["round", "binding", "recipient", "seq"])
def test_a_chunk_opens_only_in_its_round_binding_recipient_and_place(where: str) -> None:
    chunks = _chunks(2_500)
    c = chunks[1]
    kw = dict(round_id="r1", binding=BINDING, recipient="ggd", envelope=RECIPIENT, public_key=PK)
    if where == "round":
        c = relay.m.RelayChunk("r2", c.recipient, c.seq, c.total, c.envelope, c.sender)
        kw["round_id"] = "r2"
    elif where == "binding":
        kw["binding"] = os.urandom(32)  # the same round id under another key, layout or cells
    elif where == "recipient":
        c = relay.m.RelayChunk(c.round_id, "school", c.seq, c.total, c.envelope, c.sender)
        kw["recipient"] = "school"
    else:
        c = relay.m.RelayChunk(c.round_id, c.recipient, 0, c.total, c.envelope, c.sender)
    with pytest.raises(CryptoError):
        relay.Relay("gemeente", SENDER.public_key()).open(c, **kw)  # type: ignore[arg-type]


def test_lost_or_repeated_chunks_are_refused() -> None:
    chunks = _chunks(4_500)
    kw = dict(round_id="r1", binding=BINDING, recipient="ggd", envelope=RECIPIENT, public_key=PK)
    r = relay.Relay("gemeente", SENDER.public_key())
    for c in chunks[:-1]:
        r.open(c, **kw)  # type: ignore[arg-type]
    with pytest.raises(CryptoError, match="incomplete"):
        r.check_complete("ggd")
    with pytest.raises(CryptoError, match="repeated"):
        r.open(chunks[0], **kw)  # type: ignore[arg-type]
    assert relay.chunk_problem("a", "b", [(0, 2), (1, 2)]) == ""
    assert "out of range" in relay.chunk_problem("a", "b", [(2, 2)])
