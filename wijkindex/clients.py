"""Python clients of the aggregator for the coordinator and the researcher roles."""

from __future__ import annotations

import json
import secrets

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
from wijkindex.security.tls import PeerUnavailable, secure_channel


class AggregatorError(WijkindexError):
    """The aggregator refused a call; the message carries its reason."""

    code = "WI700"
    fix = "read the aggregator's reason above"


_FIX_OF = {
    grpc.StatusCode.PERMISSION_DENIED: "this certificate's role may not make the call: use the coordinator's config "
                                       "to run rounds and the researcher's to read results",
    grpc.StatusCode.UNAVAILABLE: "check that the aggregator runs and that the config's address is right",
    grpc.StatusCode.DEADLINE_EXCEEDED: "the aggregator did not answer in time; check it runs, then try again",
    grpc.StatusCode.NOT_FOUND: "check the round id with `wijkindex results list --config ...`",
    grpc.StatusCode.UNAUTHENTICATED: "check the config's certificate, key and CA (and that the certificate is "
                                     "neither expired nor revoked)",
}


def _rpc_error(exc: grpc.RpcError, what: str) -> AggregatorError:
    return AggregatorError(f"{what}: {exc.code().name}: {exc.details()}", fix=_FIX_OF.get(exc.code()))


class AggregatorClient:
    """One mTLS channel to the aggregator; the certificate decides what may be called."""

    def __init__(self, address: str, creds: PartyCredentials, *, timeout: float = 60.0,
                 crl: Path | None = None) -> None:
        """Connect to the aggregator at ``address``, refusing a server whose certificate is not the
        aggregator's, is expired or is on the revocation list ``crl`` (CertificateError)."""
        self.creds = creds
        try:
            self.channel = secure_channel(address, creds, crl=crl)
        except PeerUnavailable as exc:
            raise AggregatorError(f"connecting to the aggregator: UNAVAILABLE: {exc.details()}",
                                  fix="check that the aggregator runs and that the config's address is right") from None
        self.timeout = timeout
        self.coordinator = rpc.CoordinatorStub(self.channel)
        self.results = rpc.ResultsStub(self.channel)

    @classmethod
    def from_config(cls, config: ClientConfig) -> "AggregatorClient":
        return cls(config.aggregator, PartyCredentials.from_paths(config.tls.cert, config.tls.key, config.tls.ca),
                   crl=config.crl)

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> "AggregatorClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- coordinator ---------------------------------------------------------------

    def submit_round(self, spec_toml: str) -> str:
        """Validate the spec, give it a round id and nonce if it has none, sign into it the digest
        of its cells (asked of the aggregator), sign it with this coordinator's certificate key,
        and submit it. Nodes check the signature, and their tasks' cells against the digest."""
        from wijkindex.protocol.parameters import cells_digest
        from wijkindex.protocol.spec import RoundSpec
        from wijkindex.security.pki import load_private_key
        from wijkindex.security.signing import sign_spec

        spec = RoundSpec.from_toml(spec_toml)
        if not spec.round_id:
            spec = spec.with_round_id(f"{spec.gemeente.lower()}-{spec.period}-{secrets.token_hex(4)}")
        if not spec.cells_sha256:
            spec = spec.with_cells(cells_digest(self.propose_cells(spec.to_toml())))
        signed = spec.to_toml()
        signature = sign_spec(signed, load_private_key(self.creds.key_path))
        try:
            return self.coordinator.SubmitRound(pb.SubmitRoundRequest(spec_toml=signed, spec_signature=signature),
                                                timeout=self.timeout).round_id
        except grpc.RpcError as exc:
            raise _rpc_error(exc, "submitting the round") from None

    def propose_cells(self, spec_toml: str) -> tuple[m.Cell, ...]:
        """The cells the aggregator's geography gives this spec (area x age band, in round order)."""
        try:
            reply = self.coordinator.ProposeCells(pb.ProposeCellsRequest(spec_toml=spec_toml), timeout=self.timeout)
        except grpc.RpcError as exc:
            raise _rpc_error(exc, "asking the aggregator for the round's cells") from None
        return wire.cells_from_proto(reply.cells)

    def round_status(self, round_id: str) -> m.RoundStatus:
        try:
            return wire.status_from_proto(self.coordinator.GetRound(pb.GetRoundRequest(round_id=round_id),
                                                                    timeout=self.timeout))
        except grpc.RpcError as exc:
            raise _rpc_error(exc, f"reading round {round_id}") from None

    def cancel_round(self, round_id: str, reason: str = "") -> m.RoundStatus:
        """End an open round this coordinator submitted; its status afterwards."""
        try:
            return wire.status_from_proto(self.coordinator.CancelRound(
                pb.CancelRoundRequest(round_id=round_id, reason=reason), timeout=self.timeout))
        except grpc.RpcError as exc:
            raise _rpc_error(exc, f"cancelling round {round_id}") from None

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
        df = table.to_pandas()
        raw = (table.schema.metadata or {}).get(b"wijkindex:linkage")
        if raw:  # noised counts of how the fuzzy nodes' records linked
            df.attrs["linkage"] = json.loads(raw)
        return df, wire.status_from_proto(reply.status)

    def get_pooled(self, round_id: str) -> pd.DataFrame | None:
        """The federation's pooled figures for the areas this completed round's gemeenten are
        compared with (estimators/pooled.py), as the aggregator computes them now from every
        completed round of the period; ``attrs["round_ids"]`` names those rounds. None from an
        aggregator that predates the call."""
        try:
            reply = self.results.GetPooled(pb.GetPooledRequest(round_id=round_id), timeout=self.timeout)
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
                return None
            raise _rpc_error(exc, f"reading the pooled figures of round {round_id}") from None
        df = pa.ipc.open_stream(reply.arrow_ipc).read_all().to_pandas()
        df.attrs["round_ids"] = list(reply.round_ids)
        return df


def export_index(client: AggregatorClient, round_id: str, out_dir: Path,
                 index_definition: Path | None = None) -> tuple[Path, ...]:
    """Fetch a completed round's index; write index.csv/.parquet, composite.csv and relative_risk.csv."""
    df, _ = client.get_index(round_id)
    return write_tables(df, Path(out_dir), index_definition, pooled=client.get_pooled(round_id))[0]


def write_tables(df: pd.DataFrame, out_dir: Path, index_definition: Path | None = None, *,
                 pooled: pd.DataFrame | None = None) -> tuple[tuple[Path, ...], pd.DataFrame, pd.DataFrame]:
    """The index and what is derived from it (post-processing): composite scores and relative risks,
    the published reference figures of the index's gemeente (reference.csv) and the federation's
    pooled figures (``pooled``, from ``AggregatorClient.get_pooled``: pooled.csv); both are also
    appended to index.csv/.parquet as rows whose ``reference_source`` is set (the measure and its
    source for CBS rows, "federation" for pooled rows; see estimators.reference and .pooled)."""
    from wijkindex.estimators.composite import IndexDefinition, composite_scores
    from wijkindex.estimators.index import write_index
    from wijkindex.estimators.pooled import with_pooled
    from wijkindex.estimators.reference import reference_for_index, with_reference
    from wijkindex.estimators.relative_risk import load_relative_risks, relative_risks

    composite = composite_scores(df, IndexDefinition.load(index_definition))
    rr = relative_risks(df, load_relative_risks(index_definition))
    reference = reference_for_index(df)  # published CBS figures beside the index (empty: not a CBS gemeente)
    paths: tuple[Path, ...] = (*write_index(with_pooled(with_reference(df, reference), pooled), out_dir),
                               write_table(composite, out_dir / "composite.csv"),
                               write_table(rr, out_dir / "relative_risk.csv"))
    if not reference.empty:
        paths += (write_table(reference, out_dir / "reference.csv"),)
    if pooled is not None:
        paths += (write_table(pooled, out_dir / "pooled.csv"),)
    if df.attrs.get("linkage"):
        paths += (write_table(pd.DataFrame(df.attrs["linkage"]), out_dir / "linkage.csv"),)
    return paths, composite, rr


def write_table(df: pd.DataFrame, path: Path) -> Path:
    """A CSV written to a temp file and renamed into place (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    df.to_csv(tmp, index=False, na_rep="")
    tmp.replace(path)
    return path


def history_of(client: AggregatorClient, index: pd.DataFrame) -> pd.DataFrame:
    """The index rows of this gemeente's other completed periods (latest round per period), for trends."""
    from wijkindex.estimators.index import round_area

    period, gemeente = int(index["period"].iloc[0]), round_area(index)
    latest: dict[int, m.RoundSummary] = {}
    for r in client.list_rounds():
        if r.state == "completed" and r.gemeente_code == gemeente and r.period != period:
            if r.period not in latest or r.updated_at > latest[r.period].updated_at:
                latest[r.period] = r
    frames = [client.get_index(r.round_id)[0] for r in latest.values()]
    return pd.concat([*frames, index], ignore_index=True)


def pooled_history_of(client: AggregatorClient, history: pd.DataFrame, pooled: pd.DataFrame | None
                      ) -> pd.DataFrame | None:
    """The federation's pooled figures of every period of ``history`` (each period's round's, as
    the aggregator computes them now), with this period's ``pooled``: for their trend."""
    if pooled is None:
        return None
    period = int(history["period"].max())
    frames = [pooled]
    for rid in history.loc[history["period"] != period, "round_id"].dropna().unique():
        more = client.get_pooled(str(rid))
        if more is not None and not more.empty:
            frames.append(more)
    return pd.concat(frames, ignore_index=True)


def write_report(client: AggregatorClient, round_id: str, out_dir: Path, *, index_definition: Path | None = None,
                 data_dir: Path | None = None, gemeente: str | None = None) -> tuple[Path, ...]:
    """The researcher's report: the tables plus a self-contained report.html (with trends when
    rounds of other periods of the same gemeente exist)."""
    from wijkindex.estimators.composite import IndexDefinition
    from wijkindex.report.html import render_report

    df, status = client.get_index(round_id)
    pooled = client.get_pooled(round_id)
    definition = IndexDefinition.load(index_definition)
    out_dir = Path(out_dir)
    tables, composite, rr = write_tables(df, out_dir, index_definition, pooled=pooled)
    history = history_of(client, df)
    trend = write_table(history, out_dir / "history.csv") if history["period"].nunique() > 1 else None
    geography = _geography(gemeente, data_dir, df)
    folder = None if data_dir is not None and Path(data_dir).is_file() else data_dir  # a file: its geography
    html = render_report(df, out_dir / "report.html", title=f"{definition.name}, ronde {round_id}",
                         privacy=privacy_rows(status), composite=composite, data_dir=folder,
                         relative_risk=rr, history=history, geography=geography, pooled=pooled,
                         pooled_history=pooled_history_of(client, history, pooled))
    return (*tables, *((trend,) if trend else ()), html)


def _geography(gemeente: str | None, data: Path | None = None,  # type: ignore[no-untyped-def]
               index: pd.DataFrame | None = None):
    """The geography for the map: a wijk- en buurtkaart file's gemeente (``--data FILE``: the one
    ``gemeente`` names, else the round's own), a CBS gemeente's, or None (the map then picks by
    the index's gemeente)."""
    from wijkindex.geography import is_geography_file, load_gemeente, load_kaart

    if data is not None and is_geography_file(data):
        if gemeente is None and index is not None:
            from wijkindex.estimators.index import round_area

            area = str(round_area(index))
            gemeente = area if area.startswith("GM") else None
        return load_kaart(data, gemeente)
    if gemeente is None:
        return None
    return load_gemeente(gemeente)


def privacy_rows(status: m.RoundStatus) -> list[dict[str, object]]:
    """Per node: what the round cost it and the noise scales of its marginal and joint vectors."""
    return [{"node": c.party, "epsilon": c.epsilon, "mechanism": c.mechanism, "scale": c.scale, "d_in": c.d_in,
             "joint_scale": c.joint_scale if c.joint_d_in else None, "joint_d_in": c.joint_d_in}
            for c in status.costs]
