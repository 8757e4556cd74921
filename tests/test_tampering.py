"""A tampering relay: the aggregator (or the network) alters a sealed-spine envelope in transit.

The receiving node must detect it, the round must fail with a reason that says so, and
nothing of the round may be released.
"""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from conftest import start_federation
from wijkindex.errors import RoundFailed
from wijkindex.proto import wijkindex_pb2 as pb

pytestmark = pytest.mark.slow


class RelayTamper(grpc.ServerInterceptor):
    """Rewrites the stream of relay chunks a node uploads: subclasses say how (``alter``)."""

    done = 0

    def alter(self, chunks):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
        handler = continuation(details)
        if handler is None or not details.method.endswith("/UploadRelay"):
            return handler
        inner = handler.stream_unary
        return grpc.stream_unary_rpc_method_handler(lambda it, ctx: inner(self.alter(it), ctx),
                                                    handler.request_deserializer, handler.response_serializer)


class FlipOneByte(RelayTamper):
    """Flips a byte in the first relay envelope the spine node uploads."""

    def alter(self, chunks):  # type: ignore[no-untyped-def]
        for chunk in chunks:
            if not self.done:
                env = bytearray(chunk.envelope)
                env[len(env) // 2] ^= 0x40
                chunk = pb.RelayChunk(round_id=chunk.round_id, recipient=chunk.recipient, seq=chunk.seq,
                                      total=chunk.total, envelope=bytes(env))
                self.done += 1
            yield chunk


class RelayFault(RelayTamper):
    """Loses or duplicates the first relay chunk the spine node uploads for the GGD."""

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def alter(self, chunks):  # type: ignore[no-untyped-def]
        for chunk in chunks:
            if not self.done and chunk.recipient == "ggd":
                self.done += 1
                if self.mode == "lose":
                    continue
                yield chunk  # "duplicate": the same chunk twice
            yield chunk


def test_tampered_relay_fails_the_round_and_releases_nothing(tmp_path: Path, small_federation, geography) -> None:
    tamper = FlipOneByte()
    run = start_federation(tmp_path / "fed", small_federation, geography, interceptors=(tamper,))
    try:
        with pytest.raises(RoundFailed) as err:
            run.run_round(run.spec(epsilon=1.0, round_id="tampered"))
        assert tamper.done == 1
        assert "envelope signature does not verify" in str(err.value)
        assert run.aggregator.rounds.store.index("tampered") is None
        assert run.aggregator.rounds.store.private_key("tampered") is None  # key destroyed with the round
    finally:
        run.stop()


@pytest.mark.parametrize("mode, reason", [("lose", "incomplete \\(lost chunks\\)"), ("duplicate", "repeats a chunk")])
def test_a_lost_or_duplicated_relay_chunk_fails_the_round_cleanly(tmp_path: Path, small_federation, geography,
                                                                  mode: str, reason: str) -> None:
    fault = RelayFault(mode)
    run = start_federation(tmp_path / "fed", small_federation, geography, interceptors=(fault,))
    try:
        with pytest.raises(RoundFailed, match=reason):
            run.run_round(run.spec(epsilon=1.0, round_id=f"relay-{mode}"))
        assert fault.done == 1
        store = run.aggregator.rounds.store
        assert store.index(f"relay-{mode}") is None and store.releases(f"relay-{mode}").get("ggd") is None
    finally:
        run.stop()


class UnderNoisedRelease(grpc.ServerInterceptor):
    """A school node that claims less noise on its joint shares than the spec's budget split asks."""

    done = 0

    def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
        handler = continuation(details)
        if handler is None or not details.method.endswith("/SubmitRelease"):
            return handler
        inner = handler.unary_unary

        def call(request, ctx):  # type: ignore[no-untyped-def]
            if request.cost.party == "school":
                request.cost.joint_scale = request.cost.scale  # weight 1 instead of the spec's 0.5
                self.done += 1
            return inner(request, ctx)

        return grpc.unary_unary_rpc_method_handler(call, handler.request_deserializer, handler.response_serializer)


def test_a_release_below_the_specs_joint_noise_fails_the_round(tmp_path: Path, small_federation, geography) -> None:
    tamper = UnderNoisedRelease()
    run = start_federation(tmp_path / "fed", small_federation, geography, interceptors=(tamper,))
    try:
        spec = run.spec(epsilon=1.0, round_id="under-noised", joint=small_federation.joint)
        with pytest.raises(RoundFailed) as err:
            run.run_round(spec)
        assert tamper.done == 1
        assert "release of school" in str(err.value) and "below" in str(err.value)
        assert run.aggregator.rounds.store.index("under-noised") is None
    finally:
        run.stop()
