"""The federation's own national and regional figures: the aggregator pools its completed rounds.

The aggregator is the one party that holds every round of the federation, and a region
round's membership (its spec); so it, not each researcher, sums the gemeenten' released
counts (``estimators/pooled.py``) when a researcher asks for a round's comparisons
(Results.GetPooled). The figures are computed on each call from the rounds completed by then
(a national figure grows as gemeenten finish their rounds), never stored with a round's index.
They are post-processing of indices a researcher may read anyway (GetIndex): they cost no
privacy, and a researcher can check them against the gemeenten' own indices.

Which rounds: every completed round of the requested round's period, a gemeente's latest
(by completion) counting for it, except that the requested round's own gemeente rows always
stand for its gemeenten (the report compares a round with figures that contain that round).
"""

from __future__ import annotations

import threading
from typing import Sequence

import pandas as pd
import pyarrow as pa

from wijkindex.aggregator.rounds import RoundError
from wijkindex.aggregator.store import Store
from wijkindex.estimators.pooled import comparisons, gemeente_rows
from wijkindex.geography.regions import Region


class Pooling:
    """Pooled comparisons of a round, from the aggregator's store; thread-safe. ``user_regions``:
    the operator's own regions (the aggregator config's ``regions`` file), pooled beside the
    shipped GGD regions and jeugdzorgregio's for every gemeente in them."""

    def __init__(self, store: Store, user_regions: Sequence[Region] = ()) -> None:
        self.store = store
        self.user_regions = tuple(user_regions)
        self._rows: dict[str, pd.DataFrame] = {}  # a completed round's gemeente rows (its index never changes)
        self._lock = threading.Lock()

    def _gemeente_rows(self, round_id: str) -> pd.DataFrame:
        with self._lock:
            cached = self._rows.get(round_id)
        if cached is not None:
            return cached
        data = self.store.index(round_id)
        rows = gemeente_rows(pa.ipc.open_stream(data).read_all().to_pandas()) if data else pd.DataFrame()
        with self._lock:
            self._rows[round_id] = rows
        return rows

    def rounds_of_period(self, round_id: str) -> list[str]:
        """The completed rounds of ``round_id``'s period, by completion, ``round_id`` last."""
        r = self.store.get_round(round_id)
        if r is None:
            raise RoundError(f"no round {round_id!r}")
        if r.state != "completed":
            raise RoundError(f"round {round_id} is {r.state}; pooled figures exist only for completed rounds")
        done = sorted((x for x in self.store.list_rounds(states=("completed",)) if x.period == r.period
                       and x.round_id != round_id), key=lambda x: (x.updated_at, x.created_at))
        return [x.round_id for x in done] + [round_id]

    def for_round(self, round_id: str) -> tuple[pd.DataFrame, list[str]]:
        """The pooled rows for the areas ``round_id``'s gemeenten are compared with, and the
        rounds they sum."""
        ids = self.rounds_of_period(round_id)
        frames = [self._gemeente_rows(i) for i in ids]
        own = frames[-1]
        code_col = "area_code" if "area_code" in own.columns else "wijk_code"
        gemeenten = list(dict.fromkeys(own[code_col].astype(str))) if not own.empty else []
        return comparisons(frames, gemeenten, self.user_regions), ids

    def arrow(self, round_id: str) -> tuple[bytes, list[str]]:
        """``for_round`` as an Arrow IPC stream (the GetPooled reply)."""
        frame, ids = self.for_round(round_id)
        table = pa.Table.from_pandas(frame, preserve_index=False)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return sink.getvalue().to_pybytes(), ids
