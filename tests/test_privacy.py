"""Noise plans from OpenDP and the persistent ledger: costs are values the code computes and checks."""

from __future__ import annotations

import math
import multiprocessing as mp
from pathlib import Path

import numpy as np
import opendp.prelude as dp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wijkindex.errors import BudgetExceeded
from wijkindex.privacy.ledger import PrivacyLedger
from wijkindex.privacy.noise import NoisePlan, rate_moe


def test_scale_and_margin_of_error_match_opendp() -> None:
    assert NoisePlan(1.0, 1, 1.0).moe(0.05) == pytest.approx(3.3756, abs=1e-3)
    plan = NoisePlan.for_budget(1.0, 7)
    assert plan.scale == pytest.approx(7.0) and plan.epsilon_spent <= 1.0
    assert plan.moe(0.10) == pytest.approx(dp.discrete_laplacian_scale_to_accuracy(7.0, 0.10))


@settings(max_examples=60, deadline=None)
@given(st.floats(0.01, 50, allow_nan=False), st.integers(1, 40))
def test_plan_never_spends_more_than_asked(epsilon: float, d_in: int) -> None:
    plan = NoisePlan.for_budget(epsilon, d_in)
    assert plan.epsilon_spent <= epsilon
    assert plan.scale == pytest.approx(d_in / epsilon, rel=1e-9)


@pytest.mark.parametrize("eps, d_in", [(0, 1), (-1, 1), (math.inf, 1), (math.nan, 1), (1000, 1), (1, 0)])
def test_plan_rejects_nonsense(eps: float, d_in: int) -> None:
    with pytest.raises(ValueError):
        NoisePlan.for_budget(eps, d_in)


def test_noise_variance_and_interval_coverage() -> None:
    plan = NoisePlan.for_budget(0.5, 2)  # scale 4
    z = np.asarray(plan.sample(20_000))
    assert z.dtype.kind == "i"
    assert abs(z.var() / plan.variance - 1) < 0.1
    coverage = (np.abs(z) <= plan.moe(0.10)).mean()
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
