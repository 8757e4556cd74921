"""Python clients of the aggregator for the coordinator and the researcher roles."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import grpc
import pandas as pd
import pyarrow as pa

from wijkindex import wire
from wijkindex.config import ClientConfig
from wijkindex.errors import RoundFailed, WijkindexError
from wijkindex.proto import wijkindex_pb2 as pb
from wijkindex.proto import wijkindex_pb2_grpc as rpc
from wijkindex.protocol import messages as m
from wijkindex.security.pki import PartyCredentials
from wijkindex.security.tls import secure_channel


class AggregatorError(WijkindexError):
    """The aggregator refused a call; the message carries its reason."""

    code = "WI700"
    fix = "read the reason; a PERMISSION_DENIED means this certificate's role may not make the call"


def _rpc_error(exc: grpc.RpcError, what: str) -> AggregatorError:
    return AggregatorError(f"{what}: {exc.code().name}: {exc.details()}")


class AggregatorClient:
    """One mTLS channel to the aggregator; the certificate decides what may be called."""

    def __init__(self, address: str, creds: PartyCredentials, *, timeout: float = 60.0) -> None:
        self.channel = secure_channel(address, creds)
        self.timeout = timeout
        self.coordinator = rpc.CoordinatorStub(self.channel)
        self.results = rpc.ResultsStub(self.channel)

    @classmethod
    def from_config(cls, config: ClientConfig) -> "AggregatorClient":
        return cls(config.aggregator, PartyCredentials.from_paths(config.tls.cert, config.tls.key, config.tls.ca))

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "AggregatorClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- coordinator ---------------------------------------------------------------

    def submit_round(self, spec_toml: str) -> str:
        try:
            return self.coordinator.SubmitRound(pb.SubmitRoundRequest(spec_toml=spec_toml), timeout=self.timeout).round_id
        except grpc.RpcError as exc:
            raise _rpc_error(exc, "submitting the round") from None

    def round_status(self, round_id: str) -> m.RoundStatus:
        try:
            return wire.status_from_proto(self.coordinator.GetRound(pb.GetRoundRequest(round_id=round_id),
                                                                    timeout=self.timeout))
        except grpc.RpcError as exc:
            raise _rpc_error(exc, f"reading round {round_id}") from None

    def wait_round(self, round_id: str, *, timeout: float = 900.0, poll: float = 0.5,
                   on_status: Callable[[m.RoundStatus], None] | None = None) -> m.RoundStatus:
        """Follow a round until it ends; raise RoundFailed with the reason if it failed."""
        end = time.monotonic() + timeout
        while True:
            status = self.round_status(round_id)
            if on_status:
                on_status(status)
            if status.state == "failed":
                raise RoundFailed(f"round {round_id} failed: {status.reason}")
            if status.state == "completed":
                return status
            if time.monotonic() > end:
                raise RoundFailed(f"round {round_id} did not finish within {timeout:.0f} s (state {status.state})")
            time.sleep(poll)

    # ---- researcher ------------------------------------------------------------------

    def list_rounds(self) -> list[m.RoundSummary]:
        try:
            reply = self.results.ListRounds(pb.ListRoundsRequest(), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise _rpc_error(exc, "listing rounds") from None
        return [wire.summary_from_proto(s) for s in reply.rounds]

    def get_index(self, round_id: str) -> tuple[pd.DataFrame, m.RoundStatus]:
        try:
            reply = self.results.GetIndex(pb.GetIndexRequest(round_id=round_id), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise _rpc_error(exc, f"reading the index of round {round_id}") from None
        table = pa.ipc.open_stream(reply.arrow_ipc).read_all()
        return table.to_pandas(), wire.status_from_proto(reply.status)


def export_index(client: AggregatorClient, round_id: str, out_dir: Path) -> tuple[Path, Path]:
    """Fetch a completed round's index and write index.csv and index.parquet."""
    from wijkindex.aggregator.index import write_index

    df, _ = client.get_index(round_id)
    return write_index(df, Path(out_dir))
