"""Coverage-guided fuzzing (atheris) of everything that decodes bytes from the network.

Targets: the protobuf messages through ``wire`` (releases, relay chunks, tasks, statuses), the
end-to-end envelope (arbitrary bytes, and mutations of a real envelope), Paillier keys and
ciphertexts, round specs, and similarity encodings. Each decoder must answer any input with
a value or its own documented error (DecodeError, WijkindexError subclasses, ValueError for
encodings); anything else is a crash, and an envelope that opens after a mutation is a forgery.

    .venv/bin/pip install atheris && .venv/bin/python bench/fuzz_decoders.py -max_total_time=60

(atheris takes libFuzzer's flags: -runs=N, -max_total_time=S; a crash leaves its input in
crash-* and exits non-zero.) The corpus of malformed inputs in tests/test_bad_input_corpus.py
runs in CI; this is the open-ended search beside it.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports():
    from google.protobuf.message import DecodeError

    from wijkindex import wire
    from wijkindex.errors import WijkindexError
    from wijkindex.linkage.encoding import DUTCH_CHILD_SCHEMA, Encodings
    from wijkindex.proto import wijkindex_pb2 as pb
    from wijkindex.protocol.envelope import EnvelopeKeyPair, open_envelope, seal_envelope
    from wijkindex.protocol.paillier import PaillierPublicKey, generate_keypair
    from wijkindex.protocol.spec import RoundSpec

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

SENDER = ec.generate_private_key(ec.SECP256R1())
RECIPIENT = EnvelopeKeyPair.generate()
CONTEXT = b"wijkindex/v1/relay|fuzz|a->b|0/1"
GOOD_ENVELOPE = seal_envelope(b"pseudonym,sealed\n" * 20, recipient_public=RECIPIENT.public_bytes(),
                              sender_key=SENDER, context=CONTEXT)
PUBLIC = generate_keypair(1024).public_key

DECODERS = [
    lambda b: wire.release_from_proto(pb.Release.FromString(b)),
    lambda b: wire.chunk_from_proto(pb.RelayChunk.FromString(b)),
    lambda b: wire.task_from_proto(pb.Task.FromString(b)),
    lambda b: wire.status_from_proto(pb.RoundStatus.FromString(b)),
    lambda b: open_envelope(b, recipient=RECIPIENT, sender_public_key=SENDER.public_key(), context=CONTEXT),
    lambda b: PaillierPublicKey.from_bytes(b),
    lambda b: PUBLIC.ciphertext_from_bytes(b),
    lambda b: RoundSpec.from_toml(b.decode("utf-8", "replace")),
    lambda b: Encodings.from_bytes([b[i:i + 256] for i in range(0, len(b), 256)], DUTCH_CHILD_SCHEMA),
]
EXPECTED = (DecodeError, WijkindexError, ValueError)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    which = fdp.ConsumeIntInRange(0, len(DECODERS))
    if which == len(DECODERS):  # mutate a real envelope: it must never open
        env = bytearray(GOOD_ENVELOPE)
        for _ in range(fdp.ConsumeIntInRange(1, 8)):
            env[fdp.ConsumeIntInRange(0, len(env) - 1)] ^= fdp.ConsumeIntInRange(1, 255)
        if bytes(env) == GOOD_ENVELOPE:
            return
        try:
            open_envelope(bytes(env), recipient=RECIPIENT, sender_public_key=SENDER.public_key(), context=CONTEXT)
        except WijkindexError:
            return
        raise AssertionError("a mutated envelope opened: forgery")
    try:
        DECODERS[which](fdp.ConsumeBytes(fdp.remaining_bytes()))
    except EXPECTED:
        pass


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
