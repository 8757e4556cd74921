"""Noise plans: what a node's release costs, and the noise itself, all from OpenDP.

A node releases count vectors over the round's cells in two groups: its marginal vectors
(its indicators, the population at the spine, the linkage report) and its shares of joint
indicators. One child changes each vector's L1 norm by at most its sensitivity (1, or 2 for
a cumulative-risk histogram), so a group has L1 sensitivity ``d_in``, the sum over its
vectors. Each group is one discrete-Laplace measurement over its concatenation, costing
OpenDP's ``map(d_in)`` (= d_in / scale); the round costs their sum (basic sequential
composition): the node's cost, which its ledger records for each of its datasets (the spine's
population dataset records the whole round's sum, docs/privacy.md).

The split of a node's budget between the groups is the spec's ``joint_weight``: a joint
vector gets that fraction of the epsilon a marginal vector gets. Marginals feed every rate
and the composite scores; a joint count already carries a noise share from each node of its
chain. Integer noise only (Mironov 2012).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import opendp.prelude as dp


dp.enable_features("contrib")
MAX_EPSILON = 100.0


@lru_cache(maxsize=64)
def _measurement(scale: float) -> dp.Measurement:
    space = dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int)
    return dp.m.make_laplace(*space, scale=scale)


@dataclass(frozen=True)
class NoiseShare:
    """One group of count vectors noised at one scale, with its L1 sensitivity per child."""

    d_in: int
    scale: float

    @property
    def epsilon(self) -> float:
        """This group's privacy loss as OpenDP computes it (0 for an empty group)."""
        return float(_measurement(self.scale).map(self.d_in)) if self.d_in else 0.0

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


@dataclass(frozen=True)
class NoisePlan:
    """A node's noise for one round: its marginal and joint groups and the budget they fit."""

    epsilon: float
    marginal: NoiseShare
    joint: NoiseShare

    @classmethod
    def for_budget(cls, epsilon: float, d_marginal: int, d_joint: int = 0,
                   joint_weight: float = 1.0) -> "NoisePlan":
        """The smallest scales in the ratio 1 : 1/joint_weight whose OpenDP costs sum within ``epsilon``."""
        if not (isinstance(epsilon, (int, float)) and math.isfinite(epsilon) and 0 < epsilon <= MAX_EPSILON):
            raise ValueError(f"epsilon must be in (0, {MAX_EPSILON}], got {epsilon!r}")
        for name, d in (("d_marginal", d_marginal), ("d_joint", d_joint)):
            if not isinstance(d, int) or isinstance(d, bool) or d < 0:
                raise ValueError(f"{name} must be a non-negative integer, got {d!r}")
        if d_marginal + d_joint < 1:
            raise ValueError("a node must release something: d_marginal + d_joint >= 1")
        if not (isinstance(joint_weight, (int, float)) and 0 < joint_weight <= 1):
            raise ValueError(f"joint_weight must be in (0, 1], got {joint_weight!r}")
        scale = (d_marginal + joint_weight * d_joint) / epsilon
        plan = cls(float(epsilon), NoiseShare(d_marginal, scale), NoiseShare(d_joint, scale / joint_weight))
        while plan.epsilon_spent > epsilon:  # float rounding: nudge up, never down
            m, j = plan.marginal, plan.joint
            plan = cls(plan.epsilon, NoiseShare(m.d_in, math.nextafter(m.scale, math.inf)),
                       NoiseShare(j.d_in, math.nextafter(j.scale, math.inf)))
        return plan

    @property
    def d_in(self) -> int:
        return self.marginal.d_in + self.joint.d_in

    @property
    def epsilon_spent(self) -> float:
        """The privacy loss of this release: the sum of the groups' OpenDP costs."""
        return self.marginal.epsilon + self.joint.epsilon

    def covers(self, other: "NoisePlan") -> bool:
        """Whether ``other`` adds at least this plan's noise to the same groups (a release's check)."""
        return (other.marginal.d_in == self.marginal.d_in and other.joint.d_in == self.joint.d_in
                and other.marginal.scale >= self.marginal.scale * (1 - 1e-9)
                and (not self.joint.d_in or other.joint.scale >= self.joint.scale * (1 - 1e-9)))


def rate_moe(numerator: float, denominator: float, moe_num: float, moe_den: float) -> float:
    """Margin of error of numerator/denominator by the delta method (independent noises)."""
    if not denominator or denominator <= 0:
        return math.nan
    rate = numerator / denominator
    return math.sqrt(moe_num ** 2 + (rate * moe_den) ** 2) / denominator
