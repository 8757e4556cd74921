"""Noise plans: what a node's release costs, and the noise itself, all from OpenDP.

A node releases ``d_in`` count vectors over the round's cells; one child changes each
vector's L1 norm by at most 1 (a child is one spine row, and a source counts a child once
per indicator), so the concatenation has L1 sensitivity ``d_in``. One discrete-Laplace
measurement over the concatenation then costs ``epsilon = d_in / scale``, and OpenDP's
``map(d_in)`` is the number the ledger records. Integer noise only (Mironov 2012).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import opendp.prelude as dp

dp.enable_features("contrib")
MECHANISM = "discrete_laplace"
MAX_EPSILON = 100.0


@lru_cache(maxsize=64)
def _measurement(scale: float) -> dp.Measurement:
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    return dp.m.make_laplace(*space, scale=scale)


@dataclass(frozen=True)
class NoisePlan:
    epsilon: float
    d_in: int
    scale: float

    @classmethod
    def for_budget(cls, epsilon: float, d_in: int) -> "NoisePlan":
        """The smallest scale (from ``d_in / epsilon`` up) whose OpenDP cost fits ``epsilon``."""
        if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and 0 < epsilon <= MAX_EPSILON):
            raise ValueError(f"epsilon must be in (0, {MAX_EPSILON}], got {epsilon!r}")
        if not isinstance(d_in, int) or d_in < 1:
            raise ValueError(f"d_in must be a positive integer, got {d_in!r}")
        scale = d_in / epsilon
        while _measurement(scale).map(d_in) > epsilon:  # float rounding: nudge up, never down
            scale = math.nextafter(scale, math.inf)
        return cls(epsilon=float(epsilon), d_in=d_in, scale=scale)

    @property
    def epsilon_spent(self) -> float:
        """The privacy loss of this release as OpenDP computes it."""
        return float(_measurement(self.scale).map(self.d_in))

    @property
    def variance(self) -> float:
        """Exact variance of the discrete Laplace with this scale."""
        a = math.exp(-1.0 / self.scale)
        return 2 * a / (1 - a) ** 2

    def moe(self, alpha: float = 0.10) -> float:
        """Half-width of the (1 - alpha) interval of one noised count."""
        return float(dp.discrete_laplacian_scale_to_accuracy(self.scale, alpha))

    def add_to(self, counts: Sequence[int]) -> list[int]:
        """The measurement applied to the true counts."""
        return list(_measurement(self.scale)([int(c) for c in counts]))

    def sample(self, n_cells: int) -> list[int]:
        """Noise alone (the measurement on zeros), to add under encryption."""
        return self.add_to([0] * n_cells)


def rate_moe(numerator: float, denominator: float, moe_num: float, moe_den: float) -> float:
    """Margin of error of numerator/denominator by the delta method (independent noises)."""
    if not denominator or denominator <= 0:
        return math.nan
    rate = numerator / denominator
    return math.sqrt(moe_num ** 2 + (rate * moe_den) ** 2) / denominator
