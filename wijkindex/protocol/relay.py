"""The relay: sealed per-child columns one node sends another through the aggregator.

Vocabulary, framing and checks in one place, used by the sending node, the receiving node
and the aggregator (which sees only envelopes, their sizes and their sequence numbers):

* a relay to one recipient is ``total`` chunks; each chunk is an Arrow IPC table of exactly
  ``RELAY_ROWS`` rows (``pseudonym``, ``real``, then one binary column per sealed column),
  padded with dummy rows inside the envelope, and ``total`` is the chunk count rounded up
  to a bucket (``bucket``), so what the aggregator sees tells the spine's size only to
  within its bucket;
* every chunk is an envelope (``protocol.envelope``) bound to the round, the round's
  parameters (``protocol.parameters.round_binding``), sender, recipient and position;
* the first chunk's schema metadata carries the sealed running noise shares of the chains
  whose next hop the recipient is.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

import pyarrow as pa
from cryptography.hazmat.primitives.asymmetric import ec

from wijkindex.errors import CryptoError
from wijkindex.protocol import messages as m
from wijkindex.protocol.envelope import EnvelopeKeyPair, open_envelope, seal_envelope
from wijkindex.protocol.paillier import PaillierPublicKey

RELAY_ROWS = 2000
PAD_QUANTUM = 64 * 1024  # every plaintext is padded to a multiple of this
PSEUDONYM = "pseudonym"
REAL = "real"  # false on the dummy rows that pad a chunk
SEALED = "sealed"  # the spine's one-hot cells, for every source
ENCODING = "encoding"  # the spine's keyed identifier encodings, for fuzzy nodes
BLOCK = "block"  # the spine's keyed block digests (linkage/fuzzy.block_keys), for fuzzy nodes
_NOISE = "noise:"


def joint_column(name: str) -> str:
    return f"joint:{name}"


def relay_context(round_id: str, binding: bytes, sender: str, recipient: str, seq: int, total: int) -> bytes:
    """Bound into every envelope: a chunk opens only in its round, under its parameters, in its slot."""
    return f"wijkindex/v1/relay|{round_id}|{binding.hex()}|{sender}->{recipient}|{seq}/{total}".encode()


def bucket(n_chunks: int) -> int:
    """The smallest of 1, 2, 3, 4, 6, 8, 12, 16, 24, ... (2^k and 1.5 * 2^k) that is >= n_chunks."""
    if n_chunks <= 1:
        return 1
    k = 1
    while True:
        for b in (k, 3 * k // 2) if k >= 2 else (k,):
            if b >= n_chunks:
                return b
        k *= 2


def chunk_count(n_rows: int) -> int:
    return bucket(-(-n_rows // RELAY_ROWS))


def _pad(payload: bytes) -> bytes:
    framed = struct.pack(">Q", len(payload)) + payload
    return framed + b"\0" * (-len(framed) % PAD_QUANTUM)


def _unpad(plain: bytes) -> bytes:
    if len(plain) < 8:
        raise CryptoError("relay chunk too short")
    (length,) = struct.unpack(">Q", plain[:8])
    if 8 + length > len(plain) or any(plain[8 + length:]):
        raise CryptoError("relay chunk padding is malformed")
    return plain[8:8 + length]


def build_chunks(round_id: str, binding: bytes, sender: str, recipient: str, recipient_key: bytes,
                 sender_key: ec.EllipticCurvePrivateKey, pseudonyms: Sequence[bytes],
                 columns: Mapping[str, Sequence[bytes]], meta: Mapping[bytes, bytes]) -> list[m.RelayChunk]:
    """The enveloped chunks of one relay to one recipient, padded as described above."""
    names = sorted(columns)
    for c in names:
        if len(columns[c]) != len(pseudonyms):
            raise ValueError(f"relay column {c} has {len(columns[c])} values for {len(pseudonyms)} children")
    width = {c: len(columns[c][0]) if len(columns[c]) else 0 for c in names}
    schema = pa.schema([(PSEUDONYM, pa.binary(32)), (REAL, pa.bool_()), *((c, pa.binary()) for c in names)])
    total = chunk_count(len(pseudonyms))
    out = []
    for seq in range(total):
        start = seq * RELAY_ROWS
        real = list(pseudonyms[start:start + RELAY_ROWS])
        pad = RELAY_ROWS - len(real)
        arrays = [pa.array(real + [os.urandom(32) for _ in range(pad)], pa.binary(32)),
                  pa.array([True] * len(real) + [False] * pad, pa.bool_())]
        arrays += [pa.array(list(columns[c][start:start + RELAY_ROWS]) + [b"\0" * width[c]] * pad, pa.binary())
                   for c in names]
        chunk_schema = schema.with_metadata(dict(meta)) if seq == 0 and meta else schema
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, chunk_schema) as writer:
            writer.write_table(pa.Table.from_arrays(arrays, schema=chunk_schema))
        env = seal_envelope(_pad(sink.getvalue().to_pybytes()), recipient_public=recipient_key, sender_key=sender_key,
                            context=relay_context(round_id, binding, sender, recipient, seq, total))
        out.append(m.RelayChunk(round_id, recipient, seq, total, env, sender))
    return out


def noise_meta(shares: Mapping[str, Sequence[int]], public_key: PaillierPublicKey) -> dict[bytes, bytes]:
    """First-chunk metadata: each chain's sealed running noise share."""
    return {f"{_NOISE}{name}".encode(): b"".join(public_key.ciphertext_to_bytes(c) for c in cts).hex().encode()
            for name, cts in shares.items()}


def chunk_problem(sender: str, recipient: str, chunks: Iterable[tuple[int, int]]) -> str:
    """Why (seq, total) pairs are not chunks 0..total-1 exactly once, or "" when they are."""
    seen: list[int] = []
    totals: set[int] = set()
    for seq, total in chunks:
        if not 0 <= seq < total:
            return f"relay chunk {seq}/{total} from {sender} for {recipient} is out of range"
        seen.append(seq)
        totals.add(total)
    if len(seen) != len(set(seen)):
        return f"relay from {sender} for {recipient} repeats a chunk"
    if len(totals) != 1 or set(seen) != set(range(next(iter(totals)))):
        return f"relay from {sender} for {recipient} is incomplete (lost chunks) or inconsistent"
    return ""


@dataclass
class Relay:
    """What one sender relayed to this node: sealed columns by pseudonym, in the sender's order."""

    sender: str
    sender_key: ec.EllipticCurvePublicKey
    columns: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    order: list[bytes] = field(default_factory=list)
    shares: dict[str, list[int]] = field(default_factory=dict)
    chunks: list[tuple[int, int]] = field(default_factory=list)

    def open(self, chunk: m.RelayChunk, *, round_id: str, binding: bytes, recipient: str,
             envelope: EnvelopeKeyPair, public_key: PaillierPublicKey) -> None:
        """Verify, decrypt and add one chunk; a repeated or foreign chunk is a CryptoError."""
        if chunk.round_id != round_id or chunk.recipient != recipient or chunk.sender != self.sender:
            raise CryptoError(f"relay chunk {chunk.seq}/{chunk.total} from {chunk.sender!r} for {chunk.recipient!r} "
                              f"in round {chunk.round_id!r} is misrouted")
        if any(seq == chunk.seq for seq, _ in self.chunks) or any(t != chunk.total for _, t in self.chunks):
            raise CryptoError(f"relay chunk {chunk.seq}/{chunk.total} from {self.sender} is repeated or inconsistent")
        plain = open_envelope(chunk.envelope, recipient=envelope, sender_public_key=self.sender_key,
                              context=relay_context(round_id, binding, self.sender, recipient, chunk.seq, chunk.total))
        self.chunks.append((chunk.seq, chunk.total))
        try:
            table = pa.ipc.open_stream(_unpad(plain)).read_all()
        except pa.ArrowException as exc:
            raise CryptoError(f"relay chunk {chunk.seq} from {self.sender} is not a relay table: {exc}") from None
        if table.num_rows != RELAY_ROWS or table.column_names[:2] != [PSEUDONYM, REAL]:
            raise CryptoError(f"relay chunk {chunk.seq} from {self.sender} is not a padded relay table")
        real = table.column(REAL).to_pylist()
        keys = [k for k, r in zip(table.column(PSEUDONYM).to_pylist(), real) if r]
        self.order.extend(keys)
        for name in table.column_names[2:]:
            values = [v for v, r in zip(table.column(name).to_pylist(), real) if r]
            self.columns.setdefault(name, {}).update(zip(keys, values))
        size = public_key.ciphertext_bytes
        for key, value in (table.schema.metadata or {}).items():
            if key.startswith(_NOISE.encode()):
                raw = bytes.fromhex(value.decode())
                self.shares[key[len(_NOISE):].decode()] = [public_key.ciphertext_from_bytes(raw[i:i + size])
                                                          for i in range(0, len(raw), size)]

    def check_complete(self, recipient: str) -> None:
        if not self.chunks:
            raise CryptoError(f"relay from {self.sender} for {recipient} never arrived")
        problem = chunk_problem(self.sender, recipient, self.chunks)
        if problem:
            raise CryptoError(problem)
        if len(set(self.order)) != len(self.order):
            raise CryptoError(f"relay from {self.sender} carries a child twice")
