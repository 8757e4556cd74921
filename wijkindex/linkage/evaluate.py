"""Evaluate the encodings and the matcher on two files with known true links.

Used by ``wijkindex linkage evaluate`` and the benchmarks: reads two CSV files, encodes both
under a throw-away key, links them with the automatic threshold, and compares the links with
the truth (rows with equal entity ids are a true link).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from wijkindex.errors import InputFileError
from wijkindex.linkage.encoding import Encoder, EncodingSchema
from wijkindex.linkage.matching import MatchResult, match
from wijkindex.linkage.pseudonym import EncodingKey


def precision_recall_f1(true_positives: int, predicted: int, true_links: int) -> tuple[float, float, float]:
    """Precision, recall and F1 of a linkage (an empty side counts as perfect, F1 0 if both are 0)."""
    p = true_positives / predicted if predicted else 1.0
    r = true_positives / true_links if true_links else 1.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


@dataclass(frozen=True)
class Evaluation:
    n_a: int
    n_b: int
    true_links: int
    predicted: int
    true_positives: int
    threshold: float
    encode_seconds: float
    match_seconds: float
    comparisons: int

    @property
    def precision(self) -> float:
        return precision_recall_f1(self.true_positives, self.predicted, self.true_links)[0]

    @property
    def recall(self) -> float:
        return precision_recall_f1(self.true_positives, self.predicted, self.true_links)[1]

    @property
    def f1(self) -> float:
        return precision_recall_f1(self.true_positives, self.predicted, self.true_links)[2]

    @property
    def encodings_per_second(self) -> float:
        return (self.n_a + self.n_b) / max(self.encode_seconds, 1e-9)

    @property
    def comparisons_per_second(self) -> float:
        return self.comparisons / max(self.match_seconds, 1e-9)

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("records", f"{self.n_a:,} + {self.n_b:,}"),
            ("true links", f"{self.true_links:,}"),
            ("links found", f"{self.predicted:,} ({self.true_positives:,} true)"),
            ("threshold (EM)", f"{self.threshold:.3f}"),
            ("precision", f"{self.precision:.4f}"),
            ("recall", f"{self.recall:.4f}"),
            ("F1", f"{self.f1:.4f}"),
            ("encodings per second", f"{self.encodings_per_second:,.0f}"),
            ("comparisons per second", f"{self.comparisons_per_second:,.0f}"),
            ("linkage wall time", f"{self.encode_seconds + self.match_seconds:.2f} s"),
        ]


def read_table(path: Path | str, columns: list[str]) -> pd.DataFrame:
    """A CSV file as text columns, with a clear error naming the file and the missing columns."""
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=None, engine="python",
                            encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputFileError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not UTF-8 at byte {exc.start}; export the file as UTF-8") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise InputFileError(f"{path}: not a valid CSV table: {exc}") from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputFileError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns[:30])}")
    return frame


def evaluate_frames(a: pd.DataFrame, b: pd.DataFrame, entity_a: np.ndarray, entity_b: np.ndarray,
                    schema: EncodingSchema, *, threshold: float | None = None,
                    key: EncodingKey | None = None, block: bool | None = None) -> tuple[Evaluation, MatchResult]:
    encoder = Encoder(key or EncodingKey.random(), schema)
    t0 = time.perf_counter()
    ea, eb = encoder.encode(a), encoder.encode(b)
    t1 = time.perf_counter()
    res = match(ea, eb, threshold=threshold, block=block)
    t2 = time.perf_counter()
    ent_a, ent_b = np.asarray(entity_a, dtype=object), np.asarray(entity_b, dtype=object)
    tp = int((ent_a[res.pairs[:, 0]] == ent_b[res.pairs[:, 1]]).sum()) if len(res.pairs) else 0
    in_b = pd.Index(ent_b).value_counts()
    true_links = int(pd.Series(ent_a).map(in_b).fillna(0).sum())
    return Evaluation(len(a), len(b), true_links, len(res.pairs), tp, res.threshold, t1 - t0, t2 - t1,
                      res.n_comparisons), res


def evaluate_files(path_a: Path, path_b: Path, schema: EncodingSchema, *, entity_a: str, entity_b: str,
                   threshold: float | None = None) -> Evaluation:
    a = read_table(path_a, [*schema.columns, entity_a])
    b = read_table(path_b, [*schema.columns, entity_b])
    ev, _ = evaluate_frames(a, b, a[entity_a].to_numpy(), b[entity_b].to_numpy(), schema, threshold=threshold)
    return ev
