"""Noise plans from OpenDP and the persistent ledger: costs are values the code computes and checks."""

from __future__ import annotations

import math
import multiprocessing as mp
from pathlib import Path

import numpy as np
import opendp.prelude as dp
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from wijkindex.errors import BudgetExceeded
from wijkindex.privacy.ledger import PrivacyLedger
from wijkindex.privacy.noise import NoisePlan, NoiseShare, rate_moe


def test_scale_and_margin_of_error_match_opendp() -> None:
    assert NoiseShare(1, 1.0).moe(0.05) == pytest.approx(3.3756, abs=1e-3)
    plan = NoisePlan.for_budget(1.0, 7)
    assert plan.marginal.scale == pytest.approx(7.0) and plan.epsilon_spent <= 1.0
    assert plan.marginal.moe(0.10) == pytest.approx(dp.discrete_laplacian_scale_to_accuracy(7.0, 0.10))
    assert plan.joint.d_in == 0 and plan.joint.epsilon == 0


def test_joint_weight_splits_the_budget() -> None:
    # 7 marginal vectors and 6 joint units at weight 1/2: 7/10 + 6/20 = 1
    plan = NoisePlan.for_budget(1.0, 7, 6, 0.5)
    assert plan.marginal.scale == pytest.approx(10.0) and plan.joint.scale == pytest.approx(20.0)
    assert plan.d_in == 13 and plan.epsilon_spent <= 1.0
    assert plan.marginal.epsilon == pytest.approx(dp.m.make_laplace(
        dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale=plan.marginal.scale).map(7))
    # weight 1 is one scale for every vector, as a single measurement over all 13
    even = NoisePlan.for_budget(1.0, 7, 6, 1.0)
    assert even.marginal.scale == pytest.approx(13.0) == even.joint.scale
    # a weaker release is not covered by the plan; an at-least-as-noisy one is
    weaker = NoisePlan(1.0, NoiseShare(7, 10.0), NoiseShare(6, 19.0))
    assert not plan.covers(weaker) and plan.covers(NoisePlan(1.0, NoiseShare(7, 10.5), NoiseShare(6, 20.0)))
    assert not plan.covers(NoisePlan(1.0, NoiseShare(6, 10.0), NoiseShare(6, 20.0)))  # a vector left out


@settings(max_examples=80, deadline=None)
@given(st.floats(0.01, 50, allow_nan=False), st.integers(0, 40), st.integers(0, 40), st.floats(0.05, 1.0))
def test_plan_never_spends_more_than_asked(epsilon: float, d_marginal: int, d_joint: int, weight: float) -> None:
    assume(d_marginal + d_joint > 0)
    plan = NoisePlan.for_budget(epsilon, d_marginal, d_joint, weight)
    assert plan.epsilon_spent <= epsilon
    assert plan.epsilon_spent == pytest.approx(epsilon, rel=1e-9)  # and spends all of it
    assert plan.joint.scale == pytest.approx(plan.marginal.scale / weight, rel=1e-9)


@pytest.mark.parametrize("eps, d_m, d_j, w", [(0, 1, 0, 1), (-1, 1, 0, 1), (math.inf, 1, 0, 1), (math.nan, 1, 0, 1),
                                              (1000, 1, 0, 1), (1, 0, 0, 1), (1, -1, 2, 1), (1, 1, 1, 0),
                                              (1, 1, 1, 1.5)])
def test_plan_rejects_nonsense(eps: float, d_m: int, d_j: int, w: float) -> None:
    with pytest.raises(ValueError):
        NoisePlan.for_budget(eps, d_m, d_j, w)


def test_noise_variance_and_interval_coverage() -> None:
    share = NoisePlan.for_budget(0.5, 2).marginal  # scale 4
    z = np.asarray(share.sample(20_000))
    assert z.dtype.kind == "i"
    assert abs(z.var() / share.variance - 1) < 0.1
    coverage = (np.abs(z) <= share.moe(0.10)).mean()
    assert 0.88 <= coverage <= 0.93  # discrete: the interval is conservative by at most one step


def test_rate_moe_delta_method() -> None:
    assert rate_moe(10, 100, 5, 0) == pytest.approx(0.05)
    assert rate_moe(10, 100, 0, 10) == pytest.approx(0.1 * 10 / 100)
    assert math.isnan(rate_moe(1, 0, 1, 1))


def test_ledger_accumulates_refuses_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "ledger.sqlite"
    with PrivacyLedger(path, 2.0) as led:
        led.charge("brp", 2014, "r1", 1.0)
        led.charge("brp", 2014, "r2", 0.75)
        with pytest.raises(BudgetExceeded, match="spent 1.75 \\+ requested 0.5 > total 2"):
            led.charge("brp", 2014, "r3", 0.5)
        with pytest.raises(ValueError, match="already charged"):
            led.charge("brp", 2014, "r2", 0.1)
        led.charge("brp", 2015, "r3", 2.0)  # a new period has its own budget
        assert led.remaining("brp", 2014) == pytest.approx(0.25)
    with PrivacyLedger(path, 2.0) as led:
        assert [e.round_id for e in led.entries("brp", 2014)] == ["r1", "r2"]
        assert led.spent("brp", 2014) == pytest.approx(1.75) and not led.would_fit("brp", 2014, 0.3)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0.01, 1.0), max_size=30))
def test_ledger_never_records_more_than_total(tmp_path_factory: pytest.TempPathFactory, charges: list[float]) -> None:
    led = PrivacyLedger(tmp_path_factory.mktemp("l") / "l.sqlite", 3.0)
    for i, eps in enumerate(charges):
        try:
            led.charge("d", 2014, f"r{i}", eps)
        except BudgetExceeded:
            pass
    assert led.spent("d", 2014) <= 3.0 + 1e-9
    led.close()


def _charge_many(path: str, worker: int) -> int:
    led = PrivacyLedger(path, 5.0)
    ok = 0
    for i in range(20):
        try:
            led.charge("d", 2014, f"w{worker}-{i}", 0.25)
            ok += 1
        except BudgetExceeded:
            pass
    led.close()
    return ok


def test_concurrent_processes_never_overspend(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite")
    PrivacyLedger(path, 5.0).close()
    with mp.get_context("spawn").Pool(2) as pool:
        granted = sum(pool.starmap(_charge_many, [(path, 0), (path, 1)]))
    assert granted == 20  # 5.0 / 0.25
    assert PrivacyLedger(path, 5.0).spent("d", 2014) == pytest.approx(5.0)
