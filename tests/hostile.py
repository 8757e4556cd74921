"""A hostile aggregator: the real one, with an interceptor that rewrites what it sends nodes.

The aggregator is trusted to be available, never to behave. ``HostileAggregator`` sits in
front of the real servicers (``start_federation(..., interceptors=(hostile,))``) and can

* rewrite the task a ``PollTask`` returns, per party and per task kind (``on_task``);
* re-serve a task it served earlier to a node on that node's next ``PollTask`` (``replay``);
* rewrite the ``FetchRelay`` stream a node downloads: drop, repeat, reorder, substitute
  chunks, e.g. chunks recorded in another round (``on_relay``).

It records what the real aggregator built (``served``, ``fetched``) and every request each
node sent, by the identity of its TLS certificate (``calls``), so a test can say what a node
sent after it refused. The helpers at the bottom build modified copies of a ``pb.Task``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Sequence

import grpc

from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.security.auth import peer_identity

TaskRewrite = Callable[[str, pb.Task], "pb.Task | None"]  # (party, task) -> what to serve instead, None: as is
RelayRewrite = Callable[[str, str, list[pb.RelayChunk]], Iterable[pb.RelayChunk]]  # (party, round id, chunks)


@dataclass(frozen=True)
class Served:
    party: str
    original: pb.Task  # as the real aggregator built it
    sent: pb.Task  # what the node got


@dataclass(frozen=True)
class Call:
    party: str
    method: str  # short name: JoinRound, UploadRelay, SubmitRelease, ...
    request: Any  # the request message (each chunk of a stream is one Call)

    @property
    def round_id(self) -> str:
        return getattr(self.request, "round_id", "")


class HostileAggregator(grpc.ServerInterceptor):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.served: list[Served] = []
        self.fetched: list[tuple[str, str, list[pb.RelayChunk]]] = []  # (party, round id, chunks as stored)
        self.calls: list[Call] = []
        self.reset()

    def reset(self) -> None:
        """Behave again (the records stay)."""
        with self._lock:
            self.on_task: TaskRewrite | None = None
            self.on_relay: RelayRewrite | None = None
            self._replays: dict[str, list[pb.Task]] = {}

    # ---- what a test asks for ---------------------------------------------------------

    def rewrite(self, kind: str, party: str, round_id: str, fn: Callable[[pb.Task], pb.Task]) -> None:
        """Serve ``fn(task)`` instead of every ``kind`` task ("join", "seal", "aggregate") of one round to one party."""
        self.on_task = lambda p, t: fn(t) if (p, kind_of(t), round_of(t)) == (party, kind, round_id) else None

    def replay(self, party: str, task: pb.Task) -> None:
        """Serve ``task`` (again) to ``party`` on its next PollTask, whatever the real aggregator has for it."""
        with self._lock:
            self._replays.setdefault(party, []).append(copy(task))

    def pending_replays(self, party: str) -> int:
        with self._lock:
            return len(self._replays.get(party, []))

    def tasks(self, party: str, kind: str | None = None, round_id: str | None = None) -> list[pb.Task]:
        """The tasks the real aggregator built for ``party`` (before any rewrite)."""
        with self._lock:
            return [copy(s.original) for s in self.served if s.party == party
                    and kind in (None, kind_of(s.original)) and round_id in (None, round_of(s.original))]

    def chunks(self, party: str, round_id: str) -> list[pb.RelayChunk]:
        """The relay chunks the real aggregator served ``party`` in a round (the first fetch)."""
        with self._lock:
            first = next((cs for p, r, cs in self.fetched if (p, r) == (party, round_id)), [])
            return [copy(c) for c in first]

    def calls_from(self, party: str, method: str, round_id: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.party == party and c.method == method
                    and round_id in (None, c.round_id)]

    # ---- the interceptor --------------------------------------------------------------

    def _record(self, context: grpc.ServicerContext, method: str, request: object) -> str:
        who = peer_identity(context)
        party = who.party if who else ""
        with self._lock:
            self.calls.append(Call(party, method, request))
        return party

    def _poll(self, inner, request, context):  # type: ignore[no-untyped-def]
        party = self._record(context, "PollTask", request)
        with self._lock:
            queued = self._replays.get(party)
            replay = queued.pop(0) if queued else None
        if replay is not None:  # the real aggregator is not even asked: its next task waits a poll
            return replay
        task = inner(request, context)
        if task.WhichOneof("kind") is None:
            return task
        fn = self.on_task
        sent = fn(party, copy(task)) if fn else None
        sent = task if sent is None else sent
        with self._lock:
            self.served.append(Served(party, copy(task), copy(sent)))
        return sent

    def _fetch(self, inner, request, context) -> Iterator[pb.RelayChunk]:  # type: ignore[no-untyped-def]
        party = self._record(context, "FetchRelay", request)
        chunks = list(inner(request, context))
        with self._lock:
            self.fetched.append((party, request.round_id, [copy(c) for c in chunks]))
        fn = self.on_relay
        yield from (fn(party, request.round_id, chunks) if fn else chunks)

    def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
        handler = continuation(details)
        if handler is None or ".NodeExchange/" not in details.method:
            return handler
        method = details.method.rsplit("/", 1)[1]
        make = lambda kind, fn: getattr(grpc, f"{kind}_rpc_method_handler")(  # noqa: E731
            fn, handler.request_deserializer, handler.response_serializer)
        if method == "PollTask":
            return make("unary_unary", lambda req, ctx: self._poll(handler.unary_unary, req, ctx))
        if method == "FetchRelay":
            return make("unary_stream", lambda req, ctx: self._fetch(handler.unary_stream, req, ctx))
        if handler.stream_unary:  # UploadRelay: every chunk the node sends
            inner_su = handler.stream_unary

            def upload(it, ctx):  # type: ignore[no-untyped-def]
                def tap():  # type: ignore[no-untyped-def]
                    for chunk in it:
                        self._record(ctx, method, chunk)
                        yield chunk
                return inner_su(tap(), ctx)
            return make("stream_unary", upload)
        inner_uu = handler.unary_unary

        def unary(req, ctx):  # type: ignore[no-untyped-def]
            self._record(ctx, method, req)
            return inner_uu(req, ctx)
        return make("unary_unary", unary)


# ---- reading and building tasks ---------------------------------------------------------

def copy(message):  # type: ignore[no-untyped-def]
    out = type(message)()
    out.CopyFrom(message)
    return out


def kind_of(task: pb.Task) -> str | None:
    return task.WhichOneof("kind")


def round_of(task: pb.Task) -> str:
    kind = kind_of(task)
    return getattr(task, kind).round_id if kind else ""


def with_layout(task: pb.Task, *, n_cells: int | None = None, slot_bits: int | None = None,
                slots_per_ciphertext: int | None = None) -> pb.Task:
    """A JoinTask whose packing layout says other numbers than the aggregator computed."""
    out = copy(task)
    lay = out.join.layout
    for name, value in (("n_cells", n_cells), ("slot_bits", slot_bits), ("slots_per_ciphertext", slots_per_ciphertext)):
        if value is not None:
            setattr(lay, name, value)
    return out


def with_cells(task: pb.Task, cells: Sequence[pb.Cell]) -> pb.Task:
    """A JoinTask with another cell list."""
    out = copy(task)
    del out.join.cells[:]
    out.join.cells.extend(copy(c) for c in cells)
    return out


def with_key(task: pb.Task, key_bytes: bytes) -> pb.Task:
    """A JoinTask with another Paillier public key (``PaillierPublicKey.to_bytes()``)."""
    out = copy(task)
    out.join.paillier_public_key = key_bytes
    return out


def with_recipients(task: pb.Task, recipients: Sequence[pb.Recipient]) -> pb.Task:
    """A SealTask naming other recipients (party, envelope key, key signature, certificate)."""
    out = copy(task)
    del out.seal.recipients[:]
    out.seal.recipients.extend(copy(r) for r in recipients)
    return out


def recipient(task: pb.Task, of: str, **changes: object) -> pb.Recipient:
    """A copy of the SealTask's recipient entry of party ``of``, with fields changed."""
    r = copy(next(r for r in task.seal.recipients if r.party == of))
    for name, value in changes.items():
        setattr(r, name, value)
    return r


def relabelled(chunk: pb.RelayChunk, **changes: object) -> pb.RelayChunk:
    """A copy of a relay chunk with its clear fields (round id, seq, total, sender, ...) changed."""
    out = copy(chunk)
    for name, value in changes.items():
        setattr(out, name, value)
    return out


def wait_for(predicate: Callable[[], object], timeout: float = 30.0, what: str = "the condition") -> object:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
